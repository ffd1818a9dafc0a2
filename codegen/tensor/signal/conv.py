"""Theano's ``theano.tensor.signal.conv``: ``conv2d`` of single-channel images, a 2-d
convolution (scipy's ``convolve2d``) of an image or a stack of them with a filter or a stack
of filters, through ``nnet.conv2d`` with one channel."""

from codegen.tensor import basic as t
from codegen.tensor.conv import conv2d as _nnet_conv2d


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **unused):
    """``input``: (rows, columns) or (images, rows, columns); ``filters``: (rows, columns)
    or (filters, rows, columns); ``border_mode`` 'valid' or 'full'. The result is
    (images, filters, rows, columns), without the axes the operands do not have."""
    input, filters = t.as_tensor_variable(input), t.as_tensor_variable(filters)
    for name, var in (("input", input), ("filters", filters)):
        if var.ndim not in (2, 3):
            raise TypeError(f"signal.conv.conv2d: {name} must be 2-d or 3-d, got {var.type}")
    if border_mode not in ("valid", "full"):
        raise ValueError(f"signal.conv.conv2d: border_mode must be 'valid' or 'full', got "
                         f"{border_mode!r}")
    images = input if input.ndim == 3 else input.dimshuffle("x", 0, 1)
    kernels = filters if filters.ndim == 3 else filters.dimshuffle("x", 0, 1)
    kshape = None
    if filter_shape is not None:
        kshape = ((filter_shape[0] if filters.ndim == 3 else 1, 1) + tuple(filter_shape[-2:]))
    ishape = None
    if image_shape is not None:
        ishape = ((image_shape[0] if input.ndim == 3 else 1, 1) + tuple(image_shape[-2:]))
    out = _nnet_conv2d(images.dimshuffle(0, "x", 1, 2), kernels.dimshuffle(0, "x", 1, 2),
                       input_shape=ishape, filter_shape=kshape, border_mode=border_mode,
                       subsample=subsample)
    if input.ndim == 2 and filters.ndim == 2:
        return out[0, 0]
    if input.ndim == 2:
        return out[0]
    if filters.ndim == 2:
        return out[:, 0]
    return out


__all__ = ["conv2d"]
