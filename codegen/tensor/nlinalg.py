"""``theano.tensor.nlinalg``: linear algebra of matrices. The inverse, the determinant and
the symmetric eigenproblem are compiled (``codegen.ops.linalg``), with their gradients, and
so is QR, without; eig, QR's mode 'raw' and lstsq run in the reference interpreter (numpy's
LAPACK; ``codegen.ops.valued``); the rest (tensorinv and tensorsolve among them) is built
from those, products, reshapes and indexing."""

import math

import numpy as np

from codegen.ops.linalg import Linalg
from codegen.ops.valued import NumpyOp
from codegen.tensor import basic as t
from codegen.tensor.basic import as_tensor_variable, diag, diagonal, trace


def _matrix(x, name):
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{name}: expected a matrix, got {x.type} ({x.label()})")
    return x


class MatrixInverse:
    """``MatrixInverse()(x)``, Theano's spelling of ``matrix_inverse``."""

    def __call__(self, x):
        return matrix_inverse(x)


class Det:
    def __call__(self, x):
        return det(x)


def matrix_inverse(x):
    """The inverse of the square matrix ``x``; gradient -X^T g X^T."""
    return Linalg("matrix_inverse")(_matrix(x, "matrix_inverse"))


def det(x):
    """The determinant of the square matrix ``x``; gradient g det(x) x^-T."""
    return Linalg("det")(_matrix(x, "det"))


def pinv(x):
    """The Moore-Penrose pseudo-inverse, as numpy (and Theano's ``MatrixPinv``) computes it:
    V diag(1 / s) U^T from the reduced svd, the singular values at or below 1e-15 times the
    largest left out. Compiled (through ``svd``); no gradient."""
    u, s, vt = svd(_matrix(x, "pinv"), full_matrices=0)
    _, inverse = inverted_singular_values(s, 1e-15)
    return t.dot(vt.T * inverse, u.T)


def inverted_singular_values(s, ratio):
    """(Which singular values ``s`` are kept: those above ``ratio`` times the largest; their
    reciprocals, 0 for those left out): the cut of pinv and lstsq."""
    largest = t.max(t.concatenate([s, t.zeros((1,), dtype=s.dtype)]))  # (0 for an empty s)
    kept = t.gt(s, ratio * largest)
    return kept, t.switch(kept, 1 / t.switch(kept, s, t.ones_like(s)), t.zeros_like(s))


class Eigh:
    """``Eigh(UPLO='L')(a)``, Theano's spelling of ``eigh``."""

    def __init__(self, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise ValueError(f"Eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    def __call__(self, a):
        return Linalg("eigh", lower=self.UPLO == "L")(_matrix(a, "eigh"))


def eigh(a, UPLO="L"):
    """(eigenvalues ascending, eigenvectors as columns) of the symmetric ``a``, from its
    ``UPLO`` triangle; the gradient is Theano's (infinite where two eigenvalues are equal
    and the eigenvectors' gradient is not zero). An eigenvector's sign is the algorithm's:
    LAPACK's (numpy's) on the CPU, the Jacobi rotations' in the C library and on the GPU."""
    return Eigh(UPLO)(a)


class SVD:
    """``SVD(full_matrices=True, compute_uv=True)(a)``, Theano's spelling of ``svd``."""

    def __init__(self, full_matrices=True, compute_uv=True):
        self.full_matrices, self.compute_uv = bool(full_matrices), bool(compute_uv)

    def __call__(self, a):
        return svd(a, self.full_matrices, self.compute_uv)


def svd(a, full_matrices=1, compute_uv=1):
    """(U, s, V^T) of ``a``, the singular values descending, or s alone without
    ``compute_uv``, compiled: LAPACK's gesdd on the CPU (numpy's), one-sided Jacobi rotations
    elsewhere, whose singular vectors may differ from LAPACK's in sign. No gradient."""
    mode = "values" if not compute_uv else "full" if full_matrices else "reduced"
    return Linalg("svd", mode=mode)(_matrix(a, "svd"))


class QRFull:
    """``QRFull(mode)(a)``, Theano's spelling of ``qr``."""

    def __init__(self, mode="reduced"):
        self.mode = mode

    def __call__(self, a):
        return qr(a, self.mode)


def qr(a, mode="reduced"):
    """(Q, R) of ``a`` (numpy's modes 'reduced' and 'complete'), or R alone with 'r',
    compiled (Householder reflectors: R's diagonal has LAPACK's signs); numpy's 'raw' (the
    reflectors and their factors) runs in the reference interpreter. No gradient."""
    if mode == "raw":
        return NumpyOp("qr", mode=mode)(_matrix(a, "qr"))
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete', 'r' or 'raw', got {mode!r}")
    return Linalg("qr", mode=mode)(_matrix(a, "qr"))


def eig(a):
    """(eigenvalues, eigenvectors as columns) of the square ``a``; real ones only: a matrix
    whose eigenvalues are complex is an error (Theano's Eig kept their real parts). No
    gradient."""
    return NumpyOp("eig")(_matrix(a, "eig"))


class Lstsq:
    """``Lstsq()(a, b, rcond)``: numpy's least-squares solution of a x = b, as (x, residuals,
    rank, singular values of a); compiled from the svd (``valued._expand_lstsq``). No
    gradient."""

    def __call__(self, a, b, rcond=None):
        from codegen.tensor.basic import as_tensor_variable
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise TypeError(f"lstsq: b must be a vector or a matrix, got {b.type}")
        rcond = as_tensor_variable(-1.0 if rcond is None else rcond)
        if rcond.ndim != 0:
            raise TypeError(f"lstsq: rcond must be a scalar, got {rcond.type}")
        return NumpyOp("lstsq")(_matrix(a, "lstsq"), b, rcond)


lstsq = Lstsq()


def tensorinv(a, ind=2):
    """numpy's ``tensorinv``: the inverse of ``a`` as an operator from its first ``ind`` axes
    to the others (shape ``a.shape[ind:] + a.shape[:ind]``): a reshape to a square matrix,
    its inverse, and a reshape back, so compiled, with a gradient."""
    a = as_tensor_variable(a)
    if not 0 < int(ind) < a.ndim:
        raise ValueError(f"tensorinv: ind must be between 1 and a.ndim - 1 ({a.ndim - 1}), "
                         f"got {ind}")
    ind = int(ind)
    shape = [t.shape_of(a, k) for k in range(a.ndim)]
    square = t.reshape(a, [math.prod(shape[ind:]), math.prod(shape[:ind])])
    return t.reshape(matrix_inverse(square), shape[ind:] + shape[:ind])


def tensorsolve(a, b, axes=None):
    """numpy's ``tensorsolve``: x with ``tensordot(a, x, x.ndim) = b`` (``axes``: the axes of
    ``a`` moved to its end first): a reshape of ``a`` to a square matrix and a solve, so
    compiled, with a gradient."""
    from codegen.tensor.slinalg import solve
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim <= b.ndim:
        raise ValueError(f"tensorsolve: a must have more axes than b, got {a.type} and "
                         f"{b.type}")
    if axes is not None:
        order = [k for k in range(a.ndim) if k not in [x % a.ndim for x in axes]]
        a = a.dimshuffle(*order, *[x % a.ndim for x in axes])
    dtype = str(np.result_type(a.dtype, b.dtype))
    a, b = t.cast(a, dtype), t.cast(b, dtype)
    shape = [t.shape_of(a, k) for k in range(a.ndim)]
    square = t.reshape(a, [math.prod(shape[:b.ndim]), math.prod(shape[b.ndim:])])
    return t.reshape(solve(square, t.flatten(b)), shape[b.ndim:])


def norm(x, ord=None):
    """Theano's ``norm(x, ord)`` of a vector (None: 2-norm, 'inf' / inf, '-inf' / -inf, 0:
    the nonzero count, p: (sum |x|^p)^(1/p)) or a matrix (None or 'fro': Frobenius, 'inf'
    and '-inf': the largest and smallest row sums of |x|, 1 and -1: of column sums)."""
    x = as_tensor_variable(x)
    inf = ord in ("inf", np.inf)
    neg_inf = ord in ("-inf", -np.inf)
    if x.ndim == 1:
        if ord is None:
            return t.sqrt(t.sum(x * x))
        if inf or neg_inf:
            return (t.max if inf else t.min)(abs(x))
        if ord == 0:
            return t.sum(t.neq(x, 0))
        if not isinstance(ord, (int, float)):
            raise ValueError(f"norm: invalid order for a vector: {ord!r}")
        return t.sum(abs(x) ** ord) ** (1.0 / ord)
    if x.ndim == 2:
        if ord is None or ord == "fro":
            return t.sqrt(t.sum(x * x))
        if inf or neg_inf:
            return (t.max if inf else t.min)(t.sum(abs(x), axis=1))
        if ord in (1, -1):
            return (t.max if ord == 1 else t.min)(t.sum(abs(x), axis=0))
        raise ValueError(f"norm: invalid order for a matrix: {ord!r} (None, 'fro', 'inf', "
                         f"'-inf', 1 or -1)")
    raise NotImplementedError(f"norm: a vector or a matrix, got {x.type} (as Theano's)")


def matrix_dot(*args):
    """The product of the matrices in order."""
    out = args[0]
    for a in args[1:]:
        out = t.dot(out, a)
    return out


def matrix_power(M, n):
    """``M`` to the int power ``n`` >= 0, by squaring."""
    if n < 0:
        raise ValueError(f"matrix_power: n must be at least 0, got {n}")
    M = _matrix(M, "matrix_power")
    result, base = t.eye(t.shape_of(M, 0), dtype=M.dtype), M
    while n:
        if n & 1:
            result = t.dot(result, base)
        base, n = t.dot(base, base), n >> 1
    return result


def extract_diag(x):
    return diagonal(x)


def alloc_diag(x):
    return diag(x)


__all__ = ["MatrixInverse", "Det", "matrix_inverse", "det", "pinv", "Eigh", "eigh", "eig",
           "SVD", "svd", "QRFull", "qr", "Lstsq", "lstsq", "tensorinv", "tensorsolve", "norm",
           "matrix_dot", "matrix_power", "trace", "diag", "extract_diag", "alloc_diag"]
