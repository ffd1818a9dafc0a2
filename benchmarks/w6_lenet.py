"""W6: a LeNet training step (the DeepLearningTutorials' convolutional_mlp.py), float32.

Minibatches of 64 images of 1 x 28 x 28; 20 filters of 5 x 5, max pooling 2 x 2, tanh; 50
filters of 5 x 5, pooling, tanh; a hidden layer of 500 tanh units; a softmax of 10 classes;
the negative log likelihood; one SGD step (lr 0.1) of all eight parameters. Convolutions are
cross-correlations (``filter_flip=False``), as PyTorch's and JAX's are.

Every implementation starts from the same values and checks its cost and parameters after
two steps against numpy in float64 (2e-3). Peers: PyTorch eager, JAX ``jit``, PyTensor.
"""

import os
import sys

import numpy as np
from harness import Missing, codegen_sgd, cycling, jax_sgd
from numpy.lib.stride_tricks import sliding_window_view

NAME = "W6"
CASES = {"B=64": {"B": 64, "dtype": "float32"}}
LR, BATCHES = 0.1, 8
SHAPES = [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,), (500, 10), (10,)]


def initial(B, dtype, seed=0):
    rng = np.random.RandomState(seed)
    params = []
    for shape in SHAPES:
        if len(shape) == 1:
            params.append(np.zeros(shape, dtype))
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            bound = np.sqrt(3.0 / fan_in)
            params.append(rng.uniform(-bound, bound, shape).astype(dtype))
    xs = [rng.rand(B, 1, 28, 28).astype(dtype) for _ in range(BATCHES)]
    ys = [rng.randint(0, 10, B).astype("int64") for _ in range(BATCHES)]
    return params, xs, ys


# ---------------------------------------------------------------- numpy (the reference)

def _corr(x, w):
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))
    return np.einsum("bcijkl,fckl->bfij", win, w, optimize=True)


def _pool(x):
    b, c, h, w = x.shape
    r = x.reshape(b, c, h // 2, 2, w // 2, 2)
    m = r.max(axis=(3, 5))
    return m, (r == m[:, :, :, None, :, None])


def numpy_step(params, x, y):
    W0, b0, W1, b1, Wh, bh, Wo, bo = params
    c0 = _corr(x, W0)
    p0, m0 = _pool(c0)
    a0 = np.tanh(p0 + b0[None, :, None, None])
    c1 = _corr(a0, W1)
    p1, m1 = _pool(c1)
    a1 = np.tanh(p1 + b1[None, :, None, None])
    f = a1.reshape(len(x), -1)
    h = np.tanh(f @ Wh + bh)
    z = h @ Wo + bo
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    B = len(x)
    cost = -np.log(p[np.arange(B), y]).mean()
    dz = p.copy()
    dz[np.arange(B), y] -= 1
    dz /= B
    dWo, dbo = h.T @ dz, dz.sum(axis=0)
    dhp = (dz @ Wo.T) * (1 - h ** 2)
    dWh, dbh = f.T @ dhp, dhp.sum(axis=0)
    da1 = (dhp @ Wh.T).reshape(a1.shape) * (1 - a1 ** 2)
    db1 = da1.sum(axis=(0, 2, 3))
    dc1 = (m1 * da1[:, :, :, None, :, None]).reshape(c1.shape)
    win = sliding_window_view(a0, W1.shape[2:], axis=(2, 3))
    dW1 = np.einsum("bcijkl,bfij->fckl", win, dc1, optimize=True)
    padded = np.pad(dc1, ((0, 0), (0, 0), (4, 4), (4, 4)))
    da0 = _corr(padded, W1[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)) * (1 - a0 ** 2)
    db0 = da0.sum(axis=(0, 2, 3))
    dc0 = (m0 * da0[:, :, :, None, :, None]).reshape(c0.shape)
    win = sliding_window_view(x, W0.shape[2:], axis=(2, 3))
    dW0 = np.einsum("bcijkl,bfij->fckl", win, dc0, optimize=True)
    grads = [dW0, db0, dW1, db1, dWh, dbh, dWo, dbo]
    return cost, [q - LR * g for q, g in zip(params, grads)]


def reference(B, dtype):
    params, xs, ys = initial(B, "float64")
    for k in (0, 1):
        cost, params = numpy_step(params, xs[k], ys[k])
    return [np.asarray(cost)] + params


# ---------------------------------------------------------------- codegen

def codegen_impl(B, dtype):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen
    import codegen.tensor as T
    from codegen.tensor.signal.pool import pool_2d
    params, xs, ys = initial(B, dtype)
    names = ["W0", "b0", "W1", "b1", "Wh", "bh", "Wo", "bo"]
    shared = [codegen.shared(p, name=n) for p, n in zip(params, names)]
    W0, b0, W1, b1, Wh, bh, Wo, bo = shared
    x = T.tensor4("x", dtype=dtype)
    y = T.vector("y", dtype="int64")
    c0 = T.nnet.conv2d(x, W0, input_shape=(B, 1, 28, 28), filter_shape=SHAPES[0],
                       filter_flip=False)
    a0 = T.tanh(pool_2d(c0, ws=(2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x"))
    c1 = T.nnet.conv2d(a0, W1, input_shape=(B, 20, 12, 12), filter_shape=SHAPES[2],
                       filter_flip=False)
    a1 = T.tanh(pool_2d(c1, ws=(2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x"))
    h = T.tanh(T.dot(a1.flatten(2), Wh) + bh)
    p = T.nnet.softmax(T.dot(h, Wo) + bo)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    return codegen_sgd(f"bench_lenet_{B}_{dtype}", [x, y], cost, shared, LR, xs, ys)


# ---------------------------------------------------------------- PyTorch

def torch_impl(B, dtype):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    params, xs, ys = initial(B, dtype)
    weights = [torch.tensor(p, requires_grad=True) for p in params]

    def load():
        with torch.no_grad():
            for w, p in zip(weights, params):
                w.copy_(torch.from_numpy(p))

    def train_on(x, y):
        W0, b0, W1, b1, Wh, bh, Wo, bo = weights
        a0 = torch.tanh(F.max_pool2d(F.conv2d(x, W0), 2) + b0[None, :, None, None])
        a1 = torch.tanh(F.max_pool2d(F.conv2d(a0, W1), 2) + b1[None, :, None, None])
        h = torch.tanh(a1.flatten(1) @ Wh + bh)
        cost = F.cross_entropy(h @ Wo + bo, y)
        grads = torch.autograd.grad(cost, weights)
        with torch.no_grad():
            for w, g in zip(weights, grads):
                w.sub_(LR * g)
        return cost.detach()

    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)]
    return cycling(train_on, batches, load, lambda: [w.detach() for w in weights])


# ---------------------------------------------------------------- JAX

def jax_impl(B, dtype):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Missing(f"jax ({exc})") from None
    params, xs, ys = initial(B, dtype)

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID")

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                     "VALID")

    def loss(ps, x, y):
        W0, b0, W1, b1, Wh, bh, Wo, bo = ps
        a0 = jnp.tanh(pool(conv(x, W0)) + b0[None, :, None, None])
        a1 = jnp.tanh(pool(conv(a0, W1)) + b1[None, :, None, None])
        h = jnp.tanh(a1.reshape(x.shape[0], -1) @ Wh + bh)
        logp = jax.nn.log_softmax(h @ Wo + bo)
        return -logp[jnp.arange(x.shape[0]), y].mean()

    return jax_sgd(loss, params, xs, ys, LR)


# ---------------------------------------------------------------- PyTensor

def pytensor_impl(B, dtype):
    try:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.tensor.conv import conv2d
        from pytensor.tensor.signal.pool import pool_2d
    except ImportError as exc:
        raise Missing(f"pytensor's conv2d and pool_2d ({exc})") from None
    pytensor.config.floatX = dtype
    params, xs, ys = initial(B, dtype)
    shared = [pytensor.shared(p) for p in params]
    W0, b0, W1, b1, Wh, bh, Wo, bo = shared
    x, y = pt.tensor4("x", dtype=dtype), pt.vector("y", dtype="int64")
    a0 = pt.tanh(pool_2d(conv2d(x, W0, filter_flip=False), ws=(2, 2), ignore_border=True)
                 + b0.dimshuffle("x", 0, "x", "x"))
    a1 = pt.tanh(pool_2d(conv2d(a0, W1, filter_flip=False), ws=(2, 2), ignore_border=True)
                 + b1.dimshuffle("x", 0, "x", "x"))
    h = pt.tanh(pt.dot(a1.flatten(2), Wh) + bh)
    p = pt.special.softmax(pt.dot(h, Wo) + bo, axis=-1)
    cost = -pt.mean(pt.log(p)[pt.arange(y.shape[0]), y])
    f = pytensor.function([x, y], cost, updates=[
        (q, q - np.asarray(LR, dtype) * g) for q, g in zip(shared, pytensor.grad(cost, shared))])

    def reset():
        for q, v in zip(shared, params):
            q.set_value(v)

    return cycling(f, list(zip(xs, ys)), reset, lambda: [q.get_value() for q in shared])


IMPLEMENTATIONS = {"codegen": codegen_impl, "torch": torch_impl, "jax": jax_impl,
                   "pytensor": pytensor_impl}
