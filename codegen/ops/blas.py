"""Dot: matrix and vector products (every 1-D/2-D combination), lowered to BLAS."""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.errors import describe
from codegen.ops.shape import DimShuffle


class Dot(Op):
    """``dot(a, b)`` for 1-D and 2-D operands, numpy's meaning."""

    def make_node(self, a, b):
        node = Apply(self, [a, b], [])
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise op_error(TypeError, node, f"expected 1-d or 2-d operands, got {describe(a)} "
                                            f"and {describe(b)}")
        ka, kb = a.type.shape[-1], b.type.shape[0]
        if ka is not None and kb is not None and ka != kb:
            raise self._mismatch(node, a.type.shape, b.type.shape)
        dtype = str(np.result_type(a.dtype, b.dtype))
        bc = list(a.broadcastable[:-1]) + list(b.broadcastable[1:])
        shape = list(a.type.shape[:-1]) + list(b.type.shape[1:])
        out_type = TensorType(dtype, bc, shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def _mismatch(self, node, sa, sb):
        a, b = node.inputs
        return op_error(ValueError, node, f"shapes {a.label()} {tuple(sa)} and {b.label()} "
                        f"{tuple(sb)} not aligned: {a.label()} has {sa[-1]} columns but "
                        f"{b.label()} has {sb[0]} rows")

    def perform(self, node, values):
        a, b = values
        if a.shape[-1] != b.shape[0]:
            raise self._mismatch(node, a.shape, b.shape)
        return [np.asarray(np.dot(a, b), dtype=node.out.dtype)]

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]

    def shape_checks(self, node, input_shapes):
        a, b = node.inputs
        sa, sb = input_shapes
        return [(sa[-1], sb[0], f"{a.label()} columns must equal {b.label()} rows")]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        a, b = node.inputs
        if a.ndim == 1 and b.ndim == 1:
            return [gz * b, gz * a]
        if a.ndim == 2 and b.ndim == 2:
            return [dot(gz, b.T), dot(a.T, gz)]
        if a.ndim == 2:  # matrix . vector
            return [dot(DimShuffle((0, "x"))(gz), DimShuffle(("x", 0))(b)), dot(a.T, gz)]
        # vector . matrix
        return [dot(b, gz), dot(DimShuffle((0, "x"))(a), DimShuffle(("x", 0))(gz))]


    def batch(self, node, inputs, batched):
        a, b = inputs
        ba, bb = batched
        if ba and not bb and a.ndim == 2:  # rows of a batch of vectors times b
            return dot(a, b)
        if bb and not ba and b.ndim == 2 and node.inputs[0].ndim == 2:  # A . v for many v
            return dot(b, DimShuffle((1, 0))(a))
        if bb and not ba and b.ndim == 2:  # v . v for many v
            return dot(b, a)
        return super().batch(node, inputs, batched)


_DOT = Dot()


def dot(a, b):
    return _DOT(a, b)
