"""Theano's older ``theano.tensor.nnet.conv`` module: ``conv.conv2d`` with its own argument
names (``image_shape``), a convolution (filters flipped) as ``T.nnet.conv2d``."""

from codegen.tensor.conv import conv2d as _conv2d


def conv2d(input, filters, filter_shape=None, image_shape=None, border_mode="valid",
           subsample=(1, 1), **unused):
    """The older ``theano.tensor.nnet.conv.conv2d`` (a convolution: filters flipped)."""
    return _conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape,
                   border_mode=border_mode, subsample=subsample)
