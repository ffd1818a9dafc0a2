"""The reference interpreter: runs a graph node by node with numpy.

Used by ``Variable.eval``, by ``mode='FAST_COMPILE'`` and by the tests as the oracle that
every compiled backend must agree with.
"""

import numpy as np

from codegen.graph import Constant, SharedVariable, late, toposort
from codegen.graph.errors import GraphError


def input_value(var, values):
    if var.id in values:
        return values[var.id]
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.container.value
    raise GraphError(f"missing input: {var.label()} ({var.type}) was given no value")


def run(outputs, values):
    """Values of ``outputs`` given ``values`` (var id -> ndarray) for the graph inputs."""
    computed = run_all(outputs, values)
    return [input_value(v, computed) for v in outputs]


def evaluate(outputs, inputs_to_values):
    """``Variable.eval``: inputs given as {variable: value}, cast to each variable's dtype."""
    values = {}
    for var, value in inputs_to_values.items():
        arr = np.asarray(value, dtype=var.dtype)
        var.type.check_value(arr)
        values[var.id] = arr
    try:
        return run(outputs, values)
    except (GraphError, ValueError, TypeError, IndexError) as exc:
        if isinstance(exc, GraphError) or getattr(exc, "node", None) is not None:
            raise exc.with_traceback(None) from None
        raise


def run_all(outputs, values):
    """Like ``run``, but the value of every variable computed, by variable id."""
    values = dict(values)
    for node in toposort(outputs):
        args = [input_value(v, values) for v in node.inputs]
        for var, val in zip(node.outputs, node.op.perform(node, args)):
            values[var.id] = val
    return values


late.provide("evaluate", evaluate)
