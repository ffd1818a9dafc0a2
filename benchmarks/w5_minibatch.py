"""W5: minibatch training as the tutorials do it: the DeepLearningTutorials MLP (mlp.py).

784 inputs, 500 tanh units, a softmax of 10 classes, the negative log likelihood plus L2 (1e-4)
of both weight matrices, SGD with lr 0.01; minibatches of 20 taken from a shared dataset of
50,000 examples by index (Theano's ``givens``), in order: one epoch is 2,500 steps. A step is
one minibatch; the table's time is per step (an epoch is 2,500 of them).

Every implementation holds the same dataset and initial values, takes the same minibatches
in the same order, and checks its cost and parameters after two steps against numpy in
float64. Peers: numpy, PyTorch eager, ``torch.compile``, JAX ``jit``, PyTensor.
"""

import os
import sys

import numpy as np
from harness import Missing, cycling

NAME = "W5"
CASES = {dtype: {"dtype": dtype} for dtype in ("float32", "float64")}
N_IN, N_HIDDEN, N_OUT, BATCH, EXAMPLES = 784, 500, 10, 20, 50_000
LR, L2 = 0.01, 1e-4
STEPS = EXAMPLES // BATCH


def initial(dtype, seed=1234):
    """The tutorial's initial values (uniform +-sqrt(6 / (fan_in + fan_out)), zero biases,
    a zero softmax layer) and a dataset of MNIST's size."""
    rng = np.random.RandomState(seed)
    bound = np.sqrt(6.0 / (N_IN + N_HIDDEN))
    params = [rng.uniform(-bound, bound, (N_IN, N_HIDDEN)).astype(dtype),
              np.zeros(N_HIDDEN, dtype), np.zeros((N_HIDDEN, N_OUT), dtype),
              np.zeros(N_OUT, dtype)]
    data = np.random.RandomState(seed + 1)
    X = data.rand(EXAMPLES, N_IN).astype(dtype)
    y = data.randint(0, N_OUT, EXAMPLES).astype("int32")
    return params, X, y


def batches():
    return [(k,) for k in range(STEPS)]


# ---------------------------------------------------------------- numpy (the reference)

def numpy_step(params, X, y, index):
    W, b, V, c = params
    x, t = X[index * BATCH:(index + 1) * BATCH], y[index * BATCH:(index + 1) * BATCH]
    h = np.tanh(x @ W + b)
    z = h @ V + c
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(t))
    cost = -np.mean(np.log(p[rows, t])) + L2 * ((W ** 2).sum() + (V ** 2).sum())
    dz = p.copy()
    dz[rows, t] -= 1
    dz /= len(t)
    dV, dc = h.T @ dz + 2 * L2 * V, dz.sum(axis=0)
    dh = (dz @ V.T) * (1 - h ** 2)
    dW, db = x.T @ dh + 2 * L2 * W, dh.sum(axis=0)
    return cost, [q - LR * g for q, g in zip(params, [dW, db, dV, dc])]


def reference(dtype):
    params, X, y = initial("float64")
    for k in (0, 1):
        cost, params = numpy_step(params, X, y, k)
    return [np.asarray(cost)] + params


def numpy_impl(dtype):
    params, X, y = initial(dtype)
    state = {"p": list(params)}

    def train_on(index):
        cost, state["p"] = numpy_step(state["p"], X, y, index)
        return cost

    return cycling(train_on, batches(), lambda: state.update(p=list(params)),
                   lambda: state["p"])


# ---------------------------------------------------------------- codegen (the tutorial's code)

def codegen_impl(dtype):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen as theano
    import codegen.tensor as T
    from codegen.compile.module import load_module
    params, X, y = initial(dtype)
    W, b, V, c = (theano.shared(p, name=n) for p, n in zip(params, "WbVc"))
    train_x, train_y = theano.shared(X, name="train_x"), theano.shared(y, name="train_y")
    index, x, t = T.lscalar("index"), T.matrix("x", dtype=dtype), T.ivector("y")
    h = T.tanh(T.dot(x, W) + b)
    p_y = T.nnet.softmax(T.dot(h, V) + c)
    cost = -T.mean(T.log(p_y)[T.arange(t.shape[0]), t]) + L2 * ((W ** 2).sum() + (V ** 2).sum())
    shared = [W, b, V, c]
    lr = np.asarray(LR, dtype)
    module = theano.Module(f"bench_w5_{dtype}")
    module.add_function("train", [index], cost,
                        updates=[(q, q - lr * g) for q, g in zip(shared, T.grad(cost, shared))],
                        givens={x: train_x[index * BATCH:(index + 1) * BATCH],
                                t: train_y[index * BATCH:(index + 1) * BATCH]})
    out = os.path.join(os.environ.get("CODEGEN_CACHE_DIR", "/tmp"), "bench-modules",
                       f"w5_{dtype}")
    mod = load_module(module.build(out))
    start = {k: mod.get_value(k) for k in "WbVc"}

    def reset():
        for key, value in start.items():
            mod.set_value(key, value)

    return cycling(mod.train, batches(), reset, lambda: [mod.get_value(k) for k in "WbVc"])


# ---------------------------------------------------------------- PyTorch

def _torch_step(torch, dtype):
    import torch.nn.functional as F
    params, X, y = initial(dtype)
    weights = [torch.tensor(p, requires_grad=True) for p in params]
    data_x, data_y = torch.from_numpy(X), torch.from_numpy(y.astype("int64"))

    def step(index):
        W, b, V, c = weights
        x = data_x[index * BATCH:(index + 1) * BATCH]
        t = data_y[index * BATCH:(index + 1) * BATCH]
        h = torch.tanh(x @ W + b)
        cost = F.cross_entropy(h @ V + c, t) + L2 * ((W ** 2).sum() + (V ** 2).sum())
        grads = torch.autograd.grad(cost, weights)
        with torch.no_grad():
            for w, g in zip(weights, grads):
                w.sub_(LR * g)
        return cost.detach()

    def load():
        with torch.no_grad():
            for w, p in zip(weights, params):
                w.copy_(torch.from_numpy(p))

    return step, load, weights


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    return torch


def torch_impl(dtype):
    step, load, weights = _torch_step(_torch(), dtype)
    return cycling(step, batches(), load, lambda: [w.detach() for w in weights])


def torch_compile_impl(dtype):
    torch = _torch()
    step, load, weights = _torch_step(torch, dtype)
    compiled = torch.compile(step, dynamic=False)
    return cycling(lambda k: compiled(torch.tensor(k)), batches(), load,
                   lambda: [w.detach() for w in weights])


# ---------------------------------------------------------------- JAX

def jax_impl(dtype):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Missing(f"jax ({exc})") from None
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    params, X, y = initial(dtype)
    data_x, data_y = jnp.asarray(X), jnp.asarray(y)

    def loss(ps, index):
        W, b, V, c = ps
        x = jax.lax.dynamic_slice_in_dim(data_x, index * BATCH, BATCH)
        t = jax.lax.dynamic_slice_in_dim(data_y, index * BATCH, BATCH)
        h = jnp.tanh(x @ W + b)
        logp = jax.nn.log_softmax(h @ V + c)
        return -logp[jnp.arange(BATCH), t].mean() + L2 * ((W ** 2).sum() + (V ** 2).sum())

    @jax.jit
    def update(ps, index):
        cost, gs = jax.value_and_grad(loss)(ps, index)
        return cost, [q - LR * g for q, g in zip(ps, gs)]

    state = {"p": [jnp.asarray(p) for p in params]}

    def train_on(index):
        cost, state["p"] = update(state["p"], index)
        return cost.block_until_ready()

    return cycling(train_on, batches(), lambda: state.update(p=[jnp.asarray(p) for p in params]),
                   lambda: state["p"])


# ---------------------------------------------------------------- PyTensor (the same code)

def pytensor_impl(dtype):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    pytensor.config.floatX = dtype
    params, X, y = initial(dtype)
    shared = [pytensor.shared(p) for p in params]
    W, b, V, c = shared
    train_x, train_y = pytensor.shared(X), pytensor.shared(y)
    index, x, t = pt.lscalar("index"), pt.matrix("x", dtype=dtype), pt.ivector("y")
    h = pt.tanh(pt.dot(x, W) + b)
    p_y = pt.special.softmax(pt.dot(h, V) + c, axis=-1)
    cost = -pt.mean(pt.log(p_y)[pt.arange(t.shape[0]), t]) \
        + L2 * ((W ** 2).sum() + (V ** 2).sum())
    lr = np.asarray(LR, dtype)
    f = pytensor.function([index], cost, updates=[
        (q, q - lr * g) for q, g in zip(shared, pytensor.grad(cost, shared))],
        givens={x: train_x[index * BATCH:(index + 1) * BATCH],
                t: train_y[index * BATCH:(index + 1) * BATCH]})

    def reset():
        for q, v in zip(shared, params):
            q.set_value(v)

    return cycling(f, batches(), reset, lambda: [q.get_value() for q in shared])


IMPLEMENTATIONS = {"codegen": codegen_impl, "numpy": numpy_impl, "torch": torch_impl,
                   "torch_compile": torch_compile_impl, "jax": jax_impl,
                   "pytensor": pytensor_impl}
