"""Where a graph is cut into parts (``codegen.compile.parts`` runs them): a length a step
computes is an output of one part and an int argument of the next, and a node with no
compiled form runs in the reference interpreter between compiled parts."""

from dataclasses import dataclass, field

from codegen.graph import Constant, SharedVariable, graph_inputs, toposort
from codegen.graph.basic import rebuild
from codegen.graph.errors import NotCompiled
from codegen.graph.fgraph import FunctionGraph


@dataclass
class Part:
    """A compiled part (``made``: what the planner's ``make`` gave for it, computing
    ``outputs`` from the values of ``sources``, the graph's own variables, and reading
    ``shared``), or a ``node`` the reference interpreter runs (``message``: the lowering's
    refusal of it)."""
    made: object = None
    sources: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    shared: list = field(default_factory=list)
    node: object = None
    message: str = ""

    @property
    def compiled(self):
        return self.node is None


def plan_parts(fgraph, name, make):
    """The parts of ``fgraph`` (rewritten already) in the order they run, each a ``Part``:
    compiled ones, what ``make(sub_fgraph, inputs, part_name)`` gave for them (it raises the
    lowering's ``NotCompiled`` where a part cannot be compiled), and the nodes the reference
    interpreter runs between them. Raises the ``NotCompiled`` that stops it where the graph
    cannot be cut (a refusal that names no node of the graph)."""
    order = toposort(fgraph.all_outputs)
    finals = {v.id for v in fgraph.all_outputs}
    users = {}
    for node in order:
        for v in node.inputs:
            users.setdefault(v.id, []).append(node)
    done, parts = set(), []

    def downstream(blocked):
        """The ids of the nodes that depend on those of ``blocked`` (ids), these included."""
        out = set(blocked)
        for node in order:
            if any(v.owner is not None and id(v.owner) in out for v in node.inputs):
                out.add(id(node))
        return out

    def part(nodes):
        """A compiled part computing ``nodes``; raises NotCompiled where it cannot."""
        inside = {id(n) for n in nodes}
        outputs = [o for n in nodes for o in n.outputs
                   if o.id in finals or any(id(u) not in inside for u in users.get(o.id, ()))]
        cut = {}
        for n in nodes:
            for v in n.inputs:
                if v.owner is not None and id(v.owner) not in inside and v.id not in cut:
                    cut[v.id] = v.type(v.name)
        olds = {v.id: v for n in nodes for v in n.inputs + n.outputs}
        mapping = dict(cut)
        rebuilt = rebuild(outputs, mapping, nodes=nodes)
        back = {new.id: olds[old] for old, new in mapping.items()}
        leaves = [v for v in graph_inputs(rebuilt)
                  if not isinstance(v, (Constant, SharedVariable)) and v.owner is None]
        stand_ins = [cut[k] for k in cut if any(cut[k] is v for v in leaves)]
        plain = [v for v in leaves if all(v is not s for s in stand_ins)]
        inputs = stand_ins + plain
        sources = [back[v.id] for v in stand_ins] + plain
        sub = FunctionGraph(inputs, rebuilt)
        try:
            made = make(sub, inputs, f"{name}_part{len(parts)}")
        except NotCompiled as exc:
            if exc.node is not None:  # a node of the rebuilt part: the original's
                old = next((back[o.id] for o in exc.node.outputs if o.id in back), None)
                exc.node = old.owner if old is not None else \
                    (exc.node if id(exc.node) in inside else None)
                exc.late = None if exc.late is None else [back.get(v.id, v) for v in exc.late]
            raise
        return Part(made, sources, outputs, sub.shared)

    # Each round compiles, as one part, every node left that depends on no node that
    # cannot be in it: the nodes that take a length a step computes (in a later part, which
    # takes it as an argument), those with no compiled form (the reference interpreter runs
    # them between parts) and what depends on them, found by the lowering's refusals. So a
    # function has as many parts as its lengths and interpreted nodes are deep, not wide.
    reasons = {}  # id of a node the reference interpreter runs -> the lowering's refusal
    while len(done) < len(order):
        blocked = {id(n) for n in order if id(n) in reasons and id(n) not in done}
        while True:
            below = downstream(blocked)
            front = [n for n in order if id(n) not in done and id(n) not in below]
            if not front:
                break
            try:
                parts.append(part(front))
            except NotCompiled as exc:
                if exc.node is None or exc.late is None or id(exc.node) in blocked:
                    raise
                blocked.add(id(exc.node))
                if not exc.late:
                    reasons[id(exc.node)] = str(exc)
                continue
            done.update(id(n) for n in front)
            break
        ran = False
        for node in order:  # the interpreted nodes whose inputs are computed now
            if id(node) in reasons and id(node) not in done and all(
                    v.owner is None or id(v.owner) in done for v in node.inputs):
                parts.append(Part(node=node, message=reasons[id(node)]))
                done.add(id(node))
                ran = True
        if not front and not ran:
            raise NotCompiled("the graph cannot be cut into compiled parts")
    return parts
