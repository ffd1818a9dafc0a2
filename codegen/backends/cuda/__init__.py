"""The CUDA backend: a module is its CUDA layer (``templates/cuda``: kernels, products and
step functions in a ``.cu``, compiled by nvcc into a fat binary) and the same Python glue as
the CPU's (``templates/cython``), in an extension module that needs numpy and the CUDA
driver at run time, not the toolkit (the CUDA runtime is linked statically). It imports on a
machine without a GPU; its first call then says why there is no device.

With ``CODEGEN_CUDA_EMULATION=1`` (tests on machines without a GPU) the ``.cu`` is compiled by
the host's C++ compiler with ``emulation.h``, which runs the kernels on the host.
"""

import os
import shutil

NAME = "cuda"
DEVICES = ("cuda",)


def emulated():
    """Whether modules are built to run their kernels on the host (CODEGEN_CUDA_EMULATION)."""
    return os.environ.get("CODEGEN_CUDA_EMULATION", "") not in ("", "0")


def variant():
    """What else a built module depends on: emulated, or built by nvcc."""
    if emulated():
        return "emulated:" + os.environ.get("CODEGEN_CUDA_SANITIZE", "")
    return "nvcc"


def nvcc():
    """The path of nvcc, or None."""
    return shutil.which("nvcc")


def missing():
    """What this machine lacks to build CUDA modules, or None."""
    if emulated() or nvcc():
        return None
    return ("nvcc (the CUDA toolkit) is not on PATH; install the toolkit, or set "
            "CODEGEN_CUDA_EMULATION=1 to run the kernels on the host")


def assemble(module_name, specs, debug=False, spec_path="<interactive>", flags=(),
             regenerate=None):
    from codegen.backends.cython.module import assemble
    return assemble(module_name, specs, debug, spec_path, flags, regenerate, device="cuda")


def build(name, sources, flags, quiet=True):
    from codegen.backends.cuda.toolchain import build
    return build(name, sources, flags, quiet)
