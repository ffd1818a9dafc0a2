"""W3: f = sum(tanh(x) * exp(-x*x) + 0.5 * x**2) and df/dx in one call, x of 1,000,000 float64
(and of 100,000,000 on the GPU)."""

import os
import sys

import numpy as np
from harness import Missing

NAME = "W3"
CASES = {"n=1e6": {"n": 1_000_000}}
if os.environ.get("BENCH_GPU_CASES"):  # make gpu-check: 1.6 GB a call, past the card's L2;
    # in float32 too (0.8 GB), where the card's arithmetic is far from the limit
    CASES["n=1e8"] = {"n": 100_000_000}
    CASES["n=1e8 float32"] = {"n": 100_000_000, "dtype": "float32"}


def data(n, dtype="float64"):
    return np.random.RandomState(0).uniform(-3, 3, n).astype(dtype)


def reference(n, dtype="float64"):
    x = data(n, dtype).astype("float64")  # the inputs as given, computed in float64
    t, e = np.tanh(x), np.exp(-x * x)
    return [np.sum(t * e + 0.5 * x ** 2), (1 - t * t) * e - 2 * x * t * e + x]


def numpy_impl(n, dtype="float64"):
    x = data(n, dtype)

    def run():
        t = np.tanh(x)
        e = np.exp(-x * x)
        return np.sum(t * e + 0.5 * x ** 2), (1 - t * t) * e - 2 * x * t * e + x
    return run, (lambda: list(run()))


def codegen_impl(n, device="cpu", dtype="float64"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen
    import codegen.tensor as T
    from codegen.compile.module import load_module
    codegen.config.device = device
    x = T.vector("x", dtype=dtype)
    f = T.sum(T.tanh(x) * T.exp(-x * x) + 0.5 * x ** 2)
    module = codegen.Module("bench_w3" + ("" if device == "cpu" else f"_{device}")
                            + ("" if dtype == "float64" else f"_{dtype}"))
    module.add_function("f_and_grad", [x], [f, T.grad(f, x)])
    out = os.path.join(os.environ.get("CODEGEN_CACHE_DIR", "/tmp"), "bench-modules",
                       module.name)
    mod = load_module(module.build(out))
    xv = data(n, dtype)
    if device == "cuda":  # x and df/dx stay on the device, as PyTorch's do
        import torch
        xv = torch.as_tensor(xv, device="cuda")
        return ((lambda: mod.f_and_grad(xv, outputs="device")),
                (lambda: [a.get() for a in mod.f_and_grad(xv, outputs="device")]))
    return (lambda: mod.f_and_grad(xv)), (lambda: mod.f_and_grad(xv))


def pytensor_impl(n, linker="default", dtype="float64"):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    x = pt.vector("x", dtype=dtype)
    f = pt.sum(pt.tanh(x) * pt.exp(-x * x) + 0.5 * x ** 2)
    mode = None if linker == "default" else pytensor.compile.mode.Mode(linker=linker,
                                                                        optimizer="fast_run")
    fn = pytensor.function([x], [f, pytensor.grad(f, x)], mode=mode)
    xv = data(n, dtype)
    return (lambda: fn(xv)), (lambda: fn(xv))


def jax_impl(n, dtype="float64"):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Missing(f"jax ({exc})") from None
    jax.config.update("jax_enable_x64", True)

    def f(x):
        return jnp.sum(jnp.tanh(x) * jnp.exp(-x * x) + 0.5 * x ** 2)
    fg = jax.jit(jax.value_and_grad(f))
    xv = jnp.asarray(data(n, dtype))

    def run():
        v, g = fg(xv)
        g.block_until_ready()
        return v, g
    return run, (lambda: [np.asarray(a) for a in run()])


def torch_impl(n, device="cpu", compiled=False, dtype="float64"):
    try:
        import torch
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise Missing("torch with a CUDA device")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    xv = torch.from_numpy(data(n, dtype)).to(device)
    done = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward(x):
        return (torch.tanh(x) * torch.exp(-x * x) + 0.5 * x ** 2).sum()
    if compiled:  # forward and backward fused by Inductor
        forward = torch.compile(forward)

    def run():
        x = xv.detach().requires_grad_(True)  # no copy: a leaf on x's memory
        f = forward(x)
        (g,) = torch.autograd.grad(f, x)
        done()
        return f, g
    return run, (lambda: [a.detach().cpu().numpy() for a in run()])


def codegen_cuda_impl(n, dtype="float64"):
    from mlp import _cuda_ready
    _cuda_ready()
    return codegen_impl(n, device="cuda", dtype=dtype)


IMPLEMENTATIONS = {"codegen": codegen_impl, "numpy": numpy_impl, "pytensor": pytensor_impl,
                   "pytensor_c": lambda n, dtype="float64": pytensor_impl(n, "cvm", dtype),
                   "jax": jax_impl,
                   "torch": torch_impl,
                   # on a GPU (make gpu-check); Missing elsewhere
                   "codegen_cuda": codegen_cuda_impl,
                   "torch_cuda": lambda n, dtype="float64": torch_impl(n, "cuda", dtype=dtype),
                   "torch_compile_cuda": lambda n, dtype="float64": torch_impl(
                       n, "cuda", compiled=True, dtype=dtype)}
