"""An identity whose gradient is a given function's: ``OpFromGraph(grad_overrides=...)``
(``codegen.compile.builders``) routes its outputs through one. The gradient walker reads it;
``codegen.rewrite.remove_zero_grad`` removes it before anything is compiled."""

import numpy as np

from codegen.graph import Apply, Op


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


class GradOverride(Op):
    """Inputs: the outputs of a graph, then that graph's inputs; outputs: the first ones,
    unchanged. Its gradient reaches the graph's inputs through ``fn(inputs, output_grads)``
    (a list, one gradient or None per input) and never through the outputs it passes on."""

    props = ("fn", "n_outputs")

    def __init__(self, fn, n_outputs, name="OpFromGraph"):
        self.fn, self.n_outputs, self.name = fn, n_outputs, name

    def short_name(self):
        return f"grad_override{{{self.name}}}"

    def make_node(self, *inputs):
        return Apply(self, list(inputs), [v.type for v in inputs[:self.n_outputs]])

    def perform(self, node, values):
        return [np.asarray(v) for v in values[:self.n_outputs]]

    def infer_shape(self, node, input_shapes):
        return list(input_shapes[:self.n_outputs])

    def grad(self, node, output_grads):
        inputs = node.inputs[self.n_outputs:]
        grads = _as_list(self.fn(list(inputs), list(output_grads)))
        if len(grads) != len(inputs):
            raise ValueError(f"{self.name}: grad_overrides gave {len(grads)} gradients for "
                             f"{len(inputs)} inputs")
        return [None] * self.n_outputs + grads


__all__ = ["GradOverride"]
