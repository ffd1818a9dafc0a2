"""``codegen.tensor.signal`` (Theano's ``theano.tensor.signal``): pooling, and the 2-d
convolution of single-channel images."""

from codegen.tensor.signal import conv, pool

__all__ = ["conv", "pool"]
