"""``theano.tensor.extra_ops``: the functions of it codegen has, each built from the ops of
``codegen.tensor`` (so each has its gradient and runs on every backend)."""

from codegen.ops.reduce import CumOp
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


__all__ = ["CumOp", "cumsum", "cumprod", "diff", "repeat", "squeeze", "to_one_hot",
           "fill_diagonal"]

#: extra_ops functions codegen does not have yet
_MISSING = ("bincount", "unique", "searchsorted", "ravel_multi_index", "unravel_index",
            "compress", "bartlett", "fill_diagonal_offset", "Unique")


def __getattr__(name):
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor.extra_ops", name, _MISSING)
