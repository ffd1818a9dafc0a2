"""``theano.tensor.extra_ops``: the functions of it codegen has, most built from the ops of
``codegen.tensor`` (so each has its gradient and runs on every backend); bincount, unique
and compress run in the reference interpreter (``codegen.ops.valued``)."""

import numpy as np

from codegen.graph import Constant, Variable
from codegen.ops.reduce import CumOp
from codegen.ops.valued import NumpyOp
from codegen.tensor.basic import (
    abs_,
    arange,
    as_tensor_variable,
    cast,
    clip,
    cumprod,
    cumsum,
    eq,
    flatnonzero,
    floor_div,
    ge,
    lt,
    mod,
    repeat,
    set_subtensor,
    shape_of,
    squeeze,
    subtensor,
    take,
)
from codegen.tensor.basic import all as _all
from codegen.tensor.basic import maximum as _maximum
from codegen.tensor.basic import minimum as _minimum


def diff(x, n=1, axis=-1):
    """The ``n``-th difference along ``axis``: ``x[1:] - x[:-1]``, ``n`` times."""
    x = as_tensor_variable(x)
    axis = axis % x.ndim
    for _ in range(n):
        head = (slice(None),) * axis
        x = subtensor(x, head + (slice(1, None),)) - subtensor(x, head + (slice(None, -1),))
    return x


def to_one_hot(y, nb_class, dtype=None):
    """A matrix with row i the one-hot encoding of the integer label ``y[i]``."""
    y = as_tensor_variable(y)
    hot = eq(y.dimshuffle(0, "x"), arange(nb_class).dimshuffle("x", 0))
    return cast(hot, dtype or "floatX")


def fill_diagonal(a, val):
    """``a`` with its main diagonal set to ``val`` (a scalar)."""
    a = as_tensor_variable(a)
    r = arange(_minimum(shape_of(a, 0), shape_of(a, 1)))
    return set_subtensor(subtensor(a, (r, r)), val)


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """How many times each of 0..max(x) occurs in the int vector ``x`` (or the sum of the
    ``weights`` where it does); at least ``minlength`` long. A negative value is an error.
    Its length depends on the values: the reference interpreter runs it."""
    x = as_tensor_variable(x)
    inputs = [x] + ([as_tensor_variable(weights)] if weights is not None else [])
    return NumpyOp("bincount", minlength=minlength)(*inputs)


class Unique:
    """Theano's ``Unique(return_index, return_inverse, return_counts)``: called on ``x``,
    its sorted distinct values (and the indices asked for), as numpy's ``unique``."""

    def __init__(self, return_index=False, return_inverse=False, return_counts=False,
                 axis=None):
        self.flags = (bool(return_index), bool(return_inverse), bool(return_counts))
        self.axis = axis

    def __call__(self, x):
        return NumpyOp("unique", flags=self.flags, axis=self.axis)(as_tensor_variable(x))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """``ar``'s sorted distinct values, and the indices and counts asked for (numpy's)."""
    return Unique(return_index, return_inverse, return_counts, axis)(ar)


def searchsorted(x, v, side="left", sorter=None):
    """Where each of ``v`` would go in the sorted vector ``x`` to keep it sorted (int64, v's
    shape), as numpy's ``searchsorted``: a binary search per element, compiled. With
    ``sorter`` (the indices that sort ``x``, as ``argsort`` gives), in ``x[sorter]``."""
    from codegen.ops.assert_op import Assert
    from codegen.ops.indexing import SearchSorted
    x, v = as_tensor_variable(x), as_tensor_variable(v)
    if sorter is not None:
        sorter = as_tensor_variable(sorter)
        if sorter.ndim != 1 or sorter.dtype[0] not in "iu":
            raise TypeError(f"searchsorted: sorter must be a vector of ints, got {sorter.type}")
        sorter = Assert("searchsorted: sorter must be as long as x", "ValueError")(
            sorter, eq(shape_of(sorter, 0), shape_of(x, 0)))
        x = take(x, sorter)
    dtype = str(np.result_type(x.dtype, v.dtype))
    return SearchSorted(side)(cast(x, dtype), cast(v, dtype))


def _dims(dims, op):
    """``dims`` (a tuple of ints or int scalars, ``x.shape``, or a constant vector) as int64
    scalars, whose number must be known when the graph is built."""
    if isinstance(dims, Constant):
        dims = [int(d) for d in np.ravel(dims.data)]
    elif isinstance(dims, Variable):
        raise TypeError(f"{op}: dims must be a tuple (ints, int scalars or x.shape) or a "
                        f"constant vector, so that its length is known; got {dims.label()} "
                        f"({dims.type})")
    entries = [as_tensor_variable(d) for d in dims]
    for k, d in enumerate(entries):
        if d.ndim or d.dtype[0] not in "iu":
            raise TypeError(f"{op}: dims[{k}] must be an int, got {d.type}")
    return [cast(d, "int64") for d in entries]


def _strides(dims, order, op):
    """The flat step of each axis of an array of shape ``dims`` (int64 scalars) laid out in
    ``order`` ('C': the last axis varies fastest; 'F': the first)."""
    if order not in ("C", "F"):
        raise ValueError(f"{op}: order must be 'C' or 'F', got {order!r}")
    axes = range(len(dims)) if order == "F" else reversed(range(len(dims)))
    strides, step = [None] * len(dims), None
    for a in axes:
        strides[a] = step if step is not None else as_tensor_variable(np.int64(1))
        step = dims[a] if step is None else step * dims[a]
    return strides, step if step is not None else as_tensor_variable(np.int64(1))


def _int_array(x, what, op):
    x = as_tensor_variable(x)
    if x.dtype[0] not in "iu":
        raise TypeError(f"{op}: {what} must be integers, got {x.type}")
    return cast(x, "int64")


def unravel_index(indices, dims, order="C"):
    """The coordinates in an array of shape ``dims`` of the flat ``indices``: a tuple of int64
    arrays shaped as ``indices``, as numpy's; an index out of range is a ValueError. Built
    from integer division and remainder, so it compiles on every backend."""
    from codegen.ops.assert_op import Assert
    indices = _int_array(indices, "indices", "unravel_index")
    dims = _dims(dims, "unravel_index")
    strides, size = _strides(dims, order, "unravel_index")
    inside = _all(ge(indices, 0) & lt(indices, size))
    indices = Assert("unravel_index: an index is out of bounds (below 0, or not below the "
                     "product of dims)",
                     "ValueError")(indices, inside)
    return tuple(mod(floor_div(indices, s), d) for s, d in zip(strides, dims))


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """The flat indices in an array of shape ``dims`` of the coordinates ``multi_index`` (one
    int array per axis, broadcast together), as numpy's: ``mode`` 'raise' (a coordinate out
    of range is a ValueError), 'wrap' or 'clip', or one of these per axis. Built from
    integer arithmetic, so it compiles on every backend."""
    from codegen.ops.assert_op import Assert
    dims = _dims(dims, "ravel_multi_index")
    arrays = [_int_array(a, f"multi_index[{k}]", "ravel_multi_index")
              for k, a in enumerate(multi_index)]
    if len(arrays) != len(dims):
        raise ValueError(f"ravel_multi_index: {len(arrays)} index arrays for {len(dims)} dims")
    modes = [mode] * len(dims) if isinstance(mode, str) else list(mode)
    if len(modes) != len(dims) or any(m not in ("raise", "wrap", "clip") for m in modes):
        raise ValueError(f"ravel_multi_index: mode must be 'raise', 'wrap' or 'clip', or one "
                         f"of these per axis ({len(dims)}), got {mode!r}")
    strides, _ = _strides(dims, order, "ravel_multi_index")
    flat = None
    for a, d, s, m in zip(arrays, dims, strides, modes):
        if m == "raise":
            a = Assert("ravel_multi_index: invalid entry in coordinates array (a coordinate "
                       "is out of range for dims)", "ValueError")(
                a, _all(ge(a, 0) & lt(a, d)))
        elif m == "wrap":
            a = mod(a, d)
        else:
            a = clip(a, 0, d - 1)
        flat = a * s if flat is None else flat + a * s
    return flat


def compress(condition, x, axis=None):
    """The entries of ``x`` along ``axis`` (of its flattening when None) where
    ``condition`` is true, as numpy's; a condition shorter than the axis is read as padded
    with False. Its length depends on the values: the reference interpreter runs it."""
    x = as_tensor_variable(x)
    where = flatnonzero(condition)
    return take(x.flatten() if axis is None else x, where, axis=axis or 0)


def bartlett(M):
    """The Bartlett (triangular) window of ``M`` points (an int or an int scalar), float64,
    as numpy's: empty when M < 1, [1.] when M == 1."""
    M = cast(as_tensor_variable(M), "int64")
    n = cast(2 * arange(M) + 1 - M, "float64")  # numpy's arange(1 - M, M, 2)
    return 1 - abs_(n) / cast(_maximum(M - 1, 1), "float64")


def fill_diagonal_offset(a, val, offset):
    """``a`` (a matrix) with the diagonal ``offset`` above the main one (below when
    negative) set to ``val`` (a scalar); ``offset`` an int or an int scalar."""
    a = as_tensor_variable(a)
    offset = cast(as_tensor_variable(offset), "int64")
    # max(v, 0) as -min(-v, 0), which lengths may be built from; arange(n < 0) is empty
    down, right = -_minimum(offset, 0), -_minimum(-offset, 0)
    i = arange(_minimum(shape_of(a, 0) - down, shape_of(a, 1) - right))
    return set_subtensor(subtensor(a, (i + down, i + right)), val)


__all__ = ["CumOp", "cumsum", "cumprod", "diff", "repeat", "squeeze", "to_one_hot",
           "fill_diagonal", "fill_diagonal_offset", "bincount", "Unique", "unique", "searchsorted",
           "unravel_index", "ravel_multi_index", "compress", "bartlett"]

#: extra_ops functions codegen does not have yet
_MISSING = ()


def __getattr__(name):
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor.extra_ops", name, _MISSING)
