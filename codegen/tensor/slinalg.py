"""``theano.tensor.slinalg``: Cholesky factors and linear solves, compiled with their
gradients (``codegen.ops.linalg``), and the generalized symmetric eigenvalues built from them;
the matrix exponential in the reference interpreter (``codegen.ops.valued``)."""

import numpy as np

from codegen.ops.linalg import Linalg
from codegen.ops.valued import NumpyOp
from codegen.tensor.nlinalg import _matrix


class Cholesky:
    """``Cholesky(lower=True)(x)``: the triangular factor of the symmetric positive definite
    ``x``: L with x = L L^T read from its lower triangle, or (``lower`` False) U with
    x = U^T U read from its upper one, as scipy's."""

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def __call__(self, x):
        return Linalg("cholesky", lower=self.lower)(_matrix(x, "cholesky"))


cholesky = Cholesky()


class Solve:
    """``Solve(A_structure)(a, b)``: x with a x = b; ``A_structure`` 'general',
    'lower_triangular' or 'upper_triangular' (only that triangle of a is read)."""

    def __init__(self, A_structure="general", lower=False):
        structures = {"general": "general", "lower_triangular": "lower",
                      "upper_triangular": "upper", "symmetric": "general"}
        if A_structure not in structures:
            raise ValueError(f"Solve: A_structure must be one of {', '.join(structures)}, "
                             f"got {A_structure!r}")
        self.structure = structures[A_structure]

    def __call__(self, a, b):
        from codegen.tensor.basic import as_tensor_variable
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise TypeError(f"solve: b must be a vector or a matrix, got {b.type}")
        return Linalg("solve", structure=self.structure)(_matrix(a, "solve"), b)


solve = Solve()
solve_lower_triangular = Solve("lower_triangular")
solve_upper_triangular = Solve("upper_triangular")


solve_symmetric = Solve("symmetric")


class Eigvalsh:
    """``Eigvalsh(lower=True)(a, b)``: the eigenvalues, ascending, of the symmetric ``a``
    (of a w = lambda b w with ``b`` symmetric positive definite; ``b`` None: the standard
    problem), read from one triangle of each (scipy's eigvalsh). Compiled, with a gradient:
    the generalized problem as LAPACK's sygvd reduces it, to the standard one of
    L^-1 a L^-T with b = L L^T (Cholesky; a b that is not positive definite is numpy's
    LinAlgError)."""

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def __call__(self, a, b=None):
        from codegen.tensor import basic as t
        a = _matrix(a, "eigvalsh")
        if b is None:
            return Linalg("eigvalsh", lower=self.lower)(a)
        b = _matrix(b, "eigvalsh")
        dtype = str(np.result_type(a.dtype, b.dtype))
        a, b = t.cast(a, dtype), t.cast(b, dtype)
        # the triangle read, as the lower one
        half, low = (a, b) if self.lower else (a.T, b.T)
        low = Linalg("cholesky", lower=True)(low)
        full = t.tril(half) + t.tril(half, -1).T
        left = solve_lower_triangular(low, full)  # L^-1 a
        return Linalg("eigvalsh", lower=True)(solve_lower_triangular(low, left.T))


def eigvalsh(a, b=None, lower=True):
    return Eigvalsh(lower)(a, b)


def kron(a, b):
    """The Kronecker product, as Theano's ``kron``: numpy's for two matrices; the
    dimensions of ``a`` and ``b`` must sum to 3 or more."""
    from codegen.tensor import basic as t
    a, b = t.as_tensor_variable(a), t.as_tensor_variable(b)
    if a.ndim + b.ndim <= 2:
        raise TypeError(f"kron: the inputs' dimensions must sum to 3 or more, got {a.ndim} "
                        f"and {b.ndim}")
    o = t.outer(a, b)
    o = t.reshape(o, [t.shape_of(a, k) for k in range(a.ndim)]
                  + [t.shape_of(b, k) for k in range(b.ndim)])
    if o.ndim == 3:
        return t.flatten(o.dimshuffle(1, 0, 2))
    shuffled = o.dimshuffle(0, 2, 1, *range(3, o.ndim))
    return t.reshape(shuffled, [t.shape_of(o, 0) * t.shape_of(o, 2),
                                t.shape_of(o, 1) * t.shape_of(o, 3)]
                     + [t.shape_of(o, k) for k in range(4, o.ndim)])


def expm(A):
    """The matrix exponential (no gradient)."""
    return NumpyOp("expm")(_matrix(A, "expm"))


__all__ = ["Cholesky", "cholesky", "Solve", "solve", "solve_lower_triangular",
           "solve_upper_triangular", "solve_symmetric", "Eigvalsh", "eigvalsh", "kron", "expm"]
