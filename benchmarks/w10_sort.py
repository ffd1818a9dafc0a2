"""W10: the stable argsort of a float64 vector (numpy's order: ties by position) and the
unique values of the vector rounded to two decimals (many ties), in one call (and of 10^7 on
the GPU, the vector on the device, both results brought back to the host by every
implementation: codegen's unique is a function in two parts)."""

import os
import sys

import numpy as np
from harness import Missing

NAME = "W10"
CASES = {"n=1e6": {"n": 1_000_000}, "n=1e4": {"n": 10_000}}
if os.environ.get("BENCH_GPU_CASES"):  # make gpu-check: 1e6 as on the CPU, and 1e7
    CASES = {"n=1e6": {"n": 1_000_000}, "n=1e7": {"n": 10_000_000}}


def data(n):
    return np.random.RandomState(0).standard_normal(n)


def reference(n):
    x = data(n)
    return [np.argsort(x, kind="stable"), np.unique(np.round(x, 2))]


def numpy_impl(n):
    x = data(n)

    def run():
        return np.argsort(x, kind="stable"), np.unique(np.round(x, 2))
    return run, (lambda: list(run()))


def codegen_impl(n, device="cpu"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen
    import codegen.tensor as T
    from codegen.compile.module import load_module
    codegen.config.device = device
    x = T.vector("x")
    module = codegen.Module("bench_w10" + ("" if device == "cpu" else f"_{device}"))
    module.add_function("sorts", [x], [T.argsort(x),
                                       T.extra_ops.Unique()(T.round(x * 100) / 100)])
    out = os.path.join(os.environ.get("CODEGEN_CACHE_DIR", "/tmp"), "bench-modules",
                       module.name)
    mod = load_module(module.build(out))
    xv = data(n)
    if device == "cuda":  # x on the device (read there, no copy), as PyTorch's is
        import torch
        xv = torch.as_tensor(xv, device="cuda")
    return (lambda: mod.sorts(xv)), (lambda: mod.sorts(xv))


def torch_impl(n, device="cpu"):
    try:
        import torch
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise Missing("torch with a CUDA device")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    xv = torch.from_numpy(data(n)).to(device)

    def run():  # on the host, as codegen's are (.cpu() waits for the device)
        return (torch.argsort(xv, stable=True).cpu(),
                torch.unique(torch.round(xv * 100) / 100, sorted=True).cpu())
    return run, (lambda: [a.numpy() for a in run()])


def codegen_cuda_impl(n):
    from mlp import _cuda_ready
    _cuda_ready()
    return codegen_impl(n, device="cuda")


def pytensor_impl(n):
    try:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.tensor.extra_ops import Unique
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    x = pt.vector("x")
    fn = pytensor.function([x], [pt.argsort(x, kind="stable"),
                                 Unique()(pt.round(x * 100) / 100)])
    xv = data(n)
    return (lambda: fn(xv)), (lambda: fn(xv))


IMPLEMENTATIONS = {"codegen": codegen_impl, "numpy": numpy_impl, "torch": torch_impl,
                   "pytensor": pytensor_impl,
                   # on a GPU (make gpu-check); Missing elsewhere
                   "codegen_cuda": codegen_cuda_impl,
                   "torch_cuda": lambda n: torch_impl(n, "cuda")}
