"""numpy functions as ops: those whose outputs' lengths depend on their inputs' values
(nonzero, flatnonzero, unique, bincount, repeat by an array of counts, lstsq's residuals), and
those codegen has not compiled yet (the real FFT and its inverse, the special functions of
scipy, and the factorizations of nlinalg and slinalg other than those of
``codegen.ops.linalg`` and those built from them: eig, qr's mode raw). Each kind is a numpy
function (what the reference interpreter runs), a rule for its output types and the reason the
compiled backends cannot run it as it is.

The first have compiled forms (``compiled_form``, the rewrite ``expand_valued``): their
lengths are values a step computes (sums, a rank), so a graph holding one is compiled in
parts, chained in one module (``codegen.lower.parts``; ``codegen build`` too). The others run
in the reference interpreter between compiled parts, with a warning giving the reason; a
module with any of these does not build.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error

VALUED = "its output's length depends on its input's values"


def _vectors(dtype, n):
    return [TensorType(dtype, (False,))] * n


def _nonzero(a):
    return np.nonzero(a)


def _nonzero_types(a):
    return _vectors("int64", a.ndim)


def _flatnonzero(a):
    return (np.flatnonzero(a),)


def _flatnonzero_types(a):
    return _vectors("int64", 1)


def _bincount(x, *weights, minlength=None):
    if x.size and x.min() < 0:
        raise ValueError(f"bincount: the values must not be negative, got {x.min()}")
    return (np.bincount(x, weights[0] if weights else None, minlength or 0),)


def _bincount_types(x, *weights, minlength=None):
    return _vectors(weights[0].dtype if weights else "int64", 1)


def _unique(x, flags=(), axis=None):
    out = np.unique(x, *flags, axis=axis)
    out = list(out) if isinstance(out, tuple) else [out]
    if axis is None and len(flags) > 1 and flags[1]:  # numpy 2 shapes it as x: flat, as typed
        out[1 + flags[0]] = np.ravel(out[1 + flags[0]])
    return tuple(out)


def _unique_types(x, flags=(), axis=None):
    values = TensorType(x.dtype, (False,) * (1 if axis is None else x.ndim))
    return [values] + _vectors("int64", sum(flags))


def _repeat(x, counts, axis=0):
    return (np.repeat(x, counts, axis=axis),)


def _repeat_types(x, counts, axis=0):
    return [TensorType(x.dtype, [b and k != axis for k, b in enumerate(x.broadcastable)])]


def _rfft(a):
    spectrum = np.fft.rfftn(a, axes=tuple(range(1, a.ndim)))
    return (np.stack([spectrum.real, spectrum.imag], axis=-1),)


def _rfft_types(a):
    return [TensorType(a.dtype, a.broadcastable[:1] + (False,) * a.ndim)]


def _irfft(a, last, odd=None):
    """The inverse of ``_rfft`` times the number of points (unnormalized), the signal's last
    axis ``last`` long (``odd``: whether that is 2 (m - 1) + 1 for m frequencies, where the
    caller said so)."""
    spectrum = a[..., 0] + 1j * a[..., 1]
    shape = spectrum.shape[1:-1] + (int(last),)
    axes = tuple(range(1, spectrum.ndim))
    return (np.fft.irfftn(spectrum, s=shape, axes=axes) * np.prod(shape),)


def _irfft_types(a, last, odd=None):
    return [TensorType(a.dtype, a.broadcastable[:1] + (False,) * (a.ndim - 2))]


def _qr(a, mode="reduced"):
    out = np.linalg.qr(a, mode)
    return tuple(out) if isinstance(out, tuple) else (out,)


def _qr_types(a, mode="reduced"):
    return [TensorType(a.dtype, (False, False))] * (1 if mode == "r" else 2)


def _eig(a):
    w, v = np.linalg.eig(a)
    if np.iscomplexobj(w) and np.any(w.imag != 0):
        raise ValueError("the eigenvalues of this matrix are complex; codegen's tensors are "
                         "real (use eigh for a symmetric matrix)")
    return w.real, v.real


def _eig_types(a):
    return [TensorType(a.dtype, (False,)), TensorType(a.dtype, (False, False))]


def _lstsq(a, b, rcond):
    x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=float(rcond))
    return x, residuals, np.asarray(rank), s


def _lstsq_types(a, b, rcond):
    dtype = np.result_type(a.dtype, b.dtype).name
    return [TensorType(dtype, (False,) * b.ndim), TensorType(dtype, (False,)),
            TensorType("int64", ()), TensorType(dtype, (False,))]


#: scipy.special's functions of real order that codegen runs in the reference interpreter
#: (as Theano ran them in Python): name -> number of arguments. (j0, j1, i0, i1, erfcx and
#: the incomplete gamma functions are scalar ops, compiled: ``codegen.ops.scalar``.)
SPECIAL = {"jv": 2, "iv": 2}


def _special(order, x, name):
    import scipy.special
    return (getattr(scipy.special, name)(order, x),)


def _special_types(*args, name):
    dtype = np.result_type(*[a.dtype for a in args], np.float32).name
    if dtype not in ("float32", "float64"):
        dtype = "float64"
    pattern = tuple(all(a.broadcastable[k] for a in args) for k in range(args[0].ndim))
    return [TensorType(dtype, pattern)]


LINALG = "it has no compiled form yet"
FFT = "its compiled form (FFTs along each axis, codegen.ops.fft) needs the signal's length"

#: name -> (numpy function, output types, why only the reference interpreter runs it)
KINDS = {
    "qr": (_qr, _qr_types, LINALG),
    "eig": (_eig, _eig_types, LINALG),
    "lstsq": (_lstsq, _lstsq_types, LINALG),
    "nonzero": (_nonzero, _nonzero_types, VALUED),
    "flatnonzero": (_flatnonzero, _flatnonzero_types, VALUED),
    "bincount": (_bincount, _bincount_types, VALUED),
    "unique": (_unique, _unique_types, VALUED),
    "repeat": (_repeat, _repeat_types, VALUED),
    "special": (_special, _special_types, "it has no compiled form yet"),
    "rfft": (_rfft, _rfft_types, FFT),
    "irfft": (_irfft, _irfft_types, FFT),
}


class NumpyOp(Op):
    """One of ``KINDS`` with its parameters; no gradient (indices, counts, or values
    piecewise constant in the inputs)."""

    props = ("kind", "params")

    def __init__(self, kind, **params):
        self.kind = kind
        self.params = tuple(sorted(params.items()))
        self.reference_only = KINDS[kind][2]

    def short_name(self):
        return dict(self.params)["name"] if self.kind == "special" else self.kind

    def make_node(self, *inputs):
        return Apply(self, list(inputs), KINDS[self.kind][1](*inputs, **dict(self.params)))

    def perform(self, node, values):
        try:
            results = KINDS[self.kind][0](*values, **dict(self.params))
        except (ValueError, IndexError) as exc:  # numpy's, LinAlgError too: name op and line
            message = str(exc)
            if message.startswith(f"{self.kind}: "):
                message = message[len(self.kind) + 2:]
            raise op_error(type(exc), node, message) from None
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(results, node.outputs)]

    def grad(self, node, output_grads):
        if self.kind in GRADS:
            return GRADS[self.kind](node, output_grads, **dict(self.params))
        if self.kind in LINALG_NO_GRAD:
            raise NotImplementedError(f"{self.kind} has no gradient")
        return [None] * len(node.inputs)


LINALG_NO_GRAD = frozenset({"qr", "eig", "lstsq"})


def _t():
    from codegen.tensor import basic
    return basic


def _halved_or_doubled(g, n, factor):
    """``g`` (a spectrum, real and imaginary parts on the last axis) with the frequencies
    that a real signal of ``n`` points has twice (all but 0 and, for even n, n/2) scaled by
    ``factor``."""
    t = _t()
    twice = (slice(None),) * (g.ndim - 2) + (slice(1, (n + 1) // 2), slice(None))
    return t.set_subtensor(t.subtensor(g, twice), t.subtensor(g, twice) * factor)


def _grad_rfft(node, grads):
    (a,), (gz,) = node.inputs, grads
    n = _t().shape_of(a, a.ndim - 1)
    return [NumpyOp("irfft")(_halved_or_doubled(gz, n, 0.5), n)]


def _grad_irfft(node, grads, odd=None):
    (_, last), (gz,) = node.inputs, grads
    return [_halved_or_doubled(NumpyOp("rfft")(gz), last, 2.0), None]


def _grad_special(node, grads, name):
    """jv's and iv's gradients with respect to x; none with respect to the order, which must
    then be a constant."""
    from codegen.graph import Constant
    (order, x), t = node.inputs, _t()
    if not isinstance(order, Constant):
        raise NotImplementedError(f"{name} has no gradient with respect to its first "
                                  f"argument (give it as a constant)")
    f, sign = getattr(t, name), (-1 if name == "jv" else 1)
    g = grads[0] * (f(order - 1, x) + sign * f(order + 1, x)) / 2
    # where x was broadcast against the order, its gradient is summed back
    spread = [k for k, (b, o) in enumerate(zip(x.broadcastable, node.outputs[0].broadcastable))
              if b and not o]
    return [None, t.sum(g, axis=spread, keepdims=True) if spread else g]


GRADS = {"rfft": _grad_rfft, "irfft": _grad_irfft, "special": _grad_special}


# ---------------------------------------------------------------------- compiled forms
#
# The ops whose lengths depend on the values, built from compiled ops for the compiled
# backends (the rewrite ``expand_valued``; the reference interpreter runs numpy's). Each
# length is a sum that a step computes: ``codegen.function`` compiles the graph in parts,
# the length an argument of the part after it (``codegen.compile.parts``). The positions of
# the nonzero elements come from one walk along the mask (``reduce.Positions``), after a
# sum that counts them.


def _positions(mask, kind):
    """The positions of the true elements of the bool vector ``mask``, in order (int64).
    Their number is named ``<kind>_length`` (the late length a part computes)."""
    from codegen.ops.reduce import Positions
    t = _t()
    count = t.sum(t.cast(mask, "int64"), dtype="int64")
    count.name = f"{kind}_length"
    return Positions()(mask, count)


def _expand_flatnonzero(node):
    t = _t()
    return [_positions(t.neq(t.flatten(node.inputs[0]), 0), "flatnonzero")]


def _expand_nonzero(node):
    """Each axis's index of the nonzero elements: the flat positions divided by the axis's
    step (the product of the lengths after it), modulo its length."""
    t, (a,) = _t(), node.inputs
    flat = _positions(t.neq(t.flatten(a), 0), "nonzero")
    out, step = [], None
    for k in reversed(range(a.ndim)):
        length = t.cast(t.shape_of(a, k), "int64")
        index = flat if step is None else t.floor_div(flat, step)
        out.append(index % length if k else index)
        step = length if step is None else step * length
    return out[::-1]


def _expand_bincount(node, minlength=None):
    """A scatter-add of ones (or the weights) into max(x) + 1 (at least minlength) zeros."""
    from codegen.ops.assert_op import Assert
    t = _t()
    x, weights = node.inputs[0], node.inputs[1:]
    x = t.cast(x, "int64")
    x = Assert("bincount: the values must not be negative", "ValueError")(
        x, t.all(t.ge(x, 0)))
    top = t.max(t.concatenate([x, t.constant(np.array([-1]))])) + 1  # 0 for no values
    length = t.maximum(top, minlength or 0)
    length.name = "bincount_length"
    dtype = node.outputs[0].dtype
    amount = t.cast(weights[0], dtype) if weights else t.ones_like(x)
    return [t.inc_subtensor(t.zeros((length,), dtype=dtype)[x], amount)]


def _expand_repeat(node, axis=0):
    """A gather along ``axis``: output row r is input row searchsorted(cumsum(counts), r,
    'right')."""
    from codegen.ops.assert_op import Assert
    from codegen.tensor.extra_ops import searchsorted
    t = _t()
    x, counts = node.inputs
    counts = t.cast(counts, "int64")
    if counts.ndim == 0:
        counts = t.alloc(counts, t.shape_of(x, axis))
    counts = Assert("repeat: the counts must not be negative and one per element of the "
                    "axis", "ValueError")(
        counts, t.eq(t.shape_of(counts, 0), t.shape_of(x, axis)), t.all(t.ge(counts, 0)))
    total = t.sum(counts, dtype="int64")
    total.name = "repeat_length"
    rows = searchsorted(t.cumsum(counts), t.arange(total), side="right")
    return [t.take(x, rows, axis=axis)]


def _expand_unique(node, flags=(), axis=None):
    """Sort (stably), mark the first of each run of equal values (NaNs are one run, as
    numpy's), and gather the firsts; the first occurrences, the inverse and the counts from
    the same marks."""
    t = _t()
    (x,) = node.inputs
    flat = t.flatten(x)
    n = t.shape_of(flat, 0)
    order = t.argsort(flat)
    values = flat[order]
    before = values[t.maximum(t.arange(n) - 1, 0)]
    differs = t.neq(values, before)
    if x.dtype[0] in "fc":
        differs = t.and_(differs, t.invert(t.and_(t.isnan(values), t.isnan(before))))
    first = t.or_(t.eq(t.arange(n), 0), differs)
    starts = _positions(first, "unique")
    out = [values[starts]]
    return_index, return_inverse, return_counts = flags or (False, False, False)
    if return_index:
        out.append(order[starts])
    if return_inverse:
        run = t.cumsum(t.cast(first, "int64")) - 1
        out.append(t.set_subtensor(t.zeros((n,), dtype="int64")[order], run))
    if return_counts:  # from each first to the next (to the end after the last)
        out.append(t.concatenate([starts, t.reshape(n, (1,))])[1:] - starts)
    return out


def _expand_lstsq(node):
    """numpy's lstsq (LAPACK's gelsd) from the compiled reduced svd: the least-norm solution
    V diag(1/s) U^T b over the singular values above rcond times the largest (machine epsilon
    for a negative rcond), their number the rank, and the residuals' squared norms per column
    of b when a has full column rank and more rows than columns, else none (a length the
    rank decides: the next part takes it)."""
    from codegen.tensor.nlinalg import inverted_singular_values, svd
    t = _t()
    a, b, rcond = node.inputs
    dtype = node.outputs[0].dtype
    a, b = t.cast(a, dtype), t.cast(b, dtype)
    u, s, vt = svd(a, full_matrices=0)
    ratio = t.switch(t.lt(rcond, 0), np.finfo(dtype).eps, t.cast(rcond, dtype))
    kept, inverse = inverted_singular_values(s, ratio)
    projected = t.dot(u.T, b)
    x = t.dot(vt.T, projected * (inverse if b.ndim == 1 else inverse.dimshuffle(0, "x")))
    rank = t.sum(t.cast(kept, "int64"), dtype="int64")
    rows, cols = t.shape_of(a, 0), t.shape_of(a, 1)
    squares = t.sum((b - t.dot(a, x)) ** 2, axis=0)
    squares = t.reshape(squares, (1,)) if b.ndim == 1 else squares
    length = t.switch(t.and_(t.eq(rank, cols), t.gt(rows, cols)), t.shape_of(squares, 0), 0)
    length.name = "lstsq_residuals_length"
    return [x, squares[:length], rank, s]


#: kind -> its compiled form, where it has one: (node, **params) -> the outputs' variables
def _expand_rfft(node):
    """rfft over the axes after the first: a real FFT along the last axis, then a complex
    one along each other (numpy's rfftn)."""
    from codegen.ops.fft import FFT1
    (a,) = node.inputs
    c = FFT1("rfft")(a)
    for axis in range(a.ndim - 2, 0, -1):
        c = FFT1("fft", axis)(c)
    return [c]


def _expand_irfft(node, odd=None):
    """irfft: inverse complex FFTs along the axes between the first and the last complex
    one, then the real signals along that one (numpy's irfftn), unnormalized; of
    2 (m - 1) + odd points, or as many as the length input says (a gradient's)."""
    from codegen.ops.fft import FFT1
    a, last = node.inputs
    c = a
    for axis in range(1, a.ndim - 2):
        c = FFT1("ifft", axis)(c)
    return [FFT1("irfft", odd=odd)(c) if odd is not None else FFT1("irfft")(c, last)]


EXPANSIONS = {"rfft": _expand_rfft, "irfft": _expand_irfft,
              "flatnonzero": _expand_flatnonzero, "nonzero": _expand_nonzero,
              "bincount": _expand_bincount, "repeat": _expand_repeat, "unique": _expand_unique,
              "lstsq": _expand_lstsq}


def compiled_form(node):
    """The outputs of ``node`` (a ``NumpyOp``) built from compiled ops, or None where it has
    none (a kind not in ``EXPANSIONS``, unique along an axis, the nonzero of a 0-d array)."""
    params = dict(node.op.params)
    if node.op.kind not in EXPANSIONS or (node.op.kind == "unique" and
                                          params.get("axis") is not None) or \
            (node.op.kind == "nonzero" and node.inputs[0].ndim == 0) or \
            (node.op.kind == "lstsq" and node.outputs[0].dtype not in ("float32", "float64")):
        return None
    outs = EXPANSIONS[node.op.kind](node, **params)
    return [o if o.dtype == v.dtype else _t().cast(o, v.dtype)
            for o, v in zip(outs, node.outputs)]
