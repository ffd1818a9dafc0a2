"""`codegen build` on the MLP spec, then training with codegen unimportable."""

import os
import subprocess
import sys
import time

from test_module import BLOCKER

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_build_train_and_rebuild(tmp_path):
    out = _codegen("build", "examples/mlp/spec.py", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    script = BLOCKER + ("import runpy, sys; sys.argv = ['train.py', '--module-dir', "
                        f"{str(tmp_path / 'mlp')!r}, '--out', {str(tmp_path / 'run')!r}]; "
                        "runpy.run_path('examples/mlp/train.py', run_name='__main__')")
    train = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert train.returncode == 0, train.stderr
    assert "iteration 20" in train.stdout
    assert (tmp_path / "run" / "mlp.png").exists()
    t0 = time.perf_counter()
    again = _codegen("build", "examples/mlp/spec.py", "--out", str(tmp_path))
    assert again.returncode == 0
    assert "up to date" in again.stdout
    assert time.perf_counter() - t0 < 5  # interpreter start included; the spec is not re-run


def test_user_mistakes_are_short_errors(tmp_path):
    missing = _codegen("build", "nope.py")
    assert missing.returncode == 2 and "not found" in missing.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    none = _codegen("build", str(empty))
    assert none.returncode == 2 and "defines no codegen.Module" in none.stderr
    assert "Traceback" not in none.stderr


def test_up_to_date_is_per_spec(tmp_path):
    spec = tmp_path / "other.py"
    spec.write_text("import codegen, codegen.tensor as T\n"
                    "x = T.vector('x')\n"
                    "m = codegen.Module('other')\n"
                    "m.add_function('double', [x], 2 * x)\n")
    first = _codegen("build", str(spec), "--out", str(tmp_path / "out"))
    assert first.returncode == 0, first.stderr
    assert "built other" in first.stdout
    missing = _codegen("build", str(tmp_path / "gone.py"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and "not found" in missing.stderr
