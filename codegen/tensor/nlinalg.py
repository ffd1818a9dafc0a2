"""``theano.tensor.nlinalg``: linear algebra of matrices. The factorizations and inverses
run in the reference interpreter (numpy's LAPACK; ``codegen.ops.valued``), with gradients
for the inverse and the determinant; the rest is built from products and indexing."""

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
    return NumpyOp("matrix_inverse")(_matrix(x, "matrix_inverse"))


def det(x):
    """The determinant of the square matrix ``x``; gradient g det(x) x^-T."""
    return NumpyOp("det")(_matrix(x, "det"))


def pinv(x):
    """The Moore-Penrose pseudo-inverse (no gradient)."""
    return NumpyOp("pinv")(_matrix(x, "pinv"))


def eigh(a, UPLO="L"):
    """(eigenvalues ascending, eigenvectors as columns) of the symmetric ``a``, from its
    ``UPLO`` triangle (no gradient)."""
    return NumpyOp("eigh", UPLO=UPLO)(_matrix(a, "eigh"))


def svd(a, full_matrices=1, compute_uv=1):
    """(U, s, V^T) of ``a``, or s alone without ``compute_uv`` (no gradient)."""
    return NumpyOp("svd", full_matrices=bool(full_matrices),
                   compute_uv=bool(compute_uv))(_matrix(a, "svd"))


def qr(a, mode="reduced"):
    """(Q, R) of ``a`` (numpy's modes 'reduced' and 'complete'), or R alone with 'r'."""
    return NumpyOp("qr", mode=mode)(_matrix(a, "qr"))


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


__all__ = ["MatrixInverse", "Det", "matrix_inverse", "det", "pinv", "eigh", "svd", "qr",
           "matrix_dot", "matrix_power", "trace", "diag", "extract_diag", "alloc_diag"]
