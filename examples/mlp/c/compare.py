"""Train the Python module as the C program did and compare: the costs of each step and the
final state, against the C program's output (its printed costs and its saved state).

python examples/mlp/c/compare.py --module-dir generated/mlp --costs COSTS --state C_STATE_DIR
Exits 1 when any difference exceeds --tolerance (1e-12).
"""

import argparse
import os
import re
import sys

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--module-dir", default="generated/mlp")
    p.add_argument("--costs", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--tolerance", type=float, default=1e-12)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.module_dir))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import mlp
    from data import make_data
    with open(args.costs) as f:
        c_costs = [float(m.group(1)) for m in re.finditer(r"cost (\S+)", f.read())]
    X, y = make_data()
    py_costs = [float(mlp.train(X, y)) for _ in c_costs]
    cost_diff = max(abs(a - b) for a, b in zip(c_costs, py_costs)) if c_costs else np.inf
    state_diff = max(float(np.max(np.abs(np.load(os.path.join(args.state, f"{name}.npy"))
                                         - value), initial=0.0))
                     for name, value in mlp.state().items())
    print(f"C library vs Python module, {len(c_costs)} steps: costs {c_costs[0]:.6f} .. "
          f"{c_costs[-1]:.6f}; largest difference: cost {cost_diff:.3g}, state {state_diff:.3g}")
    return 0 if max(cost_diff, state_diff) <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
