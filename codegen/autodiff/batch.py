"""Batching: rewrite a graph to take a batch of values for some inputs along a new axis.

``batch_graph(outputs, {seed.id: seeds})`` gives the outputs for every row of ``seeds`` at once;
each op says how in its ``batch`` method. jacobian uses it to get all rows of a jacobian from
one vector-jacobian product, so no loop over rows is needed.
"""

from codegen.graph import toposort
from codegen.graph.basic import provenance_as


def batch_graph(outputs, batched_inputs):
    new, is_batched = dict(batched_inputs), set(batched_inputs)
    for node in toposort(outputs):
        flags = [v.id in is_batched for v in node.inputs]
        if not any(flags):
            continue
        inputs = [new.get(v.id, v) for v in node.inputs]
        with provenance_as(node.provenance):
            out = node.op.batch(node, inputs, flags)
        new[node.out.id] = out
        # shape queries of a batched value are not batched themselves
        if out.ndim == node.out.ndim + 1:
            is_batched.add(node.out.id)
    results = []
    for out in outputs:
        if out.id not in is_batched:
            raise NotImplementedError(f"jacobian: {out.label()} does not depend on the seed "
                                      "(the jacobian is zero); not supported")
        results.append(new[out.id])
    return results
