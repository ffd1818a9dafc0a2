"""The Elman network for slot filling of the DeepLearningTutorials (``rnnslu.py``): context
windows of word embeddings, a recurrence run by ``scan`` with a softmax per word, trained one
sentence at a time by SGD with the embeddings renormalized after each; written as the
tutorial writes it, with only the imports changed and ATIS replaced by flight requests made
here ("flights from new york to boston on monday"), scored by chunk F1 as conlleval does.

    python examples/dlt/rnnslu.py [--epochs N] [--png PATH]

The same city is a departure or an arrival slot by the word before it: the network has to
use the context, and a two-word city needs B- then I-.
"""

import argparse
import copy
import os
import random
import sys
import time
from collections import OrderedDict

import numpy

import codegen as theano
from codegen import tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_digits import plot_curves  # noqa: E402

CITIES = ["boston", "denver", "new york", "san francisco", "atlanta", "dallas", "las vegas",
          "seattle", "st. louis", "miami"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
TEMPLATES = [
    "show me flights from {a} to {b}",
    "i want to fly from {a} to {b} on {d}",
    "flights to {b} from {a}",
    "what flights go from {a} to {b} {d}",
    "list {d} flights from {a} to {b}",
    "i need a ticket to {b}",
    "cheapest fare from {a} on {d}",
]


# ---------------------------------------------------------------- data (atisfold's role)

def make_sentences(n, seed):
    """``n`` requests: (word lists, label lists) with BIO slots fromloc, toloc, day."""
    rng = random.Random(seed)
    words_out, labels_out = [], []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        a, b = rng.sample(CITIES, 2)
        d = rng.choice(DAYS)
        words, labels = [], []
        for token in template.split():
            if token in ("{a}", "{b}", "{d}"):
                value, slot = {"{a}": (a, "fromloc"), "{b}": (b, "toloc"),
                               "{d}": (d, "day")}[token]
                for k, w in enumerate(value.split()):
                    words.append(w)
                    labels.append(("B-" if k == 0 else "I-") + slot)
            else:
                words.append(token)
                labels.append("O")
        words_out.append(words)
        labels_out.append(labels)
    return words_out, labels_out


def atisfold(n_train=400, n_valid=100, n_test=200):
    """(train, valid, test, dicts) as the tutorial's ``atisfold`` returns them: sets of
    (word index lists, named-entity lists, label index lists)."""
    sets = [make_sentences(n, seed) for n, seed in ((n_train, 1), (n_valid, 2), (n_test, 3))]
    vocabulary = sorted({w for words, _ in sets for s in words for w in s})
    labels = sorted({tag for _, tags in sets for s in tags for tag in s})
    words2idx = {w: k for k, w in enumerate(vocabulary)}
    labels2idx = {t: k for k, t in enumerate(labels)}
    out = []
    for words, tags in sets:
        lex = [numpy.array([words2idx[w] for w in s], dtype='int32') for s in words]
        y = [numpy.array([labels2idx[t] for t in s], dtype='int32') for s in tags]
        out.append((lex, [numpy.zeros_like(s) for s in lex], y))
    return out[0], out[1], out[2], {'words2idx': words2idx, 'labels2idx': labels2idx}


def shuffle(lol, seed):
    """Shuffle each list of ``lol`` in place, all in the same order."""
    for item in lol:
        random.seed(seed)
        random.shuffle(item)


def contextwin(sentence, win):
    """For each word, the indices of the ``win`` words around it (-1: past the ends)."""
    assert (win % 2) == 1
    assert win >= 1
    sentence = list(sentence)
    padded = win // 2 * [-1] + sentence + win // 2 * [-1]
    out = [padded[i:i + win] for i in range(len(sentence))]
    assert len(out) == len(sentence)
    return out


def conlleval(predictions, groundtruth):
    """Chunk precision, recall and F1 (in %) of BIO label sequences, as conlleval.pl
    computes them."""
    def chunks(tags):
        found, start, kind = set(), None, None
        for k, tag in enumerate(list(tags) + ["O"]):
            if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
                found.add((start, k, kind))
                start = None
            if tag.startswith("B-") or (tag.startswith("I-") and start is None):
                start, kind = k, tag[2:]
        return found
    correct = guessed = total = 0
    for p, g in zip(predictions, groundtruth):
        cp, cg = chunks(p), chunks(g)
        correct += len(cp & cg)
        guessed += len(cp)
        total += len(cg)
    precision = 100.0 * correct / max(guessed, 1)
    recall = 100.0 * correct / max(total, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {'p': precision, 'r': recall, 'f1': f1}


# ---------------------------------------------------------------- the model

class RNNSLU(object):
    """Elman network: nh hidden units, nc classes, ne words of de-dimensional embeddings,
    context windows of cs words."""

    def __init__(self, nh, nc, ne, de, cs):
        self.emb = theano.shared(name='embeddings',
                                 value=0.2 * numpy.random.uniform(-1.0, 1.0, (ne + 1, de))
                                 # one more for the padding, at the end (index -1)
                                 .astype(theano.config.floatX))
        self.wx = theano.shared(name='wx',
                                value=0.2 * numpy.random.uniform(-1.0, 1.0, (de * cs, nh))
                                .astype(theano.config.floatX))
        self.wh = theano.shared(name='wh',
                                value=0.2 * numpy.random.uniform(-1.0, 1.0, (nh, nh))
                                .astype(theano.config.floatX))
        self.w = theano.shared(name='w',
                               value=0.2 * numpy.random.uniform(-1.0, 1.0, (nh, nc))
                               .astype(theano.config.floatX))
        self.bh = theano.shared(name='bh', value=numpy.zeros(nh, dtype=theano.config.floatX))
        self.b = theano.shared(name='b', value=numpy.zeros(nc, dtype=theano.config.floatX))
        self.h0 = theano.shared(name='h0', value=numpy.zeros(nh, dtype=theano.config.floatX))

        self.params = [self.emb, self.wx, self.wh, self.w, self.bh, self.b, self.h0]
        idxs = T.imatrix()  # a row per word of the sentence, a column per window position
        x = self.emb[idxs].reshape((idxs.shape[0], de * cs))
        y_sentence = T.ivector('y_sentence')

        def recurrence(x_t, h_tm1):
            h_t = T.nnet.sigmoid(T.dot(x_t, self.wx) + T.dot(h_tm1, self.wh) + self.bh)
            s_t = T.nnet.softmax(T.dot(h_t, self.w) + self.b)
            return [h_t, s_t]

        [h, s], _ = theano.scan(fn=recurrence, sequences=x, outputs_info=[self.h0, None],
                                n_steps=x.shape[0])

        p_y_given_x_sentence = s[:, 0, :]
        y_pred = T.argmax(p_y_given_x_sentence, axis=1)

        lr = T.scalar('lr')
        sentence_nll = -T.mean(T.log(p_y_given_x_sentence)[T.arange(x.shape[0]), y_sentence])
        sentence_gradients = T.grad(sentence_nll, self.params)
        sentence_updates = OrderedDict((p, p - lr * g)
                                       for p, g in zip(self.params, sentence_gradients))

        self.classify = theano.function(inputs=[idxs], outputs=y_pred)
        self.sentence_train = theano.function(inputs=[idxs, y_sentence, lr],
                                              outputs=sentence_nll, updates=sentence_updates)
        self.normalize = theano.function(
            inputs=[], updates={self.emb: self.emb / T.sqrt((self.emb ** 2).sum(axis=1))
                                .dimshuffle(0, 'x')})

    def train(self, x, y, window_size, learning_rate):
        cwords = contextwin(x, window_size)
        words = [numpy.asarray(w).astype('int32') for w in cwords]
        cost = self.sentence_train(words, y, learning_rate)
        self.normalize()
        return cost


def main(param):
    train_set, valid_set, test_set, dic = atisfold()
    idx2label = {k: v for v, k in dic['labels2idx'].items()}
    train_lex, train_ne, train_y = train_set
    valid_lex, valid_ne, valid_y = valid_set
    test_lex, test_ne, test_y = test_set
    vocsize = len(dic['words2idx'])
    nclasses = len(dic['labels2idx'])
    groundtruth_valid = [[idx2label[k] for k in y] for y in valid_y]
    groundtruth_test = [[idx2label[k] for k in y] for y in test_y]

    numpy.random.seed(param['seed'])
    random.seed(param['seed'])
    rnn = RNNSLU(nh=param['nhidden'], nc=nclasses, ne=vocsize, de=param['emb_dimension'],
                 cs=param['win'])

    def labelled(lex):
        return [[idx2label[k] for k in rnn.classify(
            numpy.asarray(contextwin(x, param['win'])).astype('int32'))] for x in lex]

    history = {'valid F1': ([], []), 'test F1': ([], [])}
    best_f1, param['clr'], param['be'] = -numpy.inf, param['lr'], 0
    start = time.time()
    for e in range(param['nepochs']):
        shuffle([train_lex, train_ne, train_y], param['seed'])
        param['ce'] = e
        for x, y in zip(train_lex, train_y):
            rnn.train(x, y, param['win'], param['clr'])
        res_test = conlleval(labelled(test_lex), groundtruth_test)
        res_valid = conlleval(labelled(valid_lex), groundtruth_valid)
        history['valid F1'][0].append(e + 1)
        history['valid F1'][1].append(res_valid['f1'])
        history['test F1'][0].append(e + 1)
        history['test F1'][1].append(res_test['f1'])
        if res_valid['f1'] > best_f1:
            best_rnn = copy.deepcopy(rnn)
            best_f1 = res_valid['f1']
            if param['verbose']:
                print('NEW BEST: epoch', e, 'valid F1', res_valid['f1'], 'best test F1',
                      res_test['f1'])
            param['vf1'], param['tf1'] = res_valid['f1'], res_test['f1']
            param['be'] = e
        if param['decay'] and abs(param['be'] - param['ce']) >= 10:
            param['clr'] *= 0.5
            rnn = best_rnn
        if param['clr'] < 1e-5:
            break
    param['seconds'] = time.time() - start
    print('BEST RESULT: epoch', param['be'], 'valid F1', param['vf1'], 'best test F1',
          param['tf1'], '(%.1f s)' % param['seconds'])
    return history


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--png', default=os.path.join(os.path.dirname(__file__), 'rnnslu.png'))
    args = parser.parse_args()
    s = {'lr': 0.0970806646812754, 'verbose': 1, 'decay': True, 'win': 7, 'nhidden': 50,
         'seed': 345, 'emb_dimension': 20, 'nepochs': args.epochs}
    history = main(s)
    if args.png:
        plot_curves(args.png, 'Elman RNN slot filling (synthetic ATIS)', history,
                    ylabel='chunk F1 (%)')
