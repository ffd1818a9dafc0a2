"""Classify points with the trained MLP: python predict.py X1,Y1 X2,Y2 ... or --file pts.txt"""

import argparse
import os
import sys

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("points", nargs="*", help="x,y pairs")
    p.add_argument("--file", help="text file with one 'x y' pair per line")
    p.add_argument("--module-dir", default="generated/mlp")
    p.add_argument("--state", default="examples/mlp/out/mlp_state.npz")
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.module_dir))
    import mlp
    mlp.load(args.state)
    pts = [tuple(float(v) for v in s.split(",")) for s in args.points]
    if args.file:
        pts += [tuple(map(float, line.split())) for line in open(args.file) if line.strip()]
    if not pts:
        p.error("give points or --file")
    X = np.array(pts, dtype=np.float64).T
    for (x, y), out in zip(pts, mlp.predict(X)[0]):
        print(f"{x:7.3f} {y:7.3f}  ->  class {int(out > 0.5)}  (output {out:.3f})")


if __name__ == "__main__":
    main()
