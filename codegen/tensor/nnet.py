"""Neural-network functions (``T.nnet``), built from primitives so they get gradients and
fused code for free."""

from codegen.tensor.basic import (
    arange,
    as_tensor_variable,
    cast,
    dimshuffle,
    eq,
    exp,
    log,
    max,
    mean,
    shape_of,
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


def _as_rows(x):
    """A vector as a 1 x n matrix, as Theano's softmax takes and gives it."""
    x = as_tensor_variable(x)
    return x.dimshuffle("x", 0) if x.ndim == 1 else x


def softmax(x):
    """exp(x) / sum(exp(x)) along the last axis, shifted by the row max for stability; a
    vector gives a 1 x n matrix, as in Theano."""
    e = exp(_shifted(_as_rows(x)))
    return e / sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    """log(softmax(x)) computed without overflow or log(0) (a vector gives 1 x n)."""
    z = _shifted(_as_rows(x))
    return z - log(sum(exp(z), axis=-1, keepdims=True))


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    return -(target * log(output) + (1 - target) * log(1 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy of each row of ``coding_dist`` (probabilities, last axis).

    ``true_dist`` is a distribution of the same shape (one-hot or soft), or a vector of
    integer class labels, one per row: then the result is ``-log(coding_dist[i, label_i])``.
    """
    coding_dist, true_dist = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return -sum(true_dist * log(coding_dist), axis=-1)
    if coding_dist.ndim == 2 and true_dist.ndim == 1 and not true_dist.dtype.startswith("float"):
        classes = arange(shape_of(coding_dist, 1))
        one_hot = cast(eq(dimshuffle(true_dist, (0, "x")), dimshuffle(classes, ("x", 0))),
                       coding_dist.dtype)
        return -sum(one_hot * log(coding_dist), axis=-1)
    raise TypeError("categorical_crossentropy: true_dist must have the shape of coding_dist "
                    f"or be integer labels, one per row; got {true_dist.type} for "
                    f"{coding_dist.type}")


__all__ = ["relu", "softmax", "log_softmax", "binary_crossentropy", "categorical_crossentropy",
           "sigmoid", "softplus", "mean"]


#: Theano's nnet APIs that codegen does not have yet
_MISSING = ("conv2d", "conv", "neighbours", "crossentropy_softmax_1hot", "categorical_crossentropy",
            "h_softmax", "bn", "batch_normalization", "ctc", "elu", "selu", "hard_sigmoid",
            "ultra_fast_sigmoid", "sigmoid_binary_crossentropy", "abstract_conv", "conv3d")


def __getattr__(name):
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor.nnet", name, _MISSING)
