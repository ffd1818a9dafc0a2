"""W8: a sparse layer's training step: a CSR minibatch X (256 documents over a vocabulary of
20,000, 100 words each), h = tanh(X . W + b), cost = sum(h**2), the gradients of W (20,000 x
128) and b, and W -= 0.01 gW, b -= 0.01 gb, float64. Returns the cost and the new W's first
rows (the whole of W is checked once)."""

import numpy as np
from harness import Missing

NAME = "W8"
CASES = {"B=256": {"B": 256, "V": 20000, "H": 128, "density": 0.005}}
LR = 0.01


def data(B, V, H, density):
    import scipy.sparse as sp
    rng = np.random.RandomState(0)
    X = sp.random(B, V, density, format="csr", random_state=rng)
    return X, rng.uniform(-0.01, 0.01, (V, H)), np.zeros(H)


def _numpy_step(X, W, b):
    h = np.tanh(X @ W + b)
    d = 2 * h * (1 - h * h)
    return float(np.sum(h * h)), W - LR * (X.T @ d), b - LR * d.sum(0)


def reference(B, V, H, density):
    X, W, b = data(B, V, H, density)
    cost, W, b = _numpy_step(X, W, b)
    return [cost, W, b]


def numpy_impl(B, V, H, density):
    """scipy's CSR products and numpy."""
    X, W, b = data(B, V, H, density)
    state = [W, b]

    def run():
        cost, state[0], state[1] = _numpy_step(X, *state)
        return cost
    X0, W0, b0 = data(B, V, H, density)
    return run, (lambda: list(_numpy_step(X0, W0, b0)))


def _step(theano, tensor, sparse, B, V, H, density):
    """The step in a Theano-style library (codegen, PyTensor): the same program."""
    X, W0, b0 = data(B, V, H, density)
    x = sparse.csr_matrix("x", dtype="float64")
    W = theano.shared(W0.copy(), name="W")
    b = theano.shared(b0.copy(), name="b")
    h = tensor.tanh(sparse.structured_dot(x, W) + b)
    cost = tensor.sum(h ** 2)
    gW, gb = theano.grad(cost, [W, b])
    step = theano.function([x], cost, updates=[(W, W - LR * gW), (b, b - LR * gb)])

    def check():
        W.set_value(W0.copy())
        b.set_value(b0.copy())
        return [float(step(X)), W.get_value(), b.get_value()]
    return (lambda: step(X)), check


def codegen_impl(B, V, H, density):
    import codegen
    import codegen.tensor as T
    from codegen import sparse
    return _step(codegen, T, sparse, B, V, H, density)


def pytensor_impl(B, V, H, density):
    try:
        import pytensor
        import pytensor.sparse as ps
        import pytensor.tensor as pt
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    return _step(pytensor, pt, ps, B, V, H, density)


IMPLEMENTATIONS = {"codegen": codegen_impl, "numpy": numpy_impl, "pytensor": pytensor_impl}
