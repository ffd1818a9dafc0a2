"""Functions a module cannot hold, compiled in parts (codegen.compile.parts): lengths a step
computes (those of nonzero, unique, ...), an op with no compiled form between compiled parts,
on the CPU and emulated CUDA, against the reference interpreter running the same graph;
state, errors, pickling."""

import contextlib
import pickle
import warnings

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.tensor.shared_randomstreams import RandomStreams

X = np.array([[0.5, -1.0, 2.0], [-3.0, 0.25, 1.0], [1.5, 2.0, -0.5], [0.0, 0.0, 0.0]])


def _masked_model():
    """A step of a model whose cost reads the rows a nonzero picks and the unique values of a
    rounded activation (two ops of data-dependent length), with dropout drawn before them and
    W updated by the gradient: (x, W, streams, outputs, updates)."""
    x = T.matrix("x")
    W = codegen.shared(np.linspace(-1.0, 1.0, 9).reshape(3, 3), name="W")
    srng = RandomStreams(7)
    h = T.tanh(T.dot(x, W)) * srng.binomial((3,), p=0.8, dtype=x.dtype)
    rows = T.nonzero(T.gt(h.sum(axis=1), 0))[0]
    cost = T.sum(h[rows] ** 2) + T.extra_ops.Unique()(T.round(h * 4)).shape[0]
    return x, W, srng, [cost, rows], [(W, W - 0.1 * T.grad(cost, W))]


def _run(make, x_value, calls=3):
    x, W, srng, outs, updates = _masked_model()
    f = make(x, outs, updates)
    got = [f(x_value) for _ in range(calls)]
    return f, got, W.get_value()


def test_data_length_ops_compile_in_parts(cuda_emulated):
    """nonzero and unique in a training step (their lengths sums a step computes, then
    arguments of the next part): compiled, no warning, as the interpreter computes them; on
    CUDA a call may leave its outputs on the device (outputs='device')."""
    def reference(x, outs, updates):
        return codegen.function([x], outs, updates=updates, mode="FAST_COMPILE")
    ref, want, want_W = _run(reference, X)
    next_want = ref(X)
    for device in ("cpu", "cuda"):
        def compiled(x, outs, updates):
            with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    return codegen.function([x], outs, updates=updates)
        f, got, W = _run(compiled, X)
        assert "in 2 parts" in repr(f) and "reference" not in repr(f), f
        for g, w in zip(got, want):
            np.testing.assert_allclose(g[0], w[0], rtol=1e-12)
            np.testing.assert_array_equal(g[1], w[1])
        np.testing.assert_allclose(W, want_W, rtol=1e-12)
        if device == "cuda":
            on_device = f(X, outputs="device")
            assert all(type(o).__name__ == "DeviceArray" for o in on_device), on_device
            np.testing.assert_allclose(on_device[0].get(), next_want[0], rtol=1e-12)
            np.testing.assert_array_equal(on_device[1].get(), next_want[1])


def test_an_op_with_no_compiled_form_runs_between_compiled_parts(cuda_emulated):
    """A Python op (as_op) in a training step: the interpreter runs it, the graph before and
    after it compiled; a warning names it."""
    from codegen.compile.ops import as_op

    @as_op(itypes=[T.dmatrix], otypes=[T.dmatrix])
    def doubled_rows(m):
        return np.repeat(m, 2, axis=0)

    x = T.dmatrix("x")
    W = codegen.shared(np.linspace(-1.0, 1.0, 9).reshape(3, 3), name="W")
    h = T.tanh(T.dot(x, W))
    cost = T.sum(h ** 2)
    shown = T.exp(doubled_rows(h * 2)).sum(axis=1)
    outs, updates = [cost, shown], [(W, W - 0.1 * T.grad(cost, W))]
    ref = codegen.function([x], outs, updates=updates, mode="FAST_COMPILE")
    want = [ref(X) for _ in range(2)]
    want_W = W.get_value()
    for device in ("cpu", "cuda"):
        W.set_value(np.linspace(-1.0, 1.0, 9).reshape(3, 3))
        with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
            with pytest.warns(UserWarning, match="reference interpreter.*doubled_rows.*the "
                                                 "rest is compiled"):
                f = codegen.function([x], outs, updates=updates)
        assert "in 2 parts and the reference interpreter" in repr(f), f
        assert "part 1: reference interpreter: as_op{doubled_rows}: it runs Python" in \
            f.debug_text(), \
            f.debug_text()
        source = f.executable.source  # each compiled part's, the interpreted node named
        assert source.count("# part ") == 3 and "def _impl_function_part2" in source, \
            source[:2000]
        for g, w in zip([f(X) for _ in range(2)], want):
            np.testing.assert_allclose(g[0], w[0], rtol=1e-12)
            np.testing.assert_allclose(g[1], w[1], rtol=1e-12)
        np.testing.assert_allclose(W.get_value(), want_W, rtol=1e-12)


def test_lengths_a_step_computes_are_arguments_of_the_next_part(cuda_emulated):
    """Lengths computed by steps, one from another's result (three parts), a reshape by one,
    a loop's number of steps: compiled without a warning, as the interpreter computes them."""
    x = T.vector("x")
    n = T.argmax(x) + 1
    first = T.arange(n) * x[0]
    m = T.cast(T.sum(first), "int64")  # known only once the first part ran
    second = T.ones((m, 2)).reshape((2, m)).sum(axis=0)
    steps, _ = codegen.scan(lambda acc: acc * 2, outputs_info=T.constant(1.0), n_steps=n)
    outs = [first, second, steps]
    ref = codegen.function([x], outs, mode="FAST_COMPILE")
    for device in ("cpu", "cuda"):
        with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                f = codegen.function([x], outs)
        assert "in 3 parts" in repr(f), f  # m needs first, which needs n
        for value in ([1.0, 3.0, 2.0], [2.0, 0.0, 1.0, 5.0], [1.0]):
            value = np.array(value, dtype=x.dtype)
            for g, w in zip(f(value), ref(value)):
                np.testing.assert_array_equal(g, w)


def test_a_failed_call_changes_no_state():
    """An error in a part after others ran (an index out of range in the last part) leaves the
    shared values and the random state as they were, and the next call goes on from them."""
    x, i = T.vector("x"), T.lscalar("i")
    acc = codegen.shared(np.zeros(3), name="acc")
    srng = RandomStreams(11)
    noise = srng.normal((3,))
    picked = T.extra_ops.Unique()(x)[i]  # fails for i past the unique values
    f = codegen.function([x, i], picked, updates=[(acc, acc + noise + picked)])
    ref = codegen.function([x, i], picked, updates=[(acc, acc + noise + picked)],
                           mode="FAST_COMPILE")
    value = np.array([3.0, 1.0, 3.0])
    f(value, 1)
    before = acc.get_value()
    with pytest.raises(IndexError, match="out of bounds"):
        f(value, 5)
    np.testing.assert_array_equal(acc.get_value(), before)
    f(value, 0)
    got = acc.get_value()
    acc.set_value(np.zeros(3))
    srng.seed(11)
    ref(value, 1), ref(value, 0)
    np.testing.assert_allclose(got, acc.get_value(), rtol=1e-12)


def test_a_function_in_parts_pickles_and_copies():
    x, W, srng, outs, updates = _masked_model()
    f = codegen.function([x], outs, updates=updates)
    g = pickle.loads(pickle.dumps(f))  # W and the random state as they are now
    assert "parts" in repr(g), g
    a, b = f(X), g(X)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_array_equal(a[1], b[1])
    before = W.get_value()
    h = f.copy()  # its own copies of the shared values
    h(X)
    np.testing.assert_array_equal(W.get_value(), before)


def test_the_compiled_data_length_ops_agree_with_numpy_on_random_values():
    """One compiled function, many random inputs (lengths from 0 up, zeros, repeats, NaNs,
    negative zeros, ints and floats): every output as numpy's, dtype and shape included."""
    x, f32, i, c = T.dmatrix("x"), T.fvector("f32"), T.lvector("i"), T.lvector("c")
    outs = [*T.nonzero(x), T.nonzero_values(x), T.flatnonzero(f32),
            *T.extra_ops.unique(f32, True, True, True), *T.extra_ops.unique(i, True, True, True),
            T.extra_ops.bincount(i), T.extra_ops.bincount(i, f32, minlength=4),
            T.repeat(f32, c), T.extra_ops.compress(T.lt(i, 2), x, axis=1)]
    f = codegen.function([x, f32, i, c], outs)
    rng = np.random.default_rng(2026)
    for trial in range(150):
        n = int(rng.integers(0, 7))
        x_value = rng.choice([0.0, -0.0, 1.0, 2.5, np.nan, -3.0], size=(int(rng.integers(0, 4)), n))
        floats = rng.choice([0.0, 1.0, -1.0, np.nan, 0.5], size=n).astype("float32")
        ints = rng.integers(0, 5, size=n)
        counts = rng.integers(0, 3, size=n)
        want = [*np.nonzero(x_value), x_value[x_value != 0], np.flatnonzero(floats),
                *np.unique(floats, True, True, True), *np.unique(ints, True, True, True),
                np.bincount(ints), np.bincount(ints, floats, 4), np.repeat(floats, counts),
                np.compress(ints < 2, x_value, axis=1)]
        got = f(x_value, floats, ints, counts)
        for k, (g, w) in enumerate(zip(got, want)):
            w = np.ravel(w) if k in (6, 10) else w  # the inverse: flat, as Theano's
            # bincount with float32 weights is float32 (the weights' dtype), numpy's float64
            assert g.shape == w.shape and (g.dtype == w.dtype or k == 13), (trial, k, g, w)
            np.testing.assert_array_equal(g, w, err_msg=f"trial {trial}, output {k}")


def test_profile_times_each_parts_steps_and_the_interpreted_nodes():
    from codegen.compile.ops import as_op

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def sorted_copy(v):
        return np.sort(v)

    x = T.dvector("x")
    out = T.exp(sorted_copy(T.flatnonzero(x) * 1.0 + x[0])).sum()
    with pytest.warns(UserWarning, match="sorted_copy"):
        f = codegen.function([x], out, profile=True)
    assert "in 3 parts and the reference interpreter" in repr(f), f
    for value in ([0.0, 2.0, 3.0], [1.0, 0.0, 3.0]):
        np.testing.assert_allclose(f(np.array(value)), np.exp(np.flatnonzero(value)
                                                              + value[0]).sum())
    timed = {key: f.profile.apply_callcount[key] for key in f.profile.apply_time}
    assert any(k.startswith("part0.") for k in timed) and \
        any(k.startswith("part3.") for k in timed), timed
    assert [n for k, n in timed.items() if "as_op{sorted_copy}" in k] == [2], timed


def _until_powers():
    """The Theano tutorial's loop ending on a condition: the powers of two up to ``limit``."""
    limit = T.dscalar("limit")
    powers, _ = codegen.scan(
        lambda p, lim: (p * 2, codegen.scan_module.until(p * 2 > lim)),
        outputs_info=T.constant(1.0), non_sequences=limit, n_steps=1024)
    return limit, powers


def test_a_module_holds_functions_in_parts(tmp_path, cuda_emulated):
    """``codegen build`` of functions a module plans in parts (a training step reading
    nonzero's rows and unique's count, random draws and updates; a loop ending on a
    condition): each a function of the module calling its parts in order, as the reference
    interpreter computes them, on the CPU and emulated CUDA; the parts are not in its API."""
    from codegen.compile.module import load_module
    limit, powers = _until_powers()
    ref_loop = codegen.function([limit], powers, mode="FAST_COMPILE")
    _, want, want_W = _run(lambda x, outs, updates: codegen.function(
        [x], outs, updates=updates, mode="FAST_COMPILE"), X)
    for device in ("cpu", "cuda"):
        x, W, srng, outs, updates = _masked_model()
        m = codegen.Module(f"in_parts_{device}")
        m.add_function("step", [x], outs, updates=updates)
        m.add_function("powers", [limit], powers)
        m.add_function("plain", [x], x * 2)
        m.add_function("rows", [x], T.sum(W[T.flatnonzero(x[0] > 0)]))  # reads the state
        with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
            mod = load_module(m.build(str(tmp_path / device)))
        assert "computed in 2 parts (step_part0, step_part1)" in mod.step.__doc__, \
            mod.step.__doc__
        assert set(mod.__codegen__["signature"]) == {"step", "powers", "plain", "rows"}
        assert not hasattr(mod, "step_part0") and not hasattr(mod, "_impl_step_part0")
        for w in want:
            g = mod.step(X)
            np.testing.assert_allclose(g[0], w[0], rtol=1e-12)
            np.testing.assert_array_equal(g[1], w[1])
        np.testing.assert_allclose(mod.get_value("W"), want_W, rtol=1e-12)
        np.testing.assert_allclose(mod.rows(X), want_W[np.flatnonzero(X[0] > 0)].sum(),
                                   rtol=1e-12)
        for value in (0.5, 1.0, 100.0, 1e300):
            np.testing.assert_array_equal(mod.powers(value), ref_loop(value))
        np.testing.assert_array_equal(mod.plain(X), 2 * X)


def test_a_modules_function_in_parts_failing_changes_no_state(tmp_path):
    """An index out of range in the last part: the module's state (shared value and random
    state) is as before, and the next call goes on from it as the interpreter does."""
    from codegen.compile.module import load_module
    x, i = T.vector("x"), T.lscalar("i")
    acc = codegen.shared(np.zeros(3), name="acc")
    srng = RandomStreams(11)
    picked = T.extra_ops.Unique()(x)[i]
    updates = [(acc, acc + srng.normal((3,)) + picked)]
    m = codegen.Module("in_parts_failing")
    m.add_function("f", [x, i], picked, updates=updates)
    mod = load_module(m.build(str(tmp_path)))
    ref = codegen.function([x, i], picked, updates=updates, mode="FAST_COMPILE")
    value = np.array([3.0, 1.0, 3.0])
    assert mod.f(value, 1) == ref(value, 1) == 3.0
    before = mod.state()
    with pytest.raises(IndexError, match="out of bounds"):
        mod.f(value, 5)
    for name, array in mod.state().items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
    mod.f(value, 0), ref(value, 0)
    np.testing.assert_allclose(mod.get_value("acc"), acc.get_value(), rtol=1e-12)


def test_what_a_module_cannot_hold_in_parts_is_a_clear_error(tmp_path):
    from codegen.backends.c import write_library
    from codegen.compile.ops import as_op
    from codegen.lower.lowering import NotCompiled

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def sorted_copy(v):
        return np.sort(v)

    x = T.dvector("x")
    m = codegen.Module("with_python")
    m.add_function("f", [x], sorted_copy(x * 2) + 1)
    with pytest.raises(NotCompiled, match=r"f: as_op\{sorted_copy\}.*a module cannot run it"):
        m.sources()
    m = codegen.Module("in_parts_c")
    m.add_function("f", [x], T.nonzero_values(x) * 2)
    with pytest.raises(NotCompiled, match="the C library cannot hold f: .* in parts"):
        write_library(m.name, m.functions(), str(tmp_path))
    m.add_function("f_part1", [x], x)
    with pytest.raises(NotCompiled, match="function 'f_part1' of its own already: rename"):
        m.sources()


def test_a_function_with_computed_lengths_is_one_module_calling_its_parts():
    """codegen.function of a graph in which a step computes a length: one module (one build,
    one graph-cache entry) whose function calls its parts in order; profile=True times each
    part's steps; DebugMode's comparison, which reads one program's arrays, compiles each
    part as a module of its own."""
    from codegen.compile.mode import DebugMode
    x = T.dvector("x")
    out = T.sum(T.nonzero_values(x) ** 2) + T.extra_ops.Unique()(x).shape[0]
    value = np.array([0.0, 2.0, -1.0, 2.0, 0.0])
    want = 4.0 + 1.0 + 4.0 + 3
    f = codegen.function([x], out, profile=True)
    # both lengths (nonzero's, unique's) come from the first part
    assert len(f.executable.parts) == 2 and "cython in 2 parts" in repr(f), f
    assert "part 0: " in f.debug_text() and "part 1: " in f.debug_text(), f.debug_text()
    assert float(f(value)) == want
    timed = {key: f.profile.apply_callcount[key] for key in f.profile.apply_time}
    assert {k.split(".")[0] for k in timed} == {"part0", "part1"}, timed
    g = codegen.function([x], out, mode=DebugMode(compare=True))
    assert "in 2 parts" in repr(g) and float(g(value)) == want
    assert len({p.executable.module for p in g.executable.parts}) == 2
