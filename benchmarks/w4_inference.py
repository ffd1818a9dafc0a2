"""W4: inference: W2's forward pass at N = 1 and N = 256, float64."""

import mlp

NAME = "W4"
CASES = {f"N={n}": {"sizes": (784, 512, 512, 10), "N": n, "dtype": "float64"} for n in (1, 256)}
IMPLEMENTATIONS = mlp.implementations(train=False)
reference = mlp.reference_forward
