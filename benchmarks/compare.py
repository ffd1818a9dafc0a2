"""codegen now against codegen at an earlier commit, timed in turns in the same run.

    python benchmarks/compare.py REF [W1 W2 W3 W4 B] [--processes 3] [--slices 10]

Checks REF out into a temporary worktree and runs each workload's codegen implementation
from both trees through the harness's interleaved rounds (benchmarks/harness.py), so that the
machine's slow stretches fall on both alike. Prints a markdown table: time at REF, time now,
and REF / now (above 1: faster now).
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
    parser.add_argument("names", nargs="*", default=["W1", "W2", "W3", "W4", "B"])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--slices", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("CODEGEN_CACHE_DIR", os.path.join(HERE, ".cache"))
    root = os.path.dirname(HERE)
    with tempfile.TemporaryDirectory(prefix="codegen-compare-") as tmp:
        tree = os.path.join(tmp, "tree")
        subprocess.run(["git", "-C", root, "worktree", "add", "--detach", tree, args.ref],
                       check=True, capture_output=True)
        try:
            rows = ["| workload | case | at " + args.ref + " | now | ratio |",
                    "| --- | --- | --- | --- | --- |"]
            then = f"codegen@{tree}"
            for name in args.names:
                results = harness.run_workload(WORKLOADS[name], args.processes,
                                               impls=["codegen", then], slices=args.slices)
                for case, row in results.items():
                    a, b = row.get(then), row.get("codegen")
                    ratio = f"{a / b:.3f}" if a and b else "n/a"
                    rows.append(f"| {name} | {case} | {harness._fmt(a)} | {harness._fmt(b)} | "
                                f"{ratio} |")
            print("\n".join(rows))
        finally:
            subprocess.run(["git", "-C", root, "worktree", "remove", "--force", tree],
                           capture_output=True)


if __name__ == "__main__":
    main()
