"""A multilayer perceptron (one tanh hidden layer, a softmax layer on top, L1 and L2
penalties) trained by minibatch SGD with early stopping, written as the DeepLearningTutorials
write it (``mlp.py``), with only the imports changed.

    python examples/dlt/mlp.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys
import timeit

import numpy

import codegen as theano
import codegen.tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import LogisticRegression, load_data  # noqa: E402
from synthetic_digits import plot_curves  # noqa: E402


class HiddenLayer(object):
    """A fully connected layer: activation(input W + b), W drawn uniformly in
    +-sqrt(6 / (n_in + n_out)) (four times that for the sigmoid)."""

    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=T.tanh):
        self.input = input
        if W is None:
            W_values = numpy.asarray(
                rng.uniform(low=-numpy.sqrt(6. / (n_in + n_out)),
                            high=numpy.sqrt(6. / (n_in + n_out)), size=(n_in, n_out)),
                dtype=theano.config.floatX)
            if activation == theano.tensor.nnet.sigmoid:
                W_values *= 4
            W = theano.shared(value=W_values, name='W', borrow=True)
        if b is None:
            b_values = numpy.zeros((n_out,), dtype=theano.config.floatX)
            b = theano.shared(value=b_values, name='b', borrow=True)
        self.W = W
        self.b = b
        lin_output = T.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]


class MLP(object):
    """One hidden layer of tanh units under a logistic regression layer."""

    def __init__(self, rng, input, n_in, n_hidden, n_out):
        self.hiddenLayer = HiddenLayer(rng=rng, input=input, n_in=n_in, n_out=n_hidden,
                                       activation=T.tanh)
        self.logRegressionLayer = LogisticRegression(input=self.hiddenLayer.output,
                                                     n_in=n_hidden, n_out=n_out)
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


def build_model(datasets, learning_rate, L1_reg, L2_reg, batch_size, n_hidden,
                n_in=28 * 28, n_out=10, seed=1234):
    """(classifier, train_model, validate_model, test_model) as the tutorial compiles them."""
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')
    rng = numpy.random.RandomState(seed)
    classifier = MLP(rng=rng, input=x, n_in=n_in, n_hidden=n_hidden, n_out=n_out)
    cost = (classifier.negative_log_likelihood(y) + L1_reg * classifier.L1
            + L2_reg * classifier.L2_sqr)
    test_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: test_set_x[index * batch_size:(index + 1) * batch_size],
                y: test_set_y[index * batch_size:(index + 1) * batch_size]})
    validate_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: valid_set_x[index * batch_size:(index + 1) * batch_size],
                y: valid_set_y[index * batch_size:(index + 1) * batch_size]})
    gparams = [T.grad(cost, param) for param in classifier.params]
    updates = [(param, param - learning_rate * gparam)
               for param, gparam in zip(classifier.params, gparams)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})
    return classifier, train_model, validate_model, test_model


def test_mlp(learning_rate=0.01, L1_reg=0.00, L2_reg=0.0001, n_epochs=20, batch_size=20,
             n_hidden=500, datasets=None, png=None):
    """Train with early stopping; returns the history {curve: (epochs, errors in %)}."""
    datasets = datasets or load_data()
    n_train_batches = datasets[0][0].get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = datasets[1][0].get_value(borrow=True).shape[0] // batch_size
    n_test_batches = datasets[2][0].get_value(borrow=True).shape[0] // batch_size

    print('... building the model')
    classifier, train_model, validate_model, test_model = build_model(
        datasets, learning_rate, L1_reg, L2_reg, batch_size, n_hidden)

    print('... training')
    patience = 10000
    patience_increase = 2
    improvement_threshold = 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = numpy.inf
    best_iter = 0
    test_score = 0.
    history = {'validation': ([], []), 'test of the best model': ([], [])}
    start_time = timeit.default_timer()
    epoch = 0
    done_looping = False
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
                    best_iter = iter
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
    print(('Optimization complete. Best validation score of %f %% obtained at iteration %i, '
           'with test performance %f %%') %
          (best_validation_loss * 100., best_iter + 1, test_score * 100.))
    print('The code ran for %.2fm' % ((end_time - start_time) / 60.))
    if png:
        plot_curves(png, 'MLP 784-500-10 (examples/dlt/mlp.py)', history)
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'mlp.png'))
    args = parser.parse_args()
    test_mlp(n_epochs=args.epochs, png=args.png)
