"""Theano's ``theano.gof``: the graph's classes under their Theano names, for programs that
extend Theano with ops of their own (``class MyOp(theano.gof.Op)``, ``theano.gof.Apply``)."""

from types import SimpleNamespace

from codegen.compile.ops import PythonOp as Op
from codegen.graph import Apply, Constant, Variable, graph_inputs, toposort
from codegen.graph.basic import is_same_graph

#: ``theano.gof.graph``: walking a graph
graph = SimpleNamespace(Apply=Apply, Variable=Variable, Constant=Constant, inputs=graph_inputs,
                        io_toposort=lambda inputs, outputs: toposort(outputs),
                        is_same_graph=is_same_graph)

__all__ = ["Apply", "Constant", "Op", "Variable", "graph"]
