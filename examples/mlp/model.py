"""The tutorial's Layer and MLP classes and momentum updates, written for Theano, run on codegen.

Data points are the columns of X, as in the tutorial.
"""

import numpy as np
from data import make_data as _make_data

import codegen as theano
import codegen.tensor as T


class Layer(object):
    def __init__(self, W_init, b_init, activation):
        n_output, n_input = W_init.shape
        assert b_init.shape == (n_output,)
        self.W = theano.shared(value=W_init.astype(theano.config.floatX), name='W', borrow=True)
        self.b = theano.shared(value=b_init.reshape(n_output, 1).astype(theano.config.floatX),
                               name='b', borrow=True, broadcastable=(False, True))
        self.activation = activation
        self.params = [self.W, self.b]

    def output(self, x):
        lin_output = T.dot(self.W, x) + self.b
        return (lin_output if self.activation is None else self.activation(lin_output))


class MLP(object):
    def __init__(self, W_init, b_init, activations):
        assert len(W_init) == len(b_init) == len(activations)
        self.layers = []
        for W, b, activation in zip(W_init, b_init, activations):
            self.layers.append(Layer(W, b, activation))
        self.params = []
        for layer in self.layers:
            self.params += layer.params

    def output(self, x):
        for layer in self.layers:
            x = layer.output(x)
        return x

    def squared_error(self, x, y):
        return T.sum((self.output(x) - y)**2)


def gradient_updates_momentum(cost, params, learning_rate, momentum):
    assert momentum < 1 and momentum >= 0
    updates = []
    for param in params:
        param_update = theano.shared(param.get_value()*0., broadcastable=param.broadcastable)
        updates.append((param, param - learning_rate*param_update))
        updates.append((param_update,
                        momentum*param_update + (1. - momentum)*T.grad(cost, param)))
    return updates


def make_data(N=1000, seed=0):
    """The tutorial's two Gaussian clouds, in floatX."""
    return _make_data(N, seed, theano.config.floatX)


def build_mlp(X, seed=0):
    layer_sizes = [X.shape[0], X.shape[0]*2, 1]
    rng = np.random.RandomState(seed)
    W_init, b_init, activations = [], [], []
    for n_input, n_output in zip(layer_sizes[:-1], layer_sizes[1:]):
        W_init.append(rng.randn(n_output, n_input))
        b_init.append(np.ones(n_output))
        activations.append(T.nnet.sigmoid)
    return MLP(W_init, b_init, activations)
