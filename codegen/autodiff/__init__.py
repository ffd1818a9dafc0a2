"""Reverse-mode differentiation: a graph in, a graph of gradients out.

Each op's ``grad`` rule builds the gradient of its inputs from the gradient of its output.
This walker does what is common to every rule, once: it visits only nodes between ``wrt`` and
the cost, adds up the contributions to a variable used several times, sums the gradient of a
broadcast operand back to the operand's shape and casts it to the operand's dtype. Nodes it
builds record the forward node's line with the role ``grad of <op>``.
"""


from codegen.graph import SharedVariable, descendants, late, toposort
from codegen.graph.basic import Provenance, provenance_as
from codegen.graph.errors import GraphError, warn


class DisconnectedInputError(GraphError, ValueError):
    pass


class NullTypeGradError(GraphError, TypeError):
    """The gradient asked for is undefined or not implemented (an op's grad said so)."""


class DisconnectedGrad:
    """What an op's grad gives for an input its outputs do not depend on (Theano's
    ``DisconnectedType()()``): no gradient flows there."""

    def __repr__(self):
        return "DisconnectedGrad"


class NullGrad:
    """What an op's grad gives for an input whose gradient is undefined or not implemented
    (Theano's ``NullType(why)()``, ``grad_undefined``, ``grad_not_implemented``): harmless
    until a gradient asked for depends on it, which is then an error giving ``why``."""

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return f"NullGrad({self.why!r})"


def _tensor():
    from codegen.tensor import basic
    return basic


def _fit(grad, var):
    """Sum ``grad`` over the axes where ``var`` broadcasts and cast it to ``var``'s dtype."""
    t = _tensor()
    if grad.ndim > var.ndim:  # should not happen: the front end pads with dimshuffle
        raise GraphError(f"gradient of {var.label()} has {grad.ndim} dims, expected {var.ndim}")
    axes = [a for a in range(var.ndim) if var.broadcastable[a] and not grad.broadcastable[a]]
    if axes:
        grad = t.sum(grad, axis=axes, keepdims=True)
    if grad.dtype != var.dtype:
        grad = t.cast(grad, var.dtype)
    return grad


def _check_wrt(cost, wrt):
    if cost is not None and cost.ndim != 0:
        raise TypeError(f"grad: cost must be a scalar, got {cost.type} ({cost.label()}); "
                        "sum or average it first")
    for var in wrt:
        if not var.dtype.startswith("float"):
            raise TypeError(f"grad: cannot differentiate with respect to {var.label()} of "
                            f"integer type {var.type}")


def _accumulate(contribs):
    total = contribs[0]
    for extra in contribs[1:]:
        total = total + extra
    return total


def grad_raw(cost, wrt, consider_constant=(), disconnected_inputs="raise", known_grads=None,
             return_disconnected="zero"):
    """Gradients of scalar ``cost`` w.r.t. each variable in ``wrt`` (a list), unsimplified.

    ``cost`` may be None when ``known_grads`` ({variable: its gradient}) seeds the walk, as
    for Theano's ``Lop``."""
    t = _tensor()
    _check_wrt(cost, wrt)
    if cost is None and not known_grads:
        raise TypeError("grad: give a cost, or known_grads to start from")
    roots = [cost] if cost is not None else list(known_grads)
    constants = {v.id for v in consider_constant or ()}
    reach = descendants(roots, wrt, constants)  # the variables a wrt one reaches
    contribs = {cost.id: [t.ones_like(cost)]} if cost is not None else {}
    for var, g in (known_grads or {}).items():
        contribs.setdefault(var.id, []).append(t.as_tensor_variable(g))
        reach.add(var.id)
    nulls = {}  # variable id: why its gradient is undefined (it reaches what feeds it)
    for node in reversed(toposort(roots)):
        if not any(o.id in contribs or o.id in nulls for o in node.outputs):
            continue
        if not any(i.id in reach and i.id not in constants for i in node.inputs):
            continue
        null = next((nulls[o.id] for o in node.outputs if o.id in nulls), None)
        if null is not None:
            for inp in node.inputs:
                if inp.id in reach and inp.id not in constants:
                    nulls.setdefault(inp.id, null)
            continue
        role = Provenance(node.provenance.filename, node.provenance.lineno,
                          f"grad of {node.op.short_name()}")
        with provenance_as(role):
            gzs = [_accumulate(contribs[o.id]) if o.id in contribs else t.zeros_like(o)
                   for o in node.outputs]
            input_grads = node.op.grad(node, gzs)
            for inp, g in zip(node.inputs, input_grads):
                if (g is None or isinstance(g, DisconnectedGrad) or inp.id not in reach
                        or inp.id in constants):
                    continue
                if isinstance(g, NullGrad):
                    nulls.setdefault(inp.id, g.why)
                    continue
                contribs.setdefault(inp.id, []).append(_fit(g, inp))
    results = []
    for var in wrt:
        if var.id in nulls:
            raise NullTypeGradError(f"grad: the gradient with respect to {var.label()} is "
                                    f"undefined: {nulls[var.id]}")
        if var.id in contribs:
            role = Provenance(*_where(var, roots[0]), "gradient sum")
            with provenance_as(role):
                results.append(_accumulate(contribs[var.id]))
            continue
        message = (f"grad: cost does not depend on {var.label()} ({var.type}); pass "
                   "disconnected_inputs='ignore' or 'warn' to get zeros")
        if disconnected_inputs == "raise":
            raise DisconnectedInputError(message)
        if disconnected_inputs == "warn":
            warn(message)
        results.append(t.zeros_like(var) if return_disconnected == "zero" else None)
    return results


def _where(var, cost):
    prov = cost.owner.provenance if cost.owner is not None else None
    if prov is None:
        return ("<unknown>", 0)
    return (prov.filename, prov.lineno)


late.provide("grad_raw", grad_raw)
late.provide("null_grad", NullGrad)  # an op's undefined gradient (ops.scalar)

__all__ = ["DisconnectedGrad", "DisconnectedInputError", "NullGrad", "NullTypeGradError",
           "SharedVariable", "grad_raw"]
