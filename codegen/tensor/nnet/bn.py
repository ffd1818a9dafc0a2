"""Batch normalization as Theano's ``theano.tensor.nnet.bn`` writes it: composed of means,
variances and elementwise ops, so it fuses into the surrounding kernels and its gradients
come from theirs."""

import numpy as np

from codegen.config import config
from codegen.tensor import basic as tensor
from codegen.tensor.basic import addbroadcast, as_tensor_variable, cast, inv, shape_of, sqrt


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta``; the parameters broadcast against
    ``inputs``. Both of Theano's modes compute the same values."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', "
                         f"got {mode!r}")
    inputs, gamma, beta, mean, std = (as_tensor_variable(v)
                                      for v in (inputs, gamma, beta, mean, std))
    return (inputs - mean) * (gamma / std) + beta


def _axes(axes, ndim, name):
    """The normalized axes (sorted) and the others, from 'per-activation' (axis 0),
    'spatial' (0 and every axis past the second) or a sequence of ints."""
    if isinstance(axes, str):
        if axes not in ("per-activation", "spatial"):
            raise ValueError(f"{name}: axes must be 'per-activation', 'spatial' or a tuple "
                             f"of ints, got {axes!r}")
        axes = (0,) if axes == "per-activation" else (0,) + tuple(range(2, ndim))
    axes = tuple(sorted(int(a) for a in axes))
    if not axes or axes[0] < 0 or axes[-1] >= ndim or len(set(axes)) != len(axes):
        raise ValueError(f"{name}: axes must be distinct axes of the {ndim}-dimensional "
                         f"inputs, at least one, got {axes}")
    return axes, tuple(a for a in range(ndim) if a not in axes)


def _broadcast_params(params, names, axes, kept, ndim, name):
    """Each parameter with ``inputs``' dimensions: one with only the kept axes gets the
    normalized ones inserted with length 1; one with all of them has those marked
    broadcastable (checked to be 1 long at run time). Also says which form was given."""
    params = [as_tensor_variable(p) for p in params]
    short = params[0].ndim != ndim
    want = len(kept) if short else ndim
    for p, n in zip(params, names):
        if p.ndim != want:
            raise ValueError(f"{name}: {n} must have {len(kept)} dimensions (the axes not "
                             f"normalized) or {ndim} (as the inputs), like {names[0]}; "
                             f"got {p.ndim}")
    if short:
        pattern = ["x"] * ndim
        for i, a in enumerate(kept):
            pattern[a] = i
        return [p.dimshuffle(pattern) for p in params], short
    return [addbroadcast(p, *axes) for p in params], short


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalize ``inputs`` by their own mean and variance over ``axes``: returns
    ``(out, mean, invstd)``, and with ``running_mean`` and ``running_var`` also their new
    values, ``running * (1 - factor) + batch * factor`` (the variance unbiased by
    m / (m - 1), m the number of elements averaged). ``mean`` and ``invstd`` have the
    parameters' layout."""
    inputs = as_tensor_variable(inputs)
    name, ndim = "batch_normalization_train", inputs.ndim
    axes, kept = _axes(axes, ndim, name)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{name}: running_mean and running_var must both be given or both "
                         f"be None")
    params = [gamma, beta] + ([running_mean, running_var] if running_mean is not None else [])
    names = ["gamma", "beta", "running_mean", "running_var"][:len(params)]
    params, short = _broadcast_params(params, names, axes, kept, ndim, name)
    mean = tensor.mean(inputs, axes, keepdims=True)
    var = tensor.var(inputs, axes, keepdims=True)
    eps = np.asarray(epsilon, dtype=config.floatX)
    invstd = inv(sqrt(var + eps))
    out = (inputs - mean) * params[0] * invstd + params[1]
    results = [mean, invstd]
    if running_mean is not None:
        factor = np.asarray(running_average_factor, dtype=config.floatX)
        m = cast(shape_of(inputs, axes[0]), inputs.dtype)
        for a in axes[1:]:
            m = m * cast(shape_of(inputs, a), inputs.dtype)
        results += [params[2] * (1 - factor) + mean * factor,
                    params[3] * (1 - factor) + (m / (m - 1)) * var * factor]
    if short:
        results = [r.dimshuffle(kept) for r in results]
    return tuple([out] + results)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """Normalize ``inputs`` by the given ``mean`` and ``var`` (running averages, mostly):
    ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``."""
    inputs = as_tensor_variable(inputs)
    name, ndim = "batch_normalization_test", inputs.ndim
    axes, kept = _axes(axes, ndim, name)
    (gamma, beta, mean, var), _ = _broadcast_params(
        [gamma, beta, mean, var], ["gamma", "beta", "mean", "var"], axes, kept, ndim, name)
    eps = np.asarray(epsilon, dtype=config.floatX)
    return (inputs - mean) * gamma / sqrt(var + eps) + beta


__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
