"""Building a generated .pyx into an extension module, cached by content hash.

The cache key covers the source, the compiler flags, the Python and numpy ABI, and the
compiler and Cython versions. A build happens in a temporary folder and is renamed into place
(atomic install); a file lock makes concurrent builds of the same source build once. Every
entry records the SHA-256 of its extension, checked before it is used: a damaged entry is
built again, never loaded.
"""

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import numpy as np

from codegen import cython_tables
from codegen.config import config


class BuildError(RuntimeError):
    pass


def compiler_flags(target=None, debug=False):
    """Flags for the whole extension.

    -Og applies to the Python-facing glue; the generated kernels are compiled at -O3 (their C
    file, ``<name>_kernels.c``), which keeps a build to a couple of seconds. -Og and not -O0:
    Cython's C is made of small inline helpers that -O0 leaves as calls, which doubled the
    fixed cost of a call (the W1 step at N = 1: 2.2 us at -O0, 1.1 us at -Og, as at -O2) for
    0.5 s less build time; -O2 costs 1.5 s more than -O0. No -ffast-math:
    IEEE NaN/Inf semantics hold; -fno-math-errno only stops libm from setting errno, which lets
    gcc inline sqrt and vectorize; -fno-trapping-math tells gcc that no floating-point operation
    traps (nothing here enables traps), so it may compute both arms of a select and vectorize
    clamps and switches, with the same values (a kernel converting floats to integers turns it
    back on, see cexpr's CG_EXACT_CASTS); -ffp-contract=off keeps x*y + z two roundings, as
    numpy computes it (a fused multiply-add gives -inf where numpy gives NaN for 1e200*1e200 -
    inf, and other last bits); -fwrapv makes integer overflow wrap as in numpy (Python's own
    CFLAGS usually carry it too); -fopenmp-simd honours the ``omp simd reduction`` pragmas of
    sums, and -fopenmp (where gcc's OpenMP runtime is installed) runs large loops on several
    threads (see ckernel.PARALLEL_MIN). -Werror=implicit-function-declaration: a function
    called without its header is an error here as it is by default from gcc 14 and clang 16
    on (the kernels' malloc and free once were).
    """
    target = target or config.target
    flags = ["-Og", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fwrapv",
             "-fopenmp-simd", "-Werror=implicit-function-declaration",
             "-Wno-unused-function", "-Wno-unreachable-code"]
    if openmp_available():
        flags.append("-fopenmp")
    if target == "native":
        flags.append("-march=native")
    if simd_math_available():
        flags.append("-DCODEGEN_SIMD_MATH")
    if debug:
        flags = ["-O1", "-g", "-ffp-contract=off", "-fwrapv",
                 "-Werror=implicit-function-declaration", "-Wno-unused-function"]
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


def cache_key(name, sources, flags):
    """The key of a build: ``sources`` ({file name: text}), flags and toolchain."""
    import Cython
    text = "\0".join(f"{fname}\0{sources[fname]}" for fname in sorted(sources))
    parts = [name, text, " ".join(flags), sys.version, np.__version__, Cython.__version__,
             _compiler_version(), sysconfig.get_platform()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _ext_suffix():
    return sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def _progress(message, quiet):
    if not quiet:
        print(f"codegen: {message}", file=sys.stderr, flush=True)


class CKernels:
    """How the C layer (``<name>_kernels.c``) compiles: the C compiler, at -O3."""

    suffix = "_kernels.c"
    key = ""

    def command(self, path, obj, flags, cc):
        k_flags = [f for f in flags if not f.startswith("-O")] + ["-O3"]
        return cc + k_flags + ([] if "-g" in flags else ["-g0"]) + ["-c", path, "-o", obj]

    def libs(self):
        return []


#: A glue handling more array strides than this compiles at -O0 (``_glue_level``).
GLUE_OG_MAX_STRIDES = 400


def _glue_level(pyx_path, flags):
    """The flags of the glue: -Og, or -O0 for a glue of very many arrays. The time of -Og's
    register allocation and CSE grows faster than one function's size: a function of 336
    outputs (650 strides in its glue) took 119 s at -Og and 5.6 s at -O0. The fixed cost
    of a call that -Og halves (about 1 us) is small beside such a call's own."""
    with open(pyx_path) as f:
        strides = f.read().count("_stride(")
    if strides <= GLUE_OG_MAX_STRIDES:
        return list(flags)
    return ["-O0" if flag == "-Og" else flag for flag in flags]


def _compile(name, build_dir, flags, quiet, kernels):
    """The kernels' C file (``<name>_kernels.c``) in a compiler process, Cython in this one
    meanwhile, then the glue Cython wrote in another compiler process while the kernels
    finish, then one link.

    The steps are called directly (not through setuptools' build_ext, whose machinery costs a
    few tenths of a second per module); the commands are the ones build_ext would run.
    Compiling the kernels (at -O3, most of the compiler's time) on another core while Cython
    runs, and the glue beside the kernels' end, keeps both cores busy.
    """
    cython_tables.install()  # Cython's lexicon and utility code, made once per Cython
    from Cython.Compiler.Main import CompilationOptions, compile_single, default_options
    pyx_path = os.path.join(build_dir, name + ".pyx")
    c_path = os.path.join(build_dir, name + ".c")
    cflags = (shlex.split(sysconfig.get_config_var("CFLAGS") or "")
              + shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC"))
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    t0 = time.perf_counter()
    glue = None
    k_path = os.path.join(build_dir, name + kernels.suffix)
    k_obj = os.path.join(build_dir, name + "_kernels.o")
    k_command = kernels.command(k_path, k_obj, flags, cc + cflags)
    apart = subprocess.Popen(k_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        options = CompilationOptions(default_options, language_level=3, output_file=c_path)
        try:
            result = compile_single(pyx_path, options, name)
        except Exception as exc:  # Cython raises on some errors and reports others
            result = None
            detail = str(exc)
        else:
            detail = f"{result.num_errors} error(s), shown above"
        if result is None or result.num_errors:
            raise BuildError(f"Cython rejected the generated {name}.pyx ({detail}); this is a "
                             "codegen bug: please report it with the emitted source")
        _progress(f"cython {name}.pyx -> C in {time.perf_counter() - t0:.2f}s", quiet)
        cython_tables.save_utilities()
        t1 = time.perf_counter()
        target = os.path.join(build_dir, name + _ext_suffix())
        glue_flags = (cflags + _glue_level(pyx_path, flags)
                      + ([] if "-g" in flags else ["-g0"])  # debug builds keep their symbols
                      + ["-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION", f"-I{build_dir}",
                         f"-I{np.get_include()}", f"-I{sysconfig.get_paths()['include']}"])
        link = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
        libs = (kernels.libs() + (["-lmvec"] if "-DCODEGEN_SIMD_MATH" in flags else [])
                + ["-lm"])
        # the glue compiles on the core Cython used while the kernels finish on theirs
        g_obj = os.path.join(build_dir, name + ".o")
        glue_command = cc + glue_flags + ["-c", c_path, "-o", g_obj]
        glue = subprocess.Popen(glue_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        _, err = apart.communicate()
        if apart.returncode != 0:
            raise BuildError(f"compiling the kernels of {name} failed (exit "
                             f"{apart.returncode}):\n{' '.join(k_command)}\n{err[-4000:]}")
        _, err = glue.communicate()
        if glue.returncode != 0:
            raise BuildError(f"compiling {name} failed (exit {glue.returncode}):\n"
                             f"{' '.join(glue_command)}\n{err[-4000:]}")
        _run(name, link + cflags + list(flags) + [g_obj, k_obj, "-o", target] + libs)
    finally:
        for process in (apart, glue):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    _progress(f"compile {name} ({' '.join(flags)}) in {time.perf_counter() - t1:.2f}s "
              f"({time.perf_counter() - t0:.2f}s in all)", quiet)
    return target


def _run(name, command):
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise BuildError(f"compiling {name} failed (exit {out.returncode}):\n"
                         f"{' '.join(command)}\n{out.stderr[-4000:]}")


def build(name, sources, flags, quiet=True, kernels=None):
    """Path of the built extension of ``sources`` ({file name: text}: ``<name>.pyx``,
    ``<name>_kernels.c`` and ``.h``): from the cache when an entry is there and verified,
    else built now (a damaged entry is replaced). ``kernels``: how the C layer compiles
    (``CKernels``, or the CUDA backend's)."""
    kernels = kernels or CKernels()
    key = cache_key(name, sources, list(flags) + [kernels.key])
    root = os.path.abspath(config.cache_dir)
    final = os.path.join(root, f"{name}-{key[:20]}")
    target = os.path.join(final, name + _ext_suffix())
    if verified(target):
        return target
    os.makedirs(root, exist_ok=True)
    from filelock import FileLock
    with FileLock(final + ".lock"):
        if verified(target):
            return target
        tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=root)
        stage = None
        try:
            for fname, text in sources.items():
                with open(os.path.join(tmp, fname), "w") as f:
                    f.write(text)
            built = _compile(name, tmp, flags, quiet, kernels)
            stage = tempfile.mkdtemp(prefix=f".{name}-stage-", dir=root)
            shutil.copy2(built, os.path.join(stage, name + _ext_suffix()))
            for fname in sources:
                shutil.copy2(os.path.join(tmp, fname), os.path.join(stage, fname))
            with open(os.path.join(stage, name + DIGEST_SUFFIX), "w") as f:
                f.write(_file_digest(built))
            _discard(final, root)  # a damaged entry, if any
            os.replace(stage, final)
            stage = None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
    return target


#: Beside each cached extension: the SHA-256 of its bytes, recorded when it was installed.
DIGEST_SUFFIX = ".sha256"


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified(target):
    """Whether the cached extension ``target`` is there and has the bytes recorded when it
    was installed (a truncated, replaced or missing file would crash or fail the import)."""
    stem = target[: -len(_ext_suffix())]
    try:
        with open(stem + DIGEST_SUFFIX, "rb") as f:
            recorded = f.read().strip()
        return _file_digest(target).encode() == recorded
    except OSError:
        return False


def _discard(entry, root):
    """Move a cache entry out of the way and remove it (under the entry's lock)."""
    if os.path.lexists(entry):
        trash = tempfile.mkdtemp(prefix=".discarded-", dir=root)
        os.replace(entry, os.path.join(trash, "entry"))
        shutil.rmtree(trash, ignore_errors=True)


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
