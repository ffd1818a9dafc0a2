"""The MLP workloads (W1, W2, W4) for every implementation.

Layers of sigmoid units, data points as columns (X is (n_in, N)), W is (n_out, n_in), b a
column broadcast across columns; squared-error cost; the tutorial's momentum update:
``p <- p - lr * m`` and ``m <- mom * m + (1 - mom) * dcost/dp`` from the old values.
"""

import os
import sys

import numpy as np
from harness import Missing

LR, MOMENTUM = 0.01, 0.9


def initial(sizes, N, dtype, seed=0):
    rng = np.random.RandomState(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.randn(n_out, n_in) / np.sqrt(n_in)).astype(dtype))
        params.append(np.full((n_out, 1), 0.1, dtype=dtype))
    X = rng.randn(sizes[0], N).astype(dtype)
    Y = (rng.rand(sizes[-1], N) > 0.5).astype(dtype)
    return params, X, Y


# ---------------------------------------------------------------- numpy (hand-written)

def _sig(z):
    return 1 / (1 + np.exp(-z))


def numpy_forward(params, X):
    h = X
    for W, b in zip(params[::2], params[1::2]):
        h = _sig(W @ h + b)
    return h


def numpy_train_step(params, moms, X, Y):
    acts = [X]
    for W, b in zip(params[::2], params[1::2]):
        acts.append(_sig(W @ acts[-1] + b))
    out = acts[-1]
    cost = ((out - Y) ** 2).sum()
    delta = 2 * (out - Y) * out * (1 - out)
    grads = [None] * len(params)
    for layer in reversed(range(len(params) // 2)):
        W = params[2 * layer]
        grads[2 * layer] = delta @ acts[layer].T
        grads[2 * layer + 1] = delta.sum(axis=1, keepdims=True)
        if layer:
            delta = (W.T @ delta) * acts[layer] * (1 - acts[layer])
    new_params = [p - LR * m for p, m in zip(params, moms)]
    new_moms = [MOMENTUM * m + (1 - MOMENTUM) * g for m, g in zip(moms, grads)]
    return cost, new_params, new_moms


def reference_train(sizes, N, dtype):
    params, X, Y = initial(sizes, N, "float64")
    moms = [np.zeros_like(p) for p in params]
    for _ in range(2):
        cost, params, moms = numpy_train_step(params, moms, X, Y)
    return [np.asarray(cost)] + params


def reference_forward(sizes, N, dtype):
    params, X, _ = initial(sizes, N, "float64")
    return [numpy_forward(params, X)]


def numpy_train(sizes, N, dtype):
    def fresh():
        params, X, Y = initial(sizes, N, dtype)
        return {"p": params, "m": [np.zeros_like(p) for p in params], "X": X, "Y": Y}

    state = fresh()

    def step():
        cost, state["p"], state["m"] = numpy_train_step(state["p"], state["m"], state["X"],
                                                        state["Y"])
        return cost

    def check():
        s = fresh()
        for _ in range(2):
            cost, s["p"], s["m"] = numpy_train_step(s["p"], s["m"], s["X"], s["Y"])
        return [cost] + s["p"]
    return step, check


def numpy_infer(sizes, N, dtype):
    params, X, _ = initial(sizes, N, dtype)
    return (lambda: numpy_forward(params, X)), (lambda: [numpy_forward(params, X)])


# ---------------------------------------------------------------- codegen

def _codegen_graph(sizes, N, dtype, train, device="cpu"):
    """(inputs, output, updates, the parameters' shared variables, X, Y) of the step."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen
    import codegen.tensor as T
    codegen.config.device = device
    params, X, Y = initial(sizes, N, dtype)
    shared = [codegen.shared(p, name=f"{'Wb'[i % 2]}{i // 2}", broadcastable=(False, i % 2 == 1))
              for i, p in enumerate(params)]
    x = T.tensor(dtype, (False, False), "X")
    y = T.tensor(dtype, (False, False), "Y")
    h = x
    for W, b in zip(shared[::2], shared[1::2]):
        h = T.nnet.sigmoid(T.dot(W, h) + b)
    cost = T.sum((h - y) ** 2)
    if not train:
        return [x], h, [], shared, X, Y
    updates = []
    for p in shared:
        m = codegen.shared(np.zeros_like(p.get_value()), broadcastable=p.broadcastable)
        updates.append((p, p - LR * m))
        updates.append((m, MOMENTUM * m + (1.0 - MOMENTUM) * T.grad(cost, p)))
    return [x, y], cost, updates, shared, X, Y


def _codegen_module(sizes, N, dtype, train, device="cpu"):
    import codegen
    from codegen.compile.module import load_module
    inputs, output, updates, _, X, Y = _codegen_graph(sizes, N, dtype, train, device)
    module = codegen.Module(f"bench_mlp_{'_'.join(map(str, sizes))}_{dtype}"
                            + ("" if device == "cpu" else f"_{device}"))
    module.add_function("train" if train else "predict", inputs, output, updates=updates)
    out = os.path.join(os.environ.get("CODEGEN_CACHE_DIR", "/tmp"), "bench-modules",
                       module.name)
    return load_module(module.build(out)), X, Y


def _on_device(*arrays):
    """On CUDA the inputs stay on the device between steps, as PyTorch's do: CUDA tensors,
    which the module reads where they are (__cuda_array_interface__, no copy)."""
    import torch
    return [torch.as_tensor(a, device="cuda") for a in arrays]


def codegen_train(sizes, N, dtype, device="cpu"):
    mod, X, Y = _codegen_module(sizes, N, dtype, True, device)
    if device == "cuda":
        X, Y = _on_device(X, Y)
    initial_state = mod.state()

    def check():
        for name, value in initial_state.items():
            mod.set_value(name, value)
        for _ in range(2):
            cost = mod.train(X, Y)
        state = mod.state()
        return [cost] + [state[f"{'Wb'[i % 2]}{i // 2}"] for i in range(2 * (len(sizes) - 1))]
    return (lambda: mod.train(X, Y)), check


def codegen_function_train(sizes, N, dtype):
    """The same step through ``codegen.function``, as the tutorial's users call it."""
    import codegen
    inputs, cost, updates, shared, X, Y = _codegen_graph(sizes, N, dtype, True)
    train = codegen.function(inputs, cost, updates=updates)
    initial_values = [p.get_value() for p in shared]

    def check():
        for p, value in zip(shared, initial_values):
            p.set_value(value)
        for _ in range(2):
            cost = train(X, Y)
        return [cost] + [p.get_value() for p in shared]
    return (lambda: train(X, Y)), check


def codegen_infer(sizes, N, dtype, device="cpu"):
    mod, X, _ = _codegen_module(sizes, N, dtype, False, device)
    if device == "cuda":
        X, = _on_device(X)
    return (lambda: mod.predict(X)), (lambda: [mod.predict(X)])


# ---------------------------------------------------------------- PyTensor

def _pytensor(sizes, N, dtype, train, linker):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    pytensor.config.floatX = dtype  # else Python scalars upcast float32 updates to float64
    params, X, Y = initial(sizes, N, dtype)
    shared = [pytensor.shared(p, shape=(None, 1) if i % 2 else None)
              for i, p in enumerate(params)]
    x, y = pt.matrix("X", dtype=dtype), pt.matrix("Y", dtype=dtype)
    h = x
    for W, b in zip(shared[::2], shared[1::2]):
        h = pt.sigmoid(pt.dot(W, h) + b)
    cost = pt.sum((h - y) ** 2)
    mode = None if linker == "default" else pytensor.compile.mode.Mode(linker=linker,
                                                                        optimizer="fast_run")
    if not train:
        f = pytensor.function([x], h, mode=mode)
        return (lambda: f(X)), (lambda: [f(X)])
    updates, moms = [], []
    for p in shared:
        m = pytensor.shared(np.zeros_like(p.get_value()), shape=p.type.shape)
        moms.append(m)
        updates += [(p, p - LR * m), (m, MOMENTUM * m + (1.0 - MOMENTUM) * pytensor.grad(cost, p))]
    f = pytensor.function([x, y], cost, updates=updates, mode=mode)

    def check():
        for p, v in zip(shared, params):
            p.set_value(v)
        for m in moms:
            m.set_value(np.zeros_like(m.get_value()))
        for _ in range(2):
            c = f(X, Y)
        return [c] + [p.get_value() for p in shared]
    return (lambda: f(X, Y)), check


# ---------------------------------------------------------------- JAX

def _jax(sizes, N, dtype, train):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Missing(f"jax ({exc})") from None
    jax.config.update("jax_enable_x64", True)
    params, X, Y = initial(sizes, N, dtype)
    params = [jnp.asarray(p) for p in params]
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def forward(ps, x):
        for W, b in zip(ps[::2], ps[1::2]):
            x = jax.nn.sigmoid(W @ x + b)
        return x

    def cost_fn(ps, x, y):
        return jnp.sum((forward(ps, x) - y) ** 2)

    if not train:
        f = jax.jit(forward)
        return (lambda: f(params, Xj).block_until_ready()), (lambda: [np.asarray(f(params, Xj))])

    @jax.jit
    def step(ps, ms, x, y):
        c, gs = jax.value_and_grad(cost_fn)(ps, x, y)
        new_ps = [p - LR * m for p, m in zip(ps, ms)]
        new_ms = [MOMENTUM * m + (1 - MOMENTUM) * g for m, g in zip(ms, gs)]
        return c, new_ps, new_ms

    state = {"p": params, "m": [jnp.zeros_like(p) for p in params]}

    def run():
        c, state["p"], state["m"] = step(state["p"], state["m"], Xj, Yj)
        c.block_until_ready()

    def check():
        ps, ms = params, [jnp.zeros_like(p) for p in params]
        for _ in range(2):
            c, ps, ms = step(ps, ms, Xj, Yj)
        return [np.asarray(c)] + [np.asarray(p) for p in ps]
    return run, check


# ---------------------------------------------------------------- PyTorch (eager)

def _cuda_ready():
    """Raise Missing unless a CUDA device and nvcc are here (the GPU workloads)."""
    import shutil
    import subprocess
    if shutil.which("nvcc") is None:
        raise Missing("nvcc (the CUDA toolkit)")
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        raise Missing("an NVIDIA GPU (no nvidia-smi)") from None
    if out.returncode != 0 or "GPU" not in out.stdout:
        raise Missing("an NVIDIA GPU")


def codegen_cuda(train, graphs=True):
    """codegen's CUDA module; ``graphs=False``: its steps run as launches, not replayed as
    CUDA graphs (what the graphs save)."""
    def setup(**case):
        _cuda_ready()
        if not graphs:
            os.environ["CODEGEN_CUDA_GRAPHS"] = "0"  # read at the module's first call
        return (codegen_train if train else codegen_infer)(**case, device="cuda")
    return setup


def _torch(sizes, N, dtype, train, device="cpu", compiled=False):
    try:
        import torch
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise Missing("torch with a CUDA device")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    params, X, Y = initial(sizes, N, dtype)
    ps = [torch.tensor(p, requires_grad=train, device=device) for p in params]
    Xt, Yt = torch.from_numpy(X).to(device), torch.from_numpy(Y).to(device)
    done = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward(x):
        for W, b in zip(ps[::2], ps[1::2]):
            x = torch.sigmoid(W @ x + b)
        return x

    if compiled:
        forward = torch.compile(forward)
    if not train:
        def infer():
            with torch.no_grad():
                out = forward(Xt)
            done()
            return out
        return infer, (lambda: [infer().cpu().numpy()])
    moms = [torch.zeros_like(p) for p in ps]

    def update(cost):
        grads = torch.autograd.grad(cost, ps)
        with torch.no_grad():
            for p, m, g in zip(ps, moms, grads):
                p.sub_(LR * m)
                m.mul_(MOMENTUM).add_((1 - MOMENTUM) * g)

    def step():
        cost = ((forward(Xt) - Yt) ** 2).sum()
        update(cost)
        done()
        return cost

    def check():
        with torch.no_grad():
            for p, v in zip(ps, params):
                p.copy_(torch.from_numpy(v))
            for m in moms:
                m.zero_()
        for _ in range(2):
            c = step()
        return [c.detach().cpu().numpy()] + [p.detach().cpu().numpy() for p in ps]
    return step, check


def implementations(train):
    """Implementation name -> setup(sizes, N, dtype) for the train step or the forward pass."""
    return {
        "codegen": codegen_train if train else codegen_infer,
        **({"codegen_function": codegen_function_train} if train else {}),
        "numpy": numpy_train if train else numpy_infer,
        "pytensor": lambda **k: _pytensor(**k, train=train, linker="default"),
        "pytensor_c": lambda **k: _pytensor(**k, train=train, linker="cvm"),
        "jax": lambda **k: _jax(**k, train=train),
        "torch": lambda **k: _torch(**k, train=train),
        # on a GPU (make gpu-check); Missing elsewhere
        "codegen_cuda": codegen_cuda(train),
        "codegen_cuda_launches": codegen_cuda(train, graphs=False),
        "torch_cuda": lambda **k: _torch(**k, train=train, device="cuda"),
        "torch_compile_cuda": lambda **k: _torch(**k, train=train, device="cuda",
                                                 compiled=True),
    }
