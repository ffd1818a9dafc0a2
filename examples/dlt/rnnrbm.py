"""The RNN-RBM (Boulanger-Lewandowski et al., 2012): a recurrent network whose state sets
the biases of an RBM at each time step, trained by CD-15 on polyphonic piano rolls and
sampled from, written as the DeepLearningTutorials write it (``rnnrbm.py``), with only the
imports changed. Scans inside scans: the generating loop runs a 25-step Gibbs chain at every
time step, drawing from the random stream inside both loops.

The tutorial reads the Nottingham MIDI files; here ``make_songs`` writes piano rolls of
synthetic songs (chord progressions under a walking melody) and ``generate`` draws the
sampled roll to a PNG instead of writing MIDI (no MIDI library).

    python examples/dlt/rnnrbm.py [--epochs N] [--png PATH]
"""

import argparse
import os
import sys

import numpy

import codegen as theano
import codegen.tensor as T
from codegen.tensor.shared_randomstreams import RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_digits import plot_curves  # noqa: E402

# Don't use a python long as this don't work on 32 bits computers.
numpy.random.seed(0xbeef)
rng = RandomStreams(seed=numpy.random.randint(1 << 30))
theano.config.warn.subtensor_merge_bug = False


def build_rbm(v, W, bv, bh, k):
    """Construct a k-step Gibbs chain starting at v for an RBM (a batch of chains when v is
    a matrix). Returns (v_sample, cost, monitor, updates): the sample, the cost whose
    gradient (with v_sample held constant) is CD-k's, the pseudo log-likelihood, and the
    updates of the scan."""

    def gibbs_step(v):
        mean_h = T.nnet.sigmoid(T.dot(v, W) + bh)
        h = rng.binomial(size=mean_h.shape, n=1, p=mean_h,
                         dtype=theano.config.floatX)
        mean_v = T.nnet.sigmoid(T.dot(h, W.T) + bv)
        v = rng.binomial(size=mean_v.shape, n=1, p=mean_v,
                         dtype=theano.config.floatX)
        return mean_v, v

    chain, updates = theano.scan(lambda v: gibbs_step(v)[1], outputs_info=[v],
                                 n_steps=k)
    v_sample = chain[-1]

    mean_v = gibbs_step(v_sample)[0]
    monitor = T.xlogx.xlogy0(v, mean_v) + T.xlogx.xlogy0(1 - v, 1 - mean_v)
    monitor = monitor.sum() / v.shape[0]

    def free_energy(v):
        return -(v * bv).sum() - T.log(1 + T.exp(T.dot(v, W) + bh)).sum()
    cost = (free_energy(v) - free_energy(v_sample)) / v.shape[0]

    return v_sample, cost, monitor, updates


def shared_normal(num_rows, num_cols, scale=1):
    '''Initialize a matrix shared variable with normally distributed elements.'''
    return theano.shared(numpy.random.normal(
        scale=scale, size=(num_rows, num_cols)).astype(theano.config.floatX))


def shared_zeros(*shape):
    '''Initialize a vector shared variable with zero elements.'''
    return theano.shared(numpy.zeros(shape, dtype=theano.config.floatX))


def build_rnnrbm(n_visible, n_hidden, n_hidden_recurrent):
    """Construct a symbolic RNN-RBM and initialize its parameters. Returns (v, v_sample,
    cost, monitor, params, updates_train, v_t, updates_generate)."""

    W = shared_normal(n_visible, n_hidden, 0.01)
    bv = shared_zeros(n_visible)
    bh = shared_zeros(n_hidden)
    Wuh = shared_normal(n_hidden_recurrent, n_hidden, 0.0001)
    Wuv = shared_normal(n_hidden_recurrent, n_visible, 0.0001)
    Wvu = shared_normal(n_visible, n_hidden_recurrent, 0.0001)
    Wuu = shared_normal(n_hidden_recurrent, n_hidden_recurrent, 0.0001)
    bu = shared_zeros(n_hidden_recurrent)

    params = W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu  # learned parameters as shared variables

    v = T.matrix()  # a training sequence
    u0 = T.zeros((n_hidden_recurrent,))  # initial value for the RNN hidden units

    # If `v_t` is given, deterministic recurrence to compute the variable biases bv_t,
    # bh_t at each time step. If `v_t` is None, same recurrence but with a separate Gibbs
    # chain at each time step to sample (generate) from the RNN-RBM. The resulting sample
    # v_t is returned in order to be passed down to the sequence history.
    def recurrence(v_t, u_tm1):
        bv_t = bv + T.dot(u_tm1, Wuv)
        bh_t = bh + T.dot(u_tm1, Wuh)
        generate = v_t is None
        if generate:
            v_t, _, _, updates = build_rbm(T.zeros((n_visible,)), W, bv_t,
                                           bh_t, k=25)
        u_t = T.tanh(bu + T.dot(v_t, Wvu) + T.dot(u_tm1, Wuu))
        return ([v_t, u_t], updates) if generate else [u_t, bv_t, bh_t]

    # For training, the deterministic recurrence is used to compute all the
    # {bv_t, bh_t, 1 <= t <= T} given v. Conditional RBMs can then be trained in batches
    # using those parameters.
    (u_t, bv_t, bh_t), updates_train = theano.scan(
        lambda v_t, u_tm1, *_: recurrence(v_t, u_tm1),
        sequences=v, outputs_info=[u0, None, None], non_sequences=params)
    v_sample, cost, monitor, updates_rbm = build_rbm(v, W, bv_t[:], bh_t[:],
                                                     k=15)
    updates_train.update(updates_rbm)

    # symbolic loop for sequence generation
    (v_t, u_t), updates_generate = theano.scan(
        lambda u_tm1, *_: recurrence(None, u_tm1),
        outputs_info=[None, u0], non_sequences=params, n_steps=200)

    return (v, v_sample, cost, monitor, params, updates_train, v_t,
            updates_generate)


def make_songs(n_songs=40, r=(21, 109), seed=7):
    """Piano rolls (time steps x (r[1] - r[0]) pitches, 0/1) of synthetic songs: a I-IV-V-I
    progression in a random key, a chord held for 4 steps, under a melody walking the major
    scale an octave up."""
    song_rng = numpy.random.RandomState(seed)
    scale = numpy.array([0, 2, 4, 5, 7, 9, 11])
    songs = []
    for _ in range(n_songs):
        key = 48 + song_rng.randint(0, 12)
        steps = 4 * song_rng.randint(12, 30)
        roll = numpy.zeros((steps, r[1] - r[0]), dtype=theano.config.floatX)
        degree = 0
        for t in range(steps):
            root = key + [0, 5, 7, 0][(t // 4) % 4]
            for note in (root, root + 4, root + 7):
                roll[t, note - r[0]] = 1
            degree = int(numpy.clip(degree + song_rng.choice([-1, 0, 1]), 0, 13))
            roll[t, key + 12 + 12 * (degree // 7) + scale[degree % 7] - r[0]] = 1
        songs.append(roll)
    return songs


class RnnRbm:
    '''Simple class to train an RNN-RBM from piano rolls and to generate sample sequences.'''

    def __init__(
        self,
        n_hidden=150,
        n_hidden_recurrent=100,
        lr=0.001,
        r=(21, 109),
        dt=0.3
    ):
        '''Constructs and compiles Theano functions for training and sequence generation.
        r: the pitch range of the piano roll in MIDI note numbers (r[1] - r[0] visible
        units); dt: the time between consecutive steps, in seconds.'''

        self.r = r
        self.dt = dt
        (v, v_sample, cost, monitor, params, updates_train, v_t,
         updates_generate) = build_rnnrbm(r[1] - r[0], n_hidden,
                                          n_hidden_recurrent)

        gradient = T.grad(cost, params, consider_constant=[v_sample])
        updates_train.update(((p, p - lr * g) for p, g in zip(params,
                                                                gradient)))
        self.train_function = theano.function([v], monitor,
                                              updates=updates_train)
        self.generate_function = theano.function([], v_t,
                                                 updates=updates_generate)

    def train(self, dataset, batch_size=100, num_epochs=200):
        '''Train the RNN-RBM via stochastic gradient descent (SGD) on piano rolls: the
        sequences split into subsequences of at most batch_size steps. Returns the mean
        pseudo log-likelihood of each epoch.'''

        assert len(dataset) > 0, 'Training set is empty!'
        history = []
        try:
            for epoch in range(num_epochs):
                numpy.random.shuffle(dataset)
                costs = []

                for s, sequence in enumerate(dataset):
                    for i in range(0, len(sequence), batch_size):
                        cost = self.train_function(sequence[i:i + batch_size])
                        costs.append(cost)

                print('Epoch %i/%i' % (epoch + 1, num_epochs), end=' ')
                print(numpy.mean(costs))
                sys.stdout.flush()
                history.append(float(numpy.mean(costs)))

        except KeyboardInterrupt:
            print('Interrupted by user.')
        return history

    def generate(self, filename, show=True):
        '''Generate a sample sequence and draw its piano roll to ``filename`` (a PNG).'''

        piano_roll = self.generate_function()
        if show:
            import matplotlib
            matplotlib.use('Agg')
            import matplotlib.pyplot as pylab
            extent = (0, self.dt * len(piano_roll)) + self.r
            pylab.figure()
            pylab.imshow(piano_roll.T, origin='lower', aspect='auto',
                         interpolation='nearest', cmap=pylab.cm.gray_r,
                         extent=extent)
            pylab.xlabel('time (s)')
            pylab.ylabel('MIDI note number')
            pylab.title('generated piano-roll')
            pylab.savefig(filename, dpi=100)
            pylab.close()
        return piano_roll


def test_rnnrbm(batch_size=100, num_epochs=200, png=None):
    model = RnnRbm()
    history = model.train(make_songs(), batch_size=batch_size, num_epochs=num_epochs)
    if png:
        plot_curves(png, 'RNN-RBM (examples/dlt/rnnrbm.py)',
                    {'pseudo log-likelihood per frame': (
                        list(range(1, len(history) + 1)), history)},
                    ylabel='pseudo log-likelihood')
    return model


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=20)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument('--png', default=os.path.join(here, 'rnnrbm.png'))
    args = parser.parse_args()
    model = test_rnnrbm(num_epochs=args.epochs, png=args.png)
    model.generate(args.png.replace('.png', '_sample.png'))
