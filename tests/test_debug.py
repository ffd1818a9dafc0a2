"""Debugging: DebugMode / NanGuardMode checks, compare against the reference, provenance in
emitted source (golden), errors at the user's line from compiled code."""

import os
import sys

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile import DebugMode, NanGuardMode
from codegen.compile.compiled import DebugModeError

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _layer_source():
    W = codegen.shared(np.ones((3, 2)), name="W")
    b = codegen.shared(np.ones((3, 1)), name="b", broadcastable=(False, True))
    x = T.matrix("x")
    h = T.nnet.sigmoid(T.dot(W, x) + b)
    module = codegen.Module("layer")
    module.add_function("forward", [x], h)
    source = module.source(spec_path="tests/test_debug.py")
    start = source.index("# " + "=" * 64 + " forward")
    return source[start:]


def test_divide_nan_normally_and_error_in_debug_mode():
    num, den = T.scalar("num"), T.scalar("den")
    divide = codegen.function([num, den], num / den)
    assert divide(10, 2) == 5.0
    assert np.isnan(divide(0, 0))
    divide = codegen.function([num, den], num / den, mode="DebugMode")
    with pytest.raises(FloatingPointError) as info:
        divide(0, 0)
    assert "(num / den)" in str(info.value) and "test_debug.py:" in str(info.value)


def test_nan_guard_options():
    x = T.scalar("x")
    guard = NanGuardMode(nan_is_error=True, inf_is_error=False, big_is_error=True)
    f = codegen.function([x], T.exp(x) * 2, mode=guard)
    assert f(1.0) == pytest.approx(2 * np.e)
    with pytest.raises(FloatingPointError, match="above 1e10"):
        f(30.0)
    assert np.isinf(f(1000.0))  # inf allowed by this guard


def test_nan_born_in_a_gradient_is_reported_at_its_op():
    sys.path.insert(0, "examples/mlp")
    from model import build_mlp, make_data
    X, y = make_data(N=20)
    mlp = build_mlp(X)
    xin = T.matrix("mlp_input")
    cost = T.sum(T.sqrt(T.maximum(mlp.output(xin) - 0.9, 0)))  # the sqrt of the gradient
    f = codegen.function([xin], [cost] + T.grad(cost, mlp.params), mode="DebugMode")
    with pytest.raises(FloatingPointError) as info:
        f(X)
    text = str(info.value)
    assert "grad of sqrt" in text and "test_debug.py:" in text
    assert "sum(" not in text.splitlines()[0]  # not blamed on the cost


def test_nan_in_a_product_added_into_an_update_is_reported_at_the_product():
    """The momentum's gradient product adds into the new momentum after the update loop
    (codegen.lower.accumulate): a NaN it brings is reported at the product, with the line
    that built the update, and the state keeps its values; compare mode agrees."""
    rng = np.random.RandomState(0)
    W = codegen.shared(rng.randn(4, 3), name="W")
    m = codegen.shared(np.zeros((4, 3)), name="m")
    d, h = T.matrix("d"), T.matrix("h")
    updates = [(W, W - 0.01 * m), (m, 0.9 * m + 0.1 * T.dot(d, h.T))]
    f = codegen.function([d, h], T.sum(m), updates=updates, mode=DebugMode(compare=True))
    dv, hv = rng.randn(4, 5), rng.randn(3, 5)
    f(dv, hv)
    assert "+= 0.1 *" in f.executable.program.describe()
    before = m.get_value()
    np.testing.assert_allclose(before, 0.1 * dv @ hv.T, rtol=1e-12)
    dv[1, 2] = np.nan
    with pytest.raises(FloatingPointError) as info:
        f(dv, hv)
    message = str(info.value)
    assert "produced 3 NaN" in message and "+= 0.1 * dot(d, h.T)   " in message
    assert "test_debug.py:" in message.splitlines()[1]
    assert "d: shape (4, 5)" in message and "nan 1" in message
    np.testing.assert_array_equal(m.get_value(), before)


def test_compare_mode_agrees_and_detects_a_wrong_kernel():
    x = T.vector("x")
    f = codegen.function([x], T.tanh(x) * T.sum(T.exp(x)), mode=DebugMode(compare=True))
    v = np.arange(3.0)
    np.testing.assert_allclose(f(v), np.tanh(v) * np.exp(v).sum())
    executable = f.executable
    _, _, written = executable.impl(v)
    name = executable.program.materialized[0][0]
    written[name] = written[name] + 1.0
    with pytest.raises(DebugModeError, match="differs from the numpy reference"):
        executable._compare([v], [], written)


def test_compiled_shape_error_points_at_the_users_line():
    A, B = T.matrix("A"), T.matrix("B")
    C = T.dot(A, B)
    f = codegen.function([A, B], C)
    with pytest.raises(ValueError) as info:
        f(np.zeros((3, 4)), np.zeros((5, 6)))
    text = str(info.value)
    assert "A (3, 4)" in text and "B (5, 6)" in text
    assert "test_debug.py" in text and text.endswith("C = T.dot(A, B)")
    assert len(text.splitlines()) == 2


def test_emitted_source_golden():
    """The emitted code of a small graph, byte for byte (CODEGEN_UPDATE_GOLDEN=1 rewrites)."""
    got = _layer_source()
    path = os.path.join(GOLDEN, "layer_forward.txt")
    if os.environ.get("CODEGEN_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        assert got == f.read()
    assert "/* sigmoid((dot + b))   [tests/test_debug.py:" in got
    assert got == _layer_source()


def test_debug_mode_bounds_checks_every_loop():
    """Debug builds check before each kernel that its loops match the arrays they index."""
    x = T.matrix("x")
    f = codegen.function([x], T.exp(x).sum(axis=1), mode="DebugMode")
    np.testing.assert_allclose(f(np.ones((2, 3))), [3 * np.e] * 2)
    source = f.executable.source
    assert source.count("_check_extents(") >= 2  # the helper and one call per kernel
    check = f.executable.module._check_extents
    check("k", (("x", np.ones((2, 3)), ((2, 0), (3, 1))),))
    with pytest.raises(IndexError, match="would index outside it"):
        check("k", (("x", np.ones((2, 3)), ((2, 0), (4, 1))),))


@pytest.mark.parametrize("where", ['built at a.py:3: y = f(x)', 'built at a.py:3: s = """doc"""',
                                   'built at C:\\work\\a.py:3: y = g(x)'])
def test_check_table_text_reads_back_for_any_source_line(where):
    """The check table is kept as the text of a literal and read only when a check fails;
    quotes and backslashes in the user's line must survive both steps."""
    import ast
    from types import SimpleNamespace

    from codegen.backends.cython.render import _check_table
    check = SimpleNamespace(lhs="a_n1", rhs="b_n0", message="dot: a columns must equal b rows",
                            where=where, operands=[("a", ("a_n0", "a_n1")), ("b", ("b_n0",))],
                            at_least=False)
    literal = _check_table([check])
    text = ast.literal_eval(literal)  # the .pyx literal, as Python reads it
    rows = ast.literal_eval(text.lstrip("\n"))  # what the runtime reads when a check fails
    assert rows == (("a_n1", "b_n0", "dot: a columns must equal b rows", where,
                     (("a", ("a_n0", "a_n1")), ("b", ("b_n0",))), False),)


# ---------------------------------------------------------------- profile=True

def _profiled_graph():
    """A training step with a product, reductions, elementwise kernels and an ifelse (whose
    untaken branch's steps do not run), and the line that built its cost."""
    from codegen.ifelse import ifelse
    x, flag = T.matrix("x"), T.iscalar("flag")
    W = codegen.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
    cost = T.sum(T.tanh(T.dot(x, W)))  # profiled line
    line = _line_of("# profiled line")
    chosen = ifelse(T.gt(flag, 0), T.exp(x).sum(), T.log1p(x * x).sum())
    return [x, flag], [cost, chosen], [(W, W - 0.1 * T.grad(cost, W))], W, line


def _line_of(marker):
    with open(__file__) as f:
        return next(k for k, text in enumerate(f, 1) if text.rstrip().endswith(marker))


def test_profile_times_each_step_of_the_compiled_module():
    """profile=True: the step function times every step it runs; its profile names each
    step's kernel, expression and line; the results are those of the function unprofiled."""
    ins, outs, updates, W, line = _profiled_graph()
    f = codegen.function(ins, outs, updates=updates, profile=True, name="train")
    ins, outs, updates, W_plain, _ = _profiled_graph()
    plain = codegen.function(ins, outs, updates=updates, name="train")
    xv = np.arange(8.0).reshape(2, 4) / 10
    for flag in (1, 1, 0):
        np.testing.assert_array_equal(f(xv, flag), plain(xv, flag))
    np.testing.assert_array_equal(W.get_value(), W_plain.get_value())
    stats = f.profile
    stats.atexit_print = False  # printed at the program's exit otherwise, as in Theano
    assert isinstance(stats, codegen.ProfileStats) and stats.fct_callcount == 3
    steps = stats._records[0].steps()
    source = f.executable.source
    for kind, ident, text, where, seconds, runs in steps:
        assert ident in source and seconds >= 0 and kind in (
            "product", "elementwise", "reduction", "gather", "loop")
    branch = {text: runs for _, _, text, _, _, runs in steps}
    assert branch["sum(exp(x))"] == 2 and branch["sum(log1p((x * x)))"] == 1
    assert {runs for text, runs in branch.items() if "exp" not in text and "log1p" not in text} \
        == {3}
    assert any(where.endswith(f"test_debug.py:{line}") for _, _, _, where, _, _ in steps)
    assert 0 < sum(stats.apply_time.values()) <= stats.fct_call_time
    assert set(stats.apply_callcount.values()) == {1, 2, 3}
    text = stats.summary_text()
    assert "Time in 3 calls to Function.__call__" in text and f"test_debug.py:{line}]" in text
    assert "\nKinds\n" in text and "product" in text and "train_k" in text
    # profiling builds a module of its own: the unprofiled one is not timed
    assert "cg_profile_add" in source and "cg_profile_add" not in plain.executable.source


def test_profile_in_the_reference_interpreter_and_shared_between_functions():
    """FAST_COMPILE times each node; one ProfileStats passed to two functions counts both;
    profile=True in config profiles every function; a profiled function pickles."""
    import pickle
    x = T.vector("x")
    stats = codegen.ProfileStats(atexit_print=False, message="both")
    f = codegen.function([x], T.exp(x).sum(), mode="FAST_COMPILE", profile=stats)
    g = codegen.function([x], (x * 2).sum(), profile=stats)
    f([1.0, 2.0])
    f([3.0])
    g([1.0])
    assert stats.fct_callcount == 3 and f.profile is g.profile is stats
    nodes = {text: runs for _, _, text, _, _, runs in stats._records[0].steps()}
    assert nodes == {"exp(x)": 2, "sum(exp(x))": 2}
    assert stats.summary_text().count("Function profiling") == 2
    codegen.config._apply_flags("profile=True", "THEANO_FLAGS")
    assert codegen.config.profile is True
    h = codegen.function([x], x + 1)
    assert isinstance(h.profile, codegen.ProfileStats)
    h.profile.atexit_print = False
    again = pickle.loads(pickle.dumps(h))
    again.profile.atexit_print = False
    np.testing.assert_array_equal(again([1.0]), [2.0])
    assert again.profile.fct_callcount == 1 and h.profile.fct_callcount == 0
    codegen.config.profile = False
    assert codegen.function([x], x + 1).profile is None
    with pytest.raises(TypeError, match="profile must be True, False, a message or a "
                                        "ProfileStats, got 3"):
        codegen.function([x], x, profile=3)
