"""Benchmark harness: every implementation in its own processes, median of medians, ratios.

A workload script defines ``NAME``, ``CASES`` (case name -> keyword arguments) and
``IMPLEMENTATIONS`` (implementation name -> ``setup(**case)`` returning ``(step, check)``):
``step()`` runs the timed work once; ``check()`` returns arrays that must equal ``reference``'s
(``check`` is None for a yardstick such as W2's gemm floor, which does only part of the work).
Several libraries' thread pools in one process distort each other, so each (case,
implementation) runs alone in its own process, in several rounds, and the median of the
per-process medians is reported.

These shared machines change speed from one stretch of seconds to the next (a step can take
1.6 times as long for a few seconds, on either core), so timing one implementation after
another would let a slow stretch fall on one of them. Instead, each round starts one process
per implementation, which sets up, checks its result and then waits; the implementations then
take turns, in a shuffled order, timing short slices of calls, one process at a time with a
pause between turns (for the previous one's thread pools to go idle). Every implementation's
slices are spread over the same stretch of time, so a slow stretch falls on all of them alike.
The slow stretches also differ between the two cores at the same moment, and a process tends
to stay on the core it started on, so each turn also names the core that the process's main
thread runs on, alternating from slice to slice, the same for every implementation (thread
pools, started during set-up, keep running on any core).
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


SLICE_SECONDS = float(os.environ.get("BENCH_SLICE_SECONDS", "0.2"))  # one turn's timed calls
BUILD_PROCESSES = 5  # at least this many rounds for workloads that time one thing per process
PAUSE_SECONDS = 0.15  # between turns: idle spinning BLAS/OpenMP workers go to sleep


def slice_calls(step):
    """Warm up, then how many calls fill a slice of SLICE_SECONDS."""
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    step()
    return max(1, int(SLICE_SECONDS / max(time.perf_counter() - t0, 1e-7)))


def time_slice(step, n):
    """Seconds per call over one turn: two calls to warm the caches again, then ``n`` timed."""
    step()
    step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def cycling(train_on, batches, reset, values):
    """(step, check): step trains on the next minibatch of ``batches`` in turn; check resets
    the parameters and returns the cost and parameters after minibatches 0 and 1."""
    state = {"k": 0}

    def step():
        k = state["k"]
        state["k"] = (k + 1) % len(batches)
        return train_on(*batches[k])

    def check():
        reset()
        cost = [train_on(*batches[k]) for k in (0, 1)][-1]
        return [np.asarray(cost)] + [np.asarray(v) for v in values()]
    return step, check


def codegen_sgd(name, inputs, cost, shared, lr, xs, ys):
    """(step, check) of a codegen module ``name`` whose ``train(x, y)`` returns ``cost`` and
    takes one SGD step of ``shared``, cycling through the minibatches ``xs``, ``ys``."""
    import codegen
    import codegen.tensor as T
    from codegen.compile.module import load_module
    lr = np.asarray(lr, shared[0].dtype)
    module = codegen.Module(name)
    module.add_function("train", inputs, cost,
                        updates=[(p, p - lr * g) for p, g in zip(shared, T.grad(cost, shared))])
    out = os.path.join(os.environ.get("CODEGEN_CACHE_DIR", "/tmp"), "bench-modules", name)
    mod = load_module(module.build(out))
    start = mod.state()

    def reset():
        for key, value in start.items():
            mod.set_value(key, value)

    return cycling(mod.train, list(zip(xs, ys)), reset,
                   lambda: [mod.get_value(p.name) for p in shared])


def jax_sgd(loss, params, xs, ys, lr):
    """(step, check) of SGD on ``loss(params, x, y)`` under ``jax.jit``, cycling through the
    minibatches ``xs``, ``ys`` (numpy arrays) from ``params``."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def update(ps, x, y):
        cost, gs = jax.value_and_grad(loss)(ps, x, y)
        return cost, [p - lr * g for p, g in zip(ps, gs)]

    state = {"p": [jnp.asarray(p) for p in params]}

    def train_on(x, y):
        cost, state["p"] = update(state["p"], x, y)
        return cost.block_until_ready()

    return cycling(train_on, [(jnp.asarray(x), jnp.asarray(y)) for x, y in zip(xs, ys)],
                   lambda: state.update(p=[jnp.asarray(p) for p in params]),
                   lambda: state["p"])


def _say(row):
    print(json.dumps(row), flush=True)


def _set_up(workload, case, impl):
    """(module, kwargs, step) after checking step's work against the reference; step is None
    and a "missing" row printed when the implementation's library is not installed."""
    module = importlib.import_module(workload)
    kwargs = module.CASES[case]
    try:
        step, check = module.IMPLEMENTATIONS[impl](**kwargs)
    except Missing as exc:
        _say({"missing": str(exc)})
        return module, kwargs, None
    if check is not None:  # None: a yardstick that computes only part of the work
        got = check()
        want = module.reference(**kwargs)
        rtol = 2e-3 if kwargs.get("dtype") == "float32" else 1e-6
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g, dtype="float64"), w, rtol=rtol,
                                       atol=rtol * 1e-2 * max(1.0, float(np.abs(w).max())))
    return module, kwargs, step


def run_one(workload, case, impl):
    """In this process: set up, verify against the reference, time. Prints one JSON line."""
    module, kwargs, step = _set_up(workload, case, impl)
    if step is None:
        return
    if hasattr(module, "measure"):  # workloads that time something other than step()
        _say({"seconds": module.measure(impl, **kwargs)})
        return
    n = slice_calls(step)  # alone in its process: the median of 7 slices
    _say({"seconds": statistics.median(time_slice(step, n) for _ in range(7))})


class PeakMemory:
    """This process's peak resident memory from now on: Linux's VmHWM, reset through
    /proc/self/clear_refs (where the kernel allows it; else the peak since the process
    started), and what was resident at the start."""

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.start_kb = _status_kb("VmRSS")

    def read(self):
        """{"peak_mb": the peak, "added_mb": the peak above the start, "reset": ...}"""
        peak = _status_kb("VmHWM")
        if peak is None or self.start_kb is None:
            return {}
        return {"peak_mb": peak / 1024, "added_mb": max(peak - self.start_kb, 0) / 1024,
                "reset": self.reset}


def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def serve(workload, case, impl):
    """In this process: set up and verify, say how many calls fill a slice, then time one slice
    per "time" line read from stdin (one JSON line each) until end of input; then say the
    peak resident memory from the end of set-up on (PeakMemory: the libraries, the model and
    the largest memory the calls took at once)."""
    _, _, step = _set_up(workload, case, impl)
    if step is None:
        return
    memory = PeakMemory()
    n = slice_calls(step)
    _say({"ready": n})
    for line in sys.stdin:
        command = line.split()
        if command and command[0] == "time":
            if len(command) > 1:  # this thread only: pools started during set-up keep theirs
                os.sched_setaffinity(0, {int(command[1])})
            _say({"seconds": time_slice(step, n)})
    _say({"memory": memory.read()})


def _command(mode, workload, case, impl):
    """(command, env, cwd) of a process running ``impl``. ``name@TREE``: implementation
    ``name`` of another checkout of codegen (its benchmarks/ and its codegen package), to
    compare two versions side by side (benchmarks/compare.py)."""
    here, env = HERE, {**os.environ, **THREAD_ENV}
    if "@" in impl:
        impl, tree = impl.split("@", 1)
        here = os.path.join(tree, "benchmarks")
        env["PYTHONPATH"] = os.pathsep.join([tree, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["CODEGEN_CACHE_DIR"] = os.path.join(here, ".cache")
    return ([sys.executable, os.path.join(here, "harness.py"), mode, workload, case, impl], env,
            here)


def _serve(workload, case, impl):
    command, env, cwd = _command("--serve", workload, case, impl)
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def _stop(process):
    process.kill()
    process.communicate()


def _row(process, what):
    """The next JSON row a process prints, or raise with its error output."""
    line = process.stdout.readline()
    if not line:
        err = process.stderr.read()
        raise RuntimeError(f"{what} failed:\n{err[-2000:]}")
    return json.loads(line)


def _interleaved_round(workload, case, names, round_, slices, missing, memory=None):
    """{impl: median seconds per call over its slices} for one round of processes; each
    one's peak memory (PeakMemory.read) into ``memory[impl]`` when given."""
    servers = {}
    try:
        for impl in names:  # set up one at a time: set-up is not timed, but it loads the CPU
            if impl in missing:
                continue
            process = _serve(workload, case, impl)
            try:
                row = _row(process, f"{workload} {case} {impl}")
            except RuntimeError as exc:
                missing[impl] = "failed: " + str(exc).strip().splitlines()[-1][:200]
                print(exc, file=sys.stderr)
                _stop(process)
                continue
            if "missing" in row:
                missing[impl] = "missing: " + row["missing"]
                process.communicate()
                continue
            servers[impl] = process
        times = {impl: [] for impl in servers}
        cores = sorted(os.sched_getaffinity(0))
        for slice_ in range(slices):
            order = list(servers)
            random.Random(f"{round_}/{slice_}").shuffle(order)
            core = cores[slice_ % len(cores)]
            for impl in order:
                time.sleep(PAUSE_SECONDS)
                try:
                    servers[impl].stdin.write(f"time {core}\n")
                    servers[impl].stdin.flush()
                    row = _row(servers[impl], f"{workload} {case} {impl}")
                except (RuntimeError, OSError) as exc:
                    missing[impl] = "failed: " + str(exc).strip().splitlines()[-1][:200]
                    print(exc, file=sys.stderr)
                    _stop(servers.pop(impl))
                    continue
                times[impl].append(row["seconds"])
        return {impl: statistics.median(t) for impl, t in times.items() if impl in servers}
    finally:
        for process in servers.values():
            process.stdin.close()
        for impl, process in servers.items():
            line = process.stdout.readline()  # the memory row, said at the end of input
            if memory is not None and line.strip():
                memory.setdefault(impl, []).append(json.loads(line).get("memory", {}))
            process.wait(timeout=60)


def _cpu_names(module):
    """The implementations of the CPU table: all but those on a GPU (``*_cuda``, timed by
    benchmarks/gpu_check.py)."""
    return [name for name in module.IMPLEMENTATIONS if not name.endswith("cuda")]


def run_workload(workload, processes=3, impls=None, slices=10, memory=None):
    """{case: {impl: median seconds or None (missing)}} for one workload script; with
    ``memory`` (a dict), also {case: {impl: {"peak_mb", "added_mb"}}} into it: the largest
    over the rounds of each process's peak resident memory while timed.

    Step workloads run in ``processes`` rounds of interleaved slices (see the module's
    docstring). Workloads that time something else (``measure``: a build in a fresh process)
    go in at least ``BUILD_PROCESSES`` rounds, each round running every implementation once
    in an order shuffled per round, so that a slow stretch does not always fall on the one
    that runs first.
    """
    module = importlib.import_module(workload)
    results = {}
    if not hasattr(module, "measure"):
        for case in module.CASES:
            names = list(impls or _cpu_names(module))
            medians, missing, peaks = {impl: [] for impl in names}, {}, {}
            for round_ in range(processes):
                for impl, seconds in _interleaved_round(workload, case, names, round_, slices,
                                                        missing, peaks).items():
                    medians[impl].append(seconds)
            results[case] = _summary(module, case, names, medians, missing)
            if memory is not None:
                memory[case] = {impl: {key: max(r.get(key, 0) for r in rows)
                                       for key in ("peak_mb", "added_mb")}
                                for impl, rows in peaks.items()
                                if impl not in missing and all(rows)}
        return results
    for case in module.CASES:
        names = list(impls or _cpu_names(module))
        medians = {impl: [] for impl in names}
        missing = {}
        for round_ in range(max(processes, BUILD_PROCESSES)):
            order = list(names)
            random.Random(round_).shuffle(order)
            for impl in order:
                if impl in missing:
                    continue
                command, env, cwd = _command("--one", workload, case, impl)
                out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                                     timeout=900)
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
        results[case] = _summary(module, case, names, medians, missing)
    return results


def _summary(module, case, names, medians, missing):
    result = {}
    for impl in names:
        result[impl] = (None if impl in missing or not medians[impl]
                        else statistics.median(medians[impl]))
        shown = missing.get(impl) or _fmt(result[impl])
        print(f"  {module.NAME} {case:>12s} {impl:>12s}: {shown}", flush=True)
    return result


def _fmt(seconds):
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def markdown(all_results, names, memory=None):
    """The table; ``memory``: {workload: {case: {impl: {"peak_mb", "added_mb"}}}} for its
    memory columns."""
    lines = ["| workload | case | implementation | time | peer / codegen | peak RSS | "
             "added by the calls |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for workload, results in all_results.items():
        for case, row in results.items():
            base = row.get("codegen")
            for impl, seconds in row.items():
                ratio = (f"{seconds / base:.2f}x" if seconds is not None and base
                         and impl != "codegen" else "")
                used = ((memory or {}).get(workload) or {}).get(case, {}).get(impl)
                peak, added = ((f"{used['peak_mb']:.0f} MB", f"{used['added_mb']:.1f} MB")
                               if used else ("", ""))
                lines.append(f"| {names[workload]} | {case} | {impl} | {_fmt(seconds)} | "
                             f"{ratio} | {peak} | {added} |")
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
    parser.add_argument("--serve", nargs=3, metavar=("WORKLOAD", "CASE", "IMPL"))
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    # through the module workloads import (``from harness import Missing``), not __main__,
    # so that the Missing they raise is the one caught here
    import harness
    if args.serve:
        harness.serve(*args.serve)
    else:
        harness.run_one(*args.one)
