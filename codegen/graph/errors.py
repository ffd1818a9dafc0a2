"""Errors that point at the user's line, not at codegen's internals."""

import linecache
import os
import sys
import warnings

#: codegen's own directory: frames under it are not the user's.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GraphError(Exception):
    """Base class for errors raised while building or running a graph."""


class NotCompiled(NotImplementedError):
    """A graph the compiled backends cannot express in one piece: a length, bound or number
    of steps that a step computes, a shape that changes from one iteration to the next, an op
    with no lowering. The graph is then cut into parts (``codegen.lower.parts``) from what
    this says, chained in one module where every part compiles (``lower.module.Chain``):

    ``node``: the node of the lowered graph that cannot be lowered (None: not known);
    ``late``: the int scalars a step computes that it takes as lengths (a part computes
    them, the next takes them as arguments), or ``[]`` where the node itself has no compiled
    form (the reference interpreter runs it between parts); None: not known yet."""

    def __init__(self, message, reference=False):
        super().__init__(message)
        self.node = None
        self.late = [] if reference else None


def user_frame(frame):
    """The first frame from ``frame`` up that is outside codegen (None: there is none), and
    how many frames up it is (``frame`` itself: 1)."""
    depth = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            PACKAGE_DIR + os.sep):
        frame, depth = frame.f_back, depth + 1
    return frame, depth


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the user's line (the first frame outside codegen),
    whichever of codegen's spellings (``theano.function``, ``T.grad``, ``max_pool_2d``) led
    there."""
    warnings.warn(message, category, stacklevel=user_frame(sys._getframe(1))[1] + 1)


def source_line(provenance):
    if provenance is None or provenance.lineno == 0:
        return ""
    return linecache.getline(provenance.filename, provenance.lineno).strip()


def where(provenance):
    """``built at spec.py:31: h = T.dot(W, x)`` (empty when unknown)."""
    if provenance is None:
        return ""
    code = source_line(provenance)
    return f"built at {provenance}" + (f": {code}" if code else "")


def describe(var, value=None):
    """``A (float64, shape (3, 4))`` for error messages."""
    name = var.label()
    if value is not None:
        return f"{name} ({value.dtype}, shape {tuple(value.shape)})"
    return f"{name} ({var.type.dtype} {var.type.kind_name()})"


def op_error(exc_type, node, message):
    """An exception of ``exc_type`` whose text names the op and the user's line."""
    text = f"{node.op}: {message}"
    loc = where(node.provenance)
    if loc:
        text += "\n  " + loc
    err = exc_type(text)
    err.node = node
    return err


def missing_theano_api(module, name, known):
    """The error of a module ``__getattr__`` (``module``: the codegen module's name) for a
    name it lacks: NotImplementedError naming the Theano API for the names in ``known``,
    AttributeError for others (typos)."""
    theano = module.replace("codegen", "theano", 1)
    if name in known:
        return NotImplementedError(f"{theano}.{name} is a Theano API that codegen does not "
                                   f"have yet")
    return AttributeError(f"module {module!r} has no attribute {name!r}")
