"""Build spec for the data-parallel example: the tutorial's MLP at the size of benchmark W2
([784, 512, 512, 10], sigmoid, squared error summed over the minibatch, momentum).

    codegen build examples/mlp_mpi/spec.py --data-parallel --out examples/mlp_mpi/out

``--data-parallel`` adds ``train_gradients`` and ``train_apply`` to module ``mlp_w2``; the
spec itself is an ordinary one (``train`` trains on one process).
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mlp"))

from model import MLP, gradient_updates_momentum  # noqa: E402

import codegen  # noqa: E402
import codegen.tensor as T  # noqa: E402

SIZES = (784, 512, 512, 10)


def build_mlp(sizes=SIZES, seed=0):
    rng = np.random.RandomState(seed)
    W_init = [rng.randn(n_out, n_in) / np.sqrt(n_in) for n_in, n_out in zip(sizes, sizes[1:])]
    b_init = [np.full(n_out, 0.1) for n_out in sizes[1:]]
    return MLP(W_init, b_init, [T.nnet.sigmoid] * (len(sizes) - 1))


mlp = build_mlp()
x = T.matrix('x')  # one data point per column, as in the tutorial
y = T.matrix('y')  # the targets, (10, N)
cost = mlp.squared_error(x, y)

module = codegen.Module('mlp_w2')
module.add_function('train', [x, y], cost,
                    updates=gradient_updates_momentum(cost, mlp.params, 1e-4, 0.9))
module.add_function('predict', [x], mlp.output(x))
