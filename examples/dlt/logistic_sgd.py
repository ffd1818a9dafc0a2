"""Logistic regression trained by minibatch stochastic gradient descent, written as the
DeepLearningTutorials write it (``logistic_sgd.py``), with only the imports changed: the
model is a class over symbolic variables, minibatches come from the shared dataset through
``givens``, and training stops early when the validation error stops improving.

    python examples/dlt/logistic_sgd.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys
import timeit

import numpy

import codegen as theano
import codegen.tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_digits import make_digits, plot_curves  # noqa: E402


class LogisticRegression(object):
    """Multi-class logistic regression: P(Y = i | x) = softmax_i(x W + b)."""

    def __init__(self, input, n_in, n_out):
        self.W = theano.shared(value=numpy.zeros((n_in, n_out), dtype=theano.config.floatX),
                               name='W', borrow=True)
        self.b = theano.shared(value=numpy.zeros((n_out,), dtype=theano.config.floatX),
                               name='b', borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """The mean over the minibatch of -log P(Y = y | x): the log-probabilities of the
        right classes picked by integer-array indexing."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """The share of the minibatch the model gets wrong."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError('y should have the same shape as self.y_pred',
                            ('y', y.type, 'y_pred', self.y_pred.type))
        if y.dtype.startswith('int'):
            return T.mean(T.neq(self.y_pred, y))
        raise NotImplementedError()


def shared_dataset(data_xy, borrow=True):
    """The dataset in shared variables (the module's state): inputs, and labels as floatX
    cast to int32 where they index."""
    data_x, data_y = data_xy
    shared_x = theano.shared(numpy.asarray(data_x, dtype=theano.config.floatX), borrow=borrow)
    shared_y = theano.shared(numpy.asarray(data_y, dtype=theano.config.floatX), borrow=borrow)
    return shared_x, T.cast(shared_y, 'int32')


def load_data(n_train=5000, n_valid=1000, n_test=1000):
    """[(train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y)] of
    the synthetic digits (the tutorial loads MNIST), in shared variables: the labels stored
    as floatX and used through ``T.cast(shared_y, 'int32')``."""
    print('... making the data')
    sets = [make_digits(n, seed) for n, seed in ((n_train, 1), (n_valid, 2), (n_test, 3))]
    return [shared_dataset(s) for s in sets]


def build_model(datasets, learning_rate, batch_size, n_in=28 * 28, n_out=10):
    """(classifier, train_model, validate_model, test_model) as the tutorial compiles them."""
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix('x')  # rasterized images
    y = T.ivector('y')  # labels
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=n_out)
    cost = classifier.negative_log_likelihood(y)
    test_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: test_set_x[index * batch_size: (index + 1) * batch_size],
                y: test_set_y[index * batch_size: (index + 1) * batch_size]})
    validate_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                y: valid_set_y[index * batch_size: (index + 1) * batch_size]})
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    updates = [(classifier.W, classifier.W - learning_rate * g_W),
               (classifier.b, classifier.b - learning_rate * g_b)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})
    return classifier, train_model, validate_model, test_model


def sgd_optimization(learning_rate=0.13, n_epochs=30, batch_size=600, datasets=None,
                     png=None):
    """Train with early stopping; returns the history {curve: (epochs, errors in %)}."""
    datasets = datasets or load_data()
    n_train_batches = datasets[0][0].get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = datasets[1][0].get_value(borrow=True).shape[0] // batch_size
    n_test_batches = datasets[2][0].get_value(borrow=True).shape[0] // batch_size

    print('... building the model')
    classifier, train_model, validate_model, test_model = build_model(
        datasets, learning_rate, batch_size)

    print('... training the model')
    patience = 5000  # look at this many examples regardless
    patience_increase = 2  # wait this much longer when a new best is found
    improvement_threshold = 0.995  # a relative improvement of this much is significant
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = numpy.inf
    test_score = 0.
    history = {'validation': ([], []), 'test of the best model': ([], [])}
    start_time = timeit.default_timer()
    done_looping = False
    epoch = 0
    while (epoch < n_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_model(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if (iter + 1) % validation_frequency == 0:
                validation_losses = [validate_model(i) for i in range(n_valid_batches)]
                this_validation_loss = numpy.mean(validation_losses)
                print('epoch %i, minibatch %i/%i, validation error %f %%' %
                      (epoch, minibatch_index + 1, n_train_batches,
                       this_validation_loss * 100.))
                history['validation'][0].append(epoch)
                history['validation'][1].append(this_validation_loss * 100.)
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    test_losses = [test_model(i) for i in range(n_test_batches)]
                    test_score = numpy.mean(test_losses)
                    print(('     epoch %i, minibatch %i/%i, test error of best model %f %%') %
                          (epoch, minibatch_index + 1, n_train_batches, test_score * 100.))
                    history['test of the best model'][0].append(epoch)
                    history['test of the best model'][1].append(test_score * 100.)
            if patience <= iter:
                done_looping = True
                break
    end_time = timeit.default_timer()
    print('Optimization complete with best validation score of %f %%, with test performance '
          '%f %%' % (best_validation_loss * 100., test_score * 100.))
    print('The code ran for %d epochs, with %f epochs/sec' %
          (epoch, 1. * epoch / (end_time - start_time)))
    if png:
        plot_curves(png, 'logistic regression (examples/dlt/logistic_sgd.py)', history)
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__),
                                                      'logistic_sgd.png'))
    args = parser.parse_args()
    sgd_optimization(n_epochs=args.epochs, png=args.png)
