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
    module = codegen.Module(name)
    module.add_function("draw", [x], [
        srng.uniform(SHAPE), srng.uniform((3, 4), low=-2, high=5, dtype="float32"),
        srng.normal(x.shape, avg=1.0, std=2.0), srng.normal((5,), dtype="float32"),
        srng.binomial(x.shape, p=0.3, dtype="float64"), srng.binomial((7,), p=0.5)])
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
    u, u32, n, n32, b, b7 = expected[0]
    assert u.dtype == np.float64 and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert u32.dtype == np.float32 and -2 <= u32.min() and u32.max() < 5
    assert n.shape == (20, 30) and abs(n.mean() - 1) < 0.4 and abs(n.std() - 2) < 0.3
    assert n32.dtype == np.float32 and b7.dtype == np.int64 and set(np.unique(b7)) <= {0, 1}
    assert abs(b.mean() - 0.3) < 0.1
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
