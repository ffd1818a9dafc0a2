"""Theano's ``theano.misc.safe_asarray``: ``_asarray``, numpy's ``asarray`` with the dtype
given as a string."""

import numpy as np


def _asarray(a, dtype, order=None):
    """``np.asarray(a, dtype, order)``, the dtype's name checked (Theano's: its dtype is
    always given)."""
    dtype = str(np.dtype(dtype)) if dtype != "floatX" else _floatx()
    return np.asarray(a, dtype=dtype, order=order)


def _floatx():
    from codegen.config import config
    return config.floatX


__all__ = ["_asarray"]
