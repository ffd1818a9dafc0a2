"""``codegen.tensor.signal`` (Theano's ``theano.tensor.signal``): pooling."""

from codegen.tensor.signal import pool

__all__ = ["pool"]
