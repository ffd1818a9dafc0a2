"""A function the compiled backends cannot express in one module, compiled in parts.

Buffers are planned from shapes before any step runs, so a length that a step computes
(``T.zeros((T.argmax(x),))``, ``scan(..., n_steps=T.max(n))``, the count of ``T.nonzero``,
the steps a loop ending on a condition did) or an op with no compiled form (``eig``, a Python
op, a loop whose shapes change from one iteration to the next) cannot be in the module that
computes what it reads. The graph is cut there, as a
``torch.compile`` graph break: one compiled part computes what the node reads; the node runs
in the reference interpreter (or, for a length, the next part takes the int scalar as an
argument, which a plan may use as a dim); the next compiled part computes the rest from
those values. Where every part is compiled, the parts are functions of one module, which
calls them in order (``lower.module.Chain``: ``codegen.function`` and ``codegen build``
alike); around a node the reference interpreter runs, or for DebugMode's comparison, each
compiled part is a module of its own (``PartsExecutable``). Either way the shared values'
updates are written once, after the last part, so a failed call changes no state.
"""

import numpy as np

from codegen.backends import numpy as reference
from codegen.lower.parts import plan_parts


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
    from codegen.compile.inputs import In
    planned = plan_parts(fgraph, name, lambda sub, inputs, part_name: make(
        sub, [In(v) for v in inputs], part_name))
    return PartsExecutable(fgraph, [
        CompiledPart(p.made, p.sources, p.outputs, p.shared) if p.compiled
        else InterpretedPart(p.node, p.message, timed) for p in planned])
