"""The graph: typed variables produced by Apply nodes of Ops, with provenance."""

from codegen.graph.basic import (
                                 Apply,
                                 Constant,
                                 Op,
                                 Provenance,
                                 SharedVariable,
                                 Variable,
                                 clients,
                                 descendants,
                                 graph_inputs,
                                 toposort,
)
from codegen.graph.errors import GraphError, op_error, where
from codegen.graph.type import TensorType, can_cast_input

__all__ = ["Apply", "Constant", "GraphError", "Op", "Provenance", "SharedVariable",
           "TensorType", "Variable", "can_cast_input", "clients", "descendants",
           "graph_inputs", "op_error",
           "toposort", "where"]
