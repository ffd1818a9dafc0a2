"""Random numbers in compiled code: counter-based (Philox4x32-10, Salmon et al., SC'11).

Element ``e`` (its flat index, C order) of a random variable, on the call that sees the
variable's stream state ``(seed, counter)``, is a function of those three numbers only:
the four 32-bit words ``philox(ctr=(e, counter), key=seed)``. So a seed gives the same
numbers on every backend and for any number of threads; each call advances the counter
(the state's default update). Uniforms and Bernoulli draws are the same bits everywhere;
normals go through log and cos, which agree between libms to the last bit or two.

- uniform: float64 ``(w0 >> 5, w1 >> 6)`` as 53 bits over 2**53; float32 ``w0 >> 8`` over
  2**24 (both in [0, 1)), then ``low + (high - low) * u``.
- normal: Box-Muller in float64 from two 53-bit uniforms ``u1`` (as 1 - u, in (0, 1]) and
  ``u2``: ``sqrt(-2 log u1) cos(2 pi u2)``, then ``avg + std * z`` in the result's dtype.
- binomial with n = 1: ``u < p`` for the float64 uniform ``u``.
- poisson of mean ``lam``: from the element's stream of 53-bit uniforms ``u_j`` (block
  ``j // 2`` is Philox at counters ``(e + (j // 2) * 2**48, counter)``, words 0-1 then 2-3;
  so at most 2**48 draws a variable): below a mean of 10, the count of uniforms whose
  running product stays above ``exp(-lam)`` (Knuth); from 10 on, Hörmann's transformed
  rejection with squeeze (PTRS, as numpy's), a pair of uniforms a try; 0 where lam <= 0.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox(e, counter, seed):
    """The four uint32 words (arrays) of Philox4x32-10 at counters ``(e, counter)`` (uint64
    arrays or ints) under key ``seed`` (an int)."""
    e = np.asarray(e, dtype=np.uint64)
    c = [e & MASK, e >> np.uint64(32),
         np.full_like(e, int(counter) & MASK), np.full_like(e, (int(counter) >> 32) & MASK)]
    k0, k1 = int(seed) & MASK, (int(seed) >> 32) & MASK
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & np.uint64(MASK),
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & np.uint64(MASK)]
    return c


def _res53(a, b):
    return ((a >> np.uint64(5)).astype(np.float64) * 67108864.0
            + (b >> np.uint64(6)).astype(np.float64)) * (1.0 / 9007199254740992.0)


def uniform01(words, dtype):
    if dtype == "float32":
        return ((words[0] >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0))
    return _res53(words[0], words[1])


POISSON_SMALL, BLOCK = 10.0, np.uint64(1 << 48)


def _uniform_at(e, counter, seed, j):
    """The j-th uniforms (j an array) of the elements e (poisson's stream)."""
    words = philox(e + (j // 2).astype(np.uint64) * BLOCK, counter, seed)
    first = (j % 2) == 0
    return np.where(first, _res53(words[0], words[1]), _res53(words[2], words[3]))


def poisson(e, counter, seed, lam):
    """Poisson draws (int64) of means ``lam`` for the elements ``e`` (see the module)."""
    from math import lgamma
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), e.shape)
    out = np.zeros(e.shape, dtype=np.int64)
    small = (lam > 0) & (lam < POISSON_SMALL)
    if small.any():
        es, ls = e[small], lam[small]
        limit, j = np.exp(-ls), np.zeros(es.shape, dtype=np.int64)
        p = _uniform_at(es, counter, seed, j)
        going = p > limit
        while going.any() and j.max() < 1000:
            j = j + going
            p = np.where(going, p * _uniform_at(es, counter, seed, j), p)
            going = going & (p > limit)
        out[small] = j
    big = lam >= POISSON_SMALL
    for at in np.flatnonzero(big.ravel()):
        out.flat[at] = _ptrs(int(e.flat[at]), counter, seed, float(lam.flat[at]), lgamma)
    return out


def _ptrs(e, counter, seed, lam, lgamma):
    slam, loglam = np.sqrt(lam), np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha, vr = 1.1239 + 1.1328 / (b - 3.4), 0.9277 - 3.6224 / (b - 2)
    for t in range(1000):
        pair = _uniform_at(np.array([e], dtype=np.uint64), counter, seed,
                           np.array([2 * t, 2 * t + 1]))
        u, v = float(pair[0]) - 0.5, float(pair[1])
        us = 0.5 - abs(u)
        k = np.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b)
                <= -lam + k * loglam - lgamma(k + 1)):
            return int(k)
    return int(np.floor(lam))


def standard_normal(words):
    u1 = 1.0 - _res53(words[0], words[1])
    u2 = _res53(words[2], words[3])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


#: Philox in C (host and CUDA device alike) and the draws built on it, for cexpr.C_HELPERS.
C_RANDOM = """\
/* Random numbers: Philox4x32-10 at counters (e, counter) under key seed (codegen.ops.random):
   the same bits on every backend and for any number of threads */
CG_INLINE void cg_philox(int64_t e, int64_t counter, int64_t seed, uint32_t w[4]) {
    uint32_t c0 = (uint32_t)e, c1 = (uint32_t)((uint64_t)e >> 32);
    uint32_t c2 = (uint32_t)counter, c3 = (uint32_t)((uint64_t)counter >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)((uint64_t)seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}
CG_INLINE double cg_res53(uint32_t a, uint32_t b) {
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}
CG_INLINE double cg_rand_uniform(int64_t e, int64_t counter, int64_t seed) {
    uint32_t w[4];
    cg_philox(e, counter, seed, w);
    return cg_res53(w[0], w[1]);
}
CG_INLINE float cg_rand_uniformf(int64_t e, int64_t counter, int64_t seed) {
    uint32_t w[4];
    cg_philox(e, counter, seed, w);
    return (float)(w[0] >> 8) * (1.0f / 16777216.0f);
}
CG_INLINE double cg_rand_normal(int64_t e, int64_t counter, int64_t seed) {
    uint32_t w[4];
    cg_philox(e, counter, seed, w);
    double u1 = 1.0 - cg_res53(w[0], w[1]), u2 = cg_res53(w[2], w[3]);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
CG_INLINE float cg_rand_normalf(int64_t e, int64_t counter, int64_t seed) {
    return (float)cg_rand_normal(e, counter, seed);
}
CG_INLINE int cg_rand_bernoulli(int64_t e, int64_t counter, int64_t seed, double p) {
    return cg_rand_uniform(e, counter, seed) < p;
}
/* the j-th uniform of element e's stream of a Poisson draw: Philox block j / 2 at
   e + (j / 2) * 2**48 */
CG_INLINE double cg_rand_uniform_at(int64_t e, int64_t counter, int64_t seed, int64_t j) {
    uint32_t w[4];
    cg_philox(e + (int64_t)((uint64_t)(j / 2) << 48), counter, seed, w);
    return j % 2 == 0 ? cg_res53(w[0], w[1]) : cg_res53(w[2], w[3]);
}
CG_INLINE int64_t cg_rand_poisson(int64_t e, int64_t counter, int64_t seed, double lam) {
    if (!(lam > 0))
        return 0;
    if (lam < 10.0) {  /* Knuth: uniforms multiplied until at or below exp(-lam) */
        double limit = exp(-lam), p = cg_rand_uniform_at(e, counter, seed, 0);
        int64_t j = 0;
        while (p > limit && j < 1000) {
            j++;
            p *= cg_rand_uniform_at(e, counter, seed, j);
        }
        return j;
    }
    /* Hormann's transformed rejection with squeeze (PTRS), a pair of uniforms a try */
    double slam = sqrt(lam), loglam = log(lam);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (int64_t t = 0; t < 1000; t++) {
        double u = cg_rand_uniform_at(e, counter, seed, 2 * t) - 0.5;
        double v = cg_rand_uniform_at(e, counter, seed, 2 * t + 1);
        double us = 0.5 - fabs(u);
        double k = floor((2 * a / us + b) * u + lam + 0.43);
        if (us >= 0.07 && v <= vr)
            return (int64_t)k;
        if (k < 0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lam + k * loglam - lgamma(k + 1))
            return (int64_t)k;
    }
    return (int64_t)floor(lam);
}
"""

#: The scalar ops of the draws (cexpr's table): element index, counter, seed[, p].
C_RANDOM_OPS = {
    "rand_uniform": "cg_rand_uniform{f}({0}, {1}, {2})",
    "rand_normal": "cg_rand_normal{f}({0}, {1}, {2})",
    "rand_bernoulli": "(({out})cg_rand_bernoulli({0}, {1}, {2}, (double){3}))",
    "rand_poisson": "(({out})cg_rand_poisson({0}, {1}, {2}, (double){3}))",
}


class RandomVariable(Op):
    """Draws of ``dist`` ('uniform', 'normal', 'binomial' with n = 1, 'poisson') of
    ``dtype``, shaped by int scalar lengths, from the stream state ``rng`` (int64 ``[seed,
    counter]``, a shared variable whose default update advances the counter). Inputs: rng,
    the two parameters (low/high, avg/std, or p or lam and an unused 0), then the
    lengths."""

    props = ("dist", "dtype", "ndim")

    def __init__(self, dist, dtype, ndim):
        self.dist, self.dtype, self.ndim = dist, str(np.dtype(dtype)), ndim

    def short_name(self):
        return f"random_{self.dist}"

    def make_node(self, rng, a, b, *lengths):
        from codegen.ops.shape import _is_one
        if rng.dtype != "int64" or rng.ndim != 1:
            raise TypeError(f"{self.short_name()}: the stream state must be an int64 vector, "
                            f"got {rng.type}")
        for k, n in enumerate(lengths):
            if n.ndim != 0 or n.dtype[0] not in "iu":
                raise TypeError(f"{self.short_name()}: length {k} must be an int scalar, "
                                f"got {n.type}")
        bc = tuple(_is_one(n) for n in lengths)
        for p in (a, b):  # a parameter per element: broadcast against the draws' shape
            if p.ndim > len(lengths):
                raise TypeError(f"{self.short_name()}: a parameter of {p.ndim} axes for "
                                f"draws of {len(lengths)} ({p.type})")
        return Apply(self, [rng, a, b, *lengths], [TensorType(self.dtype, bc)])

    #: the lowerer gives ``infer_shape`` the dim expressions of the lengths' values
    reads_values = True
    data_inputs = 3  # the generator and the two parameters; then the lengths

    def infer_shape(self, node, input_shapes, values=None):
        lengths = (values or [None] * 3)[3:]
        if len(lengths) != node.out.ndim or None in lengths:
            raise NotImplementedError(f"{self.short_name()}: lengths known when lowering")
        return [tuple("1" if bc else n for n, bc in zip(lengths, node.out.broadcastable))]

    def perform(self, node, values):
        rng, a, b, *lengths = values
        shape = tuple(int(n) for n in lengths)
        if any(n < 0 for n in shape):
            raise op_error(ValueError, node, f"negative length in size {shape}")
        seed, counter = int(rng[0]), int(rng[1])
        words = philox(np.arange(int(np.prod(shape)), dtype=np.uint64), counter, seed)
        dtype = np.dtype(self.dtype)
        try:
            np.broadcast_shapes(np.shape(a), np.shape(b), shape)
        except ValueError:
            raise op_error(ValueError, node, f"parameters of shapes {np.shape(a)} and "
                           f"{np.shape(b)} for draws of shape {shape}") from None
        if self.dist == "uniform":
            u = uniform01(words, "float32" if dtype == np.float32 else "float64").astype(dtype)
            u = u.reshape(shape)
            out = a.astype(dtype) + (b.astype(dtype) - a.astype(dtype)) * u
        elif self.dist == "normal":
            z = standard_normal(words).astype(dtype).reshape(shape)
            out = a.astype(dtype) + b.astype(dtype) * z
        elif self.dist == "poisson":
            e = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
            out = poisson(e, counter, seed, np.broadcast_to(np.asarray(a, np.float64), shape))
        else:
            u = _res53(words[0], words[1]).reshape(shape)
            out = (u < np.asarray(a, dtype=np.float64)).astype(dtype)
        return [np.broadcast_to(np.asarray(out, dtype=dtype), shape).copy()]

    def grad(self, node, output_grads):
        return [None] * len(node.inputs)


__all__ = ["RandomVariable", "philox", "C_RANDOM", "C_RANDOM_OPS"]
