"""Where numpy's result is the contract: values, NaN/Inf, signed zeros, integer wrap, dtypes.

Each row is a defect found by differential testing, kept as a regression test: the compiled
result must equal numpy's bit for bit (signs of zeros and NaN placement included). All rows
compile into one module, built once.
"""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module

inf, nan = np.inf, np.nan


def _rows():
    """(id, input variables, output, argument values, expected value)."""
    x, y, z = T.vector("x"), T.vector("y"), T.vector("z")
    i32a, i32b = T.ivector("a"), T.ivector("b")
    i64a, i64b = T.lvector("a"), T.lvector("b")
    f32 = T.fvector("f")
    A32 = T.fmatrix("A")
    Ai32, w64 = T.imatrix("A"), T.lvector("w")
    s = T.dscalar("s")
    int_min32 = np.array([-2**31, 7, -7, 5], "int32")
    minus1_32 = np.array([-1, -1, 2, 0], "int32")
    int_min64 = np.array([-2**63, 7, -7, 5], "int64")
    minus1_64 = np.array([-1, -1, 2, 0], "int64")
    neg_half = np.array([-0.5, -0.0, 0.5, -1.5])
    signed_zeros = np.array([-0.0, 0.0, -2.0])
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994, -0.0, 7.0, nan])
    with np.errstate(all="ignore"):
        return [
            # 1. INT_MIN // -1 and % -1 wrap as numpy's do (C would trap: SIGFPE)
            ("floor_div_int32_min", [i32a, i32b], i32a // i32b, [int_min32, minus1_32],
             int_min32 // minus1_32),
            ("mod_int32_min", [i32a, i32b], i32a % i32b, [int_min32, minus1_32],
             int_min32 % minus1_32),
            ("floor_div_int64_min", [i64a, i64b], i64a // i64b, [int_min64, minus1_64],
             int_min64 // minus1_64),
            ("mod_int64_min", [i64a, i64b], i64a % i64b, [int_min64, minus1_64],
             int_min64 % minus1_64),
            # 3. products of mixed dtypes
            ("dot_float32_float64", [A32, x], T.dot(A32, x),
             [np.arange(6, dtype="float32").reshape(2, 3) / 3, np.array([0.1, 0.2, 0.3])],
             np.dot((np.arange(6, dtype="float32").reshape(2, 3) / 3).astype("float64"),
                    [0.1, 0.2, 0.3])),
            ("dot_int32_float64", [Ai32, x], T.dot(Ai32, x),
             [np.arange(6, dtype="int32").reshape(2, 3), np.array([0.5, 1.5, 2.5])],
             np.dot(np.arange(6).reshape(2, 3), [0.5, 1.5, 2.5])),
            ("dot_int32_int64", [Ai32, w64], T.dot(Ai32, w64),
             [np.arange(6, dtype="int32").reshape(2, 3), np.array([2**40, 1, 2])],
             np.dot(np.arange(6).reshape(2, 3), [2**40, 1, 2])),
            # 4. int64 + float32 is float64, computed in float64
            ("int64_plus_float32", [i64a, f32], i64a + f32,
             [np.array([16777217, 3]), np.array([1.0, 0.5], "float32")],
             np.array([16777217, 3]) + np.array([1.0, 0.5], "float32")),
            # 5. no fused multiply-add: 1e200 * 1e200 - inf is NaN
            ("no_fma", [x, y, z], x * y + z,
             [np.array([1e200, 0.1]), np.array([1e200, 0.3]), np.array([-inf, -0.03])],
             np.array([1e200, 0.1]) * np.array([1e200, 0.3]) + np.array([-inf, -0.03])),
            # 6. signed zeros
            ("cast_roundtrip_zero", [x], 1 / T.cast(T.cast(x, "int64"), "float64"),
             [neg_half], 1 / neg_half.astype("int64").astype("float64")),
            ("abs_of_minus_zero", [x], 1 / abs(x), [signed_zeros], 1 / np.abs(signed_zeros)),
            ("plus_zero", [x], 1 / (x + 0), [signed_zeros], 1 / (signed_zeros + 0)),
            ("zero_minus", [x], 1 / (0 - x), [signed_zeros], 1 / (0 - signed_zeros)),
            ("maximum_of_zeros", [x], 1 / T.maximum(x, 0.0), [signed_zeros],
             1 / np.maximum(signed_zeros, 0.0)),
            ("minimum_of_zeros", [x], 1 / T.minimum(x, -0.0), [np.array([0.0, -0.0, 2.0])],
             1 / np.minimum(np.array([0.0, -0.0, 2.0]), -0.0)),
            # 7. integer powers in integers (wrapping), not through double pow
            ("int_pow", [i64a], i64a ** 3, [np.array([3**12, 2**40, -5])],
             np.array([3**12, 2**40, -5]) ** 3),
            ("int_pow_int", [i64a, i64b], i64a ** i64b,
             [np.array([3, 7, -2, 10]), np.array([40, 0, 63, 19])],
             np.array([3, 7, -2, 10]) ** np.array([40, 0, 63, 19])),
            # 8. float floor division and modulo as numpy's divmod
            ("float_floor_div", [x, y], x // y,
             [np.array([1.0, inf, -4.0, 7.5, 1.0, -0.0]),
              np.array([0.1, 1.0, 2.0, -2.0, 0.0, 3.0])],
             np.array([1.0, inf, -4.0, 7.5, 1.0, -0.0])
             // np.array([0.1, 1.0, 2.0, -2.0, 0.0, 3.0])),
            ("float_mod", [x, y], x % y,
             [np.array([1.0, inf, -4.0, 7.5, 1.0, -3.0]),
              np.array([0.1, 1.0, 2.0, -2.0, 0.0, inf])],
             np.array([1.0, inf, -4.0, 7.5, 1.0, -3.0])
             % np.array([0.1, 1.0, 2.0, -2.0, 0.0, inf])),
            # 9. (-inf) ** 0.5 wherever the element falls (vector body or remainder)
            ("pow_half_vector", [x], x ** 0.5, [np.array([-inf] * 17 + [-0.0, 4.0])],
             np.array([-inf] * 17 + [-0.0, 4.0]) ** 0.5),
            ("pow_half_scalar", [s], s ** 0.5, [np.float64(-inf)], np.array(-inf) ** 0.5),
            # 10. exp(log(x)) and log(exp(x)) are not x
            # (at points where libm's and numpy's exp and log agree to the bit)
            ("exp_log", [x], T.exp(T.log(x)), [np.array([-1.0, 1.0])],
             np.exp(np.log([-1.0, 1.0]))),
            ("log_exp", [x], T.log(T.exp(x)), [np.array([1000.0, 0.0])],
             np.log(np.exp([1000.0, 0.0]))),
            # 12. rounding: halves, signed zeros, the double just below 0.5 (floor(x + 0.5)
            # would give 1), Theano's default mode (halves away from zero) and numpy's
            ("round_halves", [x], T.round(x), [halves],
             np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 0.0, -0.0, 7.0, nan])),
            ("round_half_to_even", [x], 1 / T.round(x, "half_to_even"), [halves],
             1 / np.round(halves)),
            ("floor_ceil_zeros", [x], 1 / T.floor(x) + 1 / T.ceil(x), [signed_zeros],
             1 / np.floor(signed_zeros) + 1 / np.ceil(signed_zeros)),
            ("ceil_minus_half", [x], 1 / T.ceil(x), [neg_half], 1 / np.ceil(neg_half)),
            # 11. bool casts test against zero
            ("cast_bool", [x], T.cast(x, "bool"), [np.array([0.5, nan, 256.0, 0.0, -0.0])],
             np.array([0.5, nan, 256.0, 0.0, -0.0]).astype(bool)),
        ]


ROWS = _rows()


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    module = codegen.Module("numpy_contract")
    for k, (_, ins, out, _, _) in enumerate(ROWS):
        module.add_function(f"f{k}", ins, out)
    return load_module(module.build(str(tmp_path_factory.mktemp("contract"))))


def assert_same(got, want, exact=True):
    """Equal dtype, shape and values; bit for bit, or to rounding for products (whose sums
    BLAS may order differently)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    if not exact:
        np.testing.assert_allclose(got, want, rtol=1e-14)
        return
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        # signs of zeros and infinities; a NaN's sign bit is left to the implementation
        # (numpy's vector log gives +NaN for log(-1) on some CPUs, libm's -NaN)
        real = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got)[real], np.signbit(want)[real])


@pytest.mark.parametrize("k", range(len(ROWS)), ids=[row[0] for row in ROWS])
def test_compiled_equals_numpy(contract, k):
    name, _, _, args, want = ROWS[k]
    assert_same(getattr(contract, f"f{k}")(*args), want, exact=not name.startswith("dot_"))


@pytest.mark.parametrize("k", range(len(ROWS)), ids=[row[0] for row in ROWS])
def test_reference_equals_numpy(k):
    name, ins, out, args, want = ROWS[k]
    assert_same(codegen.function(ins, out, mode="FAST_COMPILE")(*args), want,
                exact=not name.startswith("dot_"))


def test_a_field_of_a_structured_array_is_read_by_its_stride():
    """13. A 9-byte stride is not a whole number of float64s: such inputs are copied."""
    records = np.zeros(5, dtype=[("a", "f8"), ("b", "i1")])
    records["a"] = np.arange(5) + 0.25
    x = T.vector("x")
    f = codegen.function([x], x * 2.0)
    assert records["a"].strides == (9,)
    assert_same(f(records["a"]), (np.arange(5) + 0.25) * 2.0)


def test_empty_max_min_and_argmax_raise_as_numpy_does():
    """12. max/min/argmax of an empty axis raise (numpy has no identity for them); a
    reduction that computes no element at all does not."""
    m = T.matrix("m")
    f = codegen.function([m], [T.max(m, axis=1), T.min(m, axis=0), T.argmax(m, axis=1)])
    for shape in [(3, 0), (0, 0)]:
        with pytest.raises(ValueError, match="empty") as info:
            f(np.zeros(shape))
        assert "test_numpy_contract.py" in str(info.value)
    got = codegen.function([m], T.max(m, axis=1))(np.zeros((0, 3)))
    assert got.shape == (0,)
    with pytest.raises(ValueError, match="empty"):
        codegen.function([m], T.max(m))(np.zeros((0, 3)))


def test_shared_set_value_refuses_lossy_casts_and_keeps_its_value():
    """14. As Theano: arrays must cast safely; Python numbers and lists exactly."""
    ints = codegen.shared(np.array([1, 2], "int32"), name="ints")
    floats = codegen.shared(np.array([1.0, 2.0], "float32"), name="floats")
    with pytest.raises(TypeError, match="ints.*int32.*int64"):
        ints.set_value(np.array([2**40, 1]))
    with pytest.raises(TypeError, match="floats.*float32.*float64"):
        floats.set_value(np.array([1e-50, 1.0]))
    with pytest.raises(TypeError, match="ints"):
        ints.set_value([2**40, 1])
    assert_same(ints.get_value(), np.array([1, 2], "int32"))
    assert_same(floats.get_value(), np.array([1.0, 2.0], "float32"))
    ints.set_value([5, 6])  # exact: accepted
    floats.set_value([0.5, 0.25])
    floats.set_value(np.array([3, 4], "int8"))  # safe: accepted
    assert_same(ints.get_value(), np.array([5, 6], "int32"))
    assert_same(floats.get_value(), np.array([3.0, 4.0], "float32"))
