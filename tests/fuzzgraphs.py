"""Differential fuzzing: random graphs, compiled and compared with the numpy reference.

A hypothesis strategy draws a *batch* of graphs (``batches``); ``check_batch`` compiles the
whole batch as one module (so compiles stay few), runs every graph on its drawn inputs, and
compares each output with what the numpy reference (``mode='FAST_COMPILE'``) gives: dtype,
shape, NaN and Inf pattern, the signs of zeros and Infs (for graphs with no sum or product,
whose order of addition numpy does not fix, and whose zero's sign an Inf divided by it
takes), and values (integers and booleans exactly; floats to a
tolerance scaled by the largest value the graph computes, since libm, libmvec and numpy's
own SIMD functions differ in the last bits). A share of graphs also compares a gradient.

What the graphs leave out, because numpy itself does not define the result (it varies with
the platform and the build): Inf in the operands of products (BLAS's own result), casts of
NaN, Inf or out-of-range floats to integers (C leaves
them undefined; the generator clips and zeroes such operands first), integer powers with
negative exponents (numpy raises; the generator takes exponents modulo 5), and sums or
products of values near overflow (their order decides whether they overflow: the generator
clips reduced operands to +-1e6).
"""

import numpy as np
from hypothesis import strategies as st

import codegen
import codegen.tensor as T
from codegen.backends import numpy as reference
from codegen.compile.module import load_module

DTYPES = ["float64", "float32", "int64", "int32", "bool"]
FLOATS = ["float64", "float32"]
#: Names that once collided with C, the headers or generated names (tests/test_names.py).
NAMES = ["x", "y", "A", "INFINITY", "NAN", "EOF", "I", "state", "spare", "allow_downcast", "x_p",
         "A_n0", "linux", "double", "n0", "t0", "lambda", "π"]
#: Ops that sum or multiply in an order of their own: the sign of a zero they give, and so
#: of an Inf divided by it, is theirs.
SUMMED = {"sum", "prod", "dot", "mean", "cumsum", "cumprod", "softmax", "det", "inverse",
          "solve", "cholesky", "eigvalsh"}
#: Ops whose result's length the values decide.
LENGTHS = {"unique", "compress", "bincount", "repeat"}
#: Lengths of the large graphs' axes, and the most elements of one of their arrays.
LARGE_DIMS = [1, 2, 3, 31, 33, 255, 257, 1023, 1025, 4097, 70001, 300007]
LARGE_ELEMENTS = 300007
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, np.nan, np.inf, -np.inf, 1e300, -1e300,
           1.7e308, 5e-324, 1e-300, 88.7, -745.2, 710.0, 2.0 ** 24 + 1]
INT_SPECIAL = {"int32": [0, 1, -1, 2, -7, 13, 2**31 - 1, -2**31, 46341],
               "int64": [0, 1, -1, 2, -7, 13, 2**63 - 1, -2**63, 2**32 + 1, 3037000500]}
UNARY = ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid",
         "softplus", "sgn"]
BINARY = ["add", "sub", "mul", "true_div", "floor_div", "mod", "pow", "maximum", "minimum"]
COMPARE = ["eq", "neq", "lt", "le", "gt", "ge"]
#: Ops whose gradient the graph can take (no integer or boolean results on the way).
SMOOTH = set(UNARY) | {"add", "sub", "mul", "true_div", "pow", "maximum", "minimum", "switch",
                       "sum", "max", "dot", "dimshuffle", "reshape", "subtensor", "leaf",
                       "const", "concatenate", "softmax", "cumsum", "sort"}


class Graph:
    """One drawn graph: its inputs, output, argument values (maybe as odd views), and
    which comparisons apply."""

    def __init__(self, inputs, output, args, ops):
        self.inputs, self.output, self.args, self.ops = inputs, output, args, ops
        self.exact_zeros = not ops & SUMMED
        floats = [v for v in inputs if v.dtype in FLOATS]
        self.wrt = floats[0] if floats and ops <= SMOOTH and output.dtype in FLOATS else None


def _values(draw, dtype, shape):
    n = int(np.prod(shape))
    if n > 64:
        return _many_values(draw, dtype, shape, n)
    if dtype == "bool":
        flat = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    elif dtype in FLOATS:
        flat = draw(st.lists(st.one_of(st.sampled_from(SPECIAL),
                                       st.floats(-1e3, 1e3, allow_nan=False)),
                             min_size=n, max_size=n))
    else:
        info = np.iinfo(dtype)
        flat = draw(st.lists(st.one_of(st.sampled_from(INT_SPECIAL[dtype]),
                                       st.integers(-100, 100),
                                       st.integers(info.min, info.max)),
                             min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        return np.array(flat, dtype=dtype).reshape(shape)


def _many_values(draw, dtype, shape, n):
    """Values of a large array: numpy's random values from a drawn seed (hypothesis would
    draw them one by one), a few of them replaced by drawn special values, and maybe a run
    of equal values (ties for the sorts)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "bool":
        value = rng.random(n) < draw(st.sampled_from([0.0, 0.01, 0.5, 1.0]))
    elif dtype in FLOATS:
        value = rng.uniform(-1e3, 1e3, n).astype(dtype)
    else:
        value = rng.integers(-100, 101, n).astype(dtype)
    if dtype != "bool":
        special = SPECIAL if dtype in FLOATS else INT_SPECIAL[dtype]
        picks = draw(st.lists(st.sampled_from(special), max_size=4))
        with np.errstate(all="ignore"):
            value[rng.integers(0, n, len(picks))] = np.array(picks).astype(dtype)
        if draw(st.booleans()):
            start = int(rng.integers(0, n))
            value[start:start + int(rng.integers(1, n + 1))] = value[start]
    return value.reshape(shape)


def _layout(draw, value):
    """``value``, or the same values in an odd layout: strided, reversed, Fortran order, a
    field of a structured array (a stride that is no whole number of elements)."""
    kind = draw(st.sampled_from(["plain", "plain", "strided", "reversed", "fortran", "field"]))
    if value.ndim == 0 or kind == "plain":
        return value
    if kind == "strided":
        big = np.zeros(value.shape[:-1] + (2 * value.shape[-1],), value.dtype)
        big[..., ::2] = value
        return big[..., ::2]
    if kind == "reversed":
        return np.flip(np.flip(value).copy())
    if kind == "fortran":
        return np.asfortranarray(value)
    records = np.zeros(value.shape, dtype=[("pad", "i1"), ("v", value.dtype)])
    records["v"] = value
    return records["v"]


@st.composite
def graphs(draw, large=False):
    """One graph of up to three inputs, a few ops deep, with its argument values.
    ``large``: arrays of up to LARGE_ELEMENTS elements, whose lengths cross the sizes where
    the kernels change strategy (blocks, partial results, threads, tiles, radix sorts)."""
    if large:
        ndim = draw(st.integers(1, 3))
        full, room = [], LARGE_ELEMENTS
        for _ in range(ndim):
            full.append(draw(st.sampled_from([d for d in LARGE_DIMS[::-1] if d <= room])))
            room //= full[-1]
        full = tuple(full)
    else:
        ndim = draw(st.integers(0, 3))
        full = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=6, max_size=6, unique=True))
    inputs, args = [], []
    for k in range(draw(st.integers(1, 3))):
        dtype = draw(st.sampled_from(DTYPES))
        # fewer dims broadcast from the left, as in numpy (large graphs: mostly all of them)
        own = draw(st.sampled_from([ndim, ndim, ndim, 0]) if large else st.integers(0, ndim))
        flag = st.sampled_from([False, False, False, True]) if large else st.booleans()
        bc = tuple(draw(flag) if full[ndim - own + a] > 1 else True for a in range(own))
        shape = tuple(1 if b else full[ndim - own + a] for a, b in enumerate(bc))
        var = T.tensor(dtype, bc, name=names[k])
        inputs.append(var)
        args.append(_layout(draw, _values(draw, dtype, shape)))
    ops = set()
    pool = list(inputs)
    if draw(st.integers(0, 3)) == 0:
        pool.append(_product(draw, names[3:], inputs, args, ops, large))
    if draw(st.integers(0, 5)) == 0:
        pool.append(_factorization(draw, names[5], inputs, args, ops, large))
    for _ in range(draw(st.integers(1, 5))):
        try:
            pool.append(_node(draw, pool, ops, large))
        except TypeError:  # an op numpy refuses for these dtypes (-bool): refused here too
            ops.add("refused")
    output = pool[-1]
    return Graph(inputs, output, args, ops | {"leaf"})


def _pick(draw, pool):
    return draw(st.sampled_from(pool))


def _int_safe(x):
    """A float operand made safe to cast to integers: NaN, Inf and huge values become 0."""
    finite = T.and_(T.eq(x, x), T.lt(abs(x), 1e9))
    return T.switch(finite, x, 0)


def _node(draw, pool, ops, large=False):
    kind = draw(st.sampled_from(["unary", "binary", "binary", "compare", "switch", "cast",
                                 "reduce", "shape", "index", "gather", "write", "ifelse",
                                 "loop", "search", "walk", "length", "softmax"]))
    a = _pick(draw, pool)
    if kind == "unary":
        name = draw(st.sampled_from(UNARY))
        ops.add(name)
        return getattr(T, name)(a)
    if kind == "binary":
        name = draw(st.sampled_from(BINARY))
        b = _pick(draw, pool)
        if name == "pow" and a.dtype not in FLOATS and b.dtype not in FLOATS:
            b = T.mod(b, 5)  # numpy raises for negative integer exponents
            ops.add("mod")
        ops.add(name)
        return getattr(T, name)(a, b)
    if kind == "compare":
        ops.add("compare")
        return getattr(T, draw(st.sampled_from(COMPARE)))(a, _pick(draw, pool))
    if kind == "switch":
        ops.add("switch")
        cond = T.gt(a, 0) if a.dtype != "bool" else a
        return T.switch(cond, _pick(draw, pool), _pick(draw, pool))
    if kind == "cast":
        dtype = draw(st.sampled_from(DTYPES))
        ops.add("cast")
        if a.dtype in FLOATS and dtype not in FLOATS and dtype != "bool":
            a = _int_safe(a)
        return T.cast(a, dtype)
    if kind == "reduce" and a.ndim > 0:
        name = draw(st.sampled_from(["sum", "prod", "max", "min", "mean", "argmax"]))
        axis = draw(st.one_of(st.none(), st.integers(0, a.ndim - 1)))
        keepdims = draw(st.booleans()) and name != "argmax"
        ops.add(name)
        if a.dtype in FLOATS:
            a = _reducible(a, name, large)
            ops.add("clip")
        if name == "argmax":
            return T.argmax(a, axis=axis)
        return getattr(T, name)(a, axis=axis, keepdims=keepdims)
    if kind == "index" and a.ndim > 0:
        ops.add("subtensor")
        items = [slice(1, None), slice(None, None, -1), (slice(None), None)]
        if a.type.shape[0] != 0:  # an integer index into an axis known to be empty raises
            items += [0, -1]
        if a.type.shape[-1] != 0:
            items.append((Ellipsis, 0))
        return a[draw(st.sampled_from(items))]
    if kind == "gather" and a.ndim > 0:  # integer-array indexing, indices within the axis
        ops.add("advanced_subtensor")
        picks = np.array(draw(st.lists(st.integers(-9, 9), min_size=1, max_size=4)),
                         dtype="int64")
        return a[T.mod(picks, T.maximum(a.shape[0], 1))]
    if kind == "write" and a.ndim > 0:  # inc_subtensor / set_subtensor, basic or advanced
        where = draw(st.sampled_from(["slice", "repeat"]))
        value = np.asarray(draw(st.sampled_from([1, -2, 0])), dtype=a.dtype)
        part = a[1:] if where == "slice" else a[T.mod(np.array([0, 0, -1]),
                                                      T.maximum(a.shape[0], 1))]
        if draw(st.booleans()):
            ops.add("set_subtensor")
            return T.set_subtensor(part, value)
        ops.add("inc_subtensor")
        return T.inc_subtensor(part, value)
    if kind == "ifelse":
        from codegen.ifelse import ifelse
        ops.add("ifelse")
        b = T.cast(_pick(draw, pool), a.dtype) if a.dtype != "bool" else a
        cond = T.gt(T.sum(T.cast(b, "float64")), 0)
        return ifelse(cond, a, -a if a.dtype != "bool" else ~a)
    if kind == "loop" and a.ndim > 0 and a.type.shape[0] != 0 and not ops & LENGTHS:
        # scan over a's rows: a state, stacked or the last (the state starts from a row, so
        # an axis known to be empty has none, nor one whose length the values decide: the
        # shape of its first row, all that zeros_like reads, is there even when the row is
        # not, as in Theano)
        name = draw(st.sampled_from(UNARY))
        scale = draw(st.sampled_from([0.5, -1.0, 1.0]))
        variant = draw(st.sampled_from(["stacked", "last", "backwards", "two taps", "recurrent"]))
        x = T.clip(a if a.dtype in FLOATS else T.cast(a, "float64"), -1e3, 1e3)
        if large:
            x = x[:40]  # a step or a few launches per row: 40 of them
        if variant == "recurrent" and x.ndim not in (2, 3):
            variant = "stacked"
        ops.add(f"scan {variant} {name}")
        step = getattr(T, name)
        if variant == "two taps":
            init = T.stack([T.zeros_like(x[0]), T.ones_like(x[0])])
            out, _ = codegen.scan(lambda xt, tm2, tm1: tm2 * scale + step(xt) - tm1 * 0.25,
                                  sequences=x, outputs_info=dict(initial=init, taps=[-2, -1]))
            return out
        if variant == "recurrent":  # a product of the state in the step: h W
            first, last = x[0], x[-1]
            w = T.tanh(first.dimshuffle(0, "x") * last.dimshuffle("x", 0) if x.ndim == 2
                       else T.dot(first.T, last)) * 0.5
            out, _ = codegen.scan(lambda xt, h, w: T.tanh(step(xt) + T.dot(h, w) * scale),
                                  sequences=x, outputs_info=T.zeros_like(x[0]),
                                  non_sequences=w)
            return out
        out, _ = codegen.scan(lambda xt, acc: acc * scale + step(xt), sequences=x,
                              outputs_info=T.zeros_like(x[0]),
                              go_backwards=variant == "backwards")
        return out[-1] if variant == "last" else out
    if kind == "search":  # where a's elements go in another's sorted values, or a's
        # integers as coordinates in a 2 x 3 array and back
        if draw(st.booleans()):
            ops.add("searchsorted")
            x = T.sort(T.flatten(_pick(draw, pool)))
            return T.extra_ops.searchsorted(x, a, side=draw(st.sampled_from(["left", "right"])))
        ops.add("unravel_index")
        flat = T.mod(T.cast(_int_safe(a) if a.dtype in FLOATS else a, "int64"), 6)
        rows, cols = T.extra_ops.unravel_index(flat, (2, 3), order=draw(st.sampled_from("CF")))
        return T.extra_ops.ravel_multi_index((cols - 1, rows), (3, 2), mode="wrap")
    if kind == "walk" and a.ndim > 0:  # along an axis: running sums and products, sorts
        name = draw(st.sampled_from(["cumsum", "cumprod", "argsort", "sort"]))
        axis = draw(st.one_of(st.none(), st.integers(0, a.ndim - 1)))
        ops.add(name)
        if name.startswith("cum") and a.dtype in FLOATS:
            a = _reducible(a, name[3:], large)
            ops.add("clip")
        return getattr(T, name)(a, axis=axis)
    if kind == "length":  # a length computed from the values: the function in parts
        name = draw(st.sampled_from(sorted(LENGTHS)))
        ops.add(name)
        flat = T.flatten(a) if a.ndim != 1 else a
        small = T.mod(T.cast(_int_safe(flat) if flat.dtype in FLOATS else flat, "int64"), 4)
        if name == "unique":
            return T.extra_ops.unique(flat)
        if name == "compress":
            return T.extra_ops.compress(T.gt(small, 1), flat)
        if name == "bincount":
            return T.extra_ops.bincount(small)
        return T.repeat(flat, small)
    if kind == "softmax" and a.ndim == 2 and a.dtype in FLOATS:
        ops.add("softmax")
        return T.nnet.softmax(T.clip(a, -1e3, 1e3))
    if kind == "shape" and a.ndim > 0:
        ops.add("reshape" if draw(st.booleans()) else "dimshuffle")
        if "reshape" in ops:
            return T.flatten(a)
        return a.T
    ops.add("neg")
    return -a


def _reducible(x, name, large):
    """``x`` clipped so that its sums and products, in any order, neither overflow nor (in
    float32) lose more than the tolerance: products of long rows take values near 1."""
    if name in ("prod", "mul") and large:
        return T.clip(x, -1.0001, 1.0001)
    return T.clip(x, -1e6, 1e6)


def _factorization(draw, name, inputs, args, ops, large):
    """A linear algebra op on a new square input made well conditioned (its diagonal
    dominates): a determinant, an inverse, a solve, a Cholesky factor, symmetric
    eigenvalues."""
    k = draw(st.sampled_from([1, 2, 3, 17, 33, 65]) if large else st.integers(1, 4))
    dtype = draw(st.sampled_from(FLOATS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    value = (rng.uniform(-1, 1, (k, k)) + 2 * k * np.eye(k)).astype(dtype)
    var = T.tensor(dtype, (False, False), name=name)
    inputs.append(var)
    args.append(_layout(draw, value))
    op = draw(st.sampled_from(["det", "inverse", "solve", "cholesky", "eigvalsh"]))
    ops.add(op)
    # each result near 1 or below it, then scaled by 0.37: no integer that a later cast or
    # length would see on one side or the other of it by rounding
    if op == "det":
        result = T.nlinalg.det(var / (2 * k))
    elif op == "inverse":
        result = T.nlinalg.matrix_inverse(var)
    elif op == "solve":
        result = T.slinalg.solve(var, T.sum(var, axis=1))  # ones
    elif op == "cholesky":
        result = T.slinalg.cholesky(T.dot(var, var.T) / (4 * k * k))
    else:
        result = T.slinalg.eigvalsh((var + var.T) / (4 * k))
    return result * 0.37


def _product(draw, names, inputs, args, ops, large=False):
    """dot of two new inputs of 1 to 3 dims, of maybe different dtypes (finite values within
    +-1e3, so that no order of the sum overflows; with Inf, BLAS's result is its own: numpy's
    OpenBLAS gives 0 for inf * 0 in some shapes (k = 1), where IEEE and codegen's loops give
    NaN)."""
    dims = st.sampled_from([1, 2, 3, 17, 33, 65]) if large else st.integers(1, 3)
    k, m, n, p = (draw(dims) for _ in range(4))
    shapes = draw(st.sampled_from([((m, k), (k, n)), ((m, k), (k,)), ((k,), (k, n)),
                                   ((k,), (k,)), ((p, m, k), (k, n))]))
    operands = []
    for name, shape in zip(names, shapes):
        dtype = draw(st.sampled_from(["float64", "float32", "int32", "int64"]))
        var = T.tensor(dtype, (False,) * len(shape), name=name)
        size = int(np.prod(shape))
        if size > 64:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            flat = rng.uniform(-1e3, 1e3, size) if dtype in FLOATS else \
                rng.integers(-1000, 1001, size)
        elif dtype in FLOATS:
            flat = draw(st.lists(st.one_of(st.sampled_from([0.0, -0.0, 1.5]),
                                           st.floats(-1e3, 1e3)),
                                 min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        else:
            flat = draw(st.lists(st.integers(-1000, 1000), min_size=int(np.prod(shape)),
                                 max_size=int(np.prod(shape))))
        inputs.append(var)
        args.append(_layout(draw, np.array(flat, dtype=dtype).reshape(shape)))
        operands.append(var)
    ops.add("dot")
    if len(shapes[0]) == 3 and draw(st.booleans()):
        # Lasagne's stacked gate weights: a 3-d product with a concatenation, a view of
        # (p, m, n + n) whose strides multiply a length that is a sum
        ops.add("concatenate")
        operands[1] = T.concatenate([operands[1], -operands[1]], axis=1)
    return T.dot(*operands)


def batches(size, large=False):
    """A strategy for lists of ``size`` graphs, compiled together."""
    return st.lists(graphs(large), min_size=size, max_size=size)


TOLERANCE = {"float64": 1e-9, "float32": 2e-5}


class Report:
    """Counts of a fuzzing run and the mismatches found (each a readable description)."""

    def __init__(self):
        self.graphs = self.gradients = self.modules = 0
        self.mismatches = []

    def add(self, other):
        self.graphs += other.graphs
        self.gradients += other.gradients
        self.modules += other.modules
        self.mismatches += other.mismatches


def _scale(graph, given):
    """(The largest finite magnitude of any float value the reference computes for the graph
    (the tolerance of a cancellation between values of that size), the least precise float
    dtype among them (a float32 value's rounding carries into a float64 result))."""
    try:
        computed = reference.run_all([graph.output], given)
    except Exception:  # noqa: BLE001 - the comparison reports it
        return 1.0, "float64"
    largest, coarsest = 1.0, "float64"
    for value in computed.values():
        value = np.asarray(value)
        if value.dtype.kind == "f" and value.size:
            finite = np.abs(value[np.isfinite(value)])
            if finite.size:
                largest = max(largest, float(finite.max()))
            if value.dtype == np.float32:
                coarsest = "float32"
    return largest, coarsest


def disagreement(got, want, scale, exact_zeros, precision=None):
    """None when ``got`` (compiled) agrees with ``want`` (reference), else why not.
    ``precision``: the float dtype whose tolerance applies (default: got's)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"dtype/shape {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if got.dtype.kind != "f":
        return None if np.array_equal(got, want) else f"values {got!r} vs {want!r}"
    # without exact zeros (a sum's order decides a zero's sign), an Inf's sign may come
    # from dividing by such a zero
    tests = (np.isnan, np.isposinf, np.isneginf) if exact_zeros else (np.isnan, np.isinf)
    for test in tests:
        if not np.array_equal(test(got), test(want)):
            return f"{test.__name__} pattern {got!r} vs {want!r}"
    finite = np.isfinite(want)
    tol = max(TOLERANCE[str(got.dtype)], TOLERANCE[precision or str(got.dtype)])
    with np.errstate(all="ignore"):
        error = np.abs(got[finite].astype(float) - want[finite].astype(float))
        bound = tol * (np.abs(want[finite].astype(float)) + scale)
    if np.any(error > bound):
        return f"values {got!r} vs {want!r} (tolerance {tol} x (|value| + {scale:.3g}))"
    zeros = want == 0
    if exact_zeros and not np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])):
        return f"signed zeros {got!r} vs {want!r}"
    return None


def _outcome(call):
    """(The call's result, None) or (None, what it raised): any exception, so that one
    graph's failure is that graph's mismatch rather than the batch's."""
    try:
        with np.errstate(all="ignore"):
            return call(), None
    except Exception as exc:  # noqa: BLE001 - compared with the reference's
        return None, exc


def _gradient(graph):
    try:
        return T.grad(T.sum(graph.output), graph.wrt, disconnected_inputs="ignore")
    except (NotImplementedError, TypeError, ValueError):
        return None


def _describe(output, graph):
    """The graph node by node with types, and its arguments with dtypes and strides."""
    import io

    from codegen.printing import debugprint
    text = io.StringIO()
    debugprint(output, file=text)
    args = "\n".join(f"  {v.name} ({v.dtype}, strides {a.strides}): {a!r}"
                     for v, a in zip(graph.inputs, graph.args))
    return f"{text.getvalue()}arguments:\n{args}"


def check_batch(batch, out_dir, name="fuzz"):
    """Compile ``batch`` as one module, run and compare every graph; a Report."""
    report = Report()
    module = codegen.Module(name)
    grads = {}
    for k, graph in enumerate(batch):
        module.add_function(f"g{k}", graph.inputs, graph.output, on_unused_input="ignore")
        if graph.wrt is not None:
            grads[k] = _gradient(graph)
            if grads[k] is not None:
                module.add_function(f"d{k}", graph.inputs, grads[k], on_unused_input="ignore")
    on_device = codegen.config.device == "cuda"
    if on_device:  # each graph's arguments put on the device by the module itself
        for k, graph in enumerate(batch):
            module.add_function(f"i{k}", graph.inputs, list(graph.inputs))
    compiled = load_module(module.build(out_dir))
    report.modules += 1
    for k, graph in enumerate(batch):
        report.graphs += 1
        given = {v.id: np.ascontiguousarray(a) for v, a in zip(graph.inputs, graph.args)}
        scale, precision = _scale(graph, given)
        pairs = [(f"g{k}", graph.output, graph.exact_zeros)]
        if grads.get(k) is not None:
            pairs.append((f"d{k}", grads[k], False))
            report.gradients += 1
        for fname, output, exact_zeros in pairs:
            want, want_error = _outcome(lambda: codegen.function(
                graph.inputs, output, mode="FAST_COMPILE", on_unused_input="ignore")(
                    *graph.args))
            got, got_error = _outcome(lambda: getattr(compiled, fname)(*graph.args))
            if want_error or got_error:
                why = None if type(want_error) is type(got_error) else \
                    f"raised {got_error!r} vs {want_error!r}"
            else:
                why = disagreement(got, want, scale if fname[0] == "g" else scale * 10,
                                   exact_zeros, precision)
            if why is None and on_device and got_error is None:
                why = _device_disagreement(compiled, fname, k, graph, got)
            if why:
                report.mismatches.append(f"{fname}: {why}\n{_describe(output, graph)}")
    return report


def _device_disagreement(compiled, fname, k, graph, got):
    """None when the CUDA function gives ``got`` again, bit for bit, with its outputs left
    on the device (outputs='device', then copied back), and from arguments on the device
    (where it takes them: not negatively strided), else how not."""
    def host(values):
        return [np.asarray(v) for v in values] if isinstance(values, list) else np.asarray(values)

    def same(a, b):
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()

    function = getattr(compiled, fname)
    kept, error = _outcome(lambda: host(function(*graph.args, outputs="device")))
    if error is not None or not same(kept, got):
        return f"outputs='device' gave {error or kept!r}, not {got!r}"
    if any(s < 0 for a in graph.args for n, s in zip(a.shape, a.strides) if n > 1):
        return None
    given, error = _outcome(lambda: getattr(compiled, f"i{k}")(*graph.args, outputs="device"))
    if error is None:
        again, error = _outcome(lambda: host(function(*given)))
    if error is not None or not same(again, got):
        return f"arguments on the device gave {error or again!r}, not {got!r}"
    return None
