"""codegen: an ahead-of-time compiler for Theano-style tensor graphs.

>>> import codegen as theano
>>> import codegen.tensor as T
>>> foo = T.scalar('foo')
>>> print(theano.pp(foo ** 2))
(foo ** TensorConstant{2})
"""

__version__ = "0.1.0"

from codegen import tensor  # noqa: E402
from codegen.compile.function import Function, function  # noqa: E402
from codegen.compile.inputs import In, Param  # noqa: E402
from codegen.config import config  # noqa: E402
from codegen.printing import debugprint, pp  # noqa: E402
from codegen.tensor.basic import dot, shared  # noqa: E402


def __getattr__(name):
    # stages after the front end load on first use, keeping `import codegen` light
    import importlib
    if name in ("gradient", "printing", "compile", "sandbox", "ifelse", "gof", "misc", "sparse"):
        return importlib.import_module(f"codegen.{name}")
    if name in ("scan", "map", "reduce", "foldl", "foldr"):
        from codegen import scan_module
        return getattr(scan_module, name)
    if name in ("scan_module", "scalar"):
        return importlib.import_module(f"codegen.{name}")
    if name == "grad":
        from codegen.gradient import grad
        return grad
    if name == "Module":
        from codegen.compile.module import Module
        return Module
    if name == "Mode":
        from codegen.compile.mode import Mode
        return Mode
    if name == "clone":
        from codegen.tensor.basic import clone
        return clone
    if name == "Out":
        from codegen.compile.inputs import Out
        return Out
    if name in ("Op", "Apply", "Variable", "Constant"):  # theano.Op: a user's own ops
        from codegen import gof
        return getattr(gof, name)
    if name == "ProfileStats":
        from codegen.compile.profiling import ProfileStats
        return ProfileStats
    if name == "install_as_theano":
        from codegen.compat import install_as_theano
        return install_as_theano
    if name in ("configparser", "updates"):
        return importlib.import_module(f"codegen.{name}")
    if name == "change_flags":
        return config.change_flags
    if name == "_asarray":
        from codegen.misc.safe_asarray import _asarray
        return _asarray
    if name == "OpFromGraph":
        from codegen.compile.builders import OpFromGraph
        return OpFromGraph
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen", name, _MISSING)


#: Theano's top-level APIs that codegen does not have yet
_MISSING = ("typed_list", "d3viz")


__all__ = ["In", "Module", "Param", "config", "debugprint", "dot", "function", "grad", "gradient",
           "pp", "shared", "tensor", "Function"]
