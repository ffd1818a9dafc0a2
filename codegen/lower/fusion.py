"""Fusion: group elementwise nodes (and the reductions they feed) into single loops.

A node joins the group of an elementwise input when both iterate over the same shape pattern
and the merge creates no cycle (no outside input of the node depends on the group). A
reduction joins the group producing its input when that input is used nowhere else: the group
then accumulates into the reduction's output instead of writing a temporary.
"""

from codegen.ops.elemwise import Elemwise
from codegen.ops.reduce import Reduce


class Group:
    def __init__(self, gid, pattern):
        self.id = gid
        self.pattern = pattern  # broadcastable pattern of the loop
        self.members = []  # elementwise nodes, in topological order
        self.reduces = []  # reduction nodes fed by the loop


def _ancestors(var, memo):
    """Ids of Apply nodes ``var`` depends on."""
    if var.id in memo:
        return memo[var.id]
    found = set()
    if var.owner is not None:
        found.add(id(var.owner))
        for inp in var.owner.inputs:
            found |= _ancestors(inp, memo)
    memo[var.id] = found
    return found


def fuse(nodes, clients, outputs, is_scalar):
    """Map id(node) -> Group for the elementwise and reduction nodes in ``nodes``.

    ``is_scalar(node)`` marks nodes computed as scalar expressions (no loop at all).
    """
    group_of, groups, memo = {}, [], {}
    output_ids = {v.id for v in outputs}

    def can_join(group, node):
        member_ids = {id(m) for m in group.members}
        for inp in node.inputs:
            owner = inp.owner
            if owner is not None and id(owner) in member_ids:
                continue
            if _ancestors(inp, memo) & member_ids:
                return False
        return True

    for node in nodes:
        if isinstance(node.op, Elemwise) and not is_scalar(node):
            pattern = node.out.broadcastable
            target = None
            for inp in node.inputs:
                g = group_of.get(id(inp.owner)) if inp.owner is not None else None
                if g is not None and g.pattern == pattern and not g.reduces and can_join(g, node):
                    target = g
                    break
            if target is None:
                target = Group(len(groups), pattern)
                groups.append(target)
            target.members.append(node)
            group_of[id(node)] = target
        elif isinstance(node.op, Reduce):
            (x,) = node.inputs
            g = group_of.get(id(x.owner)) if x.owner is not None else None
            sole_use = len(clients.get(x.id, [])) == 1 and x.id not in output_ids
            if g is not None and g.pattern == x.broadcastable and sole_use and \
                    g.members[-1] is x.owner:
                g.reduces.append(node)
            else:
                g = Group(len(groups), x.broadcastable)
                g.reduces.append(node)
                groups.append(g)
            group_of[id(node)] = g
    return group_of, groups
