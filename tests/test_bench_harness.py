"""The benchmark harness on a toy workload: turns interleave implementations, each checked
first; a missing library is reported, a wrong result fails, a crash is contained."""

import importlib.util
import os
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "benchmarks")

WORKLOAD = '''
import os
import time

import numpy as np
from harness import Missing

NAME = "T"
CASES = {"small": {"n": 3}}


def reference(n):
    return [np.arange(n, dtype="float64")]


def _impl(name, seconds, result):
    def setup(n):
        def step():  # sleeps, and logs which implementation ran on which cores
            time.sleep(seconds)
            with open(os.environ["TOY_LOG"], "a") as f:
                f.write(f"{name} {sorted(os.sched_getaffinity(0))}\\n")
        return step, lambda: [np.asarray(result(n), dtype="float64")]
    return setup


IMPLEMENTATIONS = {
    "fast": _impl("fast", 0.001, lambda n: np.arange(n)),
    "slow": _impl("slow", 0.004, lambda n: np.arange(n)),
}
'''


@pytest.fixture
def harness(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("harness", os.path.join(BENCH, "harness.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PAUSE_SECONDS", 0.0)
    monkeypatch.setenv("BENCH_SLICE_SECONDS", "0.02")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), BENCH]))
    monkeypatch.setenv("TOY_LOG", str(tmp_path / "turns.log"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(BENCH)
    return module


def _write(tmp_path, name, text):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    sys.modules.pop(name, None)


def test_turns_interleave_on_alternating_cores(harness, tmp_path):
    _write(tmp_path, "toy_ok", WORKLOAD)
    result = harness.run_workload("toy_ok", processes=1, slices=4)["small"]
    assert set(result) == {"fast", "slow"}
    assert 0.001 <= result["fast"] < 0.004 <= result["slow"]
    turns = []  # consecutive log lines of one implementation on one core set: one turn
    for line in (tmp_path / "turns.log").read_text().splitlines():
        if not turns or turns[-1] != line:
            turns.append(line)
    pinned = [t for t in turns if len(t.split(" ", 1)[1].split(",")) == 1]
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:  # set-up runs unpinned; each of the 4 turns per implementation pinned
        assert len(pinned) == 8, turns
        assert {t.split(" ", 1)[1] for t in pinned} == {f"[{c}]" for c in cores[:2]}
        names = [t.split()[0] for t in pinned]
        assert names != sorted(names), "turns of one implementation ran back to back"


def test_missing_library_and_wrong_result_are_reported_not_timed(harness, tmp_path, capsys):
    _write(tmp_path, "toy_bad", WORKLOAD + '''
def _missing(n):
    raise Missing("toylib is not installed")


def _crash(n):
    def step():
        os._exit(3)
    return step, None


IMPLEMENTATIONS["absent"] = _missing
IMPLEMENTATIONS["wrong"] = _impl("wrong", 0.001, lambda n: np.arange(n) + 1)
IMPLEMENTATIONS["crash"] = _crash
''')
    result = harness.run_workload("toy_bad", processes=1, slices=2)["small"]
    assert result["absent"] is None and result["wrong"] is None and result["crash"] is None
    assert result["fast"] is not None and result["slow"] is not None
    shown = capsys.readouterr().out
    assert "absent: missing: toylib is not installed" in shown
    assert "wrong: failed:" in shown and "crash: failed:" in shown, shown


def test_peak_memory_of_each_implementation_is_reported(harness, tmp_path):
    """Each process says its peak resident memory while timed: an implementation whose
    calls take 64 MB at once shows it above the one that takes none."""
    _write(tmp_path, "toy_mem", WORKLOAD + '''

def _hog(n):
    def step():
        block = np.ones(8 << 20)  # 64 MB, touched
        return block.sum()
    return step, lambda: [np.arange(n, dtype="float64")]


IMPLEMENTATIONS["hog"] = _hog
''')
    memory = {}
    result = harness.run_workload("toy_mem", processes=1, slices=2, memory=memory)["small"]
    assert result["hog"] is not None
    used = memory["small"]
    assert used["hog"]["added_mb"] >= 60 > used["fast"]["added_mb"] + 30
    assert used["hog"]["peak_mb"] > used["hog"]["added_mb"]  # the interpreter and numpy too
    table = harness.markdown({"toy_mem": {"small": result}}, {"toy_mem": "T"},
                             {"toy_mem": memory})
    assert "| T | small | hog |" in table and " MB |" in table
