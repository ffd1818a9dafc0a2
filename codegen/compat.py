"""``codegen.install_as_theano()``: codegen answers ``import theano``, for libraries written
against Theano (Lasagne, Keras 2.3's Theano backend) that import it themselves.

A user's own program only changes its imports (``import codegen as theano``); a library's
imports are not the user's to change. After ``install_as_theano()``, ``import theano.X``
gives the module ``codegen.X`` itself (one module under two names, so ``theano.config`` and
``codegen.config`` are the same object), and a module codegen does not have is missing
under Theano's name as under its own (``import theano.sandbox.cuda`` raises
ModuleNotFoundError, which libraries catch to fall back to the CPU).
"""

import importlib
import importlib.abc
import importlib.util
import sys

THEANO = "theano"


class _TheanoNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``theano.X`` as ``codegen.X`` and loads it as that very module."""

    def __init__(self):
        self._specs = {}  # the codegen module's own spec, put back after the import sets it

    def find_spec(self, name, path=None, target=None):
        if name != THEANO and not name.startswith(THEANO + "."):
            return None
        real = "codegen" + name[len(THEANO):]
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:  # a parent that is not a package
            return None
        if found is None:
            return None
        return importlib.util.spec_from_loader(name, self,
                                               is_package=found.submodule_search_locations
                                               is not None)

    def create_module(self, spec):
        module = importlib.import_module("codegen" + spec.name[len(THEANO):])
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import machinery set the module's __spec__ to the alias's: it stays codegen's
        for name, spec in list(self._specs.items()):
            if spec.name == module.__name__:
                module.__spec__ = spec
                del self._specs[name]


def install_as_theano():
    """Make ``import theano`` (and ``import theano.tensor as T``, ``from theano.tensor.nnet
    import conv2d``, ...) import codegen, for the rest of this process.

    For libraries that import Theano themselves: call it before importing them. Returns
    the codegen package. Raises RuntimeError where a real Theano is already imported, since
    two graph languages cannot be mixed in one graph."""
    existing = sys.modules.get(THEANO)
    import codegen
    if existing is not None and existing is not codegen:
        raise RuntimeError("install_as_theano: the real theano is already imported "
                           f"(from {getattr(existing, '__file__', '?')}); call it before "
                           "anything imports theano")
    if not any(isinstance(f, _TheanoNames) for f in sys.meta_path):
        sys.meta_path.insert(0, _TheanoNames())
    for name, module in list(sys.modules.items()):  # what is imported already
        if name == "codegen" or name.startswith("codegen."):
            sys.modules.setdefault(THEANO + name[len("codegen"):], module)
    return codegen
