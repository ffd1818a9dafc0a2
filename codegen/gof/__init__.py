"""Theano's ``theano.gof``: the graph's classes under their Theano names, for programs that
extend Theano with ops of their own (``class MyOp(theano.gof.Op)``, ``theano.gof.Apply``),
and ``theano.gof.graph``'s walks of a graph."""

from codegen.compile.ops import PythonOp as Op
from codegen.gof import graph, utils
from codegen.gof.utils import MethodNotDefined
from codegen.graph import Apply, Constant, Variable
from codegen.graph.fgraph import FunctionGraph

__all__ = ["Apply", "Constant", "FunctionGraph", "MethodNotDefined", "Op", "Variable", "graph",
           "utils"]
