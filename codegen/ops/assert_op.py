"""Theano's ``Assert``: a value passed through once scalar conditions hold, else the call
stops with AssertionError, or the error ``error`` names (ValueError: the checks of numpy's
functions built from other ops, as ``unravel_index``) (compiled: a step per condition,
``lower.program.AssertStep``)."""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error


class Assert(Op):
    """``Assert(msg)(x, *conditions)``: x, or AssertionError(msg) when a condition (a
    scalar) is false (``error`` 'ValueError': ValueError(msg))."""

    props = ("msg", "error")
    ERRORS = {"AssertionError": AssertionError, "ValueError": ValueError}

    def __init__(self, msg="Theano Assert failed!", error="AssertionError"):
        if error not in self.ERRORS:
            raise ValueError(f"Assert: error must be one of {sorted(self.ERRORS)}, got {error!r}")
        self.msg = msg
        self.error = error

    def short_name(self):
        return "Assert"

    def make_node(self, value, *conditions):
        from codegen.tensor.basic import as_tensor_variable
        value = as_tensor_variable(value)
        conditions = [as_tensor_variable(c) for c in conditions]
        node = Apply(self, [value, *conditions], [])
        for k, c in enumerate(conditions):
            if c.ndim != 0:
                raise op_error(TypeError, node, f"condition {k} must be a scalar, got {c.type}")
        out_type = TensorType(value.dtype, value.broadcastable, value.type.shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def perform(self, node, values):
        if not all(bool(np.all(c)) for c in values[1:]):
            raise op_error(self.ERRORS[self.error], node, self.msg)
        return [values[0]]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, node, output_grads):
        return [output_grads[0]] + [None] * (len(node.inputs) - 1)


__all__ = ["Assert"]
