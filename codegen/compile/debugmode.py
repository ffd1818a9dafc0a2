"""Theano's ``theano.compile.debugmode``: ``DebugMode``, which checks each op of the compiled
function against the numpy reference (codegen.compile.mode)."""

from codegen.compile.mode import DebugMode

__all__ = ["DebugMode"]
