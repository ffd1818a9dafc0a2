"""Compare trained states: ``python compare.py reference.npz other.npz ... [--tol 1e-12]``.

Prints the largest difference of each against the reference; fails above ``--tol``."""

import argparse
import sys

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("reference")
    p.add_argument("others", nargs="+")
    p.add_argument("--tol", type=float, default=1e-12)
    args = p.parse_args(argv)
    ref = np.load(args.reference)
    worst = 0.0
    for path in args.others:
        other = np.load(path)
        if sorted(other.files) != sorted(ref.files):
            print(f"{path}: state names differ from {args.reference}")
            return 1
        diff = max(float(np.max(np.abs(other[k] - ref[k]))) for k in ref.files)
        worst = max(worst, diff)
        print(f"{path} against {args.reference}: largest difference {diff:.3g}")
    ok = worst <= args.tol
    print(f"{'OK' if ok else 'FAILED'}: largest difference {worst:.3g} "
          f"({'<=' if ok else '>'} {args.tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
