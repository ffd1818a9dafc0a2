"""W4: inference: W2's forward pass at N = 1 and N = 256, float64."""

import mlp

NAME = "W4"
CASES = {f"N={n}": {"sizes": (784, 512, 512, 10), "N": n, "dtype": "float64"} for n in (1, 256)}
reference = mlp.reference_forward


def gemm_floor(sizes, N, dtype):
    """numpy doing just the forward pass's products (W . h per layer, same shapes): the
    floor of the step on numpy's BLAS. A yardstick timed in the same rounds (it checks
    nothing)."""
    import numpy as np
    rng = np.random.RandomState(0)
    Ws = [rng.randn(b, a).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    hs = [rng.randn(a, N).astype(dtype) for a in sizes]

    def products():
        for W, h in zip(Ws, hs):
            W @ h
    return products, None


IMPLEMENTATIONS = {**mlp.implementations(train=False), "gemm_floor": gemm_floor}
