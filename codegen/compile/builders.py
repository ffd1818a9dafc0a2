"""``theano.compile.builders.OpFromGraph``: a graph used as an op.

``OpFromGraph(inputs, outputs)`` called on variables is the graph from ``inputs`` to
``outputs`` with those variables put in place of ``inputs``. codegen always inlines it
(Theano's ``inline=True``): the copy is ordinary graph, so it fuses with its neighbours,
differentiates, and compiles on every backend, and each of its pieces keeps the line of your
code that built it.

A ``grad_overrides`` replaces the gradient: the copy's outputs pass through a
``GradOverride`` node, an identity to the values whose gradient is the given function's,
removed before anything is compiled (``codegen.rewrite.remove_zero_grad``).
"""

import numpy as np

from codegen.graph import Constant, SharedVariable, graph_inputs
from codegen.graph.basic import clone_replace
from codegen.ops.override import GradOverride, _as_list


class OpFromGraph:
    """Theano's ``OpFromGraph(inputs, outputs, inline=False, grad_overrides='default',
    rop_overrides='default', connection_pattern=None, name=None)``.

    ``inputs`` must be the free variables of ``outputs`` (shared variables and constants may
    appear too). ``grad_overrides`` is ``'default'`` (the graph's own gradient), a function
    ``f(inputs, output_grads) -> [gradient per input]``, an ``OpFromGraph`` taking the inputs
    and then the output gradients, or a list with one entry per input: ``'default'``, a
    function of ``(inputs, output_grads)`` giving that input's gradient, or None (no
    gradient reaches that input).

    >>> import codegen.tensor as T
    >>> x, y = T.dscalars('x', 'y')
    >>> op = OpFromGraph([x, y], [x * y + 1])
    >>> op(2.0, 3.0).eval()
    array(7.)
    """

    def __init__(self, inputs, outputs, inline=False, grad_overrides="default",
                 rop_overrides="default", connection_pattern=None, name=None, **kwargs):
        from codegen.tensor.basic import as_tensor_variable
        self.inputs = _as_list(inputs)
        self.outputs = [as_tensor_variable(v) for v in _as_list(outputs)]
        self.name = name or "OpFromGraph"
        self.inline = inline
        for k, v in enumerate(self.inputs):
            if v.owner is not None or isinstance(v, Constant):
                raise TypeError(f"{self.name}: inputs[{k}] ({v.label()}) must be a free "
                                f"variable (T.matrix(), ...), not the result of an op or a "
                                f"constant")
        given = {v.id for v in self.inputs}
        free = [v for v in graph_inputs(self.outputs)
                if v.owner is None and not isinstance(v, (Constant, SharedVariable))
                and v.id not in given]
        if free:
            raise ValueError(f"{self.name}: the outputs depend on {free[0].label()} "
                             f"({free[0].type}), which is not one of its inputs")
        if rop_overrides != "default":
            raise NotImplementedError(f"{self.name}: rop_overrides (codegen's Rop is built "
                                      f"from the gradient)")
        self.grad_overrides = grad_overrides

    def __str__(self):
        return self.name

    def __call__(self, *args):
        from codegen.tensor.basic import as_tensor_variable, cast
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name}: expected {len(self.inputs)} inputs, got "
                            f"{len(args)}")
        actual = []
        for k, (inner, arg) in enumerate(zip(self.inputs, args)):
            arg = as_tensor_variable(arg)
            if arg.type != inner.type:
                if isinstance(arg, Constant) and arg.broadcastable == inner.broadcastable \
                        and np.can_cast(arg.data, inner.dtype, "same_kind"):
                    arg = cast(arg, inner.dtype)
                else:
                    raise TypeError(f"{self.name}: input {k} ({inner.label()}) must be "
                                    f"{inner.type}, got {arg.type} ({arg.label()})")
            actual.append(arg)
        outs = clone_replace(self.outputs, dict(zip(self.inputs, actual)))
        if self.grad_overrides != "default":
            override = GradOverride(self._override(), len(outs), self.name)
            outs = _as_list(override(*outs, *actual))
        return outs[0] if len(outs) == 1 else outs

    def _override(self):
        """The function of (inputs, output_grads) giving the inputs' gradients."""
        spec = self.grad_overrides
        if isinstance(spec, OpFromGraph):
            return lambda inputs, grads: _as_list(spec(*inputs, *grads))
        if callable(spec):
            return spec
        entries = list(spec)
        if len(entries) != len(self.inputs):
            raise ValueError(f"{self.name}: grad_overrides has {len(entries)} entries for "
                             f"{len(self.inputs)} inputs")

        def gradients(inputs, grads):
            default = None
            out = []
            for k, entry in enumerate(entries):
                if entry == "default":
                    if default is None:
                        default = self._default_grads(inputs, grads)
                    out.append(default[k])
                elif entry is None:
                    out.append(None)
                else:
                    out.append(entry(inputs, grads))
            return out
        return gradients

    def _default_grads(self, inputs, grads):
        """The graph's own gradients: the vector-Jacobian product of a fresh copy."""
        from codegen.gradient import _vjp
        outs = clone_replace(self.outputs, dict(zip(self.inputs, inputs)))
        return _vjp(outs, grads, list(inputs), None, "ignore")


__all__ = ["OpFromGraph"]
