"""Forked children: they build, load and run modules, whatever the parent was doing."""

import subprocess
import sys
import textwrap

import pytest

from codegen.build import openmp_available

#: Helpers for the scripts below: a module of one large (threaded) kernel, and a fork whose
#: child runs ``child()`` and must exit 0 within the time limit (a hang is a failure).
PRELUDE = textwrap.dedent("""
    import os, sys, threading, time
    import numpy as np
    import codegen, codegen.tensor as T
    codegen.config.cache_dir = sys.argv[1]

    def large_module(name, scale):
        x = T.vector("x")
        w = codegen.shared(np.zeros(1 << 20), name="w")  # bump holds the lock a while
        module = codegen.Module(name)
        module.add_function("run", [x], T.sum(T.exp(x * scale)) + T.sum(w) * 0)
        module.add_function("bump", [], [], updates=[(w, T.sqrt(T.exp(w) + w + 1))])
        from codegen.compile.module import load_module
        return load_module(module.build(os.path.join(sys.argv[1], name)))

    X = np.linspace(-1, 1, 1 << 18)

    def fork_and_wait(child, seconds=60):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child()
                code = 0
            finally:
                os._exit(code)
        deadline = time.time() + seconds
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(pid, 9)
        return "hung"
""")


def _run(body, tmp_path):
    out = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body),
                          str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    return out.stdout


@pytest.mark.skipif(not openmp_available(), reason="kernels run on one thread without OpenMP")
def test_a_child_forked_after_threaded_kernels_builds_loads_and_runs(tmp_path):
    """17a. After the parent ran a threaded kernel, a child builds and imports a module the
    parent never loaded and runs a large kernel in it (gcc's OpenMP would hang there)."""
    out = _run("""
        parent = large_module("parent_mod", 1.0)
        expected = float(np.sum(np.exp(X * 0.5)))
        parent.run(X)

        def child():
            fresh = large_module("child_mod", 0.5)
            assert abs(fresh.run(X) - expected) < 1e-6 * expected
            parent.run(X)

        print(fork_and_wait(child))
    """, tmp_path)
    assert out.split()[-1] == "0"


def test_a_child_forked_during_a_call_gets_a_working_module(tmp_path):
    """17b. A fork while another thread is inside a module call: the fork waits for the
    call's state, and the child's calls do not block on the parent's lock."""
    out = _run("""
        m = large_module("busy_mod", 1.0)
        stop = []

        def busy():
            while not stop:
                m.bump()
                m.run(X)

        worker = threading.Thread(target=busy)
        worker.start()
        time.sleep(0.2)
        results = []
        for _ in range(5):
            def child():
                before = m.get_value("w")
                assert (before == before[0]).all()  # whole state: every element updated
                m.bump()
                assert m.get_value("w")[0] == np.sqrt(np.exp(before[0]) + before[0] + 1)
                m.run(X)
            results.append(fork_and_wait(child))
        stop.append(1)
        worker.join()
        print(results)
    """, tmp_path)
    assert out.split("\n")[-2] == "[0, 0, 0, 0, 0]"
