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
precision whatever the dtype, in memory of the step's own: mixed radix (4, 2, 3, 5, 7, 11,
13) where the length's prime factors allow, else Bluestein's chirp z-transform by
power-of-2 FFTs (any length in O(n log n)). The C
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
    the line (2n + 4) and ``cg_fft``'s work (Bluestein's: 4n + 8M, M < 4n), or for an even
    length the real transform's 2n and ``cg_fft``'s for n / 2."""
    return f"38 * ({n}) + 16"


#: The FFT of one line in C (host and CUDA device alike), for cexpr's helpers.
C_FFT = """\
/* w[j] = exp(sign 2 pi i j / n) for j < n, as (re, im) pairs: each of the first eighth
   (where 8 divides n; else each) as the product of exp(2 pi i 16a / n) and exp(2 pi i b / n),
   j = 16a + b (a sine and a cosine per 16 roots, within two roundings), the rest by
   symmetry */
CG_INLINE void cg_fft_roots(cg_index n, int sign, double* w) {
    const int octant = n % 8 == 0;
    const cg_index last = octant ? n / 8 : n - 1, q = n / 4;
    double small[32];
    for (int b = 0; b < 16; b++) {
        const double angle = 6.283185307179586 * (double)b / (double)n;
        small[2 * b] = cos(angle);
        small[2 * b + 1] = sin(angle);
    }
    for (cg_index a = 0; a <= last; a += 16) {
        const double angle = 6.283185307179586 * (double)a / (double)n;
        const double ar = cos(angle), ai = sin(angle);
        for (int b = 0; b < 16 && a + b <= last; b++) {
            const cg_index j = a + b;
            const double c = ar * small[2 * b] - ai * small[2 * b + 1];
            const double s = ar * small[2 * b + 1] + ai * small[2 * b];
            if (!octant) {
                w[2 * j] = c;
                w[2 * j + 1] = sign * s;
                continue;
            }
            const cg_index at[8] = {j, q - j, q + j, 2 * q - j, 2 * q + j, 3 * q - j,
                                    3 * q + j, 4 * q - j};
            const double re[8] = {c, s, -s, -c, -c, -s, s, c};
            const double im[8] = {s, c, c, s, -s, -c, -c, -s};
            for (int e = 0; e < 8; e++) {
                if (at[e] < n) {
                    w[2 * at[e]] = re[e];
                    w[2 * at[e] + 1] = sign * im[e];
                }
            }
        }
    }
}

/* n's factors for the mixed-radix FFT (4s, a 2, then 3, 5, 7, 11, 13) into radix; their
   number, or -1 where a larger prime divides n */
CG_INLINE int cg_fft_factors(cg_index n, int* radix) {
    int stages = 0;
    while (n % 4 == 0) {
        radix[stages++] = 4;
        n /= 4;
    }
    for (int p = 2; p <= 13; p++) {
        while (n % p == 0) {
            radix[stages++] = p;
            n /= p;
        }
    }
    return n == 1 ? stages : -1;
}

/* the FFT of the n points of a (n the product of radix[0..stages)) in place, through b (2n
   doubles), with the roots w of cg_fft_roots: the points in mixed-radix digit-reversed
   order (a counter of those digits, no divisions), then a pass per factor from the last,
   each combining p transforms of m points into transforms of p m points (radix 2 and 4 by
   hand, others by their p-point DFT) */
CG_INLINE void cg_fft_mixed(cg_index n, const int* radix, int stages, int sign, double* a,
                            double* b, const double* w) {
    cg_index place[64];
    int digit[64];
    cg_index size = n, at = 0;
    for (int t = 0; t < stages; t++) {
        size /= radix[t];
        place[t] = size;
        digit[t] = 0;
    }
    for (cg_index i = 0; i < n; i++) {
        b[2 * at] = a[2 * i];
        b[2 * at + 1] = a[2 * i + 1];
        for (int t = 0; t < stages; t++) {  /* the next i's digits, least significant first */
            at += place[t];
            if (++digit[t] < radix[t])
                break;
            digit[t] = 0;
            at -= radix[t] * place[t];
        }
    }
    cg_index m = 1;
    for (int t = stages - 1; t >= 0; t--) {
        const int p = radix[t];
        const cg_index span = m * p, step = n / span, root = n / p;
        for (cg_index start = 0; start < n; start += span) {
            double* x = b + 2 * start;
            if (p == 2) {
                for (cg_index k = 0; k < m; k++) {
                    const double* r = w + 2 * (k * step);
                    double* x0 = x + 2 * k;
                    double* x1 = x0 + 2 * m;
                    const double ur = x1[0] * r[0] - x1[1] * r[1];
                    const double ui = x1[0] * r[1] + x1[1] * r[0];
                    x1[0] = x0[0] - ur;
                    x1[1] = x0[1] - ui;
                    x0[0] += ur;
                    x0[1] += ui;
                }
            } else if (p == 4) {  /* the fourth roots: 1, sign i, -1, -sign i */
                for (cg_index k = 0; k < m; k++) {
                    double* x0 = x + 2 * k;
                    double tr[4], ti[4];
                    tr[0] = x0[0];
                    ti[0] = x0[1];
                    for (int q = 1; q < 4; q++) {
                        const double* v = x0 + 2 * q * m;
                        const double* r = w + 2 * (q * k * step);
                        tr[q] = v[0] * r[0] - v[1] * r[1];
                        ti[q] = v[0] * r[1] + v[1] * r[0];
                    }
                    const double ar = tr[0] + tr[2], ai = ti[0] + ti[2];
                    const double br = tr[0] - tr[2], bi = ti[0] - ti[2];
                    const double cr = tr[1] + tr[3], ci = ti[1] + ti[3];
                    const double dr = -sign * (ti[1] - ti[3]), di = sign * (tr[1] - tr[3]);
                    x0[0] = ar + cr;
                    x0[1] = ai + ci;
                    x0[2 * m] = br + dr;
                    x0[2 * m + 1] = bi + di;
                    x0[4 * m] = ar - cr;
                    x0[4 * m + 1] = ai - ci;
                    x0[6 * m] = br - dr;
                    x0[6 * m + 1] = bi - di;
                }
            } else if (p == 3 || p == 5) {  /* by the roots' symmetries: X[p - r] = the
                                                 cosine terms of X[r] less its sine terms */
                const double c1 = p == 3 ? -0.5 : 0.30901699437494745;
                const double s1 = p == 3 ? 0.8660254037844386 : 0.9510565162951535;
                const double c2 = -0.8090169943749475, s2 = 0.5877852522924731;
                for (cg_index k = 0; k < m; k++) {
                    double tr[5], ti[5];
                    tr[0] = x[2 * k];
                    ti[0] = x[2 * k + 1];
                    for (int q = 1; q < p; q++) {
                        const double* v = x + 2 * (q * m + k);
                        const double* r = w + 2 * (q * k * step);
                        tr[q] = v[0] * r[0] - v[1] * r[1];
                        ti[q] = v[0] * r[1] + v[1] * r[0];
                    }
                    double* x0 = x + 2 * k;
                    if (p == 3) {
                        const double sr = tr[1] + tr[2], si = ti[1] + ti[2];
                        const double dr = -sign * s1 * (ti[1] - ti[2]);
                        const double di = sign * s1 * (tr[1] - tr[2]);
                        x0[0] = tr[0] + sr;
                        x0[1] = ti[0] + si;
                        x0[2 * m] = tr[0] + c1 * sr + dr;
                        x0[2 * m + 1] = ti[0] + c1 * si + di;
                        x0[4 * m] = tr[0] + c1 * sr - dr;
                        x0[4 * m + 1] = ti[0] + c1 * si - di;
                    } else {
                        const double ar = tr[1] + tr[4], ai = ti[1] + ti[4];
                        const double br = tr[1] - tr[4], bi = ti[1] - ti[4];
                        const double er = tr[2] + tr[3], ei = ti[2] + ti[3];
                        const double fr = tr[2] - tr[3], fi = ti[2] - ti[3];
                        const double u1r = tr[0] + c1 * ar + c2 * er;
                        const double u1i = ti[0] + c1 * ai + c2 * ei;
                        const double u2r = tr[0] + c2 * ar + c1 * er;
                        const double u2i = ti[0] + c2 * ai + c1 * ei;
                        /* sign i (s1 b + s2 f) and sign i (s2 b - s1 f) */
                        const double v1r = -sign * (s1 * bi + s2 * fi);
                        const double v1i = sign * (s1 * br + s2 * fr);
                        const double v2r = -sign * (s2 * bi - s1 * fi);
                        const double v2i = sign * (s2 * br - s1 * fr);
                        x0[0] = tr[0] + ar + er;
                        x0[1] = ti[0] + ai + ei;
                        x0[2 * m] = u1r + v1r;
                        x0[2 * m + 1] = u1i + v1i;
                        x0[4 * m] = u2r + v2r;
                        x0[4 * m + 1] = u2i + v2i;
                        x0[6 * m] = u2r - v2r;
                        x0[6 * m + 1] = u2i - v2i;
                        x0[8 * m] = u1r - v1r;
                        x0[8 * m + 1] = u1i - v1i;
                    }
                }
            } else {
                for (cg_index k = 0; k < m; k++) {
                    double tr[16], ti[16];
                    for (int q = 0; q < p; q++) {
                        const double* v = x + 2 * (q * m + k);
                        const double* r = w + 2 * (q * k * step);
                        tr[q] = v[0] * r[0] - v[1] * r[1];
                        ti[q] = v[0] * r[1] + v[1] * r[0];
                    }
                    for (int r = 0; r < p; r++) {
                        double sr = 0, si = 0;
                        for (int q = 0, j = 0; q < p; q++) {  /* j = q r modulo p */
                            const double* u = w + 2 * (j * root);
                            sr += tr[q] * u[0] - ti[q] * u[1];
                            si += tr[q] * u[1] + ti[q] * u[0];
                            j += r;
                            if (j >= p)
                                j -= p;
                        }
                        x[2 * (r * m + k)] = sr;
                        x[2 * (r * m + k) + 1] = si;
                    }
                }
            }
        }
        m = span;
    }
    for (cg_index i = 0; i < 2 * n; i++)
        a[i] = b[i];
}

/* sum_k a[k] exp(sign 2 pi i j k / n) for j < n, in place, any n: mixed radix where n's
   prime factors are at most 13; else Bluestein's: with c[k] = exp(sign pi i k^2 / n), the
   transform is c[j] times the convolution of a[k] c[k] with conj(c), done by FFTs of
   M >= 2n - 1 points (a power of 2); k^2 is taken modulo 2n (c is a 2n-th root), so the
   angles stay exact. work: 4n doubles, or 4n + 8M with Bluestein's */
CG_INLINE void cg_fft(cg_index n, int sign, double* a, double* work) {
    int radix[64];
    if (n < 2)
        return;
    int stages = cg_fft_factors(n, radix);
    if (stages >= 0) {
        cg_fft_roots(n, sign, work);
        cg_fft_mixed(n, radix, stages, sign, a, work + 2 * n, work);
        return;
    }
    cg_index M = 1;
    while (M < 2 * n - 1)
        M <<= 1;
    stages = cg_fft_factors(M, radix);
    double* chirp = work;  /* the 2n-th roots exp(sign pi i j / n) */
    double* A = chirp + 4 * n;
    double* B = A + 2 * M;
    double* w = B + 2 * M;
    double* spare = w + 2 * M;
    cg_fft_roots(2 * n, sign, chirp);
    cg_fft_roots(M, -1, w);
    for (cg_index k = 0; k < 2 * M; k++) {
        A[k] = 0;
        B[k] = 0;
    }
    for (cg_index k = 0; k < n; k++) {
        const double* c = chirp + 2 * ((k * k) % (2 * n));
        A[2 * k] = a[2 * k] * c[0] - a[2 * k + 1] * c[1];
        A[2 * k + 1] = a[2 * k] * c[1] + a[2 * k + 1] * c[0];
        B[2 * k] = c[0];
        B[2 * k + 1] = -c[1];
        if (k > 0) {
            B[2 * (M - k)] = c[0];
            B[2 * (M - k) + 1] = -c[1];
        }
    }
    cg_fft_mixed(M, radix, stages, -1, A, spare, w);
    cg_fft_mixed(M, radix, stages, -1, B, spare, w);
    for (cg_index k = 0; k < M; k++) {  /* the product, conjugated: its forward FFT is the
                                            conjugate of the inverse (times M) */
        const double re = A[2 * k] * B[2 * k] - A[2 * k + 1] * B[2 * k + 1];
        const double im = A[2 * k] * B[2 * k + 1] + A[2 * k + 1] * B[2 * k];
        A[2 * k] = re;
        A[2 * k + 1] = -im;
    }
    cg_fft_mixed(M, radix, stages, -1, A, spare, w);
    for (cg_index j = 0; j < n; j++) {
        const double re = A[2 * j] / (double)M, im = -A[2 * j + 1] / (double)M;
        const double* c = chirp + 2 * ((j * j) % (2 * n));
        a[2 * j] = re * c[0] - im * c[1];
        a[2 * j + 1] = re * c[1] + im * c[0];
    }
}

/* the spectrum X[k], k <= n / 2, of n real points, n even, from z[j] = x[2j] + i x[2j + 1]
   (j < n / 2; overwritten by its FFT): X[k] = E[k] + exp(-2 pi i k / n) O[k], where
   E[k] = (Z[k] + conj Z[n/2 - k]) / 2 and O[k] = (Z[k] - conj Z[n/2 - k]) / 2i are the
   spectra of the even and the odd points. work: 2n doubles, then cg_fft's for n / 2 */
CG_INLINE void cg_rfft_even(cg_index n, double* z, double* X, double* work) {
    const cg_index h = n / 2;
    cg_fft_roots(n, -1, work);
    cg_fft(h, -1, z, work + 2 * n);
    for (cg_index k = 0; k <= h; k++) {
        const cg_index a = k < h ? k : 0, b = k > 0 ? h - k : 0;
        const double zr = z[2 * a], zi = z[2 * a + 1], cr = z[2 * b], ci = -z[2 * b + 1];
        const double er = (zr + cr) / 2, ei = (zi + ci) / 2;
        const double odd_r = (zi - ci) / 2, odd_i = -(zr - cr) / 2;
        const double wr = work[2 * k], wi = work[2 * k + 1];
        X[2 * k] = er + wr * odd_r - wi * odd_i;
        X[2 * k + 1] = ei + wr * odd_i + wi * odd_r;
    }
}

/* n times the n real points, n even, of the spectrum X[k], k <= n / 2 (the imaginary parts
   at 0 and n / 2 ignored, as numpy's c2r does), as z[j] = (x[2j] + i x[2j + 1]) / 2: the
   inverse FFT of Z[k] = E[k] + i O[k], with E[k] = (X[k] + conj X[n/2 - k]) / 2 and
   O[k] = exp(2 pi i k / n) (X[k] - conj X[n/2 - k]) / 2. work as cg_rfft_even's */
CG_INLINE void cg_irfft_even(cg_index n, double* X, double* z, double* work) {
    const cg_index h = n / 2;
    X[1] = 0;
    X[2 * h + 1] = 0;
    cg_fft_roots(n, 1, work);
    for (cg_index k = 0; k < h; k++) {
        const double xr = X[2 * k], xi = X[2 * k + 1];
        const double cr = X[2 * (h - k)], ci = -X[2 * (h - k) + 1];
        const double dr = (xr - cr) / 2, di = (xi - ci) / 2;
        const double wr = work[2 * k], wi = work[2 * k + 1];
        const double odd_r = dr * wr - di * wi, odd_i = dr * wi + di * wr;
        z[2 * k] = (xr + cr) / 2 - odd_i;
        z[2 * k + 1] = (xi + ci) / 2 + odd_r;
    }
    cg_fft(h, 1, z, work + 2 * n);
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
             f"double* scratch = line + 2 * {n} + 4;"]
    if step.op == "rfft":  # an even length: a complex FFT of half as many points
        lines += ["if (m % 2 == 0) {",
                  "    for (cg_index k = 0; k < m; k++) {",
                  f"        line[k] = (double)row[k * {xs}];",
                  "    }",
                  "    cg_rfft_even(m, line, line + m, scratch);",
                  "    for (cg_index k = 0; k <= m / 2; k++) {",
                  f"        dst[k * {os}] = ({otype})line[m + 2 * k];",
                  f"        dst[k * {os} + {opair}] = ({otype})line[m + 2 * k + 1];",
                  "    }",
                  "} else {",
                  "    for (cg_index k = 0; k < m; k++) {",
                  f"        line[2 * k] = (double)row[k * {xs}];",
                  "        line[2 * k + 1] = 0;",
                  "    }",
                  "    cg_fft(m, -1, line, scratch);",
                  "    for (cg_index k = 0; k <= m / 2; k++) {",
                  f"        dst[k * {os}] = ({otype})line[2 * k];",
                  f"        dst[k * {os} + {opair}] = ({otype})line[2 * k + 1];",
                  "    }",
                  "}"]
    elif step.op == "irfft":  # as numpy's c2r: the spectrum up to n / 2, zeros past m
        lines += ["const cg_index half = count / 2;",
                  "double* spectrum = count % 2 == 0 ? line + count : line;",
                  "for (cg_index k = 0; k <= half && k < count; k++) {",
                  f"    spectrum[2 * k] = k < m ? (double)row[k * {xs}] : 0;",
                  f"    spectrum[2 * k + 1] = k < m ? (double)row[k * {xs} + {xpair}] : 0;",
                  "}",
                  "if (count % 2 == 0) {  /* a complex inverse FFT of half as many points */",
                  "    cg_irfft_even(count, spectrum, line, scratch);",
                  "    for (cg_index k = 0; k < count; k++) {",
                  f"        dst[k * {os}] = ({otype})(2 * line[k]);",
                  "    }",
                  "} else {  /* the conjugate symmetric whole (no imaginary part at 0) */",
                  "    if (count > 0) line[1] = 0;",
                  "    for (cg_index k = half + 1; k < count; k++) {",
                  "        line[2 * k] = line[2 * (count - k)];",
                  "        line[2 * k + 1] = -line[2 * (count - k) + 1];",
                  "    }",
                  "    cg_fft(count, 1, line, scratch);",
                  "    for (cg_index k = 0; k < count; k++) {",
                  f"        dst[k * {os}] = ({otype})line[2 * k];",
                  "    }",
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
