"""A contractive autoencoder: the reconstruction cross-entropy plus the squared Frobenius
norm of the Jacobian of the code with respect to the input (built by broadcasting reshaped
arrays), trained by minibatch SGD, written as the DeepLearningTutorials write it (``cA.py``),
with only the imports changed.

As in Theano, ``T.sum(J ** 2) // n_batchsize`` (the tutorial's floor division) has no
gradient: the penalty is reported but does not move the weights. That is the tutorial's
arithmetic, kept as written.

    python examples/dlt/cA.py [--epochs N] [--png PATH]
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


class cA(object):
    """Contractive Auto-Encoder class (cA): y = s(x W + b), z = s(y W' + b'), W' = W.T,
    its cost the reconstruction cross-entropy plus the contraction level times the squared
    Frobenius norm of dy/dx."""

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=100, n_batchsize=1,
                 W=None, bhid=None, bvis=None):
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.n_batchsize = n_batchsize
        # note : W' was written as `W_prime` and b' as `b_prime`
        if not W:
            # W is initialized with `initial_W` which is uniformely sampled from
            # -4*sqrt(6./(n_visible+n_hidden)) and 4*sqrt(6./(n_hidden+n_visible))
            initial_W = numpy.asarray(
                numpy_rng.uniform(
                    low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                    high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                    size=(n_visible, n_hidden)
                ),
                dtype=theano.config.floatX
            )
            W = theano.shared(value=initial_W, name='W', borrow=True)

        if not bvis:
            bvis = theano.shared(value=numpy.zeros(n_visible, dtype=theano.config.floatX),
                                 borrow=True)

        if not bhid:
            bhid = theano.shared(value=numpy.zeros(n_hidden, dtype=theano.config.floatX),
                                 name='b', borrow=True)

        self.W = W
        # b corresponds to the bias of the hidden
        self.b = bhid
        # b_prime corresponds to the bias of the visible
        self.b_prime = bvis
        # tied weights, therefore W_prime is W transpose
        self.W_prime = self.W.T

        # if no input is given, generate a variable representing the input
        if input is None:
            # we use a matrix because we expect a minibatch of several examples, each
            # example being a row
            self.x = T.dmatrix(name='input')
        else:
            self.x = input

        self.params = [self.W, self.b, self.b_prime]

    def get_hidden_values(self, input):
        """ Computes the values of the hidden layer """
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_jacobian(self, hidden, W):
        """Computes the jacobian of the hidden layer with respect to the input, reshapes are
        necessary for broadcasting the element-wise product on the right axis"""
        return T.reshape(hidden * (1 - hidden),
                         (self.n_batchsize, 1, self.n_hidden)) * T.reshape(
                             W, (1, self.n_visible, self.n_hidden))

    def get_reconstructed_input(self, hidden):
        """Computes the reconstructed input given the values of the hidden layer"""
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, contraction_level, learning_rate):
        """ This function computes the cost and the updates for one trainng step of the cA """
        y = self.get_hidden_values(self.x)
        z = self.get_reconstructed_input(y)
        J = self.get_jacobian(y, self.W)
        # note : we sum over the size of a datapoint; if we are using minibatches, L will
        #        be a vector, with one entry per example in minibatch
        self.L_rec = - T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)

        # Compute the jacobian and average over the number of samples/minibatch
        self.L_jacob = T.sum(J ** 2) // self.n_batchsize

        # note : L is now a vector, where each element is the cross-entropy cost of the
        #        reconstruction of the corresponding example of the minibatch. We need to
        #        compute the average of all these to get the cost of the minibatch
        cost = T.mean(self.L_rec) + contraction_level * T.mean(self.L_jacob)

        # compute the gradients of the cost of the `cA` with respect to its parameters
        gparams = T.grad(cost, self.params)
        # generate the list of updates
        updates = []
        for param, gparam in zip(self.params, gparams):
            updates.append((param, param - learning_rate * gparam))

        return (cost, updates)


def build_model(train_set_x, learning_rate=0.01, batch_size=10, contraction_level=.1,
                n_hidden=500, seed=123):
    """(ca, train_ca) as the tutorial compiles them."""
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix('x')  # the data is presented as rasterized images
    rng = numpy.random.RandomState(seed)
    ca = cA(numpy_rng=rng, input=x, n_visible=28 * 28, n_hidden=n_hidden,
            n_batchsize=batch_size)
    cost, updates = ca.get_cost_updates(contraction_level=contraction_level,
                                        learning_rate=learning_rate)
    train_ca = theano.function(
        [index],
        [T.mean(ca.L_rec), ca.L_jacob],
        updates=updates,
        givens={
            x: train_set_x[index * batch_size: (index + 1) * batch_size]
        }
    )
    return ca, train_ca


def test_cA(learning_rate=0.01, training_epochs=20, batch_size=10, contraction_level=.1,
            n_hidden=500, datasets=None, png=None):
    """Train; returns the history {curve: (epochs, values)} of the reconstruction cost and
    the Jacobian's squared norm."""
    datasets = datasets or load_data()
    train_set_x, train_set_y = datasets[0]

    # compute number of minibatches for training, validation and testing
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size

    ca, train_ca = build_model(train_set_x, learning_rate, batch_size, contraction_level,
                               n_hidden)
    start_time = timeit.default_timer()
    history = {'reconstruction cross-entropy': ([], []), 'Jacobian norm / 10': ([], [])}

    ############
    # TRAINING #
    ############

    # go through training epochs
    for epoch in range(training_epochs):
        # go through trainng set
        c = []
        for batch_index in range(n_train_batches):
            c.append(train_ca(batch_index))

        c_array = numpy.vstack(c)
        print('Training epoch %d, reconstruction cost ' % epoch, numpy.mean(
            c_array[0]), ' jacobian norm ', numpy.mean(numpy.sqrt(c_array[1])))
        history['reconstruction cross-entropy'][0].append(epoch + 1)
        history['reconstruction cross-entropy'][1].append(float(numpy.mean(c_array[:, 0])))
        history['Jacobian norm / 10'][0].append(epoch + 1)
        history['Jacobian norm / 10'][1].append(
            float(numpy.mean(numpy.sqrt(c_array[:, 1]))) / 10.)

    end_time = timeit.default_timer()

    training_time = (end_time - start_time)

    print('The code ran for %.2fm' % (training_time / 60.))
    if png:
        plot_curves(png, 'contractive autoencoder (examples/dlt/cA.py)', history,
                    ylabel='cost')
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'cA.png'))
    args = parser.parse_args()
    test_cA(training_epochs=args.epochs, png=args.png)
