"""Each rewrite pass on small graphs: what it removes, and that values and types are kept."""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.rewrite import cse, optimize, remove_zero_grad, simplify
from codegen.rewrite.passes import constant_fold, count_nodes

x = T.matrix("x")
i = T.imatrix("i")
v = T.vector("v")
s = T.scalar("s")

SIMPLIFY = [
    # expression, expected pp after simplify
    (lambda: x * 1, "x"),
    (lambda: 1 * x, "x"),
    (lambda: i + 0, "i"),
    (lambda: x + 0, "(TensorConstant{0} + x)"),  # -0.0 + 0 is +0.0
    (lambda: x - 0, "x"),
    (lambda: 0 - i, "(-i)"),
    (lambda: 0 - x, "(TensorConstant{0} - x)"),  # 0 - 0.0 is +0.0, -(0.0) is -0.0
    (lambda: x / 1, "x"),
    (lambda: x ** 1, "x"),
    (lambda: x ** 2, "(x * x)"),
    (lambda: -(-x), "x"),
    (lambda: T.exp(T.log(x)), "exp(log(x))"),  # NaN for x < 0
    (lambda: T.log(T.exp(x)), "log(exp(x))"),  # inf for x > 710
    (lambda: x ** 0.5, "sqrt(x)"),  # as numpy computes it: (-inf) ** 0.5 is NaN
    (lambda: x.T.T, "x"),
    (lambda: T.dot(x.T, x), "dot(x.T, x)"),
    (lambda: T.dot(x, x.T.T.T), "dot(x, x.T)"),
    (lambda: T.dot(v, x.T), "dot(v, x.T)"),
    # an outer product (a column times a row) is a broadcast product, which fuses
    (lambda: T.dot(v.dimshuffle(0, "x"), v.dimshuffle("x", 0)), "(v * v)"),
    (lambda: T.dot(T.col("c"), T.row("r")), "(c * r)"),
    (lambda: T.dot(T.row("r").T, T.row("r")), "(r * r.T).T"),
    (lambda: T.dot(x, T.row("r")), "dot(x, r)"),  # x's columns are not one by type
    (lambda: x + 2, "(TensorConstant{2} + x)"),
    (lambda: T.constant(2.0) * 3.0 + s, "(TensorConstant{6.0} + s)"),
    (lambda: T.ones_like(s) * s, "s"),
    (lambda: T.cast(v, "float64"), "v"),
    # a fill of a chain of fills that has taken x's shape already (gradients of switches)
    (lambda: T.second(x, T.second(x, v)), "second(x, v)"),
    (lambda: T.second(x, T.second(T.matrix("y"), T.second(x, s))),
     "second(y, second(x, s))"),
    (lambda: T.second(x, T.second(T.matrix("y"), s)), "second(x, second(y, s))"),
]


@pytest.mark.parametrize("build,expected", SIMPLIFY, ids=[e for _, e in SIMPLIFY])
def test_simplify(build, expected):
    expr = build()
    (out,) = simplify([expr])
    assert codegen.pp(out) == expected
    assert out.type == expr.type


def test_outer_products_and_their_gradients_as_broadcast_products():
    """dot of a column and a row, and the gradient of a matrix-vector product (an outer
    product), compile to broadcast products with numpy's values."""
    a, u = T.matrix("a"), T.vector("u")
    f = codegen.function([a, u], [T.dot(u.dimshuffle(0, "x"), u.dimshuffle("x", 0)),
                                  T.grad(T.sum(T.tanh(T.dot(a, u))), a)])
    rng = np.random.default_rng(3)
    av, uv = rng.normal(size=(5, 4)), rng.normal(size=4)
    outer, grad = f(av, uv)
    np.testing.assert_allclose(outer, np.outer(uv, uv), rtol=1e-15)
    # 1 - tanh**2 cancels where tanh nears 1: a few ulps of the input become 1e-12
    np.testing.assert_allclose(grad, np.outer(1 - np.tanh(av @ uv) ** 2, uv), rtol=1e-9)
    products = [line.split()[1] for line in f.executable.program.describe().splitlines()
                if line.strip().startswith("dot ")]
    assert len(products) == 1, products  # dot(a, u) alone; both outer products are loops


def test_constant_fold_keeps_type_and_value():
    expr = T.constant(np.arange(3.0)) * 2 + 1
    (out,) = constant_fold([expr])
    assert out.owner is None
    np.testing.assert_array_equal(out.data, [1.0, 3.0, 5.0])
    assert out.type == expr.type


def test_cse_merges_equal_subgraphs():
    a = T.exp(x) + T.sin(x)
    b = T.exp(x) + T.sin(x)
    out = cse([a * b])
    assert count_nodes(out) == 4  # exp, sin, add, mul
    outs = cse([a, b])
    assert outs[0] is outs[1]


def test_canonical_order_lets_cse_merge_commuted_constants():
    outs = cse(simplify([x * 2, 2 * x]))
    assert outs[0] is outs[1]


def test_remove_zero_grad():
    (out,) = remove_zero_grad([T.zero_grad(x) + 1])
    assert codegen.pp(out) == "(x + TensorConstant{1})"


def test_fill_of_broadcast_sum_gradient_is_dropped():
    w = T.col("w")
    (g,) = T.grad(T.sum(x * w), [w])
    assert "(x * w)" not in codegen.pp(g)  # the product is not computed for its shape
    assert codegen.pp(g) == "sum((second(w, TensorConstant{1.0}) * x), axis=[1], keepdims=True)"
    (g,) = T.grad(T.sum(v * 3.0), [v])
    assert codegen.pp(g) == "second(v, TensorConstant{3.0})"


def test_fills_keep_the_shape_checks_of_what_they_replace():
    """``ones_like(x) * y`` and the gradient of ``sum(x * w)`` still check x against y, w."""
    y = T.matrix("y")
    f = codegen.function([x, y], T.ones_like(x) * y)
    with pytest.raises(ValueError, match="dimension 1"):
        f(np.ones((2, 3)), np.ones((2, 4)))
    w = T.col("w")
    g = codegen.function([x, w], T.grad(T.sum(x * w), w))
    np.testing.assert_array_equal(g(np.ones((2, 3)), np.ones((2, 1))), [[3.0], [3.0]])
    with pytest.raises(ValueError, match="dimension 0"):
        g(np.ones((2, 3)), np.ones((4, 1)))


def test_rewrites_keep_provenance_and_values():
    expr = T.exp(T.log(x + 0)) * 1 + T.sqrt(x ** 2)  # the line tests look for
    (out,) = optimize([expr])
    assert "test_rewrite.py" in str(out.owner.provenance)
    value = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = codegen.function([x], out, mode="FAST_COMPILE")(value)
    np.testing.assert_allclose(got, 2 * value)


def test_permuted_arrays_are_split_and_reduced_in_their_own_order():
    """A split of a permuted array is a permuted split (a view, where it was a transposed
    copy), and a reduction of a permuted array the permuted reduction (its loops read the
    array in its own order): pooling a convolution's output, computed as (batch, rows,
    columns, filters), in Theano's (batch, filters, rows, columns) order."""
    t4 = T.tensor4("t4")
    nhwc = t4.reshape((-1, 4, 4, 3))
    tiles = nhwc.dimshuffle(0, 3, 1, 2).reshape((-1, 3, 2, 2, 2, 2))
    pooled = T.max(tiles, axis=(3, 5))
    (out_tiles, out_pooled) = simplify([tiles, pooled])
    assert codegen.pp(out_tiles) == "reshape(reshape(t4)).dimshuffle(0, 5, 1, 2, 3, 4)"
    assert codegen.pp(out_pooled) == "max(reshape(reshape(t4)), axis=[2, 4]).dimshuffle(0, 3, 1, 2)"
    # axes merged that are neighbours in the array, in its order: a view too
    merged = nhwc.dimshuffle(0, 3, 1, 2).reshape((-1, 3, 16))
    assert codegen.pp(simplify([merged])[0]) == "reshape(reshape(t4)).dimshuffle(0, 2, 1)"
    # lengths that do not pair so, merged axes that are not neighbours there, lengths not
    # known: left alone
    for kept in (nhwc.dimshuffle(0, 3, 1, 2).reshape((-1, 2, 2, 2, 2, 3)),
                 nhwc.dimshuffle(0, 3, 1, 2).reshape((-1, 48)),
                 t4.dimshuffle(0, 3, 1, 2).reshape((-1, 3, 2, 2, 2, 2))):
        assert simplify([kept])[0].owner.inputs[0].owner.op == kept.owner.inputs[0].owner.op
    kept = T.sum(x.T, axis=1, keepdims=True)
    assert codegen.pp(simplify([kept])[0]) == "sum(x, axis=[0], keepdims=True).T"
    value = np.random.RandomState(0).randn(2, 4, 4, 3)
    want = value.transpose(0, 3, 1, 2).reshape(2, 3, 2, 2, 2, 2)
    m = np.random.RandomState(1).randn(5, 7)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        f = codegen.function([t4, x], [tiles, pooled, kept, T.max(x.T, axis=0) * 2, merged],
                             mode=mode)
        got = f(value, m)
        np.testing.assert_array_equal(got[4], value.transpose(0, 3, 1, 2).reshape(2, 3, 16))
        np.testing.assert_array_equal(got[0], want)
        np.testing.assert_array_equal(got[1], want.max(axis=(3, 5)))
        np.testing.assert_allclose(got[2], m.T.sum(axis=1, keepdims=True), rtol=1e-12)
        np.testing.assert_array_equal(got[3], m.T.max(axis=0) * 2)


def test_a_scatter_into_allocated_zeros_starts_from_zeros():
    """inc_subtensor(zeros(n, m)[idx], y) (sums by index, sparse products): the scatter fills
    its own buffer with zeros instead of copying the allocated ones; same values."""
    from codegen.ops.indexing import AdvancedIncSubtensor
    k, y, n = T.lvector("k"), T.matrix("y"), T.lscalar("n")
    out = T.inc_subtensor(T.zeros((n, 3))[k], y)
    (new,) = simplify([out])
    assert isinstance(new.owner.op, AdvancedIncSubtensor) and new.owner.op.zeros
    (kept,) = simplify([T.inc_subtensor(T.ones((n, 3))[k], y)])
    assert not kept.owner.op.zeros
    setting = T.set_subtensor(T.zeros((n, 3))[k], y)
    (new,) = simplify([setting])
    assert new.owner.op.zeros and new.owner.op.set_instead_of_inc
    module = codegen.Module("scatter_zeros")
    module.add_function("f", [k, y, n], [out, setting])
    assert "copy of alloc" not in module.source()
    # nor are the zeros computed: the scatter reads the alloc's shape only
    text = codegen.function([k, y, n], [out, setting]).executable.program.describe()
    assert not [line for line in text.splitlines() if line.startswith("  loop")], text
    yv = np.arange(6.0).reshape(2, 3)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        got, got_set = codegen.function([k, y, n], [out, setting], mode=mode)(
            np.array([2, 2]), yv, 4)
        want, want_set = np.zeros((4, 3)), np.zeros((4, 3))
        want[2] = yv.sum(0)
        want_set[2] = yv[1]  # the last write to a repeated index, as numpy
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_set, want_set)
