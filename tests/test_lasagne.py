"""Lasagne 0.1, a library written against Theano, unchanged on codegen: its own
``import theano`` answered by ``codegen.install_as_theano()``. A convolutional network with
dropout and a masked, gradient-clipped LSTM train through Lasagne's layers and update rules,
compiled, step for step as in the reference interpreter; the MLP's first step against numpy.
(``make lasagne`` runs Lasagne's own test suite the same way.)"""

import numpy as np
import pytest

import codegen

codegen.install_as_theano()
lasagne = pytest.importorskip("lasagne")
import theano  # noqa: E402  (codegen itself, as Lasagne sees it)
import theano.tensor as T  # noqa: E402

L = lasagne.layers


def _compare(build, batches, steps=3):
    """Train the network ``build()`` returns (a train function and the parameters)
    compiled and in the reference interpreter, from the same initial values: the same
    costs and parameters after each step."""
    runs = {}
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        lasagne.random.set_rng(np.random.RandomState(1))
        train, params = build(mode)
        costs = [float(train(*batches[k % len(batches)])) for k in range(steps)]
        runs[mode] = costs, [p.get_value() for p in params]
    (compiled, compiled_params), (reference, reference_params) = runs.values()
    np.testing.assert_allclose(compiled, reference, rtol=1e-10)
    for got, expected in zip(compiled_params, reference_params):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert compiled[-1] < compiled[0]
    return compiled


def test_a_conv_net_with_dropout_trains_as_in_the_reference():
    rng = np.random.RandomState(0)
    images = rng.rand(3, 16, 1, 10, 10)
    labels = rng.randint(0, 4, (3, 16)).astype("int32")

    def build(mode):
        x, y = T.tensor4("x"), T.ivector("y")
        net = L.InputLayer((None, 1, 10, 10), x)
        net = L.Conv2DLayer(net, num_filters=4, filter_size=(3, 3), pad=1)
        net = L.MaxPool2DLayer(net, pool_size=(2, 2))
        net = L.DropoutLayer(net, p=0.25)
        net = L.DenseLayer(net, num_units=4, nonlinearity=lasagne.nonlinearities.softmax)
        loss = lasagne.objectives.categorical_crossentropy(L.get_output(net), y).mean()
        params = L.get_all_params(net, trainable=True)
        updates = lasagne.updates.nesterov_momentum(loss, params, learning_rate=0.1)
        return theano.function([x, y], loss, updates=updates, mode=mode), params

    _compare(build, list(zip(images, labels)))


def test_a_masked_lstm_with_clipped_gradients_trains_as_in_the_reference():
    """Lasagne's LSTMLayer: a scan over time with strict=True, whose stacked gate weights
    are computed outside the step, a mask, and gradient clipping; adam updates."""
    rng = np.random.RandomState(0)
    seqs = rng.rand(1, 4, 6, 2)
    masks = np.ones((1, 4, 6))
    masks[:, 1, 4:] = 0  # a shorter sequence
    targets = rng.rand(1, 4)

    def build(mode):
        x, m, t = T.tensor3("x"), T.matrix("m"), T.vector("t")
        net = L.InputLayer((None, 6, 2), x)
        mask = L.InputLayer((None, 6), m)
        net = L.LSTMLayer(net, 5, mask_input=mask, grad_clipping=1.0)
        net = L.SliceLayer(net, -1, 1)
        net = L.DenseLayer(net, 1, nonlinearity=lasagne.nonlinearities.tanh)
        loss = T.mean((L.get_output(net)[:, 0] - t) ** 2)
        params = L.get_all_params(net)
        updates = lasagne.updates.adam(loss, params, learning_rate=0.01)
        return theano.function([x, t, m], loss, updates=updates, mode=mode), params

    _compare(build, [(seqs[0], targets[0], masks[0])], steps=4)  # one batch: its cost falls


def test_an_mlps_first_step_against_numpy():
    """Lasagne's DenseLayers and sgd, compiled: the cost and the updated weights of one
    step against the same arithmetic in numpy."""
    rng = np.random.RandomState(0)
    xv, yv = rng.rand(8, 5), rng.randint(0, 3, 8).astype("int32")
    x, y = T.matrix("x"), T.ivector("y")
    hidden = L.DenseLayer(L.InputLayer((None, 5), x), 6)  # rectify
    out = L.DenseLayer(hidden, 3, nonlinearity=lasagne.nonlinearities.softmax)
    loss = lasagne.objectives.categorical_crossentropy(L.get_output(out), y).mean()
    params = L.get_all_params(out)
    w1, b1, w2, b2 = [p.get_value() for p in params]
    train = theano.function([x, y], loss,
                            updates=lasagne.updates.sgd(loss, params, learning_rate=0.5))
    cost = train(xv, yv)
    h = np.maximum(xv @ w1 + b1, 0)
    z = h @ w2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert abs(cost - np.mean(-np.log(p[np.arange(8), yv]))) < 1e-12
    dz = p.copy()
    dz[np.arange(8), yv] -= 1
    dz /= 8
    dh = (dz @ w2.T) * (h > 0)
    np.testing.assert_allclose(params[2].get_value(), w2 - 0.5 * h.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(params[0].get_value(), w1 - 0.5 * xv.T @ dh, rtol=1e-12)
