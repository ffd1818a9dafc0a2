"""The Theano-compatible front end: variable constructors and tensor functions.

>>> import codegen.tensor as T
>>> x = T.vector('x')
>>> float((T.sum(x ** 2)).eval({x: [1.0, 2.0]}))
5.0
"""

import builtins

import numpy as np

from codegen.config import config
from codegen.graph import Constant, SharedVariable, TensorType, Variable, graph_inputs
from codegen.graph.basic import clone_replace
from codegen.ops.blas import dot as _dot
from codegen.ops.elemwise import elemwise
from codegen.ops.indexing import AdvancedIncSubtensor, Gather, IncSubtensor
from codegen.ops.reduce import Argmax, ArgSort, CumOp, Reduce
from codegen.ops.scalar import cast_op, weak_scalar_dtype
from codegen.ops.shape import (
    Alloc,
    ARange,
    Concatenate,
    DimShuffle,
    Rebroadcast,
    Reshape,
    ShapeOf,
    SpecifyShape,
    Subtensor,
    Sym,
    _int_part,
    _normalize_index,
)
from codegen.ops.valued import NumpyOp
from codegen.tensor.var import TensorConstant, TensorSharedVariable

# ---------------------------------------------------------------- variables


def tensor(dtype=None, broadcastable=(), name=None, shape=None):
    """A symbolic input: ``tensor('float64', (False, True), 'b')``."""
    return TensorType(dtype or config.floatX, broadcastable, shape)(name)


def _constructor(ndim_pattern, dtype=None):
    def make(name=None, dtype=dtype):
        return tensor(dtype or config.floatX, ndim_pattern, name)
    return make


scalar = _constructor(())
vector = _constructor((False,))
matrix = _constructor((False, False))
row = _constructor((True, False))
col = _constructor((False, True))
tensor3 = _constructor((False,) * 3)
tensor4 = _constructor((False,) * 4)
tensor5 = _constructor((False,) * 5)
tensor6 = _constructor((False,) * 6)
tensor7 = _constructor((False,) * 7)

_PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
             "d": "float64"}
_KINDS = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
          "col": (False, True), **{f"tensor{n}": (False,) * n for n in range(3, 8)}}
_PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
            "col": "cols", **{f"tensor{n}": f"tensor{n}s" for n in range(3, 8)}}
for _p, _dt in _PREFIXES.items():
    for _kind, _bc in _KINDS.items():
        # a type, as in Theano: T.dscalar('x') makes a variable whose .type is T.dscalar
        globals()[_p + _kind] = TensorType(_dt, _bc)
bool_vector = TensorType("bool", (False,))


def _several(make):
    """Theano's plural constructors: ``dmatrices('x', 'y')`` gives two variables,
    ``dmatrices(3)`` three unnamed ones, and a single string of one-letter names
    (``dscalars('xy')``) one per letter."""
    def several(*names):
        if len(names) == 1 and isinstance(names[0], (int, np.integer)):
            return [make() for _ in range(int(names[0]))]
        if len(names) == 1:
            names = names[0]
        if len(names) == 1:
            return make(names)
        return [make(name) for name in names]
    return several


for _kind, _plural in _PLURALS.items():
    globals()[_plural] = _several(globals()[_kind])
    for _p in _PREFIXES:
        globals()[_p + _plural] = _several(globals()[_p + _kind])


def constant(value, dtype=None, name=None):
    """A constant tensor; its length-1 dimensions are broadcastable."""
    data = np.asarray(value, dtype=dtype)
    if data.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
        data = data.astype(config.floatX)
    ttype = TensorType(data.dtype, [n == 1 for n in data.shape], data.shape)
    return TensorConstant(ttype, data, name)


def as_tensor_variable(x, name=None):
    """Variables pass through; Python scalars become weak constants; arrays constants."""
    if isinstance(x, Variable):
        return x
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        const = constant(np.asarray(x, dtype=weak_scalar_dtype(x)), name=name)
        const.weak = True
        return const
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(e, Variable) for e in x):
        return stack(x)  # (x.shape[0], 3), or x.shape itself: a vector
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        return constant(x, name=name)
    if getattr(x, "is_sparse", False) or type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"cannot convert sparse {x!r} to a dense symbolic tensor: use "
                        f"sparse.dense_from_sparse (or the sparse module's ops)")
    raise TypeError(f"cannot convert {type(x).__name__} to a symbolic tensor")


def shared(value, name=None, borrow=False, broadcastable=None, strict=False):
    """A shared variable: a graph input with a value that persists across calls.

    The dtype follows the value (as in Theano, ``shared(np.array([1.3]))`` is float64
    whatever floatX says); ``broadcastable`` marks length-1 dimensions that broadcast.
    """
    if type(value).__module__.startswith("scipy.sparse"):  # theano.sparse's shared matrix
        from codegen import sparse
        return sparse.shared(value, name, strict=strict, borrow=borrow)
    value = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"shared: unsupported dtype {value.dtype}")
    if broadcastable is None:
        broadcastable = (False,) * value.ndim
    if len(broadcastable) != value.ndim:
        raise ValueError(f"shared: broadcastable {tuple(broadcastable)} has {len(broadcastable)}"
                         f" entries, value has {value.ndim} dimensions")
    ttype = TensorType(value.dtype, broadcastable)
    var = TensorSharedVariable(ttype, value if borrow else value.copy(), name)
    return var

# ---------------------------------------------------------------- elementwise


def _pad(x, ndim):
    """``x`` with leading broadcastable axes up to ``ndim``; constants stay constants (and
    Python scalars stay weak, so ``0.01 * float32_matrix`` is float32)."""
    if x.ndim == ndim:
        return x
    if isinstance(x, TensorConstant):
        padded = constant(x.data.reshape((1,) * (ndim - x.ndim) + x.data.shape), x.dtype)
        padded.weak = getattr(x, "weak", False)
        return padded
    return DimShuffle(["x"] * (ndim - x.ndim) + list(range(x.ndim)))(x)


def _elemwise(name, *args):
    args = [as_tensor_variable(a) for a in args]
    ndim = builtins.max(a.ndim for a in args)
    return elemwise(name)(*[_pad(a, ndim) for a in args])


def _unary(name, doc):
    def fn(x):
        return _elemwise(name, x)
    fn.__name__ = name
    fn.__doc__ = doc
    return fn


def _binary(name, doc):
    def fn(x, y):
        return _elemwise(name, x, y)
    fn.__name__ = name
    fn.__doc__ = doc
    return fn


add = _binary("add", "x + y, elementwise with broadcasting.")
sub = _binary("sub", "x - y")
mul = _binary("mul", "x * y")
true_div = _binary("true_div", "x / y (ints give floats)")
pow = _binary("pow", "x ** y")
floor_div = _binary("floor_div", "x // y, rounding down (Python's sign rules)")
mod = _binary("mod", "x % y with the sign of y (Python's rules)")
int_div = floor_div
maximum = _binary("maximum", "Elementwise maximum (NaN propagates).")
minimum = _binary("minimum", "Elementwise minimum (NaN propagates).")
eq = _binary("eq", "x == y as bool")
neq = _binary("neq", "x != y as bool")
lt = _binary("lt", "x < y")
le = _binary("le", "x <= y")
gt = _binary("gt", "x > y")
ge = _binary("ge", "x >= y")
and_ = _binary("and_", "x & y: bitwise on integers, logical on booleans (as Theano's)")
or_ = _binary("or_", "x | y: bitwise on integers, logical on booleans")
xor = _binary("xor", "x ^ y: bitwise on integers, logical on booleans")
second = _binary("second", "y broadcast to the shape of x (Theano's fill).")
neg = _unary("neg", "-x")
exp = _unary("exp", "e ** x")
expm1 = _unary("expm1", "exp(x) - 1, accurate near 0")
log = _unary("log", "natural logarithm")
log1p = _unary("log1p", "log(1 + x), accurate near 0")
sqrt = _unary("sqrt", "square root")
sin = _unary("sin", "sine")
cos = _unary("cos", "cosine")
tanh = _unary("tanh", "hyperbolic tangent")
abs = _unary("abs", "absolute value; its gradient at 0 is 0")
floor = _unary("floor", "the largest integer not above x (a float; no gradient)")
ceil = _unary("ceil", "the smallest integer not below x (a float; no gradient)")
erf = _unary("erf", "the error function")
arctan2 = _binary("arctan2", "the angle of the point (x, y) given as arctan2(y, x)")
erfc = _unary("erfc", "1 - erf(x), accurate where erf(x) is near 1")
tan = _unary("tan", "tangent")
arcsin = _unary("arcsin", "inverse sine")
arccos = _unary("arccos", "inverse cosine")
arctan = _unary("arctan", "inverse tangent")
sinh = _unary("sinh", "hyperbolic sine")
cosh = _unary("cosh", "hyperbolic cosine")
arcsinh = _unary("arcsinh", "inverse hyperbolic sine")
arccosh = _unary("arccosh", "inverse hyperbolic cosine")
arctanh = _unary("arctanh", "inverse hyperbolic tangent")
log2 = _unary("log2", "base-2 logarithm")
log10 = _unary("log10", "base-10 logarithm")
exp2 = _unary("exp2", "2 ** x")
trunc = _unary("trunc", "x rounded toward zero (a float; no gradient)")
gammaln = _unary("gammaln", "log |gamma(x)|")
gamma = _unary("gamma", "the gamma function")
psi = _unary("psi", "the digamma function, the derivative of gammaln")
tri_gamma = _unary("tri_gamma", "the trigamma function, the derivative of psi")
erfinv = _unary("erfinv", "the inverse of erf: erfinv(erf(x)) = x")
erfcinv = _unary("erfcinv", "the inverse of erfc, accurate where its argument is tiny")
isnan = _unary("isnan", "whether x is NaN (False for integers)")
isinf = _unary("isinf", "whether x is +-inf (False for integers)")
sgn = _unary("sgn", "sign: -1, 0 or 1")
invert = _unary("invert", "~x: bitwise not of integers, logical not of booleans")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x)), with a stable gradient")
softplus = _unary("softplus", "log(1 + exp(x)), computed without overflow")
zero_grad = _unary("zero_grad", "x in the forward pass, no gradient flows through it")
tensor_copy = _unary("tensor_copy", "a new variable of the value of x (Theano's x.copy())")


def _scipy_special(name, doc):
    """A scipy.special function of ``SPECIAL`` (run by the reference interpreter)."""
    from codegen.ops.valued import SPECIAL

    def fn(*args):
        if len(args) != SPECIAL[name]:
            raise TypeError(f"{name} takes {SPECIAL[name]} argument(s), got {len(args)}")
        args = [as_tensor_variable(a) for a in args]
        ndim = builtins.max(a.ndim for a in args)
        return NumpyOp("special", name=name)(*[_pad(a, ndim) for a in args])
    fn.__name__ = name
    fn.__doc__ = doc + " (scipy.special's, in the reference interpreter, as in Theano)"
    return fn


j0 = _unary("j0", "the Bessel function of the first kind of order 0")
j1 = _unary("j1", "the Bessel function of the first kind of order 1")
jv = _scipy_special("jv", "jv(v, x): the Bessel function of the first kind of real order v")
i0 = _unary("i0", "the modified Bessel function of the first kind of order 0")
i1 = _unary("i1", "the modified Bessel function of the first kind of order 1")
iv = _scipy_special("iv", "iv(v, x): the modified Bessel function of the first kind of real "
                          "order v")
erfcx = _unary("erfcx", "the scaled complementary error function exp(x**2) erfc(x)")
gammainc = _binary("gammainc", "gammainc(k, x): the regularized lower incomplete gamma "
                               "function")
gammaincc = _binary("gammaincc", "gammaincc(k, x): the regularized upper incomplete gamma "
                                 "function")
gammau = _binary("gammau", "gammau(k, x): the upper incomplete gamma function")
gammal = _binary("gammal", "gammal(k, x): the lower incomplete gamma function")
chi2sf = _binary("chi2sf", "chi2sf(x, k): the survival function of chi-squared with k degrees "
                           "of freedom")
fill = second
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
divide = true_div
abs_ = abs


def switch(cond, ift, iff):
    """Elementwise ``ift if cond else iff`` (also ``T.where``)."""
    return _elemwise("switch", cond, ift, iff)


where = switch


def clip(x, lo, hi):
    """Limit x to [lo, hi]."""
    return minimum(maximum(x, lo), hi)


def sqr(x):
    return mul(x, x)


square = sqr  # Theano's other name


_ROUNDING = {"half_away_from_zero": "round_half_away_from_zero",
             "half_to_even": "round_half_to_even"}


def round(a, mode=None):
    """Round to the nearest integer (a float): halves away from zero (Theano's default), or
    ``mode='half_to_even'`` (numpy's round). No gradient."""
    mode = "half_away_from_zero" if mode is None else mode
    if mode not in _ROUNDING:
        raise ValueError(f"round: mode must be 'half_away_from_zero' or 'half_to_even', "
                         f"not {mode!r}")
    return _elemwise(_ROUNDING[mode], a)


def round_half_away_from_zero(a):
    return round(a, "half_away_from_zero")


def round_half_to_even(a):
    return round(a, "half_to_even")


def iround(a, mode=None):
    """``round(a, mode)`` as int64."""
    return cast(round(a, mode), "int64")


def cast(x, dtype):
    """Convert to ``dtype`` (``'floatX'`` means config.floatX)."""
    x = as_tensor_variable(x)
    dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
    if x.dtype == dtype:
        return x
    return elemwise(cast_op(dtype).name)(x)


def zeros_like(x, dtype=None):
    x = as_tensor_variable(x)
    return second(x, constant(0, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    x = as_tensor_variable(x)
    return second(x, constant(1, dtype=dtype or x.dtype))

# ---------------------------------------------------------------- products and reductions


def dot(a, b):
    """Matrix/vector product; a scalar operand gives an elementwise product; operands of more
    axes are numpy's ``dot``: ``a``'s last axis against ``b``'s second to last (its only one
    for a vector), ``dot(emb, W)`` for an ``emb`` of (time, batch, features); a sparse
    operand makes it ``sparse.dot``."""
    if getattr(a, "is_sparse", False) or getattr(b, "is_sparse", False):
        from codegen import sparse
        return sparse.dot(a, b)
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim > 2 and b.ndim <= 2:
        rows = reshape(a, (-1, shape_of(a, a.ndim - 1)))
        out = _dot(rows, b)
        lead = [shape_of(a, k) for k in range(a.ndim - 1)]
        return reshape(out, lead + ([shape_of(b, 1)] if b.ndim == 2 else []))
    if b.ndim > 2:  # numpy's: a's last axis against b's second to last
        return tensordot(a, b, [[a.ndim - 1], [b.ndim - 2]])
    return _dot(a, b)


def outer(x, y):
    """The outer product of two vectors (operands of more axes are flattened first, as in
    Theano): a product of a column and a row."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    x = x if x.ndim == 1 else flatten(x)
    y = y if y.ndim == 1 else flatten(y)
    return dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))


def _axes(x, axis):
    if axis is None:
        return tuple(range(x.ndim))
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = []
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"axis {a} is out of range for a {x.ndim}-d tensor")
        out.append(int(a) % x.ndim)
    return tuple(sorted(set(out)))


def _reduce(combine, x, axis, keepdims):
    x = as_tensor_variable(x)
    axes = _axes(x, axis)
    if not axes:
        return x
    return Reduce(combine, axes, keepdims)(x)


def _accumulating(x, dtype, acc_dtype):
    """``x`` in the dtype a reduction accumulates in: ``acc_dtype``, or with ``dtype`` (the
    result's) the upcast of x's and it, as Theano's sum, prod and mean take them."""
    x = as_tensor_variable(x)
    acc = acc_dtype or (str(np.result_type(x.dtype, dtype)) if dtype else None)
    return cast(x, acc) if acc and acc != x.dtype else x


def _as_dtype(out, dtype):
    return cast(out, dtype) if dtype and out.dtype != np.dtype(dtype).name else out


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (None: all axes); ``dtype`` the result's, ``acc_dtype`` the one it
    adds up in (Theano's arguments, in Theano's order)."""
    return _as_dtype(_reduce("add", _accumulating(x, dtype, acc_dtype), axis, keepdims), dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over ``axis``; ``dtype`` and ``acc_dtype`` as for ``sum``."""
    return _as_dtype(_reduce("mul", _accumulating(x, dtype, acc_dtype), axis, keepdims), dtype)


def max(x, axis=None, keepdims=False):
    return _reduce("maximum", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return _reduce("minimum", x, axis, keepdims)


def mean(x, axis=None, dtype=None, op=False, keepdims=False, acc_dtype=None):
    """Arithmetic mean over ``axis``; ints give floats; ``dtype`` and ``acc_dtype`` as for
    ``sum``."""
    x = _accumulating(x, dtype, acc_dtype)
    axes = _axes(x, axis)
    total = sum(x, axes, keepdims=keepdims)
    count = None
    for a in axes:
        n = shape_of(x, a)
        count = n if count is None else mul(count, n)
    if count is None:
        return _as_dtype(cast(total, x.dtype if x.dtype.startswith("float") else config.floatX),
                         dtype)
    out_dtype = total.dtype if total.dtype.startswith("float") else config.floatX
    return _as_dtype(true_div(cast(total, out_dtype), cast(count, out_dtype)), dtype)


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis``: the mean squared deviation, divided by n - ``ddof`` instead
    of n when given (numpy's). ``corrected`` (Theano's compensated two-pass sum) changes
    nothing here: the deviations are summed as computed."""
    x = as_tensor_variable(x)
    centered = x - mean(x, axis, keepdims=True)
    out = mean(centered * centered, axis, keepdims=keepdims)
    if ddof:
        count = None
        for a in _axes(x, axis):
            n = cast(shape_of(x, a), out.dtype)
            count = n if count is None else count * n
        out = out * count / (count - ddof)
    return out


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over ``axis`` (the square root of ``var``)."""
    return sqrt(var(x, axis, ddof=ddof, keepdims=keepdims))


def argmax(x, axis=None, keepdims=False):
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x, 1), 0
    (axis,) = _axes(x, axis)
    out = Argmax(axis)(x)
    if not keepdims:
        return out
    it = iter(range(out.ndim))
    return DimShuffle(["x" if a == axis else next(it) for a in range(x.ndim)])(out)

# ---------------------------------------------------------------- shapes


def shape_of(x, axis):
    """Length of ``x`` along ``axis`` as an int64 scalar (``x.shape[axis]``); a constant
    where ``x``'s type knows it."""
    x = as_tensor_variable(x)
    axis = int(axis) % x.ndim
    known = x.type.shape[axis] if x.type.shape is not None else None
    if known is not None:
        return constant(np.int64(known))
    return ShapeOf(axis)(x)


class SymbolicShape(tuple):
    """``x.shape``: an int64 scalar per dimension, to index (``x.shape[0]``), unpack and
    take ``len`` of as a tuple, and otherwise Theano's int64 vector: arithmetic is
    elementwise (``x.shape * 2`` doubles each length, as in Theano, not a tuple repeated),
    a slice is a shape again, and the vector's methods apply (``x.shape.eval()``,
    ``x.shape.prod()``, ``x.shape.ndim``)."""

    def __new__(cls, x):
        items = [shape_of(x, a) for a in range(x.ndim)] if isinstance(x, Variable) else x
        return super().__new__(cls, items)

    def __getitem__(self, key):
        item = super().__getitem__(key)
        return SymbolicShape(item) if isinstance(key, slice) else item

    def vector(self):
        """The lengths as one int64 vector."""
        return stack(self) if self else constant(np.zeros(0, dtype="int64"))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.vector(), name)


def _shape_as_vector(method):
    def apply(self, *args):
        return getattr(self.vector(), method)(*args)
    apply.__name__ = method
    return apply


for _method in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
                "__rmod__", "__pow__", "__rpow__", "__neg__", "__lt__", "__le__", "__gt__",
                "__ge__"):
    setattr(SymbolicShape, _method, _shape_as_vector(_method))


def shape(x):
    """``x.shape``, Theano's ``T.shape(x)`` (see ``SymbolicShape``)."""
    return SymbolicShape(as_tensor_variable(x))


def alloc(value, *shape):
    """``value`` broadcast to ``shape`` (Theano's ``T.alloc``): ``T.alloc(0., x.shape[0], 10)``."""
    return Alloc()(as_tensor_variable(value), *(as_tensor_variable(n) for n in shape))


def arange(start, stop=None, step=1, dtype=None):
    """``[start, start + step, ...]`` up to ``stop`` (excluded), as numpy's ``arange``: with
    one argument, ``[0, 1, ..., start - 1]``. Ints, or int scalars (such as ``x.shape[0]``)
    where the step is 1: int64 unless ``dtype`` says otherwise; or numbers some of which are
    floats: floatX unless ``dtype`` says otherwise."""
    if stop is None:
        start, stop = 0, start
    numbers = (int, float, np.integer, np.floating)
    if builtins.all(isinstance(v, numbers) for v in (start, stop, step)) and \
            builtins.any(isinstance(v, (float, np.floating)) for v in (start, stop, step)):
        # numpy's length, ceil((stop - start) / step); the elements start + i * step
        if step == 0:
            raise ValueError("arange: step must not be 0")
        n = builtins.max(0, int(np.ceil((stop - start) / step)))
        out = ARange()(as_tensor_variable(n)) * as_tensor_variable(step) + start
        return cast(out, dtype or config.floatX)
    if builtins.all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
        if step == 0:
            raise ValueError("arange: step must not be 0")
        n = builtins.max(0, -((int(start) - int(stop)) // int(step)))
        out = ARange()(as_tensor_variable(n))
        out = out * int(step) if step != 1 else out
    else:
        if not (isinstance(step, (int, np.integer)) and step == 1):
            raise NotImplementedError("arange: a step other than 1 with a symbolic start or "
                                      "stop")
        out = ARange()(as_tensor_variable(stop) - start if not (
            isinstance(start, (int, np.integer)) and start == 0) else as_tensor_variable(stop))
    if not (isinstance(start, (int, np.integer)) and start == 0):
        out = out + start
    return cast(out, dtype) if dtype is not None else out


def eye(n, m=None, k=0, dtype=None):
    """An n x m matrix (m = n unless given) with ones on diagonal ``k`` and zeros elsewhere."""
    rows, cols = arange(n), arange(n if m is None else m)
    rows = dimshuffle(rows, (0, "x"))
    return cast(eq(dimshuffle(cols, ("x", 0)), rows + int(k) if k else rows),
                dtype or config.floatX)


def dimshuffle(x, pattern):
    return DimShuffle(pattern)(as_tensor_variable(x))


def transpose(x, axes=None):
    x = as_tensor_variable(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    return x if axes == tuple(range(x.ndim)) else DimShuffle(axes)(x)


def reshape(x, shape):
    """``x`` reshaped to ``shape``: ints, one -1, ``x.shape[k]``, or another variable's
    whole shape (``reshape(g, y.shape)``)."""
    x = as_tensor_variable(x)
    if isinstance(shape, (int, np.integer, Variable)):
        shape = (shape,)
    like = _whole_shape_of(shape)
    if like is not None and like is not x:
        return Reshape(None)(x, like)
    entries, scalars = [], []
    for s in shape:
        e = _reshape_entry(x, s)
        if e is None:  # an int scalar computed at run time
            e = Sym(len(scalars))
            scalars.append(s)
        entries.append(e)
    return Reshape(tuple(entries))(x, *scalars)


def _reshape_entry(x, s):
    """A Reshape entry for ``s``: an int, or ('d', k) for ``x.shape[k]``; None otherwise."""
    if isinstance(s, (int, np.integer)):
        return int(s)
    if isinstance(s, Constant) and s.ndim == 0 and s.dtype[0] in "iu":
        return int(s.data)
    if isinstance(s, Variable) and s.owner is not None and isinstance(s.owner.op, ShapeOf) \
            and s.owner.inputs[0] is x:
        return ("d", s.owner.op.axis)
    if isinstance(s, Variable):
        if s.ndim != 0 or s.dtype[0] not in "iu":
            raise TypeError(f"reshape: shape entries must be ints or int scalars, got "
                            f"{s.type}")
        return None
    raise TypeError(f"reshape: shape entries must be ints or int scalars, got "
                    f"{type(s).__name__}")


def _whole_shape_of(shape):
    """The variable whose shape ``shape`` is, entry for entry, or None."""
    owners = [s.owner for s in shape if isinstance(s, Variable) and s.owner is not None]
    if not shape or len(owners) != len(shape) or not builtins.all(
            isinstance(o.op, ShapeOf) for o in owners):
        return None
    like = owners[0].inputs[0]
    if like.ndim != len(shape) or builtins.any(o.inputs[0] is not like or o.op.axis != k
                                      for k, o in enumerate(owners)):
        return None
    return like


def specify_shape(x, shape):
    """``x``, checked at run time to have ``shape`` (ints and int scalars)."""
    x = as_tensor_variable(x)
    if builtins.any(s is None for s in shape):
        raise TypeError("specify_shape: a shape entry must be an int or an int scalar, got None")
    scalars = []
    entries = [_int_part(s, scalars, "a shape entry", "specify_shape") for s in shape]
    return SpecifyShape(entries)(x, *scalars)


def _axis_list(axes, x, op):
    """``axes`` (an int or a list, negative ones from the end) as axes of ``x``, in the order
    given; ``op`` names the function in the error."""
    out = []
    if isinstance(axes, np.ndarray):
        axes = axes.tolist()
    for a in (axes if isinstance(axes, (list, tuple)) else [axes]):
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ValueError(f"{op}: axis {a!r} is not an axis of {x.label()}, which has "
                             f"{x.ndim} dimensions")
        out.append(int(a) % x.ndim)
    return out


def addbroadcast(x, *axes):
    """``x`` with ``axes`` broadcastable; each must have length 1 (checked at run time)."""
    x = as_tensor_variable(x)
    flags = {a: True for a in _axis_list(list(axes), x, "addbroadcast")
             if not x.broadcastable[a]}
    return Rebroadcast(flags)(x) if flags else x


def unbroadcast(x, *axes):
    """``x`` with ``axes`` no longer broadcastable (a scan state that must keep its type)."""
    x = as_tensor_variable(x)
    flags = {a: False for a in _axis_list(list(axes), x, "unbroadcast") if x.broadcastable[a]}
    return Rebroadcast(flags)(x) if flags else x


def patternbroadcast(x, broadcastable):
    """``x`` with the broadcastable pattern ``broadcastable`` (one flag per axis)."""
    x = as_tensor_variable(x)
    broadcastable = tuple(bool(b) for b in broadcastable)
    if len(broadcastable) != x.ndim:
        raise ValueError(f"patternbroadcast: {x.label()} has {x.ndim} dimensions, the pattern "
                         f"{broadcastable} has {len(broadcastable)}")
    flags = {a: b for a, b in enumerate(broadcastable) if b != x.broadcastable[a]}
    return Rebroadcast(flags)(x) if flags else x


def flatten(x, ndim=1, outdim=None):
    """Keep the first ``ndim - 1`` dimensions and flatten the rest into one (``outdim``:
    Theano's older name for ``ndim``)."""
    x = as_tensor_variable(x)
    if outdim is not None:
        ndim = outdim
    if not 1 <= ndim <= builtins.max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be in [1, {x.ndim}], got {ndim}")
    return Reshape(tuple(("d", i) for i in range(ndim - 1)) + (-1,))(x)


def subtensor(x, index):
    """``x[index]``: ints, slices (bounds: ints or int scalars), ``...``, ``None`` (a new
    broadcastable axis, numpy's newaxis) and integer arrays (numpy's advanced indexing:
    ``W[idx]``, ``p[T.arange(n), y]``)."""
    x = as_tensor_variable(x)
    if isinstance(index, list) and builtins.any(isinstance(i, slice) for i in index):
        index = tuple(index)  # Theano's (and old numpy's) reading of a list with slices
    items = _expand_ellipsis(index if isinstance(index, tuple) else (index,), x.ndim)
    if builtins.any(_is_index_array(item) for item in items):
        return _advanced_subtensor(x, items)
    plain = tuple(item for item in items if item is not None)
    if plain:
        idx, scalars = _normalize_index(plain, x.ndim)
        out = Subtensor(idx)(x, *scalars)
    else:
        out = x
    if len(plain) == len(items):
        return out
    pattern, kept = [], iter(range(out.ndim))
    for item in items:  # an int drops its axis, a slice keeps it, None adds one
        if item is None:
            pattern.append("x")
        elif isinstance(item, slice):
            pattern.append(next(kept))
    return dimshuffle(out, pattern + list(kept))


def _is_index_array(item):
    if isinstance(item, Variable):
        return item.ndim > 0
    return isinstance(item, (list, np.ndarray)) and np.ndim(item) > 0


def _advanced_subtensor(x, items):
    """``x[items]`` with integer arrays among the items: the ints and slices first (a view),
    then the arrays, which must take adjacent axes of what is left; their shape goes where
    they are, or first when ints stand apart from them (numpy's rule)."""
    if builtins.any(item is None for item in items):
        raise NotImplementedError("indexing: None (newaxis) together with integer arrays")
    arrays = {}
    for k, item in enumerate(items):
        if _is_index_array(item):
            a = as_tensor_variable(item)
            if a.dtype == "bool":
                raise NotImplementedError("indexing with a boolean mask (its length depends "
                                          "on the data): use T.switch, or nonzero indices")
            if a.dtype[0] not in "iu":
                raise TypeError(f"indexing: index arrays must be integers, got {a.type}")
            arrays[k] = a
    basic = tuple(slice(None) if k in arrays else item for k, item in enumerate(items))
    base = subtensor(x, basic) if builtins.any(
        not (isinstance(i, slice) and i == slice(None)) for i in basic) else x
    # the axis of base that each array indexes: the axes before it that ints did not drop
    kept = [k for k, item in enumerate(basic) if isinstance(item, slice)]
    kept += list(range(len(basic), x.ndim))
    positions = [kept.index(k) for k in sorted(arrays)]
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise NotImplementedError("indexing: integer arrays separated by slices")
    out = Gather(positions[0])(base, *(arrays[k] for k in sorted(arrays)))
    advanced = [k for k, item in enumerate(items) if k in arrays or not isinstance(item, slice)]
    if advanced == list(range(advanced[0], advanced[-1] + 1)) or positions[0] == 0:
        return out
    m = out.ndim - (base.ndim - len(positions))  # numpy puts the arrays' axes first
    first = positions[0]
    order = list(range(first, first + m)) + [a for a in range(out.ndim)
                                              if not first <= a < first + m]
    return dimshuffle(out, order)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """The tensor ``x`` was indexed from, with ``y`` added to that part (Theano's
    ``T.inc_subtensor(a[2:], y)``); repeated integer indices add up."""
    y = as_tensor_variable(y)
    node = getattr(x, "owner", None)
    if node is None or not isinstance(node.op, (Subtensor, Gather)):
        name = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
        raise TypeError(f"{name}: x must be a part of a tensor (a[...]), got "
                        f"{getattr(x, 'type', type(x).__name__)}")
    if y.dtype != x.dtype:
        if not np.can_cast(y.dtype, x.dtype, "same_kind"):
            raise TypeError(f"inc_subtensor: cannot write {y.type} into {x.type}")
        y = cast(y, x.dtype)
    if isinstance(node.op, Subtensor):
        return IncSubtensor(node.op.idx, set_instead_of_inc)(node.inputs[0], y, *node.inputs[1:])
    return AdvancedIncSubtensor(node.op.axis, set_instead_of_inc)(node.inputs[0], y,
                                                                   *node.inputs[1:])


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """The tensor ``x`` was indexed from, with ``y`` written over that part (Theano's
    ``T.set_subtensor(a[idx], y)``)."""
    return inc_subtensor(x, y, set_instead_of_inc=True)


def _expand_ellipsis(items, ndim):
    if not builtins.any(item is Ellipsis for item in items):
        return items
    if builtins.sum(item is Ellipsis for item in items) > 1:
        raise IndexError("indexing: an index can only have a single ellipsis ('...')")
    used = builtins.sum(item is not None and item is not Ellipsis for item in items)
    at = [k for k, item in enumerate(items) if item is Ellipsis][0]
    return items[:at] + (slice(None),) * (ndim - used) + items[at + 1:]


def concatenate(tensors, axis=0):
    tensors = [as_tensor_variable(t) for t in tensors]
    axis = _axes(tensors[0], axis)[0]
    return Concatenate(axis)(*tensors)


def stack(*tensors, axis=0):
    """The tensors (each of one shape) stacked along a new axis: ``stack([a, b], axis)``,
    or Theano's older form, ``stack(a, b, c)``."""
    if not tensors:
        raise TypeError("stack: no tensors to stack")
    if isinstance(tensors[0], (list, tuple)):
        if len(tensors) > 2:
            raise TypeError(f"stack: takes a list of tensors and an axis, got {len(tensors)} "
                            f"arguments")
        tensors, axis = tensors[0], (tensors[1] if len(tensors) == 2 else axis)
    if not tensors:
        raise ValueError("stack: no tensors to stack")
    tensors = [as_tensor_variable(t) for t in tensors]
    ndim = tensors[0].ndim + 1
    axis = axis % ndim
    order = list(range(ndim - 1))
    order.insert(axis, "x")
    return concatenate([dimshuffle(t, order) for t in tensors], axis)


# ---------------------------------------------------------------- composed of the ops above
# (so each has its gradient and runs on every backend with nothing of its own to lower)

def choose(a, choices, out=None, mode="raise"):
    """numpy's ``choose``, as Theano's: at each place I of ``a`` broadcast with the choices,
    element I of ``choices[a[I]]``. ``choices``: a list of tensors, or one tensor whose first
    axis is picked from. ``mode``: 'raise' (an index out of range, a negative one too, stops
    the call with an IndexError), 'wrap' (a % n) or 'clip' (a clipped to [0, n - 1]). The
    gradient goes to the choices."""
    if out is not None:
        raise NotImplementedError("choose: out= writes into an array, which a symbolic graph "
                                  "cannot; use the value returned")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    a = as_tensor_variable(a)
    if a.dtype[0] not in "iub":
        raise TypeError(f"choose: a must hold integers, got {a.type} ({a.label()})")
    if isinstance(choices, (list, tuple)):  # the choices broadcast together, then stacked
        if not choices:
            raise ValueError("choose: no choices")
        listed = [as_tensor_variable(c) for c in choices]
        ndim = builtins.max([a.ndim] + [c.ndim for c in listed])
        shaped = _pad(a, ndim)
        for c in listed:
            shaped = add(shaped, zeros_like(_pad(c, ndim), dtype=a.dtype))
        choices = stack([second(shaped, _pad(c, ndim)) for c in listed])
    choices = as_tensor_variable(choices)
    if choices.ndim == 0:
        raise TypeError(f"choose: choices must have an axis to choose along, got "
                        f"{choices.type}")
    n = shape_of(choices, 0)
    index = {"wrap": lambda i: mod(i, n), "clip": lambda i: clip(i, 0, n - 1),
             "raise": lambda i: switch(lt(i, 0), n, i)}[mode](a)  # negatives: out of range
    ndim = builtins.max(a.ndim, choices.ndim - 1)
    if choices.ndim - 1 < ndim:
        choices = dimshuffle(choices, [0] + ["x"] * (ndim - choices.ndim + 1)
                             + list(range(1, choices.ndim)))
    picks = [_pad(index, ndim)] + [
        arange(shape_of(choices, k + 1)).dimshuffle(["x"] * k + [0] + ["x"] * (ndim - k - 1))
        for k in range(ndim)]
    return subtensor(choices, tuple(picks))


def tensordot(a, b, axes=2):
    """Sum of products over the axes given: ``axes`` an int n (a's last n with b's first n)
    or a pair of axis lists; numpy's tensordot, as one product of a reshaped a and b."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= builtins.min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} for operands of {a.ndim} and {b.ndim} "
                             f"axes")
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        a_axes, b_axes = _axis_list(axes[0], a, "tensordot"), _axis_list(axes[1], b, "tensordot")
        if len(a_axes) != len(b_axes):
            raise ValueError(f"tensordot: {len(a_axes)} axes of a against {len(b_axes)} of b")
    a_free = [k for k in range(a.ndim) if k not in a_axes]
    b_free = [k for k in range(b.ndim) if k not in b_axes]
    def length(x, axes):
        out = constant(np.int64(1))
        for k in axes:
            out = out * shape_of(x, k)
        return out
    # each operand by its own lengths, so that the product checks that the summed agree
    rows = reshape(transpose(a, a_free + a_axes), (length(a, a_free), length(a, a_axes)))
    cols = reshape(transpose(b, b_axes + b_free), (length(b, b_axes), length(b, b_free)))
    return reshape(dot(rows, cols), [shape_of(a, k) for k in a_free]
                   + [shape_of(b, k) for k in b_free])


def batched_dot(a, b):
    """The product of each pair a[i], b[i] along the first axis (of 2 or 3 axes each):
    (n, k) . (n, k) -> (n,), (n, r, k) . (n, k, c) -> (n, r, c), and the mixed cases; as an
    elementwise product summed over k (in one loop kernel)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim not in (2, 3) or b.ndim not in (2, 3):
        raise ValueError(f"batched_dot: operands of 2 or 3 axes, got {a.ndim} and {b.ndim}")
    drop = ([1] if a.ndim == 2 else []) + ([2] if b.ndim == 2 else [])
    if a.ndim == 2:
        a = dimshuffle(a, (0, "x", 1))
    if b.ndim == 2:
        b = dimshuffle(b, (0, 1, "x"))
    out = sum(dimshuffle(a, (0, 1, 2, "x")) * dimshuffle(b, (0, "x", 1, 2)), axis=2)
    return dimshuffle(out, tuple(k for k in range(3) if k not in drop)) if drop else out


def nonzero(a, return_matrix=False):
    """The indices of ``a``'s nonzero elements: a tuple of one int64 vector per axis, or with
    ``return_matrix`` a matrix of them (axes x elements). Their length depends on the values:
    the reference interpreter runs it."""
    a = as_tensor_variable(a)
    found = NumpyOp("nonzero")(a)
    found = found if isinstance(found, list) else [found]
    return stack(found) if return_matrix else tuple(found)


def flatnonzero(a):
    """The positions of ``a``'s nonzero elements in ``a`` flattened (int64)."""
    return NumpyOp("flatnonzero")(as_tensor_variable(a))


def nonzero_values(a):
    """``a``'s nonzero elements, in order, as a vector."""
    a = as_tensor_variable(a)
    return subtensor(flatten(a), (flatnonzero(a),))


def batched_tensordot(x, y, axes=2):
    """``tensordot`` of each pair x[i], y[i] along the first (batch) axis: ``axes`` an int n
    (x's last n axes with y's first n after the batch axis) or a pair of axis lists, counted
    with the batch axis as 0; one ``batched_dot`` of x and y reshaped."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes < builtins.min(x.ndim, y.ndim):
            raise ValueError(f"batched_tensordot: axes={axes} for operands of {x.ndim} and "
                             f"{y.ndim} axes, the first of each the batch")
        x_axes, y_axes = list(range(x.ndim - axes, x.ndim)), list(range(1, axes + 1))
    else:
        x_axes = _axis_list(axes[0], x, "batched_tensordot")
        y_axes = _axis_list(axes[1], y, "batched_tensordot")
        if len(x_axes) != len(y_axes) or 0 in x_axes or 0 in y_axes:
            raise ValueError(f"batched_tensordot: as many axes of x as of y, none the batch "
                             f"axis 0, got {x_axes} and {y_axes}")
    x_free = [k for k in range(1, x.ndim) if k not in x_axes]
    y_free = [k for k in range(1, y.ndim) if k not in y_axes]

    def length(v, ks):
        n = constant(np.int64(1))
        for k in ks:
            n = n * shape_of(v, k)
        return n
    a = reshape(transpose(x, [0] + x_free + x_axes),
                (shape_of(x, 0), length(x, x_free), length(x, x_axes)))
    b = reshape(transpose(y, [0] + y_axes + y_free),
                (shape_of(y, 0), length(y, y_axes), length(y, y_free)))
    return reshape(batched_dot(a, b), [shape_of(x, 0)] + [shape_of(x, k) for k in x_free]
                   + [shape_of(y, k) for k in y_free])


class _Grid:
    """``T.mgrid`` and ``T.ogrid``: ``mgrid[0:5, 0:3]`` is a list of one tensor per slice,
    each its slice's aranges broadcast to the whole grid (mgrid) or shaped to broadcast to
    it (ogrid), as numpy's."""

    def __init__(self, sparse):
        self.sparse = sparse

    def __getitem__(self, key):
        slices = key if isinstance(key, tuple) else (key,)
        name = "ogrid" if self.sparse else "mgrid"
        if not builtins.all(isinstance(s, slice) and s.stop is not None for s in slices):
            raise TypeError(f"{name}: expected slices with a stop (mgrid[0:5, 0:3]), got "
                            f"{key!r}")
        if builtins.any(isinstance(s.step, complex) for s in slices):
            raise NotImplementedError(f"{name}: a complex step (a number of points) is not "
                                      f"supported; give the step")
        ranges = [arange(0 if s.start is None else s.start, s.stop,
                         1 if s.step is None else s.step) for s in slices]
        n = len(ranges)
        shaped = [dimshuffle(r, ["x"] * k + [0] + ["x"] * (n - k - 1))
                  for k, r in enumerate(ranges)]
        if self.sparse:
            return shaped
        lengths = [shape_of(r, 0) for r in ranges]
        return [alloc(s, *lengths) for s in shaped]


mgrid = _Grid(sparse=False)
ogrid = _Grid(sparse=True)


def repeat(x, repeats, axis=None):
    """Each element repeated ``repeats`` times along ``axis`` (flattened first when None),
    as numpy's repeat; counts per element given as a list or array are a gather, compiled;
    as a symbolic vector they make the length depend on the values, which only the reference
    interpreter runs."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = _axes(x, axis)[0]
    if isinstance(repeats, (list, tuple, np.ndarray)) and np.ndim(repeats) == 1:
        # counts known when the graph is built: a gather through a constant index array,
        # the axis checked at run time to have one element per count
        counts = np.asarray(repeats, dtype=np.int64)
        if (counts < 0).any():
            raise ValueError(f"repeat: the counts must not be negative, got {repeats}")
        x = specify_shape(x, [len(counts) if k == axis else shape_of(x, k)
                              for k in range(x.ndim)])
        index = constant(np.repeat(np.arange(len(counts), dtype=np.int64), counts))
        return subtensor(x, (slice(None),) * axis + (index,))
    if not isinstance(repeats, (int, np.integer)):  # counts known only when it runs
        return NumpyOp("repeat", axis=axis)(x, as_tensor_variable(repeats))
    pattern = list(range(x.ndim))
    pattern.insert(axis + 1, "x")
    lengths = [shape_of(x, k) for k in range(x.ndim)]
    spread = alloc(dimshuffle(x, pattern), *(lengths[:axis + 1] + [int(repeats)]
                                              + lengths[axis + 1:]))
    return reshape(spread, lengths[:axis] + [lengths[axis] * int(repeats)]
                   + lengths[axis + 1:])


def tile(x, reps, ndim=None):
    """``x`` repeated ``reps[k]`` times along axis k (numpy's tile for int reps; more reps
    than axes add leading axes)."""
    x = as_tensor_variable(x)
    reps = _tile_reps(reps, ndim)
    ndim = builtins.max(len(reps), x.ndim) if ndim is None else ndim
    if ndim < builtins.max(len(reps), x.ndim):
        raise ValueError(f"tile: ndim={ndim} is fewer than the {len(reps)} reps or "
                         f"{x.ndim} axes of x")
    x = dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim))) if ndim > x.ndim else x
    reps = [1] * (ndim - len(reps)) + reps
    lengths = [shape_of(x, k) for k in range(ndim)]
    pattern = [p for k in range(ndim) for p in ("x", k)]
    spread = alloc(dimshuffle(x, pattern), *[n for k in range(ndim)
                                              for n in (reps[k], lengths[k])])
    return reshape(spread, [lengths[k] * reps[k] for k in range(ndim)])


def _tile_reps(reps, ndim):
    """tile's reps as a list of ints and int scalars; a symbolic int vector (Theano's) is
    read element by element, ``ndim`` of them."""
    if isinstance(reps, Variable) and reps.ndim == 1:
        if reps.dtype[0] not in "iu":
            raise TypeError(f"tile: reps must be integers, got {reps.type}")
        if ndim is None:
            raise ValueError("tile: reps is a symbolic vector; give ndim, its length")
        return [reps[k] for k in range(ndim)]
    reps = list(reps) if isinstance(reps, (list, tuple)) else [reps]
    return [r if isinstance(r, Variable) else int(r) for r in reps]


def roll(x, shift, axis=None):
    """``x`` shifted by ``shift`` places along ``axis`` (flattened first when None), the
    elements pushed off one end coming in at the other: numpy's roll."""
    x = as_tensor_variable(x)
    if axis is None:
        return reshape(roll(flatten(x), shift, 0), shape(x))
    axis = _axes(x, axis)[0]
    n = shape_of(x, axis)
    # shift % n as a length expression, the same whether a quotient of lengths rounds down
    # or toward zero: the remainder of shift, moved into (0, 2n), then into [0, n)
    shift = as_tensor_variable(shift)
    moved = shift - (shift // n) * n + n
    cut = n - (moved - (moved // n) * n)
    before = (slice(None),) * axis
    return concatenate([subtensor(x, before + (slice(cut, None),)),
                        subtensor(x, before + (slice(None, cut),))], axis)


def diag(v, k=0):
    """A vector's diagonal matrix (the vector on diagonal ``k``), or a matrix's diagonal
    ``k`` (above the main one for k > 0, below for k < 0), as numpy's ``diag``."""
    v = as_tensor_variable(v)
    if not isinstance(k, (int, np.integer)):
        raise TypeError(f"diag: k must be an int, got {type(k).__name__}")
    k = int(k)
    if v.ndim == 1:
        n = shape_of(v, 0)
        r = arange(n)
        side = n + builtins.abs(k) if k else n
        square = alloc(constant(0, dtype=v.dtype), side, side)
        return set_subtensor(subtensor(square, (r + builtins.max(-k, 0), r + builtins.max(k, 0))),
                             v)
    if v.ndim == 2:
        return diagonal(v, k)
    raise ValueError(f"diag: a vector or a matrix, got {v.ndim} axes ({v.type})")


def diagonal(a, offset=0, axis1=0, axis2=1):
    """Diagonal ``offset`` of the matrices ``a`` holds in axes ``axis1`` and ``axis2``, as
    the last axis (numpy's ``diagonal``)."""
    a = as_tensor_variable(a)
    axis1, axis2 = _axis_list([axis1, axis2], a, "diagonal")
    if axis1 == axis2:
        raise ValueError(f"diagonal: axis1 and axis2 are the same axis ({axis1})")
    offset = int(offset)
    rest = [d for d in range(a.ndim) if d not in (axis1, axis2)]
    m = dimshuffle(a, rest + [axis1, axis2])
    down, right = builtins.max(-offset, 0), builtins.max(offset, 0)
    rows, cols = shape_of(m, m.ndim - 2), shape_of(m, m.ndim - 1)
    r = arange(minimum(rows - down if down else rows, cols - right if right else cols))
    return subtensor(m, (Ellipsis, r + down if down else r, r + right if right else r))


def trace(a, offset=0, axis1=0, axis2=1):
    """The sum of a diagonal (numpy's ``trace``)."""
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def _tri_mask(x, k, lower):
    x = as_tensor_variable(x)
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'}: a matrix (or a stack of them), got "
                         f"{x.ndim} axes ({x.type})")
    rows = dimshuffle(arange(shape_of(x, x.ndim - 2)), (0, "x"))
    cols = dimshuffle(arange(shape_of(x, x.ndim - 1)), ("x", 0))
    return le(cols, rows + int(k)) if lower else ge(cols, rows + int(k))


def tri(N, M=None, k=0, dtype=None):
    """An N x M array (M = N unless given) of ones at and below diagonal ``k``, zeros above
    (numpy's ``tri``); N and M may be symbolic."""
    rows = dimshuffle(arange(N), (0, "x"))
    cols = dimshuffle(arange(N if M is None else M), ("x", 0))
    return cast(le(cols, rows + int(k) if k else rows), dtype or config.floatX)


def power(x, y):
    """``x ** y`` (numpy's name)."""
    return pow(x, y)


def tril(m, k=0):
    """``m`` with the elements above diagonal ``k`` set to 0 (of its last two axes)."""
    m = as_tensor_variable(m)
    return switch(_tri_mask(m, k, True), m, constant(0, dtype=m.dtype))


def triu(m, k=0):
    """``m`` with the elements below diagonal ``k`` set to 0 (of its last two axes)."""
    m = as_tensor_variable(m)
    return switch(_tri_mask(m, k, False), m, constant(0, dtype=m.dtype))


def _shape_entries(shape, what):
    if isinstance(shape, (int, np.integer)) or (isinstance(shape, Variable) and shape.ndim == 0):
        shape = (shape,)
    if isinstance(shape, Variable):
        raise TypeError(f"{what}: a shape given as a tuple of ints or int scalars, got "
                        f"{shape.type}")
    return [as_tensor_variable(n) for n in shape]


def zeros(shape, dtype=None):
    """An array of zeros of ``shape`` (ints, int scalars, ``x.shape``); dtype floatX unless
    given."""
    return alloc(constant(0, dtype=dtype or config.floatX), *_shape_entries(shape, "zeros"))


def ones(shape, dtype=None):
    """An array of ones of ``shape``; dtype floatX unless given."""
    return alloc(constant(1, dtype=dtype or config.floatX), *_shape_entries(shape, "ones"))


def identity_like(x, dtype=None):
    """An identity matrix of ``x``'s shape and dtype."""
    x = as_tensor_variable(x)
    return eye(shape_of(x, 0), shape_of(x, 1), dtype=dtype or x.dtype)


def argmin(x, axis=None, keepdims=False):
    """The index of the first smallest element along ``axis`` (the first NaN if any)."""
    x = as_tensor_variable(x)
    # an order-reversing map: -x for floats (NaN stays NaN, which argmax picks first as
    # numpy's argmin does), ~x for ints (no overflow at the most negative value)
    flipped = neg(x) if x.dtype[0] == "f" else (
        invert(x) if x.dtype == "bool" else sub(constant(-1, dtype=x.dtype), x)
        if x.dtype[0] == "i" else sub(constant(np.iinfo(x.dtype).max, dtype=x.dtype), x))
    return argmax(flipped, axis, keepdims)


def _cumulative(x, axis, mode):
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x, 1), 0
    (axis,) = _axes(x, axis)
    return CumOp(axis, mode)(x)


def cumsum(x, axis=None):
    """The running sum along ``axis`` (None: of ``x`` flattened), in order, as numpy's;
    narrower ints give int64."""
    return _cumulative(x, axis, "add")


def cumprod(x, axis=None):
    """The running product along ``axis`` (None: of ``x`` flattened), as numpy's; its
    gradient assumes ``x`` has no zeros, as ``prod``'s does."""
    return _cumulative(x, axis, "mul")


def _sortable(a, axis, kind, order, name):
    if order is not None:
        raise NotImplementedError(f"{name}: order= sorts structured arrays by fields, which "
                                  f"codegen's tensors do not have; pass order=None")
    if kind not in ("quicksort", "mergesort", "heapsort", "stable"):
        raise ValueError(f"{name}: kind must be 'quicksort', 'mergesort', 'heapsort' or "
                         f"'stable', got {kind!r}")
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = flatten(a, 1), 0
    (axis,) = _axes(a, axis)
    return a, axis


def argsort(a, axis=-1, kind="quicksort", order=None):
    """The indices that sort ``a`` along ``axis`` (None: ``a`` flattened), int64. Every
    ``kind`` gives numpy's stable order: equal elements keep theirs, NaNs come last."""
    a, axis = _sortable(a, axis, kind, order, "argsort")
    return ArgSort(axis)(a)


def sort(a, axis=-1, kind="quicksort", order=None):
    """``a`` sorted along ``axis`` (None: flattened), NaNs last, as numpy's ``sort``: the
    elements gathered by ``argsort``, so its gradient sends each element's back to where
    it came from."""
    a, axis = _sortable(a, axis, kind, order, "sort")
    return _gather_along(a, axis, ArgSort(axis)(a))


def _gather_along(a, axis, index):
    """The elements of ``a`` at ``index`` (an integer array shaped as ``a`` but along
    ``axis``) along ``axis``, as numpy's take_along_axis."""
    picks = [index if k == axis else
             arange(shape_of(a, k)).dimshuffle(["x"] * k + [0] + ["x"] * (a.ndim - k - 1))
             for k in range(a.ndim)]
    return subtensor(a, tuple(picks))


def _top(a, kth, axis, idx_dtype, name):
    """(a, axis, the indices of the ``kth`` largest elements of ``a`` along ``axis``, the
    largest first, or of the -``kth`` smallest, the smallest first)."""
    if not isinstance(kth, (int, np.integer)) or isinstance(kth, bool):
        raise NotImplementedError(f"{name}: kth must be a Python int (codegen picks the "
                                  f"elements by slicing), got {kth!r}")
    if kth == 0:
        raise ValueError(f"{name}: kth must not be 0 (positive: the largest elements; "
                         f"negative: the smallest)")
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = flatten(a, 1), 0
    (axis,) = _axes(a, axis)
    take = slice(-1, -kth - 1, -1) if kth > 0 else slice(None, -kth)  # the last kth, reversed
    picked = subtensor(ArgSort(axis)(a), tuple(take if k == axis else slice(None)
                                               for k in range(a.ndim)))
    return a, axis, cast(picked, idx_dtype)


def topk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """The ``kth`` largest elements of ``x`` along ``axis`` (None: ``x`` flattened), the
    largest first; a negative ``kth``: the -``kth`` smallest, the smallest first. Theano's
    (whose ``sorted=True`` was not implemented, its order unspecified); the gradient goes
    back to where each element came from."""
    a, axis, index = _top(x, kth, axis, idx_dtype, "topk")
    return _gather_along(a, axis, index)


def argtopk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """The indices of ``topk(x, kth, axis)`` along ``axis``, as ``idx_dtype``."""
    return _top(x, kth, axis, idx_dtype, "argtopk")[2]


def topk_and_argtopk(x, kth, axis=-1, sorted=True, idx_dtype="int64"):
    """``(topk(x, kth, axis), argtopk(x, kth, axis))``."""
    a, axis, index = _top(x, kth, axis, idx_dtype, "topk_and_argtopk")
    return _gather_along(a, axis, index), index


def max_and_argmax(a, axis=None, keepdims=False):
    """``[max(a, axis), argmax(a, axis)]``."""
    return [max(a, axis, keepdims), argmax(a, axis, keepdims)]


def any(x, axis=None, keepdims=False):
    """Whether any element along ``axis`` is nonzero (bool; False where there are none): a
    count of the nonzero elements, above 0."""
    return gt(sum(neq(x, 0), axis, dtype="int64", keepdims=keepdims), 0)


def all(x, axis=None, keepdims=False):
    """Whether every element along ``axis`` is nonzero (bool; True where there are none): a
    count of the zeros, 0."""
    return eq(sum(eq(x, 0), axis, dtype="int64", keepdims=keepdims), 0)


def ptp(a, axis=None):
    """max - min along ``axis`` (peak to peak)."""
    return sub(max(a, axis), min(a, axis))


def largest(*args):
    """The elementwise maximum of all the arguments."""
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = maximum(out, a)
    return out


def smallest(*args):
    """The elementwise minimum of all the arguments."""
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = minimum(out, a)
    return out


def inv(x):
    """1 / x."""
    return true_div(constant(1.0, dtype=config.floatX), x)


reciprocal = inv


def isclose(a, b, rtol=1.0e-5, atol=1.0e-8, equal_nan=False):
    """Whether ``|a - b| <= atol + rtol * |b|`` elementwise (numpy's ``isclose``); infinities
    are close to themselves only, NaN to NaN only with ``equal_nan``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    finite = and_(invert(isinf(a)), invert(isinf(b)))
    close = switch(finite, le(abs(sub(a, b)), add(atol, mul(rtol, abs(b)))), eq(a, b))
    if equal_nan:
        close = or_(close, and_(isnan(a), isnan(b)))
    return close


def allclose(a, b, rtol=1.0e-5, atol=1.0e-8, equal_nan=False):
    """Whether every element of ``a`` is close to ``b``'s (see ``isclose``)."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def shape_padleft(t, n_ones=1):
    """``t`` with ``n_ones`` broadcastable axes in front."""
    t = as_tensor_variable(t)
    return dimshuffle(t, ["x"] * n_ones + list(range(t.ndim)))


def shape_padright(t, n_ones=1):
    """``t`` with ``n_ones`` broadcastable axes at the end."""
    t = as_tensor_variable(t)
    return dimshuffle(t, list(range(t.ndim)) + ["x"] * n_ones)


def shape_padaxis(t, axis):
    """``t`` with a broadcastable axis inserted at ``axis`` (negative: from the end)."""
    t = as_tensor_variable(t)
    if not -t.ndim - 1 <= axis <= t.ndim:
        raise IndexError(f"shape_padaxis: axis {axis} is out of range for {t.ndim + 1} axes")
    order = list(range(t.ndim))
    order.insert(axis % (t.ndim + 1), "x")
    return dimshuffle(t, order)


def squeeze(x):
    """``x`` without its broadcastable axes."""
    x = as_tensor_variable(x)
    return dimshuffle(x, [a for a in range(x.ndim) if not x.broadcastable[a]])


def swapaxes(y, axis1, axis2):
    """``y`` with two axes exchanged."""
    y = as_tensor_variable(y)
    axis1, axis2 = _axis_list([axis1, axis2], y, "swapaxes")
    order = list(range(y.ndim))
    order[axis1], order[axis2] = axis2, axis1
    return transpose(y, order)


def join(axis, *tensors_list):
    """Theano's ``join``: ``concatenate(tensors_list, axis)``."""
    return concatenate(tensors_list, axis)


def horizontal_stack(*args):
    """Matrices side by side (along axis 1)."""
    return concatenate(args, axis=1)


def vertical_stack(*args):
    """Matrices one above the other (along axis 0)."""
    return concatenate(args, axis=0)


def split(x, splits_size, n_splits, axis=0):
    """``x`` cut along ``axis`` into ``n_splits`` pieces of lengths ``splits_size`` (ints,
    int scalars); the lengths must add up to the axis' length (checked at run time)."""
    x = as_tensor_variable(x)
    if isinstance(splits_size, Constant):
        splits_size = list(splits_size.data)
    if isinstance(splits_size, Variable):
        raise NotImplementedError("split: lengths computed by the graph (a vector variable); "
                                  "give them as a list of ints or int scalars")
    sizes = list(splits_size)
    if len(sizes) != n_splits:
        raise ValueError(f"split: n_splits is {n_splits}, but {len(sizes)} lengths are given")
    (axis,) = _axes(x, axis)
    total = sizes[0] if sizes else 0
    for n in sizes[1:]:
        total = total + n
    whole = specify_shape(x, [shape_of(x, a) if a != axis else total for a in range(x.ndim)])
    pieces, start = [], 0
    for n in sizes:
        stop = start + n
        pieces.append(subtensor(whole, (slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return pieces


def take(a, indices, axis=None):
    """Elements of ``a`` at ``indices`` along ``axis`` (None: of ``a`` flattened)."""
    a, indices = as_tensor_variable(a), as_tensor_variable(indices)
    if axis is None:
        return subtensor(flatten(a), (indices,))
    (axis,) = _axes(a, axis)
    return subtensor(a, (slice(None),) * axis + (indices,))


def stacklists(arg):
    """Nested lists of tensors stacked into one tensor (``stacklists([[a, b], [c, d]])``)."""
    if isinstance(arg, (tuple, list)):
        return stack([stacklists(a) for a in arg])
    return as_tensor_variable(arg)


as_tensor = as_tensor_variable


def clone(output, replace=None, strict=True, share_inputs=True):
    """Theano's ``clone``: ``output`` (a variable or a list) rebuilt with the variables of
    ``replace`` (a dict or (old, new) pairs) put in place; with ``share_inputs=False`` its
    inputs (but not shared variables and constants) are new variables too. With ``strict``,
    a replacement must have the type of what it replaces."""
    pairs = replace.items() if isinstance(replace, dict) else (replace or [])
    mapping = {}
    for old, new in pairs:
        new = as_tensor_variable(new)
        if strict and old.type != new.type:
            raise TypeError(f"clone: {old.label()} ({old.type}) cannot be replaced by "
                            f"{new.label()} ({new.type}) of another type; pass strict=False "
                            f"to allow it")
        mapping[old] = new
    many = isinstance(output, (list, tuple))
    outputs = list(output) if many else [output]
    if not share_inputs:
        for leaf in graph_inputs(outputs):
            if leaf.owner is None and not isinstance(leaf, (Constant, SharedVariable)) \
                    and leaf not in mapping:
                mapping[leaf] = leaf.type(leaf.name)
    out = clone_replace(outputs, mapping)
    return out if many else out[0]

__all__ = [n for n in dir() if not n.startswith("_") and n not in ("builtins", "np")]
