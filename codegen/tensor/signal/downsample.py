"""Theano's older ``theano.tensor.signal.downsample``: ``max_pool_2d``."""

from codegen.tensor.signal.pool import max_pool_2d

__all__ = ["max_pool_2d"]
