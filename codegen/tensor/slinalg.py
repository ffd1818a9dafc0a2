"""``theano.tensor.slinalg``: Cholesky factors, linear solves and the matrix exponential,
run in the reference interpreter (``codegen.ops.valued``), with gradients for the factor
and the solves."""

from codegen.ops.valued import NumpyOp
from codegen.tensor.nlinalg import _matrix


class Cholesky:
    """``Cholesky(lower=True)(x)``: the triangular factor of the symmetric positive definite
    ``x`` (read from its lower triangle)."""

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def __call__(self, x):
        return NumpyOp("cholesky", lower=self.lower)(_matrix(x, "cholesky"))


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
        return NumpyOp("solve", structure=self.structure)(_matrix(a, "solve"), b)


solve = Solve()
solve_lower_triangular = Solve("lower_triangular")
solve_upper_triangular = Solve("upper_triangular")


def expm(A):
    """The matrix exponential (no gradient)."""
    return NumpyOp("expm")(_matrix(A, "expm"))


__all__ = ["Cholesky", "cholesky", "Solve", "solve", "solve_lower_triangular",
           "solve_upper_triangular", "expm"]
