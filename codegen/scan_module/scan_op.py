"""Theano's ``theano.scan_module.scan_op``: the op of a loop (``isinstance(node.op, Scan)``)."""

from codegen.ops.scan import Scan

__all__ = ["Scan"]
