"""The kernel programs of a module: each function's graph rewritten and lowered, its state
named once for the whole module."""

import numpy as np

from codegen.lower.lowering import NotCompiled, lower, sanitize
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


def lower_module(specs):
    """The kernel programs of a module's functions: (programs, their signature texts,
    {state name: (dtype, broadcastable)}, {state name: initial array})."""
    snames = state_names(specs)
    programs, docs, state_spec, initial = [], [], {}, {}
    for spec in specs:
        fgraph = spec.fgraph if getattr(spec, "optimized", False) else \
            optimize_fgraph(spec.fgraph)
        hints = [sanitize(i.name or f"arg{k}") for k, i in enumerate(spec.ins)]
        defaults = {i.variable.id: _default_literal(i.value, i.variable) for i in spec.ins
                    if i.has_default}
        try:
            program = lower(fgraph, spec.name, hints, snames, defaults)
        except NotCompiled as exc:
            if getattr(spec, "for_function", False):
                raise  # codegen.function compiles it in parts (compile.parts)
            why = (f"{exc}. A module plans its arrays before its steps run, so it cannot "
                   f"hold this function; codegen.function compiles it, in parts") if exc.late \
                else f"{exc}; codegen.function runs it between compiled parts"
            raise NotCompiled(why) from None
        programs.append(program)
        docs.append(_doc(spec, program, snames))
        for var in fgraph.shared:
            state_spec[snames[var.id]] = (var.dtype, tuple(var.broadcastable))
            initial[snames[var.id]] = var.container.value
    return programs, docs, state_spec, initial
