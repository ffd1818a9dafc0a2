"""A function the compiled backends cannot express in one module, compiled in parts.

Buffers are planned from shapes before any step runs, so a length that a step computes
(``T.zeros((T.argmax(x),))``, ``scan(..., n_steps=T.max(n))``, the count of ``T.nonzero``,
the steps a loop ending on a condition did) or an op with no compiled form (``eig``, a Python
op, a loop whose shapes change from one iteration to the next) cannot be in the module that
computes what it reads. The graph is cut there, as a
``torch.compile`` graph break: one compiled part computes what the node reads; the node runs
in the reference interpreter (or, for a length, the next part takes the int scalar as an
argument, which a plan may use as a dim); the next compiled part computes the rest from
those values. Each part is an ordinary generated module (graph cache included); the shared
values' updates are written once, after the last part, so a failed call changes no state.
"""

import numpy as np

from codegen.backends import numpy as reference
from codegen.graph import Constant, SharedVariable, graph_inputs, toposort
from codegen.graph.basic import rebuild
from codegen.graph.fgraph import FunctionGraph
from codegen.lower.lowering import NotCompiled


class CompiledPart:
    """One generated module computing ``outputs`` from the values of ``sources``."""

    def __init__(self, executable, sources, outputs, shared):
        self.executable, self.sources, self.outputs, self.shared = \
            executable, sources, outputs, shared

    def run(self, env):
        outs, _ = self.executable.run([env[v.id] for v in self.sources],
                                      [env[v.id] for v in self.shared])
        for var, value in zip(self.outputs, outs):
            env[var.id] = value

    def describe(self):
        names = ", ".join(v.label() for v in self.outputs)
        return f"compiled ({self.executable.kind}, {self.executable.module.__name__}): {names}"


class InterpretedPart:
    """One node run by the reference interpreter (``timed``: told its time, profile=True)."""

    def __init__(self, node, message, timed=None):
        self.node, self.message, self.timed = node, message, timed
        self.reason = message.split(";")[0]  # the op, and why it has no compiled form

    def run(self, env):
        values = {v.id: np.asarray(env[v.id]) for v in self.node.inputs if v.id in env}
        reference.perform(self.node, values, timed=self.timed)
        env.update((v.id, values[v.id]) for v in self.node.outputs)

    def describe(self):
        return f"reference interpreter: {self.reason}"  # the op's name, then why


class PartsExecutable:
    """Compiled parts with the reference interpreter between them (see the module's text)."""

    def __init__(self, fgraph, parts):
        self.fgraph, self.parts = fgraph, parts
        compiled = [p for p in parts if isinstance(p, CompiledPart)]
        self.compiled = len(compiled)
        self._fresh = {o.id for p in compiled for o in p.outputs}  # new arrays of a module's
        self.device = compiled[0].executable.device if compiled else "cpu"
        kind = compiled[0].executable.kind if compiled else "numpy reference"
        self.kind = f"{kind} in {len(compiled)} parts" if len(compiled) > 1 else kind
        if any(isinstance(p, InterpretedPart) for p in parts):
            self.kind += " and the reference interpreter"

    @property
    def reasons(self):
        return [p.reason for p in self.parts if isinstance(p, InterpretedPart)]

    def run(self, inputs, state):
        env = {v.id: x for v, x in zip(self.fgraph.inputs, inputs)}
        env.update((v.id, x) for v, x in zip(self.fgraph.shared, state))
        for part in self.parts:
            part.run(env)
        results = []
        for var in self.fgraph.all_outputs:
            value = env[var.id] if var.id in env else reference.input_value(var, env)
            if var.id not in self._fresh:  # an input, a constant or the interpreter's: a copy
                value = np.array(value)
            results.append(value)
        n = len(self.fgraph.outputs)
        return results[:n], results[n:]

    def profile_steps(self):
        """() -> the steps of every part, in order, with their times (profile=True)."""
        timed = [(k, p.executable.profile_steps()) for k, p in enumerate(self.parts)
                 if isinstance(p, CompiledPart)]
        nodes = next((p.timed.steps for p in self.parts if isinstance(p, InterpretedPart)),
                     list)

        def steps():
            out = [(kind, f"part{k}.{ident}", text, where, seconds, runs)
                   for k, part_steps in timed
                   for kind, ident, text, where, seconds, runs in part_steps()]
            return out + nodes()
        return steps

    def debug_text(self):
        return "\n".join(f"part {k}: {p.describe()}" for k, p in enumerate(self.parts))

    @property
    def source(self):
        """The generated source of every compiled part, in order, each after a line naming
        the part (and the interpreted nodes between them)."""
        return "\n\n".join(f"# part {k}: {p.describe()}" + (
            f"\n{p.executable.source}" if isinstance(p, CompiledPart) else "")
            for k, p in enumerate(self.parts))


def compile_in_parts(fgraph, name, make, timed=None):
    """A ``PartsExecutable`` for ``fgraph`` (rewritten already), whose parts ``make(fgraph,
    ins, part_name)`` compiles; raises the ``NotCompiled`` that stops it where the graph cannot
    be cut (a refusal that names no node of the graph). ``timed``: told the interpreted
    nodes' times (profile=True)."""
    return PartsExecutable(fgraph, plan_parts(fgraph, name, make, timed))


def plan_parts(fgraph, name, make, timed=None):
    """The parts of ``fgraph`` in the order they run: ``CompiledPart`` (what ``make`` gave for
    a part: an executable, or a module's function) and ``InterpretedPart`` nodes; as for
    ``compile_in_parts``."""
    from codegen.compile.inputs import In
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
            executable = make(sub, [In(v) for v in inputs], f"{name}_part{len(parts)}")
        except NotCompiled as exc:
            if exc.node is not None:  # a node of the rebuilt part: the original's
                old = next((back[o.id] for o in exc.node.outputs if o.id in back), None)
                exc.node = old.owner if old is not None else \
                    (exc.node if id(exc.node) in inside else None)
                exc.late = None if exc.late is None else [back.get(v.id, v) for v in exc.late]
            raise
        return CompiledPart(executable, sources, outputs, sub.shared)

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
                parts.append(InterpretedPart(node, reasons[id(node)], timed))
                done.add(id(node))
                ran = True
        if not front and not ran:
            raise NotCompiled("the graph cannot be cut into compiled parts")
    return parts
