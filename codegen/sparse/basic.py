"""Theano's ``theano.sparse``: CSR and CSC matrices in graphs, as the parts scipy keeps.

A sparse variable is not a node of its own: it is its five parts, each a dense variable of
the graph (``data``, the nonzero values; ``indices``, their columns (CSR) or rows (CSC), int32;
``indptr``, where each row's (column's) entries start, int32; ``rows`` and ``cols``, the
shape, int64 scalars). Each sparse operation builds its result from those parts with the
tensor ops every backend already compiles (gathers, scatter-adds, running sums, a sort), so
functions of sparse matrices compile on the CPU, in the C library and on CUDA, and their
gradients come from the same rules as every other graph's. ``codegen.function`` takes scipy
matrices for sparse inputs and gives them back for sparse outputs.

Each entry's row and column are found from the parts (``indptr`` expanded by a running sum
of marks), so a product ``structured_dot(x, W)`` is a gather of ``W``'s rows, a product with
the entries and a scatter-add into the result's rows: its cost follows the entries, not the
dense size.

What differs from Theano, each on purpose:
- An operation whose number of entries depends on the values (``csr_from_dense``, the
  product of two sparse matrices, ``remove0``, slices of rows or columns) finds them with
  ``nonzero``: functions with one run in the reference interpreter, with a warning, as other
  value-dependent ops do (compiled code plans its buffers from shapes).
- The gradient with respect to a sparse matrix is structured: a sparse matrix of its
  pattern (``structured_dot``'s in Theano; its ``dot`` gave a dense one's projection).
- The sum of two sparse matrices keeps both one's entries (duplicates, as scipy allows; its
  ``toarray`` adds them up) where Theano merged them.
"""

import numpy as np
import scipy.sparse

import codegen.tensor as T
from codegen.scalar import upcast
from codegen.tensor.var import TensorVariable

INDEX = "int32"
SHAPE = "int64"
FORMATS = ("csr", "csc")
sparse_formats = FORMATS


class SparseType:
    """The type of a sparse matrix: its format ('csr' or 'csc') and its values' dtype."""

    ndim = 2
    broadcastable = (False, False)
    format_cls = {"csr": scipy.sparse.csr_matrix, "csc": scipy.sparse.csc_matrix}

    def __init__(self, format, dtype):
        if format not in FORMATS:
            raise ValueError(f"SparseType: format must be one of {FORMATS}, got {format!r}")
        self.format = format
        self.dtype = str(np.dtype(dtype))

    def __eq__(self, other):
        return (isinstance(other, SparseType) and other.format == self.format
                and other.dtype == self.dtype)

    def __hash__(self):
        return hash(("SparseType", self.format, self.dtype))

    def __repr__(self):
        return f"Sparse[{self.dtype}, {self.format}]"

    def __call__(self, name=None):
        return matrix(self.format, name, self.dtype)

    def filter(self, value, name="value", function="function"):
        """``value`` as a scipy matrix of this format and dtype (a clear TypeError else)."""
        if not scipy.sparse.issparse(value):
            raise TypeError(f"{function}(): argument {name!r} must be a scipy.sparse matrix "
                            f"({self}), got {type(value).__name__}")
        if value.ndim != 2:
            raise TypeError(f"{function}(): argument {name!r} must be a matrix, got "
                            f"{value.ndim} axes")
        if value.dtype != self.dtype:
            if not np.can_cast(value.dtype, self.dtype, "same_kind") or (
                    np.dtype(value.dtype).itemsize > np.dtype(self.dtype).itemsize):
                raise TypeError(f"{function}(): argument {name!r} has dtype {value.dtype}, "
                                f"expected {self.dtype} ({self})")
            value = value.astype(self.dtype)
        return value.asformat(self.format)

    def split(self, value, name="value", function="function"):
        """The five parts of a scipy matrix, as this type's parts take them."""
        value = self.filter(value, name, function)
        indices, indptr = value.indices, value.indptr
        if indices.dtype != INDEX:
            if value.nnz and max(indices.max(), indptr.max()) > np.iinfo(INDEX).max:
                raise ValueError(f"{function}(): argument {name!r} has more entries or a "
                                 f"larger axis than int32 indices reach")
            indices, indptr = indices.astype(INDEX), indptr.astype(INDEX)
        # the lengths as 0-d arrays, as the compiled call takes them without converting
        return [value.data, indices, indptr, np.array(value.shape[0], dtype=np.int64),
                np.array(value.shape[1], dtype=np.int64)]

    def join(self, data, indices, indptr, rows, cols):
        """A scipy matrix of this format from its five parts."""
        return self.format_cls[self.format]((np.asarray(data), np.asarray(indices),
                                             np.asarray(indptr)),
                                            shape=(int(rows), int(cols)))


def _check_format(format):
    if format not in FORMATS:
        raise ValueError(f"sparse: format must be one of {FORMATS}, got {format!r}")
    return format


class SparseVariable:
    """A sparse matrix of the graph: its five parts, dense variables (``parts``)."""

    is_sparse = True
    ndim = 2
    broadcastable = (False, False)

    def __init__(self, format, data, indices, indptr, rows, cols, name=None):
        self.format = _check_format(format)
        self.data, self.indices, self.indptr = data, indices, indptr
        self.rows, self.cols = rows, cols
        self.name = name
        self._entries = None

    @property
    def parts(self):
        return [self.data, self.indices, self.indptr, self.rows, self.cols]

    @property
    def type(self):
        return SparseType(self.format, self.data.dtype)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def shape(self):
        return T.stack([self.rows, self.cols])

    def label(self):
        return repr(self.name) if self.name else f"<{self.type}>"

    def __repr__(self):
        return self.name or f"<{self.type}>"

    def entries(self):
        """(values, row of each, column of each): the matrix as coordinates, in storage
        order (the rows or columns that ``indptr`` gives, expanded by a running sum)."""
        if self._entries is None:
            nnz = self.data.shape[0]
            marks = T.inc_subtensor(T.zeros((nnz + 1,), SHAPE)[self.indptr[1:-1]], 1)
            major = T.cumsum(marks)[:nnz]
            minor = T.cast(self.indices, SHAPE)
            self._entries = (self.data, major, minor) if self.format == "csr" else (
                self.data, minor, major)
        return self._entries

    def with_data(self, data):
        """The same pattern holding other values."""
        out = SparseVariable(self.format, data, self.indices, self.indptr, self.rows,
                             self.cols)
        out._entries = (None if self._entries is None else
                        (data, self._entries[1], self._entries[2]))
        return out

    # Theano's operators of sparse variables
    @property
    def T(self):
        return transpose(self)

    def transpose(self):
        return transpose(self)

    def toarray(self):
        return dense_from_sparse(self)

    todense = toarray

    def astype(self, dtype):
        return self.with_data(T.cast(self.data, dtype))

    def sum(self, axis=None, sparse_grad=False):
        return sp_sum(self, axis, sparse_grad)

    def zeros_like(self):
        return sp_zeros_like(self)

    def __neg__(self):
        return self.with_data(-self.data)

    def __abs__(self):
        return abs_(self)

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __truediv__(self, other):
        other = T.as_tensor_variable(other)
        if other.ndim:
            raise TypeError(f"sparse: a sparse matrix divides by a scalar only, got "
                            f"{other.type}")
        return self.with_data(self.data / other)

    def __dot__(self, other):
        return dot(self, other)

    def __rdot__(self, other):
        return dot(other, self)

    def __getitem__(self, index):
        return _getitem(self, index)

    def eval(self, inputs_to_values=None):
        """The value, with the reference interpreter: a scipy matrix."""
        if inputs_to_values:
            raise NotImplementedError("sparse: eval() with input values; use "
                                      "codegen.function")
        from codegen.graph import late
        return self.type.join(*late.get("evaluate")(self.parts, {}))


class SparseConstant(SparseVariable):
    """A scipy matrix in a graph: its parts are constants."""

    def __init__(self, value, name=None):
        stype = SparseType(value.format if value.format in FORMATS else "csr", value.dtype)
        parts = stype.split(value, name or "value", "as_sparse_variable")
        consts = [T.constant(np.asarray(p)) for p in parts]
        super().__init__(stype.format, *consts, name=name)
        self.value = stype.join(*parts)


class SparseSharedVariable(SparseVariable):
    """A shared sparse matrix (``theano.shared`` of a scipy matrix): its parts are shared
    variables, so a function sees the value set last, and ``updates`` may give it a new one
    (of any number of entries)."""

    def __init__(self, value, name=None, borrow=False):
        stype = SparseType(value.format if value.format in FORMATS else "csr", value.dtype)
        parts = stype.split(value, name or "value", "shared")
        shared = [T.shared(p, name=f"{name}.{key}" if name else None, borrow=borrow)
                  for p, key in zip(parts, ("data", "indices", "indptr", "rows", "cols"))]
        super().__init__(stype.format, *shared, name=name)

    def get_value(self, borrow=False, return_internal_type=False):
        value = self.type.join(*[p.get_value(borrow=True) for p in self.parts])
        return value if borrow else value.copy()

    def set_value(self, value, borrow=False):
        parts = self.type.split(value, self.name or "value", "set_value")
        for var, part in zip(self.parts, parts):
            var.set_value(part, borrow=borrow)


SparseTensorSharedVariable = SparseSharedVariable  # theano.sparse.sharedvar's name


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, format=None):
    """A shared sparse matrix (``theano.sparse.shared``, what ``theano.shared`` gives for a
    scipy matrix); ``format`` converts it (CSR and CSC; COO and others become CSR)."""
    if not scipy.sparse.issparse(value):
        raise TypeError(f"sparse.shared: value must be a scipy.sparse matrix, got "
                        f"{type(value).__name__}")
    if format is not None:
        value = value.asformat(_check_format(format))
    elif value.format not in FORMATS:
        value = value.tocsr()
    return SparseSharedVariable(value, name, borrow)


def matrix(format, name=None, dtype=None):
    """A symbolic sparse matrix of ``format`` ('csr' or 'csc'), an input of functions."""
    from codegen.config import config
    format = _check_format(format)
    dtype = str(np.dtype(dtype or config.floatX))
    label = name or format

    def part(dt, ndim, key):
        return T.TensorType(dt, (False,) * ndim)(f"{label}.{key}")

    return SparseVariable(format, part(dtype, 1, "data"), part(INDEX, 1, "indices"),
                          part(INDEX, 1, "indptr"), part(SHAPE, 0, "rows"),
                          part(SHAPE, 0, "cols"), name=name)


def csr_matrix(name=None, dtype=None):
    return matrix("csr", name, dtype)


def csc_matrix(name=None, dtype=None):
    return matrix("csc", name, dtype)


def _is_sparse_variable(x):
    return isinstance(x, SparseVariable)


def _is_dense_variable(x):
    return isinstance(x, TensorVariable)


def _is_sparse(x):
    return scipy.sparse.issparse(x)


def as_sparse_variable(x, name=None):
    """A sparse variable as it is; a scipy matrix as a constant (CSR or CSC)."""
    if isinstance(x, SparseVariable):
        return x
    if scipy.sparse.issparse(x):
        return SparseConstant(x if x.format in FORMATS else x.tocsr(), name)
    raise TypeError(f"as_sparse_variable: expected a sparse variable or a scipy.sparse "
                    f"matrix, got {type(x).__name__}")


as_sparse = as_sparse_variable


def as_sparse_or_tensor_variable(x, name=None):
    if isinstance(x, SparseVariable) or scipy.sparse.issparse(x):
        return as_sparse_variable(x, name)
    return T.as_tensor_variable(x, name)


# ---------------------------------------------------------------- building and taking apart


def _shape_scalars(shape):
    """(rows, cols) from a shape given as a pair or a vector."""
    if isinstance(shape, (list, tuple)):
        rows, cols = shape
    else:
        shape = T.as_tensor_variable(shape)
        rows, cols = shape[0], shape[1]
    return (T.cast(T.as_tensor_variable(rows), SHAPE), T.cast(T.as_tensor_variable(cols), SHAPE))


def CSM(format):
    """Theano's CSM op for ``format``: a sparse matrix from (data, indices, indptr, shape)."""
    format = _check_format(format)

    def build(data, indices, indptr, shape):
        rows, cols = _shape_scalars(shape)
        return SparseVariable(format, T.as_tensor_variable(data),
                              T.cast(T.as_tensor_variable(indices), INDEX),
                              T.cast(T.as_tensor_variable(indptr), INDEX), rows, cols)
    return build


CSR = CSM("csr")
CSC = CSM("csc")


def csm_properties(x):
    """(data, indices, indptr, shape) of a sparse matrix."""
    x = as_sparse_variable(x)
    return x.data, x.indices, x.indptr, x.shape


def csm_data(x):
    return as_sparse_variable(x).data


def csm_indices(x):
    return as_sparse_variable(x).indices


def csm_indptr(x):
    return as_sparse_variable(x).indptr


def csm_shape(x):
    return as_sparse_variable(x).shape


def from_entries(values, row, col, rows, cols, format):
    """The sparse matrix of entries (values, row, col) and shape (rows, cols), in ``format``:
    the entries sorted by row then column (CSR; column then row for CSC), ``indptr`` from
    each row's count. Repeated coordinates stay repeated entries (scipy adds them up)."""
    format = _check_format(format)
    major, minor = (row, col) if format == "csr" else (col, row)
    n_major, n_minor = (rows, cols) if format == "csr" else (cols, rows)
    order = T.argsort(major * n_minor + minor)
    counts = T.inc_subtensor(T.zeros((n_major,), SHAPE)[major], 1)
    indptr = T.concatenate([T.zeros((1,), SHAPE), T.cumsum(counts)])
    out = SparseVariable(format, values[order], T.cast(minor[order], INDEX),
                         T.cast(indptr, INDEX), rows, cols)
    out._entries = ((values[order], major[order], minor[order]) if format == "csr" else
                    (values[order], minor[order], major[order]))
    return out


def dense_from_sparse(x):
    """The dense matrix (``x.toarray()``): the entries added into zeros."""
    x = as_sparse_variable(x)
    values, row, col = x.entries()
    flat = T.inc_subtensor(T.zeros((x.rows * x.cols,), x.dtype)[row * x.cols + col], values)
    return T.reshape(flat, (x.rows, x.cols))


def _from_dense(x, format):
    x = T.as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{format}_from_dense: expected a matrix, got {x.type}")
    row, col = T.nonzero(x)
    rows, cols = (T.cast(x.shape[k], SHAPE) for k in (0, 1))
    return from_entries(x[row, col], row, col, rows, cols, format)


def csr_from_dense(x):
    """The CSR matrix of a dense one's nonzero elements (a function with one runs in the
    reference interpreter: its number of entries depends on the values)."""
    return _from_dense(x, "csr")


def csc_from_dense(x):
    """The CSC matrix of a dense one's nonzero elements (see ``csr_from_dense``)."""
    return _from_dense(x, "csc")


def sparse_from_dense(x, format="csr"):
    return _from_dense(x, _check_format(format))


todense = dense_from_sparse


def transpose(x):
    """The transpose: the same parts read in the other format."""
    x = as_sparse_variable(x)
    out = SparseVariable("csc" if x.format == "csr" else "csr", x.data, x.indices, x.indptr,
                         x.cols, x.rows)
    if x._entries is not None:
        values, row, col = x._entries
        out._entries = (values, col, row)
    return out


def ensure_sorted_indices(x):
    """The same matrix with each row's (column's) entries in order."""
    x = as_sparse_variable(x)
    return from_entries(*x.entries(), x.rows, x.cols, x.format)


def remove0(x):
    """The matrix without its stored zeros (runs in the reference interpreter)."""
    x = as_sparse_variable(x)
    values, row, col = x.entries()
    keep = T.flatnonzero(values)
    return from_entries(values[keep], row[keep], col[keep], x.rows, x.cols, x.format)


def clean(x):
    return remove0(ensure_sorted_indices(x))


# ---------------------------------------------------------------- arithmetic


def _dense_at(x, y, row, col):
    """A dense matrix's (or a scalar's) values at the coordinates of sparse ``x``'s entries,
    broadcasting over axes of length 1; a call whose ``y`` is not of x's shape stops."""
    if y.ndim == 0:
        return y
    if y.ndim != 2:
        raise TypeError(f"sparse: a dense operand must be a scalar or a matrix, got {y.type}")
    from codegen.ops.assert_op import Assert
    same = [T.eq(y.shape[k], n) for k, n in enumerate((x.rows, x.cols))
            if not y.broadcastable[k]]
    if same:
        y = Assert("sparse.mul: the dense operand must have the sparse matrix's shape")(
            y, *same)
    return y[row if not y.broadcastable[0] else T.zeros_like(row),
             col if not y.broadcastable[1] else T.zeros_like(col)]


def add(x, y):
    """x + y: sparse + sparse is sparse (the entries of both); sparse + dense is dense."""
    if not isinstance(x, SparseVariable) and not scipy.sparse.issparse(x):
        x, y = y, x
    x = as_sparse_variable(x)
    if isinstance(y, SparseVariable) or scipy.sparse.issparse(y):
        y = as_sparse_variable(y)
        vx, rx, cx = x.entries()
        vy, ry, cy = y.entries()
        dtype = upcast(x.dtype, y.dtype)
        return from_entries(T.concatenate([T.cast(vx, dtype), T.cast(vy, dtype)]),
                            T.concatenate([rx, ry]), T.concatenate([cx, cy]),
                            x.rows, x.cols, x.format)
    return dense_from_sparse(x) + T.as_tensor_variable(y)


def sub(x, y):
    """x - y (see ``add``)."""
    if isinstance(y, SparseVariable) or scipy.sparse.issparse(y):
        return add(x, -as_sparse_variable(y))
    return add(x, -T.as_tensor_variable(y))


def mul(x, y):
    """x * y elementwise: a sparse matrix times a dense one or a scalar keeps its pattern;
    two sparse matrices give the sparse product of their dense values (reference)."""
    if not isinstance(x, SparseVariable) and not scipy.sparse.issparse(x):
        x, y = y, x
    x = as_sparse_variable(x)
    if isinstance(y, SparseVariable) or scipy.sparse.issparse(y):
        y = as_sparse_variable(y)
        return _from_dense(dense_from_sparse(x) * dense_from_sparse(y), x.format)
    values, row, col = x.entries()
    return x.with_data(values * _dense_at(x, T.as_tensor_variable(y), row, col))


def structured_dot(x, y):
    """The product of a sparse matrix and a dense matrix (or vector), dense: each entry
    times its column's row of ``y``, added into its row; a dense ``x`` times a sparse ``y``
    is the transpose of ``y.T``'s product with ``x.T``."""
    if not isinstance(x, SparseVariable) and not scipy.sparse.issparse(x):
        y = as_sparse_variable(y)
        x = T.as_tensor_variable(x)
        if x.ndim == 1:
            return structured_dot(y.T, x)
        return structured_dot(y.T, x.T).T
    x = as_sparse_variable(x)
    if isinstance(y, SparseVariable) or scipy.sparse.issparse(y):
        y = as_sparse_variable(y)
        return _from_dense(structured_dot(x, dense_from_sparse(y)), x.format)
    y = T.as_tensor_variable(y)
    values, row, col = x.entries()
    dtype = upcast(x.dtype, y.dtype)
    if y.ndim == 1:
        return T.inc_subtensor(T.zeros((x.rows,), dtype)[row], values * y[col])
    if y.ndim != 2:
        raise TypeError(f"structured_dot: the dense operand must be a vector or a matrix, got "
                        f"{y.type}")
    return T.inc_subtensor(T.zeros((x.rows, y.shape[1]), dtype)[row],
                           values.dimshuffle(0, "x") * y[col])


def dot(x, y):
    """Theano's ``sparse.dot``: sparse times dense (either side) is dense; sparse times
    sparse is sparse."""
    return structured_dot(x, y)


def true_dot(x, y, grad_preserves_dense=True):
    """``dot``; the gradient with respect to a sparse operand is structured here."""
    return structured_dot(x, y)


def sampling_dot(x, y, p):
    """(x . y.T) at the entries of sparse ``p`` only, times p's values: sparse, p's
    pattern."""
    p = as_sparse_variable(p)
    x, y = T.as_tensor_variable(x), T.as_tensor_variable(y)
    values, row, col = p.entries()
    return p.with_data(values * T.sum(x[row] * y[col], axis=1))


def row_scale(x, s):
    """Each row i of sparse ``x`` times s[i]."""
    x = as_sparse_variable(x)
    values, row, _ = x.entries()
    return x.with_data(values * T.as_tensor_variable(s)[row])


def col_scale(x, s):
    """Each column j of sparse ``x`` times s[j]."""
    x = as_sparse_variable(x)
    values, _, col = x.entries()
    return x.with_data(values * T.as_tensor_variable(s)[col])


def structured_add(x, y):
    """y[j] added to each stored entry of column j (the pattern kept)."""
    x = as_sparse_variable(x)
    values, _, col = x.entries()
    return x.with_data(values + T.as_tensor_variable(y)[col])


def _structured_binary(name, fn):
    def op(x, y):
        x = as_sparse_variable(x)
        y = T.as_tensor_variable(y)
        if y.ndim:
            raise TypeError(f"{name}: the second operand must be a scalar, got {y.type}")
        return x.with_data(fn(x.data, y))
    op.__name__ = name
    op.__doc__ = f"Theano's ``{name}``: applied to the stored entries only (a scalar operand)."
    return op


structured_pow = _structured_binary("structured_pow", T.pow)
structured_minimum = _structured_binary("structured_minimum", T.minimum)
structured_maximum = _structured_binary("structured_maximum", T.maximum)


def _on_entries(name, fn, doc):
    def op(x):
        x = as_sparse_variable(x)
        return x.with_data(fn(x.data))
    op.__name__ = name
    op.__doc__ = doc
    return op


# functions of the stored entries only, as Theano's structured ops
structured_sigmoid = _on_entries("structured_sigmoid", T.nnet.sigmoid,
                                 "sigmoid of the stored entries (the pattern kept)")
structured_exp = _on_entries("structured_exp", T.exp, "exp of the stored entries")
structured_log = _on_entries("structured_log", T.log, "log of the stored entries")

# functions that map 0 to 0, so the sparse result is the dense one's
_ZERO_PRESERVING = ("sin", "tan", "arcsin", "arctan", "sinh", "arcsinh", "tanh", "arctanh",
                    "rint", "sgn", "ceil", "floor", "trunc", "log1p", "expm1", "deg2rad",
                    "rad2deg", "sqr", "sqrt", "abs_")


def _zero_preserving(name):
    if name in ("deg2rad", "rad2deg"):
        from codegen.tensor import utils_theano
        fn = getattr(utils_theano, name)
    elif name == "rint":
        fn = T.round_half_to_even
    else:
        fn = getattr(T, name)
    return _on_entries(name, fn, f"Theano's sparse ``{name}``: of the stored entries, since "
                       f"{name}(0) = 0")


for _name in _ZERO_PRESERVING:
    globals()[_name] = _zero_preserving(_name)
del _name
abs_ = globals()["abs_"]
neg = _on_entries("neg", lambda d: -d, "the negated matrix")


def sp_sum(x, axis=None, sparse_grad=False):
    """The sum of all entries (a scalar), of each column (axis 0) or of each row (axis 1),
    dense. The gradient is structured whatever ``sparse_grad`` says."""
    x = as_sparse_variable(x)
    values, row, col = x.entries()
    if axis is None:
        return T.sum(values)
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"sp_sum: axis must be None, 0 or 1, got {axis!r}")
    if axis in (0, -2):
        return T.inc_subtensor(T.zeros((x.cols,), values.dtype)[col], values)
    return T.inc_subtensor(T.zeros((x.rows,), values.dtype)[row], values)


def sp_ones_like(x):
    """The pattern of ``x`` with ones."""
    x = as_sparse_variable(x)
    return x.with_data(T.ones_like(x.data))


def sp_zeros_like(x):
    """The zero matrix of ``x``'s shape and format: no entries."""
    x = as_sparse_variable(x)
    n_major = x.rows if x.format == "csr" else x.cols
    return SparseVariable(x.format, T.zeros((0,), x.dtype), T.zeros((0,), INDEX),
                          T.zeros((n_major + 1,), INDEX), x.rows, x.cols)


def diag(x):
    """The diagonal of a square sparse matrix, dense."""
    x = as_sparse_variable(x)
    values, row, col = x.entries()
    on = T.eq(row, col)
    return T.inc_subtensor(T.zeros((T.minimum(x.rows, x.cols),), values.dtype)[
        T.switch(on, row, 0)], values * on)


def square_diagonal(d):
    """The square CSC matrix with ``d`` on its diagonal."""
    d = T.as_tensor_variable(d)
    n = T.cast(d.shape[0], SHAPE)
    return SparseVariable("csc", d, T.cast(T.arange(n), INDEX), T.cast(T.arange(n + 1), INDEX),
                          n, n)


def _stack(blocks, format, dtype, horizontal):
    blocks = [as_sparse_variable(b) for b in blocks]
    if not blocks:
        raise ValueError("sparse stack: no blocks given")
    dtype = dtype or upcast(*[b.dtype for b in blocks])
    values, rows_, cols_ = [], [], []
    offset = T.zeros((), SHAPE)
    for b in blocks:
        v, r, c = b.entries()
        values.append(T.cast(v, dtype))
        rows_.append(r if horizontal else r + offset)
        cols_.append(c + offset if horizontal else c)
        offset = offset + (b.cols if horizontal else b.rows)
    first = blocks[0]
    rows, cols = (first.rows, offset) if horizontal else (offset, first.cols)
    return from_entries(T.concatenate(values), T.concatenate(rows_), T.concatenate(cols_),
                        rows, cols, format or first.format)


def hstack(blocks, format=None, dtype=None):
    """Sparse matrices side by side (their row counts must agree)."""
    return _stack(blocks, format, dtype, horizontal=True)


def vstack(blocks, format=None, dtype=None):
    """Sparse matrices one above the other (their column counts must agree)."""
    return _stack(blocks, format, dtype, horizontal=False)


def _getitem(x, index):
    """x[i, j] (a scalar: the entries there added up); slices and lists of rows or columns
    through the dense matrix (reference interpreter, since their entries depend on values)."""
    if not isinstance(index, tuple):
        index = (index, slice(None))
    if len(index) != 2:
        raise IndexError(f"sparse: a matrix takes two indices, got {len(index)}")
    i, j = index
    if not isinstance(i, slice) and not isinstance(j, slice):
        ii, jj = T.as_tensor_variable(i), T.as_tensor_variable(j)
        if ii.ndim == 0 and jj.ndim == 0:
            values, row, col = x.entries()
            return T.sum(values * (T.eq(row, ii) & T.eq(col, jj)))
    return _from_dense(dense_from_sparse(x)[index], x.format)


# ---------------------------------------------------------------- gradients and functions


def structured_grad(cost, x, **kwargs):
    """The gradient of ``cost`` with respect to sparse ``x``: a sparse matrix of x's
    pattern holding the gradient with respect to its stored values."""
    from codegen.graph import late
    return x.with_data(late.get("grad")(cost, x.data, **kwargs))


def verify_grad_sparse(op, pt, structured=False, *args, **kwargs):
    raise NotImplementedError("theano.sparse.verify_grad_sparse is a Theano API that codegen "
                              "does not have yet: check sparse gradients with "
                              "codegen.gradient.verify_grad on the parts")
