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

import os
import shutil
import sys

import numpy as np

from codegen import backends
from codegen.backends import resolve
from codegen.build import compiler_flags, load
from codegen.compile.function import mentions_sparse, prepare
from codegen.files import joined, replacing, write_if_changed
from codegen.lower.identifiers import MODULE_NAMES, usable_function_name
from codegen.lower.lowering import Names, sanitize
from codegen.lower.module import FunctionSpec


class Module:
    """A named collection of compiled functions sharing state, for ahead-of-time builds."""

    def __init__(self, name, data_parallel=False):
        if sanitize(name) != name:
            raise ValueError(f"Module: name must be an identifier, got {name!r}")
        self.name = name
        self.specs = []
        self.names = Names()
        #: also build ``<f>_gradients`` and ``<f>_apply`` for each function ``f`` whose updates
        #: read gradients (``codegen build --data-parallel``; see ``codegen.compile.parallel``)
        self.data_parallel = data_parallel

    def add_function(self, fname, inputs, outputs=None, updates=None, givens=None,
                     allow_input_downcast=None, on_unused_input="raise",
                     no_default_updates=False):
        """Add callable ``fname``; arguments as for ``codegen.function``."""
        if not usable_function_name(fname):
            raise ValueError(f"Module.add_function: {fname!r} is not a usable function name "
                             f"(an identifier not starting with '_', not a Python keyword, "
                             f"and none of {', '.join(MODULE_NAMES)})")
        if any(s.name == fname for s in self.specs):
            raise ValueError(f"Module.add_function: {fname!r} is already defined")
        flat = None
        if mentions_sparse(inputs, outputs, updates, givens):  # each sparse matrix: its parts
            from codegen.compile.sparse import Flat
            flat = Flat(inputs, outputs, updates, givens)
            inputs, outputs, updates, givens = flat.inputs, flat.outputs, flat.updates, \
                flat.givens
        ins, fgraph, single = prepare(inputs, outputs, updates, givens, fname,
                                      "ignore" if flat else on_unused_input,
                                      no_default_updates)
        if flat:
            flat.check_unused(fgraph, on_unused_input)
        self.specs.append(FunctionSpec(fname, ins, fgraph, single, allow_input_downcast))
        return self

    def functions(self):
        """The specs of every function the module defines: those added, and with
        ``data_parallel`` the split of each training function."""
        if not self.data_parallel:
            return list(self.specs)
        from codegen.compile.parallel import split
        out = list(self.specs)
        for spec in self.specs:
            for extra in split(spec):
                if any(s.name == extra.name for s in out):
                    raise ValueError(f"Module {self.name!r}: data-parallel training adds "
                                     f"{extra.name!r}, which the module already defines")
                out.append(extra)
        return out

    def sources(self, debug=False, spec_path="<interactive>", target=None):
        """{file name: text} of the generated module."""
        flags = compiler_flags(target, debug)
        return assemble(self.name, self.functions(), debug, spec_path, flags)[0]

    def source(self, debug=False, spec_path="<interactive>", target=None):
        """The generated files as one text (``codegen show``)."""
        return joined(self.sources(debug, spec_path, target))

    def emit(self, out_dir, debug=False, spec_path="<interactive>", target=None):
        """Write the generated files (``<name>.pyx``, ``<name>_kernels.c``, ``.h``) and the
        initial state into ``out_dir``; return {file name: path}."""
        flags = compiler_flags(target, debug)
        sources, initial, _ = assemble(self.name, self.functions(), debug, spec_path, flags)
        os.makedirs(out_dir, exist_ok=True)
        paths = {}
        for fname, text in sources.items():
            paths[fname] = os.path.join(out_dir, fname)
            write_if_changed(paths[fname], text)
        with replacing(os.path.join(out_dir, f"{self.name}_state.npz")) as f:
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


def build(name, sources, flags, quiet=True):
    """The built extension of a module's files, by the backend that wrote them."""
    return backends.get(resolve()).build(name, sources, flags, quiet)


def install(built, out_dir):
    """Copy a built extension from the cache into ``out_dir`` atomically; its new path."""
    dest = os.path.join(out_dir, os.path.basename(built))
    with replacing(dest) as f, open(built, "rb") as src:
        shutil.copyfileobj(src, f)
    return dest


def assemble(module_name, specs, debug=False, spec_path="<interactive>", flags=(),
             regenerate=None, backend=None):
    """({file name: text}, {state name: initial array}, programs) of a module of ``specs``,
    by ``backend`` (a name), else the one ``config.device`` names (or a clear error when it
    cannot build here)."""
    backend = backends.get(backend or resolve())
    return backend.assemble(module_name, specs, debug, spec_path, flags, regenerate)


def load_module(path):
    name = os.path.basename(path).split(".")[0]
    sys.path.insert(0, os.path.dirname(path))
    try:
        return load(name, path)
    finally:
        sys.path.pop(0)
