"""Indexing as Theano programs write it, on every backend: an embedding trained through
``W[idx]``, an index out of range as a clear error that changes no state, symbolic slices,
and the graph-level errors of inc_subtensor/set_subtensor."""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module

V, D = 7, 3


def _embedding_module(name="embedding"):
    """One step of training an embedding: the rows of W that idx picks, a squared loss to
    targets, a gradient step (repeated indices add their gradients)."""
    W = codegen.shared(np.linspace(-1, 1, V * D).reshape(V, D), name="W")
    idx, target = T.ivector("idx"), T.matrix("target")
    cost = T.sum((W[idx] - target) ** 2)
    module = codegen.Module(name)
    module.add_function("train", [idx, target], cost,
                        updates=[(W, W - 0.1 * T.grad(cost, W))])
    module.add_function("rows", [idx], W[idx] * 1.0)
    j, v = T.ivector("j"), T.matrix("v")
    module.add_function("push", [j, v], T.sum(v), updates=[(W, T.inc_subtensor(W[j], v))])
    return module


def _numpy_train(w, idx, target):
    e = w[idx] - target
    g = np.zeros_like(w)
    np.add.at(g, idx, 2 * e)
    return np.sum(e ** 2), w - 0.1 * g


IDX = np.array([1, 5, 1, -1], dtype="int32")
TARGET = np.arange(12.0).reshape(4, 3) / 10


def _check_training(call_train, get_w):
    w = np.linspace(-1, 1, V * D).reshape(V, D)
    for _ in range(3):
        cost, w = _numpy_train(w, IDX, TARGET)
        np.testing.assert_allclose(call_train(IDX, TARGET), cost, rtol=1e-12)
        np.testing.assert_allclose(get_w(), w, rtol=1e-12, atol=1e-15)
    before = get_w().copy()
    for bad in ([0, 7], [-8]):
        with pytest.raises(Exception, match=r"advanced_subtensor: .*index .*out of bounds "
                                            r"for axis 0") as info:
            call_train(np.array(bad, dtype="int32"), TARGET[:len(bad)])
        assert "test_indexing.py" in str(info.value)
        np.testing.assert_array_equal(get_w(), before)  # nothing changed


def _check_push(call_push, get_w):
    """A scatter into the state, written in place: repeated indices add up, and an index out
    of range, met only by the scatter, stops the call with W as it was (every index is
    checked before anything is written)."""
    w = get_w().copy()
    j = np.array([2, 6, 2, -7], dtype="int32")
    v = np.arange(12.0).reshape(4, 3) - 5
    call_push(j, v)
    np.add.at(w, j, v)
    np.testing.assert_array_equal(get_w(), w)
    for bad in ([0, 1, 2, 7], [3, -8, 1, 1]):
        with pytest.raises(Exception, match=r"advanced_inc_subtensor: .*index .*out of bounds "
                                            r"for axis 0") as info:
            call_push(np.array(bad, dtype="int32"), v)
        assert "test_indexing.py" in str(info.value)
        np.testing.assert_array_equal(get_w(), w)  # not the rows before the bad index either


@pytest.fixture(scope="module")
def cython_module(tmp_path_factory):
    return load_module(_embedding_module().build(str(tmp_path_factory.mktemp("emb"))))


def test_embedding_trains_and_bad_indices_change_nothing_on_the_cython_backend(cython_module):
    mod = cython_module
    mod.set_value("W", np.linspace(-1, 1, V * D).reshape(V, D))
    _check_training(mod.train, lambda: mod.get_value("W"))
    with pytest.raises(IndexError, match=r"out of bounds.*\n.*test_indexing.py"):
        mod.rows(np.array([V], dtype="int32"))
    _check_push(mod.push, lambda: mod.get_value("W"))


def test_embedding_on_emulated_cuda(tmp_path, cuda_emulated):
    with cuda_emulated():
        mod = load_module(_embedding_module("embedding_cuda").build(str(tmp_path)))
    assert mod.__codegen__["backend"] == "cuda"
    _check_training(mod.train, lambda: mod.get_value("W"))
    _check_push(mod.push, lambda: mod.get_value("W"))


def test_embedding_in_the_c_library(tmp_path):
    from clib import CError, CLibrary
    lib = CLibrary(_embedding_module("embedding_c"), str(tmp_path))
    try:
        lib.load()

        def train(idx, target):
            (cost,) = lib.call("train", idx, target)
            return cost
        _check_training(train, lambda: lib.get_value("W"))
        _check_push(lambda j, v: lib.call("push", j, v), lambda: lib.get_value("W"))
        with pytest.raises(CError, match="out of bounds") as info:
            lib.call("rows", np.array([V], dtype="int32"))
        assert info.value.code == 6  # the library's INDEX error
    finally:
        lib.close()


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_embedding_through_function(mode):
    W = codegen.shared(np.linspace(-1, 1, V * D).reshape(V, D), name="W")
    idx, target = T.ivector("idx"), T.matrix("target")
    cost = T.sum((W[idx] - target) ** 2)
    lr = T.dscalar("lr")
    train = codegen.function([idx, target, lr], cost,
                             updates=[(W, W - lr * T.grad(cost, W))], mode=mode)
    _check_training(lambda i, t: train(i, t, 0.1), W.get_value)
    if mode == "FAST_RUN":  # a Python number for lr: converted, and W still updated in place
        memory = W.get_value(borrow=True).__array_interface__["data"][0]
        train(IDX, TARGET, 0.1)
        assert W.get_value(borrow=True).__array_interface__["data"][0] == memory
    j, v = T.ivector("j"), T.matrix("v")
    push = codegen.function([j, v], T.sum(v), updates=[(W, T.inc_subtensor(W[j], v))],
                            mode=mode)
    _check_push(push, W.get_value)


def test_numpy_placement_of_index_arrays():
    """Integer arrays apart from each other's ints go first, as numpy puts them."""
    x = T.tensor3("x")
    k = T.ivector("k")
    value = np.arange(60.0).reshape(3, 4, 5)
    kv = np.array([4, 0], dtype="int32")
    f = codegen.function([x, k], [x[0, :, k], x[:, 1, k], x[1:, k % 4], x[k[:2] % 3, 2]])
    got = f(value, kv)
    expected = [value[0, :, kv], value[:, 1, kv], value[1:, kv % 4], value[kv % 3, 2]]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_writing_into_parts_is_checked_when_the_graph_is_built():
    x, k = T.matrix("x"), T.ivector("k")
    with pytest.raises(TypeError, match="inc_subtensor: x must be a part of a tensor"):
        T.inc_subtensor(x, 1.0)
    with pytest.raises(ValueError, match="more dimensions"):
        T.set_subtensor(x[0], x)
    with pytest.raises(TypeError, match="index arrays must be integers"):
        x[T.vector("f")]
    with pytest.raises(NotImplementedError, match="boolean mask"):
        x[x > 0]
    f = codegen.function([x, k], T.set_subtensor(x[k], 0.0))
    np.testing.assert_array_equal(f(np.ones((3, 2)), np.array([2, 0], dtype="int32")),
                                  [[0, 0], [1, 1], [0, 0]])


def test_a_negated_symbolic_index_is_checked_and_shown_as_written():
    """x[-i] needs len >= i (and len > -i): the check's text folds the double negation
    (Cython warned about ``-((-i_v))``) and the error shows the index as the user wrote it."""
    x, i = T.matrix("x"), T.lscalar("i")
    f = codegen.function([x, i], x[-i, :].sum())
    value = np.arange(12.0).reshape(3, 4)
    assert f(value, 1) == value[-1].sum() and f(value, 3) == value[0].sum()
    with pytest.raises(IndexError, match=r"index \(-i\) is out of bounds for axis 0 of x"):
        f(value, 4)
    with pytest.raises(IndexError, match=r"index \(-i\) is out of bounds"):
        f(value, -3)
    glue = f.executable.source
    assert "x_n0 < i_v " in glue and "-((-" not in glue
