"""Logistic regression trained by conjugate gradients (scipy.optimize.fmin_cg), written as
the DeepLearningTutorials write it (``logistic_cg.py``), with only the imports changed: the
parameters are one shared vector theta, W and b are views of it (a slice reshaped, and a
slice), and scipy drives the optimisation through compiled functions of the minibatch offset
that return the cost and the gradient with respect to theta.

    python examples/dlt/logistic_cg.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys
import timeit

import numpy

import codegen as theano
import codegen.tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import load_data  # noqa: E402
from synthetic_digits import plot_curves  # noqa: E402


class LogisticRegression(object):
    """Multi-class logistic regression, P(Y = i | x) = softmax_i(x W + b), with W and b
    stored together in the shared vector theta."""

    def __init__(self, input, n_in, n_out):
        # theta = (W, b), initialised with 0s: n_in * n_out + n_out elements
        self.theta = theano.shared(
            value=numpy.zeros(n_in * n_out + n_out, dtype=theano.config.floatX),
            name='theta', borrow=True)
        # W is the first n_in * n_out elements of theta, b the last n_out
        self.W = self.theta[0:n_in * n_out].reshape((n_in, n_out))
        self.b = self.theta[n_in * n_out:n_in * n_out + n_out]
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError('y should have the same shape as self.y_pred',
                            ('y', y.type, 'y_pred', self.y_pred.type))
        if y.dtype.startswith('int'):
            return T.mean(T.neq(self.y_pred, y))
        raise NotImplementedError()


def build_model(datasets, batch_size, n_in=28 * 28, n_out=10):
    """(classifier, batch_cost, batch_grad, validate_model, test_model), each compiled as
    the tutorial compiles it: a function of the minibatch's offset into the shared data."""
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    minibatch_offset = T.lscalar()  # offset to the start of a [mini]batch
    x = T.matrix()  # rasterized images
    y = T.ivector()  # labels
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=n_out)
    cost = classifier.negative_log_likelihood(y).mean()

    def givens(set_x, set_y):
        return {x: set_x[minibatch_offset:minibatch_offset + batch_size],
                y: set_y[minibatch_offset:minibatch_offset + batch_size]}

    test_model = theano.function([minibatch_offset], classifier.errors(y),
                                 givens=givens(test_set_x, test_set_y), name="test")
    validate_model = theano.function([minibatch_offset], classifier.errors(y),
                                     givens=givens(valid_set_x, valid_set_y), name="validate")
    batch_cost = theano.function([minibatch_offset], cost,
                                 givens=givens(train_set_x, train_set_y), name="batch_cost")
    batch_grad = theano.function([minibatch_offset], T.grad(cost, classifier.theta),
                                 givens=givens(train_set_x, train_set_y), name="batch_grad")
    return classifier, batch_cost, batch_grad, validate_model, test_model


def cg_optimization(n_epochs=50, batch_size=600, datasets=None, png=None):
    """Minimise the mean training cost with fmin_cg; returns the history {curve: (epochs,
    errors in %)} and theta at the end."""
    datasets = datasets or load_data()
    n_train_batches = datasets[0][0].get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = datasets[1][0].get_value(borrow=True).shape[0] // batch_size
    n_test_batches = datasets[2][0].get_value(borrow=True).shape[0] // batch_size
    n_in, n_out = 28 * 28, 10

    print('... building the model')
    classifier, batch_cost, batch_grad, validate_model, test_model = build_model(
        datasets, batch_size, n_in, n_out)

    def train_fn(theta_value):
        """The mean cost over the training set at theta_value."""
        classifier.theta.set_value(theta_value, borrow=True)
        train_losses = [batch_cost(i * batch_size) for i in range(n_train_batches)]
        return numpy.mean(train_losses)

    def train_fn_grad(theta_value):
        """The mean gradient over the training set at theta_value."""
        classifier.theta.set_value(theta_value, borrow=True)
        grad = batch_grad(0)
        for i in range(1, n_train_batches):
            grad += batch_grad(i * batch_size)
        return grad / n_train_batches

    validation_scores = [numpy.inf, 0]
    history = {'validation': ([], []), 'test of the best model': ([], [])}

    def callback(theta_value):
        classifier.theta.set_value(theta_value, borrow=True)
        validation_losses = [validate_model(i * batch_size) for i in range(n_valid_batches)]
        this_validation_loss = numpy.mean(validation_losses)
        epoch = len(history['validation'][0]) + 1
        print('validation error %f %%' % (this_validation_loss * 100.,))
        history['validation'][0].append(epoch)
        history['validation'][1].append(this_validation_loss * 100.)
        if this_validation_loss < validation_scores[0]:
            validation_scores[0] = this_validation_loss
            test_losses = [test_model(i * batch_size) for i in range(n_test_batches)]
            validation_scores[1] = numpy.mean(test_losses)
            history['test of the best model'][0].append(epoch)
            history['test of the best model'][1].append(validation_scores[1] * 100.)

    import scipy.optimize
    print("Optimizing using scipy.optimize.fmin_cg...")
    start_time = timeit.default_timer()
    best_w_b = scipy.optimize.fmin_cg(
        f=train_fn,
        x0=numpy.zeros((n_in + 1) * n_out, dtype=theano.config.floatX),
        fprime=train_fn_grad,
        callback=callback,
        disp=0,
        maxiter=n_epochs)
    end_time = timeit.default_timer()
    print(('Optimization complete with best validation score of %f %%, with test performance '
           '%f %%') % (validation_scores[0] * 100., validation_scores[1] * 100.))
    print('The code ran for %.1fs' % (end_time - start_time), file=sys.stderr)
    if png:
        plot_curves(png, 'conjugate gradients (examples/dlt/logistic_cg.py)', history)
    return history, best_w_b


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=50)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__),
                                                      'logistic_cg.png'))
    args = parser.parse_args()
    cg_optimization(n_epochs=args.epochs, png=args.png)
