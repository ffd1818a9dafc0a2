"""The ``c`` target: a module as a plain C library (``<module>.h``, ``<module>.c``,
``lib<module>.so`` and the initial state as .npy files), for callers without Python."""

import functools
import os
import shlex
import subprocess
import sysconfig
import tempfile

import numpy as np

import codegen


class LibraryBuildError(RuntimeError):
    pass


def write_library(module_name, specs, out_dir, spec_path="<interactive>", arch=None):
    """Emit and compile the library of a module into ``out_dir/<module>/``; returns the paths
    written (header, source, library, state folder)."""
    from codegen.backends.c.render import render_library
    from codegen.files import replacing, write_if_changed
    from codegen.lower.module import lower_module
    lowered = lower_module(specs)
    if lowered.chains:
        from codegen.lower.lowering import NotCompiled
        raise NotCompiled(f"the C library cannot hold {lowered.chains[0].name}: its steps "
                          f"compute a length that its later steps' arrays need, so it is "
                          f"computed in parts, which only the Python module (the cython and "
                          f"cuda backends) calls in order")
    programs, docs, state_spec, initial = (lowered.programs, lowered.docs,
                                           lowered.state_spec, lowered.initial)
    state = [(name, dtype, bc) for name, (dtype, bc) in sorted(state_spec.items())]
    folder = os.path.join(out_dir, module_name)
    state_dir = os.path.join(folder, f"{module_name}_state")
    note = (f"`codegen build` writes the initial values into folder {module_name}_state/ beside "
            f"this header; load them with {module_name}_load.")
    header, source = render_library(module_name, programs, docs, state, note,
                                    codegen.__version__, spec_path)
    os.makedirs(state_dir, exist_ok=True)
    h_path = os.path.join(folder, f"{module_name}.h")
    c_path = os.path.join(folder, f"{module_name}.c")
    write_if_changed(h_path, header)
    write_if_changed(c_path, source)
    for name, value in initial.items():
        with replacing(os.path.join(state_dir, f"{name}.npy")) as f:
            np.save(f, np.asarray(value, order="C"))  # 0-d stays 0-d
    lib = os.path.join(folder, f"lib{module_name}.so")
    compile_library(c_path, lib, arch)
    return [h_path, c_path, lib, state_dir]


def library_flags(arch=None):
    """Compiler flags of a library: the kernels' flags at -O3, OpenMP and libmvec where
    found, and the BLAS found on this machine (``find_blas``)."""
    from codegen.build import compiler_flags
    flags = [f for f in compiler_flags(arch) if not f.startswith("-O")] + ["-O3", "-g0"]
    libs = (["-lmvec"] if "-DCODEGEN_SIMD_MATH" in flags else []) + ["-lm"]
    blas = find_blas()
    if blas:
        flags.append("-DCODEGEN_BLAS")
        libs = [blas] + libs
    return flags, libs


def compile_library(c_path, lib_path, arch=None):
    flags, libs = library_flags(arch)
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(lib_path)}-",
                               dir=os.path.dirname(lib_path))
    os.close(fd)
    command = cc + ["-shared", "-fPIC"] + flags + [c_path, "-o", tmp] + libs
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        os.unlink(tmp)
        raise LibraryBuildError(f"compiling {c_path} failed (exit {out.returncode}):\n"
                                f"{' '.join(command)}\n{out.stderr[-4000:]}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, lib_path)
    return lib_path


@functools.lru_cache(maxsize=None)
def find_blas():
    """The linker flag of a BLAS with the Fortran interface (dgemm_) that links here
    (OpenBLAS, then the reference BLAS), or None: products then run as built-in loops."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("extern void dgemm_(void);\nint main(void) { dgemm_(); return 0; }\n")
        for lib in ("-lopenblas", "-lblas"):
            try:
                out = subprocess.run(cc + [src, "-o", os.path.join(tmp, "t"), lib],
                                     capture_output=True)
            except OSError:
                return None
            if out.returncode == 0:
                return lib
    return None
