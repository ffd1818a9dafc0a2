"""``MRG_RandomStreams`` (Theano's ``theano.sandbox.rng_mrg``): the same counter-based
streams as ``codegen.tensor.shared_randomstreams.RandomStreams`` (codegen draws the same
numbers for both, on every backend)."""

import math

from codegen.tensor.shared_randomstreams import RandomStreams


class MRG_RandomStreams(RandomStreams):  # noqa: N801 (Theano's name)
    """Theano's ``MRG_RandomStreams(seed)``."""

    def __init__(self, seed=12345):
        super().__init__(seed)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Normal draws of mean ``avg`` and standard deviation ``std``; ``truncate``: only
        draws within two standard deviations of the mean (Theano's; their standard
        deviation is then 0.87962 std). A truncated draw is the normal's inverse CDF of a
        uniform draw between the CDF's values at -2 and 2, so each element takes one draw."""
        if not truncate:
            return super().normal(size, avg, std, ndim, dtype, nstreams)
        from codegen.tensor import basic as t
        low, high = (0.5 * math.erfc(2 / math.sqrt(2)), 0.5 * math.erfc(-2 / math.sqrt(2)))
        u = self.uniform(size, low, high, ndim, dtype, nstreams)
        z = t.clip(math.sqrt(2) * t.erfinv(2 * u - 1), -2, 2)  # rounding stays within
        return avg + std * z


__all__ = ["MRG_RandomStreams"]
