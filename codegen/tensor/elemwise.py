"""Theano's ``theano.tensor.elemwise``: the ops of elementwise arithmetic, of axes
reordered or broadcast, and of reductions, for programs that inspect a graph
(``isinstance(node.op, Elemwise)``)."""

from codegen.ops.elemwise import Elemwise
from codegen.ops.reduce import Reduce as CAReduce
from codegen.ops.shape import DimShuffle

__all__ = ["CAReduce", "DimShuffle", "Elemwise"]
