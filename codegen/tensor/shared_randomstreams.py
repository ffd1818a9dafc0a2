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

    # Theano's other draws, built from uniform draws of a stream of their own with ops that
    # compile: the same numbers on every backend, as the draws above

    @staticmethod
    def _shape(size, method):
        if size is None:
            return ()
        if isinstance(size, (int, np.integer)) or getattr(size, "ndim", None) == 0:
            return (size,)
        try:
            return tuple(size)
        except TypeError:
            raise TypeError(f"RandomStreams.{method}: a size is a tuple of ints and int "
                            f"scalars, or x.shape; got {size!r}") from None

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers drawn evenly from [low, high], both included (numpy's
        ``random_integers``): ``low + floor(u * (high - low + 1))`` for a uniform draw u."""
        from codegen.tensor import basic as t
        low, high = (t.cast(t.as_tensor_variable(v), "int64") for v in (low, high))
        shape = self._shape(size, "random_integers")
        u = self.uniform(shape, ndim=ndim, dtype="float64")
        span = high - low + 1
        offset = t.minimum(t.floor(u * span), span - 1)  # u < 1, but rounding could reach span
        out = t.cast(low + t.cast(offset, "int64"), dtype)
        out.rng, out.update = u.rng, u.update
        return out

    def permutation(self, size=None, n=1, ndim=None, dtype="int64"):
        """Permutations of 0 .. n-1 (shape size + (n,)): each the order that sorts n uniform
        draws."""
        from codegen.tensor import basic as t
        shape = self._shape(size, "permutation")
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"RandomStreams.permutation: ndim={ndim} but the size has "
                             f"{len(shape)} entries")
        u = self.uniform(shape + (n,), dtype="float64")
        out = t.cast(t.argsort(u, axis=-1), dtype)
        out.rng, out.update = u.rng, u.update
        return out

    def _categorical(self, p, shape):
        """Indices of ``shape`` drawn with the probabilities of the vector ``p``: for a
        uniform draw u, the count of running sums of p[:-1] not above u (so the last index
        takes what p[:-1] leaves, as numpy's multinomial); and the draws u."""
        from codegen.tensor import basic as t
        p = t.cast(t.as_tensor_variable(p), "float64")
        if p.ndim != 1:
            raise NotImplementedError(f"RandomStreams: probabilities must be a vector, got "
                                      f"{p.type}")
        u = self.uniform(shape, dtype="float64")
        running = t.cumsum(p, axis=0)[:-1]
        return t.sum(running <= u.dimshuffle(*range(u.ndim), "x"), axis=-1), u

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Draws from ``a`` (an int: range(a); or a vector), evenly or with probabilities
        ``p``; without replacement, the first entries of a permutation (even draws only)."""
        from codegen.tensor import basic as t
        shape = self._shape(size, "choice")
        a = t.as_tensor_variable(a)
        if a.ndim > 1:
            raise TypeError(f"RandomStreams.choice: a must be an int or a vector, got {a.type}")
        n = a if a.ndim == 0 else a.shape[0]
        if not replace:
            if p is not None:
                raise NotImplementedError("RandomStreams.choice: draws without replacement "
                                          "with probabilities p are not implemented")
            if len(shape) > 1:
                raise NotImplementedError("RandomStreams.choice: draws without replacement "
                                          "take a size of one axis")
            order = self.permutation(None, n)
            index, rng = order[:shape[0]] if shape else order[0], order
        elif p is None:
            index = self.random_integers(shape, 0, n - 1)
            rng = index
        else:
            index, rng = self._categorical(p, shape)
            index = t.minimum(index, n - 1)
        out = t.cast(index if a.ndim == 0 else a[index], dtype if a.ndim == 0 else a.dtype)
        out.rng, out.update = rng.rng, rng.update
        return out

    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64"):
        """Counts of ``n`` draws among len(pvals) outcomes (shape size + (len(pvals),)), each
        draw the outcome whose running probability first exceeds a uniform draw."""
        from codegen.tensor import basic as t
        pvals = t.cast(t.as_tensor_variable(pvals), "float64")
        shape = self._shape(size, "multinomial")
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"RandomStreams.multinomial: ndim={ndim} but the size has "
                             f"{len(shape)} entries")
        index, u = self._categorical(pvals, shape + (n,))
        outcomes = t.arange(pvals.shape[0])
        hits = t.eq(index.dimshuffle(*range(index.ndim), "x"), outcomes)
        out = t.cast(t.sum(hits, axis=-2), dtype)
        out.rng, out.update = u.rng, u.update
        return out

    def shuffle_row_elements(self, input):
        """``input`` with the elements of each row (along its last axis) in a random order."""
        from codegen.tensor import basic as t
        from codegen.tensor.utils_theano import permute_row_elements
        input = t.as_tensor_variable(input)
        if input.ndim == 0:
            raise TypeError("RandomStreams.shuffle_row_elements: a scalar has no rows")
        lengths = list(input.shape)
        order = self.permutation(tuple(lengths[:-1]), lengths[-1])
        out = permute_row_elements(input, order)
        out.rng, out.update = order.rng, order.update
        return out

    def poisson(self, size=None, lam=1.0, ndim=None, dtype="int64"):
        """Poisson draws of mean ``lam`` (a number, or an array broadcast over the draws; 0
        where lam <= 0; codegen.ops.random)."""
        return self._draw("poisson", self._shape(size, "poisson"), lam, 0.0, ndim, dtype)

    def __getattr__(self, name):
        if name in ("gen",):
            raise NotImplementedError(f"RandomStreams.{name} is a Theano API that codegen "
                                      f"does not have yet")
        raise AttributeError(name)


__all__ = ["RandomStreams", "StreamState"]
