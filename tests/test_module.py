"""The generated-module contract: standalone import, state API, validation, atomicity."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import codegen
import codegen.tensor as T
from codegen.compile.module import load_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "mlp"))
from model import build_mlp, gradient_updates_momentum, make_data  # noqa: E402

BLOCKER = textwrap.dedent("""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('codegen', 'jinja2', 'Cython'):
                raise ImportError('blocked in this test: ' + name)
    sys.meta_path.insert(0, _Block())
""")


def _mlp_module():
    X, y = make_data(N=200)
    mlp = build_mlp(X)
    xin, target = T.matrix("mlp_input"), T.vector("mlp_target")
    cost = mlp.squared_error(xin, target)
    updates = gradient_updates_momentum(cost, mlp.params, 0.01, 0.9)
    module = codegen.Module("mlp_test")
    module.add_function("train", [xin, target], cost, updates=updates)
    module.add_function("predict", [xin], mlp.output(xin))
    return module, mlp, xin, target, cost, updates, X, y


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    module, *rest = _mlp_module()
    out = tmp_path_factory.mktemp("mlp_test")
    path = module.build(str(out))
    return path, module, rest


def test_standalone_in_fresh_interpreter(built):
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    ref_train = codegen.function([xin, target], cost, updates=updates, mode="FAST_COMPILE")
    expected = [float(ref_train(X, y)) for _ in range(3)]
    np.save(os.path.join(os.path.dirname(path), "X.npy"), X)
    np.save(os.path.join(os.path.dirname(path), "y.npy"), y)
    script = BLOCKER + textwrap.dedent("""
        import numpy as np
        import mlp_test
        X, y = np.load('X.npy'), np.load('y.npy')
        print(repr([float(mlp_test.train(X, y)) for _ in range(3)]))
        try:
            import codegen
        except ImportError:
            print('codegen not importable')
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(path),
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    np.testing.assert_allclose(eval(lines[0]), expected, rtol=1e-10)
    assert lines[1] == "codegen not importable"


def test_emitted_files_build_with_setuptools_alone(built, tmp_path):
    """The emitted .pyx, _kernels.c and _kernels.h build without codegen, with setuptools and
    Cython as a user's own build would, into a module that computes the same."""
    from codegen.build import compiler_flags
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    folder = os.path.dirname(path)
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("mlp_test.pyx", "mlp_test_kernels.c", "mlp_test_kernels.h",
                 "mlp_test_state.npz"):
        shutil.copy(os.path.join(folder, name), alone)
    with open(alone / "mlp_test_kernels.c") as f:
        assert "CODEGEN_KERNEL void train_k1_" in f.read()
    flags = [f for f in compiler_flags() if not f.startswith("-O")] + ["-O2"]
    libs = ["-fopenmp"] if "-fopenmp" in flags else []
    libs += ["-lmvec"] if "-DCODEGEN_SIMD_MATH" in flags else []
    (alone / "setup.py").write_text(textwrap.dedent(f"""
        import numpy as np
        from Cython.Build import cythonize
        from setuptools import Extension, setup
        setup(ext_modules=cythonize([Extension(
            "mlp_test", ["mlp_test.pyx", "mlp_test_kernels.c"],
            include_dirs=[np.get_include(), "."], extra_compile_args={flags!r},
            extra_link_args={libs!r})], quiet=True))
    """))
    out = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                         cwd=alone, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    built_alone = next(str(p) for p in alone.iterdir() if p.name.endswith(".so"))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    runs = []
    for folder in (os.path.dirname(built_alone), os.path.dirname(path)):
        script = BLOCKER + textwrap.dedent(f"""
            import sys, numpy as np
            sys.path.insert(0, {folder!r})
            import mlp_test
            X, y = np.load({str(tmp_path / "X.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
            print(repr([float(mlp_test.train(X, y)) for _ in range(3)]))
        """)
        runs.append(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                   text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""}))
        assert runs[-1].returncode == 0, runs[-1].stderr
    assert runs[0].stdout == runs[1].stdout


@pytest.mark.parametrize("state_file", ["absent", "damaged"])
def test_module_without_its_state_file_says_what_to_set(built, tmp_path, state_file):
    """Without mlp_test_state.npz (or with a damaged one: a warning) the module imports with
    no state; a call names the state to set instead of failing inside, and works once it is
    set."""
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    alone = tmp_path / "bare"
    alone.mkdir()
    shutil.copy(path, alone)
    if state_file == "damaged":
        good = open(os.path.join(os.path.dirname(path), "mlp_test_state.npz"), "rb").read()
        (alone / "mlp_test_state.npz").write_bytes(good[: len(good) // 2])
    np.save(tmp_path / "X.npy", X)
    script = BLOCKER + textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(alone)!r})
        import mlp_test
        X = np.load({str(tmp_path / "X.npy")!r})
        assert mlp_test.state() == {{}}
        try:
            mlp_test.predict(X)
        except RuntimeError as exc:
            print(exc)
        try:
            mlp_test.get_value("W")
        except KeyError as exc:
            print(exc)
        with np.load({os.path.join(os.path.dirname(path), "mlp_test_state.npz")!r}) as data:
            for name in data.files:
                mlp_test.set_value(name, data[name])
        print(repr(mlp_test.predict(X).tolist()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("predict: state W, W_1, b, b_1") and "set_value" in lines[0]
    assert ("damaged" in lines[0]) == (state_file == "damaged")
    assert ("the state is unset" in out.stderr) == (state_file == "damaged")
    assert "'W' is not set" in lines[1]
    m = load_module(path)
    np.testing.assert_allclose(eval(lines[2]), m.predict(X), rtol=1e-12)


def test_compiled_mlp_matches_reference_over_20_steps():
    module, mlp, xin, target, cost, updates, X, y = _mlp_module()
    params = [p for p, _ in updates]
    start = [p.get_value() for p in params]
    compiled = codegen.function([xin, target], cost, updates=updates)
    got = [float(compiled(X, y)) for _ in range(20)]
    got_params = [p.get_value() for p in params]
    for p, v in zip(params, start):
        p.set_value(v)
    ref = codegen.function([xin, target], cost, updates=updates, mode="FAST_COMPILE")
    want = [float(ref(X, y)) for _ in range(20)]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    for a, p in zip(got_params, params):
        np.testing.assert_allclose(a, p.get_value(), rtol=1e-10, atol=1e-12)


def test_state_api_and_docstring(built, tmp_path):
    path, *_ = built
    m = load_module(path)
    assert "mlp_input: float64 matrix" in m.train.__doc__
    names = sorted(m.state())
    assert names == sorted(["W", "W_1", "b", "b_1", "shared", "shared_1", "shared_2",
                            "shared_3"])
    # the docstring names each state it updates as get_value does, once
    said = [line.strip() for line in m.train.__doc__.splitlines() if "updates state" in line]
    cols = ("b", "b_1", "shared_1", "shared_3")
    assert sorted(said) == sorted(
        f"updates state {name!r} (float64 {'col' if name in cols else 'matrix'})"
        for name in names), said
    before = m.state()
    m.save(tmp_path / "s.npz")
    m.set_value("W", np.zeros_like(before["W"]))
    assert not m.get_value("W").any()
    m.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(m.get_value("W"), before["W"])
    with pytest.raises(TypeError, match="W"):
        m.set_value("W", np.zeros((3, 3, 3)))
    assert m.__codegen__["backend"] == "cython"


@pytest.mark.parametrize("bad,error,match", [
    (lambda X, y: (X.astype(np.float32).astype(np.complex64), y), TypeError, "mlp_input"),
    (lambda X, y: (X[0], y), TypeError, "mlp_input"),
    (lambda X, y: (X, y[:-1]), ValueError, "dimension 1"),
    (lambda X, y: (None, y), TypeError, "None"),
    (lambda X, y: ([[1, 2], [3]], y), TypeError, "mlp_input"),
    (lambda X, y: (X.astype(np.float32), y.astype(np.float128)), TypeError, "mlp_target"),
])
def test_bad_inputs_leave_state_unchanged(built, bad, error, match):
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    m = load_module(path)
    before = m.state()
    with pytest.raises(error, match=match):
        m.train(*bad(X, y))
    after = m.state()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_odd_layouts_give_correct_results(built):
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    m = load_module(path)
    ref = codegen.function([xin], mlp.output(xin), mode="FAST_COMPILE")
    for k, v in zip(sorted(m.state()), [m.get_value(k) for k in sorted(m.state())]):
        pass
    for p, name in zip(mlp.params, ["W", "b", "W_1", "b_1"]):
        p.set_value(m.get_value(name))
    Xf = np.asfortranarray(X)
    Xrev = X[:, ::-1]
    Xstep = np.repeat(X, 2, axis=1)[:, ::2]
    for arr in (Xf, Xrev, Xstep, X[:, :0], X.tolist()):
        np.testing.assert_allclose(m.predict(arr), ref(np.asarray(arr)), rtol=1e-12)


def test_emitted_source_is_deterministic_across_processes(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, 'examples/mlp')
        import importlib.util
        spec = importlib.util.spec_from_file_location('spec', 'examples/mlp/spec.py')
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
        sys.stdout.write(mod.module.source(spec_path='examples/mlp/spec.py'))
    """)
    root = os.path.join(os.path.dirname(__file__), "..")
    outs = [subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                           text=True, timeout=120).stdout for _ in range(2)]
    assert outs[0] and outs[0] == outs[1]
    assert "# Do not edit: regenerate with `codegen build examples/mlp/spec.py`" in outs[0]
    assert "[examples/mlp/model.py:" in outs[0]


def test_concurrent_calls_are_safe(built):
    """Threads training and predicting at once: every step's result is one a serial run
    could give (updates serialized, reads see whole states), and nothing crashes."""
    import threading
    path, module, (mlp, xin, target, cost, updates, X, y) = built
    m = load_module(path)
    start = m.state()
    serial = []
    for _ in range(8):
        serial.append(float(m.train(X, y)))
    for name, value in start.items():
        m.set_value(name, value)
    costs, predictions, errors = [], [], []

    def train():
        try:
            for _ in range(4):
                costs.append(float(m.train(X, y)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def predict():
        try:
            for _ in range(20):
                predictions.append(m.predict(X))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (train, train, predict, predict)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(sorted(costs), sorted(serial), rtol=1e-12)
    assert all(p.shape == (1, X.shape[1]) and np.isfinite(p).all() for p in predictions)


def _cached_graph(scale):
    x = T.vector("x")
    w = codegen.shared(np.arange(3.0), name="w")
    return codegen.function([x], T.sum(T.exp(x * w) * scale), updates=[(w, w + 1)])


def test_graph_cache_skips_generation_for_a_graph_built_before(tmp_path, monkeypatch):
    """A graph seen before goes from its hash straight to the built extension; any change
    to it (here a constant) generates anew; the kernel program is still there on demand."""
    import codegen.compile.module as module_py
    monkeypatch.setattr(codegen.config, "cache_dir", str(tmp_path))
    first = _cached_graph(2.0)
    real_assemble = module_py.assemble
    calls = []

    def counting_assemble(*args, **kwargs):
        calls.append(1)
        return real_assemble(*args, **kwargs)

    monkeypatch.setattr(module_py, "assemble", counting_assemble)
    again = _cached_graph(2.0)
    assert calls == []
    x = np.array([0.5, -1.0, 2.0])
    want = np.sum(np.exp(x * np.arange(3.0)) * 2)
    np.testing.assert_allclose(first(x), want)  # each function has its own w
    np.testing.assert_allclose(again(x), want)
    np.testing.assert_allclose(again(x), np.sum(np.exp(x * (np.arange(3.0) + 1)) * 2))
    assert calls == []
    assert again.executable.program.steps  # generated on demand
    assert calls == [1]
    _cached_graph(3.0)
    assert calls == [1, 1]
