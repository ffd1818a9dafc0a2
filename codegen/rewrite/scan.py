"""Loops keep only the history that is read (Theano's ``scan_save_mem``).

A state of a ``Scan`` is stored for every iteration, which its gradient needs. When nothing
reads the history but the last value (``theano.reduce``, ``result[-1]``, the accumulators of
a backward loop), the loop keeps only the last ``L`` values instead (``store`` 'last'): memory
for one value instead of ``n``, and the same result.
"""

from codegen.graph import clients, toposort
from codegen.graph.basic import provenance_as
from codegen.ops.scan import Scan
from codegen.ops.shape import Subtensor


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
        if not isinstance(node.op, Scan):
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


__all__ = ["scan_save_memory"]
