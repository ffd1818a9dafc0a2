"""Theano's tensor functions of constants and permutations: ``get_scalar_constant_value``
(and its ``NotScalarConstantError``), ``inverse_permutation``, ``permute_row_elements``,
``deg2rad`` and ``rad2deg``; ``ceil_intdiv``."""

import numpy as np

from codegen.graph import Constant, Variable


class NotScalarConstantError(Exception):
    """The variable is not a constant that holds one value (``get_scalar_constant_value``)."""


def get_scalar_constant_value(v, elemwise=True, only_process_constants=False, max_recur=10):
    """The value (a 0-d numpy array) of ``v`` where it is known when the graph is built: a
    constant holding one value everywhere, a length of a static shape, or ops computed from
    such values (at most ``max_recur`` deep); else NotScalarConstantError."""
    if not isinstance(v, Variable) or isinstance(v, Constant):
        return _one_value(v.data if isinstance(v, Constant) else v, v)
    node = v.owner
    if only_process_constants or node is None or max_recur <= 0:
        raise NotScalarConstantError(v)
    from codegen.ops.elemwise import Elemwise
    from codegen.ops.shape import ShapeOf
    if isinstance(node.op, ShapeOf):
        static = node.inputs[0].type.shape
        if static is not None and static[node.op.axis] is not None:
            return np.asarray(static[node.op.axis], dtype="int64")
        raise NotScalarConstantError(v)
    if isinstance(node.op, Elemwise) and not elemwise:
        raise NotScalarConstantError(v)
    values = [get_scalar_constant_value(i, elemwise, False, max_recur - 1) if i.ndim == 0
              else _constant_array(i) for i in node.inputs]
    try:
        out = node.op.perform(node, values)[v.index]
    except Exception:  # an op that cannot run on these values here
        raise NotScalarConstantError(v) from None
    return _one_value(out, v)


def _one_value(data, v):
    """The value every element of ``data`` holds (0-d), else NotScalarConstantError."""
    data = np.asarray(data)
    if data.size >= 1 and np.all(data == data.flat[0]):
        return np.asarray(data.flat[0])
    raise NotScalarConstantError(v)


def _constant_array(v):
    if isinstance(v, Constant):
        return np.asarray(v.data)
    raise NotScalarConstantError(v)


def inverse_permutation(perm):
    """The inverse of the permutation ``perm`` (int vectors along its last axis):
    ``out[perm[i]] = i``."""
    from codegen.tensor import basic as t
    perm = t.as_tensor_variable(perm)
    return t.cast(t.argsort(perm, axis=-1), perm.dtype)


def permute_row_elements(x, y, inverse=False):
    """The elements of each row of ``x`` (along its last axis) in the order of the
    permutation ``y`` (one for all rows, or one per row): ``out[..., i] = x[..., y[..., i]]``,
    or with ``inverse``, ``out[..., y[..., i]] = x[..., i]``."""
    from codegen.tensor import basic as t
    x, y = t.as_tensor_variable(x), t.as_tensor_variable(y)
    if inverse:
        y = inverse_permutation(y)
    width = x.shape[-1]
    if y.ndim == 1:
        return x[..., y]
    flat, order = x.reshape((-1, width)), (y + t.zeros_like(x, dtype=y.dtype)).reshape((-1, width))
    rows = t.arange(flat.shape[0]).dimshuffle(0, "x")
    return flat[rows, order].reshape(x.shape)


def deg2rad(x):
    """Degrees to radians."""
    from codegen.tensor import basic as t
    x = t.as_tensor_variable(x)
    return x * np.asarray(np.pi / 180, dtype=x.dtype if x.dtype[0] == "f" else "float64")


def rad2deg(x):
    """Radians to degrees."""
    from codegen.tensor import basic as t
    x = t.as_tensor_variable(x)
    return x * np.asarray(180 / np.pi, dtype=x.dtype if x.dtype[0] == "f" else "float64")


def ceil_intdiv(a, b):
    """ceil(a / b) of ints, exactly (Theano's): ``a // b``, plus one where it left a
    remainder."""
    from codegen.tensor import basic as t
    quotient = t.int_div(a, b)
    return quotient + t.cast(t.neq(t.mod(a, b), 0), quotient.dtype)


__all__ = ["NotScalarConstantError", "ceil_intdiv", "deg2rad", "get_scalar_constant_value",
           "inverse_permutation", "permute_row_elements", "rad2deg"]
