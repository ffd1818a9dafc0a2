"""LeNet: two convolution + max-pooling layers, a tanh hidden layer and a softmax layer,
trained by minibatch SGD with early stopping, written as the DeepLearningTutorials write it
(``convolutional_mlp.py``), with only the imports changed.

    python examples/dlt/convolutional_mlp.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys
import timeit

import numpy

import codegen as theano
import codegen.tensor as T
from codegen.tensor.nnet import conv2d
from codegen.tensor.signal import pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import LogisticRegression, load_data  # noqa: E402
from mlp import HiddenLayer  # noqa: E402
from synthetic_digits import plot_curves  # noqa: E402


class LeNetConvPoolLayer(object):
    """A convolution layer followed by max pooling and tanh."""

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)):
        assert image_shape[1] == filter_shape[1]
        self.input = input
        # each hidden unit sees num input feature maps * filter height * filter width inputs
        fan_in = numpy.prod(filter_shape[1:])
        fan_out = (filter_shape[0] * numpy.prod(filter_shape[2:]) // numpy.prod(poolsize))
        W_bound = numpy.sqrt(6. / (fan_in + fan_out))
        self.W = theano.shared(
            numpy.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape),
                          dtype=theano.config.floatX), borrow=True)
        b_values = numpy.zeros((filter_shape[0],), dtype=theano.config.floatX)
        self.b = theano.shared(value=b_values, borrow=True)
        conv_out = conv2d(input=input, filters=self.W, filter_shape=filter_shape,
                          input_shape=image_shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle('x', 0, 'x', 'x'))
        self.params = [self.W, self.b]


def build_model(datasets, learning_rate, nkerns, batch_size, n_hidden=500, seed=23455):
    """(layers, train_model, validate_model, test_model) as the tutorial compiles them."""
    rng = numpy.random.RandomState(seed)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')
    # the (batch_size, 28 * 28) rows become (batch_size, 1, 28, 28) images
    layer0_input = x.reshape((batch_size, 1, 28, 28))
    # 28 x 28 -> convolution 24 x 24 -> pooling 12 x 12
    layer0 = LeNetConvPoolLayer(rng, input=layer0_input, image_shape=(batch_size, 1, 28, 28),
                                filter_shape=(nkerns[0], 1, 5, 5), poolsize=(2, 2))
    # 12 x 12 -> convolution 8 x 8 -> pooling 4 x 4
    layer1 = LeNetConvPoolLayer(rng, input=layer0.output,
                                image_shape=(batch_size, nkerns[0], 12, 12),
                                filter_shape=(nkerns[1], nkerns[0], 5, 5), poolsize=(2, 2))
    layer2_input = layer1.output.flatten(2)
    layer2 = HiddenLayer(rng, input=layer2_input, n_in=nkerns[1] * 4 * 4, n_out=n_hidden,
                         activation=T.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=n_hidden, n_out=10)
    cost = layer3.negative_log_likelihood(y)
    test_model = theano.function(
        [index], layer3.errors(y),
        givens={x: test_set_x[index * batch_size: (index + 1) * batch_size],
                y: test_set_y[index * batch_size: (index + 1) * batch_size]})
    validate_model = theano.function(
        [index], layer3.errors(y),
        givens={x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                y: valid_set_y[index * batch_size: (index + 1) * batch_size]})
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = T.grad(cost, params)
    updates = [(param_i, param_i - learning_rate * grad_i)
               for param_i, grad_i in zip(params, grads)]
    train_model = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})
    return (layer0, layer1, layer2, layer3), train_model, validate_model, test_model


def evaluate_lenet5(learning_rate=0.1, n_epochs=8, nkerns=(20, 50), batch_size=50,
                    datasets=None, png=None):
    """Train with early stopping; returns the history {curve: (epochs, errors in %)}."""
    datasets = datasets or load_data(n_train=2000, n_valid=500, n_test=500)
    n_train_batches = datasets[0][0].get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = datasets[1][0].get_value(borrow=True).shape[0] // batch_size
    n_test_batches = datasets[2][0].get_value(borrow=True).shape[0] // batch_size

    print('... building the model')
    layers, train_model, validate_model, test_model = build_model(
        datasets, learning_rate, nkerns, batch_size)

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
            iter = (epoch - 1) * n_train_batches + minibatch_index
            train_model(minibatch_index)
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
    print('Optimization complete.')
    print('Best validation score of %f %% obtained at iteration %i, with test performance %f %%'
          % (best_validation_loss * 100., best_iter + 1, test_score * 100.))
    print('The code ran for %.2fm' % ((end_time - start_time) / 60.))
    if png:
        plot_curves(png, 'LeNet (examples/dlt/convolutional_mlp.py)', history)
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'lenet.png'))
    args = parser.parse_args()
    evaluate_lenet5(n_epochs=args.epochs, png=args.png)
