"""codegen at one commit against codegen at another, timed in turns in the same run.

    python benchmarks/compare.py BEFORE [W1 W2 W3 W4 B] [--after HEAD] [--processes 3]

Checks both commits out into temporary worktrees (so that editing the working tree meanwhile
changes nothing) and runs each workload's codegen implementation from both through the
harness's interleaved rounds (benchmarks/harness.py), so that the machine's slow stretches
fall on both alike. Prints a markdown table: time before, time after, and before / after
(above 1: faster after).
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from run import WORKLOADS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ref")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("names", nargs="*", default=["W1", "W2", "W3", "W4", "B"])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--slices", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    root = os.path.dirname(HERE)
    with tempfile.TemporaryDirectory(prefix="codegen-compare-") as tmp:
        trees = {}
        try:
            for label, ref in (("before", args.ref), ("after", args.after)):
                trees[label] = os.path.join(tmp, label)
                subprocess.run(["git", "-C", root, "worktree", "add", "--detach", trees[label],
                                ref], check=True, capture_output=True)
            rows = [f"| workload | case | {args.ref} | {args.after} | ratio |",
                    "| --- | --- | --- | --- | --- |"]
            before, after = f"codegen@{trees['before']}", f"codegen@{trees['after']}"
            for name in args.names:
                results = harness.run_workload(WORKLOADS[name], args.processes,
                                               impls=[after, before], slices=args.slices)
                for case, row in results.items():
                    a, b = row.get(before), row.get(after)
                    ratio = f"{a / b:.3f}" if a and b else "n/a"
                    rows.append(f"| {name} | {case} | {harness._fmt(a)} | {harness._fmt(b)} | "
                                f"{ratio} |")
            print("\n".join(rows))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", root, "worktree", "remove", "--force", tree],
                               capture_output=True)


if __name__ == "__main__":
    main()
