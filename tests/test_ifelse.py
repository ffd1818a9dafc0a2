"""ifelse, lazy: the branch not taken is not computed (a step there that would fail does not
run), on the reference, the Cython backend, emulated CUDA and the c target; its gradient,
nesting, and the shapes the compiled backends need."""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.ifelse import ifelse

X = np.arange(12.0).reshape(3, 4)
GOOD = np.array([0, 2], dtype="int32")
BAD = np.array([0, 7], dtype="int32")  # row 7 of a 3-row matrix: a gather that fails


def _module(name):
    """choose(a, b, x, k): x[k] (a gather) when a < b, else the column sums; and a nested
    ifelse with a gradient."""
    a, b = T.scalars("a", "b")
    x, k = T.matrix("x"), T.ivector("k")
    module = codegen.Module(name)
    module.add_function("choose", [a, b, x, k], ifelse(T.lt(a, b), x[k] * 2, x[:2] + 1))
    inner = ifelse(T.gt(b, 0), T.sum(x ** 2), T.sum(x ** 3))
    cost = ifelse(T.lt(a, b), inner, T.sum(T.exp(x)))
    module.add_function("nested", [a, b, x], [cost, T.grad(cost, x)])
    return module


def _check(choose, nested):
    np.testing.assert_array_equal(choose(0.0, 1.0, X, GOOD), X[GOOD] * 2)
    np.testing.assert_array_equal(choose(1.0, 0.0, X, GOOD), X[:2] + 1)
    # the taken branch does not index with BAD: no error; the other does
    np.testing.assert_array_equal(choose(1.0, 0.0, X, BAD), X[:2] + 1)
    with pytest.raises(Exception, match="out of bounds"):
        choose(0.0, 1.0, X, BAD)
    for a, b, cost, grad in [(0.0, 1.0, np.sum(X ** 2), 2 * X),
                             (-2.0, -1.0, np.sum(X ** 3), 3 * X ** 2),
                             (1.0, 0.0, np.sum(np.exp(X)), np.exp(X))]:
        got_cost, got_grad = nested(a, b, X)
        np.testing.assert_allclose(got_cost, cost, rtol=1e-12)
        np.testing.assert_allclose(got_grad, grad, rtol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_lazy_through_function(mode):
    (choose, nested) = _module("unused").specs
    fs = [codegen.function([i.variable for i in s.ins], s.fgraph.outputs
                           if len(s.fgraph.outputs) > 1 else s.fgraph.outputs[0], mode=mode)
          for s in (choose, nested)]
    _check(*fs)


def test_lazy_on_the_cython_backend(tmp_path):
    mod = load_module(_module("ifelse_cython").build(str(tmp_path)))
    _check(mod.choose, mod.nested)


def test_lazy_on_emulated_cuda(tmp_path, cuda_emulated):
    with cuda_emulated():
        mod = load_module(_module("ifelse_cuda").build(str(tmp_path)))
    assert mod.__codegen__["backend"] == "cuda"
    _check(mod.choose, mod.nested)


def test_lazy_in_the_c_library(tmp_path):
    from clib import CLibrary
    lib = CLibrary(_module("ifelse_c"), str(tmp_path))
    try:
        _check(lambda *args: lib.call("choose", *args)[0], lambda *args: lib.call("nested", *args))
    finally:
        lib.close()


def test_the_tutorials_lazy_example_computes_one_mean():
    """Theano's doc/tutorial/conditions: ifelse computes one of the two means; the compiled
    program runs the other's steps only under the condition (debugprint shows it)."""
    a, b = T.scalars("a", "b")
    x, y = T.matrices("x", "y")
    z_switch = T.switch(T.lt(a, b), T.mean(x), T.mean(y))
    z_lazy = ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    f_switch = codegen.function([a, b, x, y], z_switch)
    f_lazy = codegen.function([a, b, x, y], z_lazy)
    big1, big2 = np.ones((100, 50)), np.full((100, 50), 3.0)
    assert f_lazy(0.0, 1.0, big1, big2) == f_switch(0.0, 1.0, big1, big2) == 1.0
    assert f_lazy(1.0, 0.0, big1, big2) == f_switch(1.0, 0.0, big1, big2) == 3.0
    listing = codegen.printing.debugprint(f_lazy, file="str")
    assert listing.count("when lt") == 2 and listing.count("when not lt") == 2


def test_branches_of_different_shapes():
    x = T.vector("x")
    c = T.scalar("c")
    out = ifelse(c, x[:2], x)
    ref = codegen.function([c, x], out, mode="FAST_COMPILE")
    np.testing.assert_array_equal(ref(1.0, np.arange(4.0)), [0.0, 1.0])
    np.testing.assert_array_equal(ref(0.0, np.arange(4.0)), np.arange(4.0))
    compiled = codegen.function([c, x], out)
    np.testing.assert_array_equal(compiled(1.0, np.arange(2.0)), [0.0, 1.0])
    with pytest.raises(ValueError, match="both branches of one shape"):
        compiled(1.0, np.arange(4.0))
    with pytest.raises(TypeError, match="must have one type"):
        ifelse(c, x, T.matrix("m"))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_an_int_argument_as_condition_and_as_a_length(mode):
    """n decides the branch and sizes a slice in it: stored as a condition, it stays a dim."""
    n, x = T.iscalar("n"), T.vector("x")
    f = codegen.function([n, x], ifelse(T.gt(n, 1), T.sum(x[:n]), T.sum(x)) + ifelse(n, 1, 2),
                         mode=mode)
    assert f(3, np.arange(4.0)) == 4.0 and f(0, np.arange(4.0)) == 8.0
