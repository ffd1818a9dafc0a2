"""Theano's ``theano.scan_module.scan_utils``: the helper programs import from it."""

from codegen.graph.basic import equal_computations

__all__ = ["equal_computations"]
