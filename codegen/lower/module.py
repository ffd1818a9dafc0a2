"""The kernel programs of a module: each function's graph rewritten and lowered, its state
named once for the whole module."""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from codegen.lower.lowering import Names, NotCompiled, lower, sanitize
from codegen.lower.program import Arg
from codegen.rewrite import optimize_fgraph


class FunctionSpec:
    def __init__(self, name, ins, fgraph, single, allow_downcast, layout=()):
        self.name, self.ins, self.fgraph = name, ins, fgraph
        self.single, self.allow_downcast = single, allow_downcast
        #: [(shared variable, shape)]: what a flat gradient vector holds, in order (the
        #: functions of a data-parallel split; see codegen.compile.parallel)
        self.layout = list(layout)
        #: compiled for codegen.function, whose call is then all in C (the module's _Call_<f>)
        self.for_function = False
        #: profile=True: the step function times its steps (``codegen.compile.profiling``)
        self.profile = False
        #: the function of the module this one is a part of (``lower_module``'s chains)
        self.part_of = None
        #: for_function: where it needs parts, its parts chained in the module (else the
        #: refusal is raised: codegen.function plans them itself)
        self.chain = False


def _default_literal(value, var):
    arr = np.asarray(value, dtype=var.dtype)
    return f"np.array({arr.tolist()!r}, dtype=np.{var.dtype})"


def _type_text(var):
    return f"{var.dtype} {var.type.kind_name()}"


def _layout_lines(spec, snames):
    lines, offset = [], 0
    for var, shape in spec.layout:
        size = int(np.prod(shape, dtype=np.int64))
        lines.append(f"gradients[{offset}:{offset + size}]: gradient of {snames[var.id]!r}, "
                     f"shape {tuple(shape)}")
        offset += size
    return lines


def _doc(spec, program, snames):
    args = ", ".join(f"{a.name}: {_type_text(v)}" + (" = default" if a.default else "")
                     for a, v in zip(program.args, spec.fgraph.inputs))
    outs = ", ".join(_type_text(v) for v in spec.fgraph.outputs) or "None"
    lines = [f"{spec.name}({args}) -> {outs}"]
    for a, v in zip(program.args, spec.fgraph.inputs):
        dims = ", ".join("1" if bc else f"{a.name}_n{i}" for i, bc in enumerate(v.broadcastable))
        lines.append(f"{a.name}: {v.dtype} array of shape ({dims})")
    for (name, _), (var, _) in zip(program.updates, spec.fgraph.updates):
        lines.append(f"updates state {name!r} ({_type_text(var)})")  # get_value's names
    lines += _layout_lines(spec, snames)
    return "\n    ".join(lines)


def state_names(specs):
    """Unique, stable state names for the shared variables of ``specs`` (see module doc)."""
    names, taken = {}, set()
    for spec in specs:
        for var in spec.fgraph.shared:
            if var.id in names:
                continue
            base = sanitize(var.name or "shared")
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            names[var.id] = name
    return names


@dataclass
class Chain:
    """A function of a module computed in parts (``codegen.compile.parts``): lengths its
    steps compute are arguments of the functions of its later parts, so each part plans its
    arrays when it is called. The function calls its parts in order and writes the new state
    after the last one. ``calls``: (part name, [argument expressions]), the part ``k``'s
    outputs being ``_p<k>``; ``outputs``: expressions; ``updates``: (state name, expression)."""
    name: str
    doc: str
    args: list  # [Arg], the function's own signature
    state: list  # the names of the state it reads, in the order of its graph's
    single: bool
    allow_downcast: object
    calls: list
    outputs: list
    updates: list


@dataclass
class LoweredModule:
    """What ``lower_module`` gives: ``specs`` (those given, and each part of a function
    computed in parts, whose ``part_of`` names that function) with their ``programs`` and
    signature texts (``docs``), ``state_spec`` ({state name: (dtype, broadcastable)}),
    ``initial`` ({state name: initial array}) and the ``chains`` of the functions in parts."""
    specs: list
    programs: list
    docs: list
    state_spec: dict
    initial: dict
    chains: list


def lower_module(specs):
    """The kernel programs of a module's functions (a ``LoweredModule``)."""
    snames = state_names(specs)
    out = LoweredModule([], [], [], {}, {}, [])
    for spec in specs:
        fgraph = spec.fgraph if getattr(spec, "optimized", False) else \
            optimize_fgraph(spec.fgraph)
        hints = [sanitize(i.name or f"arg{k}") for k, i in enumerate(spec.ins)]
        defaults = {i.variable.id: _default_literal(i.value, i.variable) for i in spec.ins
                    if i.has_default}
        try:
            program = lower(fgraph, spec.name, hints, snames, defaults)
        except NotCompiled as exc:
            if getattr(spec, "for_function", False) and not getattr(spec, "chain", False):
                raise  # a part of codegen.function's, or DebugMode's comparison
            chain = _in_parts(spec, fgraph, hints, defaults, snames, exc, out)
            out.chains.append(chain)
        else:
            out.specs.append(spec)
            out.programs.append(program)
            out.docs.append(_doc(spec, program, snames))
        for var in fgraph.shared:
            out.state_spec[snames[var.id]] = (var.dtype, tuple(var.broadcastable))
            out.initial[snames[var.id]] = var.container.value
    given = [s.name for s in specs]
    for part in out.specs:
        if part.part_of is not None and part.name in given:
            raise NotCompiled(f"{part.part_of} is computed in parts, which the module names "
                              f"{part.part_of}_part0, {part.part_of}_part1, ...; it has a "
                              f"function {part.name!r} of its own already: rename that")
    return out


def _in_parts(spec, fgraph, hints, defaults, snames, refused, out):
    """The ``Chain`` of a function the lowering ``refused`` in one piece, its parts' specs
    and programs added to ``out``; raises a clear NotCompiled where a part needs the
    reference interpreter (a module runs no Python ops) or the graph cannot be cut."""
    from codegen.lower.parts import plan_parts
    why = f"{refused}; codegen.function runs it between compiled parts"
    if refused.late is None:
        raise NotCompiled(why) from None

    def make(sub, inputs, part_name):
        part_hints = [sanitize(v.name or f"arg{k}") for k, v in enumerate(inputs)]
        program = lower(sub, part_name, part_hints, snames, {})
        ins = [SimpleNamespace(variable=v, name=v.name, value=None, has_default=False)
               for v in inputs]  # as compile.inputs.In's, with no defaults
        part = FunctionSpec(part_name, ins, sub, False, spec.allow_downcast)
        part.optimized, part.part_of, part.profile = True, spec.name, spec.profile
        return part, program

    try:
        parts = plan_parts(fgraph, spec.name, make)
    except NotCompiled as exc:
        raise NotCompiled(f"{exc}; codegen.function runs it between compiled parts") from None
    interpreted = [p.message for p in parts if not p.compiled]
    if interpreted:
        raise NotCompiled(f"{spec.name}: {'; '.join(interpreted)}: a module cannot run it "
                          f"(codegen.function runs it in the reference interpreter between "
                          f"compiled parts)")
    names = Names()
    args = [Arg(names.new(h), v.dtype, v.broadcastable, defaults.get(v.id))
            for v, h in zip(fgraph.inputs, hints)]
    where = {v.id: a.name for v, a in zip(fgraph.inputs, args)}
    calls = []
    for k, part in enumerate(parts):
        (part_spec, program) = part.made
        calls.append((part_spec.name, [where[v.id] for v in part.sources]))
        out.specs.append(part_spec)
        out.programs.append(program)
        out.docs.append(_doc(part_spec, program, snames))
        where.update((v.id, f"_p{k}[{i}]") for i, v in enumerate(part.outputs))

    def found(var, what):
        if var.id not in where or var.owner is None:
            raise NotCompiled(f"{spec.name}: {what} is not computed by any of its parts (an "
                              f"input or a constant returned as it is): a module cannot hold "
                              f"it in parts; codegen.function compiles it")
        return where[var.id]
    outputs = [found(v, f"output {k}") for k, v in enumerate(fgraph.outputs)]
    updates, given = [], set(outputs)
    for var, value in fgraph.updates:
        expr = found(value, f"the update of {snames[var.id]!r}")
        updates.append((snames[var.id], f"np.array({expr})" if expr in given else expr))
        given.add(expr)  # an array returned or kept twice: a copy for the second
    program = SimpleNamespace(args=args, updates=[(snames[v.id], None)
                                                  for v, _ in fgraph.updates])
    doc = _doc(spec, program, snames) + (
        f"\n    computed in {len(parts)} parts ({', '.join(name for name, _ in calls)}): a "
        f"length its steps compute is an argument of the next part")
    return Chain(spec.name, doc, args, [snames[v.id] for v in fgraph.shared], spec.single,
                 spec.allow_downcast, calls, outputs, updates)
