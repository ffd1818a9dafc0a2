"""Theano's ``theano.gof.graph``: walking a graph (``inputs``, ``ancestors``,
``io_toposort``, ``variables``, ``ops``, ``clone``) and its classes."""

from codegen.graph import Apply, Constant, Variable, graph_inputs, toposort
from codegen.graph.basic import is_same_graph, rebuild


def inputs(variable_list, blockers=None):
    """The leaves (inputs, constants, shared variables) the variables depend on, in the
    order a walk from them meets them."""
    return list(graph_inputs(list(variable_list), blockers or ()))


def ancestors(variable_list, blockers=None):
    """Every variable the variables depend on, themselves included."""
    seen, order, stack = set(), [], list(reversed(list(variable_list)))
    blocked = {id(b) for b in blockers or ()}
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        order.append(var)
        if var.owner is not None and id(var) not in blocked:
            stack.extend(reversed(var.owner.inputs))
    return order


def io_toposort(inputs, outputs):
    """The nodes between ``inputs`` and ``outputs``, each after those it reads."""
    stop = {id(v) for v in inputs}
    return [node for node in toposort(list(outputs))
            if not all(id(o) in stop for o in node.outputs)]


def variables(inputs, outputs):
    """The variables from ``inputs`` to ``outputs``: the inputs and every node's outputs."""
    out = list(inputs)
    seen = {id(v) for v in out}
    for node in io_toposort(inputs, outputs):
        for var in list(node.inputs) + list(node.outputs):
            if id(var) not in seen:
                seen.add(id(var))
                out.append(var)
    return out


def ops(inputs, outputs):
    """The nodes (Apply) between ``inputs`` and ``outputs``."""
    return io_toposort(inputs, outputs)


def clone(inputs, outputs, copy_inputs=True):
    """Copies of ``inputs`` and ``outputs`` and of the graph between them: (inputs,
    outputs)."""
    def copy(v):
        if not copy_inputs or isinstance(v, Constant) or v.owner is not None:
            return v
        return v.type.variable_class(v.type, name=v.name)
    fresh = {v.id: copy(v) for v in inputs}
    return [fresh[v.id] for v in inputs], rebuild(list(outputs), fresh, copy_all=True)


__all__ = ["Apply", "Constant", "Variable", "ancestors", "clone", "inputs", "io_toposort",
           "is_same_graph", "ops", "variables"]
