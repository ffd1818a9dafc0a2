"""make gpu-check: everything the CUDA backend needs a real GPU for, in one run of at most
8 minutes on the GPU machine, written to benchmarks/results/gpu.md.

    python3 benchmarks/gpu_check.py [--out benchmarks/results/gpu.md] [--budget 420]

1. the machine: GPU, driver, nvcc, Python, torch;
2. the CUDA tests on the device (CODEGEN_TEST_CUDA=device): the op table, the gradient
   table, the tutorial MLP against the CPU module, an nvcc-built module;
3. W2 (float32 and float64), W3 and W4 on the GPU: codegen's CUDA module against PyTorch
   eager and torch.compile on the same card, one process each, timed in turns
   (benchmarks/harness.py); ratio = peer time / codegen time. The inputs stay on the device
   (CUDA tensors) for every implementation; W2 also runs codegen's step as launches only
   (codegen_cuda_launches: CODEGEN_CUDA_GRAPHS=0), which shows what replaying the step as
   a CUDA graph saves.
Each part is skipped, and says so, when the time budget is spent.
"""

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

GPU_IMPLS = {"W2": ["codegen_cuda", "codegen_cuda_launches", "torch_cuda",
                    "torch_compile_cuda"],
             "W3": ["codegen_cuda", "torch_cuda"],
             "W4": ["codegen_cuda", "torch_cuda", "torch_compile_cuda"]}


def _run(command, timeout, env=None):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                             cwd=ROOT, env={**os.environ, **(env or {})})
        return out.returncode, (out.stdout + out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return -1, f"{type(exc).__name__}: {exc}"


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


def tests(timeout):
    # the tests' nvcc builds dominate: spread over the machine's cores where pytest-xdist is
    # there (the GPU machine has it)
    try:
        import xdist  # noqa: F401
        spread = ["-n", str(min(8, os.cpu_count() or 1))]
    except ImportError:
        spread = []
    rc, text = _run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p",
                     "no:cacheprovider", *spread,
                     "tests/test_cuda.py", "tests/test_ops.py", "tests/test_grad.py",
                     "-k", "cuda"], timeout, env={"CODEGEN_TEST_CUDA": "device"})
    summary = text.splitlines()[-1] if text else "no output"
    failures = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return rc, summary, failures[:20]


def timings(budget_end, processes, slices):
    import harness
    from run import WORKLOADS
    rows = []
    for name, impls in GPU_IMPLS.items():
        if time.monotonic() > budget_end:
            rows.append(f"| {name} | (skipped: the time budget was spent) | | | |")
            continue
        results = harness.run_workload(WORKLOADS[name], processes, impls=impls, slices=slices)
        for case, row in results.items():
            base = row.get("codegen_cuda")
            for impl in impls:
                seconds = row.get(impl)
                ratio = (f"{seconds / base:.2f}x" if seconds and base and impl != "codegen_cuda"
                         else "")
                shown = harness._fmt(seconds)
                if name == "W3" and seconds:  # x read and df/dx written, 8 bytes each
                    n = importlib.import_module(WORKLOADS[name]).CASES[case]["n"]
                    shown += f" ({16 * n / seconds / 1e9:.0f} GB/s)"
                rows.append(f"| {name} | {case} | {impl} | {shown} | {ratio} |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "gpu.md"))
    parser.add_argument("--budget", type=float, default=420, help="seconds for it all")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--slices", type=int, default=5)
    args = parser.parse_args()
    start = time.monotonic()
    end = start + args.budget
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    report = ["# codegen on a GPU (make gpu-check)", "",
              f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    report += facts()
    rc, summary, failures = tests(max(60.0, min(240.0, end - time.monotonic() - 120)))
    report += ["", "## CUDA tests on the device", "",
               f"`CODEGEN_TEST_CUDA=device pytest tests/test_cuda.py tests/test_ops.py "
               f"tests/test_grad.py -k cuda`: {summary} (exit {rc})"]
    report += [f"- {line}" for line in failures]
    print("\n".join(report), flush=True)
    rows = timings(end - 30, args.processes, args.slices)
    report += ["", "## Timings on the GPU", "",
               "One process per implementation, timed in turns (benchmarks/harness.py); "
               "ratio = peer time / codegen time (above 1: codegen faster).", "",
               "| workload | case | implementation | time | peer / codegen |",
               "| --- | --- | --- | --- | --- |"] + rows
    report += ["", f"Took {time.monotonic() - start:.0f} s."]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(report) + "\n")
    print("\n".join(report[-len(rows) - 3:]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
