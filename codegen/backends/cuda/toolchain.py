"""Building a CUDA module: the CUDA layer by nvcc (a fat binary: SASS for sm_80 and sm_90,
and PTX for later GPUs, or the architectures CODEGEN_CUDA_ARCH names; the CUDA runtime
linked statically), or by the host's C++ compiler
with ``emulation.h`` when CODEGEN_CUDA_EMULATION is set; the glue as on the CPU."""

import functools
import os
import shutil
import subprocess

from codegen import build as cpu_build
from codegen.backends.cuda import emulated

EMULATION_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulation.h")

#: The GPUs whose machine code the binary carries (the last one's PTX too, which later
#: ones compile), unless CODEGEN_CUDA_ARCH names others.
ARCHITECTURES = ("80", "90")


def architectures():
    """nvcc's -gencode options: SASS for each architecture of CODEGEN_CUDA_ARCH ('90',
    'sm_90', '80,90': the cards a build is for; fewer build faster) or ``ARCHITECTURES``,
    and PTX of the last for later GPUs."""
    given = os.environ.get("CODEGEN_CUDA_ARCH", "").strip()
    archs = [a.strip().removeprefix("sm_") for a in given.split(",")] if given else \
        list(ARCHITECTURES)
    if not all(a.isdigit() for a in archs):
        raise cpu_build.BuildError(f"CODEGEN_CUDA_ARCH: expected compute capabilities such "
                                   f"as '90' or 'sm_80,sm_90', got {given!r}")
    options = []
    for k, a in enumerate(archs):
        code = f"sm_{a}" if k < len(archs) - 1 else f"[sm_{a},compute_{a}]"
        options += ["-gencode", f"arch=compute_{a},code={code}"]
    return options


class CudaKernels:
    suffix = "_kernels.cu"

    def __init__(self):
        self.emulated = emulated()
        # CODEGEN_CUDA_SANITIZE=address: the emulated kernels under AddressSanitizer (the
        # process then needs libasan preloaded: .ci/run does it)
        self.sanitize = (["-fsanitize=" + os.environ["CODEGEN_CUDA_SANITIZE"],
                          "-fno-omit-frame-pointer"]
                         if self.emulated and os.environ.get("CODEGEN_CUDA_SANITIZE") else [])
        self.key = "cuda:" + ("emulated:" + " ".join(self.sanitize) + _file_text(EMULATION_HEADER)
                              if self.emulated else
                              _nvcc_version() + " " + " ".join(architectures()))

    def command(self, path, obj, flags, cc):
        if self.emulated:
            # symbols only under a sanitizer, for its reports: -g triples g++'s time on a
            # large emulated module (78 s against 24 s for one of 27,000 lines)
            cxx = shutil.which("g++") or "c++"
            return [cxx, "-x", "c++", "-std=c++17", "-O1", "-fPIC", "-fwrapv",
                    *(["-g"] if self.sanitize else []), "-fopenmp", "-ffp-contract=off",
                    *self.sanitize, "-include", EMULATION_HEADER, "-c", path, "-o", obj]
        # --threads 0: the three targets compiled side by side (the MLP's layer: 3.8 s
        # instead of 5.1-6.6 s on two cores)
        return ["nvcc", "-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-fmad=false",
                "--threads", "0", *architectures(), "-c", path, "-o", obj]

    def libs(self):
        if self.emulated:
            return [*self.sanitize, "-fopenmp", "-lstdc++", "-lpthread"]
        return [f"-L{_cuda_lib_dir()}", "-lcudart_static", "-ldl", "-lrt", "-lpthread",
                "-lstdc++"]


def build(name, sources, flags, quiet=True):
    return cpu_build.build(name, sources, flags, quiet, kernels=CudaKernels())


def _file_text(path):
    with open(path) as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def _nvcc_version():
    out = subprocess.run(["nvcc", "--version"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout else "nvcc"


@functools.lru_cache(maxsize=None)
def _cuda_lib_dir():
    """The toolkit's library folder (libcudart_static.a), found from nvcc's place."""
    nvcc = os.path.realpath(shutil.which("nvcc") or "nvcc")
    for lib in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib")):
        folder = os.path.join(os.path.dirname(os.path.dirname(nvcc)), lib)
        if os.path.exists(os.path.join(folder, "libcudart_static.a")):
            return folder
    for folder in ("/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(folder, "libcudart_static.a")):
            return folder
    raise cpu_build.BuildError("libcudart_static.a (the CUDA runtime) was not found next to "
                               f"nvcc ({nvcc}); install the CUDA toolkit")
