"""Theano's API as its programs use it (codegen.tensor): constructors, var/std, softmax of a
vector, Python lists as inputs, pickled types and shared variables."""

import contextlib
import pickle
import warnings

import numpy as np
import pytest

import codegen
import codegen.tensor as T

MODES = ["FAST_RUN", "FAST_COMPILE"]


def test_typed_constructors_are_types():
    x = T.dscalar("x")
    assert x.type is T.dscalar and T.fmatrix.dtype == "float32"
    assert T.imatrix("m").type == T.imatrix and T.lvector().name is None


def test_plural_constructors():
    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name, a.type) == ("a", "b", T.dmatrix)
    assert [v.name for v in T.scalars("xy")] == ["x", "y"]  # Theano's: a letter each
    assert T.fvector.dtype == "float32" and len(T.fvectors(3)) == 3
    assert T.matrices("m").name == "m" and T.ivectors("i", "j")[1].type is T.ivector


@pytest.mark.parametrize("mode", MODES)
def test_var_and_std_are_numpys(mode):
    x = T.matrix("x")
    data = np.arange(6.0).reshape(2, 3) ** 2
    f = codegen.function([x], [T.var(x), T.std(x, axis=0), x.var(axis=1, keepdims=True)],
                         mode=mode)
    for got, want in zip(f(data), [data.var(), data.std(0), data.var(1, keepdims=True)]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_softmax_of_a_vector_is_one_row(mode):
    v = T.vector("v")
    got = codegen.function([v], T.nnet.softmax(v), mode=mode)(np.arange(3.0))
    e = np.exp(np.arange(3.0))
    assert got.shape == (1, 3)
    np.testing.assert_allclose(got, (e / e.sum())[None], rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_python_lists_into_int_inputs_when_exact(mode):
    i = T.ivector("i")
    f = codegen.function([i], i * 2, mode=mode)
    np.testing.assert_array_equal(f([1, 2, 3]), np.array([2, 4, 6], "int32"))
    with pytest.raises(TypeError, match="'i'.*int32.*int64"):
        f([2**40, 2])
    with pytest.raises(TypeError, match="'i'.*int32.*int64"):
        f(np.array([1, 2]))  # arrays still cast safely only


def test_types_and_shared_variables_pickle():
    assert pickle.loads(pickle.dumps(T.dmatrix)) == T.dmatrix
    w = codegen.shared(np.arange(3.0), name="w")
    back = pickle.loads(pickle.dumps(w))
    assert back.name == "w" and back.type == w.type
    np.testing.assert_array_equal(back.get_value(), np.arange(3.0))


@pytest.mark.parametrize("mode", MODES)
def test_hessian_times_vector_as_theanos_tutorial_writes_it(mode):
    """x stays an input of vH = grad(sum(grad(y, x) * v), x): the gradient has x's shape, so
    a rewrite may not drop x (nor the check that v has x's length)."""
    x, v = T.dvector("x"), T.dvector("v")
    gy = T.grad(T.sum(x ** 2), x)
    f = codegen.function([x, v], T.grad(T.sum(gy * v), x), mode=mode)
    np.testing.assert_array_equal(f([4, 4], [2, 2]), [4.0, 4.0])
    with pytest.raises(ValueError):
        f([4, 4, 4], [2, 2])


def test_compiled_function_calls_in_c_and_spares_what_others_hold():
    """A compiled function's call runs in C (the module's _Call_<f>): the new state goes
    into the arrays it replaces when no one else holds them, and leaves an array someone
    holds (a borrowed get_value) as it was; arguments it cannot take as given go through
    the Function's conversion, with its messages."""
    w = codegen.shared(np.arange(4.0), name="w")
    m = codegen.shared(np.zeros(4), name="m")
    x = T.dvector("x")
    step = codegen.function([x], T.sum(w * x), updates=[(w, w + x), (m, 0.5 * m + w)])
    assert type(step._caller).__name__ == "_Call_fn"  # the module's function is fn
    ones = np.ones(4)
    assert float(step(ones)) == 6.0
    held = w.get_value(borrow=True)  # held: the next call must leave it as it is
    assert float(step(ones)) == 10.0
    np.testing.assert_array_equal(held, [1, 2, 3, 4])
    np.testing.assert_array_equal(w.get_value(), [2, 3, 4, 5])
    del held
    before = id(w.get_value(borrow=True))
    step(ones)
    assert id(w.get_value(borrow=True)) == before  # no one else held it: written in place
    np.testing.assert_array_equal(w.get_value(), [3, 4, 5, 6])
    want_w, want_m = np.arange(4.0), np.zeros(4)
    for _ in range(3):  # updates read the old values
        want_w, want_m = want_w + 1, 0.5 * want_m + want_w
    np.testing.assert_array_equal(m.get_value(), want_m)
    assert float(step([1, 1, 1, 1])) == 18.0  # a list: converted, then the same step
    with pytest.raises(TypeError, match=r"function\(\): argument 'x': expected float64"):
        step(np.ones(4, dtype=np.complex128))
    np.testing.assert_array_equal(w.get_value(), [4, 5, 6, 7])  # the failed call changed nothing


@pytest.mark.parametrize("mode", MODES)
def test_function_copy(mode):
    """Theano's Function.copy: own state by default, shared with share_memory, values from
    another shared variable with swap, and no updates with delete_updates."""
    state = codegen.shared(np.float64(0), name="state")
    inc = T.dscalar("inc")
    acc = codegen.function([inc], state, updates=[(state, state + inc)], mode=mode)
    acc(1.0)
    own = acc.copy()
    own(10.0)
    assert float(state.get_value()) == 1.0 and float(own(0.0)) == 11.0
    same = acc.copy(share_memory=True)
    same(5.0)
    assert float(state.get_value()) == 6.0
    other = codegen.shared(np.float64(100), name="other")
    swapped = acc.copy(swap={state: other})
    swapped(1.0)
    assert float(other.get_value()) == 101.0 and float(state.get_value()) == 6.0
    frozen = acc.copy(share_memory=True, delete_updates=True)
    assert float(frozen(3.0)) == 6.0 and float(state.get_value()) == 6.0


def test_verify_grad_as_theano_calls_it():
    from codegen.gradient import verify_grad
    rng = np.random.RandomState(42)
    assert verify_grad(lambda a, b: T.dot(a, b) ** 2, [np.ones((2, 3)), np.arange(3.0)], rng=rng)
    with pytest.raises(AssertionError, match="relative error"):
        verify_grad(lambda a: a ** 2 * T.zero_grad(a), [np.array([0.5, 2.0])], rng=rng)


def test_pprint_is_pp():
    x = T.dscalar("x")
    assert codegen.printing.pprint(x ** 2) == codegen.pp(x ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_newaxis_and_ellipsis_indexing(mode):
    m, v = T.matrix("m"), T.vector("v")
    a, b = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    cases = [(m[:, None], a[:, None]), (v[None, :] * v[:, None], b[None, :] * b[:, None]),
             (m[0, None], a[0, None]), (m[..., None], a[..., None]), (m[None], a[None]),
             (m[1:, None, 0], a[1:, None, 0]), (m[..., 1], a[..., 1])]
    f = codegen.function([m, v], [expr for expr, _ in cases], mode=mode)
    for got, (_, want) in zip(f(a, b), cases):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    g = codegen.function([m], T.grad(T.sum(m[:, None] * 2), m), mode=mode)
    np.testing.assert_array_equal(g(a), np.full((2, 3), 2.0))
    with pytest.raises(IndexError, match="single ellipsis"):
        m[..., ...]


def test_theano_apis_codegen_lacks_say_so():
    """A Theano API codegen does not have is a NotImplementedError naming it; a name Theano
    never had stays an AttributeError."""
    import codegen.tensor.nnet as nnet
    for lookup, name in [(lambda: T.raw_random, "theano.tensor.raw_random"),
                         (lambda: codegen.typed_list, "theano.typed_list")]:
        with pytest.raises(NotImplementedError, match=name.replace(".", r"\.")):
            lookup()
    with pytest.raises(AttributeError, match="codegen.tensor"):
        T.no_such_thing
    with pytest.raises(AttributeError, match="codegen.tensor.nnet"):
        nnet.no_such_thing


@pytest.mark.parametrize("mode", MODES)
def test_rop_and_lop_as_theanos_tutorial_writes_them(mode):
    W, V, x, v = T.dmatrix("W"), T.dmatrix("V"), T.dvector("x"), T.dvector("v")
    y = T.dot(x, W)
    jv = codegen.function([W, V, x], T.Rop(y, W, V), mode=mode)
    np.testing.assert_array_equal(jv([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2.0, 2.0])
    vj = codegen.function([v, x], T.Lop(y, W, v), mode=mode)  # W only gives the shape
    np.testing.assert_array_equal(vj([2, 2], [0, 1]), [[0.0, 0.0], [2.0, 2.0]])


@pytest.mark.parametrize("mode", MODES)
def test_rop_and_lop_against_the_jacobian(mode):
    x, u, v = T.dvector("x"), T.dvector("u"), T.dvector("v")
    y = T.tanh(x) * T.dot(np.array([[0.0, 1, 2], [1, 0, -1], [3, 1, 0]]), x) + T.exp(x).sum()
    f = codegen.function([x, u, v], [T.Rop(y, x, v), T.Lop(y, x, u),
                                     codegen.gradient.jacobian(y, x)], mode=mode)
    xs, us, vs = np.array([0.3, -1.2, 0.7]), np.array([1.0, -2.0, 0.5]), np.array([2.0, 1, -1])
    jv, uj, jac = f(xs, us, vs)
    np.testing.assert_allclose(jv, jac @ vs, rtol=1e-12)
    np.testing.assert_allclose(uj, us @ jac, rtol=1e-12)


def test_theanos_mode_spellings():
    x = T.dscalar("x")
    compiled = codegen.function([x], x * 2, mode=codegen.Mode(linker="cvm", optimizer=None))
    reference = codegen.function([x], x * 2, mode=codegen.Mode("py", "fast_compile"))
    assert "numpy reference" not in repr(compiled) and "numpy reference" in repr(reference)
    assert float(compiled(2.0)) == float(reference(2.0)) == 4.0
    from codegen.compile.mode import get_default_mode
    assert get_default_mode().name == codegen.config.mode


@pytest.mark.parametrize("mode", MODES)
def test_gradients_and_hessians_through_indexing(mode):
    """The gradient of x[0] writes into one element of zeros (a 0-d view, which once was a
    numpy scalar that the kernel wrote through a bad pointer); the Hessian goes through it."""
    x = T.dvector("x")
    xs = np.array([1.0, 2.0, -0.5])
    g = codegen.function([x], T.grad(T.dot(x, x) * x[0], x), mode=mode)
    np.testing.assert_allclose(g(xs), 2 * xs * xs[0] + (xs @ xs) * (np.arange(3) == 0))
    h = codegen.function([x], codegen.gradient.hessian(T.sum(x ** 3) + T.dot(x, x) * x[0], x),
                         mode=mode)
    want = np.diag(6 * xs) + 2 * np.eye(3) * xs[0]
    want[0, :] += 2 * xs
    want[:, 0] += 2 * xs
    np.testing.assert_allclose(h(xs), want, rtol=1e-12)


def test_alloc_fills_symbolic_shapes_with_its_gradient():
    x, b, s = T.matrix("x"), T.vector("b"), T.scalar("s")
    outs = [T.alloc(0.0, x.shape[0], 3), T.alloc(b, x.shape[1] * 2, b.shape[0]),
            T.alloc(s, 2, 1, x.shape[0])]
    X, B = np.ones((2, 3)), np.arange(4.0)
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        got = codegen.function([x, b, s], outs, mode=mode)(X, B, 5.0)
        np.testing.assert_array_equal(got[0], np.zeros((2, 3)))
        np.testing.assert_array_equal(got[1], np.broadcast_to(B, (6, 4)))
        np.testing.assert_array_equal(got[2], np.full((2, 1, 2), 5.0))
        assert got[2].shape == (2, 1, 2)
    assert T.alloc(s, 2, 1, x.shape[0]).broadcastable == (False, True, False)
    g = T.grad(T.sum(T.alloc(b, 3, b.shape[0]) * np.arange(4.0)), b)
    np.testing.assert_array_equal(codegen.function([b], g)(B), [0.0, 3.0, 6.0, 9.0])
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        with pytest.raises(ValueError, match="alloc: .*b"):
            codegen.function([b], T.alloc(b, 2, 5), mode=mode)(B)


@pytest.mark.parametrize("mode", MODES)
def test_minibatches_through_givens_as_the_tutorials_feed_them(mode):
    """``givens={x: train_set_x[index * bs:(index + 1) * bs]}``: the dataset stays in the
    module's state and the minibatch is a view of it; the steps match numpy's."""
    rng = np.random.RandomState(3)
    bs = 20
    data_x, data_y = rng.randn(100, 5), rng.randn(100, 3)
    train_set_x = codegen.shared(data_x, name="train_set_x")
    train_set_y = codegen.shared(data_y, name="train_set_y")
    W = codegen.shared(np.zeros((5, 3)), name="W")
    x, y, index = T.matrix("x"), T.matrix("y"), T.lscalar("index")
    cost = T.mean((T.dot(x, W) - y) ** 2)
    train = codegen.function([index], cost, updates=[(W, W - 0.1 * T.grad(cost, W))],
                             givens={x: train_set_x[index * bs:(index + 1) * bs],
                                     y: train_set_y[index * bs:(index + 1) * bs]}, mode=mode)
    w = np.zeros((5, 3))
    for step in range(12):
        i = step % 6  # minibatch 5 is past the end: empty, as numpy's slice
        xb, yb = data_x[i * bs:(i + 1) * bs], data_y[i * bs:(i + 1) * bs]
        e = xb @ w - yb
        expected = np.mean(e ** 2) if e.size else np.nan
        got = train(i)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
        if e.size:
            w = w - 0.1 * (2 * xb.T @ e / e.size)
        else:
            w = w * np.nan
        if i == 5:
            W.set_value(np.zeros((5, 3)))
            w = np.zeros((5, 3))
    np.testing.assert_allclose(W.get_value(), w, rtol=1e-12, atol=1e-14)
    if mode == "FAST_RUN":
        listing = codegen.printing.debugprint(train, file="str")
        assert "view   subtensor = train_set_x[(20 * index_v):(20 * (1 + index_v)), :]" \
            in listing and "copy" not in listing


@pytest.mark.parametrize("mode", MODES)
def test_symbolic_indices_out_of_range_name_the_op_and_line(mode):
    X = codegen.shared(np.arange(12.0).reshape(4, 3), name="X")
    i = T.iscalar("i")
    f = codegen.function([i], X[i] * 2, mode=mode)
    np.testing.assert_array_equal(f(-4), [0, 2, 4])
    for bad in (4, -5):
        with pytest.raises(IndexError, match=r"index .*out of bounds.*\n.*test_theano_api.py"):
            f(bad)


@pytest.mark.parametrize("mode", MODES)
def test_models_and_compiled_functions_pickle(mode, tmp_path):
    """The tutorials save the best model with pickle and load it to predict; a compiled
    function pickles with its shared values and is compiled again when loaded."""
    rng = np.random.RandomState(0)
    x, y = T.matrix("x"), T.ivector("y")
    W = codegen.shared(rng.randn(4, 3), name="W")
    b = codegen.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    model = {"input": x, "y_pred": T.argmax(p, axis=1), "params": [W, b]}
    train = codegen.function([x, y], cost, updates=[(q, q - 0.5 * T.grad(cost, q))
                                                     for q in (W, b)], mode=mode)
    xv, yv = rng.randn(6, 4), np.array([0, 1, 2, 0, 1, 2], dtype="int32")
    train(xv, yv)
    path = tmp_path / "best_model.pkl"
    with open(path, "wb") as f:
        pickle.dump((model, train), f)
    with open(path, "rb") as f:
        model2, train2 = pickle.load(f)
    predict = codegen.function([model2["input"]], model2["y_pred"], mode=mode)
    np.testing.assert_array_equal(predict(xv), np.argmax(xv @ W.get_value() + b.get_value(), 1))
    # the loaded function trains the loaded parameters, as the original trains its own
    expected = [float(train(xv, yv)) for _ in range(3)]
    got = [float(train2(xv, yv)) for _ in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(model2["params"][0].get_value(), W.get_value(), rtol=1e-12)
    assert train2.mode == mode and repr(train2).startswith("<codegen.Function")


@pytest.mark.parametrize("mode", MODES)
def test_hessians_through_integer_indexing_and_writes(mode):
    from codegen import gradient
    x, k = T.vector("x"), T.ivector("k")
    H = gradient.hessian(T.sum(x[k] ** 3) + T.sum(T.inc_subtensor(x[1:], x[:-1] * 2) ** 2), x)
    J = gradient.jacobian(T.concatenate([x ** 2, T.set_subtensor(x[k], 0.0) * x]), x)
    f = codegen.function([x, k], [H, J], mode=mode)
    xv, kv = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 2, 2], dtype="int32")
    h, j = f(xv, kv)
    # by hand: 6 x_i times the count of i in k on the diagonal, and the inc's quadratic form
    expected = np.diag(6 * xv * np.bincount(kv, minlength=4))
    A = np.eye(4) + 2 * np.eye(4, k=-1)  # y = A x
    expected += 2 * A.T @ A
    np.testing.assert_allclose(h, expected, rtol=1e-12)
    mask = np.ones(4)
    mask[kv] = 0
    np.testing.assert_allclose(j, np.vstack([np.diag(2 * xv), np.diag(2 * xv * mask)]),
                               rtol=1e-12)


def test_jacobian_of_an_op_without_a_batching_rule_takes_rows_one_by_one():
    """An op that says nothing about batches: the rows of a jacobian of known length are
    gradients taken one by one; of unknown length, a clear error."""
    from codegen import gradient
    from codegen.graph import Apply, Op

    class Twice(Op):
        def make_node(self, x):
            return Apply(self, [x], [x.type])

        def perform(self, node, values):
            return [values[0] * 2]

        def grad(self, node, output_grads):
            return [Twice()(output_grads[0])]  # the gradient graph holds the op too

        def infer_shape(self, node, input_shapes):
            return [input_shapes[0]]

    x = T.vector("x")
    J = gradient.jacobian(Twice()(x ** 2) * np.ones(3), x)
    f = codegen.function([x], J, mode="FAST_COMPILE")
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), np.diag([4.0, 8.0, 12.0]))
    with pytest.raises(NotImplementedError, match="does not support batching.*not known"):
        gradient.jacobian(Twice()(x ** 2), x)


def test_pydotprint_writes_the_graph(tmp_path):
    x, y = T.vector("x"), T.vector("y")
    f = codegen.function([x, y], T.sum(x * y) + 1, mode="FAST_COMPILE")
    path = str(tmp_path / "graph.dot")
    codegen.printing.pydotprint(f, outfile=path, format="dot", print_output_file=False)
    with open(path) as fh:
        text = fh.read()
    assert text.startswith("digraph G {") and "mul" in text and "sum" in text
    assert text.count("->") >= 5 and 'label="x"' in text


@pytest.mark.parametrize("mode", MODES)
def test_broadcast_patterns_as_scan_code_uses_them(mode):
    """A scan state built as a row must keep a matrix type: ``T.unbroadcast`` says so; an
    axis made broadcastable is checked at run time, naming the op and the user's line."""
    x, W = T.tensor3("x"), T.matrix("W")
    h0 = T.zeros((1, 3))
    with pytest.raises(TypeError):
        codegen.scan(lambda xt, h: T.tanh(xt + T.dot(h, W)), sequences=x, outputs_info=h0)
    hs, _ = codegen.scan(lambda xt, h: T.tanh(xt + T.dot(h, W)), sequences=x,
                         outputs_info=T.unbroadcast(h0, 0))
    f = codegen.function([x, W], [hs[-1], T.grad(T.sum(hs[-1]), W)], mode=mode)
    rng = np.random.default_rng(0)
    xv, Wv = rng.normal(size=(4, 1, 3)), rng.normal(size=(3, 3)) / 2
    h = np.zeros((1, 3))
    for t in range(4):
        h = np.tanh(xv[t] + h @ Wv)
    np.testing.assert_allclose(f(xv, Wv)[0], h, rtol=1e-12)

    m = T.matrix("m")
    col = T.addbroadcast(m, 1)
    assert col.broadcastable == (False, True)
    assert T.patternbroadcast(col, (False, False)).broadcastable == (False, False)
    assert T.unbroadcast(m, 0) is m and T.addbroadcast(col, 1) is col
    g = codegen.function([m], col * T.ones((1, 2)), mode=mode)
    np.testing.assert_array_equal(g(np.array([[1.0], [2.0]])), [[1, 1], [2, 2]])
    with pytest.raises(ValueError, match=r"(?s)axis 1 .*must be 1.*test_theano_api\.py"):
        g(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis 2"):
        T.addbroadcast(m, 2)


def test_clone_and_out_as_theano():
    x, y = T.vector("x"), T.vector("y")
    z = T.sum(x ** 2) + x
    w = codegen.clone(z, replace={x: y * 2})
    f = codegen.function([y], codegen.Out(w, borrow=True))
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [22.0, 24.0])
    a, b = codegen.clone([z, x * 3], replace=[(x, y)])
    assert codegen.function([y], b)(np.array([1.0]))[0] == 3.0
    fresh = codegen.clone(z, share_inputs=False)
    assert x not in codegen.graph.graph_inputs([fresh])
    with pytest.raises(TypeError, match="clone: x .* another type"):
        codegen.clone(z, replace={x: T.matrix("m")})
    J, H = T.jacobian(x ** 2, x), T.hessian(T.sum(x ** 3), x)
    j, h = codegen.function([x], [J, H])(np.array([1.0, 2.0]))
    np.testing.assert_allclose(j, np.diag([2.0, 4.0]))
    np.testing.assert_allclose(h, np.diag([6.0, 12.0]))


@pytest.mark.parametrize("mode", MODES)
def test_split_checks_its_lengths(mode):
    x = T.matrix("x")
    a, b = T.split(x, [1, 2], 2, axis=1)
    f = codegen.function([x], [a, b], mode=mode)
    v = np.arange(6.0).reshape(2, 3)
    got = f(v)
    np.testing.assert_array_equal(got[0], v[:, :1])
    np.testing.assert_array_equal(got[1], v[:, 1:])
    with pytest.raises(ValueError, match="specify_shape"):
        f(np.ones((2, 4)))
    with pytest.raises(ValueError, match="n_splits is 3"):
        T.split(x, [1, 2], 3)


def test_argmin_and_isclose_follow_numpy_at_the_edges():
    x = T.vector("x")
    i = T.lvector("i")
    f = codegen.function([x, i], [T.argmin(x), T.argmin(i), T.isclose(x, np.inf),
                                  T.isclose(x, x, equal_nan=True), T.isinf(x), T.isnan(x)])
    xv = np.array([3.0, np.nan, -np.inf, np.inf, -0.0])
    iv = np.array([5, np.iinfo(np.int64).min, 7])
    got = f(xv, iv)
    want = [np.argmin(xv), np.argmin(iv), np.isclose(xv, np.inf),
            np.isclose(xv, xv, equal_nan=True), np.isinf(xv), np.isnan(xv)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("mode", MODES)
def test_batch_normalization_as_theanos_bn_module_writes_it(mode):
    """theano.tensor.nnet.bn: the training form (batch statistics, running averages with
    the unbiased variance), the inference form and the plain one, in both parameter layouts
    (only the kept axes, or all of the inputs' with the normalized ones of length 1)."""
    from codegen.tensor.nnet import bn
    from codegen.tensor.nnet.bn import batch_normalization_test, batch_normalization_train
    rng = np.random.default_rng(0)
    x4, x2 = T.dtensor4("x4"), T.dmatrix("x2")
    g, b, rm, rv = T.dvectors("g", "b", "rm", "rv")
    G, B = T.dmatrices("G", "B")
    out, mean, invstd, new_mean, new_var = batch_normalization_train(
        x4, g, b, "spatial", 1e-3, 0.25, rm, rv)
    out2, mean2, invstd2 = batch_normalization_train(x2, G, B)
    f = codegen.function([x4, x2, g, b, rm, rv, G, B],
                         [out, mean, invstd, new_mean, new_var,
                          batch_normalization_test(x4, g, b, rm, rv, "spatial", 1e-3),
                          out2, mean2, invstd2,
                          T.nnet.batch_normalization(x2, T.addbroadcast(G, 0), T.addbroadcast(B, 0),
                                                     mean2, 1 / invstd2, "high_mem")],
                         mode=mode)
    xv4, xv2 = rng.normal(size=(5, 3, 4, 2)), rng.normal(size=(6, 3))
    gv, bv, rmv, rvv = (rng.uniform(0.5, 1.5, 3) for _ in range(4))
    Gv, Bv = rng.uniform(0.5, 1.5, (1, 3)), rng.uniform(-1, 1, (1, 3))
    got = f(xv4, xv2, gv, bv, rmv, rvv, Gv, Bv)
    c = (slice(None), None, None)
    mu, var = xv4.mean((0, 2, 3)), xv4.var((0, 2, 3))
    mu2, var2 = xv2.mean(0, keepdims=True), xv2.var(0, keepdims=True)
    want = [(xv4 - mu[c]) * gv[c] / np.sqrt(var[c] + 1e-3) + bv[c], mu, 1 / np.sqrt(var + 1e-3),
            rmv * 0.75 + mu * 0.25, rvv * 0.75 + var * 40 / 39 * 0.25,
            (xv4 - rmv[c]) * gv[c] / np.sqrt(rvv[c] + 1e-3) + bv[c],
            (xv2 - mu2) * Gv / np.sqrt(var2 + 1e-4) + Bv, mu2, 1 / np.sqrt(var2 + 1e-4),
            (xv2 - mu2) * Gv / np.sqrt(var2 + 1e-4) + Bv]
    for a, w in zip(got, want):
        assert a.shape == w.shape
        np.testing.assert_allclose(a, w, rtol=1e-12, atol=1e-12)
    assert bn.batch_normalization is T.nnet.batch_normalization
    with pytest.raises(ValueError, match="beta must have 1 dimensions"):
        batch_normalization_train(x2, g, G)
    with pytest.raises(ValueError, match="distinct axes"):
        batch_normalization_test(x2, g, b, rm, rv, axes=(0, 2))
    with pytest.raises(ValueError, match="both be given"):
        batch_normalization_train(x2, g, b, running_mean=rm)


def test_batch_normalization_gradients_match_finite_differences():
    from codegen.gradient import verify_grad
    from codegen.tensor.nnet.bn import batch_normalization_train
    rng = np.random.default_rng(1)

    def cost(x, g, b):
        out = batch_normalization_train(x, g, b, axes=(0, 2))[0]
        return out ** 2 * T.arange(4.0)
    assert verify_grad(cost, [rng.normal(size=(5, 3, 4)), rng.uniform(0.5, 1.5, 3),
                              rng.normal(size=3)], rng=np.random.RandomState(0))


@pytest.mark.parametrize("mode", MODES)
def test_arange_of_floats_follows_numpy(mode):
    x = T.dvector("x")
    cases = [(4.0,), (0.5, 2.9, 0.75), (3, 0, -0.5), (1.0, 1.0), (0, 1, 0.1)]
    f = codegen.function([x], [T.arange(*c) + x[0] for c in cases], mode=mode)
    for got, c in zip(f(np.zeros(1)), cases):
        np.testing.assert_allclose(got, np.arange(*c), rtol=1e-15, atol=1e-15)
        assert got.dtype == codegen.config.floatX
    with pytest.raises(ValueError, match="step must not be 0"):
        T.arange(0, 1.5, 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_clip_scale_and_disconnect_as_theano_gradient_has_them(mode):
    from codegen import gradient
    x = T.dvector("x")
    cost = T.sum(gradient.grad_clip(x, -1.0, 1.5) ** 2) + T.sum(gradient.grad_scale(x, 0.25) * 8) \
        + T.sum(gradient.disconnected_grad(x)) * T.sum(gradient.consider_constant(x) ** 2)
    f = codegen.function([x], [cost, T.grad(cost, x)], mode=mode)
    v = np.array([-2.0, 0.2, 3.0])
    value, g = f(v)
    np.testing.assert_allclose(value, (v ** 2).sum() + 8 * v.sum() + v.sum() * (v ** 2).sum())
    np.testing.assert_allclose(g, np.clip(2 * v, -1.0, 1.5) + 2.0)
    with pytest.raises(gradient.DisconnectedInputError, match="does not depend on x"):
        T.grad(T.sum(gradient.disconnected_grad(x)), x)
    with pytest.raises(TypeError, match="grad_clip: the bounds must be scalars"):
        gradient.grad_clip(x, x, 1.0)


def _neibs_reference(x, shape, step, mode):
    """images2neibs in numpy, patch by patch (Theano's loops)."""
    (nh, nw), (sh, sw) = shape, step
    d0, d1, h, w = x.shape
    if mode in ("half", "full"):
        ph, pw = (nh // 2, nw // 2) if mode == "half" else (nh - 1, nw - 1)
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        h, w = h + 2 * ph, w + 2 * pw
    if mode == "wrap_centered":
        starts = [(a - nh // 2, b - nw // 2) for a in range(0, h, sh) for b in range(0, w, sw)]
    else:
        starts = [(a, b) for a in range(0, h - nh + 1, sh) for b in range(0, w - nw + 1, sw)]
    rows = []
    for i in range(d0):
        for j in range(d1):
            for a, b in starts:
                rows.append([x[i, j, (a + p) % h, (b + q) % w]
                             for p in range(nh) for q in range(nw)])
    return np.array(rows)


@pytest.mark.parametrize("mode", MODES)
def test_images2neibs_and_back_as_theanos_neighbours(mode):
    from codegen.tensor.nnet.neighbours import images2neibs, neibs2images
    rng = np.random.default_rng(0)
    x = T.dtensor4("x")
    xs = T.TensorType("float64", (False,) * 4, shape=(None, 2, 7, 6))("xs")
    cases = [(x, (2, 3), None, "valid", (2, 3, 4, 6)), (x, (2, 2), None, "ignore_borders",
                                                          (2, 3, 5, 7)),
             (xs, (3, 2), (2, 1), "valid", (2, 2, 7, 6)),
             (xs, (2, 3), (2, 2), "ignore_borders", (2, 2, 7, 6)),
             (xs, (3, 3), (1, 2), "half", (2, 2, 7, 6)), (xs, (2, 3), (3, 3), "full", (2, 2, 7, 6)),
             (xs, (3, 5), (2, 3), "wrap_centered", (2, 2, 7, 6))]
    for var, shape, step, how, dims in cases:
        v = rng.normal(size=dims)
        out = images2neibs(var, shape, step, how)
        f = codegen.function([var], [out, T.grad(T.sum(out ** 2), var)], mode=mode)
        got, grad = f(v)
        want = _neibs_reference(v, shape, step or shape, how)
        np.testing.assert_array_equal(got, want)
        # each element's gradient: 2 x itself, once per patch it is in (0 if in none)
        index = np.arange(1, v.size + 1, dtype=float).reshape(dims)  # padding reads 0
        seen = _neibs_reference(index, shape, step or shape, how).ravel().astype(int)
        counts = np.bincount(seen, minlength=v.size + 1)[1:].reshape(dims)
        np.testing.assert_allclose(grad, 2 * v * counts, rtol=1e-14)
    # tiles back to images, the uncovered border as zeros
    v = rng.normal(size=(2, 3, 5, 7))
    patches = images2neibs(x, (2, 3), mode="ignore_borders")
    back = codegen.function([x], neibs2images(patches, (2, 3), x.shape, "ignore_borders"),
                            mode=mode)(v)
    keep = np.zeros_like(v)
    keep[:, :, :4, :6] = v[:, :, :4, :6]
    np.testing.assert_array_equal(back, keep)
    with pytest.raises(ValueError, match="must cover the image"):
        images2neibs(xs, (2, 4))
    with pytest.raises(NotImplementedError, match="must be known"):
        images2neibs(x, (2, 2), (1, 1))


@pytest.mark.parametrize("device", ["cpu", "cuda", "c"])
def test_a_shared_int_indexes_as_theano_programs_use_it(device, cuda_emulated, tmp_path):
    """An int scalar of the state (the RBM tutorial's bit_i_idx) is an index and a bound like
    an int argument: read once per call, before its update is written."""
    i = codegen.shared(np.int64(1), name="i")
    x = T.matrix("x")
    outs = [T.set_subtensor(x[:, i], 1 - x[:, i]), x[0, i:], i * 2]
    update = {i: (i + 1) % 3}
    v = np.arange(6.0).reshape(2, 3)
    if device == "c":
        from clib import CLibrary
        module = codegen.Module("state_index")
        module.add_function("f", [x], outs, updates=update)
        lib = CLibrary(module, str(tmp_path))
        lib.load()
        calls = [lib.call("f", v) for _ in range(4)]
        last = lib.get_value("i")
        lib.close()
    else:
        if device == "cuda":
            with cuda_emulated():
                f = codegen.function([x], outs, updates=update)
        else:
            f = codegen.function([x], outs, updates=update)
        calls = [[np.asarray(a) for a in f(v)] for _ in range(4)]
        last = i.get_value()
    for k, got in enumerate(calls):
        at = (1 + k) % 3
        flipped = v.copy()
        flipped[:, at] = 1 - v[:, at]
        np.testing.assert_array_equal(got[0], flipped)
        np.testing.assert_array_equal(got[1], v[0, at:])
        assert int(got[2]) == 2 * at
    assert int(last) == (1 + 4) % 3


def test_variables_are_true_but_comparisons_have_no_truth_value():
    """As in Theano: ``if not input:`` tests whether one was given; ``a < b < c`` fails."""
    x = T.vector("x")
    assert x and not (not T.exp(x))
    with pytest.raises(TypeError, match="symbolic comparison"):
        bool(x > 0)
    with pytest.raises(TypeError, match="symbolic comparison"):
        0 < x < 1


@pytest.mark.parametrize("mode", MODES)
def test_reductions_take_theanos_dtype_acc_dtype_and_ddof(mode):
    x, b, i = T.dmatrix("x"), T.bvector("b"), T.bvector("i")
    outs = [T.sum(x, 1, "float32"), x.mean(dtype="float32", acc_dtype="float64"),
            T.mean(b > 0, dtype="float64"), T.sum(i, acc_dtype="int64"), T.prod(i, dtype="int16"),
            x.var(axis=0, ddof=1), T.std(x, 1, 1, keepdims=True), T.var(x, None, 0, True)]
    assert [o.dtype for o in outs] == ["float32", "float32", "float64", "int64", "int16",
                                       "float64", "float64", "float64"]
    f = codegen.function([x, b, i], outs, mode=mode)
    xv = np.arange(12.0).reshape(3, 4) ** 1.5
    bv = np.array([1, -2, 3, 0, 5], dtype="int8")
    iv = np.array([100, 100, 100], dtype="int8")
    got = f(xv, bv, iv)
    want = [xv.sum(1).astype("float32"), np.float32(xv.mean()), 0.6,
            300, np.prod(iv, dtype="int16"),
            xv.var(0, ddof=1), xv.std(1, ddof=1, keepdims=True), xv.var(keepdims=True)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6 if g.dtype == "float32" else 1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_grids_and_batched_tensordot_follow_numpy(mode):
    x, y = T.dtensor3("x"), T.dtensor4("y")
    outs = T.mgrid[0:3, 1:7:2] + T.ogrid[0:2, 0:1.5:0.5] + [
        T.batched_tensordot(x, y, [[2], [3]]), T.batched_tensordot(x, x.dimshuffle(0, 2, 1), 1),
        T.batched_tensordot(x, x, [[1, 2], [1, 2]])]
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 3, 4))
    got = codegen.function([x, y], outs, mode=mode)(xv, yv)
    want = list(np.mgrid[0:3, 1:7:2]) + list(np.ogrid[0:2, 0:1.5:0.5]) + [
        np.einsum("bij,bklj->bikl", xv, yv), np.einsum("bij,bkj->bik", xv, xv),
        np.einsum("bij,bij->b", xv, xv)]
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12)
    with pytest.raises(ValueError, match="none the batch axis"):
        T.batched_tensordot(x, y, [[0], [1]])


def test_as_op_runs_python_in_the_reference_interpreter_and_says_so_elsewhere(tmp_path):
    from codegen.compile.ops import as_op

    @as_op(itypes=[T.dmatrix], otypes=[T.dvector])
    def row_medians(a):
        return np.median(a, axis=1)

    x = T.dmatrix("x")
    out = row_medians(x * 2) + 1
    v = np.arange(12.0).reshape(3, 4)
    want = np.median(v * 2, axis=1) + 1
    np.testing.assert_array_equal(codegen.function([x], out, mode="FAST_COMPILE")(v), want)
    with pytest.warns(UserWarning, match="reference interpreter.*as_op.row_medians.: it runs "
                                         "Python"):
        f = codegen.function([x], out)
    np.testing.assert_array_equal(f(v), want)
    module = codegen.Module("with_python")
    module.add_function("f", [x], out)
    with pytest.raises(NotImplementedError, match="runs Python, which compiled code cannot "
                                                  "call.*test_theano_api.py"):
        module.build(str(tmp_path))
    with pytest.raises(TypeError, match="input 0 must be"):
        row_medians(T.dvector("v"))
    with pytest.raises(NotImplementedError, match="no gradient"):
        T.grad(T.sum(out), x)
    assert codegen.compile.as_op is as_op


def test_print_shows_values_as_theanos_printing_print(capsys):
    x = T.dvector("x")
    shown = codegen.printing.Print("x is", attrs=("__str__", "shape"))(x)
    out = T.sum(shown * 2)
    with pytest.warns(UserWarning, match="Print.'x is'.: printing is Python"):
        f = codegen.function([x], [out, T.grad(out, x)])
    value, grad = f(np.array([1.0, 2.0]))
    assert float(value) == 6.0
    np.testing.assert_array_equal(grad, [2.0, 2.0])
    assert "x is __str__ = [1. 2.]\nx is shape = (2,)" in capsys.readouterr().out


@pytest.mark.parametrize("mode", MODES)
def test_h_softmax_as_theanos(mode):
    """Every output's probability (they sum to 1 where the classes hold exactly the
    outputs) and the targets' alone, against numpy; the gradient reaches every parameter."""
    rng = np.random.default_rng(0)
    B, n_in, n_classes, per = 4, 5, 3, 4
    x, target = T.dmatrix("x"), T.lvector("target")
    W1, b1 = codegen.shared(rng.normal(size=(n_in, n_classes))), codegen.shared(np.zeros(3))
    W2 = codegen.shared(rng.normal(size=(n_classes, n_in, per)))
    b2 = codegen.shared(rng.normal(size=(n_classes, per)))
    every = T.nnet.h_softmax(x, B, 10, n_classes, per, W1, b1, W2, b2)
    picked = T.nnet.h_softmax(x, B, 10, n_classes, per, W1, b1, W2, b2, target)
    grads = T.grad(-T.sum(T.log(picked)), [W1, b1, W2, b2])
    f = codegen.function([x, target], [every, picked] + grads, mode=mode)
    xv, tv = rng.normal(size=(B, n_in)), np.array([0, 9, 5, 7])

    def soft(a):
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    cls = soft(xv @ W1.get_value())
    within = soft(np.einsum("bi,cio->bco", xv, W2.get_value()) + b2.get_value())
    full = (cls[:, :, None] * within).reshape(B, -1)
    got = f(xv, tv)
    np.testing.assert_allclose(got[0], full[:, :10], rtol=1e-12)
    np.testing.assert_allclose(got[1], full[np.arange(B), tv], rtol=1e-12)
    np.testing.assert_allclose(full.sum(axis=1), 1.0)
    assert all(np.abs(g).sum() > 0 for g in got[2:])


def test_value_shaped_functions_compile_in_parts(tmp_path, cuda_emulated):
    """nonzero, flatnonzero, nonzero_values, repeat by counts, bincount and unique: numpy's
    values and errors, gradients through the gathers; compiled on the CPU and CUDA (their
    lengths sums that a first part computes, arguments of the next), with no warning; in a
    module too."""
    import contextlib
    import warnings
    x, i = T.dmatrix("x"), T.lvector("i")
    outs = [*T.nonzero(x), T.nonzero(x, return_matrix=True), T.flatnonzero(x),
            T.nonzero_values(x), T.repeat(x, i, axis=1), T.extra_ops.bincount(i),
            T.extra_ops.bincount(i, T.cast(i, "float64") * 0.5, minlength=6),
            *T.extra_ops.unique(i, True, True, True), T.extra_ops.Unique()(x),
            T.grad(T.sum(T.nonzero_values(x) ** 2), x)]
    cases = [(np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 3.0]]), np.array([2, 0, 2])),
             (np.array([[np.nan, 0.0, np.nan], [1.0, 1.0, -0.0]]), np.array([0, 1, 0])),
             (np.zeros((2, 3)), np.array([0, 0, 0])), (np.zeros((0, 0)), np.array([], "int64"))]
    for mode in ("FAST_COMPILE", "FAST_RUN", "cuda"):
        with cuda_emulated() if mode == "cuda" else contextlib.nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                f = codegen.function([x, i], outs, mode=mode.replace("cuda", "FAST_RUN"))
        for xv, iv in cases:
            want = [*np.nonzero(xv), np.array(np.nonzero(xv)), np.flatnonzero(xv), xv[xv != 0],
                    np.repeat(xv, iv, axis=1), np.bincount(iv), np.bincount(iv, iv * 0.5, 6),
                    *np.unique(iv, True, True, True), np.unique(xv), 2 * xv * (xv != 0)]
            for k, (g, w) in enumerate(zip(f(xv, iv), want)):
                assert g.shape == np.shape(w), (mode, k, g, w)
                np.testing.assert_array_equal(g, w)
        bad = T.extra_ops.bincount(i), T.repeat(x, i, axis=0)
        with cuda_emulated() if mode == "cuda" else contextlib.nullcontext():
            g = codegen.function([x, i], bad, mode=mode.replace("cuda", "FAST_RUN"))
        with pytest.raises(ValueError, match="bincount: the values must not be negative"):
            g(np.zeros((2, 1)), np.array([1, -1]))
        with pytest.raises(ValueError, match="repeat"):
            g(np.zeros((3, 1)), np.array([1, 2]))  # not a count per row
    module = codegen.Module("valued")
    module.add_function("f", [x], T.flatnonzero(x))
    from codegen.compile.module import load_module
    f = load_module(module.build(str(tmp_path))).f
    for xv, _ in cases:
        np.testing.assert_array_equal(f(xv), np.flatnonzero(xv))


@pytest.mark.parametrize("mode", MODES)
def test_searchsorted_compiles_as_numpys_with_nans_sorters_and_mixed_dtypes(mode,
                                                                           cuda_emulated):
    """searchsorted: a binary search per element, compiled on the CPU and CUDA (no fallback):
    each side, NaNs where numpy puts them, a sorter, an int vector searched for floats, an
    empty x, a 0-d v; a sorter of another length is numpy's ValueError."""
    import warnings
    E = T.extra_ops
    x, u, v = T.dvector("x"), T.dvector("u"), T.dmatrix("v")
    s, k = T.lvector("s"), T.lvector("k")
    outs = [E.searchsorted(x, v), E.searchsorted(x, v, side="right"),
            x.searchsorted(v[0, 1]), E.searchsorted(u, v, "right", sorter=s),
            E.searchsorted(k, v), E.searchsorted(k, v * 2, side="right")]
    rng = np.random.default_rng(5)
    vv = np.array([[-1.0, 2.0, 2.5], [np.nan, 3.0, 9.0]])
    kv = np.array([0, 2, 2, 5], dtype="int64")
    for device in ["cpu", "cuda"] if mode == "FAST_RUN" else ["cpu"]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if device == "cuda":
                with cuda_emulated():
                    f = codegen.function([x, u, v, s, k], outs, mode=mode)
            else:
                f = codegen.function([x, u, v, s, k], outs, mode=mode)
        for xv in ([1.0, 2.0, 2.0, 3.0, np.nan, np.nan], [2.0], [], [np.nan, np.nan]):
            xv = np.array(xv)
            uv = rng.permutation(xv)
            want = [np.searchsorted(xv, vv), np.searchsorted(xv, vv, "right"),
                    np.searchsorted(xv, vv[0, 1]),
                    np.searchsorted(uv, vv, "right", sorter=np.argsort(uv)),
                    np.searchsorted(kv, vv), np.searchsorted(kv, vv * 2, "right")]
            for g, w in zip(f(xv, uv, vv, np.argsort(uv), kv), want):
                np.testing.assert_array_equal(g, w)
                assert g.dtype == np.int64, device
        with pytest.raises(ValueError, match="sorter must be as long as x.*\\n.*test_theano_api"):
            f(np.arange(3.0), np.arange(3.0), vv, np.arange(2), kv)
    with pytest.raises(ValueError, match="searchsorted: x must be a vector"):
        E.searchsorted(v, x)
    with pytest.raises(ValueError, match="side must be 'left' or 'right'"):
        E.searchsorted(x, v, side="middle")


@pytest.mark.parametrize("mode", MODES)
def test_linear_algebra_compiles_and_a_singular_matrix_changes_no_state(mode):
    """Factor, solves, inverse and determinant compile (no fallback warning) in float32
    too; a matrix that stops the call leaves the shared state as it was."""
    from codegen.tensor import nlinalg, slinalg
    rng = np.random.default_rng(3)
    for dtype, tol in [("float64", 1e-12), ("float32", 2e-5)]:
        a, v = T.matrix("a", dtype=dtype), T.vector("v", dtype=dtype)
        w = codegen.shared(np.zeros(6, dtype), name="w")
        chol = slinalg.cholesky(a.dot(a.T))
        step = slinalg.solve_upper_triangular(chol.T, slinalg.solve_lower_triangular(chol, v))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            f = codegen.function([a, v], [nlinalg.det(a), nlinalg.matrix_inverse(a)],
                                 updates=[(w, w + step + slinalg.solve(a, v))], mode=mode)
        av = (rng.normal(size=(6, 6)) + 4 * np.eye(6)).astype(dtype)
        vv = rng.normal(size=6).astype(dtype)
        det, inv = f(av, vv)
        assert det.dtype == dtype and inv.dtype == dtype
        want = np.linalg.solve(av.astype(float) @ av.T, vv) + np.linalg.solve(av, vv)
        np.testing.assert_allclose(w.get_value(), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(det, np.linalg.det(av.astype(float)), rtol=tol * 10)
        np.testing.assert_allclose(inv, np.linalg.inv(av.astype(float)), rtol=tol, atol=tol)
        before = w.get_value()
        with pytest.raises(np.linalg.LinAlgError, match=r"(cholesky|solve|matrix_inverse): "
                           r"the matrix is (not positive definite|singular)\n  built at"):
            f(np.zeros((6, 6), dtype), vv)
        np.testing.assert_array_equal(w.get_value(), before)


def test_large_matrices_factorize_through_lapack():
    """Above LAPACK_MIN the CPU calls scipy's LAPACK (potrf, getrf/getrs, trtrs, the
    triangular a read in place by rows or by columns): the same results and errors as
    numpy's and scipy's, in float64 and float32."""
    import scipy.linalg

    from codegen.backends.linalg import LAPACK_MIN
    from codegen.tensor import nlinalg, slinalg
    n, rng = LAPACK_MIN + 24, np.random.default_rng(5)
    scale = float(2 * np.sqrt(n))  # the diagonal's size: a determinant near 1
    for dtype, tol in [("float64", 1e-9), ("float32", 2e-3)]:
        a, b, v = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.vector("v", dtype=dtype)
        chol = slinalg.cholesky(a.dot(a.T))
        f = codegen.function([a, b, v], [
            chol, slinalg.Cholesky(lower=False)(a.dot(a.T)), nlinalg.det(a / scale),
            nlinalg.matrix_inverse(a), slinalg.solve(a, b), slinalg.solve(a, v),
            slinalg.solve_lower_triangular(chol, b), slinalg.solve_upper_triangular(chol.T, v),
            slinalg.solve_upper_triangular(T.triu(a), v)])
        av = (rng.normal(size=(n, n)) + scale * np.eye(n)).astype(dtype)
        bv, vv = rng.normal(size=(n, 3)).astype(dtype), rng.normal(size=n).astype(dtype)
        x = av.astype(float)
        L = np.linalg.cholesky(x @ x.T)
        want = [L, L.T, np.linalg.det(x / scale), np.linalg.inv(x), np.linalg.solve(x, bv),
                np.linalg.solve(x, vv), scipy.linalg.solve_triangular(L, bv, lower=True),
                scipy.linalg.solve_triangular(L.T, vv), scipy.linalg.solve_triangular(
                    np.triu(x), vv)]
        for k, (got, w) in enumerate(zip(f(av, bv, vv), want)):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, w, rtol=tol, atol=tol * np.abs(w).max(),
                                       err_msg=str(k))
        for singular in [np.ones((n, n), dtype), np.zeros((n, n), dtype)]:
            with pytest.raises(np.linalg.LinAlgError, match="the matrix is"):
                f(singular, bv, vv)


def test_nlinalg_and_slinalg_as_theano_has_them():
    """Inverses, determinants, factorizations, solves and the matrix exponential against
    numpy and scipy, compiled (no fallback); the gradients of the inverse, the determinant,
    the Cholesky factor, the solves, the symmetric eigenproblem and expm against finite
    differences."""
    import warnings

    import scipy.linalg

    from codegen.gradient import verify_grad
    from codegen.tensor import nlinalg, slinalg
    rng = np.random.default_rng(0)
    a, b, v = T.dmatrix("a"), T.dmatrix("b"), T.dvector("v")
    av = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    spd = av @ av.T
    bv, vv = rng.normal(size=(4, 2)), rng.normal(size=4)
    outs = [nlinalg.matrix_inverse(a), nlinalg.MatrixInverse()(a), nlinalg.det(a),
            nlinalg.pinv(b), *nlinalg.eigh(b.dot(b.T)), nlinalg.svd(b, compute_uv=0),
            nlinalg.matrix_dot(a, a, b), nlinalg.matrix_power(a, 3), nlinalg.trace(a),
            slinalg.cholesky(a.dot(a.T)), slinalg.solve(a, b), slinalg.solve(a, v),
            slinalg.solve_lower_triangular(T.tril(a), v), slinalg.expm(a / 10),
            slinalg.Cholesky(lower=False)(a.dot(a.T))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = codegen.function([a, b, v], outs)
    w, q = np.linalg.eigh(bv @ bv.T)
    q = None  # two eigenvalues are 0: any basis of their plane (checked below)
    want = [np.linalg.inv(av), np.linalg.inv(av), np.linalg.det(av), np.linalg.pinv(bv), w, q,
            np.linalg.svd(bv, compute_uv=False), av @ av @ bv, np.linalg.matrix_power(av, 3),
            np.trace(av), np.linalg.cholesky(spd), np.linalg.solve(av, bv),
            np.linalg.solve(av, vv), scipy.linalg.solve_triangular(np.tril(av), vv, lower=True),
            scipy.linalg.expm(av / 10), np.linalg.cholesky(spd).T]
    got = f(av, bv, vv)
    for g, ww in zip(got, want):
        if ww is not None:
            np.testing.assert_allclose(g, ww, rtol=1e-10, atol=1e-12)
    vectors = got[5]
    np.testing.assert_allclose((bv @ bv.T) @ vectors, vectors * w, atol=1e-12)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(4), atol=1e-12)
    rs = np.random.RandomState(0)
    for cost, point in [(lambda x: nlinalg.matrix_inverse(x) * 3, av),
                        (lambda x: nlinalg.det(x), av),
                        (lambda x: slinalg.cholesky(x.dot(x.T)) * np.arange(16.0).reshape(4, 4),
                         av),
                        (lambda x, y: slinalg.solve(x, y), [av, bv]),
                        (lambda x, y: slinalg.solve_upper_triangular(T.triu(x), y), [av, vv]),
                        (lambda x: nlinalg.eigh(x)[1] ** 2 * np.arange(16.0).reshape(4, 4)
                         + nlinalg.Eigh("U")(x)[0], av),
                        (lambda x: slinalg.eigvalsh(x, lower=False) ** 3, av),
                        (lambda x: slinalg.expm(x / 4) * np.arange(16.0).reshape(4, 4), av)]:
        assert verify_grad(cost, point if isinstance(point, list) else [point], rng=rs)
    with pytest.raises(NotImplementedError, match="svd has no gradient"):
        T.grad(T.sum(nlinalg.svd(a, compute_uv=0)), a)
    with pytest.raises(NotImplementedError, match="qr has no gradient"):
        T.grad(T.sum(nlinalg.QRFull("r")(a)), a)
    with pytest.raises(TypeError, match="det: expected a matrix"):
        nlinalg.det(v)


@pytest.mark.parametrize("mode", MODES)
def test_repeat_by_counts_known_when_built_compiles(mode):
    x = T.dmatrix("x")
    out = T.repeat(x, [2, 0, 1], axis=1)
    f = codegen.function([x], [out, T.grad(T.sum(out * out), x),
                               T.repeat(x[0], np.array([1, 3, 0]))], mode=mode)
    xv = np.arange(6.0).reshape(2, 3)
    got, grad, flat = f(xv)
    np.testing.assert_array_equal(flat, [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(got, np.repeat(xv, [2, 0, 1], axis=1))
    np.testing.assert_array_equal(grad, 2 * xv * np.array([2, 0, 1]))
    with pytest.raises(ValueError):
        f(np.ones((2, 4)))  # one count per column


@pytest.mark.parametrize("mode", MODES)
def test_op_from_graph_as_theanos_documentation_uses_it(mode):
    """Theano's examples: the op called twice, a shared variable inside it, and a gradient
    overridden for one input (``fn(2, 3, 4) == [1, 8, 3]``)."""
    from codegen import OpFromGraph
    x, y, z = T.scalars("xyz")
    op = OpFromGraph([x, y, z], [x + y * z])
    f = codegen.function([x, y, z], op(x, y, z) + op(z, y, x), mode=mode)
    assert float(f(2.0, 3.0, 4.0)) == (2 + 12) + (4 + 6)
    s = codegen.shared(np.array([[0.5, 1.5], [2.5, 3.5]]), name="s")
    op = OpFromGraph([x, y, z], [x + y * z + s])
    f = codegen.function([x, y, z], op(x, y, z) + op(z, y, x), mode=mode)
    np.testing.assert_array_equal(f(2.0, 3.0, 4.0), 24 + 2 * s.get_value())

    def rescale_dy(inps, grads):
        x, y, z = inps
        (g,) = grads
        return z * 2
    op = OpFromGraph([x, y, z], [x + y * z], grad_overrides=["default", rescale_dy, "default"])
    grads = T.grad(op(x, y, z), [x, y, z])
    f = codegen.function([x, y, z], grads, mode=mode)
    assert [float(g) for g in f(2.0, 3.0, 4.0)] == [1.0, 8.0, 3.0]
    # the override's own line, as the rest of the gradient's
    assert "grad of grad_override{OpFromGraph}" in codegen.printing.debugprint(
        grads[1], file="str")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_op_from_graph_of_matrices_with_overrides_compiles(device, cuda_emulated):
    """Several outputs, a function of all the output gradients, an OpFromGraph as the
    override, None for no gradient: values and gradients against numpy, compiled on each
    backend and in the reference interpreter."""
    from codegen import OpFromGraph
    a, b = T.dmatrices("a", "b")
    pair = OpFromGraph([a, b], [T.dot(a, b), T.tanh(a) * 2], name="pair")
    surrogate = OpFromGraph([a, b, T.dmatrix("ga"), T.dmatrix("gb")], [a, b])
    flipped = OpFromGraph([a, b], [T.dot(a, b), T.tanh(a) * 2],
                          grad_overrides=lambda ins, gs: [-gs[0].dot(ins[1].T), None])
    swapped = OpFromGraph([a, b], [a + b, a * b], grad_overrides=surrogate)
    u, v = T.dmatrix("u"), T.dmatrix("v")
    p, q = pair(u, v)
    cost = T.sum(p * q) + T.sum(flipped(u, v)[0]) + T.sum(swapped(u, v)[1])
    outs = [p, q] + T.grad(cost, [u, v])
    rng = np.random.default_rng(3)
    uv = [rng.normal(size=(3, 3)), rng.normal(size=(3, 3))]
    if device == "cuda":
        with cuda_emulated():
            f = codegen.function([u, v], outs)
    else:
        f = codegen.function([u, v], outs)
    ref = codegen.function([u, v], outs, mode="FAST_COMPILE")
    un, vn = uv
    pn, qn = un @ vn, np.tanh(un) * 2
    # d sum(p*q)/du = q v^T + (p * 2 (1 - tanh^2)); flipped's override: -1 v^T; swapped's: u
    du = qn @ vn.T + pn * 2 * (1 - np.tanh(un) ** 2) - np.ones((3, 3)) @ vn.T + un
    dv = un.T @ qn + vn  # flipped gives v no gradient, swapped's override gives v
    for got in (f(*uv), ref(*uv)):
        for g, w in zip(got, [pn, qn, du, dv]):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-12)


def test_op_from_graph_refuses_what_theano_refuses():
    from codegen import OpFromGraph
    x, y = T.dvectors("x", "y")
    with pytest.raises(ValueError, match=r"depend on y \(TensorType\(float64, vector\)\)"):
        OpFromGraph([x], [x + y])
    with pytest.raises(TypeError, match="inputs\\[0\\].*free variable"):
        OpFromGraph([x * 2], [x])
    op = OpFromGraph([x], [x * 2], name="twice")
    with pytest.raises(TypeError, match="twice: expected 1 inputs, got 2"):
        op(x, y)
    with pytest.raises(TypeError, match="twice: input 0 .*must be TensorType\\(float64, "
                       "vector\\), got TensorType\\(float64, matrix\\)"):
        op(T.dmatrix())
    assert op([1, 2]).eval().tolist() == [2.0, 4.0]


def test_a_gradient_uses_every_input_of_its_cost_as_in_theano():
    """``grad(x + y * z, x)`` simplifies to the constant 1, yet a function returning it uses
    x, as Theano's does; an input nothing reaches is still refused."""
    x, y, z, w = T.dscalars("x", "y", "z", "w")
    f = codegen.function([x, y, z], T.grad(x + y * z, [x, y, z]))
    assert [float(g) for g in f(2.0, 3.0, 4.0)] == [1.0, 4.0, 3.0]
    with pytest.raises(ValueError, match="input 'w' is not used"):
        codegen.function([x, w], T.grad(x * 3, x))


@pytest.mark.parametrize("mode", MODES)
def test_extra_ops_index_and_window_functions_follow_numpy(mode, cuda_emulated):
    """unravel_index, ravel_multi_index (each mode; compiled, numpy's ValueError where an
    index is out of range), compress (each axis), bartlett and fill_diagonal_offset against
    numpy, with symbolic sizes and offsets, empty ones too."""
    import warnings

    from codegen.tensor import extra_ops as E
    i, a, b = T.lvectors("i", "a", "b")
    x, c = T.dmatrix("x"), T.bvector("c")
    M, off = T.lscalars("M", "off")
    xv = np.arange(12.0).reshape(3, 4)
    with warnings.catch_warnings():  # compiled: no fallback, no warning
        warnings.simplefilter("error")
        f = codegen.function([i, x, a, b], list(E.unravel_index(i, x.shape)) + list(
            E.unravel_index(i, (3, 4), order="F")) + [
            E.ravel_multi_index([a, b], (3, 4)),
            E.ravel_multi_index([a, b], (3, 4), mode="clip"),
            E.ravel_multi_index([a, b], x.shape, mode="wrap", order="F")], mode=mode)
    with warnings.catch_warnings():  # compress's length depends on the data: it falls back
        warnings.simplefilter("ignore")
        h = codegen.function([x, c], [E.compress(c, x, axis=0), E.compress(c, x),
                                      E.compress(c, x, axis=1)], mode=mode)
    want = [*np.unravel_index([0, 5, 11], (3, 4)), *np.unravel_index([0, 5, 11], (3, 4), "F"),
            np.ravel_multi_index(([1, 2], [3, 0]), (3, 4)),
            np.ravel_multi_index(([1, 2], [3, 0]), (3, 4), mode="clip"),
            np.ravel_multi_index(([1, 2], [3, 0]), (3, 4), mode="wrap", order="F")]
    for got, w in zip(f([0, 5, 11], xv, [1, 2], [3, 0]), want):
        np.testing.assert_array_equal(got, w)
    for got, w in zip(h(xv, [1, 0, 1]), [np.compress([1, 0, 1], xv, 0),
                                         np.compress([1, 0, 1], xv),
                                         np.compress([1, 0, 1], xv, 1)]):
        np.testing.assert_array_equal(got, w)
    clip = codegen.function([a, b], E.ravel_multi_index([a, b], (3, 4), mode="clip"), mode=mode)
    np.testing.assert_array_equal(clip([-1, 4], [3, -9]),
                                  np.ravel_multi_index(([-1, 4], [3, -9]), (3, 4), mode="clip"))
    for bad, what in [(([12], [1], [1]), "unravel_index: an index is out of bounds"),
                      (([-1], [1], [1]), "unravel_index: an index is out of bounds"),
                      (([0], [3], [1]), "ravel_multi_index: invalid entry in coordinates"),
                      (([0], [1], [-1]), "ravel_multi_index: invalid entry in coordinates")]:
        with pytest.raises(ValueError, match=what + ".*\\n.*test_theano_api.py"):
            f(bad[0], xv, bad[1], bad[2])
    if mode == "FAST_RUN":  # the CUDA kernels too, and their ValueError
        with cuda_emulated():
            g = codegen.function([i, a, b], [E.unravel_index(i, (3, 4))[1],
                                             E.ravel_multi_index([a, b], (3, 4), mode="wrap")])
        for got, w in zip(g([0, 5, 11], [1, -2], [3, 9]),
                          [[0, 1, 3], np.ravel_multi_index(([1, -2], [3, 9]), (3, 4), "wrap")]):
            np.testing.assert_array_equal(got, w)
        with pytest.raises(ValueError, match="unravel_index: an index is out of bounds"):
            g([12], [1], [1])
    with pytest.raises(TypeError, match="unravel_index: indices must be integers"):
        E.unravel_index(x, (3, 4))
    with pytest.raises(ValueError, match="ravel_multi_index: mode must be"):
        E.ravel_multi_index([a, b], (3, 4), mode="bounce")
    g = codegen.function([M, x, off], [E.bartlett(M), E.fill_diagonal_offset(x, 9.0, off)],
                         mode=mode)
    for m, o in [(-2, -4), (0, -3), (1, -2), (2, -1), (5, 0), (6, 1), (7, 3), (8, 4), (9, 6)]:
        window, filled = g(m, xv, o)
        np.testing.assert_allclose(window, np.bartlett(m), rtol=0, atol=1e-15)
        want = xv.copy()
        rows, cols = np.nonzero(np.eye(3, 4, o, dtype=bool))  # diagonal o of a 3 x 4 matrix
        want[rows, cols] = 9.0
        np.testing.assert_array_equal(filled, want)
    with pytest.raises(TypeError, match="dims must be a tuple"):
        E.unravel_index(i, T.lvector("d"))


@pytest.mark.parametrize("mode", MODES + ["cuda"])
def test_arange_of_symbolic_bounds_is_empty_when_they_cross(mode, cuda_emulated):
    """``arange(n)`` for n <= 0 and ``arange(lo, hi)`` for hi <= lo are empty, as numpy's."""
    n, lo = T.lscalars("n", "lo")
    outs = [T.arange(n), T.arange(lo, n), T.arange(2 * n + 1 - n)]
    if mode == "cuda":
        with cuda_emulated():
            f = codegen.function([n, lo], outs)
    else:
        f = codegen.function([n, lo], outs, mode=mode)
    for nv, lv in [(-3, 0), (-1, 2), (0, 0), (1, 3), (4, -2), (5, 5)]:
        for got, want in zip(f(nv, lv), [np.arange(nv), np.arange(lv, nv), np.arange(nv + 1)]):
            np.testing.assert_array_equal(got, want)


def test_fft_as_theanos_tensor_fft_has_it():
    """rfft and irfft of batches of 1-d and 2-d signals, odd and even lengths, each norm,
    compiled, against numpy; their gradients (compiled too) against finite differences;
    T.signal is the package."""
    import warnings

    from codegen.gradient import verify_grad
    from codegen.tensor import fft
    assert T.signal.pool.pool_2d is not None
    x, x3 = T.dmatrix("x"), T.dtensor3("x3")
    s3, s4 = T.dtensor3("s3"), T.dtensor4("s4")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 8)), rng.normal(size=(2, 5, 7))
    with warnings.catch_warnings():  # compiled: nothing left to the reference interpreter
        warnings.simplefilter("error")
        f = codegen.function([x, x3], [fft.rfft(x), fft.rfft(x3, norm="ortho")])
        g = codegen.function([s3, s4], [fft.irfft(s3), fft.irfft(s3, is_odd=True),
                                         fft.irfft(s4, norm="ortho", is_odd=True),
                                         fft.irfft(s3, norm="no_norm")])
        grads = codegen.function([x], T.grad(T.sum(fft.rfft(x) ** 3), x))
    assert f.executable.kind == g.executable.kind == grads.executable.kind == "cython"
    r1, r2 = f(a, b)
    np.testing.assert_allclose(r1[..., 0] + 1j * r1[..., 1], np.fft.rfft(a), atol=1e-12)
    np.testing.assert_allclose(r2[..., 0] + 1j * r2[..., 1],
                               np.fft.rfftn(b, axes=(1, 2), norm="ortho"), atol=1e-12)
    back, odd, back2, unscaled = g(r1, r2)
    np.testing.assert_allclose(back, a, atol=1e-12)
    np.testing.assert_allclose(odd, np.fft.irfft(np.fft.rfft(a), 9), atol=1e-12)
    np.testing.assert_allclose(back2, b, atol=1e-12)
    np.testing.assert_allclose(unscaled, a * 8, atol=1e-12)
    for n in (8, 7):
        spectrum = np.fft.rfft(rng.normal(size=(2, n)))
        verify_grad(fft.rfft, [rng.normal(size=(2, n))], rng=np.random.RandomState(1))
        verify_grad(lambda v: fft.rfft(v, norm="ortho"), [rng.normal(size=(2, 3, n))],
                    rng=np.random.RandomState(1))
        verify_grad(lambda v: fft.irfft(v, is_odd=n % 2 == 1),
                    [np.stack([spectrum.real, spectrum.imag], -1)], rng=np.random.RandomState(1))
    with pytest.raises(ValueError, match="norm must be"):
        fft.rfft(x, norm="unitary")
    with pytest.raises(TypeError, match="irfft: expected a batch of spectra"):
        fft.irfft(x)


def test_fft_compiles_for_any_length_on_the_cpu_and_cuda(cuda_emulated):
    """The compiled rfft and irfft (FFTs along each axis: radix 2 for powers of 2, else
    Bluestein's) agree with numpy for lengths 1, 2, primes, powers of 2 and others, signals
    of 1 to 3 dimensions, float32 too, and any spectrum given to irfft (numpy's c2r drops
    the imaginary parts at 0 and n / 2); on emulated CUDA, a thread per line, as well. An
    empty signal is an error, as numpy's."""
    from codegen.tensor import fft
    rng = np.random.default_rng(5)
    cases = [(2, 1), (3, 2), (2, 7), (2, 16), (1, 97), (2, 100), (2, 3, 5), (2, 4, 8, 6),
             (1, 1024)]
    for device in ("cpu", "cuda"):
        for shape in cases if device == "cpu" else [cases[i] for i in (1, 2, 6, 7)]:
            nd = len(shape)
            x, c = T.TensorType("float64", (False,) * nd)("x"), \
                T.TensorType("float64", (False,) * (nd + 1))("c")
            xf = T.TensorType("float32", (False,) * nd)("xf")
            with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
                f = codegen.function([x, xf, c], [fft.rfft(x), fft.rfft(xf),
                                                  fft.irfft(c, is_odd=shape[-1] % 2 == 1)])
            assert f.executable.kind == "cython"
            xv = rng.standard_normal(shape)
            s = np.fft.rfftn(xv, axes=tuple(range(1, nd)))
            cv = rng.standard_normal(s.shape + (2,))
            got = f(xv, xv.astype("float32"), cv)
            want = np.stack([s.real, s.imag], -1)
            np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12 * shape[-1])
            assert got[1].dtype == np.float32
            np.testing.assert_allclose(got[1], want, rtol=1e-5, atol=1e-5 * shape[-1])
            back = np.fft.irfftn(cv[..., 0] + 1j * cv[..., 1], s=xv.shape[1:],
                                 axes=tuple(range(1, nd)))
            np.testing.assert_allclose(got[2], back, rtol=1e-12, atol=1e-13)
    x3 = T.dtensor3("x3")  # the steps' scratch memory is no result DebugMode checks
    debug = codegen.function([x3], fft.irfft(fft.rfft(x3), is_odd=True), mode="DebugMode")
    xv = rng.standard_normal((2, 6, 7))
    np.testing.assert_allclose(debug(xv), xv, atol=1e-12)
    x = T.dmatrix("x")
    empty = codegen.function([x], fft.rfft(x))
    with pytest.raises(ValueError, match="rfft: the number of FFT points must be at least 1"):
        empty(np.zeros((1, 0)))


def _ctc_reference(acts, labels, lengths):
    """CTC costs as Graves et al. define them: softmax, then the forward recursion over the
    labels with blanks (0) around them, in probabilities, one example at a time."""
    costs = []
    for b in range(acts.shape[1]):
        a = acts[:lengths[b], b].astype(np.float64)
        p = np.exp(a - a.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        ext = [0]
        for label in labels[b][labels[b] >= 0]:
            ext += [int(label), 0]
        if len(a) == 0:
            costs.append(0.0 if len(ext) == 1 else np.inf)
            continue
        alpha = np.zeros(len(ext))
        alpha[:2] = p[0, ext[:2]]
        for step in range(1, len(a)):
            new = alpha.copy()
            new[1:] += alpha[:-1]
            for s in range(2, len(ext)):
                if ext[s] != 0 and ext[s] != ext[s - 2]:
                    new[s] += alpha[s - 2]
            alpha = new * p[step, ext]
        likelihood = alpha[-1] + (alpha[-2] if len(ext) > 1 else 0)
        costs.append(-np.log(likelihood) if likelihood > 0 else np.inf)
    return np.array(costs)


def test_ctc_as_theanos_nnet_ctc_has_it():
    """T.nnet.ctc.ctc (Theano's, which called warp-ctc): each example's cost as the forward
    recursion in probabilities gives it, padding (-1) ignored, input lengths honoured, inf
    where the labels cannot fit the steps; the gradient with respect to the activations
    against finite differences of that reference; float32 too; compiled."""
    acts, labels, lengths = T.tensor3("acts"), T.imatrix("labels"), T.ivector("lengths")
    cost = T.nnet.ctc.ctc(acts, labels, lengths)
    f = codegen.function([acts, labels, lengths], [cost, T.grad(T.sum(cost), acts)])
    a32 = T.tensor3("a32", dtype="float32")
    f32 = codegen.function([a32, labels, lengths], T.nnet.ctc.ctc(a32, labels, lengths))
    assert f.executable.kind == f32.executable.kind == "cython"
    rng = np.random.default_rng(2)
    av = rng.standard_normal((7, 4, 5))
    lv = np.array([[1, 2, 2, -1], [3, -1, -1, -1], [1, 2, 3, 4], [-1, -1, -1, -1]], np.int32)
    ln = np.array([7, 5, 7, 3], np.int32)
    got, grad = f(av, lv, ln)
    np.testing.assert_allclose(got, _ctc_reference(av, lv, ln), rtol=1e-12)
    numeric = np.zeros_like(av)
    for index in np.ndindex(av.shape):
        d = np.zeros_like(av)
        d[index] = 1e-6
        numeric[index] = (_ctc_reference(av + d, lv, ln).sum()
                          - _ctc_reference(av - d, lv, ln).sum()) / 2e-6
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    repeated = np.array([[1, 1, 1, 1]] * 4, np.int32)  # a blank between each: 7 steps
    ln2 = np.array([6, 7, 7, 7], np.int32)
    assert np.isinf(f(av, repeated, ln2)[0][0])
    np.testing.assert_allclose(f(av, repeated, ln2)[0], _ctc_reference(av, repeated, ln2))
    np.testing.assert_allclose(f32(av.astype("float32"), lv, ln),
                               _ctc_reference(av.astype("float32"), lv, ln), rtol=1e-5)
    with pytest.raises(TypeError, match="ctc: labels must be 2-d ints"):
        T.nnet.ctc.ctc(acts, acts[0], lengths)


@pytest.mark.parametrize("mode", MODES)
def test_xlogx_and_theanos_other_config_flags(mode):
    """T.xlogx's xlogx and xlogy0 are 0 where x is 0, with Theano's gradients; Theano's
    config.warn switches and optimizer flags are accepted (and checked)."""
    x, y = T.dvectors("x", "y")
    cost = T.sum(T.xlogx.xlogy0(x, y)) + T.sum(T.xlogx.xlogx(x) * 2)
    f = codegen.function([x, y], [T.xlogx.xlogx(x), T.xlogx.xlogy0(x, y)]
                         + T.grad(cost, [x, y]), mode=mode)
    xv, yv = np.array([0.0, 0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.5, 0.5, 2.0, np.inf])
    xlogx, xlogy, gx, gy = f(xv, yv)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(xlogx, np.where(xv == 0, 0, xv * np.log(xv)))
        np.testing.assert_array_equal(xlogy, np.where(xv == 0, 0, xv * np.log(yv)))
        np.testing.assert_allclose(gx[2:], np.log(yv[2:]) + 2 * (np.log(xv[2:]) + 1))
    # at x = 0: log y for y > 0 (Theano's), and 0 where log y is not finite (Theano: -inf)
    assert gx[1] == np.log(0.5) and gx[0] == 0 and gy.tolist()[1:] == [0.0, 1.0, 0.5, 0.0]
    codegen.config.warn.subtensor_merge_bug = False
    codegen.config.optimizer = "fast_compile"
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        codegen.config.optimizer = "fastest"


class _DoubleOp(codegen.Op):
    """The "Extending Theano" tutorial's op, as written there."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return codegen.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        z = output_storage[0]
        z[0] = x * 2

    def infer_shape(self, node, i0_shapes):
        return i0_shapes

    def grad(self, inputs, output_grads):
        return [output_grads[0] * 2]


class _AXPBOp(codegen.gof.Op):
    """The tutorial's op with parameters (``__props__``) and itypes/otypes."""
    __props__ = ("a", "b")
    itypes = [T.dmatrix]
    otypes = [T.dmatrix]

    def __init__(self, a, b):
        self.a, self.b = a, b

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = self.a * inputs[0] + self.b


def test_ops_written_as_theano_users_write_them():
    """theano.Op subclasses (make_node with Apply(self, inputs, [x.type()]) or itypes and
    otypes, perform(node, inputs, output_storage), grad(inputs, output_grads), __props__)
    run in the reference interpreter, differentiate, and say why a function using one is
    not compiled."""
    import warnings
    x = T.matrix("x")
    v = np.random.default_rng(0).random((5, 4))
    f = codegen.function([x], _DoubleOp()(x), mode="FAST_COMPILE")
    np.testing.assert_array_equal(f(v), 2 * v)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = codegen.function([x], T.grad(_DoubleOp()(x).sum() + T.tanh(x).sum(), x))
    assert any("_DoubleOp: it runs Python (its perform)" in str(w.message) for w in caught)
    np.testing.assert_allclose(g(v), 3 - np.tanh(v) ** 2, rtol=1e-12)
    assert _AXPBOp(2, 3) == _AXPBOp(2, 3) and _AXPBOp(2, 3) != _AXPBOp(2, 4)
    assert hash(_AXPBOp(2, 3)) == hash(_AXPBOp(2, 3))
    h = codegen.function([x], _AXPBOp(2, 3)(x), mode="FAST_COMPILE")
    np.testing.assert_array_equal(h(v), 2 * v + 3)
    with pytest.raises(TypeError, match="_AXPBOp: input 0 must be"):
        _AXPBOp(2, 3)(T.fvector())
    with pytest.raises(NotImplementedError, match="_AXPBOp defines no grad"):
        T.grad(_AXPBOp(2, 3)(x).sum(), x)

    class Forgets(codegen.Op):
        itypes, otypes = [T.dmatrix], [T.dmatrix]

        def perform(self, node, inputs, output_storage):
            pass
    with pytest.raises(ValueError, match=r"Forgets.perform set no value for output 0"):
        codegen.function([x], Forgets()(x), mode="FAST_COMPILE")(v)
    y = x.type()
    codegen.Apply(_AXPBOp(1, 1), [x], [y])
    with pytest.raises(ValueError, match="already the output of"):
        codegen.Apply(_AXPBOp(1, 1), [x], [y])
    assert isinstance(codegen.shared(v), T.sharedvar.TensorSharedVariable)
    assert isinstance(codegen.shared(v), codegen.compile.SharedVariable)


def test_models_dump_and_load_as_zip_files_of_arrays(tmp_path):
    """misc.pkl_utils: a model (shared variables, a plain array, a compiled function) into
    a zip file whose arrays are .npy members named after their shared variables; loaded
    back, the values and the function work."""
    import zipfile

    from codegen.misc import pkl_utils
    W = codegen.shared(np.arange(6.0).reshape(2, 3), name="W")
    b = codegen.shared(np.ones(3), name="b")
    other_b = codegen.shared(np.zeros(3), name="b")
    x = T.matrix("x")
    f = codegen.function([x], T.dot(x, W) + b, mode="FAST_COMPILE")
    path = tmp_path / "model.zip"
    with open(path, "wb") as out:
        pkl_utils.dump({"params": [W, b, other_b], "mean": np.full(2, 0.5), "f": f}, out)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["W.npy", "array_0.npy", "b.npy", "b_2.npy", "pkl"]
        with z.open("W.npy") as member:
            np.testing.assert_array_equal(np.load(member), W.get_value())
    with open(path, "rb") as f_in:
        model = pkl_utils.load(f_in)
    W2, b2, other2 = model["params"]
    np.testing.assert_array_equal(W2.get_value(), W.get_value())
    np.testing.assert_array_equal(other2.get_value(), np.zeros(3))
    np.testing.assert_array_equal(model["mean"], [0.5, 0.5])
    np.testing.assert_array_equal(model["f"](np.ones((1, 2))), [[4.0, 6.0, 8.0]])
    with pytest.raises(ValueError, match="belongs to no named shared variable"), \
            open(tmp_path / "x.zip", "wb") as out:
        pkl_utils.dump(np.ones(2), out, persistent_id=lambda z:
                       pkl_utils.PersistentSharedVariableID(z, allow_unnamed=False))


def test_tri_and_power_as_numpy():
    """T.tri (symbolic sizes, diagonals above and below, a dtype) and T.power, against
    numpy, compiled and in the reference interpreter."""
    n, m = T.iscalar("n"), T.iscalar("m")
    x = T.vector("x")
    outs = [T.tri(n), T.tri(n, m, 1), T.tri(n, m, -2, dtype="int8"), T.power(x, 3)]
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        got = codegen.function([n, m, x], outs, mode=mode)(4, 6, np.array([2.0, -1.5]))
        want = [np.tri(4), np.tri(4, 6, 1), np.tri(4, 6, -2, dtype="int8"),
                np.power([2.0, -1.5], 3)]
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)


def test_theano_grad_stays_the_function_after_a_compile():
    """``theano.grad`` is the function, also once a compile has imported the gradient
    machinery (a package once named codegen.grad replaced the attribute)."""
    x = T.dscalar("x")
    codegen.function([x], T.grad(x ** 2, x))
    assert callable(codegen.grad) and codegen.grad(x ** 3, x).eval({x: 2.0}) == 12.0


def test_install_as_theano_lets_libraries_import_theano():
    """A library's own ``import theano`` gets codegen's modules themselves; codegen's
    modules keep their names; what codegen lacks is missing under Theano's name too."""
    import subprocess
    import sys
    script = (
        "import codegen\n"
        "assert codegen.install_as_theano() is codegen\n"
        "import theano, theano.tensor as T\n"
        "from theano.tensor.nnet import conv2d\n"
        "from theano.tensor.signal import pool\n"
        "from theano.scan_module.scan_utils import equal_computations\n"
        "import codegen.tensor.nnet as nnet\n"
        "assert theano is codegen and T is codegen.tensor and conv2d is nnet.conv2d\n"
        "assert T.__spec__.name == 'codegen.tensor' and pool.__name__.startswith('codegen')\n"
        "x = T.dvector('x')\n"
        "assert theano.function([x], theano.grad(T.sum(x ** 2), x))([1.0, 2.0]).tolist() "
        "== [2.0, 4.0]\n"
        "from theano.sandbox.cuda import dnn\n"  # Theano without a GPU: there, unavailable
        "assert not theano.sandbox.cuda.cuda_available and not dnn.dnn_available()\n"
        "try:\n"
        "    import theano.sandbox.cuda.basic_ops\n"
        "except ImportError as exc:\n"
        "    print('missing:', exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "missing: No module named 'theano.sandbox.cuda.basic_ops'" in out.stdout


def test_shape_is_theanos_int_vector():
    """x.shape unpacks and indexes as a tuple, and is otherwise Theano's lvector:
    arithmetic is elementwise (not a tuple repeated or joined), a slice is a shape again,
    and the vector's methods apply."""
    x = T.tensor3("x")
    v = np.zeros((2, 3, 4))
    rows, cols, depth = x.shape
    f = codegen.function([x], [x.shape * 2, 2 * x.shape, x.shape[1:] + 1, x.shape.prod(),
                               x.shape - x.shape[0], rows * depth])
    got = f(v)
    assert [g.tolist() for g in got] == [[4, 6, 8], [4, 6, 8], [4, 5], 24, [0, 1, 2], 8]
    s = codegen.shared(np.zeros((5, 4, 5)))
    assert (s.shape.eval() == (5, 4, 5)).all() and x.shape.ndim == 1
    assert x.shape.dtype == "int64" and len(x.shape[1:]) == 2


def test_equal_computations_and_is_same_graph():
    x, y = T.dmatrices("x", "y")
    assert codegen.gof.graph.is_same_graph(T.exp(x) * 2 + 1, T.exp(x) * 2 + 1)
    assert not codegen.gof.graph.is_same_graph(T.exp(x), T.exp(y))
    assert codegen.gof.graph.is_same_graph(T.exp(x), T.exp(y), givens={x: y})
    assert not codegen.gof.graph.is_same_graph(T.exp(x), T.log(x))
    assert not codegen.gof.graph.is_same_graph(x * 2.0, x * 3.0)
    from codegen.scan_module.scan_utils import equal_computations
    deep_a, deep_b = x, x
    for _ in range(3000):  # deeper than Python's recursion limit
        deep_a, deep_b = deep_a + 1, deep_b + 1
    assert equal_computations([deep_a, x], [deep_b, x])
    assert not equal_computations([deep_a], [deep_b * 1])


def test_only_symbolic_tensors_are_TensorVariables():
    """As in Theano, a constant and a shared variable are not TensorVariables (Lasagne
    tells a user's expression from a parameter so), though they have its operators."""
    s, c, x = codegen.shared(np.zeros(3)), T.constant(2.0), T.dvector("x")
    assert isinstance(x, T.TensorVariable) and isinstance(x * 2, T.TensorVariable)
    assert not isinstance(s, T.TensorVariable) and not isinstance(c, T.TensorVariable)
    from codegen.tensor.var import _tensor_py_operators
    assert all(isinstance(v, _tensor_py_operators) for v in (s, c, x))
    assert ((s + 1) * c).eval().tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("mode", MODES)
def test_an_input_an_op_computes_cuts_the_graph(mode):
    """Theano's function([hidden], output) and output.eval({hidden: value}): the value given
    stands for what computed it."""
    x = T.dvector("x")
    hidden = T.exp(x) * 2
    out = hidden + 1
    f = codegen.function([hidden], [out, hidden], mode=mode)
    got = f(np.array([1.0, 2.0]))
    assert got[0].tolist() == [2.0, 3.0] and got[1].tolist() == [1.0, 2.0]
    assert out.eval({hidden: np.array([5.0])}).tolist() == [6.0]
    g = codegen.function([x, codegen.In(hidden, value=np.zeros(2))], out + x, mode=mode)
    assert g(np.ones(2)).tolist() == [2.0, 2.0] and g(np.ones(2), np.ones(2)).tolist() == \
        [3.0, 3.0]


def test_theanos_older_spellings():
    """stack(a, b, c); dot of an operand of three or more axes as numpy's; tensordot with
    axes given as arrays; a TensorType with a name of its own."""
    a, b = T.dvector("a"), T.dvector("b")
    assert T.stack(a, b, a).eval({a: [1.0, 2.0], b: [3.0, 4.0]}).tolist() == \
        [[1, 2], [3, 4], [1, 2]]
    assert T.stack([a, b], 1).eval({a: [1.0, 2.0], b: [3.0, 4.0]}).tolist() == \
        [[1, 3], [2, 4]]
    m, t3, t4 = T.dmatrix("m"), T.dtensor3("t3"), T.dtensor4("t4")
    rng = np.random.RandomState(0)
    mv, t3v, t4v = rng.rand(2, 3), rng.rand(4, 3, 5), rng.rand(3, 4, 5, 3)
    f = codegen.function([m, t3, t4], [T.dot(m, t3), T.dot(t4, t3),
                                       T.tensordot(t4, t3, np.array([[1, 2], [0, 2]]))])
    got = f(mv, t3v, t4v)
    np.testing.assert_allclose(got[0], np.dot(mv, t3v), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.dot(t4v, t3v), rtol=1e-12)
    np.testing.assert_allclose(got[2], np.tensordot(t4v, t3v, [[1, 2], [0, 2]]), rtol=1e-12)
    with pytest.raises(ValueError, match="dot: .* must equal"):  # 2 against 3: the product's
        f(mv, t3v, rng.rand(3, 4, 5, 2))
    ttype = T.TensorType("float64", (False, True), name="Column")
    assert repr(ttype) == "Column" and ttype == T.TensorType("float64", (False, True))
    assert ttype(name="c").type.name == "Column" and pickle.loads(pickle.dumps(ttype)) == ttype


@pytest.mark.parametrize("mode", MODES)
def test_set_subtensor_into_a_part_of_length_one(mode):
    """The part's length is 1 where the value's is known only as the function runs: the
    value's length is checked then (Theano's rule), and its gradient has the value's type."""
    y = T.dtensor3("y")
    z = T.set_subtensor(T.zeros((1, 2, 5))[:, :, :3], y)
    grad = T.grad((z * np.arange(10.0).reshape(1, 2, 5)).sum(), y)
    assert grad.type == y.type
    f = codegen.function([y], [z, grad], mode=mode)
    got = f(np.ones((1, 2, 3)))
    assert got[0].tolist() == [[[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]]
    assert got[1].tolist() == [[[0, 1, 2], [5, 6, 7]]]
    with pytest.raises(ValueError, match="set_subtensor"):
        f(np.ones((2, 2, 3)))


def test_scan_non_sequences_computed_outside_the_step_with_strict():
    """A non-sequence that is an expression of shared variables (Lasagne's stacked gate
    weights) is one input of the loop: strict=True accepts it, and the step does not
    recompute it."""
    w1, w2 = codegen.shared(np.eye(2), "w1"), codegen.shared(2 * np.eye(2), "w2")
    stacked = T.concatenate([w1, w2], axis=1)
    x = T.dmatrix("x")
    out, _ = codegen.scan(lambda xt, h, w: T.tanh(xt + T.dot(h, w)[:2]), sequences=x,
                          outputs_info=[T.zeros(2)], non_sequences=[stacked], strict=True)
    loop = out.owner.inputs[0].owner.op if out.owner.inputs[0].owner else out.owner.op
    inner = codegen.graph.graph_inputs(loop.inner_outputs)
    assert not any(v is w1 or v is w2 for v in inner)
    xv = np.random.RandomState(0).rand(3, 2)
    h, expected = np.zeros(2), []
    for row in xv:
        h = np.tanh(row + (h @ np.hstack([np.eye(2), 2 * np.eye(2)]))[:2])
        expected.append(h)
    np.testing.assert_allclose(codegen.function([x], out)(xv), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="strict=True, but the step uses w1"):
        codegen.scan(lambda xt, h: xt + T.dot(h, w1), sequences=x,
                     outputs_info=[T.zeros(2)], strict=True)


@pytest.mark.parametrize("mode", MODES)
def test_what_kerass_theano_backend_calls(mode):
    """Theano's spellings that Keras' Theano backend uses: a list holding slices as an index
    (old numpy's reading: a tuple), T.square, x.copy(name) (a new variable, gradient passing
    through), the array methods (sort, clip, nonzero, cumsum, ...), and the modules
    theano.tensor.nnet.nnet, .sigm and .conv."""
    x = T.matrix("x")
    copied = x.copy(name="x_copy")
    assert copied is not x and copied.name == "x_copy"
    outs = [x[[slice(None), slice(None, None, -1)]], T.square(x), copied * 2,
            T.grad(T.sum(copied * 3), x), x.sort(axis=0), x.argsort(), x.clip(1, 4),
            x.cumsum(axis=1), x.argmin(axis=1), x.any(), x.all(axis=0), x.ptp(axis=0),
            x.diagonal(), x.trace(), x.take([1, 0], axis=1), x.swapaxes(0, 1)]
    v = np.array([[3.0, 0.0, 5.0], [1.0, 4.0, 2.0]])
    want = [v[:, ::-1], v ** 2, v * 2, np.full_like(v, 3), np.sort(v, 0), np.argsort(v),
            v.clip(1, 4), v.cumsum(1), v.argmin(1), v.any(), v.all(0), np.ptp(v, 0),
            v.diagonal(), v.trace(), v.take([1, 0], 1), v.swapaxes(0, 1)]
    for got, expected in zip(codegen.function([x], outs, mode=mode)(v), want):
        np.testing.assert_array_equal(got, expected)
    rows, cols = x.nonzero()
    np.testing.assert_array_equal(codegen.function([x], [rows, cols], mode=mode)(v),
                                  np.nonzero(v))
    from codegen.tensor.nnet import conv, nnet, sigm
    assert nnet.softsign is T.nnet.softsign and sigm.hard_sigmoid is T.nnet.hard_sigmoid
    assert callable(conv.conv2d)


@pytest.mark.parametrize("mode", MODES)
def test_the_rest_of_theanos_tensor_methods(mode):
    """The methods of Theano's _tensor_py_operators not covered above: x.norm(L, axis) (a
    weight penalty's spelling), x.size, x.ravel(), x.conj() of a real tensor, x.zeros_like(),
    x.__dot__, x.searchsorted, x.choose, x.compress, x.get_scalar_constant_value()."""
    x, v = T.matrix("x"), T.vector("v")
    outs = [x.norm(2), x.norm(1, axis=0), x.norm(3, axis=1), x.size, x.ravel(),
            x.conj() * 1, x.conjugate() + 0, x.zeros_like(dtype="int32"), x.__dot__(x.T),
            v.__rdot__(x), T.cast(v, "int64").choose([v, v * 2, v * 3, v * 4, v * 5, v * 6]),
            T.sort(v).searchsorted(v, side="right"), v.compress(v > 2)]
    xv = np.array([[3.0, -1.0, 5.0], [1.0, 4.0, -2.0]])
    vv = np.array([2.0, 5.0, 1.0])
    want = [np.sqrt((xv ** 2).sum()), np.abs(xv).sum(0), (np.abs(xv) ** 3).sum(1) ** (1 / 3),
            6, xv.ravel(), xv, xv, np.zeros((2, 3), "int32"), xv @ xv.T, xv @ vv,
            vv.astype("int64").choose([vv, vv * 2, vv * 3, vv * 4, vv * 5, vv * 6]),
            np.searchsorted(np.sort(vv), vv, side="right"), vv[vv > 2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # compiled, as far as the mode compiles
        got = codegen.function([x, v], outs[:-2], mode=mode)(xv, vv)
    with warnings.catch_warnings():  # compress: compiled in two parts
        warnings.simplefilter("error")
        got += codegen.function([v], outs[-2:], mode=mode)(vv)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    assert got[7].dtype == np.int32
    assert T.constant(4.0).get_scalar_constant_value() == 4.0
    with pytest.raises(NotImplementedError, match="norm: L=inf"):
        x.norm(np.inf)


def test_mrg_normal_truncated_to_two_standard_deviations():
    """MRG_RandomStreams.normal(truncate=True) as Theano's: draws within two standard
    deviations of the mean, their standard deviation 0.87962 std (Keras' truncated_normal
    checks this); compiled and in the reference, the same draws."""
    from codegen.sandbox.rng_mrg import MRG_RandomStreams
    draws = MRG_RandomStreams(3).normal((300, 400), avg=1.0, std=2.0, truncate=True,
                                        dtype="float32")
    reference = draws.eval()  # the stream as it stands (the call then advances it)
    compiled = codegen.function([], draws)()
    np.testing.assert_allclose(compiled, reference, rtol=1e-5, atol=1e-5)
    assert compiled.dtype == np.float32
    assert -3.0 <= compiled.min() and compiled.max() <= 5.0
    assert abs(compiled.mean() - 1.0) < 0.01 and abs(compiled.std() / 2 - 0.87962) < 0.005


def test_topk_and_argtopk_as_theanos_sort_module():
    """T.topk / argtopk / topk_and_argtopk (theano.tensor.sort): the kth largest along an
    axis, largest first, or the -kth smallest, smallest first; the gradient goes back to
    where each element came from; compiled as in the reference."""
    from codegen.tensor.sort import topk_and_argtopk
    x = T.matrix("x")
    top, where = topk_and_argtopk(x, 3)
    low = T.topk(x, -2, axis=0)
    outs = [top, where, T.argtopk(x, 2, axis=None, idx_dtype="int32"), low,
            T.grad(T.sum(top ** 2) + T.sum(low), x)]
    v = np.random.default_rng(5).standard_normal((4, 6))
    want_where = np.argsort(v, axis=1)[:, :-4:-1]
    want_low = np.sort(v, axis=0)[:2]
    grad, lows = np.zeros_like(v), np.zeros_like(v)
    np.put_along_axis(grad, want_where, 2 * np.take_along_axis(v, want_where, 1), axis=1)
    np.put_along_axis(lows, np.argsort(v, axis=0)[:2], 1.0, axis=0)
    grad += lows
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        got = codegen.function([x], outs, mode=mode)(v)
        np.testing.assert_array_equal(got[1], want_where)
        np.testing.assert_allclose(got[0], np.take_along_axis(v, want_where, 1))
        np.testing.assert_array_equal(got[2], np.argsort(v, axis=None)[:-3:-1])
        assert got[2].dtype == np.int32
        np.testing.assert_allclose(got[3], want_low)
        np.testing.assert_allclose(got[4], grad)
    assert T.sort(x).ndim == 2  # the module loaded does not hide the function
    with pytest.raises(ValueError, match="kth must not be 0"):
        T.topk(x, 0)


def test_kron_norm_and_more_of_nlinalg_and_slinalg():
    """slinalg.kron (numpy's for matrices, with its gradient), nlinalg.norm of vectors and
    matrices, compiled; eig, eigvalsh (generalized too), lstsq, tensorinv, tensorsolve and
    solve_symmetric in the reference interpreter, as numpy and scipy compute them."""
    import scipy.linalg

    from codegen.tensor import nlinalg, slinalg
    rng = np.random.default_rng(6)
    a, b, v = T.matrix("a"), T.matrix("b"), T.vector("v")
    A, B, V = rng.standard_normal((3, 4)), rng.standard_normal((2, 5)), np.array([3.0, 0, -4])
    outs = [slinalg.kron(a, b), T.grad(T.sum(slinalg.kron(a, b) ** 2), a), nlinalg.norm(v),
            nlinalg.norm(v, "inf"), nlinalg.norm(v, -np.inf), nlinalg.norm(v, 0),
            nlinalg.norm(v, 3), nlinalg.norm(a), nlinalg.norm(a, "inf"), nlinalg.norm(a, -1)]
    got = codegen.function([a, b, v], outs)(A, B, V)
    np.testing.assert_allclose(got[0], np.kron(A, B))
    np.testing.assert_allclose(got[1], 2 * A * np.sum(B ** 2))
    np.testing.assert_allclose(got[2:], [5, 4, 0, 2, 91 ** (1 / 3), np.linalg.norm(A),
                                         np.linalg.norm(A, np.inf), np.linalg.norm(A, -1)])
    with pytest.raises(TypeError, match="sum to 3 or more"):
        slinalg.kron(v, v)
    with pytest.raises(ValueError, match="invalid order for a matrix"):
        nlinalg.norm(a, 2)

    s, t3, y = T.matrix("s"), T.tensor3("t3"), T.vector("y")
    S = A @ A.T + 3 * np.eye(3)
    f = codegen.function([s, a, y, t3], [*nlinalg.eig(s), slinalg.eigvalsh(s),
                                         slinalg.eigvalsh(s, s + T.eye(3)),
                                         *nlinalg.lstsq(a.T, y, -1), nlinalg.tensorinv(t3, 1),
                                         slinalg.solve_symmetric(s, y[:3]),
                                         nlinalg.tensorsolve(s, y[:3])], mode="FAST_COMPILE")
    Y, Ti = np.arange(4.0), rng.standard_normal((6, 2, 3))
    w, vecs, sym, gen, x, residuals, rank, sv, inv, solved, tsolved = f(S, A, Y, Ti)
    np.testing.assert_allclose(S @ vecs, vecs * w)
    np.testing.assert_allclose(sym, np.linalg.eigvalsh(S))
    np.testing.assert_allclose(gen, scipy.linalg.eigvalsh(S, S + np.eye(3)))
    want = np.linalg.lstsq(A.T, Y, rcond=-1)
    np.testing.assert_allclose(x, want[0])
    assert rank == want[2] == 3 and rank.dtype == np.int64
    np.testing.assert_allclose(sv, want[3])
    np.testing.assert_allclose(inv, np.linalg.tensorinv(Ti, 1))
    np.testing.assert_allclose(solved, np.linalg.solve(S, Y[:3]))
    np.testing.assert_allclose(tsolved, np.linalg.solve(S, Y[:3]))
    with pytest.raises(ValueError, match="complex"):
        codegen.function([s], nlinalg.eig(s), mode="FAST_COMPILE")(np.array([[0.0, -1],
                                                                             [1, 0]]))


def test_lstsq_compiles_as_numpys(cuda_emulated):
    """nlinalg.lstsq from the compiled svd, on the CPU and CUDA, as numpy's (gelsd): tall,
    wide, rank-deficient and empty matrices, a vector or a matrix b, rcond negative (machine
    epsilon) or not; the residuals only where a has full column rank and more rows (their
    length decided by the rank: a second compiled part)."""
    import contextlib
    import warnings

    from codegen.tensor import nlinalg
    a, b, y, r = T.dmatrix("a"), T.dmatrix("b"), T.dvector("y"), T.dscalar("r")
    outs = [*nlinalg.lstsq(a, y, r), *nlinalg.lstsq(a, b, r)]
    rng = np.random.default_rng(1)
    for device in ("cpu", "cuda"):
        with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                f = codegen.function([a, y, b, r], outs)
        assert "in 2 parts" in repr(f), f
        for shape, rcond in [((5, 3), -1), ((3, 5), -1), ((4, 4), 1e-10), ((6, 2), 0.5),
                             ((0, 3), -1)]:
            A = rng.standard_normal(shape)
            if shape == (4, 4):
                A[:, 3] = A[:, 0]  # rank 3
            Y, Bv = rng.standard_normal(shape[0]), rng.standard_normal((shape[0], 2))
            want = [*np.linalg.lstsq(A, Y, rcond=rcond), *np.linalg.lstsq(A, Bv, rcond=rcond)]
            for k, (g, w) in enumerate(zip(f(A, Y, Bv, rcond), want)):
                assert g.shape == np.shape(w), (device, shape, k, g, w)
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12,
                                           err_msg=f"{device} {shape} output {k}")


@pytest.mark.parametrize("mode", MODES)
def test_expm_by_scaling_and_squaring_as_scipy(mode, cuda_emulated):
    """slinalg.expm compiled (Pade 13 with scaling and squaring): scipy's values from 1-norms
    near 0 to a few hundred (no squaring to eight), float32 too, on the CPU and CUDA; a
    1-norm beyond what 64 squarings scale down is a ValueError naming the user's line."""
    import warnings

    import scipy.linalg

    from codegen.tensor import slinalg
    a, af = T.dmatrix("a"), T.fmatrix("af")
    rng = np.random.default_rng(4)
    for device in ["cpu", "cuda"] if mode == "FAST_RUN" else ["cpu"]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if device == "cuda":
                with cuda_emulated():
                    f = codegen.function([a, af], [slinalg.expm(a), slinalg.expm(af)], mode=mode)
            else:
                f = codegen.function([a, af], [slinalg.expm(a), slinalg.expm(af)], mode=mode)
        for scale in (0.0, 1e-3, 0.7, 4.0, 40.0):
            x = rng.standard_normal((5, 5)) * scale
            got, got32 = f(x, x.astype("float32"))
            want = scipy.linalg.expm(x)
            size = np.abs(want).max()  # errors relative to the norm, as the method's bound
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * max(1.0, scale) * size)
            assert got32.dtype == np.float32
            np.testing.assert_allclose(got32, want, rtol=0, atol=1e-5 * max(1.0, scale) * size)
        rotation = np.array([[0.0, -100.0], [100.0, 0.0]])  # 5 squarings, an exact answer
        np.testing.assert_allclose(
            f(rotation, np.eye(2, dtype="float32"))[0],
            [[np.cos(100.0), -np.sin(100.0)], [np.sin(100.0), np.cos(100.0)]], atol=1e-12)
        with pytest.raises(ValueError, match="expm: the matrix's 1-norm is beyond.*\\n.*"
                           "test_theano_api"):
            f(np.eye(2) * 1e21, np.eye(2, dtype="float32"))


def test_cholesky_reads_the_triangle_scipy_reads(cuda_emulated):
    """Cholesky(lower=True) reads the lower triangle, Cholesky(lower=False) the upper one (as
    scipy.linalg.cholesky): the other holds garbage; the gradient lies in the triangle read,
    in the reference interpreter, on the CPU and on CUDA."""
    import scipy.linalg

    from codegen.tensor import slinalg
    m = T.matrix("m")
    M = np.array([[4.0, 2, 1], [2, 5, 3], [1, 3, 6]])
    for lower, garbage, keep in ((True, np.triu, np.tril), (False, np.tril, np.triu)):
        factor = slinalg.Cholesky(lower=lower)(m)
        outs = [factor, T.grad(T.sum(factor ** 3), m)]
        given = keep(M) - 7 * garbage(np.ones((3, 3)), 1 if lower else -1)
        for device in ("reference", "cpu", "cuda"):
            if device == "cuda":
                with cuda_emulated():
                    f = codegen.function([m], outs)
            else:
                f = codegen.function([m], outs,
                                     mode="FAST_COMPILE" if device == "reference" else None)
            got, grad = f(given)
            np.testing.assert_allclose(got, scipy.linalg.cholesky(M, lower=lower), rtol=1e-14)
            assert np.all(garbage(grad, 1 if lower else -1) == 0), (device, grad)
            assert np.all(grad[keep(np.ones((3, 3))) == 1] != 0), (device, grad)


def test_tensorinv_tensorsolve_and_generalized_eigvalsh_compile_with_gradients(cuda_emulated):
    """tensorinv, tensorsolve (with axes) and the generalized eigvalsh (each triangle; the
    other one not read) are built from compiled reshapes, inverses, solves and Cholesky
    factors: no fallback on the CPU or CUDA, numpy's and scipy's values, gradients against
    finite differences, and numpy's LinAlgError for a b that is not positive definite."""
    import warnings

    import scipy.linalg

    from codegen.tensor import nlinalg, slinalg
    rng = np.random.default_rng(8)
    t4, a3, b2 = T.tensor4("t4"), T.tensor3("a3"), T.matrix("b2")
    s, m = T.matrix("s"), T.matrix("m")
    outs = [nlinalg.tensorinv(t4, 2), nlinalg.tensorinv(a3, 1),
            nlinalg.tensorsolve(a3, b2[0]), nlinalg.tensorsolve(a3.dimshuffle(2, 0, 1), b2[0],
                                                                 axes=(0,)),
            slinalg.eigvalsh(s, m), slinalg.eigvalsh(s, m, lower=False)]
    cost = sum(T.sum(o ** 2) for o in outs[2:])
    args = [t4, a3, b2, s, m]
    T4 = rng.standard_normal((2, 3, 6)).reshape(2, 3, 3, 2) + np.eye(6).reshape(2, 3, 3, 2)
    A3 = rng.standard_normal((6, 2, 3)) + 3 * np.eye(6).reshape(6, 2, 3)
    B2 = rng.standard_normal((2, 6))
    S, Mh = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    M = Mh @ Mh.T + 4 * np.eye(4)
    S_low, M_low = np.tril(S) + 9 * np.triu(np.ones((4, 4)), 1), np.tril(M) - np.triu(M, 1)
    values = [T4, A3, B2, S_low, M_low]
    sym = np.tril(S) + np.tril(S, -1).T
    want = [np.linalg.tensorinv(T4, 2), np.linalg.tensorinv(A3, 1),
            np.linalg.tensorsolve(A3, B2[0]),
            np.linalg.tensorsolve(A3.transpose(2, 0, 1), B2[0], axes=(0,)),
            scipy.linalg.eigvalsh(sym, M), scipy.linalg.eigvalsh(sym.T, M.T, lower=False)]
    upper = [T4, A3, B2, S_low.T, M_low.T]  # lower=False reads the transposes' triangles
    results, functions = {}, {}
    for device in ("cpu", "cuda"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # compiled: no fallback warning
            if device == "cuda":
                with cuda_emulated():
                    f = codegen.function(args, outs + [T.grad(cost, a3), T.grad(cost, s)])
            else:
                f = codegen.function(args, outs + [T.grad(cost, a3), T.grad(cost, s)])
        functions[device] = f
        got = results[device] = f(*values)
        for g, w in zip(got[:5], want[:5]):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f(*upper)[5], want[5], rtol=1e-10)
        with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
            f(T4, A3, B2, S_low, -M)
    for g, w in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    eps, got, f = 1e-6, results["cpu"], functions["cpu"]
    for k, grad in ((1, got[6]), (3, got[7])):
        numeric = np.zeros_like(values[k])
        for idx in np.ndindex(values[k].shape):
            total = []
            for sign in (1, -1):
                vs = [v.copy() for v in values]
                vs[k][idx] += sign * eps
                total.append(sum(np.sum(o ** 2) for o in f(*vs)[2:6]))
            numeric[idx] = (total[0] - total[1]) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_bessel_and_incomplete_gamma_functions_as_scipy_computes_them():
    """T.j0, j1, i0, i1, erfcx, gammainc, gammaincc, gammau, gammal and chi2sf compiled (no
    warning), jv and iv of real order in the reference interpreter (a function holding one
    says so and names it): scipy.special's values, their gradients with respect to x against
    finite differences, and none with respect to an order or k."""
    import warnings

    import scipy.special as sp
    x, k = T.vector("x"), T.vector("k")
    v, kv = np.array([0.3, 1.7, 4.2]), np.array([0.5, 2.0, 7.5])
    outs = [T.j0(x), T.j1(x), T.i0(x), T.i1(x), T.erfcx(x), T.gammainc(k, x),
            T.gammaincc(k, x), T.gammau(2.5, x), T.gammal(2.5, x), T.chi2sf(x, 3.0)]
    want = [sp.j0(v), sp.j1(v), sp.i0(v), sp.i1(v), sp.erfcx(v), sp.gammainc(kv, v),
            sp.gammaincc(kv, v), sp.gammaincc(2.5, v) * sp.gamma(2.5),
            sp.gammainc(2.5, v) * sp.gamma(2.5), sp.chdtrc(3, v)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # compiled: no fallback warning
        f = codegen.function([x, k], outs + [T.grad(T.sum(o), x) for o in outs])
    got = f(v, kv)
    np.testing.assert_allclose(got[:10], want, rtol=1e-12)
    eps = 1e-6
    numeric = (np.array(f(v + eps, kv)[:10]) - np.array(f(v - eps, kv)[:10])) / (2 * eps)
    np.testing.assert_allclose(got[10:], numeric, rtol=1e-6)
    # the gradients at x = 0 (j1's and i1's limit 1/2) and the float32 versions
    at0 = codegen.function([x], [T.grad(T.sum(T.j1(x) + T.i1(x) * 2), x)])(np.zeros(2))[0]
    np.testing.assert_allclose(at0, [1.5, 1.5])
    xf = T.fvector("xf")
    got32 = codegen.function([xf], [T.i0(xf), T.gammaincc(1.5, xf)])(v.astype("f4"))
    assert all(g.dtype == np.float32 for g in got32)
    np.testing.assert_allclose(got32, [sp.i0(v), sp.gammaincc(1.5, v)], rtol=1e-6)
    with pytest.raises(TypeError, match="gammainc has no gradient with respect to k"):
        T.grad(T.sum(T.gammainc(k, x)), k)
    with pytest.raises(TypeError, match="chi2sf has no gradient with respect to k"):
        T.grad(T.sum(T.chi2sf(x, k)), k)
    with pytest.warns(UserWarning, match="jv: it has no compiled form yet"):
        g = codegen.function([x], [T.jv(2.5, x), T.iv(1.5, x), T.grad(T.sum(T.jv(2.5, x)
                                                                             + T.iv(1.5, x)), x)])
    np.testing.assert_allclose(g(v)[:2], [sp.jv(2.5, v), sp.iv(1.5, v)], rtol=1e-12)
    numeric = (sum(g(v + eps)[:2]) - sum(g(v - eps)[:2])) / (2 * eps)
    np.testing.assert_allclose(g(v)[2], numeric, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="jv has no gradient with respect to its"):
        T.grad(T.sum(T.jv(x, x)), x)
    s, orders = T.dscalar("s"), np.array([0.5, 1.5, 2.5])  # x broadcast against the orders
    with pytest.warns(UserWarning):
        slope = codegen.function([s], T.grad(T.sum(T.jv(orders, s)), s))(1.3)
    assert slope == pytest.approx((sp.jv(orders, 1.3 + eps) - sp.jv(orders, 1.3 - eps)).sum()
                                  / (2 * eps), rel=1e-6)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_and_or_xor_invert_are_bitwise_on_integers_as_in_theano(mode):
    """&, |, ^ and ~ (T.and_, or_, xor, invert, and Theano's bitwise_* names): bitwise on
    integers in their common dtype, logical on booleans, as Theano's and numpy's; floats are
    a TypeError naming the op."""
    a, b, u = T.ivector("a"), T.bvector("b"), T.vector("u", dtype="uint8")
    m = T.vector("m", dtype="bool")
    A, B = np.array([6, 5], "int32"), np.array([3, -4], "int8")
    U, M = np.array([0, 200], "uint8"), np.array([True, False])
    outs = [a & b, a | b, a ^ b, ~a, T.bitwise_and(a, 1), ~b, ~u, ~m, m & (a > 5),
            (~u) // 2, T.bitwise_not(m), T.round_half_to_even(a * 0.5)]
    got = codegen.function([a, b, u, m], outs, mode=mode)(A, B, U, M)
    want = [A & B, A | B, A ^ B, ~A, A & 1, ~B, ~U, ~M, M & (A > 5), (~U) // 2, ~M,
            np.round(A * 0.5)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
    with pytest.raises(TypeError, match="and_: bitwise and logical operations take"):
        T.vector("x") & T.vector("y")


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_choose_as_numpy_with_its_modes_and_gradient(mode):
    """T.choose from a tensor's first axis or from a list of tensors broadcast together,
    modes 'raise', 'wrap' and 'clip' as numpy's, the gradient to the choices, and an index
    out of range (a negative one too) an IndexError under 'raise'."""
    a, c, x, y = T.imatrix("a"), T.tensor3("c"), T.matrix("x"), T.vector("y")
    A = np.array([[0, 2, 1], [1, 0, 3]], "int32")
    C = np.random.default_rng(0).standard_normal((4, 2, 3))
    X, Y = np.arange(6.0).reshape(2, 3), np.array([10.0, 20, 30])
    outs = [T.choose(a, c), T.choose(a, [x, y, 5.0, x * 2], mode="clip"),
            T.choose(a % 2, [x, y]), T.choose(a + 3, c, mode="wrap"),
            T.grad(T.sum(T.choose(a, c) ** 2), c)]
    got = codegen.function([a, c, x, y], outs, mode=mode)(A, C, X, Y)
    want = [np.choose(A, C), np.choose(A, [X, Y, 5.0, X * 2], mode="clip"),
            np.choose(A % 2, [X, Y]), np.choose(A + 3, C, mode="wrap")]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w)
    grad = np.zeros_like(C)
    np.add.at(grad, (A, np.arange(2)[:, None], np.arange(3)), 2 * np.choose(A, C))
    np.testing.assert_allclose(got[4], grad)
    chosen = codegen.function([a, c], T.choose(a, c), mode=mode)
    for bad in (A + 1, A - 1):
        with pytest.raises(IndexError, match="out of bounds"):
            chosen(bad, C)


def test_theanos_module_paths_import_what_programs_take_from_them():
    """The modules Theano programs import names from (only the import lines change):
    each holds codegen's object of that name, and the small functions among them compute
    what Theano's do."""
    import importlib

    import codegen.compile.mode as mode_module
    from codegen.graph import SharedVariable
    expected = {
        "codegen.compile.nanguardmode": {"NanGuardMode": mode_module.NanGuardMode},
        "codegen.compile.debugmode": {"DebugMode": mode_module.DebugMode},
        "codegen.compile.function_module": {"Function": codegen.Function},
        "codegen.compile.sharedvalue": {"SharedVariable": SharedVariable},
        "codegen.compile.io": {"In": codegen.In, "Out": codegen.Out},
        "codegen.tensor.type": {"TensorType": T.TensorType},
        "codegen.misc.safe_asarray": {}, "codegen.scan_module.scan_op": {},
        "codegen.tensor.elemwise": {}, "codegen.tensor.subtensor": {}, "codegen.tensor.opt": {},
        "codegen.gof.graph": {}, "codegen.gof.utils": {}, "codegen.configparser": {},
        "codegen.updates": {}, "codegen.tensor.nnet.conv3d2d": {},
    }
    for name, names in expected.items():
        module = importlib.import_module(name)
        for attr, obj in names.items():
            assert getattr(module, attr) is obj, (name, attr)
    x, y = T.dvector("x"), T.dvector("y")
    z = T.exp(x) * 2 + y
    from codegen.gof import graph
    assert graph.inputs([z])[0] is x and y in graph.inputs([z])
    assert len(graph.io_toposort([x, y], [z])) == 3 and z in graph.ancestors([z])
    (x2, y2), (z2,) = graph.clone([x, y], [z])
    assert x2 is not x and codegen.function([x2, y2], z2)([0.0], [1.0])[0] == 3.0
    from codegen.tensor.elemwise import Elemwise
    assert isinstance(z.owner.op, Elemwise)
    from codegen.scan_module.scan_op import Scan
    from codegen.updates import OrderedUpdates
    w = codegen.shared(np.zeros(2), name="w")
    out, updates = codegen.scan(lambda a: a * 2, sequences=[x])
    assert any(isinstance(n.op, Scan) for n in graph.io_toposort([x], [out]))
    assert isinstance(updates, OrderedUpdates)
    merged = OrderedUpdates([(w, w + 1)]) + [(codegen.shared(1.0), T.constant(2.0))]
    assert list(merged)[0] is w
    with pytest.raises(TypeError, match="must be a shared variable"):
        OrderedUpdates()[x] = y
    with codegen.change_flags(floatX="float32"):
        assert codegen.config.floatX == "float32" and T.scalar().dtype == "float32"
    assert codegen.config.floatX == "float64"
    from codegen.misc.safe_asarray import _asarray
    assert _asarray([1, 2], "float32").dtype == np.float32
    from codegen.tensor.subtensor import advanced_inc_subtensor1, set_subtensor
    idx = T.lvector("idx")
    f = codegen.function([x, y, idx], [advanced_inc_subtensor1(x, y, idx), set_subtensor(x[0], 7)])
    got = f([0.0, 0.0, 0.0], [1.0, 2.0], [2, 2])
    np.testing.assert_array_equal(got[0], [0, 0, 3])
    np.testing.assert_array_equal(got[1], [7, 0, 0])
    assert T.get_scalar_constant_value(T.constant(3) * 2 + 1) == 7
    with pytest.raises(T.NotScalarConstantError):
        T.get_scalar_constant_value(x.shape[0])
    p = T.lvector("p")
    m = T.dmatrix("m")
    f = codegen.function([m, p], [T.inverse_permutation(p), T.permute_row_elements(m, p),
                                  T.rad2deg(T.deg2rad(m))])
    inv, permuted, back = f(np.arange(6.0).reshape(2, 3), [2, 0, 1])
    np.testing.assert_array_equal(inv, [1, 2, 0])
    np.testing.assert_array_equal(permuted, [[2, 0, 1], [5, 3, 4]])
    np.testing.assert_allclose(back, np.arange(6.0).reshape(2, 3))


def test_conv3d2d_is_a_true_convolution_of_movies():
    """conv3d2d.conv3d: signals (batch, time, channels, rows, columns) convolved with filters
    flipped along time, rows and columns, summed over channels (scipy's convolve)."""
    from scipy import signal

    from codegen.tensor.nnet import conv3d2d
    movie, kernels = T.TensorType("float64", (False,) * 5)("s"), \
        T.TensorType("float64", (False,) * 5)("w")
    rng = np.random.RandomState(0)
    sv, wv = rng.randn(2, 5, 3, 6, 7), rng.randn(4, 2, 3, 3, 2)
    for mode in ("valid", "full"):
        got = codegen.function([movie, kernels], conv3d2d.conv3d(movie, kernels,
                                                                  border_mode=mode))(sv, wv)
        want = np.stack([np.stack([sum(signal.convolve(sv[b, :, c], wv[o, :, c], mode=mode)
                                       for c in range(3)) for o in range(4)], axis=1)
                         for b in range(2)])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(NotImplementedError, match="border_mode"):
        conv3d2d.conv3d(movie, kernels, border_mode="half")


def test_assert_passes_its_value_through_and_stops_the_call_on_cpu_and_cuda(cuda_emulated):
    """theano.tensor.opt.Assert: the value passes through (its gradient too) while the
    conditions hold; where one does not, the call stops with AssertionError naming the
    message and the user's line, and changes no state: compiled on the CPU and CUDA, as in
    the reference interpreter. T.all / T.any of no elements are True / False, as numpy's."""
    import warnings

    from codegen.tensor.opt import Assert
    x = T.dvector("x")
    for device in ("reference", "cpu", "cuda"):
        w = codegen.shared(np.ones(2), name="w")
        checked = Assert("x must be nonnegative")(x, T.all(x >= 0), T.any(x > 0))
        cost = T.sum(checked ** 2 * w)
        outs = [cost, T.grad(cost, x)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # compiled: no fall back to the reference
            if device == "cuda":
                with cuda_emulated():
                    f = codegen.function([x], outs, updates=[(w, w + 1)])
            else:
                f = codegen.function([x], outs, updates=[(w, w + 1)],
                                     mode="FAST_COMPILE" if device == "reference" else None)
        got = f([1.0, 2.0])
        assert float(got[0]) == 5.0
        np.testing.assert_array_equal(got[1], [2.0, 4.0])
        for bad in ([-1.0, 2.0], [0.0, 0.0]):
            with pytest.raises(AssertionError, match="x must be nonnegative") as err:
                f(bad)
            assert "test_theano_api.py" in str(err.value), device
            np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
    empty = codegen.function([x], [T.all(x > 0), T.any(x > 0)])(np.zeros(0))
    assert [bool(v) for v in empty] == [True, False]
    # inside a scan's step, the loop stops at the iteration whose condition fails
    out, _ = codegen.scan(lambda a, acc: acc + Assert("a must be below 5")(a, T.lt(a, 5)),
                          sequences=[x], outputs_info=[T.constant(0.0, dtype="float64")])
    loop = codegen.function([x], out[-1])
    assert float(loop([1.0, 2.0, 3.0])) == 6.0
    with pytest.raises(AssertionError, match="a must be below 5"):
        loop([1.0, 7.0, 3.0])


class _TakeOp(codegen.Op):
    """An op of a float and an int input whose grad says, as Theano ops do, that the int's
    gradient is undefined and that the float's is not implemented (``implemented=False``)."""
    __props__ = ("implemented",)

    def __init__(self, implemented=True):
        self.implemented = implemented

    def make_node(self, x, i):
        x, i = T.as_tensor_variable(x), T.as_tensor_variable(i)
        return codegen.Apply(self, [x, i], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.roll(inputs[0], int(inputs[1]))

    def grad(self, inputs, output_grads):
        from codegen import gradient
        x, i = inputs
        gx = (_RollBack()(output_grads[0], i) if self.implemented
              else gradient.grad_not_implemented(self, 0, x, "roll it back"))
        return [gx, gradient.grad_undefined(self, 1, i)]


class _RollBack(codegen.Op):
    __props__ = ()

    def make_node(self, g, i):
        return codegen.Apply(self, [T.as_tensor_variable(g), T.as_tensor_variable(i)],
                             [T.as_tensor_variable(g).type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.roll(inputs[0], -int(inputs[1]))

    def grad(self, inputs, output_grads):
        from codegen import gradient
        return [gradient.DisconnectedType()(), gradient.DisconnectedType()()]


def test_ops_say_which_gradients_are_undefined_as_theano_ops_do():
    """grad_undefined / grad_not_implemented / DisconnectedType()() from an op's grad: an
    error naming the op and the input only where a gradient asked for needs it."""
    from codegen import gradient
    x, y, i = T.dvector("x"), T.dvector("y"), T.lscalar("i")
    w = np.arange(4.0)
    cost = T.sum(_TakeOp()(x, i) * w) + T.sum(y ** 2)
    gx, gy = T.grad(cost, [x, y])  # the int's undefined gradient is not asked for
    f = codegen.function([x, y, i], [gx, gy], mode="FAST_COMPILE")
    got = f(np.ones(4), np.ones(2), 1)
    np.testing.assert_array_equal(got[0], np.roll(w, -1))
    np.testing.assert_array_equal(got[1], [2.0, 2.0])
    broken = T.sum(_TakeOp(implemented=False)(T.exp(x), i)) + T.sum(y ** 2)
    T.grad(broken, y)  # x's gradient is not needed
    with pytest.raises(gradient.NullTypeGradError,
                       match=r"with respect to x is undefined: the gradient of _TakeOp with "
                             r"respect to its input 0 .* is not implemented. roll it back"):
        T.grad(broken, x)
    i_float = T.dscalar("f")
    with pytest.raises(gradient.NullTypeGradError, match="input 1 .* mathematically undefined"):
        T.grad(T.sum(_TakeOp()(x, i_float)), i_float)
    assert isinstance(gradient.disconnected_type, gradient.DisconnectedType)


def test_verify_grad_failure_is_theanos_gradient_error():
    from codegen import gradient

    class _WrongGrad(_DoubleOp):
        def grad(self, inputs, output_grads):
            return [output_grads[0] * 3]

    with pytest.raises(gradient.GradientError, match="input 0: max relative error") as caught:
        gradient.verify_grad(lambda v: _WrongGrad()(v), [np.array([0.5, 1.5])])
    assert caught.value.arg == 0 and caught.value.abs_err > 0.5
    assert isinstance(caught.value, AssertionError)


def test_ceil_intdiv_and_the_compile_modules_names():
    from codegen.compile import get_mode, pfunc, shared
    from codegen.compile.pfunc import pfunc as pfunc_of_module
    a, b = T.lvector("a"), T.lvector("b")
    num, den = np.array([7, -7, 6, 0, 7, -6]), np.array([2, 2, 3, 5, -2, -4])
    for mode in MODES:
        got = codegen.function([a, b], T.ceil_intdiv(a, b), mode=mode)(num, den)
        np.testing.assert_array_equal(got, -(-num // den))
    assert pfunc is pfunc_of_module and get_mode("FAST_COMPILE").name == "FAST_COMPILE"
    w = shared(np.ones(2), name="w")
    f = pfunc([codegen.In(a, value=np.array([3]))], a * 2, updates={w: w + 1})
    np.testing.assert_array_equal(f(), [6])
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
