"""W9: a Gaussian process's training step: the negative log marginal likelihood of n = 400
points in 3 dimensions under a squared-exponential kernel, K = exp(-|xi - xj|^2 / (2 l^2))
+ 0.1 I, through its Cholesky factor L (0.5 y^T K^-1 y + sum log diag L), its gradient with
respect to log l (through the factor and the triangular solves), and log l -= 0.001 g,
float64. Returns the cost and the new log l."""

import numpy as np
from harness import Missing

NAME = "W9"
CASES = {"n=400": {"n": 400}}
LR, NOISE = 0.001, 0.1


def data(n):
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (n, 3))
    y = np.sin(X).sum(1) + 0.1 * rng.normal(size=n)
    return X, y, np.array(0.0)


def _numpy_step(X, y, log_l):
    """The cost and the new log l, the gradient in closed form: dK/dlog l = E * d2 / l^2
    (E the exponential part), dcost/dK = (K^-1 - alpha alpha^T) / 2."""
    import scipy.linalg
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    ell2 = np.exp(2 * log_l)
    E = np.exp(-d2 / (2 * ell2))
    L = scipy.linalg.cholesky(E + NOISE * np.eye(len(y)), lower=True)
    alpha = scipy.linalg.cho_solve((L, True), y)
    cost = 0.5 * y @ alpha + np.log(np.diag(L)).sum()
    inverse = scipy.linalg.cho_solve((L, True), np.eye(len(y)))
    g = 0.5 * np.sum((inverse - np.outer(alpha, alpha)) * (E * d2 / ell2))
    return float(cost), log_l - LR * g


def reference(n):
    X, y, log_l = data(n)
    return list(_numpy_step(X, y, log_l))


def numpy_impl(n):
    """scipy's LAPACK calls and numpy, the gradient written by hand."""
    X, y, log_l = data(n)
    state = [log_l]

    def run():
        cost, state[0] = _numpy_step(X, y, state[0])
        return cost
    return run, (lambda: list(_numpy_step(X, y, data(n)[2])))


def _step(theano, tensor, cholesky, solve_lower, solve_upper, n):
    """The step in a Theano-style library (codegen, PyTensor): the same program."""
    X0, y0, l0 = data(n)
    X, y = tensor.dmatrix("X"), tensor.dvector("y")
    log_l = theano.shared(l0.copy(), name="log_l")
    d2 = tensor.sum((X.dimshuffle(0, "x", 1) - X.dimshuffle("x", 0, 1)) ** 2, axis=2)
    K = tensor.exp(-d2 / (2 * tensor.exp(2 * log_l))) + NOISE * tensor.eye(X.shape[0])
    L = cholesky(K)
    alpha = solve_upper(L.T, solve_lower(L, y))
    cost = 0.5 * tensor.dot(y, alpha) + tensor.sum(tensor.log(tensor.diagonal(L)))
    step = theano.function([X, y], cost,
                           updates=[(log_l, log_l - LR * theano.grad(cost, log_l))])

    def check():
        log_l.set_value(l0.copy())
        return [float(step(X0, y0)), log_l.get_value()]
    return (lambda: step(X0, y0)), check


def codegen_impl(n):
    import codegen
    import codegen.tensor as T
    from codegen.tensor import slinalg
    return _step(codegen, T, slinalg.cholesky, slinalg.solve_lower_triangular,
                 slinalg.solve_upper_triangular, n)


def pytensor_impl(n):
    try:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.tensor import slinalg
    except ImportError as exc:
        raise Missing(f"pytensor ({exc})") from None
    return _step(pytensor, pt, slinalg.cholesky,
                 lambda a, b: slinalg.solve_triangular(a, b, lower=True),
                 lambda a, b: slinalg.solve_triangular(a, b, lower=False), n)


IMPLEMENTATIONS = {"codegen": codegen_impl, "numpy": numpy_impl, "pytensor": pytensor_impl}
