"""Neural-network functions (``T.nnet``), built from primitives so they get gradients and
fused code for free."""

from codegen.tensor.basic import (
    as_tensor_variable,
    exp,
    log,
    max,
    mean,
    sigmoid,
    softplus,
    sum,
    switch,
    zero_grad,
)


def relu(x, alpha=0):
    """max(x, 0); ``alpha`` gives the leaky slope for x < 0. Gradient at 0 is ``alpha``."""
    x = as_tensor_variable(x)
    return switch(x > 0, x, x * alpha if alpha else 0 * x)


def _shifted(x):
    # the shift by the max makes exp safe; it cancels mathematically, so no gradient flows
    return x - zero_grad(max(x, axis=-1, keepdims=True))


def softmax(x):
    """exp(x) / sum(exp(x)) along the last axis, shifted by the row max for stability."""
    e = exp(_shifted(as_tensor_variable(x)))
    return e / sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    """log(softmax(x)) computed without overflow or log(0)."""
    z = _shifted(as_tensor_variable(x))
    return z - log(sum(exp(z), axis=-1, keepdims=True))


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    return -(target * log(output) + (1 - target) * log(1 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """-sum(true_dist * log(coding_dist)) over the last axis; true_dist is one-hot or soft."""
    coding_dist, true_dist = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if true_dist.ndim != coding_dist.ndim:
        raise TypeError("categorical_crossentropy: true_dist must be a distribution with the "
                        f"ndim of coding_dist ({coding_dist.ndim}), got {true_dist.ndim}-d; "
                        "integer labels are not supported yet")
    return -sum(true_dist * log(coding_dist), axis=-1)


__all__ = ["relu", "softmax", "log_softmax", "binary_crossentropy", "categorical_crossentropy",
           "sigmoid", "softplus", "mean"]
