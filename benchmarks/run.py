"""Run every workload (or those named) and write results/latest.md, .json and ratios.png.

    python benchmarks/run.py [W1 W2 W3 W4 W6 W7 B] [--processes 3] [--slices 10]
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

WORKLOADS = {"W1": "w1_mlp_step", "W2": "w2_wide_mlp", "W3": "w3_elementwise",
             "W5": "w5_minibatch",
             "W4": "w4_inference", "W6": "w6_lenet", "W7": "w7_lstm", "B": "b_build"}


def machine():
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    cores = os.cpu_count()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}, threads {harness.THREADS}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--processes", type=int, default=3,
                        help="rounds of processes (B: at least 5, one build per process)")
    parser.add_argument("--slices", type=int, default=10,
                        help="timed turns of each implementation per round")
    args = parser.parse_args()
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    results, names = {}, {}
    t0 = time.perf_counter()
    for name in args.names:
        module = WORKLOADS[name]
        print(f"{name}: {module}", flush=True)
        results[module] = harness.run_workload(module, args.processes, slices=args.slices)
        names[module] = name
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    table = harness.markdown(results, names)
    header = (f"Machine: {machine()}.\nEach implementation in its own process, "
              f"{args.processes} rounds of processes; in each round the implementations take "
              f"turns ({args.slices} each, shuffled) timing {harness.SLICE_SECONDS} s slices of "
              f"calls, one process at a time, with the main thread on each core in turn, so "
              f"the machine's slow stretches (per core) fall on all of them alike. Median of "
              f"the per-process medians. B: one build per fresh process, "
              f"{harness.BUILD_PROCESSES} rounds. Ratio = peer time / codegen time (above 1: "
              f"codegen is faster).\n\n")
    footer = gemm_report(results.get("w2_wide_mlp"))
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(header + table + "\n" + footer)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"machine": machine(), "results": results}, f, indent=1)
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
