"""theano.sparse (codegen.sparse): CSR and CSC matrices as their parts, every operation
against scipy's, compiled on the CPU, on emulated CUDA and in the C library and run in the
reference interpreter; gradients, shared matrices, errors, and a sparse model trained."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import codegen
import codegen.tensor as T
from codegen import sparse

MODES = ["FAST_RUN", "FAST_COMPILE", "cuda"]


def _csr(rows, cols, density, seed, dtype="float64"):
    m = sp.random(rows, cols, density, format="csr", random_state=seed, dtype=dtype)
    m.data -= 0.5
    return m


X = _csr(6, 5, 0.4, 1).tolil()
X[3] = 0  # an empty row, and a last row with entries
X = X.tocsr()
X.eliminate_zeros()
XC = sp.random(6, 5, 0.5, format="csc", random_state=2)
W = np.random.RandomState(0).rand(5, 3)
V = np.random.RandomState(1).rand(6)


def _compile(mode, cuda_emulated, inputs, outputs, **kwargs):
    if mode == "cuda":
        with cuda_emulated():
            return codegen.function(inputs, outputs, **kwargs)
    return codegen.function(inputs, outputs, mode=mode, **kwargs)


def _dense(a):
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def _ops():
    """(name, sparse expression of x (CSR), xc (CSC), w (dense), v (vector), scipy's)."""
    x, xc = sparse.csr_matrix("x"), sparse.csc_matrix("xc")
    w, v = T.dmatrix("w"), T.dvector("v")
    table = [
        ("dense_from_sparse", sparse.dense_from_sparse(x), X.toarray()),
        ("toarray", xc.toarray(), XC.toarray()),
        ("transpose", x.T, X.T),
        ("structured_dot csr", sparse.structured_dot(x, w), X @ W),
        ("structured_dot csc", sparse.structured_dot(xc, w), XC @ W),
        ("dot dense sparse", sparse.dot(w.T, xc.T), W.T @ XC.T),
        ("dot vector", sparse.dot(x.T, v), X.T @ V),
        ("theano.dot", codegen.dot(x, w), X @ W),
        ("sp_sum", sparse.sp_sum(x), X.sum()),
        ("sp_sum 0", sparse.sp_sum(xc, axis=0), XC.sum(0).A1),
        ("sp_sum 1", x.sum(axis=1), X.sum(1).A1),
        ("add sparse", x + xc, X + XC),
        ("add dense", x + T.outer(v, T.ones(5)), X.toarray() + V[:, None]),
        ("sub sparse", sparse.sub(xc, x), XC - X),
        ("mul scalar", x * 2.0, X * 2),
        ("mul dense", sparse.mul(xc, T.arange(5.0).dimshuffle("x", 0)),
         XC.multiply(np.arange(5.0)[None])),
        ("neg", -x, -X),
        ("div", x / 4.0, X / 4),
        ("hstack", sparse.hstack([x, xc]), sp.hstack([X, XC])),
        ("vstack csc", sparse.vstack([x, xc], format="csc"), sp.vstack([X, XC])),
        ("getitem", x[2, 1], X[2, 1]),
        ("row_scale", sparse.row_scale(x, v), sp.diags(V) @ X),
        ("col_scale", sparse.col_scale(xc, v[:5]), XC @ sp.diags(V[:5])),
        ("structured_add", sparse.structured_add(x, v[:5]),
         sp.csr_matrix((X.data + V[:5][X.indices], X.indices, X.indptr), X.shape)),
        ("structured_sigmoid", sparse.structured_sigmoid(x),
         sp.csr_matrix((1 / (1 + np.exp(-X.data)), X.indices, X.indptr), X.shape)),
        ("structured_pow", sparse.structured_pow(xc, 2), XC.power(2)),
        ("sqrt of abs", sparse.sqrt(sparse.abs_(x)), abs(X).sqrt()),
        ("tanh", sparse.tanh(xc), XC.tanh()),
        ("sampling_dot", sparse.sampling_dot(T.outer(v, [1.0, 2.0]), w[:, :2], x),
         X.multiply(np.outer(V, [1.0, 2.0]) @ W[:, :2].T)),
        ("diag", sparse.diag(sparse.square_diagonal(v)), V),
        ("diag of a wide matrix", sparse.diag(x.T), X.diagonal()),
        ("square_diagonal", sparse.square_diagonal(v[:3]), sp.diags(V[:3])),
        ("ensure_sorted_indices", sparse.ensure_sorted_indices(x + x), (X + X)),
        ("astype", x.astype("float32"), X.astype("float32")),
        ("csm_properties data", sparse.csm_properties(x)[0], X.data),
        ("CSR", sparse.CSR(x.data * 3, x.indices, x.indptr, x.shape), X * 3),
        ("zeros_like", sparse.sp_zeros_like(x), sp.csr_matrix(X.shape)),
    ]
    return (x, xc, w, v), table


@pytest.fixture(scope="module")
def ops_table():
    return _ops()


@pytest.fixture(scope="module", params=MODES)
def compiled_ops(request, ops_table, cuda_emulated):
    inputs, table = ops_table
    f = _compile(request.param, cuda_emulated, list(inputs), [e for _, e, _ in table])
    return request.param, f, f(X, XC, W, V)


def test_every_operation_is_scipys(compiled_ops, ops_table):
    mode, f, results = compiled_ops
    _, table = ops_table
    want = {"FAST_RUN": ("cython", "cpu"), "FAST_COMPILE": ("numpy reference", None),
            "cuda": ("cython", "cuda")}[mode]
    assert (f.executable.kind, getattr(f.executable, "device", None)) == want
    for (name, expr, want), got in zip(table, results):
        assert sp.issparse(got) == isinstance(expr, sparse.SparseVariable), name
        if sp.issparse(got):
            assert got.format == expr.format and got.dtype == want.dtype, name
        np.testing.assert_allclose(_dense(got), _dense(want), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name} ({mode})")


def test_structure_is_scipys_where_entries_are_kept():
    """Parts as scipy keeps them: the transpose is the same arrays read as CSC; a stack and
    a sorted copy come out in canonical order."""
    x = sparse.csr_matrix("x")
    f = codegen.function([x], [x.T, sparse.vstack([x, x]), sparse.hstack([x, x])])
    t, vs, hs = f(X)
    for got, want in ((t, X.T.tocsc()), (vs, sp.vstack([X, X]).tocsr()),
                      (hs, sp.hstack([X, X]).tocsr())):
        got_sorted = got.copy()
        got_sorted.sort_indices()
        np.testing.assert_array_equal(got.indices, got_sorted.indices)
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


def test_empty_and_all_empty_rows():
    x = sparse.csr_matrix("x")
    w = T.dmatrix("w")
    f = codegen.function([x, w], [sparse.structured_dot(x, w), x.toarray(), x.sum(axis=1)])
    for m in (sp.csr_matrix((4, 5)), sp.csr_matrix(([2.0], ([3], [4])), shape=(4, 5))):
        out = f(m, W)
        np.testing.assert_array_equal(out[0], m @ W)
        np.testing.assert_array_equal(out[1], m.toarray())
        np.testing.assert_array_equal(out[2], m.sum(1).A1)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_through_sparse_products(mode, cuda_emulated):
    """d/dW of a cost of structured_dot(x, W) is x.T @ dcost; d/dx is sparse, x's pattern,
    holding dcost/dy @ W.T at x's entries."""
    x = sparse.csr_matrix("x")
    w = codegen.shared(W.copy(), name="w")
    y = T.tanh(sparse.structured_dot(x, w))
    cost = T.sum(y ** 2) + sparse.sp_sum(sparse.sqr(x), axis=0).sum()
    gw, gx = codegen.grad(cost, [w, x])
    assert isinstance(gx, sparse.SparseVariable) and gx.format == "csr"
    f = _compile(mode, cuda_emulated, [x], [gw, gx])
    got_w, got_x = f(X)
    t = np.tanh(X @ W)
    dy = 2 * t * (1 - t ** 2)
    np.testing.assert_allclose(got_w, X.T @ dy, rtol=1e-12)
    assert isinstance(got_x, sp.csr_matrix)
    np.testing.assert_array_equal(got_x.indptr, X.indptr)
    np.testing.assert_array_equal(got_x.indices, X.indices)
    full = dy @ W.T + 2 * X.toarray()
    np.testing.assert_allclose(got_x.data, full[X.nonzero()], rtol=1e-12)


def test_numeric_gradients_of_the_stored_values():
    """verify_grad on the values: products, scaling, sums, stacks and the dense matrix."""
    rng = np.random.RandomState(3)
    pattern = _csr(5, 4, 0.5, 4)

    def of_values(build):
        def fn(values):
            x = sparse.CSR(values, pattern.indices, pattern.indptr, pattern.shape)
            return build(x)
        return fn

    w = rng.rand(4, 3)
    cases = [
        lambda x: sparse.structured_dot(x, T.constant(w)),
        lambda x: sparse.dot(T.constant(w.T), x.T),
        lambda x: sparse.row_scale(x, T.arange(1.0, 6.0)).toarray(),
        lambda x: sparse.sp_sum(x * x, axis=1),
        lambda x: sparse.hstack([x, sparse.structured_exp(x)]).toarray(),
        lambda x: (x + x.T.T).toarray(),
    ]
    for build in cases:
        codegen.gradient.verify_grad(of_values(build), [pattern.data.copy()], rng=rng)


def test_shared_sparse_matrices_get_set_and_update():
    """theano.shared of a scipy matrix: a sparse shared variable whose value is a scipy
    matrix; an update may change its number of entries."""
    s = codegen.shared(X.copy(), name="s")
    assert isinstance(s, sparse.SparseSharedVariable) and s.type == sparse.SparseType(
        "csr", "float64")
    extra = sparse.as_sparse_variable(sp.csr_matrix(([1.0], ([0], [0])), shape=X.shape))
    w = T.dmatrix("w")
    step = codegen.function([w], sparse.structured_dot(s, w), updates={s: s + extra})
    np.testing.assert_allclose(step(W), X @ W)
    after = s.get_value()
    assert isinstance(after, sp.csr_matrix) and after.nnz == X.nnz + 1
    np.testing.assert_allclose(after.toarray(), (X + extra.value).toarray())
    np.testing.assert_allclose(step(W), (X + extra.value) @ W)
    s.set_value(sp.csc_matrix(np.eye(6, 5)))  # converted to the variable's format
    assert s.get_value().format == "csr"
    np.testing.assert_allclose(step(W), np.eye(6, 5) @ W)
    got = s.get_value()
    got.data[:] = 7  # a copy: the value stays
    assert s.get_value().data.max() == 1.0 and s.get_value().toarray()[0, 0] == 2.0


def test_value_dependent_entries_compile_in_parts():
    """From dense (a nonzero: its length a sum, the argument of a second compiled part),
    remove0, products and slices of sparse matrices: compiled, no warning."""
    import warnings
    d = T.dmatrix("d")
    x = sparse.csr_matrix("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = codegen.function([d, x], [sparse.csr_from_dense(d), sparse.csc_from_dense(d),
                                      x * x, sparse.remove0(x * 0.0), x[1:3]])
    dense = X.toarray()
    a, b, sq, empty, rows = f(dense, X)
    assert (a.format, b.format) == ("csr", "csc")
    for got, want in ((a, sp.csr_matrix(dense)), (b, sp.csc_matrix(dense))):
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_allclose(sq.toarray(), X.multiply(X).toarray())
    assert empty.nnz == 0 and empty.shape == X.shape
    np.testing.assert_array_equal(rows.toarray(), X[1:3].toarray())


def test_bad_inputs_name_the_argument():
    x = sparse.csr_matrix("x", dtype="float32")
    f = codegen.function([x], x.sum(axis=0))
    with pytest.raises(TypeError, match=r"argument 'x' must be a scipy.sparse matrix"):
        f(X.toarray())
    with pytest.raises(TypeError, match=r"argument 'x' has dtype float64, expected float32"):
        f(X)
    np.testing.assert_allclose(f(XC.astype("float32")), XC.sum(0).A1, rtol=1e-6)  # CSC taken
    with pytest.raises(TypeError, match="missing argument 'x'"):
        f()
    with pytest.raises(TypeError, match="dense_from_sparse"):
        T.exp(x)
    with pytest.raises(ValueError, match="input 'y' is not used"):
        codegen.function([x, sparse.csr_matrix("y")], x.sum())
    with pytest.raises(TypeError, match="must be sparse"):
        codegen.function([x], x.sum(), updates={codegen.shared(X): T.dmatrix()})
    with pytest.raises(ValueError, match="format must be one of"):
        sparse.matrix("coo")
    m = T.dmatrix("m")
    times = codegen.function([x, m], sparse.mul(x, m))
    np.testing.assert_allclose(times(X.astype("float32"), np.ones(X.shape)).toarray(),
                               X.toarray(), rtol=1e-6)
    with pytest.raises(AssertionError, match="dense operand must have the sparse matrix's"):
        times(X.astype("float32"), np.ones((7, 5)))  # a row more: wrong, not a silent gather


def test_module_takes_the_parts_and_the_c_library_runs_it(tmp_path):
    """A built module (and the C library) takes a sparse input as its parts, named after
    it, and gives a sparse output as its parts."""
    from clib import CLibrary

    from codegen.compile.module import load_module
    x = sparse.csr_matrix("x")
    w = codegen.shared(W.copy(), name="w")
    cost = T.sum(sparse.structured_dot(x, w) ** 2)
    module = codegen.Module("sparse_parts")
    module.add_function("step", [x], [cost, x * 2.0], updates={w: w - 0.1 * T.grad(cost, w)})
    mod = load_module(module.build(str(tmp_path / "py")))
    assert mod.step.__doc__.startswith("step(x_data: float64 vector, x_indices: int32 vector, "
                                       "x_indptr: int32 vector, x_rows: int64 scalar, "
                                       "x_cols: int64 scalar)")
    parts = [X.data, X.indices, X.indptr, np.int64(6), np.int64(5)]
    c, *doubled = mod.step(*parts)
    np.testing.assert_allclose(c, np.sum((X @ W) ** 2))
    np.testing.assert_allclose(sp.csr_matrix(tuple(doubled[:3]), shape=X.shape).toarray(),
                               2 * X.toarray())
    lib = CLibrary(module, str(tmp_path / "c"))
    lib.load()
    got = lib.call("step", *parts)
    np.testing.assert_allclose(got[0], np.sum((X @ W) ** 2))
    np.testing.assert_allclose(lib.get_value("w"), W - 0.1 * 2 * X.T @ (X @ W), rtol=1e-12)
    lib.close()


def test_sparse_logistic_regression_trains_as_numpy_does():
    """A bag-of-words classifier as a Theano program writes it: a CSR minibatch, a dense
    weight matrix, softmax, SGD through updates; step for step against numpy."""
    rng = np.random.RandomState(5)
    n, vocab, classes = 40, 30, 3
    docs = sp.random(n, vocab, 0.15, format="csr", random_state=rng)
    labels = rng.randint(0, classes, n).astype("int32")
    x, y = sparse.csr_matrix("x"), T.ivector("y")
    W_ = codegen.shared(np.zeros((vocab, classes)), name="W")
    b = codegen.shared(np.zeros(classes), name="b")
    p = T.nnet.softmax(sparse.structured_dot(x, W_) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = T.grad(cost, [W_, b])
    train = codegen.function([x, y], cost, updates=[(W_, W_ - 0.5 * gW), (b, b - 0.5 * gb)])
    w_np, b_np = np.zeros((vocab, classes)), np.zeros(classes)
    for step in range(10):
        batch = slice(10 * (step % 4), 10 * (step % 4) + 10)
        xb, yb = docs[batch], labels[batch]
        a = xb @ w_np + b_np
        e = np.exp(a - a.max(1, keepdims=True))
        prob = e / e.sum(1, keepdims=True)
        want = -np.mean(np.log(prob[np.arange(10), yb]))
        delta = prob.copy()
        delta[np.arange(10), yb] -= 1
        delta /= 10
        w_np, b_np = w_np - 0.5 * (xb.T @ delta), b_np - 0.5 * delta.sum(0)
        np.testing.assert_allclose(train(xb, yb), want, rtol=1e-12)
    np.testing.assert_allclose(W_.get_value(), w_np, rtol=1e-10, atol=1e-14)


def test_theano_names():
    """What Theano programs and Keras' backend reach for."""
    x = sparse.csr_matrix(name="x", dtype="float32")
    assert isinstance(x.type, sparse.SparseType) and sparse.basic._is_sparse_variable(x)
    assert x.type.format == "csr" and x.dtype == "float32" and x.ndim == 2
    assert sparse.sparse_formats == ("csr", "csc")
    from codegen.sparse import sharedvar
    s = sharedvar.sparse_constructor(sp.eye(3, format="csc"), name="s")
    assert isinstance(s, sparse.SparseTensorSharedVariable) and s.format == "csc"
    c = sparse.as_sparse_variable(sp.coo_matrix(np.eye(2)))
    assert isinstance(c, sparse.SparseConstant) and c.format == "csr"
    np.testing.assert_array_equal(sparse.dense_from_sparse(c).eval(), np.eye(2))
    np.testing.assert_array_equal(c.eval().toarray(), np.eye(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert codegen.sparse is sparse
