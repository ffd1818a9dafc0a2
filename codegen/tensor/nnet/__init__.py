"""Neural-network functions (``T.nnet``), built from primitives so they get gradients and
fused code for free. The modules are Theano's: ``nnet`` (activations, softmaxes,
cross-entropies), ``sigm``, ``conv`` (the older conv2d), ``abstract_conv``, ``bn``,
``neighbours``, ``ctc``."""

from codegen.tensor.basic import mean, sigmoid, softplus
from codegen.tensor.conv import conv2d, conv3d
from codegen.tensor.nnet import abstract_conv, bn, conv, conv3d2d, ctc, neighbours, nnet, sigm
from codegen.tensor.nnet.abstract_conv import conv2d_transpose, separable_conv2d, separable_conv3d
from codegen.tensor.nnet.bn import batch_normalization
from codegen.tensor.nnet.neighbours import images2neibs, neibs2images
from codegen.tensor.nnet.nnet import (
    binary_crossentropy,
    categorical_crossentropy,
    confusion_matrix,
    crossentropy_categorical_1hot,
    crossentropy_softmax_1hot,
    crossentropy_softmax_1hot_with_bias,
    elu,
    h_softmax,
    hard_sigmoid,
    log_softmax,
    logsoftmax,
    relu,
    selu,
    sigmoid_binary_crossentropy,
    softmax,
    softmax_with_bias,
    softsign,
    ultra_fast_sigmoid,
)

__all__ = ["relu", "softmax", "log_softmax", "binary_crossentropy", "categorical_crossentropy",
           "crossentropy_categorical_1hot", "softmax_with_bias", "crossentropy_softmax_1hot",
           "crossentropy_softmax_1hot_with_bias", "softsign", "logsoftmax",
           "sigmoid", "softplus", "mean", "elu", "selu", "hard_sigmoid", "ultra_fast_sigmoid",
           "sigmoid_binary_crossentropy", "conv2d", "conv3d", "conv", "bn", "batch_normalization",
           "abstract_conv", "neighbours", "images2neibs", "neibs2images", "h_softmax", "nnet",
           "sigm", "conv3d2d", "confusion_matrix", "conv2d_transpose", "separable_conv2d",
           "separable_conv3d", "ctc"]


#: Theano's nnet APIs that codegen does not have yet
_MISSING = ()


def __getattr__(name):
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor.nnet", name, _MISSING)
