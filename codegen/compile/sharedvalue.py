"""Theano's ``theano.compile.sharedvalue``: shared variables."""

from codegen.graph import SharedVariable
from codegen.tensor.basic import shared

__all__ = ["SharedVariable", "shared"]
