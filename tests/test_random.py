"""Random streams: Philox4x32-10 against its published answers, the same draws on every
backend and thread count, Theano's default updates, seeding, and the draws' statistics."""

import os
import subprocess
import sys

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.ops.random import philox
from codegen.sandbox.rng_mrg import MRG_RandomStreams
from codegen.tensor.shared_randomstreams import RandomStreams


@pytest.mark.parametrize("ctr, key, expected", [
    # Random123's known-answer vectors (kat_vectors, philox4x32 10 rounds)
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
])
def test_philox_known_answers(ctr, key, expected):
    e = np.array([ctr[0] | ctr[1] << 32], dtype=np.uint64)
    words = philox(e, ctr[2] | ctr[3] << 32, key[0] | key[1] << 32)
    assert [int(w[0]) for w in words] == expected


SHAPE = (300, 301)  # above the size where loops run on several threads


def _draws_module(name, seed=1234):
    srng = RandomStreams(seed)
    x = T.matrix("x")
    h = 1 + T.tanh(x)  # a loop's result: masks of its shape are drawn in the loop using them
    module = codegen.Module(name)
    module.add_function("draw", [x], [
        srng.uniform(SHAPE), srng.uniform((3, 4), low=-2, high=5, dtype="float32"),
        srng.normal(x.shape, avg=1.0, std=2.0), srng.normal((5,), dtype="float32"),
        srng.binomial(x.shape, p=0.3, dtype="float64"), srng.binomial((7,), p=0.5),
        h * srng.binomial(h.shape, p=0.7, dtype="float64"),
        h + srng.normal(h.shape, avg=x[0], std=2.0)])
    return module


def _reference_draws(calls=2, seed=1234):
    module = _draws_module("reference_draws", seed)
    (spec,) = module.specs
    f = codegen.function([spec.ins[0].variable], spec.fgraph.outputs, mode="FAST_COMPILE",
                         updates=spec.fgraph.updates, no_default_updates=True)
    return [f(np.zeros((20, 30))) for _ in range(calls)]


def _compare(got, expected):
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        if g.dtype.kind == "f" and np.abs(e).max() > 1.5:  # normals: libm's last bits
            eps = np.finfo(g.dtype).eps  # avg + std * z loses z's relative accuracy near 0
            np.testing.assert_allclose(g, e, rtol=4 * eps, atol=8 * eps * np.abs(e).max())
        else:
            np.testing.assert_array_equal(g, e)


@pytest.fixture(scope="module")
def expected():
    return _reference_draws()


def test_the_reference_draws_differ_call_by_call_and_repeat_by_seed(expected):
    first, second = expected
    assert not np.array_equal(first[0], second[0])
    again = _reference_draws()
    for a, b in zip(again[0] + again[1], first + second):
        np.testing.assert_array_equal(a, b)
    other = _reference_draws(seed=1235)
    assert not np.array_equal(other[0][0], first[0])


def test_same_draws_on_the_cython_backend(tmp_path, expected):
    mod = load_module(_draws_module("draws_cython").build(str(tmp_path)))
    for call in expected:
        _compare(mod.draw(np.zeros((20, 30))), call)


def test_same_draws_on_emulated_cuda(tmp_path, expected, cuda_emulated):
    with cuda_emulated():
        mod = load_module(_draws_module("draws_cuda").build(str(tmp_path)))
    for call in expected:
        _compare(mod.draw(np.zeros((20, 30))), call)


def test_same_draws_in_the_c_library(tmp_path, expected):
    from clib import CLibrary
    lib = CLibrary(_draws_module("draws_c"), str(tmp_path))
    try:
        lib.load()
        for call in expected:
            _compare(lib.call("draw", np.zeros((20, 30))), call)
    finally:
        lib.close()


def test_same_draws_on_one_thread_and_two(tmp_path):
    """A fresh process per thread count (OpenMP reads it once): the same bits."""
    out = str(tmp_path / "mod")
    _draws_module("draws_threads").build(out)
    script = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import draws_threads "
              "as m; np.save(sys.argv[2], m.draw(np.zeros((20, 30)))[0])")
    results = []
    for threads in ("1", "2"):
        path = str(tmp_path / f"u{threads}.npy")
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        subprocess.run([sys.executable, "-c", script, out, path], check=True, env=env)
        results.append(np.load(path))
    np.testing.assert_array_equal(*results)


def test_default_updates_as_theanos_tutorial_uses_them():
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = codegen.function([], rv_u)
    g = codegen.function([], rv_n, no_default_updates=True)
    nearly_zeros = codegen.function([], rv_u + rv_u - 2 * rv_u)
    assert not np.array_equal(f(), f())
    np.testing.assert_array_equal(g(), g())
    np.testing.assert_array_equal(nearly_zeros(), np.zeros((2, 2)))
    srng.seed(902340)
    first = f()
    srng.seed(902340)
    np.testing.assert_array_equal(f(), first)
    assert rv_u.rng.get_value()[1] == 1  # the counter: one call since the seed


def test_a_streams_state_seeded_and_copied_as_theanos_tutorial_does():
    """rv.rng.get_value() has RandomState's seed, get_state and set_state (Theano's
    tutorial, "Seeding Streams" and "Copying Random State"), compiled and in place."""
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    f = codegen.function([], rv_u)
    nearly_zeros = codegen.function([], rv_u + rv_u - 2 * rv_u)
    rng_val = rv_u.rng.get_value(borrow=True)
    rng_val.seed(89234)
    rv_u.rng.set_value(rng_val, borrow=True)
    seeded = f()
    rv_u.rng.get_value(borrow=True).seed(89234)
    np.testing.assert_array_equal(f(), seeded)

    srng.seed(902340)
    state_after_v0 = rv_u.rng.get_value().get_state()
    nearly_zeros()
    v1 = f()
    rng = rv_u.rng.get_value(borrow=True)
    rng.set_state(state_after_v0)
    rv_u.rng.set_value(rng, borrow=True)
    v2 = f()
    v3 = f()
    assert not np.array_equal(v1, v2)
    np.testing.assert_array_equal(v1, v3)
    with pytest.raises(ValueError, match="set_state: a stream's state"):
        rng.set_state(np.zeros(3))


def test_mrg_streams_and_masks_as_the_denoising_autoencoder_draws_them():
    rng = MRG_RandomStreams(seed=2 ** 30)
    x = T.matrix("x")
    corrupted = rng.binomial(size=x.shape, n=1, p=1 - 0.3, dtype=codegen.config.floatX) * x
    f = codegen.function([x], corrupted)
    value = np.arange(1.0, 20001.0).reshape(100, 200)
    got = f(value)
    kept = got != 0
    np.testing.assert_array_equal(got[kept], value[kept])
    assert abs(kept.mean() - 0.7) < 0.01
    with pytest.raises(NotImplementedError, match="n=2"):
        rng.binomial((3,), n=2)


def test_the_draws_have_their_distributions(expected):
    u, u32, n, n32, b, b7, masked, shifted = expected[0]
    assert u.dtype == np.float64 and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert u32.dtype == np.float32 and -2 <= u32.min() and u32.max() < 5
    assert n.shape == (20, 30) and abs(n.mean() - 1) < 0.4 and abs(n.std() - 2) < 0.3
    assert n32.dtype == np.float32 and b7.dtype == np.int64 and set(np.unique(b7)) <= {0, 1}
    assert abs(b.mean() - 0.3) < 0.1
    assert set(np.unique(masked)) == {0, 1} and abs(masked.mean() - 0.7) < 0.1  # h is 1
    assert abs(shifted.mean() - 1) < 0.4 and abs(shifted.std() - 2) < 0.3
    big = codegen.function([], RandomStreams(7).normal((200000,)))()
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01


def test_the_stream_state_lives_in_the_module(tmp_path):
    srng = RandomStreams(seed=5)
    module = codegen.Module("stream_state")
    module.add_function("draw", [], srng.uniform((4,)))
    mod = load_module(module.build(str(tmp_path)))
    first = mod.draw()
    mod.save(str(tmp_path / "saved.npz"))
    second = mod.draw()
    assert not np.array_equal(first, second)
    mod.load(str(tmp_path / "saved.npz"))
    np.testing.assert_array_equal(mod.draw(), second)


# ---------------------------------------------------------------- MRG31k3p (Theano's rng_mrg)

def _mrg_serial(states, n, dtype):
    """Draws of Theano's mrg_uniform, its serial loop as its C code runs it (draw i from
    stream i % S, int32 arithmetic that wraps), in plain Python ints: (draws, new states)."""
    m1, m2 = 2147483647, 2147462579

    def i32(v):
        return (v + 2 ** 31) % 2 ** 32 - 2 ** 31

    def fold(y, m):
        return i32(y - m) if y < 0 or y >= m else y
    s = [[int(w) for w in row] for row in states]
    out = []
    for i in range(n):
        x11, x12, x13, x21, x22, x23 = s[i % len(s)]
        y1 = fold(i32(((x12 & 511) << 22) + (x12 >> 9) + ((x13 & 16777215) << 7) + (x13 >> 24)),
                  m1)
        y1 = fold(i32(y1 + x13), m1)
        z1 = fold(i32(((x21 & 65535) << 15) + 21069 * (x21 >> 16)), m2)
        z2 = fold(i32(((x23 & 65535) << 15) + 21069 * (x23 >> 16)), m2)
        z2 = fold(i32(fold(i32(z2 + x23), m2) + z1), m2)
        s[i % len(s)] = [y1, x11, x12, z2, x21, x22]
        v = y1 - z2 + (m1 if y1 <= z2 else 0)
        out.append(np.float32(v) * np.float32(4.6566126e-10) if dtype == "float32"
                   else v * 4.656612873077392578125e-10)
    return np.array(out, dtype=dtype), np.array(s, dtype="int32")


def test_mrg_streams_give_lecuyers_reference_numbers():
    """MRG_RandomStreams(12345): 12 variables of 7 streams, 5 calls each, are the draws of
    L'Ecuyer and Simard's Java code (SSJ), compiled and in the reference interpreter."""
    java = np.loadtxt(os.path.join(os.path.dirname(__file__), "data", "mrg31k3p_12_7_5.txt"))
    for mode in ("FAST_COMPILE", None):
        rng, got = MRG_RandomStreams(seed=12345), []
        for _ in range(12):
            f = codegen.function([], rng.uniform((7,), nstreams=7, dtype="float64"), mode=mode)
            got.append(np.array([f() for _ in range(5)]).T.flatten())
        np.testing.assert_array_equal(np.concatenate(got), java)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mrg_draws_are_theanos_to_the_bit(dtype):
    """Draws over several streams, a call that leaves some streams one draw behind the
    others, and the calls after it: the serial loop's numbers and states, compiled as in
    the reference; uniform's low and high as Theano applies them, and Bernoulli masks."""
    def draws():
        rng = MRG_RandomStreams(seed=4321)
        return rng, [rng.uniform((3, 4), nstreams=5, dtype=dtype),  # streams 2-4 give 2
                     rng.uniform((2, 9), low=-1.5, high=2.0, dtype=dtype),  # 3 streams
                     rng.binomial((5,), p=0.4, dtype="int8")]  # 5 streams, 1 each
    low, high = np.array(-1.5, dtype), np.array(2.0, dtype)
    for mode in ("FAST_COMPILE", None):
        rng, outs = draws()
        states = [state.get_value() for state, *_ in rng.state_updates]
        assert [s.shape for s in states] == [(5, 6), (3, 6), (5, 6)]
        f = codegen.function([], outs, mode=mode)
        for _ in range(3):
            want_u, states[0] = _mrg_serial(states[0], 12, dtype)
            want_v, states[1] = _mrg_serial(states[1], 18, dtype)
            want_m, states[2] = _mrg_serial(states[2], 5, codegen.config.floatX)
            got_u, got_v, got_m = f()
            np.testing.assert_array_equal(got_u, want_u.reshape(3, 4))
            np.testing.assert_array_equal(got_v, (want_v * (high - low) + low).reshape(2, 9))
            np.testing.assert_array_equal(got_m, want_m < 0.4)
            assert got_u.dtype == got_v.dtype == dtype and got_m.dtype == np.int8
        for (state, *_), want in zip(rng.state_updates, states):
            np.testing.assert_array_equal(state.get_value(), want)


def test_mrg_normal_is_theanos_box_muller_and_seed_starts_again():
    """normal(): Theano's Box-Muller of an even count of draws from 60 * 256 streams (the
    radii's half first), cosines then sines, cut to the size; seed() starts every stream
    again."""
    rng = MRG_RandomStreams(seed=99)
    z = rng.normal((3, 5), avg=1.0, std=2.0, dtype="float64")
    state = rng.state_updates[0][0]
    assert state.get_value().shape == (60 * 256, 6)
    first = state.get_value()
    f = codegen.function([], z)
    u, _ = _mrg_serial(first[:16], 16, "float64")
    r, theta = np.sqrt(-2.0 * np.log(u[:8])), 2.0 * np.pi * u[8:]
    want = np.concatenate([r * np.cos(theta), r * np.sin(theta)])[:15].reshape(3, 5) * 2 + 1
    got = f()
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    assert not np.array_equal(f(), got)
    rng.seed()
    np.testing.assert_array_equal(state.get_value(), first)
    np.testing.assert_array_equal(f(), got)
    rng.seed(7)
    assert not np.array_equal(state.get_value(), first)
    # Theano's count of streams: a sixth of the draws for a size of Python ints only
    rng.uniform((np.int64(2), 3))
    rng.uniform((30, 3))
    assert [u.get_value().shape[0] for u, *_ in rng.state_updates[1:]] == [60 * 256, 15]
    with pytest.raises(ValueError, match="the seed must be in"):
        MRG_RandomStreams(seed=2 ** 31)
    with pytest.raises(ValueError, match="has a length 0"):
        rng.uniform((3, 0))


def test_mrg_streams_on_emulated_cuda_are_the_cpus(cuda_emulated):
    """The streams' walk as CUDA kernels (a thread per stream): the CPU's uniform draws
    and states to the bit, and its normals to the libm's last bit."""
    def draws():
        rng = MRG_RandomStreams(seed=2024)
        return rng, [rng.uniform((40, 7), dtype="float32"), rng.normal((33,), dtype="float64")]
    rng_cpu, cpu_outs = draws()
    cpu = codegen.function([], cpu_outs)
    rng_gpu, gpu_outs = draws()
    with cuda_emulated():
        gpu = codegen.function([], gpu_outs)
    for _ in range(2):
        (u, z), (want_u, want_z) = gpu(), cpu()
        np.testing.assert_array_equal(u, want_u)
        np.testing.assert_allclose(z, want_z, rtol=1e-14, atol=1e-15)
    for (a, *_), (b, *_) in zip(rng_cpu.state_updates, rng_gpu.state_updates):
        np.testing.assert_array_equal(a.get_value(), b.get_value())


def test_mrg_multinomial_counts_as_theanos_loop():
    """multinomial(pvals, n): per row, each of n draws counts the first outcome whose
    running probability (float64) exceeds its uniform draw c * rows + row, compiled as in
    the reference; a draw above a row's total counts nowhere."""
    p = T.matrix("p")
    pv = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05], [0.0, 0.0, 1.0], [0.5, 0.2, 0.0]])
    for mode in ("FAST_COMPILE", None):
        rng = MRG_RandomStreams(11)
        f = codegen.function([p], rng.multinomial(pvals=p, n=5), mode=mode)
        state = rng.state_updates[0][0]
        assert state.get_value().shape == (60 * 256, 6)
        u, _ = _mrg_serial(state.get_value()[:20], 20, codegen.config.floatX)
        want = np.zeros((4, 3), dtype="int64")
        for c in range(5):
            for row in range(4):
                above = np.nonzero(np.cumsum(pv[row]) > u[c * 4 + row])[0]
                if above.size:
                    want[row, above[0]] += 1
        got = f(pv)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int64 and got[2, 2] == 5 and got[:3].sum() == 15
    with pytest.raises(ValueError, match="takes no size"):
        rng.multinomial(size=(3,), pvals=pv)


def test_mrg_draws_inside_a_scan_step_advance_each_iteration():
    """A draw in a scan's step: scan's updates carry the streams through the iterations,
    each iteration the next draws of the serial loop, compiled as in the reference."""
    for mode in ("FAST_COMPILE", None):
        rng = MRG_RandomStreams(5)
        x = T.dvector("x")
        out, updates = codegen.scan(lambda h: h + rng.uniform(h.shape, dtype="float64"),
                                    outputs_info=[x], n_steps=3)
        state = rng.state_updates[0][0]
        want, rows = [], state.get_value()
        for _ in range(3):
            draws, rows = _mrg_serial(rows, 4, "float64")
            want.append(draws)
        f = codegen.function([x], out, updates=updates, mode=mode)
        np.testing.assert_allclose(f(np.zeros(4)), np.cumsum(want, axis=0), rtol=1e-15)
        np.testing.assert_array_equal(state.get_value(), rows)


def test_theanos_other_draws_compile_on_cpu_and_cuda_with_their_distributions(cuda_emulated):
    """RandomStreams' random_integers, permutation, choice (with and without replacement,
    with probabilities, from a vector), multinomial and shuffle_row_elements: the compiled
    function (CPU and CUDA) draws the reference interpreter's numbers, and each has its
    distribution."""
    x = T.matrix("x")

    def draws():
        r = RandomStreams(3)
        return [r.random_integers((6000,), 2, 5), r.permutation((50,), 6),
                r.choice((6000,), 4, p=[0.1, 0.2, 0.3, 0.4]), r.choice((3,), 10, replace=False),
                r.choice((2000,), T.as_tensor_variable(np.array([1.5, 2.5, 3.5]))),
                r.multinomial((2000,), 3, [0.2, 0.3, 0.5]), r.shuffle_row_elements(x)]
    value = np.arange(12.0).reshape(3, 4)
    reference = codegen.function([x], draws(), mode="FAST_COMPILE")(value)
    compiled = codegen.function([x], draws())(value)
    for got, want in zip(compiled, reference):
        np.testing.assert_array_equal(got, want)
    ints, perms, weighted, distinct, values, counts, shuffled = compiled
    assert ints.dtype == np.int64 and set(np.unique(ints)) == {2, 3, 4, 5}
    np.testing.assert_allclose(np.bincount(ints)[2:] / 6000, 0.25, atol=0.03)
    assert perms.shape == (50, 6) and (np.sort(perms, axis=1) == np.arange(6)).all()
    assert len({tuple(p) for p in perms}) > 40
    np.testing.assert_allclose(np.bincount(weighted) / 6000, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    assert len(set(distinct)) == 3 and 0 <= distinct.min() and distinct.max() < 10
    assert values.dtype == np.float64 and set(np.unique(values)) == {1.5, 2.5, 3.5}
    assert counts.shape == (2000, 3) and (counts.sum(axis=1) == 3).all()
    np.testing.assert_allclose(counts.sum(axis=0) / 6000, [0.2, 0.3, 0.5], atol=0.03)
    np.testing.assert_array_equal(np.sort(shuffled, axis=1), value)
    assert not np.array_equal(shuffled, value)
    with cuda_emulated():  # the same draws from the CUDA kernels
        on_cuda = codegen.function([x], draws())(value)
    for got, want in zip(on_cuda, reference):
        np.testing.assert_array_equal(got, want)
    r = RandomStreams(3)
    with pytest.raises(NotImplementedError, match="without replacement with probabilities"):
        r.choice((2,), 4, replace=False, p=[0.25] * 4)


def test_poisson_draws_compile_on_cpu_and_cuda_with_their_distribution(cuda_emulated):
    """RandomStreams.poisson: Knuth's product of uniforms below a mean of 10, Hormann's
    transformed rejection from 10 on; the same draws compiled (CPU and CUDA) as in the
    reference, each with its mean, variance and frequencies."""
    from math import exp, factorial
    lam = T.dvector("lam")

    def draws():
        r = RandomStreams(11)
        return [r.poisson((20000,), 3.5), r.poisson((5000,), 40.0), r.poisson((4, 3), lam),
                r.poisson((3,), 0.0)]
    means = np.array([0.5, 12.0, 200.0])
    reference = codegen.function([lam], draws(), mode="FAST_COMPILE")(means)
    with cuda_emulated():
        on_cuda = codegen.function([lam], draws())(means)
    for compiled in (codegen.function([lam], draws())(means), on_cuda):
        for got, want in zip(compiled, reference):
            np.testing.assert_array_equal(got, want)
    small, large, per_column, none = reference
    assert small.dtype == np.int64 and (none == 0).all()
    assert abs(small.mean() - 3.5) < 0.06 and abs(small.var() - 3.5) < 0.15
    assert abs(large.mean() - 40) < 0.4 and abs(large.var() - 40) < 3.5
    counts = np.bincount(small, minlength=12)[:8] / small.size
    np.testing.assert_allclose(counts, [exp(-3.5) * 3.5 ** k / factorial(k) for k in range(8)],
                               atol=0.01)
    assert per_column[:, 0].max() <= 4 and 100 < per_column[:, 2].min()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mrg_choice_without_replacement_as_theanos_loop(dtype):
    """choice(size, p, replace=False): per row, each draw the first outcome whose running
    probability exceeds its uniform draw, then that outcome's probability 0 and the row
    divided by its new total (summed in p's dtype as Theano's C code sums it); compiled as
    in the reference, and each row's draws distinct."""
    p = T.matrix("p", dtype=dtype)
    pv = np.random.RandomState(0).rand(4, 6).astype(dtype)
    pv /= pv.sum(axis=1, keepdims=True)
    one = np.dtype(dtype).type
    for mode in ("FAST_COMPILE", None):
        rng = MRG_RandomStreams(9)
        f = codegen.function([p], rng.choice(3, p=p, replace=False), mode=mode)
        u, _ = _mrg_serial(rng.state_updates[0][0].get_value()[:12], 12, codegen.config.floatX)
        want, q = np.zeros((4, 3), dtype="int64"), pv.copy()
        for c in range(3):
            for row in range(4):
                running = 0.0
                for m in range(6):
                    running += float(q[row, m])
                    if running > u[c * 4 + row]:
                        want[row, c] = m
                        total = one(running - float(q[row, m]))
                        q[row, m] = 0
                        for k in range(m, 6):
                            total = one(total + q[row, k])
                        q[row] = (q[row] / total).astype(dtype)
                        break
        got = f(pv)
        np.testing.assert_array_equal(got, want)
        assert all(len(set(r)) == 3 for r in got.tolist())
    with pytest.raises(NotImplementedError, match="without replacement only"):
        rng.choice(2, p=p)
