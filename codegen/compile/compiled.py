"""The compiled executable behind ``codegen.function`` in FAST_RUN and the checking modes."""

import hashlib

import numpy as np

from codegen.backends import numpy as reference
from codegen.build import compiler_flags, load
from codegen.compile import graphcache
from codegen.files import joined


class DebugModeError(AssertionError):
    """A compiled kernel disagrees with the numpy reference (DebugMode(compare=True))."""


class CompiledExecutable:
    """One generated module holding one function; shared values are passed in explicitly."""

    kind = "cython"

    def __init__(self, fgraph, ins, name, mode, allow_downcast, profile=False,
                 optimized=False, chained=None):
        self.mode = mode
        # chained: a graph that needs parts (a length a step computes) is compiled as one
        # module whose function calls its parts in order (lower.module.Chain); not a part of
        # a graph compiled in parts itself (its refusal tells the planner where to cut), nor
        # in DebugMode's comparison (which reads the one program's arrays)
        self.chained = not mode.compare if chained is None else chained
        self.profile = profile  # the step function times each step (compile.profiling)
        from codegen.lower.identifiers import usable_function_name
        fname = "fn" if not name else "".join(c if c.isalnum() else "_" for c in name)
        self._fname = fname if fname[0].isalpha() and usable_function_name(fname) else \
            f"fn_{fname}"
        self._fgraph, self._ins, self._allow_downcast = fgraph, ins, allow_downcast
        self._optimized = optimized  # rewritten already (a part of a function, parts.py)
        self._flags = compiler_flags(None, bool(mode.guard))
        self._generated = None
        # the graph cache skips rewriting, lowering and rendering for a graph built before;
        # compare mode needs the kernel program itself, so it always generates
        from codegen import backends
        backend = backends.resolve()
        if mode.compare and backend == "cuda":
            raise NotImplementedError("DebugMode(compare=True) compares each kernel's values "
                                      "with the numpy reference on the CPU backend only; on "
                                      "CUDA, NanGuardMode and DebugMode() check each kernel's "
                                      "outputs for NaN and Inf on the device")
        self._backend = backend  # the source, when asked for later, is this backend's
        variant = getattr(backends.get(backend), "variant", lambda: "")()
        key = None if mode.compare else graphcache.graph_key(
            fgraph, ins, self._fname, (self._flags, repr(mode.guard), repr(allow_downcast),
                                       backend, variant, profile, optimized, self.chained))
        hit = graphcache.lookup(key) if key else None
        if hit is None:
            module_name, source, _ = self._generate()
            from codegen.compile.module import build
            path = build(module_name, source, self._flags)
            if key:
                graphcache.store(key, module_name, path)
        else:
            module_name, path = hit
        self.module = load(module_name, path)
        self.impl = getattr(self.module, f"_impl_{self._fname}")
        #: the module's functions this one calls in order (chained), else None
        self.parts = getattr(self.module, f"_PARTS_{self._fname}", None)
        if self.parts is not None:
            self.kind = f"{self.kind} in {len(self.parts)} parts"
        self.device = backends.get(backend).DEVICES[0]  # where the state and kernels live
        self.allow_downcast = allow_downcast
        # Function's fast path: impl(*state, *arguments, allow_downcast) gives (outputs,
        # new state) (the outputs ndarrays already); DebugMode's comparison needs run()
        self.direct = self.impl if not mode.compare else None
        # the whole call in C (the module's _Call_<f>: containers, lock, step), on the CPU
        self.caller_type = (getattr(self.module, f"_Call_{self._fname}", None)
                            if not mode.compare else None)

    def _generate(self):
        """(module name, source, kernel program); generated again when needed after a
        graph-cache hit skipped it."""
        if self._generated is None:
            from codegen.compile.module import assemble
            from codegen.lower.module import FunctionSpec
            spec = FunctionSpec(self._fname, self._ins, self._fgraph, False,
                                self._allow_downcast)
            spec.for_function = True
            spec.chain = self.chained  # lower_module may chain its parts
            spec.optimized = self._optimized
            spec.profile = self.profile
            sources, _, programs = assemble("module", [spec], self.mode.guard,
                                            flags=self._flags, backend=self._backend)
            digest = hashlib.sha256()
            for fname, text in sorted(sources.items()):
                digest.update(f"{fname}\0{text}\0".encode())
            module_name = "cg_" + digest.hexdigest()[:16]
            self._generated = (module_name, _renamed(sources, "module", module_name),
                               programs)
        return self._generated

    @property
    def source(self):
        return joined(self._generate()[1])

    @property
    def program(self):
        return self._generate()[2][0]

    def run(self, inputs, state):
        result = self.impl(*state, *inputs, self.allow_downcast)
        if self.mode.compare:
            self._compare(inputs, state, result[2])
        return result[0], result[1]

    def _compare(self, inputs, state, values):
        """Raise at the first materialized node whose value differs from the reference."""
        fgraph = self.program.fgraph
        given = {v.id: x for v, x in zip(fgraph.inputs, inputs)}
        given.update({v.id: x for v, x in zip(fgraph.shared, state)})
        expected = reference.run_all(fgraph.all_outputs, given)
        for name, var, origin in self.program.materialized:
            got, want = values[name], expected[var.id]
            rtol = 1e-4 if got.dtype == np.float32 else 1e-9
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=rtol,
                                                          equal_nan=True):
                diff = (np.max(np.abs(got - want)) if got.shape == want.shape
                        else f"shape {got.shape} vs {want.shape}")
                raise DebugModeError(f"compiled value of {origin.text} differs from the numpy "
                                     f"reference (max abs difference {diff})\n  {origin.where}")

    def profile_steps(self):
        """() -> each step's (kind, id, text, where, seconds, runs) so far (profile=True)."""
        from codegen.compile.profiling import compiled_steps
        if self.parts is None:
            return compiled_steps(self.module, self._fname)
        timed = [(k, compiled_steps(self.module, part)) for k, part in enumerate(self.parts)]
        return lambda: [(kind, f"part{k}.{ident}", text, where, seconds, runs)
                        for k, steps in timed
                        for kind, ident, text, where, seconds, runs in steps()]

    def debug_text(self):
        programs = self._generate()[2]
        if self.parts is None:
            return programs[0].describe()
        return "\n".join(f"part {k}: {p.describe()}" for k, p in enumerate(programs))


def _renamed(sources, old, new):
    """The files of module ``old`` as those of module ``new``: the names of the files, the
    header the glue includes, and the module's name in the first lines of each."""
    out = {}
    for fname, text in sources.items():
        text = text.replace(f'"{old}_kernels.h"', f'"{new}_kernels.h"')
        text = text.replace(f"# {old}:", f"# {new}:", 1).replace(f'"""{old}:', f'"""{new}:', 1)
        text = text.replace(f"/* {old}_kernels.", f"/* {new}_kernels.", 1)
        out[new + fname[len(old):]] = text
    return out
