"""The ``codegen`` command: build, show and inspect generated modules.

Exit status: 0 success, 1 a build or graph error, 2 a usage error.
"""

import argparse
import os
import runpy
import sys
import time


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


def cmd_build(args):
    from codegen.config import config
    if args.floatX:
        config.floatX = args.floatX
    spec_rel = os.path.relpath(args.spec)
    for module in _load_spec(args.spec):
        out = os.path.join(args.out, module.name)
        t0 = time.perf_counter()
        path = module.build(out, debug=args.debug, spec_path=spec_rel, target=args.target,
                            quiet=True)
        print(f"codegen: built {module.name} -> {path} in {time.perf_counter() - t0:.2f}s")
    return 0


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
    b.add_argument("--backend", default="cython", choices=["cython"])
    b.add_argument("--debug", action="store_true", help="NaN/Inf and bounds checks per kernel")
    b.add_argument("--floatX", choices=["float32", "float64"])
    b.add_argument("--target", choices=["native", "portable"], default=None)
    b.add_argument("-j", type=int, default=1, help="parallel builds (modules build in turn)")
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
