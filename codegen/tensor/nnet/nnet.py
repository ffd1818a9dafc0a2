"""Theano's ``theano.tensor.nnet.nnet``: the activations, softmaxes and cross-entropies of
``T.nnet``, built from primitives so they get gradients and fused code for free."""

from codegen.tensor.basic import (
    arange,
    as_tensor_variable,
    exp,
    log,
    max,
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
        # the probability of each row's label, picked by integer-array indexing (a label out
        # of range is an IndexError); its gradient is a scatter into the picked elements
        return -log(coding_dist[arange(shape_of(true_dist, 0)), true_dist])
    raise TypeError("categorical_crossentropy: true_dist must have the shape of coding_dist "
                    f"or be integer labels, one per row; got {true_dist.type} for "
                    f"{coding_dist.type}")


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """``-log(coding_dist[i, true_one_of_n[i]])`` for each row (integer labels)."""
    true_one_of_n = as_tensor_variable(true_one_of_n)
    if true_one_of_n.ndim != 1 or true_one_of_n.dtype[0] not in "iu":
        raise TypeError(f"crossentropy_categorical_1hot: true_one_of_n must be a vector of "
                        f"integer labels, got {true_one_of_n.type}")
    return categorical_crossentropy(coding_dist, true_one_of_n)


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """Theano's two-level hierarchical softmax: the outputs split into ``n_classes`` classes
    of ``n_outputs_per_class``; p(output) = p(class | x) p(output | class, x), the first a
    softmax of ``x W1 + b1``, the second of ``x W2[class] + b2[class]`` (W2: classes x
    inputs x outputs per class). Without ``target``: every output's probability (batch x
    n_outputs); with it (an int vector): only the target's, from its class's product alone."""
    from codegen.tensor import basic as t
    x = as_tensor_variable(x)
    class_probs = softmax(t.dot(x, W1) + b1)
    if target is None:
        activations = t.tensordot(x, W2, [[1], [1]]) + b2
        probs = softmax(activations.reshape((-1, n_outputs_per_class)))
        probs = class_probs.dimshuffle(0, 1, "x") * probs.reshape((batch_size, n_classes, -1))
        return probs.reshape((batch_size, -1))[:, :n_outputs]
    target = t.flatten(as_tensor_variable(target))
    classes, within = target // n_outputs_per_class, target % n_outputs_per_class
    rows = arange(batch_size)
    probs = softmax(t.batched_dot(x, W2[classes]) + b2[classes])
    return class_probs[rows, classes] * probs[rows, within]


def softmax_with_bias(x, b):
    """softmax(x + b), ``b`` a bias vector added to every row."""
    return softmax(as_tensor_variable(x) + b)


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """(the cross-entropy of softmax(x + b) against the labels y_idx, softmax(x + b))."""
    sm = softmax_with_bias(x, b)
    return crossentropy_categorical_1hot(sm, y_idx), sm


def crossentropy_softmax_1hot(x, y_idx):
    """(the cross-entropy of softmax(x) against the labels y_idx, softmax(x))."""
    sm = softmax(x)
    return crossentropy_categorical_1hot(sm, y_idx), sm


def softsign(x):
    """x / (1 + |x|)."""
    x = as_tensor_variable(x)
    return x / (1 + abs(x))


logsoftmax = log_softmax


def elu(x, alpha=1):
    """x for x > 0, alpha * (exp(x) - 1) below."""
    x = as_tensor_variable(x)
    return switch(x > 0, x, alpha * (exp(x) - 1))


def selu(x):
    """The scaled elu of Klambauer et al. (2017), Theano's constants."""
    return 1.0507009873554805 * elu(x, 1.6732632423543772)


def hard_sigmoid(x):
    """clip(0.2 x + 0.5, 0, 1), Theano's piecewise-linear sigmoid."""
    x = as_tensor_variable(x)
    y = x * 0.2 + 0.5
    return switch(y < 0, 0 * y, switch(y > 1, 0 * y + 1, y))


def ultra_fast_sigmoid(x):
    """Theano's fast approximation of the sigmoid; here the sigmoid itself (as fast in fused
    compiled loops, and exact)."""
    return sigmoid(x)


def sigmoid_binary_crossentropy(output, target):
    """binary_crossentropy(sigmoid(output), target), computed from the logits without
    overflow: softplus(output) - target * output."""
    output = as_tensor_variable(output)
    return softplus(output) - target * output


def confusion_matrix(actual, pred):
    """Theano's ``confusion_matrix``: (counts, labels), ``labels`` the distinct values of
    both vectors sorted, ``counts[i, j]`` how many times ``actual`` is labels[i] where
    ``pred`` is labels[j]."""
    from codegen.tensor import basic as t
    from codegen.tensor.extra_ops import unique
    actual, pred = t.as_tensor_variable(actual), t.as_tensor_variable(pred)
    for name, v in (("actual", actual), ("pred", pred)):
        if v.ndim != 1:
            raise ValueError(f"confusion_matrix: {name} must be a vector, got {v.type}")
    order = unique(t.concatenate([actual, pred]))
    one_hot_actual = t.cast(t.eq(actual.dimshuffle(0, "x"), order), "int64")
    one_hot_pred = t.cast(t.eq(pred.dimshuffle(0, "x"), order), "int64")
    return [t.dot(one_hot_actual.T, one_hot_pred), order]
