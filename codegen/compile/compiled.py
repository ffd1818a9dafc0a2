"""The compiled executable behind ``codegen.function`` in FAST_RUN and DebugMode."""

import hashlib

from codegen.build import build, compiler_flags, load
from codegen.compile.module import FunctionSpec, assemble


class CompiledExecutable:
    """One generated module holding one function; shared values are passed in explicitly."""

    kind = "cython"

    def __init__(self, fgraph, ins, name, mode, allow_downcast):
        mode_name = getattr(mode, "name", mode) or "FAST_RUN"
        self.debug = mode_name in ("DebugMode", "NanGuardMode")
        fname = "fn" if not name else "".join(c if c.isalnum() else "_" for c in name)
        spec = FunctionSpec(fname if fname[0].isalpha() else f"fn_{fname}", ins, fgraph,
                            False, allow_downcast)
        flags = compiler_flags(None, self.debug)
        source, _, programs = assemble("module", [spec], self.debug, flags=flags)
        module_name = "cg_" + hashlib.sha256(source.encode()).hexdigest()[:16]
        source = source.replace("# module:", f"# {module_name}:", 1)
        self.source = source.replace('"""module:', f'"""{module_name}:', 1)
        self.program = programs[0]
        self.module = load(module_name, build(module_name, self.source, flags))
        self.impl = getattr(self.module, f"_impl_{spec.name}")
        self.allow_downcast = allow_downcast

    def run(self, inputs, state):
        return self.impl(*state, *inputs, allow_downcast=self.allow_downcast)

    def debug_text(self):
        return self.program.describe()
