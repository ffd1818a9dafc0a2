"""Write the tutorial MLP's data for the C example: int64 rows, int64 columns, the inputs
(row-major float64), the targets (float64).

python examples/mlp/c/export_data.py OUT_FILE
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data import make_data  # noqa: E402


def main(path):
    X, y = make_data()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(np.array(X.shape, dtype=np.int64).tobytes())
        f.write(np.ascontiguousarray(X, dtype=np.float64).tobytes())
        f.write(np.ascontiguousarray(y, dtype=np.float64).tobytes())


if __name__ == "__main__":
    main(sys.argv[1])
