"""make gpu-check: everything the CUDA backend needs a real GPU for, in one run of at most
8 minutes on the GPU machine, written to benchmarks/results/gpu.md.

    python3 benchmarks/gpu_check.py [--out benchmarks/results/gpu.md] [--budget 420]

1. the machine: GPU, driver, nvcc, Python, torch;
2. the CUDA tests on the device (CODEGEN_TEST_CUDA=device): the op table, the gradient
   table, the tutorial MLP against the CPU module, an nvcc-built module, the random
   streams (Philox and MRG31k3p) and Assert against the CPU's, functions compiled in parts
   (nonzero, unique, a loop ending on a condition) against the reference interpreter;
3. W2 (float32 and float64), W3, W4 and W10 (sorting) on the GPU: codegen's CUDA module
   against PyTorch eager and torch.compile on the same card, one process each, timed in turns
   (benchmarks/harness.py); ratio = peer time / codegen time. The inputs stay on the device
   (CUDA tensors) for every implementation; W2 also runs codegen's step as launches only
   (codegen_cuda_launches: CODEGEN_CUDA_GRAPHS=0), which shows what replaying the step as
   a CUDA graph saves.
Each part runs in its own process group under a time limit (a hung kernel or build costs
that part only), the report is rewritten after each part (a run cut short still leaves what
it measured), and a part is skipped, and says so, when the time budget is spent.
"""

import argparse
import importlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

GPU_IMPLS = {"W2": ["codegen_cuda", "codegen_cuda_launches", "torch_cuda",
                    "torch_compile_cuda"],
             "W3": ["codegen_cuda", "torch_cuda", "torch_compile_cuda"],
             "W4": ["codegen_cuda", "torch_cuda", "torch_compile_cuda"],
             "W10": ["codegen_cuda", "torch_cuda"]}
# the most each part may take, in seconds (the budget's remainder caps them further)
PART_SECONDS = {"tests": 150, "W2": 120, "W3": 120, "W4": 80, "W10": 60}


def _run(command, timeout, env=None):
    """(exit status, output) of ``command`` in its own process group, all of which is killed
    when it outlasts ``timeout`` (pytest-xdist's workers, the harness's servers)."""
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, cwd=ROOT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    except OSError as exc:
        return -1, f"{type(exc).__name__}: {exc}"
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out.strip()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return -9, (out or "").strip() + f"\n(stopped after {timeout:.0f} s)"


def facts():
    lines = []
    for label, command in (("GPU", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                    "--format=csv,noheader"]),
                           ("nvcc", ["nvcc", "--version"])):
        rc, text = _run(command, 30)
        lines.append(f"- {label}: {text.splitlines()[-1] if text else 'not found'}"
                     + ("" if rc == 0 else f" (exit {rc})"))
    try:
        import torch
        torch_text = f"{torch.__version__}, CUDA {torch.version.cuda}"
    except ImportError:
        torch_text = "not installed"
    lines.append(f"- Python {platform.python_version()}, torch {torch_text}")
    return lines


def copy_bandwidth():
    """The card's device-to-device copy rate through PyTorch (bytes read and written per
    second, 1 GiB each way): the ceiling W3's rate is held against."""
    import torch
    x = torch.empty(2 ** 27, dtype=torch.float64, device="cuda")
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        y.copy_(x)
    stop.record()
    stop.synchronize()
    return 2 * x.numel() * 8 * 20 / (start.elapsed_time(stop) / 1e3)


def cold_build(timeout):
    """Seconds for `codegen build examples/mlp/spec.py --backend cuda` with an empty cache."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc, text = _run([sys.executable, "-m", "codegen", "build", "examples/mlp/spec.py",
                         "--backend", "cuda", "--out", os.path.join(tmp, "out")], timeout,
                        env={"CODEGEN_CACHE_DIR": os.path.join(tmp, "cache"),
                             "PYTHONPATH": ROOT})
        return rc, time.perf_counter() - t0, text


def tests(timeout):
    # the tests' nvcc builds dominate: spread over the machine's cores where pytest-xdist is
    # there (the GPU machine has it); a test that hangs on the device fails alone
    extra = []
    for plugin, args in (("xdist", ["-n", str(min(12, os.cpu_count() or 1))]),
                         ("pytest_timeout", ["--timeout", "120"])):
        try:
            importlib.import_module(plugin)
            extra += args
        except ImportError:
            pass
    rc, text = _run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p",
                     "no:cacheprovider", "-rfEs", *extra,
                     "tests/test_cuda.py", "tests/test_ops.py", "tests/test_grad.py",
                     "tests/test_random.py", "tests/test_theano_api.py", "tests/test_sparse.py",
                     "tests/test_parts.py", "tests/test_scan.py",
                     "-k", "cuda or parts or until_ends"], timeout,
                    env={"CODEGEN_TEST_CUDA": "device"})
    lines = text.splitlines()
    summary = next((line for line in reversed(lines)
                    if re.search(r"\d+ (passed|failed|error)", line)),
                   lines[-1] if lines else "no output")
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR", "SKIPPED"))]
    return rc, summary.strip("= "), failures[:30], text


def one_case(name, case, processes, slices, path):
    """In a child process: time case ``case`` of workload ``name``'s GPU implementations
    into ``path``."""
    import harness
    from run import WORKLOADS
    module = importlib.import_module(WORKLOADS[name])
    module.CASES = {case: module.CASES[case]}  # (the harness's servers read it afresh)
    results = harness.run_workload(WORKLOADS[name], processes, impls=GPU_IMPLS[name],
                                   slices=slices)
    with open(path, "w") as f:
        json.dump(results, f)


def timings(name, timeout, processes, slices, bandwidth):
    """Table rows of workload ``name`` within ``timeout``: each case timed in a child process
    of its own, so that a case cut short leaves the others' rows."""
    from run import WORKLOADS
    cases = list(importlib.import_module(WORKLOADS[name]).CASES)
    end, rows = time.monotonic() + timeout, []
    for k, case in enumerate(cases):
        share = (end - time.monotonic()) / (len(cases) - k)  # what is left, shared out
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rows.json")
            rc, text = _run([sys.executable, os.path.abspath(__file__), "--workload", name,
                             "--case", case, "--json", path, "--processes", str(processes),
                             "--slices", str(slices)], share)
            print(text[-6000:], flush=True)
            if not os.path.exists(path):
                last = text.strip().splitlines()[-1][:200] if text.strip() else "no output"
                rows.append(f"| {name} | {case} | (failed, exit {rc}: {last}) | | |")
                continue
            with open(path) as f:
                row = json.load(f)[case]
        rows += _rows(name, case, row, text, bandwidth)
    return rows


def _rows(name, case, row, text, bandwidth):
    """The table rows of one case's results ``row`` (the child's output ``text`` says why
    an implementation is missing)."""
    import harness
    from run import WORKLOADS
    why = {}  # impl -> what the harness said of a missing or failed implementation
    for line in text.splitlines():
        said = re.match(rf"\s*{name}\s+(\S+)\s+(\S+): (missing|failed): (.*)", line)
        if said and said.group(1) == case:
            reason = f"{said.group(3)}: {said.group(4)[:120]}"
            why[said.group(2)] = reason.replace("|", "/")
    rows, base = [], row.get("codegen_cuda")
    for impl in GPU_IMPLS[name]:
        seconds = row.get(impl)
        ratio = (f"{seconds / base:.2f}x" if seconds and base and impl != "codegen_cuda"
                 else "")
        shown = harness._fmt(seconds) if seconds else why.get(impl, "n/a")
        if name == "W3" and seconds:  # x read and df/dx written
            case_args = importlib.import_module(WORKLOADS[name]).CASES[case]
            width = 4 if case_args.get("dtype") == "float32" else 8
            rate = 2 * width * case_args["n"] / seconds
            shown += f" ({rate / 1e9:.0f} GB/s" + (
                f", {100 * rate / bandwidth:.0f} % of the copy rate)" if bandwidth else ")")
        rows.append(f"| {name} | {case} | {impl} | {shown} | {ratio} |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "gpu.md"))
    parser.add_argument("--budget", type=float, default=450, help="seconds for it all")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--slices", type=int, default=5)
    parser.add_argument("--workload", help=argparse.SUPPRESS)  # the child of timings()
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    os.environ["BENCH_GPU_CASES"] = "1"  # the workloads' GPU-sized cases, here and in children
    if args.workload:
        one_case(args.workload, args.case, args.processes, args.slices, args.json)
        return
    start = time.monotonic()
    end = start + args.budget
    report = ["# codegen on a GPU (make gpu-check)", "",
              f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)

    def write(final=False):
        text = report + ([] if final else ["", "(the run stopped here)"])
        with open(args.out, "w") as f:
            f.write("\n".join(text) + "\n")

    def left(part):
        return max(0.0, min(PART_SECONDS.get(part, 60), end - time.monotonic()))

    report += facts()
    bandwidth = None
    try:
        bandwidth = copy_bandwidth()
        report.append(f"- device-to-device copy through PyTorch: {bandwidth / 1e9:.0f} GB/s "
                      "(read + written)")
    except Exception as exc:  # a fact reported, not a check
        report.append(f"- device-to-device copy: not measured ({type(exc).__name__}: {exc})")
    rc, seconds, text = cold_build(90)
    report.append(f"- `codegen build examples/mlp/spec.py --backend cuda`, empty cache: "
                  f"{seconds:.1f} s (exit {rc})"
                  + ("" if rc == 0 else f": {text.splitlines()[-1] if text else ''}"))
    print("\n".join(report), flush=True)
    write()
    rc, summary, failures, text = tests(left("tests"))
    print(text[-8000:], flush=True)
    report += ["", "## CUDA tests on the device", "",
               f"`CODEGEN_TEST_CUDA=device pytest tests/test_cuda.py tests/test_ops.py "
               f"tests/test_grad.py tests/test_random.py tests/test_theano_api.py "
               f"tests/test_sparse.py tests/test_parts.py tests/test_scan.py "
               f"-k 'cuda or parts or until_ends'`: "
               f"{summary} (exit {rc})", ""]
    report += [f"- {line}" for line in failures]
    write()
    report += ["", "## Timings on the GPU", "",
               "One process per implementation, timed in turns (benchmarks/harness.py); "
               "ratio = peer time / codegen time (above 1: codegen faster). Inputs stay on "
               "the device for every implementation.", "",
               "| workload | case | implementation | time | peer / codegen |",
               "| --- | --- | --- | --- | --- |"]
    for name in GPU_IMPLS:
        if left(name) < 20:
            report.append(f"| {name} | (skipped: the time budget was spent) | | | |")
            continue
        report += timings(name, left(name), args.processes, args.slices, bandwidth)
        write()
    report += ["", f"Took {time.monotonic() - start:.0f} s."]
    write(final=True)
    print("\n".join(report))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
