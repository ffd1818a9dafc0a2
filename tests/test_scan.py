"""Loops: ``scan``, ``map``, ``reduce``, ``foldl``, ``foldr``.

Every example of Theano's loop tutorial (doc/tutorial/loop.txt), as written there, on the
reference, the Cython backend, emulated CUDA and the c target, against numpy; gradients through
loops (backpropagation through time, a compiled loop of its own) against finite differences;
random streams drawn inside a loop; the history a loop keeps; the errors.
"""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.gradient import verify_grad
from codegen.tensor.shared_randomstreams import RandomStreams

R = np.random.default_rng(7)
A_VAL = np.arange(1.0, 5.0)
COEFS = np.array([1.0, 0.0, 2.0])
X_LAYER = np.eye(2)
W_LAYER = np.ones((2, 2))
B_LAYER = np.array([1.0, 2.0])
SEQ_Y = np.ones((5, 2))
SEQ_Y[0, :] = -3
SEQ_P = np.ones((5, 2))
SEQ_P[0, :] = 3
X0 = np.array([0.0, 1.0])
DIAG = np.diag(np.arange(1.0, 6.0))
TAPS_X = np.zeros((2, 2))
TAPS_X[1, 1] = 1
TAPS_U = 0.5 * (np.ones((2, 2)) - np.eye(2))
RNN = [R.standard_normal((6, 3)), 0.5 * R.standard_normal((3, 4)),
       0.5 * R.standard_normal((4, 4)), R.standard_normal(4)]
SERIES = R.standard_normal(7)


def _tutorial():
    """name -> (inputs, outputs) of every loop of the tutorial, and a few more."""
    fs = {}
    # A ** k: a state, n_steps an argument, only the last value kept
    k, A = T.iscalar("k"), T.vector("A")
    result, _ = codegen.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                             non_sequences=A, n_steps=k)
    fs["power"] = ([A, k], [result[-1]])
    # a polynomial: a sequence of ints (arange), a scalar non-sequence, outputs stacked
    coefficients, x = T.vector("coefficients"), T.scalar("x")
    components, _ = codegen.scan(
        fn=lambda coefficient, power, free_variable: coefficient * (free_variable ** power),
        outputs_info=None, sequences=[coefficients, T.arange(1000)], non_sequences=x)
    polynomial = components.sum()
    fs["poly"] = ([coefficients, x], [polynomial, *T.grad(polynomial, [coefficients, x])])
    # tanh(x(t).W + b) over the rows of X; W and b used without being passed
    X, W, b = T.matrix("X"), T.matrix("W"), T.vector("b")
    results, _ = codegen.scan(lambda v: T.tanh(T.dot(v, W) + b), sequences=X)
    fs["layer"] = ([X, W, b], [results])
    # x(t) = tanh(x(t-1).W + y(t).U + p(T-t).V): a state, a sequence read backwards
    X, Y, U, P, V = T.vector("X"), T.matrix("Y"), T.matrix("U"), T.matrix("P"), T.matrix("V")
    results, _ = codegen.scan(
        lambda y, p, x_tm1: T.tanh(T.dot(x_tm1, W) + T.dot(y, U) + T.dot(p, V)),
        sequences=[Y, P[::-1]], outputs_info=[X])
    fs["recurrence"] = ([X, W, Y, U, P, V], [results])
    # norms of rows and columns
    X = T.matrix("X")
    rows, _ = codegen.scan(lambda x_i: T.sqrt((x_i ** 2).sum()), sequences=[X])
    cols, _ = codegen.scan(lambda x_i: T.sqrt((x_i ** 2).sum()), sequences=[X.T])
    fs["norms"] = ([X], [rows, cols])
    # the trace: indices from arange, an initial value that is a numpy number
    results, _ = codegen.scan(lambda i, j, t_f: T.cast(X[i, j] + t_f, "float64"),
                              sequences=[T.arange(X.shape[0]), T.arange(X.shape[1])],
                              outputs_info=np.asarray(0.0, dtype="float64"))
    fs["trace"] = ([X], [results[-1]])
    # a state with two taps: x(t) = x(t-2).U + x(t-1).V + tanh(x(t-1).W + b)
    X, U, V, n = T.matrix("X"), T.matrix("U"), T.matrix("V"), T.iscalar("n")
    results, _ = codegen.scan(
        lambda x_tm2, x_tm1: T.dot(x_tm2, U) + T.dot(x_tm1, V) + T.tanh(T.dot(x_tm1, W) + b),
        n_steps=n, outputs_info=[dict(initial=X, taps=[-2, -1])])
    fs["taps"] = ([X, U, V, W, b, n], [results])
    # the jacobian, a gradient inside the loop
    v, A = T.vector("v"), T.matrix("A")
    y = T.tanh(T.dot(v, A))
    results, _ = codegen.scan(lambda i: T.grad(y[i], v), sequences=[T.arange(y.shape[0])])
    fs["jacobian"] = ([A, v], [results])
    # a recurrent network and its gradient (backpropagation through time)
    X, W, U, h0 = T.matrix("X"), T.matrix("W"), T.matrix("U"), T.vector("h0")
    hs, _ = codegen.scan(lambda x, h, W, U: T.tanh(T.dot(x, W) + T.dot(h, U)), sequences=X,
                         outputs_info=h0, non_sequences=[W, U])
    cost = (hs ** 2).sum() + hs[-1].sum()
    fs["rnn"] = ([X, W, U, h0], [cost, *T.grad(cost, [X, W, U, h0])])
    # reduce, foldl, foldr, map; a sequence with taps around t
    s = T.vector("s")
    total, _ = codegen.reduce(lambda x, acc: acc + x, sequences=s,
                              outputs_info=T.zeros_like(s[0]))
    left, _ = codegen.foldl(lambda x, acc: 2 * acc + x, sequences=s,
                            outputs_info=T.zeros_like(s[0]))
    right, _ = codegen.foldr(lambda x, acc: 2 * acc + x, sequences=s,
                             outputs_info=T.zeros_like(s[0]))
    squares, _ = codegen.map(lambda x: x ** 2, sequences=s)
    around, _ = codegen.scan(lambda before, here, after: before - 2 * here + after,
                             sequences=dict(input=s, taps=[-1, 0, 1]))
    fs["folds"] = ([s], [total, left, right, squares, around])
    return fs


def _expected():
    def layer():
        return np.tanh(X_LAYER @ W_LAYER + B_LAYER)

    def recurrence():
        x, out = X0, []
        for t in range(5):
            x = np.tanh(x @ W_LAYER + SEQ_Y[t] @ W_LAYER + SEQ_P[4 - t] @ W_LAYER)
            out.append(x)
        return np.array(out)

    def taps():
        xs = [TAPS_X[0], TAPS_X[1]]
        w = 0.5 * np.ones((2, 2))
        for _ in range(10):
            xs.append(xs[-2] @ TAPS_U + xs[-1] @ w + np.tanh(xs[-1] @ w + B_LAYER))
        return np.array(xs[2:])

    def jacobian():
        w = np.eye(5, 3)
        w[2] = 1
        v = np.eye(5)[0]
        return (1 - np.tanh(v @ w) ** 2)[:, None] * w.T

    def rnn():
        x, w, u, h = RNN
        hs = []
        for t in range(len(x)):
            h = np.tanh(x[t] @ w + h @ u)
            hs.append(h)
        return np.sum(np.array(hs) ** 2) + hs[-1].sum()

    def folds(s):
        left = right = 0.0
        for x in s:
            left = 2 * left + x
        for x in s[::-1]:
            right = 2 * right + x
        return [s.sum(), left, right, s ** 2, s[:-2] - 2 * s[1:-1] + s[2:]]

    return {
        "power": ([A_VAL, 3], [A_VAL ** 3]),
        "poly": ([COEFS, 3.0], [19.0, np.array([1.0, 3.0, 9.0]), 12.0]),
        "layer": ([X_LAYER, W_LAYER, B_LAYER], [layer()]),
        "recurrence": ([X0, W_LAYER, SEQ_Y, W_LAYER, SEQ_P, W_LAYER], [recurrence()]),
        "norms": ([DIAG], [np.arange(1.0, 6.0), np.arange(1.0, 6.0)]),
        "trace": ([np.eye(5) * 2], [10.0]),
        "taps": ([TAPS_X, TAPS_U, 0.5 * np.ones((2, 2)), 0.5 * np.ones((2, 2)), B_LAYER, 10],
                 [taps()]),
        "jacobian": ([_jac_w(), np.eye(5)[0]], [jacobian()]),
        "rnn": (RNN, [rnn()]),
        "folds": ([SERIES], folds(SERIES)),
    }


def _jac_w():
    w = np.eye(5, 3)
    w[2] = 1
    return w


def _module(name):
    module = codegen.Module(name)
    for fname, (ins, outs) in _tutorial().items():
        module.add_function(fname, ins, outs)
    return module


def _check(call, rtol=1e-12):
    expected = _expected()
    for fname, (args, want) in expected.items():
        got = call(fname, *args)
        for k, w in enumerate(want):
            np.testing.assert_allclose(got[k], w, rtol=rtol, atol=1e-12,
                                       err_msg=f"{fname}: output {k}")
    # the gradient of the network against finite differences (the reference's)
    x, w, u, h = RNN
    grads = call("rnn", *RNN)[1:]
    eps = 1e-6
    for i, p in enumerate(RNN):
        num = np.zeros_like(p)
        for j in np.ndindex(p.shape):
            args = [a.copy() for a in RNN]
            args[i][j] += eps
            up = call("rnn", *args)[0]
            args[i][j] -= 2 * eps
            down = call("rnn", *args)[0]
            num[j] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[i], num, rtol=1e-6, atol=1e-7,
                                   err_msg=f"rnn: gradient {i}")


@pytest.fixture(scope="module")
def tutorial():
    return _tutorial()


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_the_loop_tutorial_through_function(mode, tutorial):
    fs = {name: codegen.function(ins, outs, mode=mode) for name, (ins, outs) in tutorial.items()}
    _check(lambda name, *args: fs[name](*args))


def test_the_loop_tutorial_on_the_cython_backend(tmp_path):
    mod = load_module(_module("loops_cython").build(str(tmp_path)))
    _check(lambda name, *args: getattr(mod, name)(*args))
    source = open(tmp_path / "loops_cython_kernels.c").read()
    # the loop is in the generated code, with the line of the spec that built it
    assert "for (cg_index t = 0; t < k_1_v; t++) {  /* scan(n_steps=" in source
    assert "test_scan.py:" in source


def test_the_loop_tutorial_on_emulated_cuda(tmp_path, cuda_emulated):
    with cuda_emulated():
        mod = load_module(_module("loops_cuda").build(str(tmp_path)))
    assert mod.__codegen__["backend"] == "cuda"
    _check(lambda name, *args: getattr(mod, name)(*args), rtol=1e-11)


def test_the_loop_tutorial_in_the_c_library(tmp_path):
    from clib import CLibrary
    lib = CLibrary(_module("loops_c"), str(tmp_path))
    try:
        _check(lambda name, *args: lib.call(name, *args))
    finally:
        lib.close()


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_gradients_through_loops_against_finite_differences(mode):
    def states_and_taps(x, w, x0):  # two taps back, a sequence with taps, stacked outputs
        out, _ = codegen.scan(
            lambda a, b, tm2, tm1, w: [T.tanh(tm2 * 0.5 + T.dot(tm1, w) + a - b),
                                       T.sum(tm1 * a)],
            sequences=dict(input=x, taps=[-1, 1]),
            outputs_info=[dict(initial=x0, taps=[-2, -1]), None], non_sequences=w)
        return out[0].sum() + (out[1] ** 2).sum()

    def backwards(x, w, h0):
        hs, _ = codegen.scan(lambda xt, h: T.nnet.sigmoid(T.dot(h, w) * xt), sequences=x,
                             outputs_info=h0, go_backwards=True)
        return hs

    def reduced(x, w):
        last, _ = codegen.reduce(lambda xt, acc: T.tanh(acc + T.dot(xt, w)), sequences=x,
                                 outputs_info=T.zeros_like(w[0]))
        return last

    rng = np.random.default_rng(3)
    verify_grad(states_and_taps, [rng.standard_normal((6, 3)), rng.standard_normal((3, 3)),
                                  rng.standard_normal((2, 3))], mode=mode, rng=rng)
    verify_grad(backwards, [rng.standard_normal((5, 3)), rng.standard_normal((3, 3)),
                            rng.standard_normal(3)], mode=mode, rng=rng)
    verify_grad(reduced, [rng.standard_normal((4, 2)), rng.standard_normal((2, 2))],
                mode=mode, rng=rng)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_truncated_backpropagation(mode):
    x, w = T.matrix("x"), T.matrix("w")
    hs, _ = codegen.scan(lambda xt, h: T.tanh(xt + T.dot(h, w)), sequences=x,
                         outputs_info=T.zeros_like(x[0]), truncate_gradient=2)
    g = codegen.function([x, w], T.grad(hs[-1].sum(), x), mode=mode)
    xv, wv = np.ones((5, 3)) * 0.1, np.eye(3) * 0.5
    got = g(xv, wv)
    assert np.all(got[:3] == 0) and np.all(got[3:] != 0)  # only the last 2 steps
    full = codegen.function([x, w], T.grad(codegen.scan(
        lambda xt, h: T.tanh(xt + T.dot(h, w)), sequences=x,
        outputs_info=T.zeros_like(x[0]))[0][-1].sum(), x), mode=mode)(xv, wv)
    np.testing.assert_allclose(got[4], full[4], rtol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_random_streams_inside_a_loop(mode):
    """The tutorial's Gibbs sampler: draws in each iteration from the stream's state, which the
    loop carries and returns as an update; the same bits on the reference and compiled."""
    rng = np.random.default_rng(1)
    W = codegen.shared(rng.standard_normal((6, 4)) * 0.5, name="W")
    bvis, bhid = codegen.shared(np.zeros(6), name="bvis"), codegen.shared(np.zeros(4), name="bhid")
    trng = RandomStreams(1234)

    def one_step(vsample):
        hmean = T.nnet.sigmoid(codegen.dot(vsample, W) + bhid)
        hsample = trng.binomial(size=hmean.shape, n=1, p=hmean)
        vmean = T.nnet.sigmoid(codegen.dot(hsample, W.T) + bvis)
        return trng.binomial(size=vsample.shape, n=1, p=vmean, dtype="float64")

    sample = T.vector()
    values, updates = codegen.scan(one_step, outputs_info=sample, n_steps=10)
    gibbs10 = codegen.function([sample], values[-1], updates=updates, mode=mode)
    draws = [gibbs10(np.ones(6)) for _ in range(3)]
    assert all(set(np.unique(d)) <= {0.0, 1.0} for d in draws)
    assert not all(np.array_equal(draws[0], d) for d in draws[1:])  # the state moved on
    assert [int(s.get_value()[1]) for s in updates] == [30, 30]  # 10 draws a call, each
    # the reference computes the same bits from the same states
    for s in updates:
        s.set_value(np.array([s.get_value()[0], 0]))
    ref = codegen.function([sample], values[-1], updates=updates, mode="FAST_COMPILE")
    np.testing.assert_array_equal(ref(np.ones(6)), draws[0])


def test_updates_a_step_returns():
    k = codegen.shared(0)
    n = T.iscalar("n")
    _, updates = codegen.scan(lambda: {k: (k + 1)}, n_steps=n)
    accumulator = codegen.function([n], [], updates=updates)
    accumulator(5)
    assert k.get_value() == 5


def test_only_the_history_read_is_kept():
    s = T.vector("s")
    total, _ = codegen.reduce(lambda x, acc: acc + x, sequences=s,
                              outputs_info=T.zeros_like(s[0]))
    stacked, _ = codegen.scan(lambda x, acc: acc + x, sequences=s,
                              outputs_info=T.zeros_like(s[0]))
    listing = codegen.printing.debugprint(codegen.function([s], total), file="str")
    assert "scan_last: float64[1]" in listing or "reduce_last: float64[1]" in listing
    listing = codegen.printing.debugprint(codegen.function([s], stacked), file="str")
    assert "_all: float64[1 + s_n0]" in listing


def test_debugprint_shows_the_body():
    x, w = T.matrix("x"), T.matrix("w")
    hs, _ = codegen.scan(lambda xt, h: T.tanh(xt + T.dot(h, w)), sequences=x,
                         outputs_info=T.zeros_like(x[0]))
    text = codegen.printing.debugprint(hs.sum(), file="str")
    body = text.split("Inner graphs:")[1]
    assert "scan{1 seq, 1 state, 0 out}" in body and " >tanh" in body
    assert "x[t]" in body and "state[t-1]" in body and "test_scan.py" in body


def test_nested_loops(tutorial):
    x = T.matrix("x")
    outer, _ = codegen.scan(lambda row: codegen.scan(lambda v, acc: acc * 2 + v, sequences=row,
                                                     outputs_info=T.zeros_like(row[0]))[0][-1],
                            sequences=x)
    xv = np.arange(6.0).reshape(2, 3)
    want = [0 * 4 + 1 * 2 + 2, 3 * 4 + 4 * 2 + 5]
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        np.testing.assert_allclose(codegen.function([x], outer, mode=mode)(xv), want)


def test_errors():
    x, n = T.vector("x"), T.iscalar("n")
    out, _ = codegen.scan(lambda v: v * 2, sequences=x, n_steps=n)
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        f = codegen.function([x, n], out, mode=mode)
        np.testing.assert_allclose(f(np.arange(4.0), 2), [0.0, 2.0])
        with pytest.raises(IndexError, match=r"sequence 0 \(x.*shorter than the number of"):
            f(np.arange(4.0), 5)
    with pytest.raises(TypeError, match="has dtype float32, but its initial value"):
        codegen.scan(lambda acc: T.cast(acc, "float32"), outputs_info=T.scalar("a"), n_steps=3)
    w = T.matrix("w")
    with pytest.raises(ValueError, match="strict=True, but the step uses w"):
        codegen.scan(lambda v: T.dot(v, w), sequences=T.matrix("m"), strict=True)
    with pytest.raises(TypeError, match="until: the condition must be a scalar"):
        codegen.scan_module.until(T.vector() > 0)
    with pytest.raises(ValueError, match="give n_steps, or sequences"):
        codegen.scan(lambda: T.constant(1.0))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_second_order_gradients_through_a_loop(mode):
    """The gradient of a loop is a loop: differentiated again, against finite differences."""
    x, w = T.matrix("x"), T.matrix("w")
    hs, _ = codegen.scan(lambda xt, h: T.tanh(xt + T.dot(h, w)), sequences=x,
                         outputs_info=T.zeros_like(x[0]))
    g = T.grad((hs ** 2).sum(), w)
    f = codegen.function([x, w], T.grad((g ** 2).sum(), w), mode=mode)
    first = codegen.function([x, w], (g ** 2).sum(), mode="FAST_COMPILE")
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((4, 3)) * 0.5, rng.standard_normal((3, 3)) * 0.5
    num = np.zeros_like(wv)
    for i in np.ndindex(wv.shape):
        up, down = wv.copy(), wv.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        num[i] = (first(xv, up) - first(xv, down)) / 2e-6
    np.testing.assert_allclose(f(xv, wv), num, rtol=1e-6, atol=1e-7)


def test_until_ends_the_loop_as_theanos_tutorial_shows(cuda_emulated):
    """scan_module.until: the powers of 2 up to the first above max_value (Theano's example),
    a state with updates and a sequence, a condition drawn from a random stream: compiled on
    the CPU and CUDA (a loop of n_steps that stops early, its outputs cut to the steps done by
    the next compiled part), as the reference interpreter runs them; no gradient; a module
    holds one in parts too (test_parts)."""
    import contextlib
    import warnings

    def power_of_2(previous_power, max_value):
        return previous_power * 2, codegen.scan_module.until(previous_power * 2 > max_value)
    max_value = T.scalar("max_value")
    values, _ = codegen.scan(power_of_2, outputs_info=T.constant(1.), non_sequences=max_value,
                             n_steps=1024)
    # a sequence, a state kept to its last value, a counter updated each step
    x = T.vector("x")
    count = codegen.shared(np.int64(0), name="count")
    (total, seen), updates = codegen.scan(
        lambda v, acc: ([acc + v, v], {count: count + 1}, codegen.scan_module.until(acc + v > 5)),
        sequences=x, outputs_info=[T.constant(0.0), None])
    # a condition drawn from a random stream: its state advances each step, and each call
    rng = codegen.tensor.shared_randomstreams.RandomStreams(3)
    steps, draws = codegen.scan(
        lambda a: (a + 1, codegen.scan_module.until(rng.uniform() < 0.2)),
        outputs_info=T.constant(0.0), n_steps=100)
    for mode in ("FAST_COMPILE", "FAST_RUN", "cuda"):
        with cuda_emulated() if mode == "cuda" else contextlib.nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # compiled: no fallback to the interpreter
                f = codegen.function([max_value], values, mode=mode.replace("cuda", "FAST_RUN"))
                g = codegen.function([x], [total[-1], seen, total], updates=updates,
                                     mode=mode.replace("cuda", "FAST_RUN"))
                if mode != "cuda":  # the draws on CUDA: test_random
                    h = codegen.function([], steps, updates=draws, mode=mode)
        if mode != "FAST_COMPILE":
            assert "in 2 parts" in repr(f) and "in 2 parts" in repr(g), (f, g)
        np.testing.assert_array_equal(f(45), [2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
        np.testing.assert_array_equal(f(0.5), [2.0])
        assert len(f(np.inf)) == 1024  # never true: every step
        count.set_value(np.int64(0))
        last, got, running = g(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=x.dtype))
        assert float(last) == 6.0 and got.tolist() == [1.0, 2.0, 3.0], (last, got)
        assert running.tolist() == [1.0, 3.0, 6.0] and int(count.get_value()) == 3
        _, got, running = g(np.array([1.0, 1.0], dtype=x.dtype))  # never true
        assert got.tolist() == [1.0, 1.0] and running.tolist() == [1.0, 2.0]
        assert int(count.get_value()) == 5
        with pytest.raises(IndexError, match="out of bounds"):  # no steps: no total[-1]
            g(np.zeros(0, dtype=x.dtype))
        assert int(count.get_value()) == 5  # a failed call changes no state
        if mode == "cuda":
            continue
        rng.seed(3)
        lengths = [len(h()) for _ in range(6)]
        assert len(set(lengths)) > 1, lengths
        if mode == "FAST_COMPILE":
            want = lengths
        else:
            assert lengths == want, (mode, lengths, want)
    with pytest.raises(NotImplementedError, match="gradient of a loop that ends"):
        T.grad(T.sum(total), x)
