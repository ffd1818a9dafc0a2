"""Ops whose outputs' lengths depend on their inputs' values (numpy's nonzero, flatnonzero,
unique, bincount, repeat by an array of counts), and searchsorted, which codegen has not
compiled yet: each a numpy function with a rule for its output types.

Compiled code plans its buffers from shapes before any step runs, so these run in the
reference interpreter: ``codegen.function`` falls back to it with a warning that gives the
reason, and a module with one does not build.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType

VALUED = "its output's length depends on its input's values"


def _vectors(dtype, n):
    return [TensorType(dtype, (False,))] * n


def _nonzero(a):
    return np.nonzero(a)


def _nonzero_types(a):
    return _vectors("int64", a.ndim)


def _flatnonzero(a):
    return (np.flatnonzero(a),)


def _flatnonzero_types(a):
    return _vectors("int64", 1)


def _bincount(x, *weights, minlength=None):
    if x.size and x.min() < 0:
        raise ValueError(f"bincount: the values must not be negative, got {x.min()}")
    return (np.bincount(x, weights[0] if weights else None, minlength or 0),)


def _bincount_types(x, *weights, minlength=None):
    return _vectors(weights[0].dtype if weights else "int64", 1)


def _unique(x, flags=(), axis=None):
    out = np.unique(x, *flags, axis=axis)
    return out if isinstance(out, tuple) else (out,)


def _unique_types(x, flags=(), axis=None):
    values = TensorType(x.dtype, (False,) * (1 if axis is None else x.ndim))
    return [values] + _vectors("int64", sum(flags))


def _repeat(x, counts, axis=0):
    return (np.repeat(x, counts, axis=axis),)


def _repeat_types(x, counts, axis=0):
    return [TensorType(x.dtype, [b and k != axis for k, b in enumerate(x.broadcastable)])]


def _searchsorted(x, v, *sorter, side="left"):
    return (np.searchsorted(x, v, side, sorter[0] if sorter else None),)


def _searchsorted_types(x, v, *sorter, side="left"):
    return [TensorType("int64", v.broadcastable)]


#: name -> (numpy function, output types, why only the reference interpreter runs it)
KINDS = {
    "nonzero": (_nonzero, _nonzero_types, VALUED),
    "flatnonzero": (_flatnonzero, _flatnonzero_types, VALUED),
    "bincount": (_bincount, _bincount_types, VALUED),
    "unique": (_unique, _unique_types, VALUED),
    "repeat": (_repeat, _repeat_types, VALUED),
    "searchsorted": (_searchsorted, _searchsorted_types, "it has no compiled form yet"),
}


class NumpyOp(Op):
    """One of ``KINDS`` with its parameters; no gradient (indices, counts, or values
    piecewise constant in the inputs)."""

    props = ("kind", "params")

    def __init__(self, kind, **params):
        self.kind = kind
        self.params = tuple(sorted(params.items()))
        self.reference_only = KINDS[kind][2]

    def short_name(self):
        return self.kind

    def make_node(self, *inputs):
        return Apply(self, list(inputs), KINDS[self.kind][1](*inputs, **dict(self.params)))

    def perform(self, node, values):
        results = KINDS[self.kind][0](*values, **dict(self.params))
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(results, node.outputs)]

    def grad(self, node, output_grads):
        return [None] * len(node.inputs)
