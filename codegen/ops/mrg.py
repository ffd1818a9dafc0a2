"""MRG31k3p streams (L'Ecuyer and Touzin, 2000) as Theano's ``theano.sandbox.rng_mrg`` draws
them, so that a seed gives Theano's numbers.

A random variable of ``MRG_RandomStreams`` owns a state matrix (int32, a row of six words
per stream; rows 2**72 steps apart). Draw ``i`` of a call is the next number of stream
``i % S`` (S rows), so a stream gives its numbers for draws ``s``, ``s + S``, ...; the call
leaves each stream advanced by the draws it gave. Two ops compute that, each a walk along
the streams' rows (one row after another on the CPU, a thread per stream on CUDA):

- ``MRGDraws(dtype)(state, K)``: a (K, S) array, column ``s`` the next K numbers of stream
  s, so that flattened it is the draws in order (draw ``i`` is ``[i // S, i % S]``);
- ``MRGAdvance()(state, n)``: the state after a call of ``n`` draws.

The integer arithmetic is Theano's: int32 that wraps (its tests ``y < 0`` catch the sums
that overflowed), a number ``x11 - x21`` taken into [1, M1], then times 2**-31 in float64,
or as a float times 4.6566126e-10f in float32 (the largest such factor whose product with M1
stays below 1), as Theano's C code computes it.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error

M1, M2 = 2147483647, 2147462579  # 2**31 - 1, 2**31 - 21069
NORM = {"float64": 4.656612873077392578125e-10, "float32": np.float32(4.6566126e-10)}

#: The jumps between streams (2**72 steps) and between random variables (2**134 steps) of
#: the two components, from Theano's rng_mrg (computed by L'Ecuyer's SSJ).
A1P72 = ((1516919229, 758510237, 499121365), (1884998244, 1516919229, 335398200),
         (601897748, 1884998244, 358115744))
A2P72 = ((1228857673, 1496414766, 954677935), (1133297478, 1407477216, 1496414766),
         (2002613992, 1639496704, 1407477216))
A1P134 = ((1702500920, 1849582496, 1656874625), (828554832, 1702500920, 1512419905),
          (1143731069, 828554832, 102237247))
A2P134 = ((796789021, 1464208080, 607337906), (1241679051, 1431130166, 1464208080),
          (1401213391, 1178684362, 1431130166))


def jump(state, a1, a2):
    """The six words of ``state`` moved ahead by the jump whose matrices are ``a1``, ``a2``."""
    s = [int(v) for v in state]
    return ([sum(a * v for a, v in zip(row, s[:3])) % M1 for row in a1]
            + [sum(a * v for a, v in zip(row, s[3:])) % M2 for row in a2])


def _square(a, m):
    return tuple(tuple(sum(a[i][k] * a[k][j] for k in range(3)) % m for j in range(3))
                 for i in range(3))


def _apply(a, rows, m):
    """The rows (int64, words below m) times the matrix ``a`` mod m, term by term (each
    product fits in 62 bits)."""
    a = np.array(a, dtype=np.int64)
    return sum((rows[:, None, k] * a[None, :, k]) % m for k in range(3)) % m


def substreams(state, n):
    """The (n, 6) int32 states of n streams, the first ``state``, each 2**72 steps after
    the one before (Theano's ``get_substream_rstates``): rows [2**j, 2**(j + 1)) are rows
    [0, 2**j) moved on by 2**j jumps, a matrix squared each time."""
    out = np.zeros((n, 6), dtype=np.int64)
    if n:
        out[0] = [int(v) for v in state]
    a1, a2, done = A1P72, A2P72, 1
    while done < n:
        take = min(done, n - done)
        out[done:done + take, :3] = _apply(a1, out[:take, :3], M1)
        out[done:done + take, 3:] = _apply(a2, out[:take, 3:], M2)
        a1, a2, done = _square(a1, M1), _square(a2, M2), done + take
    return out.astype(np.int32)


def _wrap(v):
    """int64 arrays taken to int32 as C's int32 arithmetic wraps them."""
    return ((v + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31


def _fold(y, m):
    return np.where((y < 0) | (y >= m), _wrap(y - m), y)


def next_numbers(s):
    """One step of every stream of ``s`` (an (S, 6) int64 array, changed in place): the
    integers in [1, M1] they give."""
    x12, x13 = s[:, 1], s[:, 2]
    y1 = _wrap(((x12 & 511) << 22) + (x12 >> 9) + ((x13 & 16777215) << 7) + (x13 >> 24))
    y1 = _fold(_wrap(_fold(y1, M1) + x13), M1)
    s[:, 2], s[:, 1], s[:, 0] = s[:, 1], s[:, 0], y1
    x21, x23 = s[:, 3], s[:, 5]
    z1 = _fold(_wrap(((x21 & 65535) << 15) + 21069 * (x21 >> 16)), M2)
    z2 = _fold(_wrap(((x23 & 65535) << 15) + 21069 * (x23 >> 16)), M2)
    z2 = _fold(_wrap(_fold(_wrap(z2 + x23), M2) + z1), M2)
    s[:, 5], s[:, 4], s[:, 3] = s[:, 4], s[:, 3], z2
    return np.where(s[:, 0] <= s[:, 3], s[:, 0] - s[:, 3] + M1, s[:, 0] - s[:, 3])


def to_float(v, dtype):
    if dtype == "float32":
        return v.astype(np.float32) * NORM["float32"]
    return v.astype(np.float64) * NORM["float64"]


def _check_state(op, state):
    if state.dtype != "int32" or state.ndim != 2:
        raise TypeError(f"{op.short_name()}: the stream states must be an int32 matrix (a row "
                        f"of 6 words per stream), got {state.type}")


def _check_count(op, n, what):
    if n.ndim != 0 or n.dtype[0] not in "iu":
        raise TypeError(f"{op.short_name()}: {what} must be an int scalar, got {n.type}")


class MRGDraws(Op):
    """The next ``K`` numbers of each stream of ``state``, in [0, 1) of ``dtype``: a
    (K, S) array, column s those of stream s in order."""

    props = ("dtype",)
    reads_values = True  # the lowerer gives infer_shape K's dim expression
    data_inputs = 1  # the streams' state; then the count

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))
        if self.dtype not in NORM:
            raise TypeError(f"mrg_uniform: draws of float32 or float64, not {self.dtype}")

    def short_name(self):
        return "mrg_uniform"

    def make_node(self, state, k):
        _check_state(self, state)
        _check_count(self, k, "the number of draws per stream")
        return Apply(self, [state, k], [TensorType(self.dtype, (False, False))])

    def infer_shape(self, node, input_shapes, values=None):
        return [(values[1] if values is not None else None, input_shapes[0][0])]

    def perform(self, node, values):
        state, k = values
        if state.ndim != 2 or state.shape[1] != 6:
            raise op_error(ValueError, node, f"the stream states must have 6 columns, got "
                                             f"shape {state.shape}")
        s, out = state.astype(np.int64), np.empty((int(k), state.shape[0]), self.dtype)
        for j in range(int(k)):
            out[j] = to_float(next_numbers(s), self.dtype)
        return [out]

    def grad(self, node, output_grads):
        return [None, None]


class MRGAdvance(Op):
    """The streams of ``state`` after a call of ``n`` draws (stream s gave the draws
    s, s + S, ... below n)."""

    props = ()
    reads_values = True
    data_inputs = 1  # the streams' state; then the count

    def short_name(self):
        return "mrg_advance"

    def make_node(self, state, n):
        _check_state(self, state)
        _check_count(self, n, "the number of draws")
        return Apply(self, [state, n], [TensorType("int32", state.broadcastable)])

    def infer_shape(self, node, input_shapes, values=None):
        return [tuple(input_shapes[0])]

    def perform(self, node, values):
        state, n = values
        if state.ndim != 2 or state.shape[1] != 6:
            raise op_error(ValueError, node, f"the stream states must have 6 columns, got "
                                             f"shape {state.shape}")
        s, streams = state.astype(np.int64), state.shape[0]
        steps = np.maximum(int(n) - np.arange(streams) + streams - 1, 0) // max(streams, 1)
        for j in range(int(steps.max(initial=0))):
            moving = steps > j
            part = s[moving]
            next_numbers(part)
            s[moving] = part
        return [s.astype(np.int32)]

    def grad(self, node, output_grads):
        return [None, None]


#: One step of a stream in C (host and CUDA device alike), for cexpr's helpers: int32
#: arithmetic that wraps, through uint32 (wrapping is defined there).
C_MRG = """\
/* MRG31k3p, as Theano's rng_mrg steps it: stream state s[6] one step on; the number it
   gives, in [1, M1] (codegen.ops.mrg) */
CG_INLINE int32_t cg_mrg_fold(uint32_t y, int32_t m) {
    return ((int32_t)y < 0 || (int32_t)y >= m) ? (int32_t)(y - (uint32_t)m) : (int32_t)y;
}
CG_INLINE int32_t cg_mrg31k3p(int32_t* s) {
    const int32_t m1 = 2147483647, m2 = 2147462579;
    uint32_t x12 = (uint32_t)s[1], x13 = (uint32_t)s[2], x21 = (uint32_t)s[3],
             x23 = (uint32_t)s[5];
    int32_t y1 = cg_mrg_fold(((x12 & 511u) << 22) + (x12 >> 9) + ((x13 & 16777215u) << 7)
                             + (x13 >> 24), m1);
    y1 = cg_mrg_fold((uint32_t)y1 + x13, m1);
    s[2] = s[1];
    s[1] = s[0];
    s[0] = y1;
    int32_t z1 = cg_mrg_fold(((x21 & 65535u) << 15) + 21069u * (x21 >> 16), m2);
    int32_t z2 = cg_mrg_fold(((x23 & 65535u) << 15) + 21069u * (x23 >> 16), m2);
    z2 = cg_mrg_fold((uint32_t)z2 + x23, m2);
    z2 = cg_mrg_fold((uint32_t)z2 + (uint32_t)z1, m2);
    s[5] = s[4];
    s[4] = s[3];
    s[3] = z2;
    return s[0] <= s[3] ? s[0] - s[3] + m1 : s[0] - s[3];
}
"""

#: The C of a number as a draw of each dtype (Theano's).
C_TO_FLOAT = {"float64": "(double){0} * 4.656612873077392578125e-10",
              "float32": "(float){0} * 4.6566126e-10f"}


def row_lines(step, state_stride, out_stride):
    """The C lines of one stream (``row``: its six words, ``dst``: where its output goes,
    ``out_stride`` apart) of an ``AxisStep`` of op 'mrg_uniform' (``count`` draws) or
    'mrg_advance' (``count``: the call's draws; the stream is row ``i0`` of ``n0``)."""
    lines = ["int32_t st[6];",
             "for (int j = 0; j < 6; j++) {",
             f"    st[j] = row[j * {state_stride}];",
             "}"]
    if step.op == "mrg_uniform":
        draw = C_TO_FLOAT[step.out.dtype].format("cg_mrg31k3p(st)")
        return lines + ["for (cg_index k = 0; k < count; k++) {",
                        f"    dst[k * {out_stride}] = {draw};",
                        "}"]
    return lines + ["/* the draws i0, i0 + n0, ... below count are this stream's */",
                    "cg_index steps = count > i0 ? (count - i0 + n0 - 1) / n0 : 0;",
                    "for (cg_index k = 0; k < steps; k++) {",
                    "    cg_mrg31k3p(st);",
                    "}",
                    "for (int j = 0; j < 6; j++) {",
                    f"    dst[j * {out_stride}] = st[j];",
                    "}"]


__all__ = ["MRGDraws", "MRGAdvance", "substreams", "jump", "C_MRG", "row_lines"]
