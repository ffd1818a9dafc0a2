"""B: building W1's train function: cold (empty cache) and warm (cached) from a fresh process.

Times the whole ``function(...)`` call: graph rewriting, code generation, compiling or loading
from the cache. PyTensor's C backend is the peer (its compile directory plays the cache).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import mlp

NAME = "B"
CASES = {"cold": {"warm": False}, "warm": {"warm": True}}
HERE = os.path.dirname(os.path.abspath(__file__))


def reference(warm):
    return []


def _codegen(sizes=(2, 4, 1)):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import numpy as np

    import codegen
    import codegen.tensor as T
    params, X, Y = mlp.initial(sizes, 10, "float64")
    shared = [codegen.shared(p, broadcastable=(False, i % 2 == 1)) for i, p in enumerate(params)]
    x, y = T.matrix("X"), T.matrix("Y")
    h = x
    for W, b in zip(shared[::2], shared[1::2]):
        h = T.nnet.sigmoid(T.dot(W, h) + b)
    cost = T.sum((h - y) ** 2)
    updates = []
    for p in shared:
        m = codegen.shared(np.zeros_like(p.get_value()), broadcastable=p.broadcastable)
        updates += [(p, p - mlp.LR * m), (m, mlp.MOMENTUM * m + 0.1 * T.grad(cost, p))]
    return codegen.function([x, y], cost, updates=updates)


def _pytensor(sizes=(2, 4, 1)):
    return mlp._pytensor(sizes, 10, "float64", True, "cvm")


BUILDERS = {"codegen": _codegen, "pytensor_c": _pytensor}


def _setup(impl):
    def setup(warm):
        return (lambda: None), (lambda: [])
    return setup


IMPLEMENTATIONS = {name: _setup(name) for name in BUILDERS}


def _compile_bytecode(package):
    """Write the package's bytecode as installing it would (pip compiles every module it
    installs; PyTensor's is): from a source checkout with PYTHONDONTWRITEBYTECODE set, each
    process would compile the modules it imports again (about 16 ms of a warm build here)."""
    import compileall
    compileall.compile_dir(package, quiet=2)


def measure(impl, warm):
    cache = tempfile.mkdtemp(prefix="bench-build-")
    env_var = "CODEGEN_CACHE_DIR" if impl == "codegen" else "PYTENSOR_FLAGS"
    value = cache if impl == "codegen" else f"compiledir={cache}"
    if warm:  # fill the cache from another process first
        subprocess.run([sys.executable, "-c", f"import b_build; b_build.BUILDERS[{impl!r}]()"],
                       cwd=HERE, env={**os.environ, env_var: value}, check=True,
                       capture_output=True)
    os.environ[env_var] = value
    import numpy.random  # noqa: F401  (the builders make their data with it, untimed)
    if impl == "codegen":
        sys.path.insert(0, os.path.join(HERE, ".."))
        import codegen
        _compile_bytecode(os.path.dirname(codegen.__file__))
        codegen.config.cache_dir = cache
    elif impl == "pytensor_c":
        try:
            import pytensor  # noqa: F401  (imported before timing, as codegen is)
        except ImportError as exc:
            from harness import Missing
            raise Missing(str(exc)) from None
    try:
        t0 = time.perf_counter()
        BUILDERS[impl]()
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)
