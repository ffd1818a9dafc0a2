"""Train the tutorial MLP with the generated module `mlp` (no codegen needed at run time).

python examples/mlp/train.py --module-dir generated/mlp --out examples/mlp/out
"""

import argparse
import os
import sys

import numpy as np


def plot(mlp, X, y, costs, accuracies, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 6))
    gx, gy = np.meshgrid(np.linspace(-6, 6, 200), np.linspace(-6, 6, 200))
    grid = np.vstack([gx.ravel(), gy.ravel()])
    regions = mlp.predict(grid).reshape(gx.shape)
    ax0.contourf(gx, gy, regions, levels=[0, 0.5, 1], colors=["#cce5ff", "#ffd6e7"], alpha=0.8)
    ax0.contour(gx, gy, regions, levels=[0.5], colors="k", linewidths=1)
    ax0.scatter(X[0], X[1], c=y, lw=.3, s=3, cmap=plt.cm.cool)
    ax0.axis([-6, 6, -6, 6])
    ax0.set_title("data and decision regions (output > 0.5)")
    ax1.plot(costs, "b-o", label="cost")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("cost", color="b")
    ax2 = ax1.twinx()
    ax2.plot(accuracies, "r-s", label="accuracy")
    ax2.set_ylabel("accuracy", color="r")
    ax1.set_title("training")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--module-dir", default="generated/mlp")
    p.add_argument("--out", default="examples/mlp/out")
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.module_dir))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mlp
    from data import make_data
    X, y = make_data()
    costs, accuracies = [], []
    for iteration in range(args.iterations):
        cost = mlp.train(X, y)
        accuracy = np.mean((mlp.predict(X) > .5) == y)
        costs.append(float(cost))
        accuracies.append(accuracy)
        print(f"iteration {iteration + 1:2d}  cost {float(cost):8.3f}  accuracy {accuracy:.3f}")
    os.makedirs(args.out, exist_ok=True)
    mlp.save(os.path.join(args.out, "mlp_state.npz"))
    png = os.path.join(args.out, "mlp.png")
    plot(mlp, X, y, costs, accuracies, png)
    print(f"state saved to {os.path.join(args.out, 'mlp_state.npz')}; picture at {png}")


if __name__ == "__main__":
    main()
