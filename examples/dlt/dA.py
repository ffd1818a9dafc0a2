"""A denoising autoencoder (tied weights, sigmoid units, cross-entropy of the reconstruction)
trained by minibatch SGD on inputs corrupted by a random mask drawn in the compiled module,
written as the DeepLearningTutorials write it (``dA.py``), with only the imports changed.

    python examples/dlt/dA.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys
import timeit

import numpy

import codegen as theano
import codegen.tensor as T
from codegen.tensor.shared_randomstreams import RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import load_data  # noqa: E402
from synthetic_digits import plot_curves  # noqa: E402


class dA(object):
    """Denoising autoencoder: y = s(x~ W + b), z = s(y W' + b'), W' = W.T."""

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None):
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        if not theano_rng:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        if not W:
            initial_W = numpy.asarray(numpy_rng.uniform(
                low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                size=(n_visible, n_hidden)), dtype=theano.config.floatX)
            W = theano.shared(value=initial_W, name='W', borrow=True)
        if not bvis:
            bvis = theano.shared(value=numpy.zeros(n_visible, dtype=theano.config.floatX),
                                 borrow=True)
        if not bhid:
            bhid = theano.shared(value=numpy.zeros(n_hidden, dtype=theano.config.floatX),
                                 name='b', borrow=True)
        self.W = W
        self.b = bhid
        self.b_prime = bvis
        self.W_prime = self.W.T
        self.theano_rng = theano_rng
        if input is None:
            self.x = T.dmatrix(name='input')
        else:
            self.x = input
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):
        """The input with a share ``corruption_level`` of its entries set to zero."""
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def get_hidden_values(self, input):
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, corruption_level, learning_rate):
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        L = - T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        updates = [(param, param - learning_rate * gparam)
                   for param, gparam in zip(self.params, gparams)]
        return (cost, updates)


def build_model(train_set_x, corruption_level, learning_rate, batch_size, n_hidden,
                n_visible=28 * 28, seed=123):
    """(da, train_da) as the tutorial compiles them."""
    index = T.lscalar()
    x = T.matrix('x')
    rng = numpy.random.RandomState(seed)
    theano_rng = RandomStreams(rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_visible,
            n_hidden=n_hidden)
    cost, updates = da.get_cost_updates(corruption_level=corruption_level,
                                        learning_rate=learning_rate)
    train_da = theano.function([index], cost, updates=updates,
                               givens={x: train_set_x[index * batch_size:
                                                      (index + 1) * batch_size]})
    return da, train_da


def test_dA(learning_rate=0.1, training_epochs=10, batch_size=20, n_hidden=500,
            datasets=None, png=None):
    """Train without and with 30% corruption; returns the history {curve: (epochs, costs)}."""
    datasets = datasets or load_data()
    train_set_x, train_set_y = datasets[0]
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    history = {}
    for corruption_level in (0., 0.3):
        da, train_da = build_model(train_set_x, corruption_level, learning_rate, batch_size,
                                   n_hidden)
        start_time = timeit.default_timer()
        name = 'corruption %d%%' % (corruption_level * 100)
        history[name] = ([], [])
        for epoch in range(training_epochs):
            c = [train_da(batch_index) for batch_index in range(n_train_batches)]
            print('Training epoch %d, cost ' % epoch, numpy.mean(c))
            history[name][0].append(epoch + 1)
            history[name][1].append(float(numpy.mean(c)))
        end_time = timeit.default_timer()
        print('The %d%% corruption code ran for %.2fm' %
              (corruption_level * 100, (end_time - start_time) / 60.))
    if png:
        plot_curves(png, 'denoising autoencoder (examples/dlt/dA.py)', history,
                    ylabel='reconstruction cross-entropy')
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'dA.png'))
    args = parser.parse_args()
    test_dA(training_epochs=args.epochs, png=args.png)
