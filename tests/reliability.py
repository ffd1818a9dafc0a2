"""``make reliability``: how codegen holds up on bad days, in figures, as one table.

    python tests/reliability.py [--graphs 10000] [--quick]

Fuzzed graphs against the numpy reference (tests/fuzzgraphs.py), bad input of every kind in
tests/badinput.py (each API in processes of its own, so that a crash is counted and the rest
still run), threads mixing training and prediction against a serial run, processes building
one module at once, damaged caches and state files, and the memory of a long run of calls.
``--quick`` runs a small share of each (a few minutes) to try the script itself.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _python(code, *args, timeout=600, env=None):
    """Run ``code`` in a fresh interpreter: (exit code, stdout, stderr); a signal's number is
    negative, a hang is "timeout"."""
    try:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                             text=True, timeout=timeout, cwd=HERE,
                             env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    return out.returncode, out.stdout, out.stderr


# ---------------------------------------------------------------- fuzzing

def fuzzing(graphs):
    from fuzz import fuzz
    seed = int(time.time())
    print(f"fuzzing seed {seed}", file=sys.stderr)
    report = fuzz(graphs, 50, seed, progress=True)
    for line in report.mismatches:
        print("MISMATCH", line, file=sys.stderr)
    return {"graphs fuzzed (gradients among them)": f"{report.graphs} ({report.gradients})",
            "fuzzing mismatches": len(report.mismatches)}


# ---------------------------------------------------------------- bad input

BAD_INPUT_CHILD = textwrap.dedent("""
    import sys, tempfile
    import badinput
    api = (badinput.FunctionAPI() if sys.argv[1] == "function"
           else badinput.ModuleAPI(tempfile.mkdtemp()))
    kinds = badinput.applicable(api)
    for k in range(int(sys.argv[2]), len(kinds)):
        print("START", k, flush=True)
        problem = badinput.check(api, kinds[k])
        print("DONE", k, "ok" if problem is None else problem.replace("\\n", " "), flush=True)
""")


def bad_input():
    import badinput
    cases = crashes = state_changes = other = 0
    for api, letter in (("function", "f"), ("module", "m")):
        total, start = sum(letter in k[1] for k in badinput.KINDS), 0
        while start < total:
            code, out, err = _python(BAD_INPUT_CHILD, api, str(start))
            done = [line.split(" ", 2) for line in out.splitlines() if line.startswith("DONE")]
            for _, k, verdict in done:
                cases += 1
                if verdict != "ok":
                    print(f"BAD INPUT {api} {badinput.KINDS[int(k)][0]}: {verdict}",
                          file=sys.stderr)
                    state_changes += verdict.startswith("state changed")
                    other += not verdict.startswith("state changed")
            started = [int(line.split()[1]) for line in out.splitlines()
                       if line.startswith("START")]
            if code == 0:
                break
            crashed = started[-1] if started else start
            print(f"CRASH {api} kind {crashed} (exit {code}): {err[-500:]}", file=sys.stderr)
            crashes += 1
            cases += 1
            start = crashed + 1
    return {"kinds of bad input (cases over both APIs)": f"{len(badinput.KINDS)} ({cases})",
            "interpreter crashes": crashes,
            "state changed by a rejected call": state_changes,
            "other wrong answers to bad input": other}


# ---------------------------------------------------------------- threads

THREADS = textwrap.dedent("""
    import sys, threading, tempfile
    import numpy as np
    import codegen, codegen.tensor as T
    from codegen.compile.module import load_module
    n_threads, calls = int(sys.argv[1]), int(sys.argv[2])
    x, y = T.matrix("x"), T.vector("y")
    W = codegen.shared(np.full((3, 2), 0.5), name="W")
    b = codegen.shared(np.zeros(2), name="b")
    p = T.nnet.sigmoid(T.dot(x, W) + b)
    cost = T.sum((p[:, 0] - y) ** 2)
    gW, gb = T.grad(cost, [W, b])
    module = codegen.Module("threads")
    module.add_function("train", [x, y], cost, updates=[(W, W - 0.01 * gW), (b, b - 0.01 * gb)])
    module.add_function("predict", [x], p)
    m = load_module(module.build(tempfile.mkdtemp()))
    X, Y = np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.0, 1.0, 1.0, 0.0])
    start = m.state()
    trains, errors, bad = [0] * n_threads, [], []

    def work(t):
        try:
            for i in range(calls):
                if (i + t) % 4 == 0:
                    m.train(X, Y)
                    trains[t] += 1
                else:
                    out = m.predict(X)
                    if out.shape != (4, 2) or not np.isfinite(out).all():
                        bad.append(out)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = m.state()
    for name, value in start.items():
        m.set_value(name, value)
    for _ in range(sum(trains)):
        m.train(X, Y)
    serial = m.state()
    same = all(np.array_equal(concurrent[k], serial[k]) for k in serial)
    print(n_threads * calls, sum(trains), len(errors), len(bad), same)
""")


def threads(n_threads, calls):
    code, out, err = _python(THREADS, str(n_threads), str(calls), timeout=1800)
    if code != 0:
        print(f"THREADS failed (exit {code}): {err[-1000:]}", file=sys.stderr)
        return {"thread calls (8 threads)": "failed", "state equal to a serial run": "no"}
    total, trains, errors, bad, same = out.split()
    return {f"thread calls ({n_threads} threads; updating calls)": f"{total} ({trains})",
            "errors or wrong reads under threads": int(errors) + int(bad),
            "state equal to a serial run": "yes" if same == "True" else "NO"}


# ---------------------------------------------------------------- build races

def build_races(rounds, processes):
    from test_build import RACE  # one module built, imported and called by each process
    failures = 0
    leftovers = 0
    for _ in range(rounds):
        root = tempfile.mkdtemp(prefix="codegen-race-")
        out, cache = os.path.join(root, "out"), os.path.join(root, "cache")
        runs = [subprocess.Popen([sys.executable, "-c", RACE, out, cache], cwd=HERE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(processes)]
        for run in runs:
            _, err = run.communicate(timeout=600)
            if run.returncode != 0:
                failures += 1
                print(f"BUILD RACE failed: {err[-800:]}", file=sys.stderr)
        for folder in (out, cache):
            leftovers += sum(1 for name in os.listdir(folder) if name.endswith(".tmp") or (
                name.startswith(".") and not name.endswith(".lock")))
    return {f"concurrent builds ({rounds} rounds of {processes} processes)":
            rounds * processes,
            "failed builds, partial files left": f"{failures}, {leftovers}"}


# ---------------------------------------------------------------- damaged caches

DAMAGE = textwrap.dedent("""
    import glob, json, os, sys, warnings
    import numpy as np
    import codegen, codegen.tensor as T
    from codegen import build, config
    from codegen.compile.module import load_module
    cache, step = sys.argv[1], sys.argv[2]
    codegen.config.cache_dir = cache
    x = T.vector("x")
    w = codegen.shared(np.arange(3.0), name="w")

    def function():
        return codegen.function([x], x * 3.0 + w)

    def module():
        m = codegen.Module("damaged")
        m.add_function("f", [x], x * 3.0 + w)
        return m

    out = os.path.join(cache, "out")
    if step == "build":
        function()
        load_module(module().build(out))
        print("built")
        sys.exit(0)
    if step == "function":
        got = function()(np.ones(3))
    elif step == "module":
        got = load_module(module().build(out)).f(np.ones(3))
    else:  # an installed module whose state file is damaged: a warning, then a clear error
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = load_module(glob.glob(os.path.join(out, "damaged.*.so"))[0])
        try:
            m.f(np.ones(3))
            got = None
        except RuntimeError as exc:
            assert "damaged" in str(exc) and "set_value or load" in str(exc), exc
            assert caught, "no warning"
            m.set_value("w", np.arange(3.0))
            got = m.f(np.ones(3))
    assert np.array_equal(got, np.ones(3) * 3.0 + np.arange(3.0)), got
    print("ok")
""")


def _entries(cache, pattern):
    import glob
    return sorted(glob.glob(os.path.join(cache, pattern)))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"\x00garbage\xff" * 10)


def corruptions():
    """Damage one thing at a time in a warm cache, then use it from a fresh process."""
    scenarios = [
        ("extension truncated", "*/cg_*.so", _truncate, "function"),
        ("extension removed", "*/cg_*.so", os.remove, "function"),
        ("another graph's extension", "*/cg_*.so", None, "function"),
        ("digest removed", "*/cg_*.sha256", os.remove, "function"),
        ("digest garbage", "*/cg_*.sha256", _garbage, "function"),
        ("graph-cache entry garbage", "graphs/*.json", _garbage, "function"),
        ("graph-cache entry truncated", "graphs/*.json", _truncate, "function"),
        ("module's cached extension truncated", "damaged-*/damaged*.so", _truncate, "module"),
        ("module's cached extension removed", "damaged-*/damaged*.so", os.remove, "module"),
        ("installed state file truncated", "out/damaged_state.npz", _truncate, "installed"),
        ("installed state file garbage", "out/damaged_state.npz", _garbage, "installed"),
    ]
    caught = 0
    for name, pattern, damage, use in scenarios:
        cache = tempfile.mkdtemp(prefix="codegen-damage-")
        code, out, err = _python(DAMAGE, cache, "build")
        if code != 0:
            print(f"DAMAGE {name}: the first build failed: {err[-800:]}", file=sys.stderr)
            continue
        if damage is None:  # another graph's extension in place of this one's
            other = tempfile.mkdtemp(dir=cache)
            _python(DAMAGE.replace("x * 3.0", "x * 5.0"), other, "build")
            target = _entries(cache, pattern)[0]
            with open(_entries(other, pattern)[0], "rb") as src, open(target, "wb") as dst:
                dst.write(src.read())
        else:
            for path in _entries(cache, pattern):
                damage(path)
        code, out, err = _python(DAMAGE, cache, use)
        if code == 0 and out.strip().endswith("ok"):
            caught += 1
        else:
            print(f"DAMAGE {name} not caught (exit {code}): {err[-800:]}", file=sys.stderr)
    cython = _cython_tables_damage()
    return {"damaged caches and state files caught": f"{caught + cython} of "
                                                      f"{len(scenarios) + 1}"}


def _cython_tables_damage():
    """Cython's kept tables (lexicon, utility code, Tempita) as garbage: a build still works."""
    tables = tempfile.mkdtemp(prefix="codegen-tables-")
    code = textwrap.dedent("""
        import sys
        from codegen import cython_tables
        cython_tables.default_directory = lambda: sys.argv[1]
        import numpy as np, codegen, codegen.tensor as T
        codegen.config.cache_dir = sys.argv[1] + "/cache"
        x = T.vector("x")
        assert codegen.function([x], x + 1)(np.zeros(2)).tolist() == [1.0, 1.0]
    """)
    _python(code, tables)
    for name in os.listdir(tables):
        if name.startswith("cython-"):
            _garbage(os.path.join(tables, name))
    result, _, err = _python(code.replace("x + 1", "x + 2").replace("[1.0, 1.0]", "[2.0, 2.0]"),
                             tables)
    if result != 0:
        print(f"DAMAGE Cython tables not caught: {err[-800:]}", file=sys.stderr)
    return int(result == 0)


# ---------------------------------------------------------------- memory

MEMORY = textwrap.dedent("""
    import sys
    import numpy as np
    import codegen, codegen.tensor as T
    calls = int(sys.argv[1])
    x = T.vector("x")
    w = codegen.shared(np.zeros(100), name="w")
    train = codegen.function([x], T.sum(w * x), updates=[(w, w * 0.5 + x)])
    X = np.ones(100)

    def rss_kb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 // 1024

    for _ in range(10000):
        train(X)
    before = rss_kb()
    for _ in range(calls):
        train(X)
    print(rss_kb() - before)
""")


def memory(calls):
    code, out, err = _python(MEMORY, str(calls), timeout=1800)
    growth = out.strip() if code == 0 else f"failed: {err[-300:]}"
    return {f"RSS growth over {calls:,} calls": f"{growth} KiB"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    os.environ.setdefault("CODEGEN_CACHE_DIR", tempfile.mkdtemp(prefix="codegen-reliability-"))
    figures = {}
    steps = [
        ("fuzzing", lambda: fuzzing(200 if quick else args.graphs)),
        ("bad input", bad_input),
        ("threads", lambda: threads(8, 500 if quick else 10_000)),
        ("build races", lambda: build_races(2 if quick else 20, 4)),
        ("damaged caches", corruptions),
        ("memory", lambda: memory(10_000 if quick else 100_000)),
    ]
    for name, step in steps:
        t0 = time.perf_counter()
        print(f"{name}...", file=sys.stderr, flush=True)
        figures.update(step())
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print("\n| figure | measured |\n| --- | --- |")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
