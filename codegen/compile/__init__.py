"""Compilation API: function(), In/Param, Module, and the debugging modes."""

from codegen.compile.function import Function, function
from codegen.compile.inputs import In, Param

__all__ = ["Function", "In", "Param", "function"]
