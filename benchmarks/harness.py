"""Benchmark harness: every implementation in its own processes, median of medians, ratios.

A workload script defines ``NAME``, ``CASES`` (case name -> keyword arguments) and
``IMPLEMENTATIONS`` (implementation name -> ``setup(**case)`` returning ``(step, check)``):
``step()`` runs the timed work once; ``check()`` returns arrays that must equal ``reference``'s
(``check`` is None for a yardstick such as W2's gemm floor, which does only part of the work).
Several libraries' thread pools in one process distort each other, so each (case,
implementation) runs alone in a fresh process, several times, and the median of the
per-process medians is reported.
"""

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS = os.environ.get("BENCH_THREADS", "2")
THREAD_ENV = {"OMP_NUM_THREADS": THREADS, "OPENBLAS_NUM_THREADS": THREADS,
              "MKL_NUM_THREADS": THREADS,
              "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true "
                           f"intra_op_parallelism_threads={THREADS}"}


class Missing(Exception):
    """The peer library is not installed (pip install -e .[bench])."""


def time_step(step, min_time=0.2, repeats=7):
    """Median seconds per call: warm up, then repeats of loops lasting at least min_time."""
    for _ in range(3):
        step()
    n, t0 = 1, time.perf_counter()
    step()
    once = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def run_one(workload, case, impl):
    """In this process: set up, verify against the reference, time. Prints one JSON line."""
    module = importlib.import_module(workload)
    kwargs = module.CASES[case]
    try:
        step, check = module.IMPLEMENTATIONS[impl](**kwargs)
    except Missing as exc:
        print(json.dumps({"missing": str(exc)}))
        return
    if check is not None:  # None: a yardstick that computes only part of the work
        got = check()
        want = module.reference(**kwargs)
        rtol = 2e-3 if kwargs.get("dtype") == "float32" else 1e-6
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g, dtype="float64"), w, rtol=rtol,
                                       atol=rtol * 1e-2 * max(1.0, float(np.abs(w).max())))
    if hasattr(module, "measure"):  # workloads that time something other than step()
        print(json.dumps({"seconds": module.measure(impl, **kwargs)}))
        return
    print(json.dumps({"seconds": time_step(step)}))


def run_workload(workload, processes=3, impls=None):
    """{case: {impl: median seconds or None (missing)}} for one workload script.

    The processes go round by round, each round running every implementation once, in an
    order shuffled per round (seeded by the round): the speed of these shared machines drifts
    over tens of seconds, and rounds spread a slow stretch over all implementations instead
    of letting it fall on one, or always on the one that runs first.
    """
    module = importlib.import_module(workload)
    results = {}
    for case in module.CASES:
        names = list(impls or module.IMPLEMENTATIONS)
        medians = {impl: [] for impl in names}
        missing = {}
        for round_ in range(processes):
            order = list(names)
            random.Random(round_).shuffle(order)
            for impl in order:
                if impl in missing:
                    continue
                out = subprocess.run([sys.executable, os.path.join(HERE, "harness.py"), "--one",
                                      workload, case, impl], capture_output=True, text=True,
                                     env={**os.environ, **THREAD_ENV}, cwd=HERE, timeout=900)
                if out.returncode != 0:
                    missing[impl] = "failed: " + out.stderr.strip().splitlines()[-1][:200]
                    print(f"{workload} {case} {impl} failed:\n{out.stderr[-2000:]}",
                          file=sys.stderr)
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                if "missing" in row:
                    missing[impl] = "missing: " + row["missing"]
                    continue
                medians[impl].append(row["seconds"])
        results[case] = {}
        for impl in names:
            results[case][impl] = None if impl in missing else statistics.median(medians[impl])
            shown = missing.get(impl) or _fmt(results[case][impl])
            print(f"  {module.NAME} {case:>12s} {impl:>12s}: {shown}", flush=True)
    return results


def _fmt(seconds):
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def markdown(all_results, names):
    lines = ["| workload | case | implementation | time | peer / codegen |",
             "| --- | --- | --- | --- | --- |"]
    for workload, results in all_results.items():
        for case, row in results.items():
            base = row.get("codegen")
            for impl, seconds in row.items():
                ratio = (f"{seconds / base:.2f}x" if seconds is not None and base
                         and impl != "codegen" else "")
                lines.append(f"| {names[workload]} | {case} | {impl} | {_fmt(seconds)} | "
                             f"{ratio} |")
    return "\n".join(lines)


def chart(all_results, names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels, ratios = [], []
    for workload, results in all_results.items():
        for case, row in results.items():
            base = row.get("codegen")
            for impl, seconds in row.items():
                if impl not in ("codegen", "gemm_floor") and seconds is not None and base:
                    labels.append(f"{names[workload]} {case}\n{impl}")
                    ratios.append(seconds / base)
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(labels)), 5))
    ax.bar(range(len(ratios)), ratios, color=["#2a7" if r >= 1 else "#d54" for r in ratios])
    ax.axhline(1, color="k", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("peer time / codegen time (higher: codegen faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", nargs=3, metavar=("WORKLOAD", "CASE", "IMPL"))
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    run_one(*args.one)
