"""The FFT along one axis, what the compiled form of ``theano.tensor.fft``'s ``rfft`` and
``irfft`` is built from (``codegen.ops.valued``: a transform over n axes is n of these, as
numpy's ``rfftn`` and ``irfftn`` go). Complex arrays hold the real and imaginary parts on a
last axis of 2, as Theano's do.

- ``FFT1('rfft')``: the FFT of each real signal along the last axis: ``(..., n)`` ->
  ``(..., n // 2 + 1, 2)``.
- ``FFT1('fft', axis)`` / ``FFT1('ifft', axis)``: the complex FFT along ``axis`` of a complex
  array, ``sum_k a[k] exp(-+2 pi i j k / n)`` (the inverse unnormalized).
- ``FFT1('irfft', odd=...)``: the real signals of ``2 (m - 1) + odd`` points whose spectra are
  the last complex axis's ``m`` values (unnormalized); without ``odd``, of the length its
  second input gives.

Each runs as a walk along the axis (``lower.program.AxisStep``), a line at a time, in double
precision whatever the dtype, in memory of the step's own: radix 2 for a power of 2, else
Bluestein's chirp z-transform by power-of-2 FFTs (any length in O(n log n)). The C
(``C_FFT``, ``row_lines``) is the same on the host and on a CUDA device (a thread per line).
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType

OPS = ("rfft", "fft", "ifft", "irfft")


class FFT1(Op):
    props = ("kind", "axis", "odd")
    #: the lowerer gives ``infer_shape`` the dim expression of irfft's length
    reads_values = True

    def __init__(self, kind, axis=-1, odd=None):
        assert kind in OPS, kind
        self.kind, self.axis, self.odd = kind, axis, odd

    def short_name(self):
        return self.kind

    def make_node(self, x, *length):
        dtype = x.dtype if x.dtype in ("float32", "float64") else "float64"
        bc = x.broadcastable
        if self.kind == "rfft":
            out = TensorType(dtype, bc[:-1] + (False, False))
        elif self.kind == "irfft":
            out = TensorType(dtype, bc[:-2] + (False,))
        else:
            out = TensorType(dtype, bc)
        return Apply(self, [x, *length], [out])

    def signal_axis(self, ndim):
        """The axis of the input that the transform runs along."""
        if self.kind == "rfft":
            return ndim - 1
        if self.kind == "irfft":
            return ndim - 2
        return self.axis % (ndim - 1)

    def perform(self, node, values):
        x = values[0]
        dtype = node.outputs[0].dtype
        if self.kind == "rfft":
            s = np.fft.rfft(x, axis=-1)
            return [np.stack([s.real, s.imag], axis=-1).astype(dtype)]
        c = x[..., 0] + 1j * x[..., 1]
        if self.kind == "irfft":
            n = self._length(c.shape[-1], values)
            return [(np.fft.irfft(c, n=n, axis=-1) * n).astype(dtype)]
        axis = self.signal_axis(x.ndim)
        s = np.fft.fft(c, axis=axis) if self.kind == "fft" else \
            np.fft.ifft(c, axis=axis) * c.shape[axis]
        return [np.stack([s.real, s.imag], axis=-1).astype(dtype)]

    def _length(self, m, values):
        return 2 * (m - 1) + self.odd if self.odd is not None else int(values[1])

    def infer_shape(self, node, input_shapes, values=None):
        shape = list(input_shapes[0])
        if self.kind == "rfft":
            return [tuple(shape[:-1]) + (f"_dim_div({shape[-1]}, 2) + 1", "2")]
        if self.kind == "irfft":
            if self.odd is not None:
                length = f"2 * ({shape[-2]} - 1) + {self.odd}"
            elif values and values[1] is not None and not values[1].startswith("@"):
                length = values[1]
            else:
                raise NotImplementedError("irfft: a length known when lowering")
            return [tuple(shape[:-2]) + (length,)]
        return [tuple(shape)]

    def shape_checks(self, node, input_shapes):
        """The signals' points are at least one (numpy refuses an empty transform)."""
        shape = input_shapes[0]
        if self.kind != "irfft":
            points = shape[self.signal_axis(len(shape))]
        elif self.odd is not None:
            points = f"2 * ({shape[-2]} - 1) + {self.odd}"
        else:  # a gradient's: the length of signals rfft took
            return []
        return [(f"({points} > 0)", "1", "the number of FFT points must be at least 1")]

    def grad(self, node, output_grads):  # the compiled form of ops that have theirs
        raise NotImplementedError("FFT1 has no gradient of its own (rfft and irfft have)")


def length(step):
    """The C expression of the number of points of a step's transform."""
    return "count" if step.op == "irfft" else "m"


def work_words(n):
    """The doubles of memory one line's transform of ``n`` points takes (a dim expression):
    the line, and Bluestein's roots and two arrays of M < 4 n points."""
    return f"22 * ({n}) + 16"


#: The FFT of one line in C (host and CUDA device alike), for cexpr's helpers.
C_FFT = """\
/* exp(sign 2 pi i k / n) for k < n / 2, as (re, im) pairs */
CG_INLINE void cg_fft_roots(cg_index n, int sign, double* w) {
    for (cg_index k = 0; k < n / 2; k++) {
        const double angle = sign * 6.283185307179586 * (double)k / (double)n;
        w[2 * k] = cos(angle);
        w[2 * k + 1] = sin(angle);
    }
}

/* the FFT of n complex values (n a power of 2; (re, im) pairs) in place, with the roots w:
   the bit-reversed order, then log2 n rounds of butterflies */
CG_INLINE void cg_fft_pow2(cg_index n, double* a, const double* w) {
    for (cg_index i = 1, j = 0; i < n; i++) {
        cg_index bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            const double re = a[2 * i], im = a[2 * i + 1];
            a[2 * i] = a[2 * j];
            a[2 * i + 1] = a[2 * j + 1];
            a[2 * j] = re;
            a[2 * j + 1] = im;
        }
    }
    for (cg_index len = 2; len <= n; len <<= 1) {
        const cg_index half = len / 2, stride = n / len;
        for (cg_index i = 0; i < n; i += len) {
            for (cg_index k = 0; k < half; k++) {
                const double wr = w[2 * k * stride], wi = w[2 * k * stride + 1];
                double* u = a + 2 * (i + k);
                double* v = u + 2 * half;
                const double tr = v[0] * wr - v[1] * wi, ti = v[0] * wi + v[1] * wr;
                v[0] = u[0] - tr;
                v[1] = u[1] - ti;
                u[0] += tr;
                u[1] += ti;
            }
        }
    }
}

/* sum_k a[k] exp(sign 2 pi i j k / n) for j < n, in place, any n: radix 2 for a power of 2,
   else Bluestein's: with c[k] = exp(sign pi i k^2 / n), the transform is c[j] times the
   convolution of a[k] c[k] with conj(c), done by FFTs of M >= 2n - 1 points (a power of 2);
   k^2 is taken modulo 2n, so the angles stay exact. work: 5 M doubles (n for a power of 2) */
CG_INLINE void cg_fft(cg_index n, int sign, double* a, double* work) {
    if (n < 2)
        return;
    if ((n & (n - 1)) == 0) {
        cg_fft_roots(n, sign, work);
        cg_fft_pow2(n, a, work);
        return;
    }
    cg_index M = 1;
    while (M < 2 * n - 1)
        M <<= 1;
    double* w = work;
    double* A = work + M;
    double* B = A + 2 * M;
    cg_fft_roots(M, -1, w);
    for (cg_index k = 0; k < 2 * M; k++) {
        A[k] = 0;
        B[k] = 0;
    }
    for (cg_index k = 0; k < n; k++) {
        const double angle = sign * 3.141592653589793 * (double)((k * k) % (2 * n)) / (double)n;
        const double cr = cos(angle), ci = sin(angle);
        A[2 * k] = a[2 * k] * cr - a[2 * k + 1] * ci;
        A[2 * k + 1] = a[2 * k] * ci + a[2 * k + 1] * cr;
        B[2 * k] = cr;
        B[2 * k + 1] = -ci;
        if (k > 0) {
            B[2 * (M - k)] = cr;
            B[2 * (M - k) + 1] = -ci;
        }
    }
    cg_fft_pow2(M, A, w);
    cg_fft_pow2(M, B, w);
    for (cg_index k = 0; k < M; k++) {  /* the product, conjugated: its forward FFT is the
                                            conjugate of the inverse (times M) */
        const double re = A[2 * k] * B[2 * k] - A[2 * k + 1] * B[2 * k + 1];
        const double im = A[2 * k] * B[2 * k + 1] + A[2 * k + 1] * B[2 * k];
        A[2 * k] = re;
        A[2 * k + 1] = -im;
    }
    cg_fft_pow2(M, A, w);
    for (cg_index j = 0; j < n; j++) {
        const double re = A[2 * j] / (double)M, im = -A[2 * j + 1] / (double)M;
        const double angle = sign * 3.141592653589793 * (double)((j * j) % (2 * n)) / (double)n;
        const double cr = cos(angle), ci = sin(angle);
        a[2 * j] = re * cr - im * ci;
        a[2 * j + 1] = re * ci + im * cr;
    }
}
"""


def row_lines(step, row_index, xs, xpair, os, opair):
    """The C lines of one line's transform (``row``: the input line, ``dst``: the output's;
    ``xs``/``os`` the strides along the axis, ``xpair``/``opair`` those of the (re, im) axis
    where the array is complex; ``row_index``: the C expression of the line's number, which
    picks its memory)."""
    otype = "float" if step.out.dtype == "float32" else "double"
    n = length(step)
    lines = [f"double* line = {step.work.name} + ({row_index}) * ({work_words(n)});",
             f"double* scratch = line + 2 * {n};"]
    if step.op == "rfft":
        lines += ["for (cg_index k = 0; k < m; k++) {",
                  f"    line[2 * k] = (double)row[k * {xs}];",
                  "    line[2 * k + 1] = 0;",
                  "}",
                  "cg_fft(m, -1, line, scratch);",
                  "for (cg_index k = 0; k <= m / 2; k++) {",
                  f"    dst[k * {os}] = ({otype})line[2 * k];",
                  f"    dst[k * {os} + {opair}] = ({otype})line[2 * k + 1];",
                  "}"]
    elif step.op == "irfft":  # the spectrum's conjugate symmetric whole, as numpy's c2r
        lines += ["const cg_index half = count / 2;",
                  "for (cg_index k = 0; k <= half && k < count; k++) {",
                  f"    line[2 * k] = k < m ? (double)row[k * {xs}] : 0;",
                  f"    line[2 * k + 1] = k < m ? (double)row[k * {xs} + {xpair}] : 0;",
                  "}",
                  "if (count > 0) line[1] = 0;  /* no imaginary part at 0, nor at n / 2 */",
                  "if (count > 0 && count % 2 == 0) line[2 * half + 1] = 0;",
                  "for (cg_index k = half + 1; k < count; k++) {",
                  "    line[2 * k] = line[2 * (count - k)];",
                  "    line[2 * k + 1] = -line[2 * (count - k) + 1];",
                  "}",
                  "cg_fft(count, 1, line, scratch);",
                  "for (cg_index k = 0; k < count; k++) {",
                  f"    dst[k * {os}] = ({otype})line[2 * k];",
                  "}"]
    else:
        sign = -1 if step.op == "fft" else 1
        lines += ["for (cg_index k = 0; k < m; k++) {",
                  f"    line[2 * k] = (double)row[k * {xs}];",
                  f"    line[2 * k + 1] = (double)row[k * {xs} + {xpair}];",
                  "}",
                  f"cg_fft(m, {sign}, line, scratch);",
                  "for (cg_index k = 0; k < m; k++) {",
                  f"    dst[k * {os}] = ({otype})line[2 * k];",
                  f"    dst[k * {os} + {opair}] = ({otype})line[2 * k + 1];",
                  "}"]
    return lines
