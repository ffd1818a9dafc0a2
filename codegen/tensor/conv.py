"""2-d convolution and pooling (``T.nnet.conv2d``, ``signal.pool.pool_2d``) built from
integer-array indexing, products and reductions, so that they run on every backend with
their gradients.

A convolution gathers each output pixel's receptive field from the (padded) image into a
row (im2col, through a constant index array: the image's per-example shape must be known
when the graph is built, from the shape hints or the variables' types), multiplies the
rows by the filters as one matrix product, and puts the result back in (batch, filters,
rows, columns) order. Its gradient is the product's, and a scatter-add of the rows back
into the image. Pooling gathers each window into a row the same way and reduces the rows.
"""

import numpy as np

from codegen.tensor import basic as t


def _static(shape, var, what):
    """``shape`` (a hint) or ``var``'s static shape, every entry but the first an int."""
    if shape is None:
        shape = var.type.shape
    shape = tuple(None if s is None else int(s) for s in (shape or (None,) * var.ndim))
    if len(shape) != var.ndim or any(s is None for s in shape[1:]):
        raise NotImplementedError(f"{what}: the shape of {var.label()} past its first axis "
                                  f"must be known when the graph is built; give it (e.g. "
                                  f"input_shape=(None, 1, 28, 28)), got {shape}")
    return shape


def _pair(value, what):
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {value!r}")
    return value


def _pad(x, shape, ph, pw, value=0.0):
    """``x`` (batch, c, h, w) inside a border of ``ph`` rows and ``pw`` columns of ``value``."""
    if not (ph or pw):
        return x
    _, c, h, w = shape
    frame = t.alloc(t.constant(np.asarray(value, dtype=x.dtype)), t.shape_of(x, 0), c,
                    h + 2 * ph, w + 2 * pw)
    return t.set_subtensor(frame[:, :, ph:ph + h, pw:pw + w], x)


def _windows(h, w, kh, kw, sh, sw, dh, dw, out_h, out_w):
    """The flat (row * w + column) positions of each window's elements: an int64 array
    (out_h * out_w, kh * kw), windows in row-major order, elements likewise."""
    rows = (np.arange(out_h)[:, None] * sh)[:, :, None, None] + \
        (np.arange(kh) * dh)[None, None, :, None]
    cols = (np.arange(out_w)[None, :] * sw)[:, :, None, None] + \
        (np.arange(kw) * dw)[None, None, None, :]
    flat = rows * w + cols  # (out_h, out_w, kh, kw)
    return flat.reshape(out_h * out_w, kh * kw).astype(np.int64)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           **unused):
    """Theano's ``T.nnet.conv2d``: ``input`` (batch, channels, rows, columns) convolved with
    ``filters`` (filters, channels, rows, columns); ``border_mode`` 'valid', 'full', 'half',
    an int or a pair of ints (zero padding); ``subsample`` the strides; ``filter_flip``
    True for a convolution, False for a cross-correlation; ``filter_dilation``."""
    input, filters = t.as_tensor_variable(input), t.as_tensor_variable(filters)
    if input.ndim != 4 or filters.ndim != 4:
        raise TypeError(f"conv2d: expected 4-d input and filters, got {input.type} and "
                        f"{filters.type}")
    b, c, h, w = _static(input_shape or image_shape, input, "conv2d")
    nf, fc, kh, kw = _static(filter_shape, filters, "conv2d")
    if filter_shape is None and filters.type.shape[0] is None:
        raise NotImplementedError("conv2d: give filter_shape (the number of filters must be "
                                  "known when the graph is built)")
    if fc != c:
        raise ValueError(f"conv2d: the filters have {fc} channels, the input {c}")
    sh, sw = _pair(subsample, "conv2d: subsample")
    dh, dw = _pair(filter_dilation, "conv2d: filter_dilation")
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the dilated filter's extent
    if border_mode == "valid":
        ph = pw = 0
    elif border_mode == "full":
        ph, pw = eh - 1, ew - 1
    elif border_mode == "half":
        ph, pw = eh // 2, ew // 2
    else:
        ph, pw = _pair(border_mode, "conv2d: border_mode")
    hp, wp = h + 2 * ph, w + 2 * pw
    out_h, out_w = (hp - eh) // sh + 1, (wp - ew) // sw + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"conv2d: the filters ({kh} x {kw}) do not fit the input ({h} x {w})")
    if filter_flip:
        filters = filters[:, :, ::-1, ::-1]
    image = _pad(input, (b, c, h, w), ph, pw).reshape((-1, c * hp * wp))
    spots = _windows(hp, wp, kh, kw, sh, sw, dh, dw, out_h, out_w)  # per channel
    field = (np.arange(c)[None, :, None] * (hp * wp) + spots[:, None, :]).reshape(
        out_h * out_w, c * kh * kw)
    rows = image[:, field].reshape((-1, c * kh * kw))  # (batch * pixels, c * kh * kw)
    out = t.dot(rows, filters.reshape((nf, c * kh * kw)).T)  # (batch * pixels, filters)
    return out.reshape((-1, out_h, out_w, nf)).dimshuffle(0, 3, 1, 2)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Theano's ``signal.pool.pool_2d`` on the last two axes of a 4-d ``input``: windows
    ``ws``, steps ``stride`` (``ws`` by default), zero ``pad``; ``mode`` 'max', 'sum',
    'average_inc_pad' (a window's mean over all its elements, padding included) or
    'average_exc_pad' (over the input's elements only); ``ignore_border=False`` keeps the
    partial windows at the bottom and right edges."""
    input = t.as_tensor_variable(input)
    ws = _pair(ws if ws is not None else ds, "pool_2d: ws")
    stride = _pair(stride if stride is not None else (st if st is not None else ws),
                   "pool_2d: stride")
    ph, pw = _pair(padding if padding is not None else pad, "pool_2d: pad")
    if ignore_border is None:
        ignore_border = True
    if input.ndim != 4:
        raise NotImplementedError(f"pool_2d: a 4-d input (batch, channels, rows, columns), "
                                  f"got {input.type}")
    b, c, h, w = _static(None, input, "pool_2d")
    (kh, kw), (sh, sw) = ws, stride
    if (ph or pw) and not ignore_border:
        raise NotImplementedError("pool_2d: padding needs ignore_border=True (as in Theano)")
    hp, wp = h + 2 * ph, w + 2 * pw
    if ignore_border:
        out_h, out_w = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    else:  # Theano's rule: every input element in some window
        out_h = (h - 1) // sh + 1 if sh >= kh else max(0, (h - 1 - kh + sh) // sh) + 1
        out_w = (w - 1) // sw + 1 if sw >= kw else max(0, (w - 1 - kw + sw) // sw) + 1
    if mode in ("max", "sum") and (kh, kw) == (sh, sw) and not (ph or pw) \
            and (out_h * kh, out_w * kw) == (h, w):
        # windows that tile the image: a reshape and a reduction over two axes, whose
        # gradient is elementwise (no gathered copy, no scatter-add)
        tiles = input.reshape((-1, c, out_h, kh, out_w, kw))
        return (t.max if mode == "max" else t.sum)(tiles, axis=(3, 5))
    # partial windows: the input is extended (by -inf for max, 0 otherwise) to whole ones
    eh, ew = max(hp, (out_h - 1) * sh + kh), max(wp, (out_w - 1) * sw + kw)
    fill = -np.inf if mode == "max" else 0.0
    x = _pad(input, (b, c, h, w), ph, pw, fill)
    if (eh, ew) != (hp, wp):
        frame = t.alloc(t.constant(np.asarray(fill, dtype=input.dtype)), t.shape_of(x, 0),
                        c, eh, ew)
        x = t.set_subtensor(frame[:, :, :hp, :wp], x)
    spots = _windows(eh, ew, kh, kw, sh, sw, 1, 1, out_h, out_w)
    windows = x.reshape((-1, eh * ew))[:, spots]  # (batch * c, pixels, kh * kw)
    if mode == "max":
        out = t.max(windows, axis=2)
    elif mode in ("sum", "average_inc_pad", "average_exc_pad"):
        out = t.sum(windows, axis=2)
        if mode == "average_inc_pad":
            inside = np.zeros((eh, ew))
            inside[:hp, :wp] = 1  # the padding counts, the extension does not
            out = out / t.constant(inside.ravel()[spots].sum(axis=1).astype(input.dtype))
        elif mode == "average_exc_pad":
            inside = np.zeros((eh, ew))
            inside[ph:ph + h, pw:pw + w] = 1
            out = out / t.constant(inside.ravel()[spots].sum(axis=1).astype(input.dtype))
    else:
        raise ValueError(f"pool_2d: mode must be 'max', 'sum', 'average_inc_pad' or "
                         f"'average_exc_pad', got {mode!r}")
    return out.reshape((-1, c, out_h, out_w))


__all__ = ["conv2d", "pool_2d"]
