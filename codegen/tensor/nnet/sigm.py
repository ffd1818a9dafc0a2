"""Theano's ``theano.tensor.nnet.sigm``: the sigmoid and its approximations."""

from codegen.tensor.basic import sigmoid, softplus
from codegen.tensor.nnet.nnet import hard_sigmoid, ultra_fast_sigmoid

__all__ = ["sigmoid", "softplus", "hard_sigmoid", "ultra_fast_sigmoid"]
