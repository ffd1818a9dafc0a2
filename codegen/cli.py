"""The ``codegen`` command: build, show and inspect generated modules.

Exit status: 0 success, 1 a build or graph error, 2 a usage error.
"""

import argparse
import json
import os
import runpy
import sys
import time

from codegen import backends


def _load_spec(path):
    from codegen.compile.module import Module
    if not os.path.isfile(path):
        raise UsageError(f"spec file not found: {path}")
    namespace = runpy.run_path(path, run_name="__codegen_spec__")
    modules = [v for v in namespace.values() if isinstance(v, Module)]
    if not modules:
        raise UsageError(f"{path} defines no codegen.Module")
    return modules


class UsageError(Exception):
    pass


def _sources_loaded_by(spec, before):
    """The spec file and the project files it imported (not installed packages)."""
    root = os.path.dirname(os.path.abspath(spec))
    files = {os.path.abspath(spec)}
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if name not in before and path and path.endswith(".py") and \
                os.path.abspath(path).startswith(root + os.sep):
            files.add(os.path.abspath(path))
    return sorted(files)


def _digest(files, options):
    import hashlib

    import codegen
    from codegen.backends.templating import generator_files
    h = hashlib.sha256(f"{codegen.__version__}|{options}".encode())
    for path in list(files) + generator_files():
        h.update(path.encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def _up_to_date(stamp_path, options):
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        return (all(os.path.exists(p) for p in stamp["outputs"])
                and _digest(stamp["inputs"], options) == stamp["digest"])
    except (OSError, ValueError, KeyError):
        return False


def cmd_build(args):
    from codegen.config import config
    if args.floatX:
        config.floatX = args.floatX
    if not os.path.isfile(args.spec):
        raise UsageError(f"spec file not found: {args.spec}")
    if args.target in ("native", "portable"):  # the machine code's target, as before --arch
        args.arch, args.target = args.target, "python"
    if args.target == "c" and args.debug:
        raise UsageError("--debug builds Python modules only (drop it with --target c)")
    backend = backends.resolve(backend=args.backend)
    config.device = backends.get(backend).DEVICES[0]  # what every step of the build reads
    options = repr((os.path.abspath(args.spec), args.debug, args.floatX, args.target, args.arch,
                    backend, args.data_parallel))
    stem = os.path.splitext(os.path.basename(args.spec))[0]
    stamp_path = os.path.join(args.out, f".codegen-build-{stem}.json")
    if _up_to_date(stamp_path, options):
        print(f"codegen: {args.spec} is up to date in {args.out} (nothing to do)")
        return 0
    before = set(sys.modules)
    build_all = _build_libraries if args.target == "c" else _build_modules
    modules = _load_spec(args.spec)
    for module in modules:
        module.data_parallel = module.data_parallel or args.data_parallel
    outputs = build_all(modules, args)
    inputs = _sources_loaded_by(args.spec, before)
    os.makedirs(args.out, exist_ok=True)
    with open(stamp_path, "w") as f:
        json.dump({"inputs": inputs, "outputs": outputs, "digest": _digest(inputs, options)},
                  f, indent=1)
    return 0


def _build_modules(modules, args):
    """Emit every module, then compile them (``-j N``: N compiler processes at once)."""
    from concurrent.futures import ProcessPoolExecutor

    from codegen.build import compiler_flags
    from codegen.compile.module import build, install
    flags = compiler_flags(args.arch, args.debug)
    jobs = []
    for module in modules:
        t0 = time.perf_counter()
        out = os.path.join(args.out, module.name)
        paths = module.emit(out, args.debug, os.path.relpath(args.spec), args.arch)
        sources = {}
        for fname, path in paths.items():
            with open(path) as f:
                sources[fname] = f.read()
        jobs.append((module.name, sources, out))
        print(f"codegen: generated {', '.join(paths.values())} in "
              f"{time.perf_counter() - t0:.2f}s")
    t0 = time.perf_counter()
    if args.j > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=args.j) as pool:
            built = list(pool.map(build, *zip(*[(n, src, flags, False) for n, src, _ in jobs])))
    else:
        built = [build(name, src, flags, quiet=False) for name, src, _ in jobs]
    outputs = []
    for path, (name, _, out) in zip(built, jobs):
        outputs.append(os.path.abspath(install(path, out)))
        print(f"codegen: built {name} -> {os.path.relpath(outputs[-1])} "
              f"({time.perf_counter() - t0:.2f}s)")
    return outputs


def _build_libraries(modules, args):
    """``--target c``: each module as a C library, ``OUT/<module>/``."""
    from codegen.backends.c import write_library
    outputs = []
    for module in modules:
        t0 = time.perf_counter()
        paths = write_library(module.name, module.functions(), args.out, os.path.relpath(args.spec),
                              args.arch)
        outputs += [os.path.abspath(p) for p in paths]
        print(f"codegen: built C library {module.name} -> "
              f"{', '.join(os.path.relpath(p) for p in paths)} ({time.perf_counter() - t0:.2f}s)")
    return outputs


def cmd_show(args):
    if args.target.endswith(".py"):
        for module in _load_spec(args.target):
            source = module.source(spec_path=os.path.relpath(args.target))
            print(_only_function(source, args.function) if args.function else source)
        return 0
    with open(args.target) as f:
        source = f.read()
    print(_only_function(source, args.function) if args.function else source)
    return 0


def _only_function(source, name):
    marker = f"# {'=' * 64} {name}\n"
    if marker not in source:
        raise UsageError(f"no function {name!r} in the module")
    part = source.split(marker, 1)[1]
    return marker + part.split(f"# {'=' * 64} ", 1)[0]


def cmd_inspect(args):
    from codegen.compile.module import load_module
    module = load_module(os.path.abspath(args.module))
    meta = module.__codegen__
    for key in sorted(meta):
        if key != "signature":
            print(f"{key}: {meta[key]}")
    print("functions:")
    for name, sig in sorted(meta["signature"].items()):
        print(f"  {sig}")
    print("state:", ", ".join(f"{k} {v.dtype}{v.shape}" for k, v in module.state().items()))
    return 0


def parser():
    p = argparse.ArgumentParser(prog="codegen", description="Ahead-of-time compiler for "
                                "Theano-style graphs: generate and build extension modules.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build every codegen.Module a spec file defines")
    b.add_argument("spec")
    b.add_argument("--out", default="generated")
    b.add_argument("--backend", default=None,
                   help="the compiled backend (default: the one of config.device): "
                   + ", ".join(backends.names()))
    b.add_argument("--debug", action="store_true", help="NaN/Inf and bounds checks per kernel")
    b.add_argument("--floatX", choices=["float32", "float64"])
    b.add_argument("--target", choices=["python", "c", "native", "portable"], default="python",
                   help="python: an extension module (default); c: a C library with its "
                   "header, for callers without Python (native, portable: as --arch)")
    b.add_argument("--arch", choices=["native", "portable"], default=None,
                   help="the machine code: this CPU's instructions, or portable x86-64")
    b.add_argument("--data-parallel", action="store_true",
                   help="also build <f>_gradients and <f>_apply for each training function f, "
                   "for data-parallel training (gradients all-reduced between the two)")
    b.add_argument("-j", type=int, default=1, help="compile N modules at once")
    b.set_defaults(func=cmd_build)
    s = sub.add_parser("show", help="print the emitted source of a spec or a .pyx")
    s.add_argument("target")
    s.add_argument("--function")
    s.set_defaults(func=cmd_show)
    i = sub.add_parser("inspect", help="print a built module's signature and metadata")
    i.add_argument("module")
    i.set_defaults(func=cmd_inspect)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"codegen: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, RuntimeError, NotImplementedError) as exc:
        print(f"codegen: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
