"""``ifelse(condition, then, else)``: Theano's lazy conditional.

Only the branch the condition picks is computed: the reference interpreter evaluates the
graph on demand, and compiled code runs the steps that only one branch needs under that
branch's condition (``Program.guards``). The compiled backends need both branches of one
shape (a check); the reference takes any.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType
from codegen.graph.errors import describe


class IfElse(Op):
    """Outputs ``then[k]`` if ``condition`` (a scalar, true when nonzero) else ``else[k]``;
    inputs: the condition, the n then-values, the n else-values."""

    props = ("n",)
    lazy = True  # the reference evaluates only the inputs ``needed`` asks for

    def __init__(self, n):
        self.n = n

    def short_name(self):
        return "ifelse"

    def make_node(self, cond, *branches):
        if cond.ndim != 0:
            raise TypeError(f"ifelse: the condition must be a scalar, got {describe(cond)}")
        if len(branches) != 2 * self.n:
            raise TypeError(f"ifelse: expected {self.n} then- and {self.n} else-values")
        outs = []
        for k in range(self.n):
            a, b = branches[k], branches[self.n + k]
            if a.dtype != b.dtype or a.ndim != b.ndim:
                raise TypeError(f"ifelse: the branches of output {k} must have one type, got "
                                f"{describe(a)} and {describe(b)}")
            bc = tuple(x and y for x, y in zip(a.broadcastable, b.broadcastable))
            outs.append(TensorType(a.dtype, bc))
        return Apply(self, [cond, *branches], outs)

    def needed(self, node, values):
        """The inputs to evaluate next: the condition, then the branch it picks."""
        cond = node.inputs[0]
        if cond.id not in values:
            return [cond]
        branch = slice(1, 1 + self.n) if np.asarray(values[cond.id]) else \
            slice(1 + self.n, 1 + 2 * self.n)
        return [cond] + list(node.inputs[branch])

    def perform(self, node, values):
        taken = values[1:1 + self.n] if np.asarray(values[0]) else values[1 + self.n:]
        return [np.asarray(v) for v in taken]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1 + k] for k in range(self.n)]

    def shape_checks(self, node, input_shapes):
        checks = []
        for k in range(self.n):
            a, b = node.inputs[1 + k], node.inputs[1 + self.n + k]
            for axis, (d0, d1) in enumerate(zip(input_shapes[1 + k],
                                                input_shapes[1 + self.n + k])):
                if d0 != d1:
                    checks.append((d0, d1, f"the compiled backends need both branches of one "
                                           f"shape: dimension {axis} of {a.label()} and "
                                           f"{b.label()}"))
        return checks

    def grad(self, node, output_grads):
        from codegen.tensor import basic as t
        cond, branches = node.inputs[0], node.inputs[1:]
        then_g, else_g = [], []
        for k, gz in enumerate(output_grads):
            a, b = branches[k], branches[self.n + k]
            then_g.append(_fit(IfElse(1)(cond, gz, t.zeros_like(gz)), a))
            else_g.append(_fit(IfElse(1)(cond, t.zeros_like(gz), gz), b))
        return [None] + then_g + else_g

    def batch(self, node, inputs, batched):
        from codegen.tensor import basic as t
        if batched[0] or self.n != 1:
            raise NotImplementedError("ifelse: a condition that varies along the batch")
        n = t.shape_of(inputs[batched.index(True)], 0)
        padded = [v if b else t.alloc(v, n, *t.shape(v))
                  for v, b in zip(inputs[1:], batched[1:])]
        return IfElse(1)(inputs[0], *padded)


def _fit(g, like):
    """``g`` summed over the axes ``like`` broadcasts along (a branch narrower than the
    output)."""
    from codegen.tensor import basic as t
    axes = [a for a in range(like.ndim) if like.broadcastable[a] and not g.broadcastable[a]]
    return t.sum(g, axis=axes, keepdims=True) if axes else g


__all__ = ["IfElse"]
