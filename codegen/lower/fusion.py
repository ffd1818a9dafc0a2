"""Fusion: group elementwise nodes (and the reductions they feed) into single loops.

A node joins the group of an elementwise input when both iterate over the same shape pattern
and the merge creates no cycle between loops (no outside input of the node needs the group's
loop to have run, directly or through another group). A
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


def _reaches(inputs, group, group_of):
    """Whether computing ``inputs`` needs ``group``'s loop to have run.

    A group runs as one unit, so depending on any member of another group means depending
    on all of that group's inputs too.
    """
    members = {id(m) for m in group.members}
    stack = [v.owner for v in inputs if v.owner is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if id(node) in members:
            return True
        other = group_of.get(id(node))
        peers = (other.members + other.reduces) if other is not None else [node]
        for peer in peers:
            stack.extend(v.owner for v in peer.inputs if v.owner is not None)
    return False


def fuse(nodes, clients, outputs, is_scalar):
    """Map id(node) -> Group for the elementwise and reduction nodes in ``nodes``.

    ``is_scalar(node)`` marks nodes computed as scalar expressions (no loop at all).
    """
    group_of, groups = {}, []
    output_ids = {v.id for v in outputs}

    def can_join(group, node):
        member_ids = {id(m) for m in group.members}
        outside = [v for v in node.inputs if v.owner is None or id(v.owner) not in member_ids]
        return not _reaches(outside, group, group_of)

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
