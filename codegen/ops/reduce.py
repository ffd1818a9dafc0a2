"""Reductions along axes (sum, prod, max, min), argmax, the running sums and products
(cumsum, cumprod), argsort, and the positions of a vector's nonzero elements.

A reduction drops the reduced axes, or with ``keepdims`` keeps them with length 1 (as the
gradient walker does when it sums a gradient back to a broadcast operand's shape).
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.errors import describe
from codegen.ops.shape import DimShuffle, dim_product


def _tensor():
    from codegen.tensor import basic
    return basic


def _keepdims_order(ndim, axes):
    it = iter(range(ndim - len(axes)))
    return ["x" if a in axes else next(it) for a in range(ndim)]


def _nonempty(shape, axes, node, message):
    """The shape check (lhs, rhs, message) that no reduced length is 0: ``n0 * n1 == 0``
    must be false (0)."""
    dims = [shape[a] for a in axes if not node.inputs[0].broadcastable[a]]
    if not dims:
        return []
    return [(f"{dim_product(dims)} == 0", "0", message)]


class Reduce(Op):
    """Combine elements along ``axes`` with ``combine`` in add, mul, maximum, minimum."""

    props = ("combine", "axes", "keepdims")
    _NUMPY = {"add": np.sum, "mul": np.prod, "maximum": np.max, "minimum": np.min}
    _NAMES = {"add": "sum", "mul": "prod", "maximum": "max", "minimum": "min"}

    def __init__(self, combine, axes, keepdims=False):
        self.combine = combine
        self.axes = tuple(sorted(axes))
        self.keepdims = bool(keepdims)

    def short_name(self):
        return self._NAMES[self.combine]

    def __str__(self):
        kept = ", keepdims" if self.keepdims else ""
        return f"{self.short_name()}{{axis={list(self.axes)}{kept}}}"

    def format(self, node, args):
        kept = ", keepdims=True" if self.keepdims else ""
        if len(self.axes) == node.inputs[0].ndim:
            return f"{self.short_name()}({args[0]}{kept})"
        return f"{self.short_name()}({args[0]}, axis={list(self.axes)}{kept})"

    def make_node(self, x):
        if any(not 0 <= a < x.ndim for a in self.axes):
            raise ValueError(f"{self.short_name()}: axis {self.axes} out of range for "
                             f"{describe(x)}")
        dtype = x.dtype
        if self.combine in ("add", "mul") and np.dtype(dtype).kind in "bui":
            dtype = "int64" if np.dtype(dtype).kind != "u" else "uint64"
        if self.keepdims:
            out_type = TensorType(dtype, [a in self.axes or x.broadcastable[a]
                                          for a in range(x.ndim)],
                                  [1 if a in self.axes else x.type.shape[a]
                                   for a in range(x.ndim)])
        else:
            keep = [a for a in range(x.ndim) if a not in self.axes]
            out_type = TensorType(dtype, [x.broadcastable[a] for a in keep],
                                  [x.type.shape[a] for a in keep])
        return Apply(self, [x], [out_type])

    def perform(self, node, values):
        (x,) = values
        if self.combine in ("maximum", "minimum") and 0 in [x.shape[a] for a in self.axes]:
            raise op_error(ValueError, node, f"{self.short_name()} of an empty array "
                           f"{describe(node.inputs[0], x)} has no identity")
        out = self._NUMPY[self.combine](x, axis=self.axes, keepdims=self.keepdims)
        return [np.asarray(out, dtype=node.out.dtype)]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        if self.keepdims:
            return [tuple("1" if a in self.axes else d for a, d in enumerate(shape))]
        return [tuple(d for a, d in enumerate(shape) if a not in self.axes)]

    def shape_checks(self, node, input_shapes):
        """max and min need an element to reduce (numpy raises, as ``perform`` does)."""
        if self.combine not in ("maximum", "minimum"):
            return []
        return _nonempty(input_shapes[0], self.axes, node,
                         "an empty array has no maximum or minimum (numpy raises)")

    def batch(self, node, inputs, batched):
        return Reduce(self.combine, [a + 1 for a in self.axes], self.keepdims)(inputs[0])

    def grad(self, node, output_grads):
        t = _tensor()
        (gz,) = output_grads
        x = node.inputs[0]

        def kept(v):
            return v if self.keepdims else DimShuffle(_keepdims_order(x.ndim, self.axes))(v)
        gz_kept = kept(gz)
        if self.combine == "add":
            return [t.second(x, gz_kept)]
        out_kept = kept(node.out)
        if self.combine == "mul":
            # x / x would be nan at zeros; this rule (Theano's) assumes x has no zeros.
            return [gz_kept * out_kept / x]
        # max/min: every element equal to the extreme receives the gradient (Theano's rule).
        return [gz_kept * t.cast(t.eq(x, out_kept), gz.dtype)]


class Argmax(Op):
    """Index of the largest element along ``axis`` (first one on ties), as int64."""

    props = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x):
        keep = [a for a in range(x.ndim) if a != self.axis]
        return Apply(self, [x], [TensorType("int64", [x.broadcastable[a] for a in keep])])

    def perform(self, node, values):
        (x,) = values
        if x.shape[self.axis] == 0:
            raise op_error(ValueError, node, f"argmax of an empty axis of "
                           f"{describe(node.inputs[0], x)}")
        return [np.asarray(np.argmax(x, axis=self.axis), dtype="int64")]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        return [tuple(d for a, d in enumerate(shape) if a != self.axis)]

    def shape_checks(self, node, input_shapes):
        return _nonempty(input_shapes[0], (self.axis,), node, "argmax of an empty axis")

    def grad(self, node, output_grads):
        return [None]


def _axis_in_range(op, x):
    """A walk along ``op.axis`` (cumsum, argsort) needs ``x`` to have that axis."""
    if not 0 <= op.axis < x.ndim:
        raise ValueError(f"{op.short_name()}: axis {op.axis} is out of range for {x.label()}, "
                         f"which has {x.ndim} dimensions")


def cumulative_dtype(dtype):
    """numpy's dtype of a cumsum or cumprod: ints narrower than 64 bits widen to 64."""
    if dtype == "bool" or dtype in ("int8", "int16", "int32"):
        return "int64"
    if dtype in ("uint8", "uint16", "uint32"):
        return "uint64"
    return dtype


class CumOp(Op):
    """The running sum (``mode`` 'add', cumsum) or product ('mul', cumprod) along ``axis``,
    in order, as numpy's ``cumsum`` and ``cumprod``."""

    props = ("axis", "mode")

    def __init__(self, axis, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis = int(axis)
        self.mode = mode

    def short_name(self):
        return f"{'cumsum' if self.mode == 'add' else 'cumprod'}{{axis={self.axis}}}"

    def make_node(self, x):
        _axis_in_range(self, x)
        return Apply(self, [x], [TensorType(cumulative_dtype(x.dtype), x.broadcastable,
                                            x.type.shape)])

    def perform(self, node, values):
        fn = np.cumsum if self.mode == "add" else np.cumprod
        with np.errstate(all="ignore"):
            return [np.asarray(fn(values[0], axis=self.axis), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]

    def grad(self, node, output_grads):
        t = _tensor()
        (x,), gz = node.inputs, output_grads[0]
        if x.dtype[0] != "f":
            return [None]
        backwards = (slice(None),) * self.axis + (slice(None, None, -1),)

        def reverse_cumsum(g):  # element k: the sum of g[k:] along the axis
            return t.subtensor(CumOp(self.axis)(t.subtensor(g, backwards)), backwards)
        if self.mode == "add":
            return [reverse_cumsum(gz)]
        # d out[j] / d x[k] = out[j] / x[k] for j >= k: Theano's rule, which assumes x has
        # no zeros (as prod's gradient does)
        return [reverse_cumsum(gz * node.outputs[0]) / x]

    def batch(self, node, inputs, batched):
        return CumOp(self.axis + 1, self.mode)(inputs[0])


class ArgSort(Op):
    """The indices that sort ``x`` along ``axis`` (int64, x's shape): numpy's stable argsort
    (equal elements keep their order; NaNs last, in their order)."""

    props = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def short_name(self):
        return f"argsort{{axis={self.axis}}}"

    def make_node(self, x):
        _axis_in_range(self, x)
        return Apply(self, [x], [TensorType("int64", x.broadcastable, x.type.shape)])

    def perform(self, node, values):
        return [np.argsort(values[0], axis=self.axis, kind="stable").astype("int64")]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]

    def grad(self, node, output_grads):
        return [None]

    def batch(self, node, inputs, batched):
        return ArgSort(self.axis + 1)(inputs[0])


class Positions(Op):
    """The positions of the nonzero elements of the vector ``mask``, in order (int64), given
    their number ``count``: what nonzero and its kin gather by (``ops.valued``), computed as
    one walk along the vector that writes each position as it passes it. ``count`` is a
    length, so a function computing it is compiled in parts (``compile.parts``)."""

    #: the lowerer gives ``infer_shape`` the dim expression of ``count``
    reads_values = True

    def make_node(self, mask, count):
        if mask.ndim != 1:
            raise TypeError(f"positions: expected a vector, got {mask.type}")
        if count.ndim != 0 or count.dtype[0] not in "iu":
            raise TypeError(f"positions: the count must be an int scalar, got {count.type}")
        return Apply(self, [mask, count], [TensorType("int64", (False,))])

    def perform(self, node, values):
        return [np.flatnonzero(values[0]).astype("int64")]

    def infer_shape(self, node, input_shapes, values=None):
        if not values or values[1] is None:
            raise NotImplementedError("positions: a count known when lowering")
        return [(values[1],)]

    def grad(self, node, output_grads):
        return [None, None]
