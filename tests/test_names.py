"""Identifiers in the generated code: whatever users name things, nothing collides."""

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module
from codegen.lower.lowering import Names

#: Names that met a C macro, a generated name or a name of the template before.
AWKWARD = ["INFINITY", "I", "NAN", "EOF", "state", "spare", "allow_downcast", "linux", "errno",
           "size_t", "Py_None", "NPY_FLOAT64", "M_PI", "cg_gemm_acc_d", "double", "lambda",
           "np", "result", "outputs", "snapshot", "_ws", "n0", "t0", "x", "x_p", "A", "A_n0",
           "x_s0", "fn_k0_mul", "1x", "a b", "π", ""]


def test_names_avoid_reserved_forms():
    names = Names()
    got = [names.new(hint) for hint in AWKWARD]
    assert len(set(got)) == len(got)
    for name in got:
        assert name.isidentifier() and name.isascii() and not name.startswith("_")
        assert not Names.MACRO_LIKE.match(name) and not Names.DERIVED.search(name)
        assert name not in Names.RESERVED
    assert got[AWKWARD.index("x")] == "x" and got[AWKWARD.index("A")] == "A"
    assert got[AWKWARD.index("EOF")] == "v_EOF"
    assert got[AWKWARD.index("x_p")] == "x_p_1"


@pytest.fixture(scope="module")
def awkward_module(tmp_path_factory):
    """One function whose inputs carry every awkward name, and one per pair that collided."""
    inputs = [T.vector(name) for name in AWKWARD]
    total = inputs[0]
    for v in inputs[1:]:
        total = total + v
    module = codegen.Module("awkward")
    module.add_function("everything", inputs, [total, T.sum(inputs[0] * inputs[-1])])
    x, x_p, A, A_n0 = T.vector("x"), T.vector("x_p"), T.matrix("A"), T.matrix("A_n0")
    module.add_function("pairs", [x, x_p, A, A_n0], [x * 2 - x_p, T.dot(A, A_n0)])
    return load_module(module.build(str(tmp_path_factory.mktemp("awkward"))))


def test_awkward_names_build_and_compute(awkward_module):
    values = [np.full(3, float(k)) for k in range(len(AWKWARD))]
    total, dot = awkward_module.everything(*values)
    np.testing.assert_array_equal(total, np.full(3, sum(range(len(AWKWARD)))))
    assert dot == 0.0
    x, A = np.array([1.0, 2.0]), np.arange(4.0).reshape(2, 2)
    got = awkward_module.pairs(x, x + 1, A, A.T)
    np.testing.assert_array_equal(got[0], x * 2 - (x + 1))
    np.testing.assert_array_equal(got[1], A @ A.T)


def test_awkward_names_through_function():
    v = T.vector("INFINITY")
    w = T.vector("allow_downcast")
    f = codegen.function([v, w], v * w, name="np")
    np.testing.assert_array_equal(f(np.ones(2), np.full(2, 3.0)), [3.0, 3.0])


def test_module_function_names_that_would_shadow_the_module_are_refused():
    x = T.vector("x")
    module = codegen.Module("shadow")
    for bad in ["np", "load", "_private", "lambda", "len", "a-b"]:
        with pytest.raises(ValueError, match="not a usable function name"):
            module.add_function(bad, [x], x)


#: Names of the kernels' own locals, on the CPU and on CUDA, and of the math functions they
#: call: a user's array by one of these names would shadow it in some kernel.
KERNEL_WORDS = ["row", "dst", "acc", "best", "bad", "o", "ok", "e", "r", "rest", "total",
                "base", "lane", "warp", "tan", "sinh", "log2", "erfc", "lt", "ia", "vb", "end",
                "root", "moving"]


def _every_kernel_kind(word):
    """An input named ``word`` and outputs named ``word`` of every kind of kernel: maps
    (plain and transposed), reductions (per row, per column, warp per row, to a scalar),
    argmax, cumsum, argsort, products (float and int), a gather, a scatter, math functions."""
    x, k = T.matrix(word), T.lvector(word)
    outs = [T.argmax(x, 1), T.cumsum(x, 1), T.argsort(x, 0), x * 3, x.T * 2 + 1, T.sum(x * 2, 1),
            T.sum(x.T * 2, 1), T.sum(x), T.max(x, 0), T.dot(x, x.T),
            T.dot(T.iround(x), T.iround(x.T)), x[k], T.inc_subtensor(x[k], 1.0),
            T.tan(x) + T.sinh(x) + T.log2(x + 1) + T.erfc(x)]
    for out in outs:
        out.name = word
    return [x, k], outs


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_arrays_named_like_kernel_locals_build_and_agree(device, cuda_emulated, monkeypatch):
    ins, outs = [], []
    for word in KERNEL_WORDS:
        i, o = _every_kernel_kind(word)
        ins += i
        outs += o
    rng = np.random.default_rng(0)
    args = [rng.uniform(0, 1, (3, 40)) if v.ndim == 2 else np.array([0, 2]) for v in ins]
    _agree_with_the_reference(device, cuda_emulated, ins, outs, args, rtol=1e-12)


def _agree_with_the_reference(device, cuda_emulated, ins, outs, args, **tolerance):
    """The function of ``ins`` and ``outs``, compiled for ``device``, against the reference
    interpreter on ``args``."""
    want = codegen.function(ins, outs, mode="FAST_COMPILE")(*args)
    if device == "cuda":
        with cuda_emulated():
            f = codegen.function(ins, outs)
    else:
        f = codegen.function(ins, outs)
    for got, ref in zip(f(*args), want):
        np.testing.assert_allclose(got, ref, **tolerance)


#: Locals of the linear algebra kernels (``backends.linalg``), which name their arrays by
#: role: a user's matrix by one of these names meets none of them.
LINALG_WORDS = ["i", "c", "j", "n", "z", "w", "tau", "info", "s", "g", "h", "t", "d", "f",
                "scale", "norm", "sweep"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_matrices_named_like_linalg_locals_build_and_agree(device, cuda_emulated):
    from codegen.tensor import nlinalg, slinalg
    ins = [T.matrix(word) for word in LINALG_WORDS]
    outs = []
    for k, a in enumerate(ins):
        b = ins[k - 1]
        spd = T.dot(a, a.T) + 4 * T.eye(3)
        outs += [slinalg.solve(a, b), slinalg.cholesky(spd), slinalg.solve_lower_triangular(a, b),
                 nlinalg.det(a), *nlinalg.qr(a), nlinalg.eigh(spd)[0]]
        for out in outs[-7:]:
            out.name = LINALG_WORDS[k - 2]
    rng = np.random.default_rng(1)
    args = [rng.normal(size=(3, 3)) + 3 * np.eye(3) for _ in ins]
    _agree_with_the_reference(device, cuda_emulated, ins, outs, args, rtol=1e-10, atol=1e-12)
