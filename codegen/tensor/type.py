"""Theano's ``theano.tensor.type``: the type of tensors."""

from codegen.graph import TensorType

__all__ = ["TensorType"]
