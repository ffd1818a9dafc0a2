"""Theano's ``theano.tensor.nnet.conv3d2d``: a convolution of movies in Theano's older layout,
time before channels: signals (batch, time, channels, rows, columns), filters (filters, time,
channels, rows, columns), the output (batch, time, filters, rows, columns). A true
convolution (the filters flipped along time, rows and columns), computed by ``conv3d``."""

from codegen.tensor.conv import conv3d as _conv3d

_ORDER = (0, 2, 1, 3, 4)  # (batch, time, channels, ...) <-> (batch, channels, time, ...)


def conv3d(signals, filters, signals_shape=None, filters_shape=None, border_mode="valid"):
    """``signals`` convolved with ``filters`` (see the module); ``border_mode`` 'valid' or
    'full', or a triple of them (time, rows, columns) that agree."""
    from codegen.tensor import basic as t
    modes = (border_mode,) * 3 if isinstance(border_mode, str) else tuple(border_mode)
    if len(modes) != 3 or len(set(modes)) != 1 or modes[0] not in ("valid", "full"):
        raise NotImplementedError(f"conv3d2d.conv3d: border_mode must be 'valid' or 'full' "
                                  f"(the same along time, rows and columns), got "
                                  f"{border_mode!r}")

    def reorder(shape):
        return None if shape is None else tuple(shape[a] for a in _ORDER)
    out = _conv3d(t.as_tensor_variable(signals).dimshuffle(*_ORDER),
                  t.as_tensor_variable(filters).dimshuffle(*_ORDER),
                  input_shape=reorder(signals_shape), filter_shape=reorder(filters_shape),
                  border_mode=modes[0])
    return out.dimshuffle(*_ORDER)


__all__ = ["conv3d"]
