"""Theano's ``theano.compile.function_module``: the class of compiled functions."""

from codegen.compile.function import Function, function

__all__ = ["Function", "function"]
