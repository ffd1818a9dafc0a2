"""The C expression table: how each scalar op is written in C, and C types per dtype.

Kernels of every compiled backend are C (the Cython backend embeds them verbatim; a CUDA
backend extends this table with ``{**C_OPS, ...}``). ``{0}, {1}, ...`` are the rendered
operands, ``{out}`` the C type of the result and ``{f}`` the float32 suffix of libm names
(``expf``). Operands are always plain names or loads, so repeating one costs nothing. NaN
propagates as in numpy (``maximum(nan, 1)`` is nan).
"""

import math

import numpy as np

from codegen.lower.program import all_steps
from codegen.ops.fft import C_FFT
from codegen.ops.fft import OPS as FFT_OPS
from codegen.ops.mrg import C_MRG
from codegen.ops.random import C_RANDOM, C_RANDOM_OPS
from codegen.ops.scalar import COMPARISONS, operand_dtypes

CTYPES = {"float64": "double", "float32": "float", "int64": "int64_t", "int32": "int32_t",
          "int16": "int16_t", "int8": "int8_t", "uint64": "uint64_t", "uint32": "uint32_t",
          "uint16": "uint16_t", "uint8": "uint8_t", "bool": "uint8_t"}

C_OPS = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "true_div": "({0} / {1})",
    "pow": "cg_pow{f}({0}, {1})",
    "pow_int": "cg_ipow_{out}({0}, {1})",
    "floor_div": "cg_floor_div{f}({0}, {1})",
    # C's / and % truncate and trap on INT_MIN / -1; these floor as numpy does, give 0 for a
    # zero divisor, and wrap INT_MIN // -1 to INT_MIN (`{1} < 0` is false for unsigned types)
    "floor_div_int": "({1} == 0 ? 0 : ({1} < 0 && {1} == -1) ? -{0} : {0} / {1} - "
                     "({0} % {1} != 0 && ({0} % {1} < 0) != ({1} < 0)))",
    "mod": "cg_mod{f}({0}, {1})",
    "mod_int": "({1} == 0 || ({1} < 0 && {1} == -1) ? 0 : ({0} % {1} != 0 && "
               "({0} % {1} < 0) != ({1} < 0) ? {0} % {1} + {1} : {0} % {1}))",
    "neg": "(-{0})",
    "sqrt": "sqrt{f}({0})",
    "softplus": "(log1p{f}(exp{f}(-fabs{f}({0}))) + ({0} > 0 ? {0} : 0))",
    "floor": "floor{f}({0})",
    "ceil": "ceil{f}({0})",
    "round_half_away_from_zero": "round{f}({0})",
    "round_half_to_even": "rint{f}({0})",  # in the default rounding mode, to nearest even
    "erf": "erf{f}({0})",
    "erfc": "erfc{f}({0})",
    "arctan2": "atan2{f}({0}, {1})",
    "tan": "tan{f}({0})",
    "arcsin": "asin{f}({0})",
    "arccos": "acos{f}({0})",
    "arctan": "atan{f}({0})",
    "sinh": "sinh{f}({0})",
    "cosh": "cosh{f}({0})",
    "arcsinh": "asinh{f}({0})",
    "arccosh": "acosh{f}({0})",
    "arctanh": "atanh{f}({0})",
    "log2": "log2{f}({0})",
    "log10": "log10{f}({0})",
    "exp2": "exp2{f}({0})",
    "trunc": "trunc{f}({0})",
    "isnan": "({0} != {0})",
    # inf - inf is NaN, which is not 0; NaN fails the second test; ints give x - x = 0
    "isinf": "({0} - {0} != 0 && {0} == {0})",
    "abs": "fabs{f}({0})",  # |-0.0| is +0.0, as in numpy
    "abs_int": "({0} >= 0 ? {0} : -{0})",
    "sgn": "({0} > 0 ? 1 : ({0} < 0 ? -1 : ({0} == {0} ? 0 : {0})))",  # sgn(-0.) is +0.
    # numpy's rule: the first operand when it is greater or NaN, else the second (so of two
    # zeros of either sign, the second)
    "maximum": "(({0} > {1} || {0} != {0}) ? {0} : {1})",
    "minimum": "(({0} < {1} || {0} != {0}) ? {0} : {1})",
    "switch": "({0} ? {1} : {2})",
    "second": "{1}",
    "zero_grad": "{0}",
    "grad_clip": "{0}",
    "grad_scale": "{0}",
    "tensor_copy": "{0}",
    "eq": "({0} == {1})",
    "neq": "({0} != {1})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    # bitwise on integers, as Theano's (booleans, 0 or 1, come out logical); ~ of a bool
    # is logical not
    "and_": "(({out})({0} & {1}))",
    "or_": "(({out})({0} | {1}))",
    "xor": "(({out})({0} ^ {1}))",
    "invert": "(!{0})",
    "invert_int": "(({out})(~{0}))",
    "cast_bool": "({0} != 0)",  # NaN and 0.5 are true, as in numpy
    **C_RANDOM_OPS,  # draws of random variables (codegen.ops.random)
}

#: Ops whose C calls a vector math function (libmvec when available): the call, and the rest
#: of the op around its result ``{h}``. ``C_OPS`` writes each as the two put together; loop
#: kernels make the calls for a block of elements first and do the rest after
#: (``ckernel``), so that the rest (a division, mostly) of one vector need not wait for the
#: call of the next.
C_CALLS = {
    "exp": ("exp{f}({0})", "{h}"),
    "expm1": ("expm1{f}({0})", "{h}"),
    "log": ("log{f}({0})", "{h}"),
    "log1p": ("log1p{f}({0})", "{h}"),
    "sin": ("sin{f}({0})", "{h}"),
    "cos": ("cos{f}({0})", "{h}"),
    "tanh": ("cg_tanh_u{f}({0})", "cg_tanh_q{f}({h})"),
    "sigmoid": ("exp{f}(-{0})", "(({out})1 / (1 + {h}))"),
}
C_OPS.update({op: rest.replace("{h}", call) for op, (call, rest) in C_CALLS.items()})

#: C that entries of ``C_OPS`` call, emitted once before the kernels.
C_HELPERS = """\
/* CG_INLINE: static inline, and on CUDA callable from host and device */
#ifndef CG_INLINE
#define CG_INLINE static inline
#endif
/* tanh(x) = expm1(2x) / (expm1(2x) + 2), as cg_tanh_q(cg_tanh_u(x)). With libmvec this
   vectorizes through its expm1, 1.5x as fast as its tanh, with the same largest error (4 ulp
   against glibc's scalar tanh, measured on 2e7 points). Beyond |x| = 20, tanh rounds to +-1,
   which the clamp gives exactly; NaN passes the clamp and stays NaN, and -0 stays -0. In
   float, libmvec's own tanhf is the faster and the more accurate one. */
CG_INLINE double cg_tanh_u(double x) {
    double c = x > 20 ? 20 : (x < -20 ? -20 : x);
    return expm1(2 * c);
}
CG_INLINE double cg_tanh_q(double u) {
    return u / (u + 2);
}
#define cg_tanh_uf tanhf
#define cg_tanh_qf(u) (u)
/* A kernel that converts floats to integers keeps gcc's trapping-math: without it, gcc
   turns (double)(int64_t)x into trunc(x), which keeps the sign of a zero (numpy's 1 / that
   at -0.5 is +inf). */
#if defined(__GNUC__) && !defined(__clang__)
#define CG_EXACT_CASTS __attribute__((optimize("trapping-math")))
#else
#define CG_EXACT_CASTS
#endif
/* Floor division and modulo of floats as numpy computes them (npy_divmod): from fmod, so
   that 1.0 // 0.1 is 9 (floor(1.0 / 0.1) would be 10), inf // 1 is NaN, and a zero remainder
   takes the divisor's sign. */
#define CG_DIVMOD(T, F) \
CG_INLINE T cg_floor_div##F(T a, T b) { \
    if (!b) return a / b; \
    T mod = fmod##F(a, b), div = (a - mod) / b, floordiv; \
    if (mod && ((b < 0) != (mod < 0))) div -= 1; \
    if (!div) return copysign##F(0, a / b); \
    floordiv = floor##F(div); \
    return div - floordiv > (T)0.5 ? floordiv + 1 : floordiv; \
} \
CG_INLINE T cg_mod##F(T a, T b) { \
    T mod = fmod##F(a, b); \
    if (!b) return mod; \
    if (!mod) return copysign##F(0, b); \
    return (b < 0) != (mod < 0) ? mod + b : mod; \
}
CG_DIVMOD(double, )
CG_DIVMOD(float, f)
/* x ** 0.5 is sqrt(x), as numpy 2 computes it ((-inf) ** 0.5 is NaN, (-0.) ** 0.5 is -0.),
   in every element alike (gcc turns pow(x, 0.5) into sqrt in vector loops only). */
CG_INLINE double cg_pow(double x, double y) { return y == 0.5 ? sqrt(x) : pow(x, y); }
CG_INLINE float cg_powf(float x, float y) { return y == 0.5f ? sqrtf(x) : powf(x, y); }
/* Integer powers by squaring, wrapping on overflow as numpy's do (through unsigned
   arithmetic); a negative exponent gives 0 but for the bases 1 and -1 (numpy raises). */
#define CG_IPOW(T, U) \
CG_INLINE T cg_ipow_##T(T base, T e) { \
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0; \
    U result = 1, b = (U)base; \
    while (e) { if (e & 1) result *= b; b *= b; e >>= 1; } \
    return (T)result; \
}
CG_IPOW(int8_t, uint32_t)
CG_IPOW(int16_t, uint32_t)
CG_IPOW(int32_t, uint32_t)
CG_IPOW(int64_t, uint64_t)
CG_IPOW(uint8_t, uint32_t)
CG_IPOW(uint16_t, uint32_t)
CG_IPOW(uint32_t, uint32_t)
CG_IPOW(uint64_t, uint64_t)
"""


#: The special functions of scipy.special that C lacks, in C (host and CUDA device alike):
#: emitted where a program uses one.
C_SPECIAL = """\
/* psi(x), the digamma function, as scipy's psi: the recurrence psi(x) = psi(x + 1) - 1 / x
   up to x >= 10, then the asymptotic series, whose first omitted term is below 1e-17 there;
   x < 0 by reflection, psi(x) = psi(1 - x) - pi / tan(pi x), with tan's period taken off
   exactly (x - round(x)) so that no digits are lost near a pole. Poles: NaN at the negative
   integers, -inf at +0 and +inf at -0. Near its root (1.46163) the error is absolute
   (about 1e-16), not relative. */
CG_INLINE double cg_psi(double x) {
    double shift = 0, reflect = 0;
    if (x == 0) return x > 0 || 1 / x > 0 ? -INFINITY : INFINITY;
    if (x < 0) {
        if (floor(x) == x) return NAN;
        reflect = 3.141592653589793 / tan(3.141592653589793 * (x - round(x)));
        x = 1 - x;
    }
    for (; x < 10; x += 1) shift += 1 / x;
    double r = 1 / (x * x);
    double series = r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240
                    - r * (1.0 / 132 - r * (691.0 / 32760 - r * (1.0 / 12)))))));
    return log(x) - 0.5 / x - series - shift - reflect;
}
/* psi'(x), the trigamma function, as scipy's polygamma(1, x): the recurrence
   psi'(x) = psi'(x + 1) + 1 / x^2 up to x >= 10, then the asymptotic series; x < 0 by
   reflection, psi'(x) = pi^2 / sin(pi x)^2 - psi'(1 - x); +inf at 0 and the negative
   integers. */
CG_INLINE double cg_tri_gamma(double x) {
    double shift = 0, reflect = 0, sign = 1;
    if (x <= 0 && floor(x) == x) return INFINITY;
    if (x < 0) {
        double s = sin(3.141592653589793 * (x - round(x)));
        reflect = 9.869604401089358 / (s * s);
        sign = -1;
        x = 1 - x;
    }
    for (; x < 10; x += 1) shift += 1 / (x * x);
    double r = 1 / (x * x);
    double series = 1 / x + r / 2 + r / x * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42
                    - r * (1.0 / 30 - r * (5.0 / 66 - r * (691.0 / 2730 - r * (7.0 / 6)))))));
    return reflect + sign * (shift + series);
}
/* The x >= 0 with erf(x) = a, given q = 1 - a (exact where a >= 0.5): Giles's
   single-precision approximation (Approximating the erfinv function, GPU Computing Gems,
   2011), or for q below 1e-7 the asymptotic x^2 = -log(q) - log(x sqrt(pi)), then Newton
   steps on erf, or on erfc in the tail where q keeps the digits a has lost. */
CG_INLINE double cg_erfinv_solve(double a, double q) {
    if (q == 0) return INFINITY;
    double w = -log(q * (1 + a)), x, p;
    if (w < 5) {
        w = w - 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
        x = p * a;
    } else if (w < 16) {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
        x = p * a;
    } else {
        double t = -log(q);
        x = sqrt(t - 0.5 * log(3.141592653589793 * t));
    }
    for (int step = 0; step < 4; step++) {
        double slope = 1.1283791670955126 * exp(-x * x);  /* erf'(x) */
        if (slope == 0) break;
        x -= (a <= 0.5 ? erf(x) - a : q - erfc(x)) / slope;
    }
    return x;
}
CG_INLINE double cg_erfinv(double y) {
    if (!(fabs(y) <= 1)) return NAN;
    return copysign(cg_erfinv_solve(fabs(y), 1 - fabs(y)), y);
}
CG_INLINE double cg_erfcinv(double y) {
    if (!(y >= 0 && y <= 2)) return NAN;
    return y <= 1 ? cg_erfinv_solve(1 - y, y) : -cg_erfinv_solve(y - 1, 2 - y);
}
/* J0(x) and J1(x), the Bessel functions of the first kind: the C library's (POSIX; on a
   GPU, CUDA's), NaN at +-inf as scipy gives. */
CG_INLINE double cg_j0(double x) { return fabs(x) == INFINITY ? NAN : j0(x); }
CG_INLINE double cg_j1(double x) { return fabs(x) == INFINITY ? NAN : j1(x); }
/* I0(x) and I1(x), the modified Bessel functions of the first kind (order 0 or 1): the power
   series sum (x/2)^(2k + order) / (k! (k + order)!) up to |x| = 25 (positive terms: no digits
   lost to cancellation), then the asymptotic series e^|x| / sqrt(2 pi |x|) sum_k (-1)^k
   prod_j (4 order^2 - (2j - 1)^2) / (8 |x| j), with e^|x| taken in halves so that it
   overflows only where the result does. NaN at +-inf as scipy gives. */
CG_INLINE double cg_bessel_i(double x, int order) {
    double a = fabs(x), term, sum;
    if (!(a < INFINITY)) return NAN;
    if (a <= 25) {
        double q = a * a / 4;
        term = order ? a / 2 : 1;
        sum = term;
        for (int k = 1; k < 300 && term > sum * 1e-17; k++) {
            term *= q / (k * (double)(k + order));
            sum += term;
        }
    } else {
        double mu = 4.0 * order * order, r = 8 * a, half = exp(a / 2);
        term = sum = 1;
        for (int k = 1; k < 60 && fabs(term) > sum * 1e-17; k++) {
            double odd = 2.0 * k - 1;
            term *= -(mu - odd * odd) / (k * r);
            sum += term;
        }
        sum = half * (half * sum / sqrt(6.283185307179586 * a));
    }
    return order && x < 0 ? -sum : sum;
}
CG_INLINE double cg_i0(double x) { return cg_bessel_i(x, 0); }
CG_INLINE double cg_i1(double x) { return cg_bessel_i(x, 1); }
/* exp(x^2), x^2 taken exactly as hi + lo (fma), so that no digits of x are lost to the
   square's rounding */
CG_INLINE double cg_exp_square(double x) {
    double hi = x * x, lo = fma(x, x, -hi);
    return hi < INFINITY ? exp(hi) * (1 + lo) : hi;
}
/* erfcx(x) = exp(x^2) erfc(x), the scaled complementary error function: for 0 <= x < 26
   the product, erfc keeping its digits in the tail; beyond, the asymptotic series
   1 / (x sqrt(pi)) sum_k (-1)^k (2k - 1)!! / (2 x^2)^k, whose twelfth term is below 1e-30
   there; x < 0 from erfcx(-x) = 2 exp(x^2) - erfcx(x), which overflows to inf below
   about -26.6, as scipy's does. */
CG_INLINE double cg_erfcx(double x) {
    double a = fabs(x), positive;
    if (a != a) return x;
    if (a < 26) {
        positive = cg_exp_square(a) * erfc(a);
    } else {
        double r = 1 / (2 * a * a), term = 1, sum = 1;
        for (int k = 1; k < 12; k++) {
            term *= -(2 * k - 1) * r;
            sum += term;
        }
        positive = sum / (a * 1.7724538509055160);
    }
    return x < 0 ? 2 * cg_exp_square(a) - positive : positive;
}
/* lgamma(1 + a), keeping a's digits where 1 + a would round them off: for |a| <= 0.5 the
   Taylor series -euler a + sum_k (-1)^k zeta(k) a^k / k (zeta(k) for k >= 10 as sums of
   n^-k to n = 20, within 1e-13 of it) */
CG_INLINE double cg_lgamma1p(double a) {
    if (!(fabs(a) <= 0.5)) return lgamma(1 + a);
    const double zeta[8] = {1.6449340668482264, 1.2020569031595943, 1.0823232337111382,
                            1.0369277551433699, 1.0173430619844491, 1.0083492773819228,
                            1.0040773561979443, 1.0020083928260822};
    double sum = -0.5772156649015329 * a, power = -a;  /* (-a)^k */
    for (int k = 2; k < 80; k++) {
        double z = 0;
        power *= -a;
        if (k < 10) {
            z = zeta[k - 2];
        } else {
            for (int n = 20; n >= 1; n--) z += pow((double)n, (double)-k);
        }
        double term = z * power / k;
        sum += term;
        if (fabs(term) < 1e-17 * fabs(sum)) break;
    }
    return sum;
}
/* The regularized incomplete gamma functions P(k, x) (scipy's gammainc) and Q(k, x) =
   1 - P (gammaincc), chosen as scipy's Cephes chooses: P's power series where x < k (or
   x <= 1), Q's continued fraction (modified Lentz) where x > 1.1 and x >= k, Q's own series
   for small k and x <= 1.1, where 1 - P would lose Q's digits; the other as 1 minus it. The
   factor x^k e^-x / gamma(k) is one exponent, whose rounding (k log x in size) is the error
   for large k: about 1e-13 at k = 100, 2e-12 at k = 1000. Domain and limits as scipy's:
   NaN for k < 0, x < 0 or both infinite or both 0; P = 1 for k = 0 and x > 0. */
CG_INLINE double cg_gamma_pq(double k, double x, int upper) {
    if (!(k >= 0 && x >= 0) || (k == INFINITY && x == INFINITY) || (k == 0 && x == 0))
        return NAN;
    if (k == 0 || x == INFINITY) return upper ? 0 : 1;
    if (x == 0 || k == INFINITY) return upper ? 1 : 0;
    int fraction = x > 1.1 && x >= k;
    int q_series = x <= 1.1 && (x <= 0.5 ? -0.4 / log(x) >= k : x * 1.1 >= k);
    if (!fraction && !q_series) {  /* P's series */
        double term = 1 / k, sum = term;
        for (int n = 1; n < 100000 && term > sum * 1e-17; n++) {
            term *= x / (k + n);
            sum += term;
        }
        double p = sum * exp(k * log(x) - x - lgamma(k));
        return upper ? 1 - p : p;
    }
    double q;
    if (q_series) {  /* Q = 1 - x^k / gamma(k + 1) + x^k / gamma(k) sum (-x)^n / (n! (k + n)) */
        double factor = 1, sum = 0, logx = log(x);
        for (int n = 1; n < 100000; n++) {
            factor *= -x / n;
            double term = factor / (k + n);
            sum += term;
            if (fabs(term) <= 1e-17 * fabs(sum)) break;
        }
        q = -expm1(k * logx - cg_lgamma1p(k)) - exp(k * logx - lgamma(k)) * sum;
    } else {
        double tiny = 1e-300, b = x + 1 - k, c = 1 / tiny, d = 1 / b, h = d;
        for (int n = 1; n < 100000; n++) {
            double an = -n * (n - k), delta;
            b += 2;
            d = an * d + b;
            d = fabs(d) < tiny ? tiny : d;
            c = b + an / c;
            c = fabs(c) < tiny ? tiny : c;
            d = 1 / d;
            delta = d * c;
            h *= delta;
            if (fabs(delta - 1) < 1e-16) break;
        }
        q = h * exp(k * log(x) - x - lgamma(k));
    }
    return upper ? q : 1 - q;
}
CG_INLINE double cg_gammainc(double k, double x) { return cg_gamma_pq(k, x, 0); }
CG_INLINE double cg_gammaincc(double k, double x) { return cg_gamma_pq(k, x, 1); }
/* the unregularized ones, as Theano's GammaL and GammaU: P or Q times gamma(k) */
CG_INLINE double cg_gammal(double k, double x) { return cg_gamma_pq(k, x, 0) * tgamma(k); }
CG_INLINE double cg_gammau(double k, double x) { return cg_gamma_pq(k, x, 1) * tgamma(k); }
/* the survival function of chi-squared with k degrees of freedom, Q(k / 2, x / 2) */
CG_INLINE double cg_chi2sf(double x, double k) { return cg_gamma_pq(k / 2, x / 2, 1); }
/* float: computed in double, then rounded */
#define cg_j0f(x) ((float)cg_j0(x))
#define cg_j1f(x) ((float)cg_j1(x))
#define cg_i0f(x) ((float)cg_i0(x))
#define cg_i1f(x) ((float)cg_i1(x))
#define cg_erfcxf(x) ((float)cg_erfcx(x))
#define cg_gammaincf(k, x) ((float)cg_gammainc(k, x))
#define cg_gammainccf(k, x) ((float)cg_gammaincc(k, x))
#define cg_gammalf(k, x) ((float)cg_gammal(k, x))
#define cg_gammauf(k, x) ((float)cg_gammau(k, x))
#define cg_chi2sff(x, k) ((float)cg_chi2sf(x, k))
#define cg_psif(x) ((float)cg_psi(x))
#define cg_tri_gammaf(x) ((float)cg_tri_gamma(x))
#define cg_erfinvf(x) ((float)cg_erfinv(x))
#define cg_erfcinvf(x) ((float)cg_erfcinv(x))
"""

C_OPS.update({
    "gammaln": "lgamma{f}({0})",
    "gamma": "tgamma{f}({0})",
    "psi": "cg_psi{f}({0})",
    "tri_gamma": "cg_tri_gamma{f}({0})",
    "erfinv": "cg_erfinv{f}({0})",
    "erfcinv": "cg_erfcinv{f}({0})",
    **{name: f"cg_{name}{{f}}({{0}})" for name in ("j0", "j1", "i0", "i1", "erfcx")},
    **{name: f"cg_{name}{{f}}({{0}}, {{1}})"
       for name in ("gammainc", "gammaincc", "gammal", "gammau", "chi2sf")},
})
_SPECIAL_OPS = frozenset({"psi", "tri_gamma", "erfinv", "erfcinv", "j0", "j1", "i0", "i1",
                          "erfcx", "gammainc", "gammaincc", "gammal", "gammau", "chi2sf"})


def helpers(programs):
    """The lines of C_HELPERS, and of the random draws', the MRG streams', the FFT's and the
    special functions' C where a program uses them."""
    def uses(expr, names):
        return expr.op in names or any(uses(a, names) for a in expr.args)
    exprs = [a.expr for p in programs for step in all_steps(p.steps)
             for a in getattr(step, "body", ()) if hasattr(a, "expr")]
    text = C_HELPERS
    if any(uses(e, C_RANDOM_OPS) for e in exprs):
        text += C_RANDOM
    walks = [step.op for p in programs for step in all_steps(p.steps)
             if getattr(step, "kind", "") == "axis"]
    if any(op.startswith("mrg_") for op in walks):
        text += C_MRG
    if any(op in FFT_OPS for op in walks):
        text += C_FFT
    if any(uses(e, _SPECIAL_OPS) for e in exprs):
        text += C_SPECIAL
    return text.rstrip("\n").split("\n")

#: How a reduction combines the accumulator {0} with a new value {1}.
COMBINE = {"add": "{0} + {1}", "mul": "{0} * {1}", "maximum": C_OPS["maximum"],
           "minimum": C_OPS["minimum"]}


def op_format(name, table=C_OPS):
    if name.startswith("cast_") and name not in table:
        return "(({out}){0})"
    try:
        return table[name]
    except KeyError:
        raise NotImplementedError(f"no C expression for scalar op {name}") from None


def literal(value, dtype):
    if dtype.startswith("float"):
        value = float(value)
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        return repr(value) + ("f" if dtype == "float32" else "")
    if dtype == "bool":
        return "1" if value else "0"
    return str(int(value))


def compute_dtype(expr, index):
    """The dtype operand ``index`` of ``expr`` is converted to (None: as it is): numpy's rule
    (``ops.scalar.operand_dtypes``), which C's own conversions are not (in C, int64 + float32
    is computed in float)."""
    return operand_dtypes(expr.op, [a.dtype for a in expr.args], expr.dtype)[index]


def converts_float_to_int(expr):
    """Whether ``expr`` (or a part of it) casts a float to an integer type."""
    if expr.op.startswith("cast_") and not expr.dtype.startswith("float") and \
            expr.args[0].dtype.startswith("float"):
        return True
    return any(converts_float_to_int(a) for a in expr.args)


def _operand(arg, dtype, text):
    if dtype is None or arg.dtype == dtype:
        return text
    if arg.op == "const" and _exact(arg.value, dtype):
        return literal(arg.value, dtype)
    return f"(({CTYPES[dtype]}){text})"


def _exact(value, dtype):
    """Whether ``value`` converts to ``dtype`` without change (NaN counts as itself)."""
    with np.errstate(all="ignore"):
        converted = np.asarray(value).astype(dtype)
    return converted.item() == value or (converted != converted and value != value)


def render_args(expr, load, dim, table=C_OPS, replace=None):
    """The C text of ``expr``'s operands, each in the dtype the op computes in."""
    return [_operand(a, compute_dtype(expr, i), render(a, load, dim, table, replace))
            for i, a in enumerate(expr.args)]


def render(expr, load, dim, table=C_OPS, replace=None):
    """C text of ``expr``; ``load(operand_index)`` gives the text of an array element and
    ``dim(expression)`` the kernel parameter carrying a run-time length. ``replace(expr)``,
    when given, may return the text of a subexpression instead (None: render it here)."""
    if replace is not None:
        text = replace(expr)
        if text is not None:
            return text
    if expr.op == "load":
        return load(expr.value)
    if expr.op == "local":
        return expr.value
    if expr.op == "const":
        return literal(expr.value, expr.dtype)
    if expr.op == "dim":
        return f"(({CTYPES[expr.dtype]}){dim(expr.value)})"
    if expr.op == "index":
        return f"i{expr.value}"
    args = render_args(expr, load, dim, table, replace)
    suffix = "f" if expr.dtype == "float32" else ""
    text = op_format(op_name(expr, table), table).format(*args, out=CTYPES[expr.dtype], f=suffix)
    if expr.dtype == "bool" and expr.op not in _BOOLEAN_RESULT:
        return f"({text} != 0)"  # True + True is True, not 2
    return text


#: Ops whose C gives 0 or 1 for a boolean result by itself.
_BOOLEAN_RESULT = COMPARISONS | {"and_", "or_", "xor", "invert", "cast_bool", "switch",
                                 "second", "zero_grad", "maximum", "minimum"}


def op_name(expr, table=C_OPS):
    """The table's key for ``expr``: the ``_int`` variant for integer results where there
    is one (C's / and % truncate; those variants floor as numpy does)."""
    name = expr.op
    if name + "_int" in table and not expr.dtype.startswith("float") and expr.dtype != "bool":
        name += "_int"
    return name
