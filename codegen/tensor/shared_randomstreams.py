"""``RandomStreams`` (Theano's ``theano.tensor.shared_randomstreams``): random variables
computed in the compiled module.

Each variable a stream object makes has a stream state of its own, a shared variable
(``rv.rng``: int64 ``[seed, counter]``) whose default update advances the counter, so that
each call of a function draws new numbers unless it is compiled with
``no_default_updates=True``. The draws are counter-based (``codegen.ops.random``): a seed
gives the same numbers on every backend and any number of threads.

>>> import codegen, codegen.tensor as T
>>> from codegen.tensor.shared_randomstreams import RandomStreams
>>> srng = RandomStreams(seed=234)
>>> f = codegen.function([], srng.uniform((2, 2)), mode="FAST_COMPILE")
>>> bool((f() != f()).all())
True
"""

import os

import numpy as np

from codegen.config import config
from codegen.graph import TensorType
from codegen.ops.random import RandomVariable
from codegen.tensor.var import TensorSharedVariable


def _mix(seed, k):
    """The seed of stream ``k`` of a stream object seeded with ``seed`` (splitmix64)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + (k + 1) * 0xBF58476D1CE4E5B9) & (2 ** 64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2 ** 64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2 ** 64 - 1)
    return (z ^ (z >> 31)) & (2 ** 63 - 1)


class StreamState(np.ndarray):
    """A stream's state as ``rv.rng.get_value()`` gives it: the int64 ``[seed, counter]``
    array, with the methods of the numpy RandomState that Theano's ``rv.rng`` held, acting
    in place: ``seed(n)`` starts the stream again from seed ``n``, ``get_state()`` is a copy
    of the state and ``set_state(state)`` puts one back (Theano's tutorial, "Copying Random
    State")."""

    def seed(self, seed=None):
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        self[...] = (_mix(seed, 0), 0)

    def get_state(self):
        return np.array(self)

    def set_state(self, state):
        state = np.asarray(state)
        if state.shape != (2,) or state.dtype.kind not in "iu":
            raise ValueError(f"set_state: a stream's state is an int64 [seed, counter] array "
                             f"(from get_state()), got {state.dtype} of shape {state.shape}")
        self[...] = state


class StreamStateVariable(TensorSharedVariable):
    """The shared variable of a stream's state (``rv.rng``): its values are StreamStates."""

    def get_value(self, borrow=False, return_internal_type=False):
        return super().get_value(borrow, return_internal_type).view(StreamState)


class RandomStreams:
    """Random variables of the module (Theano's ``RandomStreams(seed)``)."""

    def __init__(self, seed=None):
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        self.default_instance_seed = int(seed)
        #: (stream state, its update) of every variable made so far
        self.state_updates = []

    def seed(self, seed=None):
        """Re-seed every stream made so far (their counters start again)."""
        if seed is None:
            seed = self.default_instance_seed
        for k, (rng, _) in enumerate(self.state_updates):
            rng.set_value(np.array([_mix(seed, k), 0], dtype="int64"))

    def _draw(self, dist, size, a, b, ndim, dtype):
        from codegen.tensor.basic import as_tensor_variable
        if size is None:
            raise NotImplementedError(f"{type(self).__name__}.{dist}: give the size (draws "
                                      f"shaped by their parameters are not supported)")
        if isinstance(size, int) or (hasattr(size, "ndim") and size.ndim == 0):
            size = (size,)
        lengths = [as_tensor_variable(n) for n in size]
        if ndim is not None and ndim != len(lengths):
            raise ValueError(f"{type(self).__name__}.{dist}: ndim={ndim} but size has "
                             f"{len(lengths)} entries")
        k = len(self.state_updates)
        rng = StreamStateVariable(TensorType("int64", (False,)),
                                  np.array([_mix(self.default_instance_seed, k), 0], "int64"),
                                  name=f"rng_{dist}")
        step = np.array([0, 1], dtype="int64")
        new = rng + step
        rng.default_update = new
        self.state_updates.append((rng, new))
        out = RandomVariable(dist, dtype, len(lengths))(rng, as_tensor_variable(a),
                                                        as_tensor_variable(b), *lengths)
        out.rng, out.update = rng, (rng, new)
        return out

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """Uniform draws in [low, high)."""
        return self._draw("uniform", size, low, high, ndim, dtype or config.floatX)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        """Normal draws of mean ``avg`` and standard deviation ``std``."""
        return self._draw("normal", size, avg, std, ndim, dtype or config.floatX)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", nstreams=None):
        """Binomial draws; n = 1 only (masks, as dropout and denoising autoencoders use)."""
        if not (isinstance(n, (int, np.integer)) and n == 1):
            raise NotImplementedError(f"{type(self).__name__}.binomial: n={n!r} (only n=1, "
                                      f"Bernoulli masks, is supported)")
        return self._draw("binomial", size, p, 0.0, ndim, dtype)

    def __getattr__(self, name):
        if name in ("random_integers", "choice", "permutation", "multinomial", "poisson",
                    "shuffle_row_elements", "gen"):
            raise NotImplementedError(f"RandomStreams.{name} is a Theano API that codegen "
                                      f"does not have yet")
        raise AttributeError(name)


__all__ = ["RandomStreams", "StreamState"]
