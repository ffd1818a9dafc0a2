"""Scalar operations: one row each, holding dtype rule, numpy reference and gradient.

An elementwise tensor op is ``Elemwise(scalar_op)``; the row here is the one place that says
what the scalar op means. Backends render the op from their expression tables
(``codegen/backends/*/exprs.py``), keyed by ``ScalarOp.name``.

Gradient rules receive the op's inputs, its output and the output gradient, all symbolic
tensor variables, and return one gradient graph per input (None: not differentiable there).
"""

import numpy as np

from codegen.config import config


def _upgrade_to_float(dtype):
    """Theano's rule: small ints become float32, larger ints float64."""
    if np.dtype(dtype).kind == "f":
        return dtype
    if dtype in ("bool", "int8", "uint8", "int16", "uint16"):
        return "float32"
    return "float64"


def _upcast(*dtypes):
    return str(np.result_type(*[np.dtype(d) for d in dtypes]))


def out_upcast(dtypes):
    return _upcast(*dtypes)


def out_float(dtypes):
    return _upgrade_to_float(_upcast(*dtypes))


def _first(dtypes):
    return dtypes[0]


def out_bool(dtypes):
    return "bool"


def _bitwise(name):
    """The result dtype of bitwise op ``name``: the operands' common one, booleans or
    integers only (as Theano's)."""
    def out(dtypes):
        if any(d.startswith("float") for d in dtypes):
            raise TypeError(f"{name}: bitwise and logical operations take booleans or "
                            f"integers (as Theano's), got {', '.join(dtypes)}; compare "
                            f"first (x > 0) or cast")
        return _upcast(*dtypes)
    return out


def out_int_for_bools(dtypes):
    """numpy's rule for //, % and ** of booleans: int8."""
    return "int8" if all(d == "bool" for d in dtypes) else _upcast(*dtypes)


def out_switch(dtypes):
    return _upcast(*dtypes[1:])


def out_second(dtypes):
    return dtypes[1]


class ScalarOp:
    """One scalar function: name, arity, numpy reference, dtype rule, gradient, printing."""

    def __init__(self, name, nin, impl, out_dtype=out_upcast, grad=None, infix=None,
                 precedence=0, float_only=False, bools=True):
        self.name = name
        self.bools = bools  # False: booleans are refused, as numpy refuses them
        self.nin = nin
        self.impl = impl
        self.out_dtype = out_dtype
        self.grad = grad
        self.infix = infix
        self.precedence = precedence
        self.float_only = float_only

    def __repr__(self):
        return self.name

    def __reduce__(self):  # by name: the registry's op is the one (its impl is a closure)
        return (scalar_op_named, (self.name,))


def scalar_op_named(name):
    """The registered scalar op called ``name`` (casts are made on first use)."""
    if name.startswith("cast_") and name not in SCALAR_OPS:
        return cast_op(name[len("cast_"):])
    return SCALAR_OPS[name]


def _tensor():
    from codegen.tensor import basic
    return basic


def _grad_pow(x, y, out, gz):
    t = _tensor()
    return [gz * y * t.pow(x, y - 1), gz * out * t.log(x)]


def _grad_maximum(x, y, out, gz):
    t = _tensor()
    first = t.ge(x, y)  # ties send the gradient to the first operand
    return [gz * t.cast(first, gz.dtype), gz * t.cast(t.invert(first), gz.dtype)]


def _grad_minimum(x, y, out, gz):
    t = _tensor()
    first = t.le(x, y)
    return [gz * t.cast(first, gz.dtype), gz * t.cast(t.invert(first), gz.dtype)]


def _grad_switch(c, a, b, out, gz):
    t = _tensor()
    zero = t.zeros_like(gz)
    return [None, t.switch(c, gz, zero), t.switch(c, zero, gz)]


def _grad_abs(x, out, gz):
    # d|x|/dx is taken as sgn(x), so 0 at x == 0 (the subgradient Theano and JAX use).
    return [gz * _tensor().sgn(x)]


def _grad_cast(x, out, gz):
    return [_tensor().cast(gz, x.dtype) if np.dtype(x.dtype).kind == "f" else None]


def _n(fn):
    """numpy ufuncs; errstate so that 0/0 gives nan silently, as in compiled code."""
    def impl(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return impl


def _sigmoid(x):
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))),
                    np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x)))).astype(x.dtype)


def _softplus(x):
    return (np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)).astype(x.dtype)


def _pow(x, y):
    """numpy's power, but sqrt where the exponent is 0.5, as numpy 2 computes a scalar
    exponent of 0.5 (so (-inf) ** 0.5 is NaN and (-0.) ** 0.5 is -0.), whatever numpy is
    installed and wherever the exponent comes from."""
    if np.asarray(x).dtype.kind != "f":
        return np.power(x, y)
    return np.where(np.equal(y, 0.5), np.sqrt(x), np.power(x, y))


def _sgn(x):
    return np.sign(x)


def _round_half_away(x):
    """Round to the nearest integer, halves away from zero (C's round), exactly: the
    fraction left by trunc is exact, where floor(x + 0.5) is not (0.49999999999999994)."""
    whole = np.trunc(x)
    frac = x - whole
    return np.copysign(whole + np.where(np.abs(frac) >= 0.5, np.sign(frac), 0), x)


def _erf(x):
    from scipy.special import erf
    return erf(x)


def _erfc(x):
    from scipy.special import erfc
    return erfc(x)


def _special(name):
    """scipy.special's ``name``, found when first called (scipy is imported lazily)."""
    def impl(x):
        import scipy.special
        fn = scipy.special.polygamma if name == "polygamma1" else getattr(scipy.special, name)
        return fn(1, x) if name == "polygamma1" else fn(x)
    return impl


def _scipy(name):
    """The reference of a special function of two arguments, from scipy.special."""
    def impl(a, b):
        import scipy.special as sp
        if name in ("gammal", "gammau"):  # the unregularized ones, as Theano's
            regularized = sp.gammainc if name == "gammal" else sp.gammaincc
            return regularized(a, b) * sp.gamma(a)
        if name == "chi2sf":  # chi2sf(x, k)
            return sp.chdtrc(b, a)
        return getattr(sp, name)(a, b)
    return impl


def _no_grad(name, argument):
    """Theano's grad_not_implemented: an error only where a gradient asked for needs it."""
    from codegen.graph import late
    return late.get("null_grad")(f"{name} has no gradient with respect to {argument}")


def _grad_bessel_1(order_0):
    """d/dx J1 = J0 - J1 / x, d/dx I1 = I0 - I1 / x; both 1/2 at x = 0."""
    def grad(x, out, gz):
        t = _tensor()
        return [gz * t.switch(t.eq(x, 0), 0.5, getattr(t, order_0)(x) - out / x)]
    return grad


def _grad_gamma_pq(name):
    """The incomplete gamma functions' gradient with respect to x: the density
    x^(k-1) e^-x (over gamma(k) for the regularized ones), negated for the upper ones; none
    with respect to k."""
    def grad(k, x, out, gz):
        t = _tensor()
        power = (k - 1) * t.log(x) - x
        density = t.exp(power - t.gammaln(k) if name in ("gammainc", "gammaincc") else power)
        return [_no_grad(name, "k"), gz * (-density if name in ("gammaincc", "gammau")
                                           else density)]
    return grad


def _grad_chi2sf(x, k, out, gz):
    """minus the density of chi-squared with k degrees of freedom; none with respect to k"""
    t = _tensor()
    half = k / 2
    density = t.exp((half - 1) * t.log(x / 2) - x / 2 - t.gammaln(half)) / 2
    return [-gz * density, _no_grad("chi2sf", "k")]


def _no_grad_of_tri_gamma(x, out, gz):
    raise NotImplementedError("the gradient of tri_gamma (the tetragamma function, "
                              "polygamma(2, x)) is not implemented")


_SQRT_PI_2 = np.sqrt(np.pi) / 2


def _isinf(x):
    return np.isinf(x) if np.asarray(x).dtype.kind == "f" else np.zeros(np.shape(x), bool)


def _isnan(x):
    return np.isnan(x) if np.asarray(x).dtype.kind == "f" else np.zeros(np.shape(x), bool)


def _grad_arctan2(y, x, out, gz):
    r = x * x + y * y
    return [gz * x / r, -gz * y / r]


ROWS = [
    ScalarOp("add", 2, _n(np.add), grad=lambda x, y, o, g: [g, g], infix="+", precedence=1),
    ScalarOp("sub", 2, _n(np.subtract), grad=lambda x, y, o, g: [g, -g], infix="-",
             precedence=1, bools=False),
    ScalarOp("mul", 2, _n(np.multiply), grad=lambda x, y, o, g: [g * y, g * x], infix="*",
             precedence=2),
    ScalarOp("true_div", 2, _n(np.true_divide), out_dtype=out_float,
             grad=lambda x, y, o, g: [g / y, -g * o / y], infix="/", precedence=2),
    ScalarOp("pow", 2, _n(_pow), out_dtype=out_int_for_bools, grad=_grad_pow, infix="**",
             precedence=4),
    # floor division and modulo with Python's signs; x // 0 and x % 0 are 0 for ints (numpy)
    ScalarOp("floor_div", 2, _n(np.floor_divide), out_dtype=out_int_for_bools,
             grad=lambda x, y, o, g: [None, None], infix="//", precedence=2),
    ScalarOp("mod", 2, _n(np.mod), out_dtype=out_int_for_bools,
             grad=lambda x, y, o, g: [g, -g * _tensor().floor_div(x, y)], infix="%",
             precedence=2),
    ScalarOp("neg", 1, _n(np.negative), grad=lambda x, o, g: [-g], infix="-", precedence=3,
             bools=False),
    ScalarOp("exp", 1, _n(np.exp), out_dtype=out_float, grad=lambda x, o, g: [g * o]),
    ScalarOp("expm1", 1, _n(np.expm1), out_dtype=out_float,
             grad=lambda x, o, g: [g * (o + 1)]),
    ScalarOp("log", 1, _n(np.log), out_dtype=out_float, grad=lambda x, o, g: [g / x]),
    ScalarOp("log1p", 1, _n(np.log1p), out_dtype=out_float,
             grad=lambda x, o, g: [g / (x + 1)]),
    ScalarOp("sqrt", 1, _n(np.sqrt), out_dtype=out_float,
             grad=lambda x, o, g: [g * 0.5 / o]),
    ScalarOp("sin", 1, _n(np.sin), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().cos(x)]),
    ScalarOp("cos", 1, _n(np.cos), out_dtype=out_float,
             grad=lambda x, o, g: [-g * _tensor().sin(x)]),
    ScalarOp("tanh", 1, _n(np.tanh), out_dtype=out_float,
             grad=lambda x, o, g: [g * (1 - o * o)]),
    # sigmoid and softplus are primitives for numeric stability: the gradient of the
    # composite 1/(1+exp(-x)) is inf/inf = nan for x < -710, and log1p(exp(x)) overflows.
    ScalarOp("sigmoid", 1, _n(_sigmoid), out_dtype=out_float,
             grad=lambda x, o, g: [g * (o * (1 - o))]),
    ScalarOp("softplus", 1, _n(_softplus), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().sigmoid(x)]),
    ScalarOp("floor", 1, _n(np.floor), out_dtype=out_float, grad=lambda x, o, g: [None]),
    ScalarOp("ceil", 1, _n(np.ceil), out_dtype=out_float, grad=lambda x, o, g: [None]),
    # Theano's round: halves away from zero by default, or to even (numpy's round)
    ScalarOp("round_half_away_from_zero", 1, _n(_round_half_away), out_dtype=out_float,
             grad=lambda x, o, g: [None]),
    ScalarOp("round_half_to_even", 1, _n(np.rint), out_dtype=out_float,
             grad=lambda x, o, g: [None]),
    ScalarOp("erf", 1, _n(_erf), out_dtype=out_float,
             grad=lambda x, o, g: [g * (2 / np.sqrt(np.pi)) * _tensor().exp(-x * x)]),
    ScalarOp("erfc", 1, _n(_erfc), out_dtype=out_float,
             grad=lambda x, o, g: [g * (-2 / np.sqrt(np.pi)) * _tensor().exp(-x * x)]),
    ScalarOp("gammaln", 1, _n(_special("gammaln")), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().psi(x)]),
    ScalarOp("gamma", 1, _n(_special("gamma")), out_dtype=out_float,
             grad=lambda x, o, g: [g * o * _tensor().psi(x)]),
    ScalarOp("psi", 1, _n(_special("psi")), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().tri_gamma(x)]),
    ScalarOp("tri_gamma", 1, _n(_special("polygamma1")), out_dtype=out_float,
             grad=_no_grad_of_tri_gamma),
    ScalarOp("erfinv", 1, _n(_special("erfinv")), out_dtype=out_float,
             grad=lambda x, o, g: [g * _SQRT_PI_2 * _tensor().exp(o * o)]),
    ScalarOp("erfcinv", 1, _n(_special("erfcinv")), out_dtype=out_float,
             grad=lambda x, o, g: [-g * _SQRT_PI_2 * _tensor().exp(o * o)]),
    # scipy.special's Bessel, scaled error and incomplete gamma functions, as Theano's
    ScalarOp("j0", 1, _n(_special("j0")), out_dtype=out_float,
             grad=lambda x, o, g: [-g * _tensor().j1(x)]),
    ScalarOp("j1", 1, _n(_special("j1")), out_dtype=out_float, grad=_grad_bessel_1("j0")),
    ScalarOp("i0", 1, _n(_special("i0")), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().i1(x)]),
    ScalarOp("i1", 1, _n(_special("i1")), out_dtype=out_float, grad=_grad_bessel_1("i0")),
    ScalarOp("erfcx", 1, _n(_special("erfcx")), out_dtype=out_float,
             grad=lambda x, o, g: [g * (2 * x * o - 2 / np.sqrt(np.pi))]),
    *[ScalarOp(name, 2, _n(_scipy(name)), out_dtype=out_float, grad=_grad_gamma_pq(name))
      for name in ("gammainc", "gammaincc", "gammal", "gammau")],
    ScalarOp("chi2sf", 2, _n(_scipy("chi2sf")), out_dtype=out_float, grad=_grad_chi2sf),
    ScalarOp("arctan2", 2, _n(np.arctan2), out_dtype=out_float, grad=_grad_arctan2),
    ScalarOp("tan", 1, _n(np.tan), out_dtype=out_float, grad=lambda x, o, g: [g * (1 + o * o)]),
    ScalarOp("arcsin", 1, _n(np.arcsin), out_dtype=out_float,
             grad=lambda x, o, g: [g / _tensor().sqrt(1 - x * x)]),
    ScalarOp("arccos", 1, _n(np.arccos), out_dtype=out_float,
             grad=lambda x, o, g: [-g / _tensor().sqrt(1 - x * x)]),
    ScalarOp("arctan", 1, _n(np.arctan), out_dtype=out_float,
             grad=lambda x, o, g: [g / (1 + x * x)]),
    ScalarOp("sinh", 1, _n(np.sinh), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().cosh(x)]),
    ScalarOp("cosh", 1, _n(np.cosh), out_dtype=out_float,
             grad=lambda x, o, g: [g * _tensor().sinh(x)]),
    ScalarOp("arcsinh", 1, _n(np.arcsinh), out_dtype=out_float,
             grad=lambda x, o, g: [g / _tensor().sqrt(x * x + 1)]),
    ScalarOp("arccosh", 1, _n(np.arccosh), out_dtype=out_float,
             grad=lambda x, o, g: [g / _tensor().sqrt(x * x - 1)]),
    ScalarOp("arctanh", 1, _n(np.arctanh), out_dtype=out_float,
             grad=lambda x, o, g: [g / (1 - x * x)]),
    ScalarOp("log2", 1, _n(np.log2), out_dtype=out_float,
             grad=lambda x, o, g: [g / (x * np.log(2.0))]),
    ScalarOp("log10", 1, _n(np.log10), out_dtype=out_float,
             grad=lambda x, o, g: [g / (x * np.log(10.0))]),
    ScalarOp("exp2", 1, _n(np.exp2), out_dtype=out_float,
             grad=lambda x, o, g: [g * o * np.log(2.0)]),
    ScalarOp("trunc", 1, _n(np.trunc), out_dtype=out_float, grad=lambda x, o, g: [None]),
    ScalarOp("isnan", 1, _n(_isnan), out_dtype=out_bool, grad=lambda x, o, g: [None]),
    ScalarOp("isinf", 1, _n(_isinf), out_dtype=out_bool, grad=lambda x, o, g: [None]),
    ScalarOp("abs", 1, _n(np.abs), grad=_grad_abs),
    ScalarOp("sgn", 1, _n(_sgn), grad=lambda x, o, g: [None], bools=False),
    ScalarOp("maximum", 2, _n(np.maximum), grad=_grad_maximum),
    ScalarOp("minimum", 2, _n(np.minimum), grad=_grad_minimum),
    ScalarOp("switch", 3, _n(lambda c, a, b: np.where(c, a, b)), out_dtype=out_switch,
             grad=_grad_switch),
    # second(a, b) is b broadcast to the shape of a (Theano's fill): zeros_like, ones_like and
    # the gradient of a sum are built from it, so they fuse like any elementwise op.
    ScalarOp("second", 2, _n(lambda a, b: np.broadcast_to(b, np.broadcast_shapes(
        np.shape(a), np.shape(b))).copy()), out_dtype=out_second,
        grad=lambda a, b, o, g: [None, g]),
    # zero_grad is the identity whose gradient is zero (consider_constant, softmax's shift);
    # rewrites remove it before lowering.
    ScalarOp("zero_grad", 1, lambda x: np.array(x, copy=True), grad=lambda x, o, g: [None]),
    # grad_clip(x, lo, hi) and grad_scale(x, m): x, whose gradient is clipped to [lo, hi] or
    # multiplied by m (lo, hi and m scalars); like zero_grad, removed before lowering
    ScalarOp("grad_clip", 3, lambda x, lo, hi: np.array(x, copy=True), out_dtype=_first,
             grad=lambda x, lo, hi, o, g: [_tensor().clip(g, lo, hi), None, None]),
    ScalarOp("grad_scale", 2, lambda x, m: np.array(x, copy=True), out_dtype=_first,
             grad=lambda x, m, o, g: [g * m, None]),
    # tensor_copy(x) (Theano's ``x.copy()``): a new variable of x's value, gradient passing
    # through; removed before lowering like zero_grad
    ScalarOp("tensor_copy", 1, lambda x: np.array(x, copy=True), grad=lambda x, o, g: [g]),
    ScalarOp("eq", 2, _n(np.equal), out_dtype=out_bool, infix="==", precedence=0),
    ScalarOp("neq", 2, _n(np.not_equal), out_dtype=out_bool, infix="!=", precedence=0),
    ScalarOp("lt", 2, _n(np.less), out_dtype=out_bool, infix="<", precedence=0),
    ScalarOp("le", 2, _n(np.less_equal), out_dtype=out_bool, infix="<=", precedence=0),
    ScalarOp("gt", 2, _n(np.greater), out_dtype=out_bool, infix=">", precedence=0),
    ScalarOp("ge", 2, _n(np.greater_equal), out_dtype=out_bool, infix=">=", precedence=0),
    # Theano's: bitwise on integers (in their common dtype), logical on booleans
    ScalarOp("and_", 2, _n(np.bitwise_and), out_dtype=_bitwise("and_"), infix="&",
             precedence=0),
    ScalarOp("or_", 2, _n(np.bitwise_or), out_dtype=_bitwise("or_"), infix="|",
             precedence=0),
    ScalarOp("xor", 2, _n(np.bitwise_xor), out_dtype=_bitwise("xor"), infix="^",
             precedence=0),
    ScalarOp("invert", 1, _n(np.invert), out_dtype=_bitwise("invert"), infix="~",
             precedence=3),
]

SCALAR_OPS = {row.name: row for row in ROWS}

#: Ops whose value is their first operand: only the gradient walker tells them apart from it
GRADIENT_ONLY = frozenset({"zero_grad", "grad_clip", "grad_scale", "tensor_copy"})

COMPARISONS = frozenset({"eq", "neq", "lt", "le", "gt", "ge"})
_AS_GIVEN = frozenset({"and_", "or_", "xor", "invert", "second", "zero_grad", "grad_clip",
                       "grad_scale", "tensor_copy", "isnan", "isinf",
                       # draws (codegen.ops.random): index, counter, seed, p as they are
                       "rand_uniform", "rand_normal", "rand_bernoulli", "rand_poisson"})


def operand_dtypes(name, dtypes, out_dtype):
    """The dtype each operand is converted to before scalar op ``name`` computes (None: used
    as it is), as numpy computes: arithmetic in the result's dtype (int64 + float32 in
    float64, tanh of a bool in float32), comparisons in the operands' common dtype, switch's
    branches in the result's."""
    if name in COMPARISONS:
        return [_upcast(*dtypes)] * len(dtypes)
    if name == "switch":
        return [None, out_dtype, out_dtype]
    if name.startswith("cast_") or name in _AS_GIVEN:
        return [None] * len(dtypes)
    return [out_dtype] * len(dtypes)


def cast_op(dtype):
    """The scalar op converting to ``dtype`` (one per target dtype)."""
    dtype = str(np.dtype(dtype))
    name = f"cast_{dtype}"
    if name not in SCALAR_OPS:
        SCALAR_OPS[name] = ScalarOp(name, 1, lambda x: np.asarray(x).astype(dtype),
                                    out_dtype=lambda dts: dtype, grad=_grad_cast)
    return SCALAR_OPS[name]


def weak_scalar_dtype(value):
    """dtype of a Python scalar constant: the smallest int that holds it, floats as floatX."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        for dtype in ("int8", "int16", "int32", "int64"):
            if np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
                return dtype
        return "float64"
    return config.floatX
