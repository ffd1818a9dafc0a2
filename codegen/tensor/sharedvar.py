"""Theano's ``theano.tensor.sharedvar``: the class of tensor shared variables and their
constructor (``isinstance(p, T.sharedvar.TensorSharedVariable)``)."""

from codegen.tensor.basic import shared as tensor_constructor
from codegen.tensor.var import TensorSharedVariable

__all__ = ["TensorSharedVariable", "tensor_constructor"]
