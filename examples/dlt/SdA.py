"""Stacked denoising autoencoders: each layer pretrained greedily as a denoising autoencoder
on the layer below's codes (its own corruption level), then the whole stack under a logistic
regression layer finetuned by minibatch SGD with early stopping, written as the
DeepLearningTutorials write it (``SdA.py``), with only the imports changed. The dA layers
share their weights and hidden biases with the sigmoid layers of the MLP.

    python examples/dlt/SdA.py [--pretraining-epochs N] [--training-epochs N] [--png PATH]
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
from dA import dA  # noqa: E402
from logistic_sgd import LogisticRegression, load_data  # noqa: E402
from mlp import HiddenLayer  # noqa: E402
from synthetic_digits import plot_curves  # noqa: E402


class SdA(object):
    """A stack of sigmoid layers, each with a denoising autoencoder sharing its weights, under
    a logistic regression layer."""

    def __init__(self, numpy_rng, theano_rng=None, n_ins=784, hidden_layers_sizes=[500, 500],
                 n_outs=10, corruption_levels=[0.1, 0.1]):
        self.sigmoid_layers = []
        self.dA_layers = []
        self.params = []
        self.n_layers = len(hidden_layers_sizes)

        assert self.n_layers > 0

        if not theano_rng:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        self.x = T.matrix('x')  # the data is presented as rasterized images
        self.y = T.ivector('y')  # the labels are presented as 1D vector of [int] labels

        for i in range(self.n_layers):
            # the size of the input is either the number of hidden units of the layer
            # below or the input size if we are on the first layer
            if i == 0:
                input_size = n_ins
            else:
                input_size = hidden_layers_sizes[i - 1]
            # the input to this layer is either the activation of the hidden layer below
            # or the input of the SdA if you are on the first layer
            if i == 0:
                layer_input = self.x
            else:
                layer_input = self.sigmoid_layers[-1].output

            sigmoid_layer = HiddenLayer(rng=numpy_rng, input=layer_input, n_in=input_size,
                                        n_out=hidden_layers_sizes[i],
                                        activation=T.nnet.sigmoid)
            self.sigmoid_layers.append(sigmoid_layer)
            # the parameters of the sigmoid layers are the parameters of the SdA; the
            # visible biases of the dA layers are parameters of those dA only
            self.params.extend(sigmoid_layer.params)

            # a denoising autoencoder that shares its weights with this layer
            dA_layer = dA(numpy_rng=numpy_rng, theano_rng=theano_rng, input=layer_input,
                          n_visible=input_size, n_hidden=hidden_layers_sizes[i],
                          W=sigmoid_layer.W, bhid=sigmoid_layer.b)
            self.dA_layers.append(dA_layer)

        # a logistic layer on top of the MLP
        self.logLayer = LogisticRegression(input=self.sigmoid_layers[-1].output,
                                           n_in=hidden_layers_sizes[-1], n_out=n_outs)
        self.params.extend(self.logLayer.params)

        # the cost of the second phase of training: the negative log likelihood
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        # the number of errors in a minibatch given by self.x and self.y
        self.errors = self.logLayer.errors(self.y)

    def pretraining_functions(self, train_set_x, batch_size):
        """One function per dA layer: a step of SGD on a minibatch, taking the minibatch
        index and, optionally, the corruption level and the learning rate."""
        index = T.lscalar('index')  # index to a minibatch
        corruption_level = T.scalar('corruption')  # % of corruption to use
        learning_rate = T.scalar('lr')  # learning rate to use
        # beginning of a batch, given `index`
        batch_begin = index * batch_size
        # ending of a batch given `index`
        batch_end = batch_begin + batch_size

        pretrain_fns = []
        for dA in self.dA_layers:  # noqa: F402 (the tutorial's name)
            # get the cost and the updates list
            cost, updates = dA.get_cost_updates(corruption_level, learning_rate)
            # compile the theano function
            fn = theano.function(
                inputs=[index,
                        theano.In(corruption_level, value=0.2),
                        theano.In(learning_rate, value=0.1)],
                outputs=cost,
                updates=updates,
                givens={self.x: train_set_x[batch_begin: batch_end]})
            # append `fn` to the list of functions
            pretrain_fns.append(fn)

        return pretrain_fns

    def build_finetune_functions(self, datasets, batch_size, learning_rate):
        """A function for one step of finetuning, and two that score the whole validation
        and test sets."""
        (train_set_x, train_set_y) = datasets[0]
        (valid_set_x, valid_set_y) = datasets[1]
        (test_set_x, test_set_y) = datasets[2]

        # compute number of minibatches for training, validation and testing
        n_valid_batches = valid_set_x.get_value(borrow=True).shape[0]
        n_valid_batches //= batch_size
        n_test_batches = test_set_x.get_value(borrow=True).shape[0]
        n_test_batches //= batch_size

        index = T.lscalar('index')  # index to a [mini]batch

        # compute the gradients with respect to the model parameters
        gparams = T.grad(self.finetune_cost, self.params)

        # compute list of fine-tuning updates
        updates = [
            (param, param - gparam * learning_rate)
            for param, gparam in zip(self.params, gparams)
        ]

        train_fn = theano.function(
            inputs=[index],
            outputs=self.finetune_cost,
            updates=updates,
            givens={
                self.x: train_set_x[index * batch_size: (index + 1) * batch_size],
                self.y: train_set_y[index * batch_size: (index + 1) * batch_size]
            },
            name='train'
        )

        test_score_i = theano.function(
            [index],
            self.errors,
            givens={
                self.x: test_set_x[index * batch_size: (index + 1) * batch_size],
                self.y: test_set_y[index * batch_size: (index + 1) * batch_size]
            },
            name='test'
        )

        valid_score_i = theano.function(
            [index],
            self.errors,
            givens={
                self.x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                self.y: valid_set_y[index * batch_size: (index + 1) * batch_size]
            },
            name='valid'
        )

        # Create a function that scans the entire validation set
        def valid_score():
            return [valid_score_i(i) for i in range(n_valid_batches)]

        # Create a function that scans the entire test set
        def test_score():
            return [test_score_i(i) for i in range(n_test_batches)]

        return train_fn, valid_score, test_score


def test_SdA(finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001, training_epochs=1000,
             batch_size=1, hidden_layers_sizes=[1000, 1000, 1000],
             corruption_levels=[.1, .2, .3], datasets=None, png=None):
    """Pretrain, then finetune with early stopping; returns the history {curve: (epochs,
    values)}: each layer's pretraining cost, then the validation and test errors in %."""
    datasets = datasets or load_data()

    train_set_x, train_set_y = datasets[0]

    # compute number of minibatches for training, validation and testing
    n_train_batches = train_set_x.get_value(borrow=True).shape[0]
    n_train_batches //= batch_size

    # numpy random generator
    numpy_rng = numpy.random.RandomState(89677)
    print('... building the model')
    # construct the stacked denoising autoencoder class
    sda = SdA(
        numpy_rng=numpy_rng,
        n_ins=28 * 28,
        hidden_layers_sizes=hidden_layers_sizes,
        n_outs=10
    )
    history = {}

    #########################
    # PRETRAINING THE MODEL #
    #########################
    print('... getting the pretraining functions')
    pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x,
                                                batch_size=batch_size)

    print('... pre-training the model')
    start_time = timeit.default_timer()
    # Pre-train layer-wise
    for i in range(sda.n_layers):
        name = 'pretraining layer %i (cost / 100)' % i
        history[name] = ([], [])
        # go through pretraining epochs
        for epoch in range(pretraining_epochs):
            # go through the training set
            c = []
            for batch_index in range(n_train_batches):
                c.append(pretraining_fns[i](index=batch_index,
                                            corruption=corruption_levels[i],
                                            lr=pretrain_lr))
            print('Pre-training layer %i, epoch %d, cost %f' % (i, epoch, numpy.mean(c)))
            history[name][0].append(epoch + 1)
            history[name][1].append(float(numpy.mean(c)) / 100.)

    end_time = timeit.default_timer()

    print('The pretraining code ran for %.2fm' % ((end_time - start_time) / 60.))

    ########################
    # FINETUNING THE MODEL #
    ########################

    # get the training, validation and testing function for the model
    print('... getting the finetuning functions')
    train_fn, validate_model, test_model = sda.build_finetune_functions(
        datasets=datasets,
        batch_size=batch_size,
        learning_rate=finetune_lr
    )

    print('... finetunning the model')
    # early-stopping parameters
    patience = 10 * n_train_batches  # look as this many examples regardless
    patience_increase = 2.  # wait this much longer when a new best is found
    improvement_threshold = 0.995  # a relative improvement of this much is significant
    validation_frequency = min(n_train_batches, patience // 2)

    best_validation_loss = numpy.inf
    best_iter = 0
    test_score = 0.
    start_time = timeit.default_timer()
    history['validation error (%)'] = ([], [])
    history['test error of the best model (%)'] = ([], [])

    done_looping = False
    epoch = 0

    while (epoch < training_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_fn(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index

            if (iter + 1) % validation_frequency == 0:
                validation_losses = validate_model()
                this_validation_loss = numpy.mean(validation_losses)
                print('epoch %i, minibatch %i/%i, validation error %f %%' %
                      (epoch, minibatch_index + 1, n_train_batches,
                       this_validation_loss * 100.))
                history['validation error (%)'][0].append(pretraining_epochs + epoch)
                history['validation error (%)'][1].append(this_validation_loss * 100.)

                # if we got the best validation score until now
                if this_validation_loss < best_validation_loss:
                    # improve patience if loss improvement is good enough
                    if (this_validation_loss < best_validation_loss * improvement_threshold):
                        patience = max(patience, iter * patience_increase)

                    # save best validation score and iteration number
                    best_validation_loss = this_validation_loss
                    best_iter = iter

                    # test it on the test set
                    test_losses = test_model()
                    test_score = numpy.mean(test_losses)
                    print(('     epoch %i, minibatch %i/%i, test error of best model %f %%') %
                          (epoch, minibatch_index + 1, n_train_batches, test_score * 100.))
                    history['test error of the best model (%)'][0].append(
                        pretraining_epochs + epoch)
                    history['test error of the best model (%)'][1].append(test_score * 100.)

            if patience <= iter:
                done_looping = True
                break

    end_time = timeit.default_timer()
    print(('Optimization complete with best validation score of %f %%, '
           'on iteration %i, with test performance %f %%') %
          (best_validation_loss * 100., best_iter + 1, test_score * 100.))
    print('The training code ran for %.2fm' % ((end_time - start_time) / 60.))
    if png:
        plot_curves(png, 'stacked denoising autoencoders (examples/dlt/SdA.py)', history,
                    ylabel='pretraining cost / 100, then error (%)')
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pretraining-epochs', type=int, default=3)
    parser.add_argument('--training-epochs', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=10)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'SdA.png'))
    args = parser.parse_args()
    test_SdA(pretraining_epochs=args.pretraining_epochs, pretrain_lr=0.01,
             training_epochs=args.training_epochs, batch_size=args.batch_size,
             hidden_layers_sizes=[500, 500], corruption_levels=[.1, .2], png=args.png)
