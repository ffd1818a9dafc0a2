"""The tutorial's training data, without codegen (train.py runs where codegen is absent)."""

import numpy as np


def make_data(N=1000, seed=0, dtype="float64"):
    """Two Gaussian clouds in 2-d; points are the columns of X (numpy's RandomState API)."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, N)
    means = np.array([[-1, 1], [-1, 1]])
    covariances = rng.random_sample((2, 2)) + 1
    X = np.vstack([rng.randn(N)*covariances[0, y] + means[0, y],
                   rng.randn(N)*covariances[1, y] + means[1, y]]).astype(dtype)
    return X, y.astype(dtype)
