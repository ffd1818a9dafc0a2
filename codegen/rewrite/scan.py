"""Loops keep only the history that is read (Theano's ``scan_save_mem``), and loops that
compute the same run once.

A state of a ``Scan`` is stored for every iteration, which its gradient needs. When nothing
reads the history but the last value (``theano.reduce``, ``result[-1]``, the accumulators of
a backward loop), the loop keeps only the last ``L`` values instead (``store`` 'last'): memory
for one value instead of ``n``, and the same result.

A loop's gradient asks for the loop again, keeping more of each step (the values of its
products, which the backward loop reads instead of computing them again): the two loops run
over the same inputs, their steps the same graph, one with more outputs. ``merge_scans`` makes
them one loop.
"""

from codegen.graph import clients, toposort
from codegen.graph.basic import clone_replace, provenance_as
from codegen.ops.scan import Scan
from codegen.ops.shape import Subtensor
from codegen.rewrite.walker import apply_local


def _last(node):
    """Whether ``node`` takes element -1 along the first axis (and a fixed index after)."""
    return isinstance(node.op, Subtensor) and len(node.inputs) == 1 and \
        isinstance(node.op.idx[0], int) and node.op.idx[0] == -1


def _tail(node, L):
    """Whether ``node`` is ``x[L:]``, the values a loop computed (what ``scan`` returns)."""
    if not (isinstance(node.op, Subtensor) and len(node.inputs) == 1):
        return False
    first, rest = node.op.idx[0], node.op.idx[1:]
    return (isinstance(first, slice) and first == slice(L, None, None)
            and all(r == slice(None, None, None) for r in rest))


def scan_save_memory(outputs):
    """``outputs`` with every state whose history only ``[-1]`` reads stored as 'last'."""
    nodes = toposort(outputs)
    if not any(isinstance(n.op, Scan) for n in nodes):
        return outputs
    users = clients(outputs)
    leaving = {v.id for v in outputs}
    stores, through = {}, set()  # scan node -> new store; ids of x[L:] nodes read past
    for node in nodes:
        if not isinstance(node.op, Scan) or node.op.until:  # until: run as built
            continue
        op = node.op
        store = list(op.store)
        for k, L in enumerate(op.lengths()):
            var = node.outputs[k]
            if store[k] == "last" or var.id in leaving:
                continue
            ok, tails = True, []
            for u in users.get(var.id, []):
                if _last(u):
                    continue
                if _tail(u, L) and u.out.id not in leaving and users.get(u.out.id) and all(
                        _last(g) for g in users[u.out.id]):
                    tails.append(id(u))
                    continue
                ok = False
            if ok and users.get(var.id):
                store[k] = "last"
                through.update(tails)
        if tuple(store) != op.store:
            stores[id(node)] = tuple(store)
    if not stores:
        return outputs
    mapping = {}
    skipped = {}  # id of an x[L:] output read past -> the window it was taken of
    for node in nodes:
        if id(node) in through:
            skipped[node.out.id] = mapping.get(node.inputs[0].id, node.inputs[0])
            continue
        inputs = [skipped.get(v.id, mapping.get(v.id, v)) for v in node.inputs]
        op = node.op
        if id(node) in stores:
            op = Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.taps, op.n_nitsot,
                      store=stores[id(node)], truncate=op.truncate, name=op.name)
        if op is node.op and all(a is b for a, b in zip(inputs, node.inputs)):
            continue
        with provenance_as(node.provenance):
            new = op.make_node(*inputs)
        for old, out in zip(node.outputs, new.outputs):
            out.name = old.name
            mapping[old.id] = out
    return [mapping.get(v.id, v) for v in outputs]


def merge_scans(outputs):
    """``outputs`` with each loop that another loop over the same inputs computes too (the
    same step, with more outputs) replaced by that loop's outputs."""
    scans = [n for n in toposort(outputs) if isinstance(n.op, Scan) and not n.op.until]
    replace = {}
    for small in scans:
        for big in scans:
            positions = _positions(big, small) if big is not small else None
            if positions is not None:
                replace.update({old: big.outputs[k]
                                for old, k in zip(small.outputs, positions)})
                break
    return clone_replace(outputs, replace) if replace else outputs


def _positions(big, small):
    """Where ``big``'s outputs hold each of ``small``'s, when ``big`` computes every output
    of ``small`` and more, over the same inputs and the same step (else None)."""
    a, b = big.op, small.op
    if len(big.outputs) <= len(small.outputs) or (a.n_seqs, a.taps, a.truncate, a.store) != (
            b.n_seqs, b.taps, b.truncate, b.store):
        return None
    if len(big.inputs) != len(small.inputs) or any(
            x is not y for x, y in zip(big.inputs, small.inputs)):
        return None
    if len(a.inner_inputs) != len(b.inner_inputs) or any(
            x is not y for x, y in zip(a.inner_inputs, b.inner_inputs)):
        return None
    m = a.n_states
    if any(x is not y for x, y in zip(a.inner_outputs[:m], b.inner_outputs[:m])):
        return None
    positions = list(range(m))
    for out in b.inner_outputs[m:]:
        k = next((j for j in range(m, len(a.inner_outputs)) if a.inner_outputs[j] is out), None)
        if k is None:
            return None
        positions.append(k)
    return positions


__all__ = ["merge_scans", "scan_save_memory"]


def bound_until(outputs):
    """``outputs`` with each loop that ends on a condition (``until``) run for its
    ``n_steps``, stopping early, its outputs then cut to the steps done.

    The compiled backends plan every array from shapes known before the steps run, and the
    number of steps such a loop does is not. ``Scan(until='bounded')`` keeps ``n_steps`` rows
    of each output and stacks the condition too (1 in the rows past the stop), so the steps
    done are ``min(n_steps - sum(conditions) + 1, n_steps)``: a value that a step computes,
    which the next compiled part takes as a length (``codegen.compile.parts``)."""
    return apply_local(outputs, _bounded)


def _bounded(node):
    """The outputs of a loop ending on a condition, from the bounded loop (``bound_until``)."""
    op = node.op
    if not (isinstance(op, Scan) and op.until is True):
        return None
    from codegen.tensor import basic as T
    bounded = Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.taps, op.n_nitsot + 1,
                   store=op.store, truncate=op.truncate, name=op.name, until="bounded")
    new = bounded.make_node(*node.inputs)
    n = node.inputs[0]
    done = T.minimum(n - T.sum(T.cast(new.outputs[-1], n.dtype)) + 1, n)
    done.name = f"{op.name}_until_steps"
    out = []
    for k, (old, var) in enumerate(zip(node.outputs, new.outputs)):
        if k >= op.n_states:
            var = var[:done]
        elif op.store[k] == "all":
            rows = op.lengths()[k] + done
            rows.name = f"{op.name}_until_rows"
            var = var[:rows]
        var.name = old.name
        out.append(var)
    return out
