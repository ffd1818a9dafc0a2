"""Dot: matrix and vector products (every 1-D/2-D combination), lowered to BLAS."""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.errors import describe
from codegen.ops.shape import DimShuffle


class Dot(Op):
    """``dot(a, b)`` for 1-D and 2-D operands, numpy's meaning.

    ``trans`` marks 2-D operands used transposed, ``dot(a.T, b)`` being
    ``Dot((True, False))(a, b)``: a rewrite folds transposes into the product, as BLAS takes
    them, so gradients (``delta . x.T``) need no transpose node.
    """

    props = ("trans",)

    def __init__(self, trans=(False, False)):
        self.trans = (bool(trans[0]), bool(trans[1]))

    def __str__(self):
        return "dot" if not any(self.trans) else \
            f"dot{{{','.join('T' if t else 'N' for t in self.trans)}}}"

    def format(self, node, args):
        return "dot(" + ", ".join(f"{arg}.T" if t else arg
                                  for arg, t in zip(args, self.trans)) + ")"

    def _effective(self, k, broadcastable_or_shape):
        """What operand ``k``'s per-axis pattern is once transposed as the product uses it."""
        return tuple(broadcastable_or_shape)[::-1] if self.trans[k] else \
            tuple(broadcastable_or_shape)

    def make_node(self, a, b):
        dtype = str(np.result_type(a.dtype, b.dtype))
        if a.dtype != dtype or b.dtype != dtype:  # products take operands of one dtype
            from codegen.tensor.basic import cast
            a, b = cast(a, dtype), cast(b, dtype)
        node = Apply(self, [a, b], [])
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise op_error(TypeError, node, f"expected 1-d or 2-d operands, got {describe(a)} "
                                            f"and {describe(b)}")
        if any(t and v.ndim != 2 for t, v in zip(self.trans, (a, b))):
            raise op_error(TypeError, node, "only 2-d operands can be used transposed")
        sa, sb = self._effective(0, a.type.shape), self._effective(1, b.type.shape)
        ka, kb = sa[-1], sb[0]
        if ka is not None and kb is not None and ka != kb:
            raise self._mismatch(node, sa, sb)
        bca, bcb = self._effective(0, a.broadcastable), self._effective(1, b.broadcastable)
        out_type = TensorType(dtype, list(bca[:-1]) + list(bcb[1:]),
                              list(sa[:-1]) + list(sb[1:]))
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def _label(self, k, node):
        return node.inputs[k].label() + (".T" if self.trans[k] else "")

    def _mismatch(self, node, sa, sb):
        la, lb = self._label(0, node), self._label(1, node)
        return op_error(ValueError, node, f"shapes {la} {tuple(sa)} and {lb} "
                        f"{tuple(sb)} not aligned: {la} has {sa[-1]} columns but "
                        f"{lb} has {sb[0]} rows")

    def perform(self, node, values):
        a, b = (v.T if t else v for v, t in zip(values, self.trans))
        if a.shape[-1] != b.shape[0]:
            raise self._mismatch(node, a.shape, b.shape)
        with np.errstate(all="ignore"):  # NaN and Inf as in compiled code, silently
            return [np.asarray(np.dot(a, b), dtype=node.out.dtype)]

    def infer_shape(self, node, input_shapes):
        sa, sb = self._effective(0, input_shapes[0]), self._effective(1, input_shapes[1])
        return [tuple(sa[:-1]) + tuple(sb[1:])]

    def shape_checks(self, node, input_shapes):
        sa, sb = self._effective(0, input_shapes[0]), self._effective(1, input_shapes[1])
        return [(sa[-1], sb[0], f"{self._label(0, node)} columns must equal "
                                f"{self._label(1, node)} rows")]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        a, b = (_transpose(v) if t else v for v, t in zip(node.inputs, self.trans))
        grads = _dot_grads(a, b, gz)
        return [_transpose(g) if t else g for g, t in zip(grads, self.trans)]

    def batch(self, node, inputs, batched):
        def effective(v, t, is_batched):
            if not t:
                return v
            return DimShuffle((0, 2, 1))(v) if is_batched else _transpose(v)
        a, b = (effective(v, t, bt) for v, t, bt in zip(inputs, self.trans, batched))
        ba, bb = batched
        if ba and not bb and a.ndim == 2:  # rows of a batch of vectors times b
            return dot(a, b)
        if bb and not ba and b.ndim == 2 and node.inputs[0].ndim == 2:  # A . v for many v
            return dot(b, _transpose(a))
        if bb and not ba and b.ndim == 2:  # v . v for many v
            return dot(b, a)
        return super().batch(node, inputs, batched)


def _transpose(v):
    return DimShuffle((1, 0))(v)


def _dot_grads(a, b, gz):
    """Gradients of ``dot(a, b)`` (untransposed operands) given the output gradient."""
    if a.ndim == 1 and b.ndim == 1:
        return [gz * b, gz * a]
    if a.ndim == 2 and b.ndim == 2:
        return [dot(gz, b.T), dot(a.T, gz)]
    if a.ndim == 2:  # matrix . vector
        return [dot(DimShuffle((0, "x"))(gz), DimShuffle(("x", 0))(b)), dot(a.T, gz)]
    # vector . matrix
    return [dot(b, gz), dot(DimShuffle((0, "x"))(a), DimShuffle(("x", 0))(gz))]


def fold_transposes(node):
    """``dot(a.T, b) -> Dot(trans=(True, False))(a, b)``: a rewrite (see codegen.rewrite)."""
    if not isinstance(node.op, Dot):
        return None
    trans, inputs, changed = list(node.op.trans), list(node.inputs), False
    for k, v in enumerate(node.inputs):
        owner = v.owner
        if (v.ndim == 2 and owner is not None and isinstance(owner.op, DimShuffle)
                and tuple(owner.op.new_order) == (1, 0)):
            inputs[k], trans[k], changed = owner.inputs[0], not trans[k], True
    return Dot(tuple(trans))(*inputs) if changed else None


_DOT = Dot()


def dot(a, b):
    return _DOT(a, b)
