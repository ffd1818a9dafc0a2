"""Synthetic data of digits' size: 784 features per point and 10 targets in (0, 1) that a
random teacher network computes, so that the MLP has something to learn (a regression: the
squared error of the tutorial's MLP). Points are columns, as in the tutorial."""

import numpy as np


def make_data(n, seed=0, features=784, outputs=10):
    teacher = np.random.RandomState(1234)  # the same teacher for every split of the data
    W = teacher.randn(outputs, features) * (2 / np.sqrt(features))
    X = np.random.RandomState(seed).randn(features, n)
    Y = 1 / (1 + np.exp(-(W @ X)))
    return X, Y
