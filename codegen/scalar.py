"""``theano.scalar``, the part that programs call: ``upcast``."""

import numpy as np


def upcast(dtype, *dtypes):
    """The dtype that values of all the given dtypes combine into (numpy's rules)."""
    return str(np.result_type(*(np.dtype(d) for d in (dtype,) + dtypes)))


__all__ = ["upcast"]
