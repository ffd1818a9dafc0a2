"""W2: a wider MLP train step: [784, 512, 512, 10], sigmoid, squared error, N = 256, momentum
updates; float64 and float32."""

import mlp

NAME = "W2"
CASES = {f"{dtype}": {"sizes": (784, 512, 512, 10), "N": 256, "dtype": dtype}
         for dtype in ("float64", "float32")}
reference = mlp.reference_train

# The step's products: forward W.h for each layer, the weight gradients delta.h^T, and the
# errors sent back W^T.delta for the two upper layers (none is needed for the input).
SIZES, N = (784, 512, 512, 10), 256
FLOPS = 2 * N * (2 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
                 + sum(a * b for a, b in zip(SIZES[1:-1], SIZES[2:])))


def gemm_floor(sizes, N, dtype):
    """numpy doing just the step's products, same shapes and layouts: the gemm floor. Timed
    in the same rounds as the implementations (it checks nothing: it is a yardstick)."""
    import numpy as np
    rng = np.random.RandomState(0)
    Ws = [rng.randn(b, a).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    hs = [rng.randn(a, N).astype(dtype) for a in sizes]
    deltas = [rng.randn(b, N).astype(dtype) for b in sizes[1:]]

    def products():
        for W, h in zip(Ws, hs):
            W @ h
        for d, h in zip(deltas, hs):
            d @ h.T
        for W, d in zip(Ws[1:], deltas[1:]):
            W.T @ d
    return products, None


IMPLEMENTATIONS = {**mlp.implementations(train=True), "gemm_floor": gemm_floor}
