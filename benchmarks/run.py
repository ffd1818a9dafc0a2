"""Run every workload (or those named) and write results/latest.md, .json and ratios.png.

    python benchmarks/run.py [W1 W2 W3 W4 W6 W7 W8 B] [--processes 3] [--slices 10]
                             [--out NAME]

``--out NAME`` writes the table to results/NAME.md only (a run of some workloads kept beside
the full one), leaving latest.md, latest.json, the machine's file and the chart as they are.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

WORKLOADS = {"W1": "w1_mlp_step", "W2": "w2_wide_mlp", "W3": "w3_elementwise",
             "W5": "w5_minibatch",
             "W4": "w4_inference", "W6": "w6_lenet", "W7": "w7_lstm", "W8": "w8_sparse",
             "W9": "w9_gp", "W10": "w10_sort",
             "B": "b_build"}


#: The CPU flags that decide which kernels the libraries run (vector widths, FMA, AMX).
FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
         "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16")
#: The libraries whose versions the table depends on.
LIBRARIES = ("numpy", "scipy", "Cython", "jinja2", "torch", "jax", "jaxlib", "pytensor")


def _cpuinfo(key):
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.split(":", 1)[0].strip() == key)
    except (OSError, StopIteration):
        return ""


def machine():
    cpu = _cpuinfo("model name") or "unknown cpu"
    cores = os.cpu_count()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}, threads {harness.THREADS}"


def machine_slug():
    """A file name for this machine's figures: amd-epyc-2core, intel-xeon-2core, ..."""
    cpu = re.sub(r"\(r\)|\(tm\)|processor|cpu.*", "", (_cpuinfo("model name") or "cpu").lower())
    words = re.findall(r"[a-z0-9]+", cpu)[:2]
    return "-".join(words + [f"{os.cpu_count()}core"])


def machine_facts():
    """Markdown lines saying where the table ran: the CPU and its flags, the BLAS libraries
    each side loads (threadpoolctl) and their threads, and the versions."""
    flags = set(_cpuinfo("flags").split())
    lines = [f"- CPU: {_cpuinfo('model name') or 'unknown'}, {os.cpu_count()} cores "
             f"(`os.cpu_count()`), flags: {', '.join(f for f in FLAGS if f in flags) or 'n/a'}."]
    lines.append(f"- Threads: every implementation runs with OMP/OpenBLAS/MKL threads = "
                 f"{harness.THREADS} (and the matching XLA and PyTorch settings).")
    try:
        import numpy  # noqa: F401  numpy's BLAS
        import scipy.linalg.cython_blas  # noqa: F401  the BLAS codegen's modules call
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            path = lib.get("filepath", "")
            where = os.path.basename(path)
            # scipy.libs/libscipy_openblas-*.so is scipy's; numpy.libs/libscipy_openblas64_-*
            owner = "scipy (codegen)" if "scipy" in os.path.dirname(path) else "numpy"
            lines.append(f"- {lib.get('user_api')}: {lib.get('internal_api')} "
                         f"{lib.get('version') or ''} ({where}), kernel "
                         f"{lib.get('architecture') or 'n/a'}, {lib.get('num_threads')} threads "
                         f"here; {owner}'s.")
    except ImportError as exc:
        lines.append(f"- BLAS: not known ({exc.name} is not installed)")
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True)
        versions.append(gcc.stdout.splitlines()[0] if gcc.stdout else "gcc n/a")
    except OSError:
        pass
    import codegen
    lines.append(f"- Versions: Python {platform.python_version()}, codegen {codegen.__version__}"
                 f", {', '.join(versions)}.")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--processes", type=int, default=3,
                        help="rounds of processes (B: at least 5, one build per process)")
    parser.add_argument("--slices", type=int, default=10,
                        help="timed turns of each implementation per round")
    parser.add_argument("--out", help="write results/OUT.md only")
    args = parser.parse_args()
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    results, names, memory = {}, {}, {}
    t0 = time.perf_counter()
    for name in args.names:
        module = WORKLOADS[name]
        print(f"{name}: {module}", flush=True)
        memory[module] = {}
        results[module] = harness.run_workload(module, args.processes, slices=args.slices,
                                               memory=memory[module])
        names[module] = name
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    table = harness.markdown(results, names, memory)
    header = (f"Machine: {machine()}.\n\n" + "\n".join(machine_facts()) + "\n\n"
              f"Each implementation in its own process, {args.processes} rounds of "
              f"processes; in each round the implementations take turns ({args.slices} "
              f"each, shuffled) timing {harness.SLICE_SECONDS} s slices of "
              f"calls, one process at a time, with the main thread on each core in turn, so "
              f"the machine's slow stretches (per core) fall on all of them alike. Median of "
              f"the per-process medians. B: one build per fresh process, "
              f"{harness.BUILD_PROCESSES} rounds. Ratio = peer time / codegen time (above 1: "
              f"codegen is faster). Peak RSS: the largest resident memory of the "
              f"implementation's process while it was timed (its libraries, its model and "
              f"the most its calls held at once; the peak is reset after set-up); added by "
              f"the calls: that peak above what was resident when the timing began.\n\n")
    footer = gemm_report(results.get("w2_wide_mlp"))
    if args.out:
        with open(os.path.join(out, f"{args.out}.md"), "w") as f:
            f.write(header + table + "\n" + footer)
        print(header + table + "\n" + footer)
        print(f"({time.perf_counter() - t0:.0f}s)")
        return
    for fname in ("latest.md", f"{machine_slug()}.md"):  # and by machine, kept
        with open(os.path.join(out, fname), "w") as f:
            f.write(header + table + "\n" + footer)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"machine": machine(), "results": results, "memory": memory}, f, indent=1)
    harness.chart(results, names, os.path.join(out, "ratios.png"))
    print(header + table + "\n" + footer)
    print(f"({time.perf_counter() - t0:.0f}s)")


def gemm_report(w2):
    """W2's rate next to numpy's rate on the step's products alone (its gemm_floor row,
    timed in the same rounds)."""
    if not w2:
        return ""
    import w2_wide_mlp
    lines = ["", "W2 products alone in numpy (the gemm floor, timed in the same rounds) against "
                 "the codegen step:", ""]
    for dtype in ("float64", "float32"):
        step, floor = (w2.get(dtype, {}).get(k) for k in ("codegen", "gemm_floor"))
        if not step or not floor:
            continue
        flops = w2_wide_mlp.FLOPS
        lines.append(f"- {dtype}: products {floor * 1e3:.3g} ms = {flops / floor / 1e9:.1f} "
                     f"GFLOP/s; codegen step {step * 1e3:.3g} ms = {flops / step / 1e9:.1f} "
                     f"GFLOP/s, {100 * floor / step:.0f} % of the gemm rate")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
