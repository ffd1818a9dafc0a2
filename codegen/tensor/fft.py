"""``theano.tensor.fft``: the real FFT of a batch of signals and its inverse, as Theano
has them (real and imaginary parts on a last axis of 2), with their gradients. Compiled,
they are FFTs along each axis (``codegen.ops.fft``); the reference interpreter runs numpy's
(``codegen.ops.valued``).

>>> import numpy as np, codegen, codegen.tensor as T
>>> from codegen.tensor import fft
>>> x = T.dmatrix('x')
>>> f = codegen.function([x], fft.rfft(x), mode='FAST_COMPILE')
>>> f(np.array([[1.0, 2.0, 3.0, 4.0]]))[0]
array([[10.,  0.],
       [-2.,  2.],
       [-2.,  0.]])
"""

from codegen.ops.valued import NumpyOp
from codegen.tensor.basic import as_tensor_variable, cast, prod, shape_of, sqrt, stack


def _unitary(norm):
    if norm not in (None, "ortho", "no_norm"):
        raise ValueError(f"fft: norm must be None, 'ortho' or 'no_norm', got {norm!r}")
    return norm


def _points(lengths, dtype):
    return cast(prod(stack(lengths)), dtype)


def rfft(inp, norm=None):
    """The FFT of each real signal ``inp[i]`` (1 to n dimensions after the batch axis):
    shape ``(batch, d1, ..., dn // 2 + 1, 2)``, the real and imaginary parts on the last axis.
    ``norm``: None (no scaling), 'ortho' (divided by the square root of the number of
    points) or 'no_norm'."""
    inp = as_tensor_variable(inp)
    if inp.ndim < 2:
        raise TypeError(f"rfft: expected a batch of signals (2 or more dimensions), got "
                        f"{inp.type} ({inp.label()})")
    out = NumpyOp("rfft")(inp)
    if _unitary(norm) == "ortho":
        lengths = [shape_of(inp, a) for a in range(1, inp.ndim)]
        out = out / sqrt(_points(lengths, inp.dtype))
    return out


def irfft(inp, norm=None, is_odd=False):
    """The real signals whose FFTs (as ``rfft`` gives them) are ``inp``: the last signal axis
    ``2 (m - 1)`` long, or ``2 (m - 1) + 1`` with ``is_odd``, for m frequencies. ``norm``:
    None (divided by the number of points, numpy's ``irfftn``), 'ortho' (by its square root)
    or 'no_norm'."""
    inp = as_tensor_variable(inp)
    if inp.ndim < 3:
        raise TypeError(f"irfft: expected a batch of spectra (3 or more dimensions, the last "
                        f"of length 2), got {inp.type} ({inp.label()})")
    last = (shape_of(inp, inp.ndim - 2) - 1) * 2 + (1 if is_odd else 0)
    out = NumpyOp("irfft", odd=int(bool(is_odd)))(inp, last)
    norm = _unitary(norm)
    if norm != "no_norm":
        lengths = [shape_of(inp, a) for a in range(1, inp.ndim - 2)] + [last]
        points = _points(lengths, inp.dtype)
        out = out / (points if norm is None else sqrt(points))
    return out


__all__ = ["irfft", "rfft"]
