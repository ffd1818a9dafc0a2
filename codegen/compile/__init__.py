"""Compilation API: function(), In/Param, Module, and the debugging modes."""

from codegen.compile.builders import OpFromGraph
from codegen.compile.function import Function, function
from codegen.compile.inputs import In, Param
from codegen.compile.mode import DebugMode, Mode, NanGuardMode
from codegen.compile.mode import as_mode as get_mode
from codegen.compile.ops import as_op
from codegen.compile.pfunc import pfunc  # the function, over its module's name (as Theano)
from codegen.compile.profiling import ProfileStats
from codegen.graph import SharedVariable
from codegen.tensor.basic import shared

__all__ = ["DebugMode", "Function", "In", "Mode", "NanGuardMode", "OpFromGraph", "Param",
           "ProfileStats", "SharedVariable", "as_op", "function", "get_mode", "pfunc", "shared"]
