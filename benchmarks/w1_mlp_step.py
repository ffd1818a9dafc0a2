"""W1: the tutorial MLP train step: layers [2, 4, 1], sigmoid, squared error, N = 1000 (and
N = 1: the fixed cost of a call), momentum updates of every parameter (lr 0.01, momentum
0.9), float64."""

import mlp

NAME = "W1"
CASES = {"[2,4,1] N=1000": {"sizes": (2, 4, 1), "N": 1000, "dtype": "float64"},
         # one example: the fixed cost of a call, what a minibatch loop pays every step
         "[2,4,1] N=1": {"sizes": (2, 4, 1), "N": 1, "dtype": "float64"}}
IMPLEMENTATIONS = mlp.implementations(train=True)
reference = mlp.reference_train
