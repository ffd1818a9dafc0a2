"""``codegen.Module``: several functions over one set of shared variables, built ahead of time.

>>> import codegen, codegen.tensor as T, numpy as np
>>> w = codegen.shared(np.ones(3), name='w')
>>> x = T.vector('x')
>>> m = codegen.Module('tiny')
>>> m.add_function('score', [x], T.dot(w, x))
>>> path = m.build('/tmp/codegen-doctest')        # doctest: +SKIP

State names: each shared variable is named after its ``name`` (``shared`` when it has none);
when several share a name, the first met (functions in the order added, inputs before
outputs) keeps it and the next get ``_1``, ``_2``, ... in that order.
"""

import contextlib
import hashlib
import os
import pprint
import shutil
import sys
import tempfile

import numpy as np

import codegen
from codegen.backends import cexpr, ckernel, resolve
from codegen.backends.cython import render
from codegen.build import build, compiler_flags, load
from codegen.compile.function import prepare
from codegen.lower.lowering import PYTHON_RESERVED, Names, lower, sanitize
from codegen.lower.program import DotStep
from codegen.rewrite import optimize_fgraph


class FunctionSpec:
    def __init__(self, name, ins, fgraph, single, allow_downcast):
        self.name, self.ins, self.fgraph = name, ins, fgraph
        self.single, self.allow_downcast = single, allow_downcast


def _default_literal(value, var):
    arr = np.asarray(value, dtype=var.dtype)
    return f"np.array({arr.tolist()!r}, dtype=np.{var.dtype})"


def _type_text(var):
    return f"{var.dtype} {var.type.kind_name()}"


def _doc(spec, program):
    args = ", ".join(f"{a.name}: {_type_text(v)}" + (" = default" if a.default else "")
                     for a, v in zip(program.args, spec.fgraph.inputs))
    outs = ", ".join(_type_text(v) for v in spec.fgraph.outputs) or "None"
    lines = [f"{spec.name}({args}) -> {outs}"]
    for a, v in zip(program.args, spec.fgraph.inputs):
        dims = ", ".join("1" if bc else f"{a.name}_n{i}" for i, bc in enumerate(v.broadcastable))
        lines.append(f"{a.name}: {v.dtype} array of shape ({dims})")
    for (name, _), (var, _) in zip(program.updates, spec.fgraph.updates):
        lines.append(f"updates state {name!r} ({_type_text(var)})")  # get_value's names
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
        fgraph = optimize_fgraph(spec.fgraph)
        hints = [sanitize(i.name or f"arg{k}") for k, i in enumerate(spec.ins)]
        defaults = {i.variable.id: _default_literal(i.value, i.variable) for i in spec.ins
                    if i.has_default}
        program = lower(fgraph, spec.name, hints, snames, defaults)
        programs.append(program)
        docs.append(_doc(spec, program))
        for var in fgraph.shared:
            state_spec[snames[var.id]] = (var.dtype, tuple(var.broadcastable))
            initial[snames[var.id]] = var.container.value
    return programs, docs, state_spec, initial


def assemble(module_name, specs, debug=False, spec_path="<interactive>", flags=(),
             regenerate=None):
    """({file name: text}, {state name: initial array}, programs) for a module of ``specs``, for
    the backend ``config.device`` names (or a clear error when it cannot build here)."""
    resolve()
    programs, docs, state_spec, initial = lower_module(specs)
    functions = []
    for spec, program, doc in zip(specs, programs, docs):
        ctx = render.function_context(program, debug)
        ctx["doc"] = doc
        ctx["single"] = spec.single
        ctx["allow_downcast"] = repr(spec.allow_downcast)
        ctx["updated"] = [name for name, _ in program.updates]
        functions.append(ctx)
    state_index = {name: i for i, name in enumerate(sorted(state_spec))}
    for ctx, program in zip(functions, programs):
        ctx["state_positions"] = ", ".join(f"{state_index[s.name]} {s.name}"
                                           for s in program.state)
    product_types = sorted({step.out.dtype for program in programs for step in program.steps
                            if isinstance(step, DotStep)})
    accumulating = sorted({step.out.dtype for program in programs for step in program.steps
                           if isinstance(step, DotStep) and step.accumulate})
    prototypes, declarations = ckernel.product_declarations(product_types, accumulating)
    graph_hash = hashlib.sha256("\n".join(p.describe() for p in programs).encode()).hexdigest()
    metadata = {"generator": f"codegen {codegen.__version__}", "graph_hash": graph_hash[:16],
                "backend": "cython", "flags": list(flags), "debug": debug,
                "signature": {f["name"]: f["doc"].split("\n")[0] for f in functions}}
    ctx = {"module_name": module_name, "version": codegen.__version__, "spec": spec_path,
           "graph_hash": graph_hash[:16], "flags": " ".join(flags) or "default",
           "regenerate": regenerate or f"codegen build {spec_path}",
           "metadata": pprint.pformat(metadata, sort_dicts=True, width=96),
           "state_spec": repr({k: (d, bc) for k, (d, bc) in sorted(state_spec.items())}),
           "state_file": f"{module_name}_state.npz", "functions": functions,
           "state": [{"name": n} for n in sorted(state_spec)],
           "state_index": state_index,
           "c_helpers": cexpr.C_HELPERS.rstrip("\n").split("\n"),
           "simd_math": ckernel.SIMD_MATH,
           "product_code": ckernel.product_code(product_types, accumulating),
           "product_prototypes": prototypes, "product_declarations": declarations,
           "debug": "True" if debug else "False"}
    return render.render_module(ctx), initial, programs


#: Names a generated module defines or imports itself
MODULE_NAMES = ("get_value", "set_value", "state", "save", "load", "np", "os", "threading",
                "cg_load_blas")


def usable_function_name(fname):
    """Whether ``fname`` can name a function of a generated module."""
    return (sanitize(fname) == fname and not fname.startswith("_") and fname not in MODULE_NAMES
            and fname not in PYTHON_RESERVED)


class Module:
    """A named collection of compiled functions sharing state, for ahead-of-time builds."""

    def __init__(self, name):
        if sanitize(name) != name:
            raise ValueError(f"Module: name must be an identifier, got {name!r}")
        self.name = name
        self.specs = []
        self.names = Names()

    def add_function(self, fname, inputs, outputs=None, updates=None, givens=None,
                     allow_input_downcast=None, on_unused_input="raise"):
        """Add callable ``fname``; arguments as for ``codegen.function``."""
        if not usable_function_name(fname):
            raise ValueError(f"Module.add_function: {fname!r} is not a usable function name "
                             f"(an identifier not starting with '_', not a Python keyword, "
                             f"and none of {', '.join(MODULE_NAMES)})")
        if any(s.name == fname for s in self.specs):
            raise ValueError(f"Module.add_function: {fname!r} is already defined")
        ins, fgraph, single = prepare(inputs, outputs, updates, givens, fname, on_unused_input)
        self.specs.append(FunctionSpec(fname, ins, fgraph, single, allow_input_downcast))
        return self

    def sources(self, debug=False, spec_path="<interactive>", target=None):
        """{file name: text} of the generated module."""
        flags = compiler_flags(target, debug)
        return assemble(self.name, self.specs, debug, spec_path, flags)[0]

    def source(self, debug=False, spec_path="<interactive>", target=None):
        """The generated files as one text (``codegen show``)."""
        return render.joined(self.sources(debug, spec_path, target))

    def emit(self, out_dir, debug=False, spec_path="<interactive>", target=None):
        """Write the generated files (``<name>.pyx``, ``<name>_kernels.c``, ``.h``) and the
        initial state into ``out_dir``; return {file name: path}."""
        flags = compiler_flags(target, debug)
        sources, initial, _ = assemble(self.name, self.specs, debug, spec_path, flags)
        os.makedirs(out_dir, exist_ok=True)
        paths = {}
        for fname, text in sources.items():
            paths[fname] = os.path.join(out_dir, fname)
            _write_if_changed(paths[fname], text)
        with _replacing(os.path.join(out_dir, f"{self.name}_state.npz")) as f:
            np.savez(f, **initial)
        return paths

    def build(self, out_dir, debug=False, spec_path="<interactive>", target=None, quiet=True):
        """Emit and compile into ``out_dir``; returns the extension's path."""
        flags = compiler_flags(target, debug)
        sources = {}
        for fname, path in self.emit(out_dir, debug, spec_path, target).items():
            with open(path) as f:
                sources[fname] = f.read()
        return install(build(self.name, sources, flags, quiet=quiet), out_dir)


def install(built, out_dir):
    """Copy a built extension from the cache into ``out_dir`` atomically; its new path."""
    dest = os.path.join(out_dir, os.path.basename(built))
    with _replacing(dest) as f, open(built, "rb") as src:
        shutil.copyfileobj(src, f)
    return dest


@contextlib.contextmanager
def _replacing(path):
    """A binary file that replaces ``path`` in one step when the block ends (a temporary
    file of a name of its own until then), so that processes writing the same folder at once
    all succeed and readers see the old file or the new one, never part of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o755 if path.endswith(_EXTENSION_SUFFIXES) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


_EXTENSION_SUFFIXES = (".so", ".pyd")


def _write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return
    with _replacing(path) as f:
        f.write(text.encode())


def load_module(path):
    name = os.path.basename(path).split(".")[0]
    sys.path.insert(0, os.path.dirname(path))
    try:
        return load(name, path)
    finally:
        sys.path.pop(0)
