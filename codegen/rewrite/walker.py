"""Bottom-up application of local rewrites, preserving types and provenance."""

from codegen.graph import toposort
from codegen.graph.basic import provenance_as


def _rebuild(node, inputs):
    with provenance_as(node.provenance):
        return node.op.make_node(*inputs)


def _acceptable(old, new):
    return new.type.broadcastable == old.type.broadcastable and new.dtype == old.dtype


def apply_local(outputs, rewrite, max_passes=8):
    """Rewrite ``outputs`` with ``rewrite(node)`` until nothing changes: it returns None, the
    replacement of a node's one output, or a list replacing each of its several outputs."""
    for _ in range(max_passes):
        outputs, changed = _one_pass(outputs, rewrite)
        if not changed:
            break
    return outputs


def _one_pass(outputs, rewrite):
    mapping, changed = {}, False
    for node in toposort(outputs):
        inputs = [mapping.get(v.id, v) for v in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            new_node = _rebuild(node, inputs)
            changed = True
        else:
            new_node = node
        replaced = new_node.outputs
        with provenance_as(node.provenance):
            candidate = rewrite(new_node)
        if isinstance(candidate, list):  # a node of several outputs, replaced together
            if len(candidate) == len(replaced) and all(
                    _acceptable(old, new) for old, new in zip(replaced, candidate)):
                replaced = candidate
                changed = True
        elif candidate is not None and candidate is not new_node.outputs[0] and \
                len(replaced) == 1 and _acceptable(new_node.out, candidate):
            replaced = [candidate]
            changed = True
        for old, new in zip(node.outputs, replaced):
            if old.name and not new.name and new.owner is not None:
                new.name = old.name
            mapping[old.id] = new
    return [mapping.get(v.id, v) for v in outputs], changed
