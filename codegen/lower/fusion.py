"""Fusion: group elementwise nodes (and the reductions they feed) into single loops.

A node joins the group of an elementwise input when both iterate over the same shape pattern
and the merge creates no cycle between loops (no outside input of the node needs the group's
loop to have run, directly or through another group). A
reduction joins the group producing its input: the group accumulates into the reduction's
output as it goes, and writes the input out only when something else reads it. Random draws
are elementwise too (each element a function of its index and the stream state): a dropout
mask is drawn in the loop that applies it.
"""

from codegen.ops.elemwise import Elemwise
from codegen.ops.random import RandomVariable
from codegen.ops.reduce import Reduce

#: the ops a loop computes element by element
ELEMENTWISE = (Elemwise, RandomVariable)


class Group:
    def __init__(self, gid, pattern):
        self.id = gid
        self.pattern = pattern  # broadcastable pattern of the loop
        self.members = []  # elementwise nodes, in topological order
        self.reduces = []  # reduction nodes fed by the loop
        self.key = None  # (broadcastable pattern, symbolic loop shape)


def _reads_all(node):
    return node.inputs


def _reaches(inputs, group, group_of, reads=_reads_all):
    """Whether computing ``inputs`` needs ``group``'s loop to have run.

    A group runs as one unit, so depending on any member of another group means depending
    on all of that group's inputs too. A node needs only the inputs it ``reads`` (a length
    ``h.shape[0]`` is known before any loop runs, whatever computes ``h``).
    """
    members = {id(m) for m in group.members + group.reduces}
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
            stack.extend(v.owner for v in reads(peer) if v.owner is not None)
    return False


def fuse(nodes, is_scalar, loop_shape, reads=_reads_all):
    """Map id(node) -> Group for the elementwise and reduction nodes in ``nodes``.

    ``is_scalar(node)`` marks nodes computed as scalar expressions (no loop at all);
    ``loop_shape(var)`` gives the symbolic shape a node iterates over (None: unknown);
    ``reads(node)``, the inputs whose values a node needs computed first. A node
    joins a group with the same loop shape, its inputs' groups first, then any other, unless
    that would make two loops depend on each other; so a function's elementwise work over one
    shape, forward and backward, tends to become one loop.
    """
    group_of, groups = {}, []

    def key(var):
        shape = loop_shape(var)
        return None if shape is None else (var.broadcastable, tuple(shape))

    def can_join(group, node):
        inside = {id(m) for m in group.members + group.reduces}
        outside = [v for v in reads(node) if v.owner is None or id(v.owner) not in inside]
        if any(v.owner is not None and v.owner in group.reduces for v in node.inputs):
            return False  # a reduction is complete only after the whole loop
        return not _reaches(outside, group, group_of, reads)

    def candidates(node, k):
        near = [group_of[id(v.owner)] for v in node.inputs
                if v.owner is not None and id(v.owner) in group_of]
        rest = [g for g in reversed(groups) if g not in near]
        return [g for g in near + rest if g.key == k]

    for node in nodes:
        if isinstance(node.op, ELEMENTWISE) and not is_scalar(node):
            k = key(node.out)
            target = next((g for g in candidates(node, k) if can_join(g, node)), None) \
                if k is not None else None
            if target is None:
                target = Group(len(groups), node.out.broadcastable)
                target.key = k
                groups.append(target)
            target.members.append(node)
            group_of[id(node)] = target
        elif isinstance(node.op, Reduce):
            (x,) = node.inputs
            g = group_of.get(id(x.owner)) if x.owner is not None else None
            # x may have other users: the loop then stores it as well as reducing it
            # (not when x is a reduction of that loop: complete only after the whole loop)
            if g is None or g.key is None or g.key != key(x) or x.owner in g.reduces:
                g = Group(len(groups), x.broadcastable)
                g.key = key(x)
                groups.append(g)
            g.reduces.append(node)
            group_of[id(node)] = g
    return group_of, groups


#: Scalar ops cheap enough to compute again in the loop that reads their result, rather than
#: store it in one loop and load it in another (an array write and read per element).
CHEAP = frozenset({"add", "sub", "mul", "neg"})


def sink(groups, group_of, nodes, outputs):
    """Move cheap elementwise nodes into the one loop that reads them; changes the groups.

    Fusion puts a node in the loop of its inputs. A gradient like ``s * (1 - s)`` of a
    sigmoid then lands in the forward loop, which stores it for the backward loop to load.
    When every reader of such a node is in one other loop over the same shape, and its array
    inputs are stored anyway (``s`` is: the next product reads it), that loop computes it from
    them instead: one array less to write, and no more to read than it replaces.
    """
    users = {}
    for node in nodes:
        for v in node.inputs:
            users.setdefault(v.id, []).append(node)
    output_ids = {v.id for v in outputs}
    for g in groups:
        inside = {id(n) for n in g.members + g.reduces}
        reduces = {id(n) for n in g.reduces}

        def stored(v):  # the loop stores v whatever moves (an output, or read elsewhere)
            return v.id in output_ids or any(id(u) not in inside for u in users.get(v.id, []))

        moving = {}  # id(node) -> the group it moves to
        for node in reversed(g.members):
            us = users.get(node.out.id, [])
            if (not isinstance(node.op, Elemwise) or node.op.scalar_op.name not in CHEAP
                    or node.out.id in output_ids or not us
                    or any(id(u) in reduces for u in us)):
                continue
            targets = {id(moving[id(u)]) if id(u) in moving else id(group_of.get(id(u)))
                       for u in us}
            target = moving.get(id(us[0])) or group_of.get(id(us[0]))
            if (len(targets) == 1 and target is not None and target is not g
                    and target.key == g.key and g.key is not None):
                moving[id(node)] = target
        changed = True
        while changed:  # a node moves only with the inputs it needs from g that g won't store
            changed = False
            for node in g.members:
                if id(node) in moving and any(
                        v.owner is not None and id(v.owner) in inside and id(v.owner) not in moving
                        and not stored(v) for v in node.inputs):
                    del moving[id(node)]
                    changed = True
                elif id(node) in moving and any(id(u) not in moving and id(u) in inside
                                                for u in users.get(node.out.id, [])):
                    del moving[id(node)]
                    changed = True
        for target in {id(t): t for t in moving.values()}.values():
            moved = [n for n in g.members if moving.get(id(n)) is target]
            if _new_loads(moved, target, group_of, users) > sum(
                    1 for n in moved if any(id(u) not in moving for u in users[n.out.id])):
                continue  # the loop would load more arrays than it stops loading
            g.members = [n for n in g.members if moving.get(id(n)) is not target]
            target.members = moved + target.members
            for n in moved:
                group_of[id(n)] = target


def _new_loads(moved, target, group_of, users):
    """How many arrays ``target`` would load that it does not load now, with ``moved``."""
    mine = {id(n) for n in target.members + target.reduces}
    moved_ids = {id(n) for n in moved}
    loaded = {v.id for n in target.members + target.reduces for v in n.inputs
              if v.owner is None or id(v.owner) not in mine}
    new = {v.id for n in moved for v in n.inputs
           if (v.owner is None or id(v.owner) not in moved_ids) and v.id not in loaded
           and not (v.owner is None and getattr(v, "data", None) is not None
                    and v.data.size == 1)}
    return len(new)
