"""W2: a wider MLP train step: [784, 512, 512, 10], sigmoid, squared error, N = 256, momentum
updates; float64 and float32."""

import mlp

NAME = "W2"
CASES = {f"{dtype}": {"sizes": (784, 512, 512, 10), "N": 256, "dtype": dtype}
         for dtype in ("float64", "float32")}
IMPLEMENTATIONS = mlp.implementations(train=True)
reference = mlp.reference_train

# 2 * N * (784*512 + 512*512 + 512*10) multiply-adds forward, twice that backward
FLOPS = 3 * 2 * 256 * (784 * 512 + 512 * 512 + 512 * 10)
