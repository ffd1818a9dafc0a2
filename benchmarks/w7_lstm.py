"""W7: an LSTM training step: 128 hidden units, sequences of 50, minibatches of 16, float32.

The tutorial's LSTM (``examples/dlt/lstm.py``: gates i, f, o, then the cell's candidate, in
that order in W's and U's columns) over inputs x (T, B, 128), mean pooling over time, a
softmax classifier of 2 classes, the negative log likelihood, one SGD step (lr 0.1) of
W, U, b, the classifier's V and c.

Every implementation starts from the same values and checks its cost and parameters after
two steps against numpy in float64 (2e-3). Peers: numpy (the backward pass written out),
PyTorch eager (the loop in Python, autograd), PyTorch's fused ``nn.LSTM`` (its gates mapped
to the same weights), JAX (``lax.scan`` under ``jit``), PyTensor (``scan``).
"""

import os
import sys

import numpy as np
from harness import Missing, codegen_sgd, cycling, jax_sgd

NAME = "W7"
CASES = {"T=50 B=16 H=128": {"T": 50, "B": 16, "H": 128, "dtype": "float32"}}
LR, CLASSES = 0.1, 2
#: minibatches the timed steps cycle through: on one alone, the network soon fits its 16
#: labels and the gradients decay into subnormal floats, which time differently
BATCHES = 32


def initial(T, B, H, dtype, seed=0):
    rng = np.random.RandomState(seed)
    params = [(rng.randn(H, 4 * H) / np.sqrt(H)).astype(dtype),  # W (input)
              (rng.randn(H, 4 * H) / np.sqrt(H)).astype(dtype),  # U (recurrent)
              np.zeros(4 * H, dtype),  # b
              (rng.randn(H, CLASSES) * 0.1).astype(dtype),  # V (classifier)
              np.zeros(CLASSES, dtype)]  # c
    xs = [rng.randn(T, B, H).astype(dtype) for _ in range(BATCHES)]
    ys = [rng.randint(0, CLASSES, B).astype("int64") for _ in range(BATCHES)]
    return params, xs, ys


# ---------------------------------------------------------------- numpy

def _sig(z):
    return 1 / (1 + np.exp(-z))


def numpy_step(params, x, y):
    """(cost, new params) of one SGD step, the backward pass written out."""
    W, U, b, V, c0 = params
    T, B, H = x.shape
    h, c = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
    xw = (x.reshape(T * B, H) @ W).reshape(T, B, 4 * H) + b
    saved, total = [], np.zeros((B, H), x.dtype)
    for t in range(T):
        pre = xw[t] + h @ U
        i, f, o, g = (_sig(pre[:, :H]), _sig(pre[:, H:2 * H]), _sig(pre[:, 2 * H:3 * H]),
                      np.tanh(pre[:, 3 * H:]))
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        saved.append((h, c, i, f, o, g, tc))
        h, c = o * tc, c_new
        total += h
    proj = total / T
    logits = proj @ V + c0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    cost = -np.log(p[np.arange(B), y]).mean()
    dlog = p.copy()
    dlog[np.arange(B), y] -= 1
    dlog /= B
    dV, dc0 = proj.T @ dlog, dlog.sum(axis=0)
    dh_pool = dlog @ V.T / T
    dpres = np.empty_like(xw)
    dU = np.zeros_like(U)
    dh, dc = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, o, g, tc = saved[t]
        dh = dh + dh_pool
        do = dh * tc
        dc = dc + dh * o * (1 - tc ** 2)
        dpre = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                               do * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
        dpres[t] = dpre
        dU += h_prev.T @ dpre
        dh, dc = dpre @ U.T, dc * f
    flat = dpres.reshape(T * B, 4 * H)
    dW = x.reshape(T * B, H).T @ flat
    db = flat.sum(axis=0)
    grads = [dW, dU, db, dV, dc0]
    return cost, [q - LR * g for q, g in zip(params, grads)]


def reference(T, B, H, dtype):
    params, xs, ys = initial(T, B, H, "float64")
    for k in (0, 1):
        cost, params = numpy_step(params, xs[k], ys[k])
    return [np.asarray(cost)] + params


def numpy_impl(T, B, H, dtype):
    params, xs, ys = initial(T, B, H, dtype)
    state = {"p": params}

    def train_on(x, y):
        cost, state["p"] = numpy_step(state["p"], x, y)
        return cost

    return cycling(train_on, list(zip(xs, ys)), lambda: state.update(p=params),
                   lambda: state["p"])


# ---------------------------------------------------------------- codegen

def codegen_impl(T, B, H, dtype):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import codegen
    import codegen.tensor as tt
    params, xs_, ys_ = initial(T, B, H, dtype)
    W, U, b, V, c = (codegen.shared(p, name=n) for p, n in zip(params, "WUbVc"))
    xs = tt.tensor(dtype, (False, False, False), "x")
    ys = tt.vector("y", dtype="int64")

    def step(x_t, h_, c_):  # the tutorial's way: x's product with W taken before the loop
        pre = x_t + tt.dot(h_, U)
        i = tt.nnet.sigmoid(pre[:, :H])
        f = tt.nnet.sigmoid(pre[:, H:2 * H])
        o = tt.nnet.sigmoid(pre[:, 2 * H:3 * H])
        g = tt.tanh(pre[:, 3 * H:])
        c_new = f * c_ + i * g
        return o * tt.tanh(c_new), c_new

    zeros = tt.alloc(np.asarray(0, dtype), xs.shape[1], H)
    (hs, _), _ = codegen.scan(step, sequences=tt.dot(xs, W) + b, outputs_info=[zeros, zeros])
    proj = hs.mean(axis=0)
    pred = tt.nnet.softmax(tt.dot(proj, V) + c)
    cost = -tt.log(pred[tt.arange(xs.shape[1]), ys]).mean()
    shared = [W, U, b, V, c]
    return codegen_sgd(f"bench_lstm_{T}_{B}_{H}_{dtype}", [xs, ys], cost, shared, LR, xs_, ys_)


# ---------------------------------------------------------------- PyTorch

def _torch(T, B, H, dtype, fused):
    try:
        import torch
    except ImportError as exc:
        raise Missing(f"torch ({exc})") from None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    params, xs, ys = initial(T, B, H, dtype)
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)]
    if fused:  # nn.LSTM: gates i, f, g, o; weights (4H, H) applied as x W^T
        lstm = torch.nn.LSTM(H, H)
        head = [torch.tensor(params[3], requires_grad=True),
                torch.tensor(params[4], requires_grad=True)]

        def load(ps):
            order = np.r_[0:H, H:2 * H, 3 * H:4 * H, 2 * H:3 * H]
            with torch.no_grad():
                lstm.weight_ih_l0.copy_(torch.from_numpy(ps[0][:, order].T.copy()))
                lstm.weight_hh_l0.copy_(torch.from_numpy(ps[1][:, order].T.copy()))
                lstm.bias_ih_l0.copy_(torch.from_numpy(ps[2][order].copy()))
                lstm.bias_hh_l0.zero_()
                head[0].copy_(torch.from_numpy(ps[3]))
                head[1].copy_(torch.from_numpy(ps[4]))
        lstm.bias_hh_l0.requires_grad_(False)  # one bias, as the others have
        weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0] + head

        def loss(xt, yt):
            hs, _ = lstm(xt)
            logits = hs.mean(dim=0) @ head[0] + head[1]
            return torch.nn.functional.cross_entropy(logits, yt)

        def values():
            order = np.argsort(np.r_[0:H, H:2 * H, 3 * H:4 * H, 2 * H:3 * H])
            w = lstm.weight_ih_l0.detach().numpy().T[:, order]
            u = lstm.weight_hh_l0.detach().numpy().T[:, order]
            bb = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()[order]
            return [w, u, bb, head[0].detach().numpy(), head[1].detach().numpy()]
    else:
        weights = [torch.tensor(p, requires_grad=True) for p in params]

        def load(ps):
            with torch.no_grad():
                for w, p in zip(weights, ps):
                    w.copy_(torch.from_numpy(p))

        def loss(xt, yt):
            W, U, b, V, c = weights
            h = c_ = torch.zeros(B, H)
            xw = (xt.reshape(T * B, H) @ W).reshape(T, B, 4 * H) + b
            total = torch.zeros(B, H)
            for t in range(T):
                pre = xw[t] + h @ U
                i, f, o = (torch.sigmoid(pre[:, k * H:(k + 1) * H]) for k in range(3))
                c_ = f * c_ + i * torch.tanh(pre[:, 3 * H:])
                h = o * torch.tanh(c_)
                total = total + h
            return torch.nn.functional.cross_entropy((total / T) @ V + c, yt)

        def values():
            return [w.detach().numpy() for w in weights]
    load(params)

    def train_on(xt, yt):
        cost = loss(xt, yt)
        grads = torch.autograd.grad(cost, weights)
        with torch.no_grad():
            for w, g in zip(weights, grads):
                w.sub_(LR * g)
        return cost.detach()

    return cycling(train_on, batches, lambda: load(params), values)


# ---------------------------------------------------------------- JAX

def _jax(T, B, H, dtype):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Missing(f"jax ({exc})") from None
    params, xs, ys = initial(T, B, H, dtype)

    def loss(ps, xj, yj):
        W, U, b, V, c = ps
        xw = (xj.reshape(T * B, H) @ W).reshape(T, B, 4 * H) + b

        def cell(carry, pre_x):
            h, c_ = carry
            pre = pre_x + h @ U
            i, f, o = (jax.nn.sigmoid(pre[:, k * H:(k + 1) * H]) for k in range(3))
            c_ = f * c_ + i * jnp.tanh(pre[:, 3 * H:])
            h = o * jnp.tanh(c_)
            return (h, c_), h

        zero = jnp.zeros((B, H), xj.dtype)
        _, hs = jax.lax.scan(cell, (zero, zero), xw)
        logits = hs.mean(axis=0) @ V + c
        logp = jax.nn.log_softmax(logits)
        return -logp[jnp.arange(B), yj].mean()

    return jax_sgd(loss, params, xs, ys, LR)


# ---------------------------------------------------------------- PyTensor

def _pytensor(T, B, H, dtype):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    pytensor.config.floatX = dtype
    params, xs_, ys_ = initial(T, B, H, dtype)
    shared = [pytensor.shared(p) for p in params]
    W, U, b, V, c = shared
    xs, ys = pt.tensor3("x", dtype=dtype), pt.vector("y", dtype="int64")

    def cell(pre_x, h, c_):
        pre = pre_x + pt.dot(h, U)
        i, f, o = (pt.sigmoid(pre[:, k * H:(k + 1) * H]) for k in range(3))
        c_ = f * c_ + i * pt.tanh(pre[:, 3 * H:])
        return o * pt.tanh(c_), c_

    xw = pt.dot(xs, W) + b
    zero = pt.zeros((xs.shape[1], H), dtype=dtype)
    (hs, _), _ = pytensor.scan(cell, sequences=xw, outputs_info=[zero, zero])
    pred = pt.special.softmax(pt.dot(hs.mean(axis=0), V) + c, axis=-1)
    cost = -pt.log(pred[pt.arange(xs.shape[1]), ys]).mean()
    grads = pytensor.grad(cost, shared)
    f = pytensor.function([xs, ys], cost,
                          updates=[(p, p - np.asarray(LR, dtype) * g)
                                   for p, g in zip(shared, grads)])

    def reset():
        for p, v in zip(shared, params):
            p.set_value(v)

    return cycling(f, list(zip(xs_, ys_)), reset, lambda: [p.get_value() for p in shared])


IMPLEMENTATIONS = {
    "codegen": codegen_impl,
    "numpy": numpy_impl,
    "torch": lambda **k: _torch(**k, fused=False),
    "torch_lstm": lambda **k: _torch(**k, fused=True),
    "jax": _jax,
    "pytensor": _pytensor,
}
