"""Elemwise: a scalar op applied elementwise with Theano's broadcasting rules.

Inputs have equal ndim (the front end pads with broadcastable dims). A dimension broadcasts
only when its type says so (``broadcastable``): a non-broadcastable dimension of length 1 at
run time is an error, as in Theano, so compiled code knows every loop's shape statically.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.basic import Constant
from codegen.graph.errors import describe
from codegen.ops.scalar import SCALAR_OPS, operand_dtypes

_KIND_ORDER = {"b": 0, "u": 1, "i": 1, "f": 2}


def _effective_dtypes(inputs):
    """Input dtypes with weak (Python scalar) constants taking the strong operands' dtype."""
    strong = [v.dtype for v in inputs if not getattr(v, "weak", False)]
    if not strong:
        return [v.dtype for v in inputs]
    strongest = str(np.result_type(*strong))
    out = []
    for v in inputs:
        weak_kind = np.dtype(v.dtype).kind
        if getattr(v, "weak", False) and _KIND_ORDER[weak_kind] <= _KIND_ORDER[
                np.dtype(strongest).kind]:
            out.append(strongest)
        else:
            out.append(v.dtype)
    return out


def _weak_as(value, dtype):
    """A weak float constant in the float type the op computes in: ``0.01 * float32_matrix``
    multiplies in float32, the constant rounded to float32 first (as numpy does with a Python
    float since NEP 50, and Theano with floatX float32), not in float64 and then rounded."""
    if (isinstance(value, Constant) and getattr(value, "weak", False) and value.dtype != dtype
            and value.dtype.startswith("float") and dtype.startswith("float")):
        data = np.asarray(value.data, dtype=dtype)
        const = type(value)(TensorType(dtype, value.broadcastable, data.shape), data, value.name)
        const.weak = True
        return const
    return value


class Elemwise(Op):
    props = ("scalar_op_name",)

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op
        self.scalar_op_name = scalar_op.name

    def short_name(self):
        return self.scalar_op.name.rstrip("_")

    def make_node(self, *inputs):
        scalar = self.scalar_op
        if len(inputs) != scalar.nin:
            raise TypeError(f"{scalar.name} takes {scalar.nin} inputs, got {len(inputs)}")
        ndims = {v.ndim for v in inputs}
        if len(ndims) != 1:
            raise TypeError(f"{scalar.name}: inputs must have equal ndim, got {sorted(ndims)}")
        dtypes = _effective_dtypes(inputs)
        if not scalar.bools and "bool" in [v.dtype for v in inputs]:
            raise TypeError(f"{scalar.name}: numpy does not define {scalar.name} of booleans "
                            f"(use invert (~) or xor (^) instead), got "
                            f"{', '.join(describe(v) for v in inputs)}")
        inputs = [_weak_as(v, dtype) for v, dtype in zip(inputs, dtypes)]
        out_dtype = scalar.out_dtype(dtypes)
        broadcastable = tuple(all(bcs) for bcs in zip(*[v.broadcastable for v in inputs]))
        node = Apply(self, inputs, [])
        shape = self._static_shape(node, inputs, broadcastable)
        out_type = TensorType(out_dtype, broadcastable, shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def _static_shape(self, node, inputs, broadcastable):
        shape = []
        for axis, bc in enumerate(broadcastable):
            known = {v.type.shape[axis] for v in inputs
                     if not v.broadcastable[axis] and v.type.shape[axis] is not None}
            if len(known) > 1:
                names = " and ".join(f"{describe(v)} with shape {v.type.shape}" for v in inputs)
                raise op_error(ValueError, node, f"shapes do not match at dimension {axis}: "
                                                 f"{names}")
            shape.append(1 if bc else (known.pop() if known else None))
        return tuple(shape)

    def format(self, node, args):
        scalar = self.scalar_op
        if scalar.infix and len(args) == 2:
            return f"({args[0]} {scalar.infix} {args[1]})"
        if scalar.infix:
            return f"({scalar.infix}{args[0]})"
        if scalar.name.startswith("cast_"):
            return f"cast{{{scalar.name[5:]}}}({args[0]})"
        return f"{self.short_name()}({', '.join(args)})"

    def perform(self, node, values):
        self.check_shapes(node, values)
        dtypes = operand_dtypes(self.scalar_op.name, [v.dtype for v in node.inputs],
                                node.out.dtype)
        values = [x if d is None else np.asarray(x, dtype=d) for x, d in zip(values, dtypes)]
        out = self.scalar_op.impl(*values)
        return [np.asarray(out, dtype=node.out.dtype)]

    def check_shapes(self, node, values):
        for axis in range(node.out.ndim):
            lengths = {}
            for var, val in zip(node.inputs, values):
                if not var.broadcastable[axis]:
                    lengths.setdefault(val.shape[axis], (var, val))
            if len(lengths) > 1:
                parts = [describe(v, x) for v, x in lengths.values()]
                raise op_error(ValueError, node,
                               f"shapes do not match at dimension {axis}: " + ", ".join(parts))

    def infer_shape(self, node, input_shapes):
        out = []
        for axis, bc in enumerate(node.out.broadcastable):
            dims = [s[axis] for v, s in zip(node.inputs, input_shapes) if not v.broadcastable[axis]]
            out.append("1" if bc else dims[0])
        return [tuple(out)]

    def shape_checks(self, node, input_shapes):
        """Pairs of dims that must be equal at run time."""
        checks = []
        for axis in range(node.out.ndim):
            dims = [(v, s[axis]) for v, s in zip(node.inputs, input_shapes)
                    if not v.broadcastable[axis]]
            for (v0, d0), (v1, d1) in zip(dims, dims[1:]):
                if d0 != d1:
                    checks.append((d0, d1, f"dimension {axis} of {v0.label()} and "
                                           f"{v1.label()} must be equal"))
        return checks

    def grad(self, node, output_grads):
        (gz,) = output_grads
        return self.scalar_op.grad(*node.inputs, node.out, gz)

    def batch(self, node, inputs, batched):
        from codegen.ops.shape import DimShuffle
        ndim = node.out.ndim
        padded = [x if b else DimShuffle(["x"] + list(range(ndim)))(x)
                  for x, b in zip(inputs, batched)]
        return self(*padded)


_ELEMWISE = {}


def elemwise(name):
    """The shared Elemwise instance for scalar op ``name``."""
    if name not in _ELEMWISE:
        _ELEMWISE[name] = Elemwise(SCALAR_OPS[name])
    return _ELEMWISE[name]


def is_elemwise(node, name=None):
    return isinstance(node.op, Elemwise) and (name is None or node.op.scalar_op.name == name)


def constant_value(var):
    """The scalar value of a constant that holds one value everywhere, else None."""
    if isinstance(var, Constant) and var.data.size >= 1:
        first = var.data.flat[0]
        if np.all(var.data == first):
            return first.item()
    return None
