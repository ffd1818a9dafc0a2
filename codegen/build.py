"""Building a generated .pyx into an extension module, cached by content hash.

The cache key covers the source, the compiler flags, the Python and numpy ABI, and the
compiler and Cython versions. A build happens in a temporary folder and is renamed into place
(atomic install); a file lock makes concurrent builds of the same source build once.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import numpy as np

from codegen.config import config


class BuildError(RuntimeError):
    pass


def compiler_flags(target=None, debug=False):
    """Flags for the whole extension.

    -O0 applies to the Python-facing glue; the generated kernels raise themselves to -O3 with
    a pragma (see the module template), which keeps a build to a couple of seconds. No
    -ffast-math: IEEE NaN/Inf semantics hold; -fno-math-errno only stops libm from setting
    errno, which lets gcc inline sqrt and vectorize; -fopenmp-simd honours the
    ``omp simd reduction`` pragmas of sums, and -fopenmp (where gcc's OpenMP runtime is
    installed) runs large loops on several threads (see ckernel.PARALLEL_MIN).
    """
    target = target or config.target
    flags = ["-O0", "-fno-math-errno", "-fopenmp-simd", "-Wno-unused-function",
             "-Wno-unreachable-code"]
    if openmp_available():
        flags.append("-fopenmp")
    if target == "native":
        flags.append("-march=native")
    if simd_math_available():
        flags.append("-DCODEGEN_SIMD_MATH")
    if debug:
        flags = ["-O1", "-g", "-Wno-unused-function"]
    return flags


def openmp_available():
    """gcc's OpenMP runtime (libgomp): without it, kernels run on one thread."""
    import ctypes.util
    return ctypes.util.find_library("gomp") is not None


def simd_math_available():
    """glibc's vector math library (libmvec): with it, kernels call vector exp/tanh/log.

    libmvec keeps IEEE special values (exp(nan) is nan, exp(inf) is inf, log(0) is -inf),
    unlike -ffast-math. Without it, kernels call the scalar functions.
    """
    import ctypes.util
    import platform
    return platform.machine() in ("x86_64", "AMD64") and ctypes.util.find_library("mvec") \
        is not None


def _compiler_version():
    cc = sysconfig.get_config_var("CC") or "cc"
    exe = shutil.which(cc.split()[0])
    if exe is None:
        raise BuildError(f"no C compiler found: '{cc.split()[0]}' is not on PATH. Install gcc "
                         "(Debian: apt-get install gcc python3-dev) to build compiled modules, "
                         "or use mode='FAST_COMPILE' to run on the numpy reference.")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else exe
    except (OSError, subprocess.SubprocessError):
        return exe


def cache_key(name, source, flags):
    import Cython
    parts = [name, source, " ".join(flags), sys.version, np.__version__, Cython.__version__,
             _compiler_version(), sysconfig.get_platform()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _ext_suffix():
    return sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def _progress(message, quiet):
    if not quiet:
        print(f"codegen: {message}", file=sys.stderr, flush=True)


def _compile(name, pyx_path, build_dir, flags, quiet):
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    ext = Extension(name, [pyx_path], include_dirs=[np.get_include()],
                    extra_compile_args=flags,
                    libraries=(["mvec"] if "-DCODEGEN_SIMD_MATH" in flags else []) + ["m"],
                    extra_link_args=["-fopenmp"] if "-fopenmp" in flags else [],
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
    t0 = time.perf_counter()
    try:
        modules = cythonize([ext], quiet=True, language_level=3, build_dir=build_dir)
    except Exception as exc:
        raise BuildError(f"Cython rejected the generated {name}.pyx ({exc}); this is a codegen "
                         "bug: please report it with the emitted source") from exc
    _progress(f"cython {name}.pyx -> C in {time.perf_counter() - t0:.2f}s", quiet)
    t0 = time.perf_counter()
    dist = Distribution({"name": name, "ext_modules": modules})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = build_dir
    cmd.build_temp = os.path.join(build_dir, "tmp")
    cmd.ensure_finalized()
    try:
        if quiet:
            with open(os.devnull, "w") as devnull:
                stdout = os.dup(1)
                os.dup2(devnull.fileno(), 1)
                try:
                    cmd.run()
                finally:
                    os.dup2(stdout, 1)
                    os.close(stdout)
        else:
            cmd.run()
    except Exception as exc:
        raise BuildError(f"compiling {name} failed: {exc}") from exc
    _progress(f"compile {name} ({' '.join(flags)}) in {time.perf_counter() - t0:.2f}s", quiet)
    return cmd.get_ext_fullpath(name)


def build(name, source, flags, quiet=True, extra_files=None):
    """Path of the built extension for ``source`` (from the cache when present)."""
    key = cache_key(name, source, flags)
    root = os.path.abspath(config.cache_dir)
    final = os.path.join(root, f"{name}-{key[:20]}")
    target = os.path.join(final, name + _ext_suffix())
    if os.path.exists(target):
        return target
    os.makedirs(root, exist_ok=True)
    from filelock import FileLock
    with FileLock(final + ".lock"):
        if os.path.exists(target):
            return target
        tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=root)
        try:
            pyx = os.path.join(tmp, name + ".pyx")
            with open(pyx, "w") as f:
                f.write(source)
            built = _compile(name, pyx, tmp, flags, quiet)
            stage = tempfile.mkdtemp(prefix=f".{name}-stage-", dir=root)
            shutil.copy2(built, os.path.join(stage, name + _ext_suffix()))
            shutil.copy2(pyx, os.path.join(stage, name + ".pyx"))
            os.replace(stage, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(name, path):
    """Import the extension at ``path`` as module ``name`` (reused if already loaded)."""
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == path:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
