"""``MRG_RandomStreams`` (Theano's ``theano.sandbox.rng_mrg``): the same counter-based
streams as ``codegen.tensor.shared_randomstreams.RandomStreams`` (codegen draws the same
numbers for both, on every backend)."""

from codegen.tensor.shared_randomstreams import RandomStreams


class MRG_RandomStreams(RandomStreams):  # noqa: N801 (Theano's name)
    """Theano's ``MRG_RandomStreams(seed)``."""

    def __init__(self, seed=12345):
        super().__init__(seed)


__all__ = ["MRG_RandomStreams"]
