"""The LSTM sentiment classifier of the DeepLearningTutorials (``lstm.py``): word embeddings,
an LSTM layer run by ``scan`` over a padded minibatch with a mask, mean pooling over time,
a softmax classifier, trained by adadelta; written as the tutorial writes it, with only the
imports changed and IMDB replaced by a synthetic review corpus made here (no download).

    python examples/dlt/lstm.py [--epochs N] [--png PATH]

The corpus: reviews of 10 to 50 words from a vocabulary of ``n_words``; words 2..21 are
"positive", 22..41 "negative", the others neutral; a review is positive when it has more
positive than negative words. The model must count along the sequence: a job for the LSTM.
"""

import argparse
import os
import random
import sys
import time
from collections import OrderedDict

import numpy

import codegen as theano
import codegen.tensor as tensor
from codegen.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_digits import plot_curves  # noqa: E402

POSITIVE, NEGATIVE = range(2, 22), range(22, 42)


# ---------------------------------------------------------------- the data (imdb.py's role)

def make_reviews(n, seed, n_words=200, shortest=10, longest=50):
    """``n`` reviews (lists of word ids) and their labels (1: positive)."""
    rng = numpy.random.RandomState(seed)
    reviews, labels = [], []
    while len(reviews) < n:
        length = rng.randint(shortest, longest + 1)
        words = rng.randint(2, n_words, size=length)
        pos = numpy.isin(words, POSITIVE).sum()
        neg = numpy.isin(words, NEGATIVE).sum()
        if pos == neg:
            continue
        reviews.append([int(w) for w in words])
        labels.append(int(pos > neg))
    return reviews, labels


def load_data(n_words=200, n_train=2000, n_valid=200, n_test=400):
    """(train, valid, test), each (reviews, labels), as ``imdb.load_data`` returns them."""
    train = make_reviews(n_train, 1, n_words)
    valid = make_reviews(n_valid, 2, n_words)
    test = make_reviews(n_test, 3, n_words)
    return train, valid, test


def prepare_data(seqs, labels, maxlen=None):
    """A minibatch as the model takes it: x (time, samples) of word ids padded with 0, the
    mask (1 where a word is), the labels (``imdb.prepare_data``)."""
    lengths = [len(s) for s in seqs]
    if maxlen is not None:
        kept = [(s, y, n) for s, y, n in zip(seqs, labels, lengths) if n < maxlen]
        if not kept:
            return None, None, None
        seqs, labels, lengths = map(list, zip(*kept))
    n_samples, longest = len(seqs), numpy.max(lengths)
    x = numpy.zeros((longest, n_samples)).astype('int64')
    x_mask = numpy.zeros((longest, n_samples)).astype(theano.config.floatX)
    for idx, s in enumerate(seqs):
        x[:lengths[idx], idx] = s
        x_mask[:lengths[idx], idx] = 1.
    return x, x_mask, numpy.asarray(labels, dtype='int64')


def get_minibatches_idx(n, minibatch_size, shuffle=False, rng=None):
    """[(k, indices of minibatch k)]: the examples split into minibatches (the last may be
    smaller), in a shuffled order when ``shuffle``."""
    idx_list = numpy.arange(n, dtype="int32")
    if shuffle:
        (rng or random).shuffle(idx_list)
    minibatches = [idx_list[start:start + minibatch_size]
                   for start in range(0, n, minibatch_size)]
    return list(enumerate(minibatches))


# ---------------------------------------------------------------- the model

def _p(pp, name):
    return '%s_%s' % (pp, name)


def ortho_weight(ndim, rng):
    W = rng.randn(ndim, ndim)
    u, s, v = numpy.linalg.svd(W)
    return u.astype('float32')


def init_params(options, rng):
    params = OrderedDict()
    randn = rng.rand(options['n_words'], options['dim_proj'])
    params['Wemb'] = (0.01 * randn).astype('float32')
    params = param_init_lstm(options, params, rng, prefix='lstm')
    params['U'] = 0.01 * rng.randn(options['dim_proj'], options['ydim']).astype('float32')
    params['b'] = numpy.zeros((options['ydim'],)).astype('float32')
    return params


def init_tparams(params):
    tparams = OrderedDict()
    for kk, pp in params.items():
        tparams[kk] = theano.shared(params[kk], name=kk)
    return tparams


def unzip(zipped):
    return OrderedDict((kk, vv.get_value()) for kk, vv in zipped.items())


def zipp(params, tparams):
    for kk, vv in params.items():
        tparams[kk].set_value(vv)


def param_init_lstm(options, params, rng, prefix='lstm'):
    dim = options['dim_proj']
    params[_p(prefix, 'W')] = numpy.concatenate([ortho_weight(dim, rng) for _ in range(4)],
                                                axis=1)
    params[_p(prefix, 'U')] = numpy.concatenate([ortho_weight(dim, rng) for _ in range(4)],
                                                axis=1)
    params[_p(prefix, 'b')] = numpy.zeros((4 * dim,)).astype('float32')
    return params


def lstm_layer(tparams, state_below, options, prefix='lstm', mask=None):
    nsteps = state_below.shape[0]
    n_samples = state_below.shape[1] if state_below.ndim == 3 else 1
    assert mask is not None

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim:(n + 1) * dim]
        return _x[:, n * dim:(n + 1) * dim]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, tparams[_p(prefix, 'U')])
        preact += x_
        preact += tparams[_p(prefix, 'b')]

        i = tensor.nnet.sigmoid(_slice(preact, 0, options['dim_proj']))
        f = tensor.nnet.sigmoid(_slice(preact, 1, options['dim_proj']))
        o = tensor.nnet.sigmoid(_slice(preact, 2, options['dim_proj']))
        c = tensor.tanh(_slice(preact, 3, options['dim_proj']))

        c = f * c_ + i * c
        c = m_[:, None] * c + (1. - m_)[:, None] * c_

        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1. - m_)[:, None] * h_

        return h, c

    state_below = (tensor.dot(state_below, tparams[_p(prefix, 'W')]) +
                   tparams[_p(prefix, 'b')])

    dim_proj = options['dim_proj']
    rval, updates = theano.scan(_step,
                                sequences=[mask, state_below],
                                outputs_info=[tensor.alloc(numpy.float32(0.), n_samples,
                                                           dim_proj),
                                              tensor.alloc(numpy.float32(0.), n_samples,
                                                           dim_proj)],
                                name=_p(prefix, '_layers'),
                                n_steps=nsteps)
    return rval[0]


def dropout_layer(state_before, use_noise, trng):
    return tensor.switch(use_noise,
                         state_before * trng.binomial(state_before.shape, p=0.5, n=1,
                                                      dtype=state_before.dtype),
                         state_before * 0.5)


def adadelta(lr, tparams, grads, x, mask, y, cost):
    zipped_grads = [theano.shared(p.get_value() * numpy.float32(0.), name='%s_grad' % k)
                    for k, p in tparams.items()]
    running_up2 = [theano.shared(p.get_value() * numpy.float32(0.), name='%s_rup2' % k)
                   for k, p in tparams.items()]
    running_grads2 = [theano.shared(p.get_value() * numpy.float32(0.), name='%s_rgrad2' % k)
                      for k, p in tparams.items()]

    zgup = [(zg, g) for zg, g in zip(zipped_grads, grads)]
    rg2up = [(rg2, 0.95 * rg2 + 0.05 * (g ** 2)) for rg2, g in zip(running_grads2, grads)]

    f_grad_shared = theano.function([x, mask, y], cost, updates=zgup + rg2up,
                                    name='adadelta_f_grad_shared')

    updir = [-tensor.sqrt(ru2 + 1e-6) / tensor.sqrt(rg2 + 1e-6) * zg
             for zg, ru2, rg2 in zip(zipped_grads, running_up2, running_grads2)]
    ru2up = [(ru2, 0.95 * ru2 + 0.05 * (ud ** 2)) for ru2, ud in zip(running_up2, updir)]
    param_up = [(p, p + ud) for p, ud in zip(tparams.values(), updir)]

    f_update = theano.function([lr], [], updates=ru2up + param_up,
                               on_unused_input='ignore', name='adadelta_f_update')
    return f_grad_shared, f_update


def build_model(tparams, options):
    trng = RandomStreams(1234)
    use_noise = theano.shared(numpy.float32(0.))

    x = tensor.matrix('x', dtype='int64')
    mask = tensor.matrix('mask', dtype='float32')
    y = tensor.vector('y', dtype='int64')

    n_timesteps = x.shape[0]
    n_samples = x.shape[1]

    emb = tparams['Wemb'][x.flatten()].reshape([n_timesteps, n_samples, options['dim_proj']])
    proj = lstm_layer(tparams, emb, options, prefix='lstm', mask=mask)
    proj = (proj * mask[:, :, None]).sum(axis=0)
    proj = proj / mask.sum(axis=0)[:, None]
    if options['use_dropout']:
        proj = dropout_layer(proj, use_noise, trng)

    pred = tensor.nnet.softmax(tensor.dot(proj, tparams['U']) + tparams['b'])

    f_pred_prob = theano.function([x, mask], pred, name='f_pred_prob')
    f_pred = theano.function([x, mask], pred.argmax(axis=1), name='f_pred')

    cost = -tensor.log(pred[tensor.arange(n_samples), y] + 1e-8).mean()
    return trng, use_noise, x, mask, y, f_pred_prob, f_pred, cost


def pred_error(f_pred, prepare_data, data, iterator):
    """The fraction of ``data`` that ``f_pred`` classifies wrong."""
    valid_err = 0
    for _, valid_index in iterator:
        x, mask, y = prepare_data([data[0][t] for t in valid_index],
                                  numpy.array(data[1])[valid_index], maxlen=None)
        preds = f_pred(x, mask)
        targets = numpy.array(data[1])[valid_index]
        valid_err += (preds == targets).sum()
    return 1. - numpy.float32(valid_err) / len(data[0])


def train(dim_proj=32, patience=10, max_epochs=40, dispFreq=50, decay_c=0., lrate=0.0001,
          n_words=200, optimizer=adadelta, validFreq=100, maxlen=100, batch_size=16,
          valid_batch_size=64, use_dropout=False, seed=123, verbose=True):
    """Train the classifier; returns (train error, valid error, test error, history) with
    history {'train cost': ..., 'valid error': ..., 'test error': ...} per validation."""
    model_options = locals().copy()
    rng = numpy.random.RandomState(seed)
    shuffle = random.Random(seed)

    train_set, valid, test = load_data(n_words=n_words)
    model_options['ydim'] = int(numpy.max(train_set[1]) + 1)

    params = init_params(model_options, rng)
    tparams = init_tparams(params)
    (trng, use_noise, x, mask, y, f_pred_prob, f_pred, cost) = build_model(tparams,
                                                                           model_options)
    if decay_c > 0.:
        decay_c = theano.shared(numpy.float32(decay_c), name='decay_c')
        cost += decay_c * (tparams['U'] ** 2).sum()

    grads = tensor.grad(cost, wrt=list(tparams.values()))
    lr = tensor.scalar(name='lr')
    f_grad_shared, f_update = optimizer(lr, tparams, grads, x, mask, y, cost)

    kf_valid = get_minibatches_idx(len(valid[0]), valid_batch_size)
    kf_test = get_minibatches_idx(len(test[0]), valid_batch_size)
    history = {'valid error': ([], []), 'test error': ([], [])}
    costs, best_p, bad_counter, uidx, errs = [], None, 0, 0, []
    start_time = time.time()
    for eidx in range(max_epochs):
        kf = get_minibatches_idx(len(train_set[0]), batch_size, shuffle=True, rng=shuffle)
        for _, train_index in kf:
            uidx += 1
            use_noise.set_value(numpy.float32(1.))
            x, mask, y = prepare_data([train_set[0][t] for t in train_index],
                                      [train_set[1][t] for t in train_index], maxlen=maxlen)
            if x is None:
                continue
            cost = f_grad_shared(x, mask, y)
            f_update(lrate)
            costs.append(float(cost))
            if numpy.isnan(cost) or numpy.isinf(cost):
                raise FloatingPointError('NaN detected')
            if verbose and uidx % dispFreq == 0:
                print('Epoch', eidx, 'Update', uidx, 'Cost', float(cost))
            if uidx % validFreq == 0:
                use_noise.set_value(numpy.float32(0.))
                valid_err = pred_error(f_pred, prepare_data, valid, kf_valid)
                test_err = pred_error(f_pred, prepare_data, test, kf_test)
                errs.append(valid_err)
                for name, value in (('valid error', valid_err), ('test error', test_err)):
                    history[name][0].append(uidx * batch_size / len(train_set[0]))
                    history[name][1].append(100 * value)
                if valid_err <= min(errs):
                    best_p, bad_counter = unzip(tparams), 0
                elif len(errs) > patience and valid_err >= min(errs[:-patience]):
                    bad_counter += 1
                if verbose:
                    print('Valid', valid_err, 'Test', test_err)
        if bad_counter > patience:
            break
    seconds = time.time() - start_time
    if best_p is not None:
        zipp(best_p, tparams)
    use_noise.set_value(numpy.float32(0.))
    kf = get_minibatches_idx(len(train_set[0]), valid_batch_size)
    errors = [pred_error(f_pred, prepare_data, data, it)
              for data, it in ((train_set, kf), (valid, kf_valid), (test, kf_test))]
    if verbose:
        print('Train', errors[0], 'Valid', errors[1], 'Test', errors[2])
        print('%d epochs, %.1f s, %.2f s/epoch' % (eidx + 1, seconds, seconds / (eidx + 1)))
    return errors[0], errors[1], errors[2], history


if __name__ == '__main__':
    # the tutorial needs floatX=float32
    theano.config.floatX = 'float32'
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=40)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'lstm.png'))
    args = parser.parse_args()
    *_, history = train(max_epochs=args.epochs)
    if args.png:
        plot_curves(args.png, 'LSTM on synthetic reviews (adadelta)', history)
