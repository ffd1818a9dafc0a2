"""The c target: one module built both as a C library (called here through ctypes, as a C
program would call it) and as a Python module; both give the same values, and the library
reports bad input with error codes and messages, changing no state."""

import os
import subprocess
import sys

import numpy as np
import pytest
from clib import CError, CLibrary

import codegen
import codegen.tensor as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
    x = T.dmatrix("x")
    v = T.dvector("v")
    u = T.dvector("u")
    a32 = T.fmatrix("a32")
    v32 = T.fvector("v32")
    ai = T.lmatrix("ai")
    bi = T.lmatrix("bi")
    w = codegen.shared(np.array([1.0, -2.0, 0.5]), name="w")
    m = codegen.Module("clib_demo")
    m.add_function("views", [x], x.T[1:, ::-1] * 2 + x[:, 0])
    m.add_function("reshape", [x], [(x * 2).reshape((-1,)), x[1:].reshape((2, -1))])
    m.add_function("reduce", [x], [T.argmax(x, axis=1), T.max(x, axis=0), T.sum(x)])
    m.add_function("products", [a32, v32, ai, bi], [T.dot(a32, v32), T.dot(ai, bi)])
    m.add_function("consts", [v], [v + np.array([1.0, 2.0, 3.0]), v.shape[0], v[2] * 1])
    m.add_function("pick", [u], [u[2] * 2.0, u[-1]])
    cost = T.sum((w * v) ** 2)
    m.add_function("step", [v], [cost, w], updates=[(w, w - 0.1 * T.grad(cost, w))])
    m.add_function("pieces", [v, u], [T.concatenate([v, u]), T.grad(T.sum(v[1:3] ** 2), v)])
    return m


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("clib")
    lib = CLibrary(_module(), str(out / "c"))
    py_dir = str(out / "py")
    _module().build(py_dir)
    sys.path.insert(0, py_dir)
    try:
        import clib_demo
    finally:
        sys.path.remove(py_dir)
    lib.load()
    yield lib, clib_demo
    lib.close()


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


@pytest.mark.parametrize("fname, make", [
    ("views", lambda r: [r.standard_normal((4, 5))]),
    ("reshape", lambda r: [r.standard_normal((3, 4))]),
    ("reduce", lambda r: [r.standard_normal((3, 4))]),
    ("products", lambda r: [r.standard_normal((5, 3)).astype(np.float32),
                            r.standard_normal(3).astype(np.float32),
                            r.integers(-9, 9, (2, 3)), r.integers(-9, 9, (3, 4))]),
    ("consts", lambda r: [r.standard_normal(3)]),
    ("pieces", lambda r: [r.standard_normal(4), r.standard_normal(2)]),
    ("pick", lambda r: [r.standard_normal(5)]),
])
def test_same_values_as_the_python_module(built, fname, make):
    lib, py = built
    args = make(np.random.default_rng(0))
    got = lib.call(fname, *args)
    want = [np.asarray(o) for o in _as_list(getattr(py, fname)(*args))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (fname, g, w)
        np.testing.assert_array_equal(g, w)


def test_views_against_numpy(built):
    lib, _ = built
    x = np.arange(20.0).reshape(4, 5)
    (out,) = lib.call("views", x)
    np.testing.assert_array_equal(out, x.T[1:, ::-1] * 2 + x[:, 0])


def test_training_steps_update_state_like_the_python_module(built):
    lib, py = built
    v = np.array([0.5, 1.5, -1.0])
    start = np.array([1.0, -2.0, 0.5])
    lib.set_value("w", start)
    py.set_value("w", start)
    for _ in range(3):
        c_cost, c_w = lib.call("step", v)
        p_cost, p_w = py.step(v)
        assert c_cost == p_cost
        np.testing.assert_array_equal(c_w, p_w)  # the value before the update, as in Theano
    np.testing.assert_array_equal(lib.get_value("w"), py.get_value("w"))
    assert not np.array_equal(lib.get_value("w"), start)


def test_save_and_load_are_numpy_files(built, tmp_path):
    lib, _ = built
    lib.set_value("w", [3.0, 4.0, 5.0])
    lib.save(str(tmp_path))
    np.testing.assert_array_equal(np.load(tmp_path / "w.npy"), [3.0, 4.0, 5.0])
    np.save(tmp_path / "w.npy", np.array([7.0, 8.0, 9.0]))
    lib.load(str(tmp_path))
    np.testing.assert_array_equal(lib.get_value("w"), [7.0, 8.0, 9.0])


def test_shape_error_names_function_op_and_line(built):
    lib, _ = built
    with pytest.raises(CError) as err:
        lib.call("products", np.ones((5, 3), np.float32), np.ones(4, np.float32),
                 np.ones((2, 3), np.int64), np.ones((3, 4), np.int64))
    assert err.value.code == 1
    assert "clib_demo_products: dot" in err.value.message
    assert "(3 != 4)" in err.value.message and "test_c_target.py" in err.value.message


def test_index_out_of_bounds(built):
    lib, _ = built
    with pytest.raises(CError) as err:
        lib.call("pick", np.ones(2))
    assert err.value.code == 6
    assert "clib_demo_pick: subtensor: index 2 is out of bounds for axis 0 of u (length 2)" in \
        err.value.message


def test_failed_calls_change_no_state(built, tmp_path):
    lib, _ = built
    lib.set_value("w", [1.0, 2.0, 3.0])
    with pytest.raises(CError) as err:
        lib.call("step", np.ones(4))
    assert err.value.code == 1
    with pytest.raises(CError) as err:
        lib.set_value("w", np.ones((2, 2)))
    assert err.value.code == 1 and "'w' has 1 axes, got 2" in err.value.message
    with pytest.raises(CError) as err:
        lib.set_value("nothing", [1.0])
    assert err.value.code == 2 and "the state: w" in err.value.message
    with pytest.raises(CError) as err:
        lib.load(str(tmp_path / "missing"))
    assert err.value.code == 5 and "w.npy" in err.value.message
    np.save(tmp_path / "w.npy", np.array([1, 2, 3], dtype=np.int32))
    with pytest.raises(CError) as err:
        lib.load(str(tmp_path))
    assert err.value.code == 5 and "float64" in err.value.message
    np.testing.assert_array_equal(lib.get_value("w"), [1.0, 2.0, 3.0])


def test_state_must_be_set(tmp_path):
    w = codegen.shared(np.ones(2), name="w")
    v = T.dvector("v")
    m = codegen.Module("clib_unset")
    m.add_function("f", [v], T.dot(w, v))
    lib = CLibrary(m, str(tmp_path))
    try:
        with pytest.raises(CError) as err:
            lib.call("f", np.ones(2))
        assert err.value.code == 3 and "state 'w' is not set" in err.value.message
    finally:
        lib.close()


def test_header_compiles_alone_and_documents_each_function(built, tmp_path):
    lib, _ = built
    header = os.path.join(lib.dir, "clib_demo.h")
    with open(header) as f:
        text = f.read()
    for name in ("views", "reshape", "reduce", "products", "consts", "step", "pieces", "pick"):
        assert f"int clib_demo_{name}(clib_demo_module* m" in text
    assert "updates state 'w'" in text and "out0: float64 array of shape" in text
    src = tmp_path / "use.c"
    src.write_text('#include "clib_demo.h"\nint main(void) { clib_demo_module* m = '
                   'clib_demo_create(); clib_demo_destroy(m); return 0; }\n')
    subprocess.run(["cc", "-Wall", "-Werror", "-std=c99", f"-I{lib.dir}", str(src), "-o",
                    str(tmp_path / "use"), f"-L{lib.dir}", "-lclib_demo"], check=True)


def test_cli_target_c(tmp_path):
    out = subprocess.run([sys.executable, "-m", "codegen", "build", "examples/mlp/spec.py",
                          "--target", "c", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    names = sorted(os.listdir(tmp_path / "mlp"))
    assert names == ["libmlp.so", "mlp.c", "mlp.h", "mlp_state"]
    assert "/* dot(W, mlp_input) [" in (tmp_path / "mlp" / "mlp.c").read_text()


def test_large_products_through_the_blas_found_at_build_time(tmp_path):
    """Products above ckernel.SMALL_PRODUCT call the BLAS the library was linked with (when
    one was found: OpenBLAS or the reference BLAS), else the built-in loops; numpy's values."""
    a, b = T.dmatrix("a"), T.dmatrix("b")
    m = codegen.Module("clib_big")
    m.add_function("f", [a, b], [T.dot(a, b), T.dot(a.T, a)])
    lib = CLibrary(m, str(tmp_path))
    try:
        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((200, 300)), rng.standard_normal((300, 100))
        ab, ata = lib.call("f", A, B)
        np.testing.assert_allclose(ab, A @ B, rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(ata, A.T @ A, rtol=1e-12, atol=1e-11)
    finally:
        lib.close()
