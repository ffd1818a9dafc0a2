"""2-d and 3-d convolution and pooling (``T.nnet.conv2d``/``conv3d``,
``signal.pool.pool_2d``/``pool_3d``) built from integer-array indexing, products and
reductions, so that they run on every backend with their gradients.

A convolution gathers each output pixel's receptive field from the (padded) image into a
row (im2col, through an index array), multiplies the rows by the filters as one matrix
product, and puts the result back in (batch, filters, rows, columns) order. Its gradient is
the product's, and a scatter-add of the rows back into the image. Pooling gathers each
window into a row the same way and reduces the rows.

Where the image's per-example shape is known when the graph is built (from the shape hints
or the variables' types) the index array is a constant. Where it is not (Lasagne's layers
on ``T.tensor4()``), the lengths are the variables' own and the index array is computed
from them when the function runs, with the same values.
"""


import numpy as np

from codegen.graph.errors import warn
from codegen.tensor import basic as t


def _lengths(shape, var):
    """Each axis's length: the hint's (``shape``, None where unknown), else the type's, else
    ``var``'s own as the function runs (an int64 scalar)."""
    hint = tuple(shape) if shape is not None else (None,) * var.ndim
    if len(hint) != var.ndim:
        raise ValueError(f"the shape {hint} has {len(hint)} entries, {var.label()} has "
                         f"{var.ndim} axes")
    return [int(h) if h is not None else
            int(var.type.shape[a]) if var.type.shape[a] is not None else t.shape_of(var, a)
            for a, h in enumerate(hint)]


def _known(*values):
    """Whether every value (an int or a list of them) is known when the graph is built."""
    flat = [v for value in values for v in (value if isinstance(value, (list, tuple))
                                             else [value])]
    return all(isinstance(v, (int, np.integer)) for v in flat)


def _product(values):
    out = 1
    for v in values:
        out = out * v
    return out


def _maximum(a, b):
    return max(a, b) if _known(a, b) else t.maximum(a, b)


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


def _tuple(value, n, what):
    """``value`` (an int, or ``n`` ints) as ``n`` ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{what} must be an int or {n} ints, got {value!r}")
    return value


def _pair(value, what):
    return _tuple(value, 2, what)


def _sides(pad):
    """A border as (before, after): an int is the same on both sides."""
    return (pad, pad) if isinstance(pad, (int, np.integer)) else tuple(pad)


def _pad(x, shape, pads, value=0.0):
    """``x`` (batch, c, *spatial) inside a border of ``value`` along each spatial axis
    ``a``: ``pads[a]`` elements on both sides, or (before, after) elements."""
    pads = [_sides(p) for p in pads]
    if not any(lo or hi for lo, hi in pads):
        return x
    _, c, *dims = shape
    # an axis of length 1 (one channel, a row not padded) takes x's length as it runs, so
    # that the frame's part is not broadcastable where x is not
    sizes = [c] + [n + lo + hi for n, (lo, hi) in zip(dims, pads)]
    sizes = [t.shape_of(x, a + 1) if size == 1 and not x.broadcastable[a + 1] else size
             for a, size in enumerate(sizes)]
    frame = t.alloc(t.constant(np.asarray(value, dtype=x.dtype)), t.shape_of(x, 0), *sizes)
    inside = (slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                                for (lo, _), n in zip(pads, dims))
    return t.set_subtensor(frame[inside], x)


def _border(border_mode, nd, extents, name):
    """Theano's ``border_mode`` as (before, after) pads per spatial axis: 'valid', 'full',
    'half', an int, or per axis an int or a pair (an asymmetric border)."""
    if border_mode == "valid":
        return [(0, 0)] * nd
    if border_mode == "full":
        return [(e - 1, e - 1) for e in extents]
    if border_mode == "half":
        return [(e // 2, e // 2) for e in extents]
    if isinstance(border_mode, (int, np.integer)):
        return [(int(border_mode),) * 2] * nd
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == nd:
        pads = [_sides(p) for p in border_mode]
        if all(len(p) == 2 and all(isinstance(v, (int, np.integer)) and v >= 0 for v in p)
               for p in pads):
            return [(int(lo), int(hi)) for lo, hi in pads]
    raise ValueError(f"{name}: border_mode must be 'valid', 'full', 'half', an int, or {nd} "
                     f"ints or (before, after) pairs, got {border_mode!r}")


def _windows(dims, ks, steps, dilations, outs):
    """The flat (row-major) positions in an array of spatial shape ``dims`` of each
    window's elements: an int64 array (prod(outs), prod(ks)), windows in row-major order,
    elements likewise; a symbolic one where a length is known only as the function runs."""
    nd = len(dims)
    if not _known(dims, ks, outs):
        strides = [_product(dims[a + 1:]) for a in range(nd)]
        flat = 0
        for a in range(nd):
            pos = t.arange(outs[a]).dimshuffle(0, "x") * steps[a] + \
                t.arange(ks[a]).dimshuffle("x", 0) * dilations[a]
            order = ["x"] * (2 * nd)
            order[a], order[nd + a] = 0, 1
            flat = flat + pos.dimshuffle(*order) * strides[a]
        return flat.reshape((_product(outs), _product(ks)))
    strides = [int(np.prod(dims[a + 1:])) for a in range(nd)]
    flat = np.zeros(tuple(outs) + tuple(ks), dtype=np.int64)
    for a in range(nd):
        pos = np.arange(outs[a])[:, None] * steps[a] + np.arange(ks[a])[None, :] * dilations[a]
        shape = [1] * (2 * nd)
        shape[a], shape[nd + a] = outs[a], ks[a]
        flat = flat + pos.reshape(shape) * strides[a]
    return flat.reshape(int(np.prod(outs)), int(np.prod(ks)))


def _conv(name, nd, input, filters, input_shape, filter_shape, border_mode, subsample,
          filter_flip, filter_dilation, num_groups=1, unshared=False):
    """A convolution over the last ``nd`` axes (see ``conv2d``)."""
    input, filters = t.as_tensor_variable(input), t.as_tensor_variable(filters)
    if unshared:
        raise NotImplementedError(f"{name}: unshared convolutions (a filter per output "
                                  f"position) are not implemented")
    if input.ndim != nd + 2 or filters.ndim != nd + 2:
        raise TypeError(f"{name}: expected {nd + 2}-d input and filters, got {input.type} "
                        f"and {filters.type}")
    groups = int(num_groups)
    if groups < 1 or groups != num_groups:
        raise ValueError(f"{name}: num_groups must be a positive int, got {num_groups!r}")
    b, c, *dims = _lengths(input_shape, input)
    nf, fc, *ks = _lengths(filter_shape, filters)
    if _known(c, fc) and fc * groups != c:
        raise ValueError(f"{name}: the filters have {fc} channels"
                         + (f" per group, {groups} groups" if groups > 1 else "")
                         + f", the input {c}")
    if _known(nf) and nf % groups:
        raise ValueError(f"{name}: {nf} filters do not split into num_groups={groups} groups")
    c = c if _known(c) else fc * groups  # equal (a reshape checks it as the function runs)
    steps = _tuple(subsample, nd, f"{name}: subsample")
    dilations = _tuple(filter_dilation, nd, f"{name}: filter_dilation")
    extents = [d * (k - 1) + 1 for d, k in zip(dilations, ks)]  # the dilated filter's
    pads = _border(border_mode, nd, extents, name)
    padded = [n + lo + hi for n, (lo, hi) in zip(dims, pads)]
    outs = [(n - e) // s + 1 for n, e, s in zip(padded, extents, steps)]
    if any(_known(o) and o <= 0 for o in outs):
        raise ValueError(f"{name}: the filters ({' x '.join(map(str, ks))}) do not fit the "
                         f"input ({' x '.join(map(str, dims))})")
    if filter_flip:
        filters = filters[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    size, field_size, pixels = _product(padded), c * _product(ks), _product(outs)
    image = _pad(input, (b, c, *dims), pads).reshape((-1, c * size))
    spots = _windows(padded, ks, steps, dilations, outs)  # per channel
    if _known(c, size) and isinstance(spots, np.ndarray):
        field = (np.arange(c)[None, :, None] * size + spots[:, None, :]).reshape(
            pixels, field_size)
    else:
        field = (t.arange(c).dimshuffle("x", 0, "x") * size
                 + t.as_tensor_variable(spots).dimshuffle(0, "x", 1)).reshape(
            (pixels, field_size))
    rows = image[:, field].reshape((-1, field_size))  # (batch * pixels, c * prod(ks))
    if groups == 1:
        out = t.dot(rows, filters.reshape((nf, field_size)).T)  # (batch * pixels, filters)
    else:  # each group's rows (its channels) by its filters, one batched product
        per = field_size // groups
        rows = rows.reshape((-1, groups, per)).dimshuffle(1, 0, 2)
        out = t.batched_dot(rows, filters.reshape((groups, -1, per)).dimshuffle(0, 2, 1))
        out = out.dimshuffle(1, 0, 2).reshape((-1, nf))  # (batch * pixels, filters)
    return out.reshape((-1, *outs, nf)).dimshuffle(0, nd + 1, *range(1, nd + 1))


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, unshared=False, **unused):
    """Theano's ``T.nnet.conv2d``: ``input`` (batch, channels, rows, columns) convolved with
    ``filters`` (filters, channels, rows, columns); ``border_mode`` 'valid', 'full', 'half',
    an int or a pair of ints (zero padding); ``subsample`` the strides; ``filter_flip``
    True for a convolution, False for a cross-correlation; ``filter_dilation``;
    ``num_groups``: the channels and the filters split into that many groups, each group of
    filters (channels / num_groups of them each) seeing its group of channels only (a
    depthwise convolution when it equals the channels)."""
    return _conv("conv2d", 2, input, filters, input_shape or image_shape, filter_shape,
                 border_mode, subsample, filter_flip, filter_dilation, num_groups, unshared)


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1,
           **unused):
    """Theano's ``T.nnet.conv3d``: ``input`` (batch, channels, depth, rows, columns)
    convolved with ``filters`` (filters, channels, depth, rows, columns); the arguments as
    ``conv2d``'s, with three entries where it has two."""
    return _conv("conv3d", 3, input, filters, input_shape, filter_shape, border_mode,
                 subsample, filter_flip, filter_dilation, num_groups)


def _pool(name, nd, input, ws, ignore_border, stride, pad, mode):
    """Pooling over the last ``nd`` axes (see ``pool_2d``)."""
    input = t.as_tensor_variable(input)
    ws = _tuple(ws, nd, f"{name}: ws")
    steps = _tuple(stride if stride is not None else ws, nd, f"{name}: stride")
    pads = _tuple(pad, nd, f"{name}: pad")
    if ignore_border is None:  # Theano's default, with its warning that it would change
        warn(f"{name}: ignore_border not given: False, as in Theano (the partial "
             f"windows at the edges kept); pass ignore_border=True or False to say which")
        ignore_border = False
    if input.ndim != nd + 2:
        raise NotImplementedError(f"{name}: a {nd + 2}-d input (batch, channels, "
                                  f"{nd} spatial axes), got {input.type}")
    b, c, *dims = _lengths(None, input)
    if any(pads) and not ignore_border:
        raise NotImplementedError(f"{name}: padding needs ignore_border=True (as in Theano)")
    padded = [n + 2 * p for n, p in zip(dims, pads)]
    if ignore_border:
        outs = [(n - k) // s + 1 for n, k, s in zip(padded, ws, steps)]
    else:  # Theano's rule: every input element in some window
        outs = [(n - 1) // s + 1 if s >= k else _maximum(0, (n - 1 - k + s) // s) + 1
                for n, k, s in zip(dims, ws, steps)]
    if mode in ("max", "sum") and tuple(ws) == tuple(steps) and not any(pads) \
            and _known(dims) and all(o * k == n for o, k, n in zip(outs, ws, dims)):
        # windows that tile the image: a reshape and a reduction over nd axes, whose
        # gradient is elementwise (no gathered copy, no scatter-add)
        tiles = input.reshape((-1, c, *[v for o, k in zip(outs, ws) for v in (o, k)]))
        return (t.max if mode == "max" else t.sum)(
            tiles, axis=tuple(3 + 2 * a for a in range(nd)))
    # partial windows: the input is extended (by -inf for max, 0 otherwise) to whole ones
    extended = [_maximum(n, (o - 1) * s + k) for n, o, s, k in zip(padded, outs, steps, ws)]
    fill = -np.inf if mode == "max" else 0.0
    x = _pad(input, (b, c, *dims), pads, fill)
    if not _known(extended, padded) or extended != padded:
        frame = t.alloc(t.constant(np.asarray(fill, dtype=input.dtype)), t.shape_of(x, 0),
                        c, *extended)
        x = t.set_subtensor(frame[(slice(None), slice(None))
                                  + tuple(slice(None, n) for n in padded)], x)
    spots = _windows(extended, ws, steps, (1,) * nd, outs)
    windows = x.reshape((-1, _product(extended)))[:, spots]  # (b * c, pixels, window)
    if mode == "max":
        out = t.max(windows, axis=2)
    elif mode in ("sum", "average_inc_pad", "average_exc_pad"):
        out = t.sum(windows, axis=2)
        if mode != "sum":
            out = out / _window_counts(mode, dims, pads, padded, extended, outs, ws, steps,
                                       spots, input.dtype)
    else:
        raise ValueError(f"{name}: mode must be 'max', 'sum', 'average_inc_pad' or "
                         f"'average_exc_pad', got {mode!r}")
    return out.reshape((-1, c, *outs))


def _window_counts(mode, dims, pads, padded, extended, outs, ws, steps, spots, dtype):
    """How many elements each window averages over: all but the extension for
    'average_inc_pad', the input's own for 'average_exc_pad'; one per window."""
    if isinstance(spots, np.ndarray):
        inside = np.zeros(extended)
        if mode == "average_inc_pad":  # the padding counts, the extension does not
            inside[tuple(slice(None, n) for n in padded)] = 1
        else:
            inside[tuple(slice(p, p + n) for p, n in zip(pads, dims))] = 1
        return t.constant(inside.ravel()[spots].sum(axis=1).astype(dtype))
    # per axis, the window starting at o * s covers [o * s, o * s + k) of which the part
    # in [lo, hi) counts; a window's count is the product over the axes
    nd, counts = len(dims), 1
    for a in range(nd):
        lo, hi = (0, padded[a]) if mode == "average_inc_pad" else (pads[a], pads[a] + dims[a])
        start = t.arange(outs[a]) * steps[a]
        count = t.maximum(0, t.minimum(start + ws[a], hi) - t.maximum(start, lo))
        order = ["x"] * nd
        order[a] = 0
        counts = counts * count.dimshuffle(*order)
    return t.cast(counts.flatten(), dtype)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Theano's ``signal.pool.pool_2d`` on the last two axes of a 4-d ``input``: windows
    ``ws``, steps ``stride`` (``ws`` by default), zero ``pad``; ``mode`` 'max', 'sum',
    'average_inc_pad' (a window's mean over all its elements, padding included) or
    'average_exc_pad' (over the input's elements only); ``ignore_border=False`` keeps the
    partial windows at the bottom and right edges (Theano's default, with a warning, when it
    is not given)."""
    ws = ws if ws is not None else ds
    stride = stride if stride is not None else st
    return _pool("pool_2d", 2, input, ws, ignore_border, stride,
                 padding if padding is not None else pad, mode)


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max"):
    """Theano's ``signal.pool.pool_3d``: ``pool_2d`` over the last three axes of a 5-d
    ``input``."""
    return _pool("pool_3d", 3, input, ws, ignore_border, stride, pad, mode)


__all__ = ["conv2d", "conv3d", "pool_2d", "pool_3d"]
