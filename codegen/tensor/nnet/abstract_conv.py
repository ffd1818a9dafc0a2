"""Theano's ``T.nnet.abstract_conv``: the convolutions' gradients as functions of their own
(a transposed convolution is ``conv2d_grad_wrt_inputs``), causal 1-d convolution and
bilinear upsampling.

Each gradient is built as Theano defines it, the gradient of the forward convolution
(``codegen.tensor.conv``) given the output's gradient (``grad`` with ``known_grads``): the
forward graph is linear in what it is differentiated with respect to, so that variable
becomes zeros of its shape, and only the backward graph (products and a scatter-add)
remains after simplification.
"""

import numpy as np

from codegen.graph import late
from codegen.tensor import basic as t
from codegen.tensor.conv import _conv, _static, conv2d, conv3d

__all__ = ["AbstractConv2d", "AbstractConv2d_gradInputs", "AbstractConv2d_gradWeights",
           "AbstractConv3d", "AbstractConv3d_gradInputs", "AbstractConv3d_gradWeights",
           "bilinear_kernel_1D", "bilinear_kernel_2D", "bilinear_upsampling", "causal_conv1d",
           "conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights", "conv2d_transpose",
           "conv3d", "conv3d_grad_wrt_inputs", "conv3d_grad_wrt_weights",
           "get_conv_output_shape", "get_conv_shape_1axis", "separable_conv2d",
           "separable_conv3d"]


def get_conv_shape_1axis(image_shape, kernel_shape, border_mode, subsample, dilation=1):
    """The length of a convolution's output along one axis (None where an input is None);
    ``border_mode`` 'valid', 'full', 'half', an int or a (before, after) pair."""
    if None in (image_shape, kernel_shape, border_mode, subsample, dilation):
        return None
    extent = dilation * (kernel_shape - 1) + 1
    if border_mode == "half":
        pad = 2 * (extent // 2)
    elif border_mode == "full":
        pad = 2 * (extent - 1)
    elif border_mode == "valid":
        pad = 0
    elif isinstance(border_mode, tuple):
        pad = sum(border_mode)
    else:
        pad = 2 * border_mode
    return (image_shape + pad - extent) // subsample + 1


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=None):
    """(batch, filters, *spatial) of a convolution's output, from the input's and the
    filters' shapes (Theano's helper; entries may be None)."""
    nd = len(subsample)
    border = ((border_mode,) * nd if isinstance(border_mode, (str, int, np.integer))
              else tuple(border_mode))
    dilation = tuple(filter_dilation) if filter_dilation is not None else (1,) * nd
    return (image_shape[0], kernel_shape[0]) + tuple(
        get_conv_shape_1axis(image_shape[2 + a], kernel_shape[-nd + a], border[a],
                             subsample[a], dilation[a]) for a in range(nd))


def _entries(shape, n, name, what, symbolic=False):
    """``shape`` as ints and Nones (a constant's value taken); a symbolic entry (an int
    scalar) is kept where ``symbolic``, else refused."""
    if shape is None or len(shape) != n:
        raise ValueError(f"{name}: {what} must have {n} entries, got {shape!r}")
    out = []
    for a, entry in enumerate(shape):
        if entry is None or isinstance(entry, (int, np.integer)):
            out.append(None if entry is None else int(entry))
            continue
        value = getattr(entry, "data", None)
        if value is not None:
            out.append(int(value))
        elif symbolic and entry.ndim == 0 and entry.dtype[0] in "iu":
            out.append(entry)
        else:
            raise NotImplementedError(
                f"{name}: {what}[{a}] is symbolic ({entry!r}); the convolution needs it as "
                f"an int when the graph is built")
    return out


def _filled(shape, var):
    """``shape``'s None entries past the first from ``var``'s static shape."""
    known = var.type.shape or (None,) * var.ndim
    return [s if s is not None or a == 0 else known[a] for a, s in enumerate(shape)]


def _checked_grad(name, out, output_grad):
    """``output_grad`` with the forward output's shape checked where both are known."""
    want = out.type.shape or (None,) * out.ndim
    got = output_grad.type.shape or (None,) * output_grad.ndim
    if output_grad.ndim != out.ndim or any(
            w is not None and g is not None and w != g for w, g in zip(want, got)):
        raise ValueError(f"{name}: output_grad {output_grad.type} (shape {tuple(got)}) does "
                         f"not have the convolution's output shape {tuple(want)}")
    return output_grad


def _grad_wrt_inputs(name, nd, output_grad, filters, input_shape, filter_shape, border_mode,
                     subsample, filter_flip, filter_dilation, num_groups, unshared):
    output_grad, filters = t.as_tensor_variable(output_grad), t.as_tensor_variable(filters)
    shape = _entries(input_shape, nd + 2, name, "input_shape", symbolic=True)
    kshape = _filled(_entries(filter_shape, nd + 2, name, "filter_shape")
                     if filter_shape is not None else [None] * (nd + 2), filters)
    kshape = _static(kshape, filters, name)
    if shape[1] is None:
        shape[1] = kshape[1] * num_groups
    if any(s is None for s in shape[2:]):
        raise ValueError(f"{name}: input_shape's spatial entries must be given (ints or int "
                         f"scalars), got {tuple(shape)}")
    # the forward convolution of an input of that shape: its symbolic lengths are read from
    # the zeros that replace it below, so the windows follow them as the function runs
    x = t.TensorType(output_grad.dtype, tuple(s == 1 for s in shape))("conv_input")
    hint = tuple(s if s is None or isinstance(s, int) else None for s in shape)
    out = _conv(name, nd, x, filters, hint, kshape, border_mode, subsample,
                filter_flip, filter_dilation, num_groups, unshared)
    gx = late.get("grad")(None, x, known_grads={out: _checked_grad(name, out, output_grad)})
    zeros = t.zeros((shape[0] if shape[0] is not None else t.shape_of(output_grad, 0),
                     *shape[1:]), dtype=output_grad.dtype)
    return t.clone(gx, replace={x: zeros})


def _grad_wrt_weights(name, nd, input, output_grad, filter_shape, input_shape, border_mode,
                      subsample, filter_flip, filter_dilation, num_groups, unshared):
    input, output_grad = t.as_tensor_variable(input), t.as_tensor_variable(output_grad)
    kshape = _entries(filter_shape, nd + 2, name, "filter_shape")
    if any(s is None for s in kshape):
        raise NotImplementedError(f"{name}: filter_shape must be all ints, got {kshape}")
    w = t.TensorType(output_grad.dtype, tuple(s == 1 for s in kshape))("conv_filters")
    shape = (_entries(input_shape, nd + 2, name, "input_shape")
             if input_shape is not None else None)
    out = _conv(name, nd, input, w, shape, kshape, border_mode, subsample, filter_flip,
                filter_dilation, num_groups, unshared)
    gw = late.get("grad")(None, w, known_grads={out: _checked_grad(name, out, output_grad)})
    return t.clone(gw, replace={w: t.zeros(kshape, dtype=output_grad.dtype)})


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of ``conv2d``'s output (``output_grad``) with respect to its input of
    shape ``input_shape`` (batch and channels may be None; rows and columns ints): the
    transposed convolution, which upsamples ``output_grad`` with ``filters``. The other
    arguments are the forward convolution's."""
    return _grad_wrt_inputs("conv2d_grad_wrt_inputs", 2, output_grad, filters, input_shape,
                            filter_shape, border_mode, subsample, filter_flip,
                            filter_dilation, num_groups, unshared)


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                           filter_dilation=(1, 1, 1), num_groups=1):
    """``conv2d_grad_wrt_inputs`` for ``conv3d``."""
    return _grad_wrt_inputs("conv3d_grad_wrt_inputs", 3, output_grad, filters, input_shape,
                            filter_shape, border_mode, subsample, filter_flip,
                            filter_dilation, num_groups, False)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of ``conv2d``'s output (``output_grad``) with respect to its filters, of
    shape ``filter_shape`` (ints), given the input; the other arguments are the forward
    convolution's."""
    return _grad_wrt_weights("conv2d_grad_wrt_weights", 2, input, output_grad, filter_shape,
                             input_shape, border_mode, subsample, filter_flip,
                             filter_dilation, num_groups, unshared)


def conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                            filter_dilation=(1, 1, 1), num_groups=1):
    """``conv2d_grad_wrt_weights`` for ``conv3d``."""
    return _grad_wrt_weights("conv3d_grad_wrt_weights", 3, input, output_grad, filter_shape,
                             input_shape, border_mode, subsample, filter_flip,
                             filter_dilation, num_groups, False)


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1, unshared=False):
    """The transposed convolution (Theano 1.0's ``conv2d_transpose``): ``input`` (batch,
    channels, rows, columns) spread through ``filters`` (channels of the input, channels of
    the output, rows, columns) into an output of ``output_shape``, each input element
    ``input_dilation`` apart: the gradient of the ``conv2d`` that would map such an output
    to ``input`` (``subsample`` = ``input_dilation``)."""
    return _grad_wrt_inputs("conv2d_transpose", 2, input, filters, output_shape, filter_shape,
                            border_mode, input_dilation, filter_flip, filter_dilation,
                            num_groups, unshared)


def separable_conv2d(input, depthwise_filters, pointwise_filters, num_channels,
                     input_shape=None, depthwise_filter_shape=None,
                     pointwise_filter_shape=None, border_mode="valid", subsample=(1, 1),
                     filter_flip=True, filter_dilation=(1, 1)):
    """A depthwise convolution (``depthwise_filters``: (multiplier * num_channels, 1, rows,
    columns), each channel by its own filters) then a pointwise one (``pointwise_filters``:
    (output channels, multiplier * num_channels, 1, 1)), as Theano 1.0's."""
    depthwise = conv2d(input, depthwise_filters, input_shape=input_shape,
                       filter_shape=depthwise_filter_shape, border_mode=border_mode,
                       subsample=subsample, filter_flip=filter_flip,
                       filter_dilation=filter_dilation, num_groups=num_channels)
    return conv2d(depthwise, pointwise_filters, filter_shape=pointwise_filter_shape,
                  border_mode="valid", subsample=(1, 1), filter_flip=filter_flip)


def separable_conv3d(input, depthwise_filters, pointwise_filters, num_channels,
                     input_shape=None, depthwise_filter_shape=None,
                     pointwise_filter_shape=None, border_mode="valid", subsample=(1, 1, 1),
                     filter_flip=True, filter_dilation=(1, 1, 1)):
    """``separable_conv2d`` over volumes (``conv3d``'s axes)."""
    depthwise = conv3d(input, depthwise_filters, input_shape=input_shape,
                       filter_shape=depthwise_filter_shape, border_mode=border_mode,
                       subsample=subsample, filter_flip=filter_flip,
                       filter_dilation=filter_dilation, num_groups=num_channels)
    return conv3d(depthwise, pointwise_filters, filter_shape=pointwise_filter_shape,
                  border_mode="valid", subsample=(1, 1, 1), filter_flip=filter_flip)


def causal_conv1d(input, filters, filter_shape, input_shape=None, subsample=1,
                  filter_flip=True, filter_dilation=1, num_groups=1, unshared=False):
    """A (dilated) causal convolution of ``input`` (batch, channels, time) with ``filters``
    (filters, channels, length): the output at time t depends on the input up to t only
    (the input padded on the left by the dilated filter's length - 1)."""
    input, filters = t.as_tensor_variable(input), t.as_tensor_variable(filters)
    if input.ndim != 3 or filters.ndim != 3:
        raise TypeError(f"causal_conv1d: expected 3-d input and filters, got {input.type} and "
                        f"{filters.type}")
    kshape = _entries(filter_shape, 3, "causal_conv1d", "filter_shape")
    left = filter_dilation * (kshape[2] - 1)
    shape = (tuple(_entries(input_shape, 3, "causal_conv1d", "input_shape")) + (1,)
             if input_shape is not None else None)
    out = conv2d(input.dimshuffle(0, 1, 2, "x"), filters.dimshuffle(0, 1, 2, "x"),
                 input_shape=shape, filter_shape=tuple(kshape) + (1,),
                 border_mode=((left, 0), 0), subsample=(subsample, 1),
                 filter_flip=filter_flip, filter_dilation=(filter_dilation, 1),
                 num_groups=num_groups, unshared=unshared)
    return out[:, :, :, 0]


def bilinear_kernel_1D(ratio, normalize=True):
    """The 1-d kernel that upsamples by ``ratio`` with linear interpolation: 1, 2, ..., ratio,
    ..., 2, 1, divided by ``ratio`` when ``normalize``."""
    from codegen.config import config
    half = t.arange(1, ratio + 1, dtype=config.floatX)
    kern = t.concatenate([half, half[-2::-1]])
    return kern / t.cast(ratio, config.floatX) if normalize else kern


def bilinear_kernel_2D(ratio, normalize=True):
    """The 2-d kernel of bilinear upsampling: the outer product of the 1-d kernels (``ratio``
    an int, or (rows, columns))."""
    rows, cols = ratio if isinstance(ratio, tuple) else (ratio, ratio)
    return (bilinear_kernel_1D(rows, normalize).dimshuffle(0, "x")
            * bilinear_kernel_1D(cols, normalize).dimshuffle("x", 0))


def _upsample_axis(x, axis, ratio):
    """``x`` upsampled ``ratio`` times along ``axis`` as Theano's transposed convolution with
    the 1-d bilinear kernel does it, over the input with its first and last entries repeated:
    output n is w0 * g[m] + w1 * g[m - 1], where g is the extended input, m = (n + p) // r,
    k = (n + p) % r, w0 = (k + 1) / r and w1 = (r - 1 - k) / r (the kernel's two taps that
    reach n), with p = 2r - (r - 1) // 2 - 1 the convolution's border."""
    from codegen.config import config
    n = t.shape_of(x, axis)
    first = [slice(None)] * x.ndim
    last = [slice(None)] * x.ndim
    first[axis], last[axis] = slice(None, 1), slice(-1, None)
    g = t.concatenate([x[tuple(first)], x, x[tuple(last)]], axis=axis)
    pad = 2 * ratio - (ratio - 1) // 2 - 1
    spot = t.arange(n * ratio) + pad
    m, k = spot // ratio, spot % ratio
    shape = ["x"] * x.ndim
    shape[axis] = 0
    w0 = (t.cast(k + 1, config.floatX) / ratio).dimshuffle(*shape)
    w1 = (t.cast(ratio - 1 - k, config.floatX) / ratio).dimshuffle(*shape)
    return w0 * t.take(g, m, axis=axis) + w1 * t.take(g, m - 1, axis=axis)


def bilinear_upsampling(input, ratio=None, frac_ratio=None, batch_size=None,
                        num_input_channels=None, use_1D_kernel=True):
    """``input`` (batch, channels, rows, columns) upsampled ``ratio`` times along rows and
    columns by bilinear interpolation, as Theano computes it: the borders repeated once, then
    the rows and the columns each through the transposed convolution with the 1-d bilinear
    kernel (written here as the two taps each output takes, so any input shape works, known
    when the graph is built or not). ``use_1D_kernel=False`` (Theano's 2-d kernel) gives the
    same values up to rounding. An even ratio repeats the last row and column once more than
    the first, as in Theano."""
    if ratio and frac_ratio:
        raise ValueError("bilinear_upsampling: can't use ratio and frac_ratio together")
    if not (ratio or frac_ratio):
        raise ValueError("bilinear_upsampling: no ratio (or frac_ratio) provided")
    if frac_ratio:
        raise NotImplementedError("bilinear_upsampling: fractional ratios (frac_ratio) are "
                                  "not implemented")
    if not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise NotImplementedError(f"bilinear_upsampling: ratio must be a positive int, got "
                                  f"{ratio!r}")
    input = t.as_tensor_variable(input)
    if input.ndim != 4:
        raise TypeError(f"bilinear_upsampling: expected a 4-d input, got {input.type}")
    return _upsample_axis(_upsample_axis(input, 2, int(ratio)), 3, int(ratio))


class _AbstractConv:
    """Theano's abstract convolution ops as objects: the forward convolution's arguments
    given once (``imshp``, ``kshp``: the input's and the filters' shapes, entries may be
    None), then called on variables; each call builds the graph of the function it names."""

    nd = 2

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=None,
                 filter_flip=True, filter_dilation=None, num_groups=1, unshared=False):
        self.imshp, self.kshp = imshp, kshp
        self.border_mode, self.filter_flip = border_mode, filter_flip
        self.subsample = tuple(subsample) if subsample is not None else (1,) * self.nd
        self.filter_dilation = (tuple(filter_dilation) if filter_dilation is not None
                                else (1,) * self.nd)
        self.num_groups, self.unshared = num_groups, unshared

    def _args(self):
        return dict(border_mode=self.border_mode, subsample=self.subsample,
                    filter_flip=self.filter_flip, filter_dilation=self.filter_dilation,
                    num_groups=self.num_groups)

    def _input_shape(self, shape):
        """The input's shape: batch and channels from ``imshp`` (or None), the spatial
        lengths ``shape`` gives (ints, or a constant vector)."""
        if isinstance(shape, t.Constant):
            shape = shape.data
        elif isinstance(shape, t.Variable):  # a symbolic vector of nd lengths
            shape = [shape[a] for a in range(self.nd)]
        spatial = [n if isinstance(n, t.Variable) else int(n) for n in shape]
        head = list(self.imshp[:2]) if self.imshp is not None else [None, None]
        return tuple(head + spatial)

    def __repr__(self):
        return (f"{type(self).__name__}(border_mode={self.border_mode!r}, "
                f"subsample={self.subsample}, filter_flip={self.filter_flip}, "
                f"filter_dilation={self.filter_dilation}, num_groups={self.num_groups})")


class AbstractConv2d(_AbstractConv):
    """``AbstractConv2d(...)(input, filters)``: the convolution ``conv2d``."""

    def __call__(self, img, kern):
        conv = conv2d if self.nd == 2 else conv3d
        return conv(img, kern, input_shape=self.imshp, filter_shape=self.kshp,
                    unshared=self.unshared, **self._args())


class AbstractConv2d_gradInputs(_AbstractConv):  # noqa: N801 (Theano's name)
    """``AbstractConv2d_gradInputs(...)(filters, output_grad, shape)``: the transposed
    convolution, ``conv2d_grad_wrt_inputs`` to an input of spatial shape ``shape``."""

    def __call__(self, kern, topgrad, shape):
        return _grad_wrt_inputs(type(self).__name__, self.nd, topgrad, kern,
                                self._input_shape(shape), self.kshp, unshared=self.unshared,
                                **self._args())


class AbstractConv2d_gradWeights(_AbstractConv):  # noqa: N801 (Theano's name)
    """``AbstractConv2d_gradWeights(...)(input, output_grad, shape)``: the gradient with
    respect to filters of spatial shape ``shape``, ``conv2d_grad_wrt_weights``."""

    def __call__(self, img, topgrad, shape):
        spatial = self._input_shape(shape)[2:]
        kshp = (tuple(self.kshp[:2]) if self.kshp is not None else (None, None)) + spatial
        if kshp[0] is None:  # the filters: the output's channels
            kshp = (t.as_tensor_variable(topgrad).type.shape[1],) + kshp[1:]
        if kshp[1] is None:  # their channels: the input's, per group
            c = t.as_tensor_variable(img).type.shape[1]
            kshp = kshp[:1] + (None if c is None else c // self.num_groups,) + kshp[2:]
        return _grad_wrt_weights(type(self).__name__, self.nd, img, topgrad, kshp,
                                 self.imshp, unshared=self.unshared, **self._args())


class AbstractConv3d(AbstractConv2d):
    """``AbstractConv2d`` over three spatial axes (``conv3d``)."""
    nd = 3


class AbstractConv3d_gradInputs(AbstractConv2d_gradInputs):  # noqa: N801 (Theano's name)
    """``AbstractConv2d_gradInputs`` over three spatial axes."""
    nd = 3


class AbstractConv3d_gradWeights(AbstractConv2d_gradWeights):  # noqa: N801 (Theano's name)
    """``AbstractConv2d_gradWeights`` over three spatial axes."""
    nd = 3
