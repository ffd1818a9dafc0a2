"""Compilation modes: FAST_RUN (compiled), FAST_COMPILE (numpy reference), and the checking
modes DebugMode and NanGuardMode (compiled with checks after every kernel).

>>> import codegen, codegen.tensor as T
>>> x = T.scalar('x')
>>> f = codegen.function([x], T.log(x), mode=codegen.compile.NanGuardMode(inf_is_error=True))
>>> f(0.0)                                    # doctest: +SKIP
FloatingPointError: fn_k0_log: produced 0 NaN and 1 Inf ...
"""


#: Theano's linkers: the Python one runs the numpy reference, the others compiled code
LINKERS = {"py": "FAST_COMPILE", "c": "FAST_RUN", "cvm": "FAST_RUN", "vm": "FAST_RUN",
           "c|py": "FAST_RUN", "cvm_nogc": "FAST_RUN", "c|py_nogc": "FAST_RUN"}


class Mode:
    """How ``codegen.function`` runs a graph.

    Theano's spelling works too: ``Mode(linker='py')`` runs the numpy reference,
    ``Mode(linker='cvm', optimizer=None)`` and ``Mode()`` compiled code (the optimizer is
    codegen's own either way).
    """

    def __init__(self, name=None, compiled=True, guard=None, compare=False, *, linker=None,
                 optimizer=None):
        if name is None or name in LINKERS or isinstance(compiled, str):  # Theano's arguments
            linker = linker or (name if name in LINKERS else None)
            name = LINKERS.get(linker, "FAST_RUN") if linker is not None else "FAST_RUN"
            compiled = name == "FAST_RUN"
        self.name = name
        self.compiled = compiled
        self.guard = guard  # (nan_is_error, inf_is_error, big_is_error) or None
        self.compare = compare

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


def get_default_mode():
    """The mode ``config.mode`` names (Theano's ``theano.compile.mode.get_default_mode``)."""
    return as_mode(None)


class DebugMode(Mode):
    """Compiled with a NaN/Inf check after every kernel; ``compare=True`` also runs the numpy
    reference and reports the first node whose compiled value disagrees with it."""

    def __init__(self, compare=False, nan_is_error=True, inf_is_error=True, big_is_error=False):
        super().__init__("DebugMode", True, (nan_is_error, inf_is_error, big_is_error), compare)


class NanGuardMode(Mode):
    """Compiled with a check after every kernel: NaN, Inf and values above 1e10 (each
    optional) raise, naming the kernel, the expression and the line that built it."""

    def __init__(self, nan_is_error=True, inf_is_error=True, big_is_error=False):
        super().__init__("NanGuardMode", True, (nan_is_error, inf_is_error, big_is_error))


MODES = {
    "FAST_RUN": lambda: Mode("FAST_RUN"),
    "FAST_COMPILE": lambda: Mode("FAST_COMPILE", compiled=False),
    "DebugMode": DebugMode,
    "NanGuardMode": NanGuardMode,
}


def as_mode(mode):
    """A Mode from a Mode, a mode name, or None (``config.mode``)."""
    if isinstance(mode, Mode):
        return mode
    from codegen.config import config
    name = mode or config.mode
    if name not in MODES:
        raise ValueError(f"unknown mode {name!r}; expected one of {sorted(MODES)}")
    return MODES[name]()
