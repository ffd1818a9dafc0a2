"""Kernel paths that small graphs never reach: threaded loops, product helpers, merged dims,
and new state written into the arrays it replaced. One module, one build."""

import os
import subprocess
import sys

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.backends.ckernel import PARALLEL_MIN, RADIX_MIN
from codegen.backends.linalg import CHOLESKY_BLOCK, LAPACK_MIN
from codegen.compile.module import load_module
from codegen.tensor import nlinalg, slinalg

BIG = PARALLEL_MIN * 3 + 7  # above the threading threshold, not a multiple of anything
RNN_U = np.random.RandomState(5).randn(6, 6) * 0.4


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    m = codegen.Module("kernels_test")
    v = T.vector("v")
    m.add_function("big_vector", [v], [T.sum(T.tanh(v) * T.exp(-v * v)), T.exp(v) * 2 - v])
    a = T.matrix("a")
    m.add_function("big_rows", [a], [T.sum(a * a, axis=1), T.sum(a, axis=0), T.max(a, axis=1),
                                      T.sqrt(abs(a)) + 1])
    m.add_function("big_walks", [a], [T.argmax(a, 1), T.cumsum(a, 1), T.argsort(a, 1),
                                       T.argsort(a, 0), T.cumprod(a.T, 1)])
    vs = [T.vector("vd"), T.fvector("vf"), T.bvector("vb"), T.TensorType("uint16", (False,))(
        "vu"), T.lvector("vl")]
    m.add_function("vector_sorts", vs, [T.argsort(v) for v in vs] + [T.sort(vs[0][::-3])])
    p, q = T.matrix("p"), T.matrix("q")
    x = T.vector("x")
    m.add_function("products", [p, q, x], [T.dot(p, q), T.dot(p.T, x), T.dot(x, p)])
    m.add_function("per_thread", [p, q], T.tanh(T.dot(p, q)) * 2 + T.dot(q, p))
    pi, qi, xi = T.lmatrix("pi"), T.lmatrix("qi"), T.ivector("xi")
    m.add_function("products_int", [pi, qi, xi], [T.dot(pi, qi), T.dot(pi.T, pi[:, 0]),
                                                  T.dot(xi, xi)])
    p32, q32, x32 = T.fmatrix("p32"), T.fmatrix("q32"), T.fvector("x32")
    la, lb = T.matrix("la"), T.matrix("lb")
    m.add_function("solves", [la, lb], [slinalg.solve_lower_triangular(la, lb),
                                        slinalg.solve(la, lb), nlinalg.matrix_inverse(la),
                                        slinalg.cholesky(T.dot(la, la.T))])
    m.add_function("factor", [la], slinalg.cholesky(la))
    m.add_function("products32", [p32, q32, x32], [T.dot(p32, q32), T.dot(p32.T, x32),
                                                   T.dot(x32, x32)])
    # the difference proves dot(w, r) and dot(w, s) the same shape, so the three elementwise
    # results, over dims with different names, share one loop
    r, s, w = T.matrix("r"), T.matrix("s"), T.matrix("w")
    m.add_function("merged", [r, s, w], [T.exp(T.dot(w, r)) + 1, T.dot(w, s) * 2,
                                         T.dot(w, r) - T.dot(w, s)])
    u, z = T.vector("u"), T.vector("z")
    m.add_function("sliced", [u, z], u[1:-1:2] * z)
    c, cb, cr, c3 = T.matrix("c"), T.col("cb"), T.row("cr"), T.tensor3("c3")
    m.add_function("columns", [c, cb, cr, c3], [T.nnet.sigmoid(c + cb) * cr, T.exp(c3) - 1])
    g, g32 = T.matrix("g"), T.fmatrix("g32")
    m.add_function("blocked_calls", [g], [T.sum(T.nnet.sigmoid(g), axis=1),
                                          T.sum(T.exp(-g) * g, axis=0),
                                          T.log1p(T.exp(g)) / (1 + T.tanh(g) ** 2)])
    m.add_function("blocked_calls32", [g32], [T.sum(T.tanh(g32), axis=1),
                                              T.nnet.sigmoid(g32) * 2 - T.exp(g32)])
    sa, sb = codegen.shared(np.ones(5), name="sa"), codegen.shared(np.zeros(5), name="sb")
    m.add_function("chain", [], T.sum(sb), updates=[(sa, sa * 2), (sb, sb + sa[::-1])])
    W = codegen.shared(np.ones((3, 4)), name="W")
    y = T.matrix("y")
    m.add_function("step", [y], T.sum(T.dot(W, y)), updates=[(W, W * 0.5 + 1)])
    m.add_function("read", [y], T.dot(W, y))
    # products added into the loop that reads them (codegen.lower.accumulate)
    e, p2, q2, p3, q3 = (T.matrix(n) for n in ("e", "p2", "q2", "p3", "q3"))
    m.add_function("acc_forms", [p, q, p2, q2, p3, q3, e],
                   [e - 0.5 * T.dot(p, q), T.dot(p2, q2) * 3 + e, T.exp(e) + T.dot(p3, q3)])
    m.add_function("acc_not", [p, q, p2, q2, e],
                   [T.exp(T.dot(p, q)) + e, e - T.dot(p2, q2) * e, T.dot(p2, q2)])
    dd, hh, dd32, hh32 = T.matrix("dd"), T.matrix("hh"), T.fmatrix("dd32"), T.fmatrix("hh32")
    for suffix, d_, h_, dtype in (("", dd, hh, "float64"), ("32", dd32, hh32, "float32"),
                                  ("_f", dd, hh, "float64")):
        start = np.zeros((40, 30), dtype=dtype)
        P = codegen.shared(start + 1, name=f"P{suffix}")
        M = codegen.shared(start, name=f"M{suffix}")
        m.add_function(f"momentum{suffix}", [d_, h_], T.sum(M),
                       updates=[(P, P - 0.01 * M), (M, 0.9 * M + 0.1 * T.dot(d_, h_.T))])
    # scratch memory shared (codegen.lower.memory): b reads a transposed, so it cannot go
    # over a; tanh(d1) + 1 goes over d1; d2 may take a dead array's memory
    sq, sw = T.matrix("sq"), T.matrix("sw")
    a_ = T.exp(sq)
    b_ = a_.T * 2 + a_
    d2 = T.dot(sw, T.tanh(T.dot(sw, b_)) + 1)
    m.add_function("shared_scratch", [sq, sw], [T.sum(d2 * b_), T.sum(T.dot(sw, a_) * d2)])
    # reductions and vector math over every other column (the strided nest: threaded, its
    # calls in blocks too) and a reshape of a reshape of a buffer (a view: no copy)
    t_ = T.matrix("t_")
    m.add_function("strided_reductions", [t_], [T.max(t_[:, ::2], axis=1),
                                                 T.sum(T.tanh(t_[:, ::2]) * 2, axis=1)])
    m.add_function("reshaped", [t_], (T.exp(t_) * 2).reshape((-1,)).reshape((-1, 4)))
    # a recurrent network over a minibatch, and its gradient: loops whose rows are
    # independent run as blocks of rows (codegen.lower.rows), a block's loop at a time
    xs, h0 = T.tensor3("xs"), T.matrix("h0")
    Ur = codegen.shared(RNN_U, name="Ur")
    hs, _ = codegen.scan(
        lambda x, h: T.tanh(x + T.dot(h, Ur)) * T.nnet.sigmoid(x[:, 0]).dimshuffle(0, "x"),
        sequences=xs, outputs_info=h0)
    m.add_function("rnn", [xs, h0], [hs, *T.grad(T.sum(hs ** 2), [Ur, xs, h0])])
    return load_module(m.build(str(tmp_path_factory.mktemp("kernels"))))


def test_threaded_vector_loop_with_sum(mod):
    v = np.random.RandomState(0).uniform(-3, 3, BIG)
    total, other = mod.big_vector(v)
    np.testing.assert_allclose(total, np.sum(np.tanh(v) * np.exp(-v * v)), rtol=1e-10)
    np.testing.assert_allclose(other, np.exp(v) * 2 - v, rtol=1e-12)
    strided = mod.big_vector(np.repeat(v, 2)[::2])[1]  # the strided (unthreaded) loop
    np.testing.assert_allclose(strided, np.exp(v) * 2 - v, rtol=1e-12)


@pytest.mark.parametrize("shape", [(BIG // 100, 100), (3, BIG), (BIG, 2)])
def test_threaded_rows_and_columns(mod, shape):
    a = np.random.RandomState(1).randn(*shape)
    a[0, 0] = np.nan
    got = mod.big_rows(a)
    want = [np.sum(a * a, axis=1), np.sum(a, axis=0), np.max(a, axis=1),
            np.sqrt(abs(a)) + 1]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, equal_nan=True)
    got_t = mod.big_rows(np.asfortranarray(a))  # columns contiguous: the strided loops
    for g, w in zip(got_t, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("shape", [(BIG // 100, 100), (3, BIG // 3), (BIG, 2), (1, BIG)])
def test_threaded_walks_along_an_axis(mod, shape):
    """argmax, cumsum, argsort and cumprod of arrays large enough to share their rows among
    threads (the outermost loop), contiguous and not."""
    a = np.random.RandomState(2).randn(*shape)
    a[0, -1] = np.nan
    a[-1, 0] = a[-1, -1]  # a tie, which the stable order keeps in place
    want = [np.argmax(a, 1), np.cumsum(a, 1), np.argsort(a, 1, kind="stable"),
            np.argsort(a, 0, kind="stable"), np.cumprod(a.T, 1)]
    for got in (mod.big_walks(a), mod.big_walks(np.asfortranarray(a))):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("shape", [(3, 1), (3, 255), (2, 256), (4, 257), (2, 1000),
                                   (1, BIG), (BIG // 300, 300)])
def test_vector_math_in_blocks(mod, shape):
    """Kernels calling exp/tanh/log1p make a block's calls first, then the rest: across
    block edges, with sums along either axis, threaded or not, NaN and inf kept."""
    g = np.random.RandomState(2).uniform(-30, 30, shape)
    g.flat[::7] = np.linspace(-3, 3, g.flat[::7].size)
    g.flat[-1], g.flat[0] = np.nan, np.inf
    if g.size > 2:
        g.flat[1] = -np.inf
    with np.errstate(all="ignore"):
        want = [np.sum(1 / (1 + np.exp(-g)), axis=1), np.sum(np.exp(-g) * g, axis=0),
                np.log1p(np.exp(g)) / (1 + np.tanh(g) ** 2)]
        for got in (mod.blocked_calls(g), mod.blocked_calls(g[:, ::-1][:, ::-1].copy(order="F"))):
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
        g32 = g.astype(np.float32)
        want32 = [np.sum(np.tanh(g32), axis=1, dtype=np.float64),
                  2 / (1 + np.exp(-g32.astype(np.float64))) - np.exp(g32.astype(np.float64))]
    for a, b in zip(mod.blocked_calls32(g32), want32):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5 * shape[1] ** 0.5, equal_nan=True)


@pytest.mark.parametrize("m,k,n", [(4, 37, 3), (1, 1000, 4), (5, 4, 1), (2, 3, 1000),
                                   (40, 40, 40), (300, 200, 1), (3, 1, 500), (4, 2, 1000),
                                   (1, 3, 700), (6, 4, 9), (3, 5, 600), (1, 2, 5)])
def test_product_helpers(mod, m, k, n):
    rng = np.random.RandomState(m * k + n)
    p, q, x = rng.randn(m, k), rng.randn(k, n), rng.randn(m)
    for pp in (p, np.asfortranarray(p)):
        for got, want in zip(mod.products(pp, q, x), [p @ q, p.T @ x, x @ p]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m,k,n", [(3, 5, 2), (40, 40, 40), (300, 200, 1)])
def test_float32_products(mod, m, k, n):
    rng = np.random.RandomState(m + k + n)
    p, q, x = (rng.randn(m, k).astype("float32"), rng.randn(k, n).astype("float32"),
               rng.randn(m).astype("float32"))
    got = mod.products32(p, q, x)
    assert all(g.dtype == np.float32 for g in got)
    for g, w in zip(got, [p @ q, p.T @ x, x @ x]):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("m,k,n", [(3, 2, 5), (40, 40, 40), (1, 7, 300)])
def test_integer_products_run_the_loops_and_wrap_as_numpy(mod, m, k, n):
    rng = np.random.RandomState(m * n)
    p, q = rng.randint(-9, 9, (m, k)), rng.randint(-9, 9, (k, n))
    x = rng.randint(-2**31, 2**31 - 1, 50).astype("int32")  # its square sums overflow int32
    got = mod.products_int(p, q, x)
    want = [p @ q, p.T @ p[:, 0], x @ x]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def _fresh_process(mod, *lines):
    """What a script prints, run in a fresh interpreter that has imported the module."""
    import os
    import subprocess
    import sys
    script = "\n".join(["import sys, threading, numpy as np",
                        f"sys.path.insert(0, {os.path.dirname(mod.__file__)!r})",
                        "import kernels_test as m", *lines])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_blas_is_loaded_by_the_first_large_product(mod):
    """scipy's BLAS is imported the first time a product needs it, never for small ones."""
    assert _fresh_process(
        mod, "r = np.random.RandomState(0)",
        "small = m.products(r.randn(3, 4), r.randn(4, 5), r.randn(3))",
        "print('scipy' in sys.modules)",
        "big = m.products(r.randn(60, 70), r.randn(70, 80), r.randn(60))",
        "print('scipy.linalg.cython_blas' in sys.modules)") == ["False", "True"]
    # threads that meet the first large product together load it once and all get BLAS
    assert _fresh_process(
        mod, "r = np.random.RandomState(1)",
        "p, q, x = r.randn(60, 70), r.randn(70, 80), r.randn(60)",
        "want, bad = p @ q, []",
        "def run():",
        "    for _ in range(5):",
        "        if not np.allclose(m.products(p, q, x)[0], want, rtol=1e-12): bad.append(1)",
        "ts = [threading.Thread(target=run) for _ in range(4)]",
        "[t.start() for t in ts]; [t.join() for t in ts]",
        "print(len(bad))") == ["0"]


def test_merged_dims_share_a_loop_and_still_check(mod, tmp_path):
    rng = np.random.RandomState(2)
    w, r, s = rng.randn(3, 5), rng.randn(5, 7), rng.randn(5, 7)
    e, d, diff = mod.merged(r, s, w)
    np.testing.assert_allclose(e, np.exp(w @ r) + 1, rtol=1e-12)
    np.testing.assert_allclose(d, (w @ s) * 2, rtol=1e-12)
    np.testing.assert_allclose(diff, w @ r - w @ s, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="sub: dimension 1"):
        mod.merged(r, rng.randn(5, 8), w)
    with pytest.raises(ValueError, match="dot"):
        mod.merged(r, rng.randn(4, 7), w)
    body = _function_source(mod, "merged")
    kernels = [line for line in body.splitlines() if line.startswith("    merged_k")]  # calls
    assert len(kernels) == 1, kernels


@pytest.mark.parametrize("rows", [1, 7, 513, BIG])
def test_single_column_maps(mod, rows):
    """A batch of one (last dimension 1) runs the loop over rows as the vector loop; strided
    and broadcast operands keep the general loops. The values are the same either way."""
    rng = np.random.RandomState(rows)
    c, cb, cr = rng.randn(rows, 1) * 30, rng.randn(rows, 1), rng.randn(1, 1)
    c[0, 0] = np.nan
    c[-1, 0] = -np.inf
    c3 = rng.randn(2, rows, 1)
    want = [1 / (1 + np.exp(-(c + cb))) * cr, np.exp(c3) - 1]
    wide = rng.randn(rows, 3)
    wide[:, :1] = c
    for args in [(c, cb, cr, c3), (wide[:, :1], cb, cr, c3),  # rows 3 apart
                 (c, np.repeat(cb, 2, axis=0)[::2], cr, c3[:, :, :])]:
        for got, w in zip(mod.columns(*args), want):
            np.testing.assert_allclose(got, w, rtol=1e-13, atol=1e-14, equal_nan=True)
    assert "if (n1 == 1 && c_s0 == 1 && cb_s0 == 1 && " in _function_source(mod, "columns")


def test_threads_calling_one_function_each_use_their_own_workspace(mod):
    """The products' results live in a per-thread workspace (the last caller's kept at hand);
    threads alternating on one function, the GIL released in every kernel, never mix them."""
    import threading
    errors = []

    def run(seed):
        rng = np.random.RandomState(seed)
        for _ in range(40):
            p, q = rng.randn(64, 64), rng.randn(64, 64)
            got = mod.per_thread(p, q)
            want = np.tanh(p @ q) * 2 + q @ p
            if not np.allclose(got, want, rtol=1e-12, atol=1e-12):
                errors.append(seed)
                return

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_new_state_reuses_arrays_nobody_holds(mod):
    """Updates write into the array replaced two calls ago; what users hold never changes."""
    mod.set_value("W", np.ones((3, 4)))
    y = np.ones((4, 2))
    held, costs = [], []
    for _ in range(5):
        held.append(mod.get_value("W"))
        costs.append(float(mod.step(y)))
    want_w, want = np.ones((3, 4)), []
    for k in range(5):
        np.testing.assert_array_equal(held[k], want_w)
        want.append(float(np.sum(want_w @ y)))
        want_w = want_w * 0.5 + 1
    assert costs == want
    np.testing.assert_array_equal(mod.get_value("W"), want_w)
    np.testing.assert_array_equal(mod.read(y), want_w @ y)
    state = mod.state()
    mod.step(y)
    mod.step(y)
    np.testing.assert_array_equal(state["W"], want_w)  # copies, untouched by later steps


def test_new_state_written_in_place_only_where_nothing_reads_the_old_one(mod):
    """sb's update reads sa backwards, so sa cannot be written in place before it; sb can.
    A state written in place keeps its array from call to call."""
    mod.set_value("sa", np.arange(5.0))
    mod.set_value("sb", np.zeros(5))
    a, b = np.arange(5.0), np.zeros(5)
    index = sorted(mod.state()).index("sb")
    arrays = set()
    for _ in range(4):
        total = mod.chain()
        arrays.add(id(mod._state[index]))
        np.testing.assert_array_equal(total, b.sum())
        a, b = a * 2, b + a[::-1]
        np.testing.assert_array_equal(mod.get_value("sa"), a)
        np.testing.assert_array_equal(mod.get_value("sb"), b)
    assert len(arrays) == 1
    with open(os.path.join(os.path.dirname(mod.__file__), "kernels_test.pyx")) as f:
        source = f.read()
    assert "# sb, in place" in source and "# sa, in place" not in source


def test_failed_check_reports_the_first_failing_check_with_shapes(mod):
    """All checks are one C test; the message is rebuilt from the dims only on failure,
    including dims computed from slices."""
    u = np.arange(9.0)
    np.testing.assert_array_equal(mod.sliced(u, np.ones(4)), u[1:-1:2])
    with pytest.raises(ValueError) as info:
        mod.sliced(u, np.ones(5))
    message = str(info.value)
    assert "mul: dimension 0" in message and "(4,)" in message and "(5,)" in message
    assert "test_kernels.py" in message  # the line that built the product


def test_threaded_loops_work_in_a_forked_child(mod):
    """gcc's OpenMP runtime hangs a forked child that starts a parallel region once the parent
    has run one: modules run single-threaded in forked children."""
    import os
    import signal
    import time
    v = np.random.RandomState(3).uniform(-3, 3, BIG)
    want = np.exp(v) * 2 - v
    np.testing.assert_allclose(mod.big_vector(v)[1], want)  # threads started in the parent
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        ok = np.allclose(mod.big_vector(v)[1], want)
        os._exit(0 if ok else 1)
    deadline = time.time() + 60
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung in a threaded kernel")


def _function_source(mod, name):
    """The C of one function: its kernels and its step function, in kernels_test_kernels.c
    (between its header and the next)."""
    with open(os.path.join(os.path.dirname(mod.__file__), "kernels_test_kernels.c")) as f:
        source = f.read()
    rule = "/* " + "=" * 66 + " "
    return source.split(f"{rule}{name} */\n")[1].split(rule)[0]


@pytest.mark.parametrize("m_, k, n", [(2, 3, 4), (40, 30, 50)])  # plain loops, BLAS
def test_products_added_into_the_loop_that_reads_them(mod, m_, k, n):
    """``e - 0.5 * dot(p, q)``: the loop writes e, then gemm adds -0.5 p.q into it (beta 1),
    with no buffer for the product. Products read otherwise keep their buffer."""
    rng = np.random.RandomState(7)
    p, q, p2, q2, p3, q3 = (rng.randn(*s) for s in [(m_, k), (k, n)] * 3)
    e = rng.randn(m_, n)
    got = mod.acc_forms(p, q, p2, q2, p3, q3, e)
    for g, w in zip(got, [e - 0.5 * (p @ q), (p2 @ q2) * 3 + e, np.exp(e) + p3 @ q3]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    got = mod.acc_not(p, q, p2, q2, e)
    for g, w in zip(got, [np.exp(p @ q) + e, e - (p2 @ q2) * e, p2 @ q2]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    # strided operands take the plain loops whatever the size
    got = mod.acc_forms(p[:, ::-1], q[::-1], p2, q2, p3, q3, e)[0]
    np.testing.assert_allclose(got, e - 0.5 * (p @ q), rtol=1e-12, atol=1e-12)
    assert _function_source(mod, "acc_forms").count("cg_gemm_acc_d(") == 3
    assert "cg_gemm_acc" not in _function_source(mod, "acc_not")


@pytest.mark.parametrize("suffix", ["", "32", "_f"])
def test_momentum_folds_the_gradient_product_into_the_update(mod, suffix):
    """m' = 0.9 m + 0.1 d.h^T: the loop writes p - 0.01 m and 0.9 m (in place while nobody
    holds the state), then gemm adds the gradient. Values match numpy from call to call, with
    and without a held snapshot, in float32, and for a state array in Fortran order (whose
    rows are strided: the plain loops)."""
    dtype = np.float32 if suffix == "32" else np.float64
    tol = dict(rtol=2e-5, atol=1e-5) if suffix == "32" else dict(rtol=1e-12, atol=1e-12)
    index = sorted(mod.state()).index(f"M{suffix}")
    if suffix == "_f":  # state arrays are C-ordered copies; the kernels take any strides
        mod._state[index] = np.asfortranarray(mod._state[index])
    p = mod.get_value(f"P{suffix}").astype(np.float64)
    m = mod.get_value(f"M{suffix}").astype(np.float64)
    rng = np.random.RandomState(3)
    d, h = rng.randn(40, 64).astype(dtype), rng.randn(30, 64).astype(dtype)
    held = []
    for step in range(4):
        if step == 2:
            held.append((mod.get_value(f"M{suffix}"), m.copy()))
        total = getattr(mod, f"momentum{suffix}")(d, h)
        np.testing.assert_allclose(total, m.sum(), **tol)
        p, m = p - 0.01 * m, 0.9 * m + 0.1 * (d.astype(np.float64) @ h.T.astype(np.float64))
        np.testing.assert_allclose(mod.get_value(f"P{suffix}"), p, **tol)
        np.testing.assert_allclose(mod.get_value(f"M{suffix}"), m, **tol)
    for array, want in held:
        np.testing.assert_allclose(array, want, **tol)
    source = _function_source(mod, f"momentum{suffix}")
    assert source.count("cg_gemm_acc_") == 1 and "+= 0.1 * dot(dd" in source


@pytest.mark.parametrize("n", [3, 40])  # plain loops and BLAS
def test_scratch_arrays_share_memory_only_where_lives_do_not_overlap(mod, n):
    rng = np.random.RandomState(n)
    x, w = rng.uniform(-1, 1, (n, n)), rng.uniform(-1, 1, (n, n)) / n
    a = np.exp(x)
    b = a.T * 2 + a
    d2 = w @ (np.tanh(w @ b) + 1)
    for _ in range(2):  # the second call runs in the workspace the first left behind
        got = mod.shared_scratch(x, w)
        np.testing.assert_allclose(got, [np.sum(d2 * b), np.sum((w @ a) * d2)], rtol=1e-12)
    with open(os.path.join(os.path.dirname(mod.__file__), "kernels_test.pyx")) as f:
        source = f.read()  # the glue plans the memory
    assert "is not read from then on" in source



def _blas_threads():
    """scipy's OpenBLAS thread count functions (get, set), or a skip where they are not."""
    import ctypes

    from scipy.linalg import cython_blas
    found = ctypes.CDLL(cython_blas.__file__)
    for prefix in ("scipy_openblas", "openblas"):
        get = getattr(found, prefix + "_get_num_threads", None)
        set_ = getattr(found, prefix + "_set_num_threads", None)
        if get is not None and set_ is not None:
            return get, set_
    pytest.skip("the BLAS has no OpenBLAS thread count functions")


# products over the call's own threads (blas_access): rows shared out (m >= n), columns
# (n > m), shares not a multiple of 8 or fewer rows than 8 for the second thread, and the
# matrix . vector products split by rows of y
@pytest.mark.parametrize("m,k,n", [(70, 61, 65), (9, 100, 300), (13, 4000, 7), (300, 40, 2)])
def test_products_shared_out_over_the_call_threads(mod, m, k, n):
    rng = np.random.RandomState(m + k + n)
    p, q, x = rng.randn(m, k), rng.randn(k, n), rng.randn(m)
    for pp, qq in ((p, q), (np.asfortranarray(p), np.asfortranarray(q))):
        for got, want in zip(mod.products(pp, qq, x), [p @ q, p.T @ x, x @ p]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    p32, q32, x32 = (a.astype(np.float32) for a in (p, q, rng.randn(m)))
    for got, want in zip(mod.products32(p32, q32, x32), [p32 @ q32, p32.T @ x32, x32 @ x32]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    e = rng.randn(m, n)  # the accumulating product
    got = mod.acc_forms(p, q, p, q, p, q, e)
    for g, w in zip(got, [e - 0.5 * (p @ q), (p @ q) * 3 + e, np.exp(e) + p @ q]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_a_call_leaves_the_blas_thread_count_as_it_found_it(mod):
    """A call holds BLAS to one thread while its products run on its own threads, and puts
    the count back; a count of one (threadpoolctl's limit, say) it leaves alone."""
    get, set_ = _blas_threads()
    rng = np.random.RandomState(5)
    p, q, x = rng.randn(70, 61), rng.randn(61, 65), rng.randn(70)
    before = get()
    try:
        for count in (2, 1, 3):
            set_(count)
            np.testing.assert_allclose(mod.products(p, q, x)[0], p @ q, rtol=1e-12)
            assert get() == count
            assert mod.products(p, q, x) is not None and get() == count
    finally:
        set_(before)
    source = _function_source(mod, "products")
    assert "cg_blas_enter()" in source and "cg_blas_leave(" in source
    assert "cg_blas_enter" not in _function_source(mod, "products_int")  # no BLAS there


@pytest.mark.parametrize("shape", [(3, 4), (310, 855)])  # one thread, threads
def test_reductions_and_vector_math_over_strided_rows(mod, shape):
    t = np.random.RandomState(11).randn(*shape)
    got = mod.strided_reductions(t)
    np.testing.assert_array_equal(got[0], t[:, ::2].max(axis=1))
    np.testing.assert_allclose(got[1], (np.tanh(t[:, ::2]) * 2).sum(axis=1), rtol=1e-12)
    source = _function_source(mod, "strided_reductions")
    # one kernel: its contiguous nest and its strided one, both threaded, both with tanh's
    # calls made a block at a time
    assert "_s1 == 1) {" in source and source.count("#pragma omp parallel for") == 2
    assert source.count("cgb0[j1] = cg_tanh_u(") == 4  # threads or not, each nest


def test_a_reshape_of_a_reshaped_buffer_is_a_view(mod):
    t = np.random.RandomState(12).randn(6, 10)
    np.testing.assert_allclose(mod.reshaped(t), (np.exp(t) * 2).reshape(-1, 4), rtol=1e-12)
    assert "copy of" not in _function_source(mod, "reshaped")


def _bits_on_one_thread_and_two(mod, tmp_path, arrays, results):
    """The bytes of ``results`` (an expression of the module ``m`` and the loaded ``arrays``,
    ``a``), computed in a fresh process with OMP_NUM_THREADS=1 and one with 2. Each process
    computes them twice: the first call (which loads BLAS) and a later one agree."""
    args = tmp_path / "args.npz"
    np.savez(args, **arrays)
    script = (f"import numpy as np; from codegen.compile.module import load_module; "
              f"m = load_module({mod.__file__!r}); a = np.load({str(args)!r}); "
              f"[print(''.join(y.tobytes().hex() for y in {results})) for _ in range(2)]")
    outputs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        first, later = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout.split()
        assert first == later, f"OMP_NUM_THREADS={threads}: the first call's bits differ"
        outputs.append(first)
    return outputs


def test_long_sums_in_parts_give_the_same_bits_on_any_number_of_threads(mod, tmp_path):
    """A weight gradient's product (k much longer than c's sides: cg_k_parts) sums k in parts
    whose number depends on the shape only: one thread and two give the same bits, and
    numpy's values."""
    rng = np.random.RandomState(13)
    p, q = rng.randn(5000, 24), rng.randn(5000, 20)
    e = rng.randn(24, 20)
    outputs = _bits_on_one_thread_and_two(
        mod, tmp_path, dict(p=p, q=q, e=e),
        "[m.products(a['p'].T.copy(), a['q'], a['e'][:, 0])[0], "
        "m.acc_forms(a['p'].T, a['q'], a['p'].T, a['q'], a['p'].T, a['q'], a['e'])[0], "
        "m.products32(a['p'].T.astype('f4'), a['q'].astype('f4'), a['e'][:, 0].astype('f4'))[0]]")
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000
    got = mod.products(p.T.copy(), q, e[:, 0])[0]
    np.testing.assert_allclose(got, p.T @ q, rtol=1e-11, atol=1e-11)
    got = mod.acc_forms(p.T, q, p.T, q, p.T, q, e)[0]
    np.testing.assert_allclose(got, e - 0.5 * (p.T @ q), rtol=1e-11, atol=1e-11)
    assert "cg_gemm_parts_d(" in open(os.path.join(os.path.dirname(mod.__file__),
                                                  "kernels_test_kernels.c")).read()


# products with few rows (ckernel.FEW_ROWS) read b in place: b's rows contiguous
# (cg_gemm_rows: tiles of 3 rows by 4 vectors, then 2 or 1 rows, then 1 vector, then single
# columns) or a's rows and b's columns (cg_gemm_dots: tiles of 4 x 4 sums, then the edges,
# k not a multiple of the vector width); a's columns contiguous too goes to BLAS
@pytest.mark.parametrize("m,k,n", [(8, 128, 512), (16, 512, 128), (5, 100, 300),
                                   (3, 1000, 70), (11, 257, 129), (7, 300, 9), (2, 33, 1025)])
def test_products_with_few_rows_read_b_in_place(mod, m, k, n):
    rng = np.random.RandomState(m + k + n)
    p, q, x = rng.randn(m, k), rng.randn(k, n), rng.randn(m)
    for pp, qq in ((p, q), (p, np.asfortranarray(q)), (np.asfortranarray(p), q),
                   (np.asfortranarray(p), np.asfortranarray(q))):
        np.testing.assert_allclose(mod.products(pp, qq, x)[0], p @ q, rtol=1e-12, atol=1e-12)
        p32, q32 = pp.astype(np.float32, order="A"), qq.astype(np.float32, order="A")
        np.testing.assert_allclose(mod.products32(p32, q32, x.astype(np.float32))[0],
                                   p @ q, rtol=2e-5, atol=2e-5 * k ** 0.5)
    source = open(os.path.join(os.path.dirname(mod.__file__), "kernels_test_kernels.c")).read()
    assert "cg_gemm_few_d(m, n, k" in source and "cg_gemm_few_s(m, n, k" in source


def test_products_with_few_rows_give_the_same_bits_on_any_number_of_threads(mod, tmp_path):
    """Above OpenBLAS's threading threshold the few-rows kernels share c's columns out to the
    call's threads; every sum runs in the same order on one thread or two."""
    rng = np.random.RandomState(14)
    p, q = rng.randn(16, 512), rng.randn(512, 130)
    outputs = _bits_on_one_thread_and_two(
        mod, tmp_path, dict(p=p, q=q, x=p[0, :16]),
        "[m.products(a['p'], a['q'], a['x'])[0], "
        "m.products(a['p'], np.asfortranarray(a['q']), a['x'])[0], "
        "m.products32(a['p'].astype('f4'), a['q'].astype('f4'), a['x'].astype('f4'))[0]]")
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000


def test_lapack_solves_share_out_their_columns_with_the_same_bits(mod, tmp_path):
    """Large solves (LAPACK's trtrs and getrs) hand each of the call's threads its share of
    the right-hand sides' columns, and the Cholesky factor its blocks of columns: numpy's and
    scipy's values, and the same bits on one thread and two."""
    import scipy.linalg
    rng = np.random.RandomState(15)
    n = LAPACK_MIN + 34  # the factor: 3 blocks of columns, the first's rest on 2 threads
    assert n > 2 * CHOLESKY_BLOCK and (n - CHOLESKY_BLOCK) ** 2 * CHOLESKY_BLOCK > 262144
    a, b = rng.randn(n, n) + 2 * np.sqrt(n) * np.eye(n), rng.randn(n, 150)
    got = mod.solves(a, b)
    for g, w in zip(got, [scipy.linalg.solve_triangular(a, b, lower=True),
                          np.linalg.solve(a, b), np.linalg.inv(a),
                          np.linalg.cholesky(a @ a.T)]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10 * np.abs(w).max())
    assert not np.triu(got[3], 1).any()
    outputs = _bits_on_one_thread_and_two(mod, tmp_path, dict(a=a, b=b),
                                          "m.solves(a['a'], a['b'])")
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000
    with pytest.raises(np.linalg.LinAlgError, match="solve_lower_triangular: the matrix is "
                                                     "singular"):
        mod.solves(np.tril(a) - np.diag(np.diag(a)) + np.eye(n) * (np.arange(n) != 97), b)
    spd = a @ a.T
    w = np.linalg.cholesky(spd)
    np.testing.assert_allclose(mod.factor(spd), w, rtol=1e-10, atol=1e-10 * np.abs(w).max())
    spd[-1, -1] = -1  # not positive definite in the last block of columns only
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: the matrix is not positive"):
        mod.factor(spd)


def _rnn_numpy(xs, h0, U):
    """hs, and the gradients of sum(hs ** 2) with respect to U, xs and h0."""
    gate = 1 / (1 + np.exp(-xs[:, :, :1]))
    hs, h, pre = [], h0, []
    for t in range(len(xs)):
        pre.append(np.tanh(xs[t] + h @ U))
        h = pre[-1] * gate[t]
        hs.append(h)
    dU, dxs, dh = np.zeros_like(U), np.zeros_like(xs), np.zeros_like(h0)
    for t in reversed(range(len(xs))):
        dh = dh + 2 * hs[t]
        dpre = dh * gate[t] * (1 - pre[t] ** 2)
        dgate = (dh * pre[t]).sum(axis=1) * gate[t][:, 0] * (1 - gate[t][:, 0])
        dxs[t] = dpre
        dxs[t][:, 0] += dgate
        dU += (hs[t - 1] if t else h0).T @ dpre
        dh = dpre @ U.T
    return np.array(hs), dU, dxs, dh


@pytest.mark.parametrize("batch", [19, 16, 5])
def test_loops_over_independent_rows_run_in_blocks(mod, batch, tmp_path):
    """The loop and its gradient's loop run as blocks of rows (19 rows: two blocks of 10
    and 9; 5 rows: one), each the whole loop over its rows: numpy's values, and the same
    bits on one thread and two (the blocks follow the shape, not the thread count)."""
    rng = np.random.RandomState(batch)
    xs, h0 = rng.randn(7, batch, 6), rng.randn(batch, 6)
    for g, w in zip(mod.rnn(xs, h0), _rnn_numpy(xs, h0, RNN_U)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    args = tmp_path / "args.npz"
    np.savez(args, xs=xs, h0=h0)
    script = (f"import numpy as np; from codegen.compile.module import load_module; "
              f"m = load_module({mod.__file__!r}); a = np.load({str(args)!r}); "
              f"print(''.join(x.tobytes().hex() for x in m.rnn(a['xs'], a['h0'])))")
    outputs = [subprocess.run([sys.executable, "-c", script], check=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS=n),
                              capture_output=True).stdout for n in ("1", "2")]
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000
    source = open(os.path.join(os.path.dirname(mod.__file__), "kernels_test_kernels.c")).read()
    assert source.count("static int rnn_k") == 2  # the two loops, each over a block's rows


def _introsort_model(values):
    """argsort's row (ckernel._argsort_row) in Python, comparing through ``values(i, j)``
    (whether element i sorts before element j): (the indices in order, whether a range
    was heapsorted)."""
    from codegen.backends.ckernel import ARGSORT_RUN
    m = values.n
    dst = list(range(m))
    heapsorted = False
    budget = 2
    left = m
    while left > 1:
        budget, left = budget + 2, left >> 1
    stack = [(0, m, budget)]
    while stack:
        lo, hi, budget = stack.pop()
        while hi - lo > ARGSORT_RUN:
            if budget == 0:
                dst[lo:hi] = sorted(dst[lo:hi], key=values.key)
                heapsorted = True
                break
            budget -= 1
            mid = lo + (hi - lo) // 2
            for a, b in ((lo, mid), (mid, hi - 1), (lo, mid)):
                if values(dst[b], dst[a]):
                    dst[a], dst[b] = dst[b], dst[a]
            pivot, i, j = dst[mid], lo, hi - 1
            while True:
                i += 1
                while values(dst[i], pivot):
                    i += 1
                j -= 1
                while values(pivot, dst[j]):
                    j -= 1
                if i >= j:
                    break
                dst[i], dst[j] = dst[j], dst[i]
            if j + 1 - lo > hi - j - 1:
                stack.append((lo, j + 1, budget))
                lo = j + 1
            else:
                stack.append((j + 1, hi, budget))
                hi = j + 1
    return dst, heapsorted


class _Adversary:
    """McIlroy's adversary ("A killer adversary for quicksort", 1999): the values are
    decided as a sort compares them, each the least that keeps it partitioning badly;
    ``killer()`` is then an input that takes the same path."""

    def __init__(self, n):
        self.n, self.gas = n, n
        self.val, self.solid, self.candidate = [n] * n, 0, None

    def __call__(self, x, y):
        gas = self.gas
        if self.val[x] == gas and self.val[y] == gas:
            self.val[x if x == self.candidate else y] = self.solid
            self.solid += 1
        if self.val[x] == gas:
            self.candidate = x
        elif self.val[y] == gas:
            self.candidate = y
        return (self.val[x], x) < (self.val[y], y)

    def key(self, i):
        return (self.val[i], i)

    def killer(self):
        rest = iter(range(self.solid, self.n))
        return np.array([v if v != self.gas else next(rest) for v in self.val], dtype=float)


class _Plain:
    def __init__(self, values):
        self.v, self.n = list(values), len(values)

    def __call__(self, i, j):
        return (self.v[i], i) < (self.v[j], j)

    def key(self, i):
        return (self.v[i], i)


def test_argsort_of_long_rows_is_numpys_stable_order(mod):
    """Rows long enough to be partitioned: random, sorted, reversed, organ pipes, all equal,
    few distinct values, NaNs; and an input built against the introsort's pivots by
    McIlroy's adversary, on which (its Python model shows) a range goes past its budget of
    partitions and is heapsorted."""
    n = 600
    adversary = _Adversary(n)
    _introsort_model(adversary)
    killer = adversary.killer()
    order, heapsorted = _introsort_model(_Plain(killer))
    assert heapsorted and order == list(np.argsort(killer, kind="stable"))
    rng = np.random.RandomState(3)
    rows = [killer, rng.randn(n), np.arange(n, dtype=float), -np.arange(n, dtype=float),
            np.concatenate([np.arange(n // 2), np.arange(n // 2)[::-1]]).astype(float),
            np.ones(n), rng.randint(0, 3, n).astype(float),
            np.where(rng.rand(n) < 0.2, np.nan, rng.randn(n)),
            np.where(rng.rand(n) < 0.5, -0.0, 0.0)]
    a = np.array(rows)
    for got in (mod.big_walks(a)[2], mod.big_walks(np.asfortranarray(a.T))[3].T):
        np.testing.assert_array_equal(got, np.argsort(a, 1, kind="stable"))


@pytest.mark.parametrize("n", [RADIX_MIN - 1, RADIX_MIN, 5000])
def test_argsort_of_long_vectors_is_numpys_stable_order(mod, n):
    """Vectors from RADIX_MIN elements on are radix-sorted by keys ordered as their values:
    floats with NaNs, both zeros, infinities, subnormals and ties; signed ints across zero;
    unsigned ones; a strided view; and the sort of one."""
    rng = np.random.RandomState(4)
    d = rng.choice([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1.5, -1.5], n)
    d[::3] = rng.randn(len(d[::3])) * 1e3
    f = np.where(rng.rand(n) < 0.3, np.float32(np.nan), rng.randn(n)).astype("float32")
    f[::7] = -0.0
    b = rng.randint(-128, 128, n).astype("int8")
    u = rng.randint(0, 65536, n).astype("uint16")
    big = rng.randint(-2**62, 2**62, n) * rng.choice([1, 2, 0], n)
    got = mod.vector_sorts(d, f, b, u, big)
    for g, v in zip(got, (d, f, b, u, big)):
        np.testing.assert_array_equal(g, np.argsort(v, kind="stable"))
    np.testing.assert_array_equal(got[-1], np.sort(d[::-3]))
