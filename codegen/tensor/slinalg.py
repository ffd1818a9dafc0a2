"""``theano.tensor.slinalg``: Cholesky factors and linear solves, compiled with their
gradients (``codegen.ops.linalg``), and the generalized symmetric eigenvalues and the matrix
exponential built from them, compiled with gradients too."""

import numpy as np

from codegen.ops.linalg import Linalg
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


#: Higham's degree-13 Pade approximant of exp (The scaling and squaring method for the
#: matrix exponential revisited, 2005): its coefficients b0..b13, and the largest 1-norm for
#: which it is accurate to double precision's unit roundoff.
PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
          129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
          40840800.0, 960960.0, 16380.0, 182.0, 1.0)
THETA13 = 5.371920351148152

#: How many times a scaled matrix can be squared: a 1-norm up to THETA13 * 2**64 (about
#: 1e20) is scaled down; beyond it the call stops (exp of such a matrix overflows but for
#: few matrices, as rotations of such angles).
MAX_SQUARINGS = 64


def expm(A):
    """The matrix exponential by scaling and squaring (Higham 2005): A scaled by 2^-s into
    the 1-norm where the degree-13 Pade approximant is accurate, the approximant (products
    and one solve), squared s times (a loop of MAX_SQUARINGS steps, those past s skipped).
    Compiled, with a gradient (the approximant's, through the products, solve and squarings:
    exact to rounding for every matrix, where Theano's assumed a diagonalizable one)."""
    from codegen.ifelse import ifelse
    from codegen.ops.assert_op import Assert
    from codegen.scan_module import scan
    from codegen.tensor import basic as t
    a = _matrix(A, "expm")
    if a.dtype[0] != "f":
        a = t.cast(a, "float64")
    norm = t.max(t.sum(abs(a), axis=0))
    s = t.maximum(0, t.ceil(t.log2(norm / THETA13)))
    s = Assert(f"expm: the matrix's 1-norm is beyond {THETA13 * 2.0 ** MAX_SQUARINGS:.3g}, "
               f"more than {MAX_SQUARINGS} squarings scale down", "ValueError")(
        s, t.le(s, MAX_SQUARINGS))
    x = a * t.cast(2.0 ** -s, a.dtype)
    b = [t.constant(c, dtype=a.dtype) for c in PADE13]
    eye = t.eye(t.shape_of(a, 0), dtype=a.dtype)
    x2 = t.dot(x, x)
    x4 = t.dot(x2, x2)
    x6 = t.dot(x4, x2)
    u = t.dot(x, t.dot(x6, b[13] * x6 + b[11] * x4 + b[9] * x2)
              + b[7] * x6 + b[5] * x4 + b[3] * x2 + b[1] * eye)
    v = (t.dot(x6, b[12] * x6 + b[10] * x4 + b[8] * x2)
         + b[6] * x6 + b[4] * x4 + b[2] * x2 + b[0] * eye)
    r = solve(v - u, v + u)
    steps = t.arange(MAX_SQUARINGS)
    squared, _ = scan(lambda k, y, count: ifelse(t.lt(k, count), t.dot(y, y), y),
                      sequences=[steps], outputs_info=[r], non_sequences=[s], name="expm")
    return squared[-1]


__all__ = ["Cholesky", "cholesky", "Solve", "solve", "solve_lower_triangular",
           "solve_upper_triangular", "solve_symmetric", "Eigvalsh", "eigvalsh", "kron", "expm"]
