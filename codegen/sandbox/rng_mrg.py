"""``MRG_RandomStreams`` (Theano's ``theano.sandbox.rng_mrg``): MRG31k3p streams that give
Theano's numbers for Theano's seeds, compiled on every backend (``codegen.ops.mrg``).

Each random variable owns a shared int32 matrix of stream states (``sample.rstate``, a
row per stream, 2**72 steps apart; the stream object's own state moves 2**134 steps on
for the next variable) whose default update advances the streams by the draws of a call.
Uniform draws and Bernoulli masks are Theano's to the bit; normals are Theano's
Box-Muller of them, equal to the last bit or two of the libm's log, sin and cos.
``normal(truncate=True)``, where Theano redraws the values beyond two standard deviations
(a count known only when the draws are), takes the normal's inverse CDF of a uniform draw
between the CDF's values at -2 and 2 instead: the same distribution, one draw an element,
not Theano's numbers.

>>> import codegen
>>> from codegen.sandbox.rng_mrg import MRG_RandomStreams
>>> u = MRG_RandomStreams(seed=12345).uniform((2,), dtype="float64")
>>> codegen.function([], u)().round(6).tolist()  # the first draws of streams 0 and 1
[0.735324, 0.258569]
"""

import math

import numpy as np

from codegen.config import config
from codegen.graph import errors
from codegen.ops import mrg
from codegen.scalar import upcast

M1, M2 = mrg.M1, mrg.M2


def _t():
    from codegen.tensor import basic
    return basic


def guess_n_streams(size, warn=False):
    """Theano's number of streams for draws of ``size``: where ``size`` is a tuple or list
    of Python ints, a sixth of the draws (all of them up to 6), at most 60 * 256; else
    (numpy ints and variables included, as in Theano) 60 * 256."""
    if isinstance(size, (tuple, list)) and all(isinstance(n, int) for n in size):
        r = int(np.prod(size, dtype=np.int64))
        return min(r // 6 if r > 6 else r, 60 * 256)
    if warn:
        errors.warn(f"MRG_RandomStreams can't determine #streams from size ({size}), "
                    f"guessing 60*256")
    return 60 * 256


def _lengths(size, ndim, where):
    """The lengths (int scalar variables) of draws of ``size``: a tuple or list of ints and
    int scalars, an int, or an int vector (``x.shape``)."""
    t = _t()
    if isinstance(size, (int, np.integer)):
        size = (size,)
    if isinstance(size, (tuple, list)):
        for n in size:
            if isinstance(n, (int, np.integer)):
                if n <= 0:
                    raise ValueError(f"MRG_RandomStreams.{where}: the size {tuple(size)} has "
                                     f"a length {n} (each must be at least 1)")
            elif getattr(n, "ndim", None) != 0 or n.dtype[0] not in "iu":
                raise TypeError(f"MRG_RandomStreams.{where}: a size is a tuple of ints and "
                                f"int scalars, or an int vector, got an entry {n!r}")
        lengths = [t.as_tensor_variable(n) for n in size]
    elif getattr(size, "ndim", None) == 1 and size.dtype[0] in "iu":
        try:
            lengths = list(size)
        except TypeError:
            n = ndim if ndim is not None else (size.type.shape or (None,))[0]
            if n is None:
                raise ValueError(f"MRG_RandomStreams.{where}: give ndim, the number of axes "
                                 f"of draws shaped by {size.label()}") from None
            lengths = [size[k] for k in range(n)]
    else:
        raise TypeError(f"MRG_RandomStreams.{where}: a size is a tuple of ints and int "
                        f"scalars, or an int vector, got {size!r}")
    if ndim is not None and ndim != len(lengths):
        raise ValueError(f"MRG_RandomStreams.{where}: ndim={ndim} but the size has "
                         f"{len(lengths)} entries")
    return lengths


class MRG_RandomStreams:  # noqa: N801 (Theano's name)
    """Theano's ``MRG_RandomStreams(seed)``: ``seed`` an int in [1, M2), or six ints (the
    first three below M1 and not all 0, the last three below M2 and not all 0)."""

    def __init__(self, seed=12345):
        #: (state variable, its update, size, nstreams, dtype) of every variable made so far
        self.state_updates = []
        self.default_instance_seed = seed
        self.set_rstate(seed)

    def updates(self):
        return [(state, new) for state, new, *_ in self.state_updates]

    def set_rstate(self, seed):
        if isinstance(seed, (int, np.integer)):
            if seed == 0:
                raise ValueError("MRG_RandomStreams: the seed must not be 0")
            if not 0 < seed < M2:
                raise ValueError(f"MRG_RandomStreams: the seed must be in [1, {M2}), got "
                                 f"{seed}")
            self.rstate = np.array([seed] * 6, dtype="int32")
        elif len(seed) == 6:
            words = [int(w) for w in seed]
            for part, m in ((words[:3], M1), (words[3:], M2)):
                if not any(part) or not all(0 <= w < m for w in part):
                    raise ValueError(f"MRG_RandomStreams: seed {seed}: each three words "
                                     f"must be in [0, {m}) and not all 0")
            self.rstate = np.array(words, dtype="int32")
        else:
            raise TypeError(f"MRG_RandomStreams: a seed is 1 int or 6 ints, got {seed!r}")

    def seed(self, seed=None):
        """Start every stream made so far again from ``seed`` (the first one's, if None)."""
        self.set_rstate(self.default_instance_seed if seed is None else seed)
        for state, _, size, nstreams, _ in self.state_updates:
            rows = self.get_substream_rstates(
                nstreams if nstreams is not None else self.n_streams(size), None)
            state.set_value(rows, borrow=True)

    def inc_rstate(self):
        """Move the stream object's state 2**134 steps on (the next variable's first
        stream)."""
        self.rstate = np.array(mrg.jump(self.rstate, mrg.A1P134, mrg.A2P134), dtype="int32")

    def get_substream_rstates(self, n_streams, dtype, inc_rstate=True):
        """The (n_streams, 6) states of a new variable's streams."""
        rows = mrg.substreams(self.rstate, int(n_streams))
        if inc_rstate:
            self.inc_rstate()
        return rows

    def n_streams(self, size):
        return guess_n_streams(size)

    def _uniform01(self, lengths, size, nstreams, dtype):
        """Draws in [0, 1) shaped by ``lengths``, from a new state variable."""
        t = _t()
        streams = int(nstreams) if nstreams is not None else self.n_streams(size)
        state = t.shared(self.get_substream_rstates(streams, dtype), name="rstate")
        n = lengths[0].astype("int64") if lengths else t.constant(1, "int64")
        for length in lengths[1:]:
            n = n * length.astype("int64")
        per_stream = (n + (streams - 1)) // streams
        draws = mrg.MRGDraws(dtype)(state, per_stream)  # (per_stream, streams)
        u = t.reshape(draws.flatten()[:n], lengths)
        new = mrg.MRGAdvance()(state, n)
        state.default_update = new
        state.tag.is_rng = True
        self.state_updates.append((state, new, size, nstreams, dtype))
        u.rstate, u.update = state, (state, new)
        return u

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """Draws in [low, high) of ``size``, ``u * (high - low) + low`` for Theano's draws
        ``u`` in [0, 1); ``dtype`` by default that of low and high, at least floatX."""
        t = _t()
        low, high = t.as_tensor_variable(low), t.as_tensor_variable(high)
        if dtype is None:
            dtype = upcast(config.floatX, low.dtype, high.dtype)
        dtype = str(np.dtype(dtype))
        if dtype not in mrg.NORM:
            raise TypeError(f"MRG_RandomStreams.uniform: draws of float32 or float64, not "
                            f"{dtype}")
        low, high = t.cast(low, dtype), t.cast(high, dtype)
        u = self._uniform01(_lengths(size, ndim, "uniform"), size, nstreams, dtype)
        r = u * (high - low) + low
        if r.broadcastable != u.broadcastable:
            raise NotImplementedError("MRG_RandomStreams.uniform: low and high broadcast to "
                                      "more axes than the size has; give the full size")
        r.rstate, r.update = u.rstate, u.update
        return r

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None):
        """Bernoulli masks (n = 1): ``uniform(size) < p`` as ``dtype``."""
        if not (isinstance(n, (int, np.integer)) and n == 1):
            raise NotImplementedError(f"MRG_RandomStreams.binomial: n={n!r} (only n=1, "
                                      f"Bernoulli masks, as in Theano)")
        t = _t()
        x = self.uniform(size=size, ndim=ndim, nstreams=nstreams)
        return t.cast(x < t.as_tensor_variable(p), dtype)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Normal draws of mean ``avg`` and standard deviation ``std``: Theano's
        Box-Muller of an even number of uniform draws (the first half the radii's, the
        second the angles'), cosines then sines. ``truncate``: only draws within two
        standard deviations (see the module's docstring)."""
        t = _t()
        avg, std = t.as_tensor_variable(avg), t.as_tensor_variable(std)
        if dtype is None:
            dtype = upcast(config.floatX, avg.dtype, std.dtype)
        dtype = str(np.dtype(dtype))
        avg, std = t.cast(avg, dtype), t.cast(std, dtype)
        lengths = _lengths(size, ndim, "normal")
        if truncate:
            low, high = (0.5 * math.erfc(2 / math.sqrt(2)), 0.5 * math.erfc(-2 / math.sqrt(2)))
            u = self.uniform(size, low, high, ndim, dtype, nstreams)
            z = t.clip(math.sqrt(2) * t.erfinv(2 * u - 1), -2, 2)  # rounding stays within
            return avg + std * z
        n = lengths[0].astype("int64")
        for length in lengths[1:]:
            n = n * length.astype("int64")
        even = (n + 1) // 2 * 2
        # Theano's count of these draws is a variable: its streams are 60 * 256
        uniform = self.uniform((even,), 0.0, 1.0, ndim=1, dtype=dtype, nstreams=nstreams)
        u1, u2 = uniform[:even // 2], uniform[even // 2:]
        r = t.sqrt(-2.0 * t.log(u1))
        theta = np.array(2.0 * np.pi, dtype=dtype) * u2
        z = t.join(0, r * t.cos(theta), r * t.sin(theta))[:n]
        samples = t.reshape(z, lengths) * std + avg
        samples.rstate, samples.update = uniform.rstate, uniform.update
        return samples

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        """Normal draws within two standard deviations, scaled so that their standard
        deviation is ``std`` (Theano's: std / 0.87962566103423978)."""
        return self.normal(size, avg, _t().as_tensor_variable(std) / 0.87962566103423978,
                           ndim, dtype, nstreams, truncate=True)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None):
        """Counts (pvals' shape) of ``n`` draws from each row's multinomial distribution
        ``pvals`` (a matrix; not checked to be one), from ``n`` uniform draws per row
        (Theano's: row r's c-th count comes from draw ``c * rows + r``)."""
        from codegen.sandbox.multinomial import MultinomialFromUniform
        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: give pvals")
        if size is not None or ndim is not None:
            raise ValueError("MRG_RandomStreams.multinomial takes no size nor ndim: the "
                             "counts have pvals' shape")
        return self._per_row("multinomial", MultinomialFromUniform(dtype), pvals, n, nstreams)

    def _per_row(self, method, op, probs, count, nstreams):
        """``op`` of the matrix ``probs`` (a distribution per row) and ``count`` uniform
        draws per row, the c-th of row r at ``c * rows + r``."""
        probs = _t().as_tensor_variable(probs)
        if probs.ndim != 2:
            raise NotImplementedError(f"MRG_RandomStreams.{method}: the probabilities must be "
                                      f"a matrix (a distribution per row), got {probs.type}")
        unis = self.uniform((probs.shape[0] * count,), ndim=1, nstreams=nstreams)
        return op(probs, unis, count)

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64",
               nstreams=None):
        """``size`` draws without replacement (an int) from each row's distribution ``p`` (a
        matrix): their indices, rows x size (Theano's: only without replacement, ``a``
        None)."""
        from codegen.sandbox.multinomial import ChoiceFromUniform
        if replace:
            raise NotImplementedError("MRG_RandomStreams.choice draws without replacement only "
                                      "(replace=False), as Theano's")
        if a is not None:
            raise TypeError("MRG_RandomStreams.choice: a must be None (the draws are indices "
                            "into p's rows)")
        if p is None or ndim is not None:
            raise TypeError("MRG_RandomStreams.choice: give p (a matrix) and no ndim")
        return self._per_row("choice", ChoiceFromUniform(dtype), p, size, nstreams)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                                   nstreams=None):
        """Theano's older name of ``choice(size=n, replace=False, p=pvals)``."""
        if size is not None:
            raise ValueError("MRG_RandomStreams.multinomial_wo_replacement takes no size")
        return self.choice(n, None, False, pvals, ndim, dtype, nstreams)


__all__ = ["MRG_RandomStreams", "guess_n_streams"]
