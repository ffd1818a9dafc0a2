"""``theano.tensor.extra_ops``: the functions of it codegen has, most built from the ops of
``codegen.tensor`` (so each has its gradient and runs on every backend); bincount, unique and
searchsorted run in the reference interpreter (``codegen.ops.valued``)."""

from codegen.ops.reduce import CumOp
from codegen.ops.valued import NumpyOp
from codegen.tensor.basic import (
    arange,
    as_tensor_variable,
    cast,
    cumprod,
    cumsum,
    eq,
    repeat,
    set_subtensor,
    shape_of,
    squeeze,
    subtensor,
)
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
    shape), as numpy's ``searchsorted``."""
    inputs = [as_tensor_variable(x), as_tensor_variable(v)]
    if sorter is not None:
        inputs.append(as_tensor_variable(sorter))
    return NumpyOp("searchsorted", side=side)(*inputs)


__all__ = ["CumOp", "cumsum", "cumprod", "diff", "repeat", "squeeze", "to_one_hot",
           "fill_diagonal", "bincount", "Unique", "unique", "searchsorted"]

#: extra_ops functions codegen does not have yet
_MISSING = ("ravel_multi_index", "unravel_index", "compress", "bartlett",
            "fill_diagonal_offset")


def __getattr__(name):
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor.extra_ops", name, _MISSING)
