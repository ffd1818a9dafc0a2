"""Symbolic shapes: ``x.shape``, ``x.shape[i]``, ``T.shape``, in arithmetic, arange, reshape."""

import contextlib

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module

MODES = ["FAST_RUN", "FAST_COMPILE"]
X = np.arange(12.0).reshape(3, 4)


@pytest.mark.parametrize("mode", MODES)
def test_shape_entries_in_arithmetic_and_arange(mode):
    x = T.matrix("x")
    f = codegen.function([x], [x.shape[0], x.shape[1] * 2 - 1, T.sum(x) / x.shape[0],
                               T.arange(x.shape[-1]), x.shape[0] // 2], mode=mode)
    got = f(X)
    want = [3, 7, X.sum() / 3, np.arange(4), 1]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].dtype == np.int64 and got[2].dtype == np.float64


@pytest.mark.parametrize("mode", MODES)
def test_the_whole_shape_is_a_vector(mode):
    x = T.matrix("x")
    assert len(x.shape) == 2 and len(T.shape(x)) == 2
    n_rows, n_cols = x.shape  # unpacks as a tuple
    f = codegen.function([x], x.shape, mode=mode)
    np.testing.assert_array_equal(f(X), [3, 4])
    g = codegen.function([x], [T.zeros_like(x).shape, T.as_tensor_variable((n_cols, 5))],
                         mode=mode)
    np.testing.assert_array_equal(g(X)[0], [3, 4])
    np.testing.assert_array_equal(g(X)[1], [4, 5])


@pytest.mark.parametrize("mode", MODES)
def test_reshape_to_symbolic_shapes(mode):
    x, z = T.matrix("x"), T.matrix("z")
    f = codegen.function([x, z], [x.reshape((x.shape[0], -1)).sum(axis=1),
                                  T.reshape(x, (x.shape[1], x.shape[0])),
                                  T.reshape(x, z.T.shape) + z.T], mode=mode)
    rows, swapped, like = f(X, np.ones((4, 3)))
    np.testing.assert_array_equal(rows, X.sum(axis=1))
    np.testing.assert_array_equal(swapped, X.reshape(4, 3))
    np.testing.assert_array_equal(like, X + 1)


@pytest.mark.parametrize("mode", MODES)
def test_products_of_shape_entries_reshape_and_tile(mode):
    """``prod(x.shape[1:])`` as a length (Keras' flatten), the sum and max of listed shape
    entries, and tile by a symbolic reps vector (Keras' rnn masks)."""
    x, m = T.tensor3("x"), T.matrix("m")
    reps = T.concatenate([[1], x.shape[1:]], 0)
    f = codegen.function([x, m], [T.reshape(x, (x.shape[0], T.prod(x.shape[1:]))),
                                  x.reshape((x.shape[1:].sum(), -1)),
                                  x.reshape((T.max(x.shape), -1)),
                                  T.tile(m, reps, ndim=3)], mode=mode)
    v, mv = np.arange(24.0).reshape(3, 2, 4), np.arange(2.0).reshape(2, 1)
    flat, summed, longest, tiled = f(v, mv)
    np.testing.assert_array_equal(flat, v.reshape(3, 8))
    np.testing.assert_array_equal(summed, v.reshape(6, 4))
    np.testing.assert_array_equal(longest, v.reshape(4, 6))
    np.testing.assert_array_equal(tiled, np.tile(mv, (1, 2, 4)))
    with pytest.raises(ValueError, match="give ndim"):
        T.tile(m, reps)


def test_known_and_broadcastable_lengths_are_constants():
    row = T.row("r")
    assert isinstance(row.shape[0], T.TensorConstant) and int(row.shape[0].data) == 1
    assert not isinstance(row.shape[1], T.TensorConstant)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_a_reshape_to_lengths_computed_at_run_time(mode):
    x, k = T.matrix("x"), T.iscalar("k")
    f = codegen.function([x, k], [T.reshape(x, (x.shape[0] * 2, -1)),
                                  T.reshape(x, (k, x.shape[1] // k, x.shape[0]))], mode=mode)
    value = np.arange(12.0).reshape(2, 6)
    a, b = f(value, 3)
    np.testing.assert_array_equal(a, value.reshape(4, 3))
    np.testing.assert_array_equal(b, value.reshape(3, 2, 2))
    with pytest.raises(ValueError, match="reshape"):
        f(value, 5)


def test_computed_int_scalars_are_data_to_reshape_write_and_draw(cuda_emulated, tmp_path):
    """A 0-d int array a step computes (argmax) is the value reshaped, written by
    set_subtensor / inc_subtensor, or a random draw's parameter: data, not a length, so the
    function compiles in one module, on the CPU and CUDA. As a length or a number of loop
    steps it is cut there: one compiled part computes it, the next takes it as an argument
    (no warning: nothing runs in the reference interpreter); so in a module."""
    import warnings
    x, i = T.dvector("x"), T.lvector("i")
    best = T.argmax(x)
    srng = codegen.tensor.shared_randomstreams.RandomStreams(3)
    outs = [T.flatten(best), best.reshape((1, 1)), T.inc_subtensor(i[1:], best),
            T.set_subtensor(i[0], best), T.specify_shape(best, ()),
            srng.uniform((2,), low=best, high=best + 1) - best]
    steps, _ = codegen.scan(lambda acc: acc * 2, outputs_info=T.constant(1.0), n_steps=best)
    cut = [(T.zeros((best,)) + x[0], [1.0]), (steps, [2.0]),
           (T.arange(best + 2) * x.sum(), [0.0, 6.0, 12.0])]
    for device in ("cpu", "cuda"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with cuda_emulated() if device == "cuda" else contextlib.nullcontext():
                f = codegen.function([x, i], outs)
                # on CUDA the loop only: the cut is the same for each
                parted = [codegen.function([x], out) for out, _ in
                          (cut[1:2] if device == "cuda" else cut)]
        assert "parts" not in repr(f), f
        got = f(np.array([1.0, 3.0, 2.0]), np.array([1, 2, 3]))
        for g, w in zip(got[:5], [[1], [[1]], [1, 3, 4], [1, 2, 3], 1]):
            np.testing.assert_array_equal(g, w)
        assert np.all((got[5] >= 0) & (got[5] < 1)), got[5]
        other = np.array([0.5, 1.0, 2.0, 4.0, 3.0])  # lengths differ from one call to the next
        for g, (out, want) in zip(parted, cut[1:2] if device == "cuda" else cut):
            assert "in 2 parts" in repr(g), g
            np.testing.assert_array_equal(g(np.array([1.0, 3.0, 2.0])), want)
            np.testing.assert_array_equal(
                g(other), codegen.function([x], out, mode="FAST_COMPILE")(other))
    module = codegen.Module("computed_length")
    for k, (out, _) in enumerate(cut):
        module.add_function(f"f{k}", [x], out)
    built = load_module(module.build(str(tmp_path)))
    for k, (out, want) in enumerate(cut):
        np.testing.assert_array_equal(getattr(built, f"f{k}")(np.array([1.0, 3.0, 2.0])), want)
        assert f"f{k}_part1" in getattr(built, f"f{k}").__doc__


def test_a_reshape_with_minus_one_checks_the_size_and_reads_simply():
    from codegen.ops.shape import dim_quotient
    x = T.tensor3("x")
    flat = x.reshape((-1, 4))
    f = codegen.function([x], [flat.sum(axis=1), flat.reshape((x.shape[0], -1)).shape])
    value = np.arange(24.0).reshape(2, 3, 4)
    sums, shape = f(value)
    np.testing.assert_array_equal(sums, value.reshape(-1, 4).sum(axis=1))
    np.testing.assert_array_equal(shape, [2, 12])
    with pytest.raises(ValueError, match=r"cannot reshape x to \(-1, 4\).*\(2, 3, 5\)"):
        f(np.zeros((2, 3, 5)))  # 30 elements are not rows of 4
    # constant and common factors cancel: (n * 576, 20) -> (-1, 24, 24, 20) is n
    n = dim_quotient(["x_n0", "x_n1"], ["784"])
    assert n == "_dim_div(x_n0 * x_n1, 784)"
    assert dim_quotient([f"({n} * 576)", "20"], ["24", "24", "20"]) == n
    assert dim_quotient([n, "50", "4", "4"], [n]) == "800"
    assert dim_quotient(["(a + b)", "6"], ["4"]) == "_dim_div((a + b) * 3, 2)"


def test_lengths_that_are_sums_stay_whole_in_strides_and_checks():
    """A length that is a sum (a concatenation's a + b) multiplied into a stride or a check
    keeps its parentheses: a view of (n, m, a + b) has a first stride of m * (a + b), not
    m * a + b (Lasagne's LSTM, whose stacked input product is such a view, read the wrong
    rows from its second step on), and the check that a maximum's input is not empty
    multiplies 0 rows by (a + b)."""
    x = T.tensor3("x")
    rng = np.random.RandomState(0)
    w1, w2 = codegen.shared(rng.rand(2, 2)), codegen.shared(rng.rand(2, 2))
    seq = T.dot(x, T.concatenate([w1, w2], axis=1))  # (time, batch, 2 + 2), a view
    out, _ = codegen.scan(lambda s, h: s[:, :2] + h * s[:, 2:], sequences=seq,
                          outputs_info=[T.zeros((x.shape[1], 2))])
    xv = rng.rand(3, 2, 2)
    w = np.hstack([w1.get_value(), w2.get_value()])
    h, expected = np.zeros((2, 2)), []
    for s in xv @ w:
        h = s[:, :2] + h * s[:, 2:]
        expected.append(h)
    np.testing.assert_allclose(codegen.function([x], out)(xv), expected, rtol=1e-12)
    a, b = T.dmatrix("a"), T.dmatrix("b")
    top = codegen.function([a, b], T.max(T.concatenate([a, b], axis=1)))
    assert top(np.ones((2, 2)), np.full((2, 1), 3.0)) == 3.0
    with pytest.raises(ValueError, match="empty array has no maximum"):
        top(np.ones((0, 2)), np.ones((0, 1)))


def test_a_fill_that_is_its_operand_still_checks_the_lengths():
    """second(x, y) lowered as y itself (no loop): the value is y's, and an x whose length
    differs from y's is still the error it was, naming the op and the user's line."""
    A, v, x = T.matrix("A"), T.vector("v"), T.vector("x")
    f = codegen.function([A, v, x], T.dot(A.T, T.second(x, T.dot(A, v))))
    a, b = X, np.arange(4.0)
    np.testing.assert_allclose(f(a, b, np.zeros(3)), a.T @ (a @ b))
    with pytest.raises(ValueError, match=r"(?s)second: dimension 0 of x and dot must be "
                                         r"equal \(shapes: x \(2,\), dot \(3,\)\).*"
                                         r"test_shapes\.py"):
        f(a, b, np.zeros(2))
