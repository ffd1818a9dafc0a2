"""Theano's ``theano.compile.io``: how a function takes its inputs and gives its outputs."""

from codegen.compile.inputs import In, Out

__all__ = ["In", "Out"]
