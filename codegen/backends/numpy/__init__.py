"""The reference interpreter: runs a graph node by node with numpy.

Used by ``Variable.eval``, by ``mode='FAST_COMPILE'`` and by the tests as the oracle that
every compiled backend must agree with.
"""

import time

import numpy as np

from codegen.graph import Constant, SharedVariable, late, toposort
from codegen.graph.basic import clone_replace
from codegen.graph.errors import GraphError


def input_value(var, values):
    if var.id in values:
        return values[var.id]
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.container.value
    raise GraphError(f"missing input: {var.label()} ({var.type}) was given no value")


def run(outputs, values, timed=None):
    """Values of ``outputs`` given ``values`` (var id -> ndarray) for the graph inputs;
    ``timed``: an object whose ``add(node, seconds)`` is told each node's time (profile=True)."""
    computed = run_all(outputs, values, timed)
    return [input_value(v, computed) for v in outputs]


def evaluate(outputs, inputs_to_values):
    """``Variable.eval``: inputs given as {variable: value}, cast to each variable's dtype. A
    variable an op computes may be given too: the graph is cut there, as in Theano."""
    cut = {var: var.type(var.name) for var in inputs_to_values if var.owner is not None}
    if cut:
        outputs = clone_replace(outputs, cut)
        inputs_to_values = {cut.get(var, var): value
                            for var, value in inputs_to_values.items()}
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


def run_all(outputs, values, timed=None):
    """Like ``run``, but the value of every variable computed, by variable id. A lazy op
    (``ifelse``) says which inputs it needs as their values come (``op.needed``): the
    nodes only an untaken branch needs are not run, and have no value here."""
    values = dict(values)
    nodes = toposort(outputs)
    if not any(getattr(node.op, "lazy", False) for node in nodes):
        for node in nodes:
            perform(node, values, None, timed)
        return values
    stack = list(reversed(outputs))
    while stack:  # on demand, without recursion
        var = stack[-1]
        if var.owner is None or var.id in values:
            stack.pop()
            continue
        node = var.owner
        needed = node.op.needed(node, values) if getattr(node.op, "lazy", False) \
            else node.inputs
        missing = [v for v in needed if v.owner is not None and v.id not in values]
        if missing:
            stack.extend(reversed(missing))
            continue
        if getattr(node.op, "lazy", False) and len(node.op.needed(node, values)) != \
                len(needed):
            continue  # the condition is known now: ask again
        stack.pop()
        perform(node, values, {v.id for v in needed}, timed)
    return values


def perform(node, values, needed=None, timed=None):
    args = [input_value(v, values) if needed is None or v.id in needed else None
            for v in node.inputs]
    if timed is None:
        results = node.op.perform(node, args)
    else:
        t0 = time.perf_counter()
        results = list(node.op.perform(node, args))
        timed.add(node, time.perf_counter() - t0)
    for var, val in zip(node.outputs, results):
        values[var.id] = val


late.provide("evaluate", evaluate)
late.provide("run", run)
