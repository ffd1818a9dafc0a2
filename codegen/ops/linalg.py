"""The linear algebra of matrices that compiled code runs: the Cholesky factor, the solve
of a x = b (a general, lower or upper triangular), the inverse, the determinant, the
eigenvalues (and eigenvectors) of a symmetric matrix, with their gradients, and the QR
factors of any matrix. Each compiled backend runs them as one step (``LinalgStep``): the C
of ``codegen.backends.linalg``, through scipy's LAPACK on the CPU where it is found (the
factor and the solves from order 96 on, the others at every order), else as plain loops
(Gaussian elimination with partial pivoting as LAPACK's getrf does it, the Cholesky-Crout
order, cyclic Jacobi rotations, Householder reflectors), on one thread on the CPU, on one
block's threads on the GPU.

A matrix that is singular (a zero pivot) or, for the factor, not positive definite stops
the call with numpy's ``LinAlgError``, naming the op and the user's line; so do
eigenvalues that do not converge.
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error

#: The kinds, and what each computes.
KINDS = {
    "cholesky": "the triangular factor of a symmetric positive definite matrix",
    "solve": "x with a x = b",
    "matrix_inverse": "the inverse",
    "det": "the determinant",
    "eigh": "the eigenvalues, ascending, and the eigenvectors (columns) of a symmetric matrix",
    "eigvalsh": "the eigenvalues, ascending, of a symmetric matrix",
    "qr": "Q and R with a = Q R, of any matrix (numpy's modes 'reduced', 'complete' and 'r')",
    "svd": "U, the singular values (descending) and V^T with a = U diag(s) V^T, of any matrix "
           "(mode 'full', 'reduced' or 'values': the singular values alone)",
}


def _float(*dtypes):
    """numpy's result type of a factorization of these dtypes: a float, float64 for
    integers."""
    dtype = np.result_type(*dtypes)
    return dtype.name if dtype.kind == "f" else "float64"


class Linalg(Op):
    """``kind`` (``KINDS``) of its inputs; params: ``lower`` (cholesky: the factor L read from
    the lower triangle, else U = L^T read from the upper, as scipy's; eigh, eigvalsh: the
    triangle read, the lower or the upper), ``structure`` (solve: 'general', 'lower' or
    'upper': only that triangle of a is read), ``mode`` (qr: 'reduced', 'complete' or 'r';
    svd: 'full', 'reduced' or 'values')."""

    props = ("kind", "params")

    def __init__(self, kind, **params):
        if kind not in KINDS:
            raise ValueError(f"Linalg: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        self.kind = kind
        self.params = tuple(sorted(params.items()))

    def param(self, name, default=None):
        return dict(self.params).get(name, default)

    def short_name(self):
        structure = self.param("structure", "general")
        return self.kind if structure == "general" else f"solve_{structure}_triangular"

    def make_node(self, *inputs):
        a = inputs[0]
        if self.kind == "det":
            out = TensorType(_float(a.dtype), ())
        elif self.kind == "solve":
            out = TensorType(_float(a.dtype, inputs[1].dtype), inputs[1].broadcastable)
        elif self.kind == "qr":
            matrix = TensorType(_float(a.dtype), (False, False))
            return Apply(self, list(inputs), [matrix] * (1 if self.param("mode") == "r" else 2))
        elif self.kind == "svd":
            matrix = TensorType(_float(a.dtype), (False, False))
            values = TensorType(_float(a.dtype), (False,))
            return Apply(self, list(inputs), [values] if self.param("mode") == "values"
                         else [matrix, values, matrix])
        elif self.kind in ("eigh", "eigvalsh"):
            values = TensorType(_float(a.dtype), (False,))
            return Apply(self, list(inputs), [values] + (
                [TensorType(_float(a.dtype), (False, False))] if self.kind == "eigh" else []))
        else:
            out = TensorType(_float(a.dtype), (False, False))
        return Apply(self, list(inputs), [out])

    def infer_shape(self, node, input_shapes):
        if self.kind == "det":
            return [()]
        if self.kind == "solve":
            return [input_shapes[1]]
        if self.kind in ("eigh", "eigvalsh"):
            return [input_shapes[0][:1]] + [input_shapes[0]] * (self.kind == "eigh")
        if self.kind in ("qr", "svd"):
            n, m = input_shapes[0]
            k = n if n == m else f"_dim_min({n}, {m})"  # (dim expressions)
            return {"reduced": [(n, k), (k, m)] if self.kind == "qr" else [(n, k), (k,), (k, m)],
                    "complete": [(n, n), (n, m)], "r": [(k, m)], "values": [(k,)],
                    "full": [(n, n), (k,), (m, m)]}[self.param("mode")]
        return [input_shapes[0]]

    def shape_checks(self, node, input_shapes):
        if self.kind in ("qr", "svd"):
            return []
        a = input_shapes[0]
        checks = [(a[0], a[1], "the matrix must be square")]
        if self.kind == "solve":
            checks.append((input_shapes[1][0], a[0], "b must have as many rows as a"))
        return checks

    def perform(self, node, values):
        a = values[0]
        if a.shape[0] != a.shape[1] and self.kind not in ("qr", "svd"):
            raise op_error(ValueError, node, f"the matrix must be square, got shape "
                                             f"{a.shape}")
        dtype = node.outputs[0].dtype
        try:
            with np.errstate(all="ignore"):
                out = _compute(self.kind, self.param, a.astype(dtype, copy=False),
                               *[v.astype(dtype, copy=False) for v in values[1:]])
        except np.linalg.LinAlgError as exc:
            raise op_error(np.linalg.LinAlgError, node, _message(self, exc)) from None
        except ValueError as exc:
            raise op_error(ValueError, node, str(exc)) from None
        outs = out if self.kind in ("eigh", "eigvalsh", "qr", "svd") else (out,)
        return [np.asarray(o, dtype=dtype) for o in outs]

    def grad(self, node, output_grads):
        if self.kind not in GRADS:
            raise NotImplementedError(f"{self.kind} has no gradient")
        return GRADS[self.kind](node, output_grads, **dict(self.params))


def _compute(kind, param, a, *rest):
    if kind == "cholesky":
        if param("lower", True):
            return np.linalg.cholesky(a)  # (its lower triangle)
        return np.linalg.cholesky(a.T).T  # (the upper one)
    if kind == "matrix_inverse":
        return np.linalg.inv(a)
    if kind == "det":
        return np.linalg.det(a)
    if kind == "qr":
        out = np.linalg.qr(a, param("mode"))
        return tuple(out) if isinstance(out, tuple) else (out,)
    if kind == "svd":
        mode = param("mode")
        if mode == "values":
            return (np.linalg.svd(a, compute_uv=False),)
        return tuple(np.linalg.svd(a, full_matrices=mode == "full"))
    if kind in ("eigh", "eigvalsh"):
        uplo = "L" if param("lower", True) else "U"
        return tuple(np.linalg.eigh(a, uplo)) if kind == "eigh" else \
            (np.linalg.eigvalsh(a, uplo),)
    (b,) = rest
    structure = param("structure", "general")
    if structure == "general":
        return np.linalg.solve(a, b)
    import scipy.linalg
    return scipy.linalg.solve_triangular(a, b, lower=structure == "lower", check_finite=False)


#: The message of each kind's failure, as the compiled code gives it (``failure``).
FAILURES = {"cholesky": "the matrix is not positive definite",
            "svd": "the singular values did not converge",
            "solve": "the matrix is singular",
            "matrix_inverse": "the matrix is singular",
            "eigh": "the eigenvalues did not converge",
            "eigvalsh": "the eigenvalues did not converge"}


def failure(op):
    """The message of the one way ``op`` can fail, or None (the determinant of a singular
    matrix is 0)."""
    return FAILURES.get(op.kind)


def _message(op, exc):
    """The reference's message for numpy's or scipy's LinAlgError: the compiled one."""
    return failure(op) or str(exc)


def _t():
    from codegen.tensor import basic
    return basic


def _grad_inverse(node, grads):
    t, (x,), (gz,) = _t(), node.outputs, grads
    return [-t.dot(t.dot(x.T, gz), x.T)]


def _grad_det(node, grads):
    (a,), (gz,) = node.inputs, grads
    return [gz * node.outputs[0] * Linalg("matrix_inverse")(a).T]


def _grad_solve(node, grads, structure="general"):
    t, (a, b), (x,), (gz,) = _t(), node.inputs, node.outputs, grads
    back = {"lower": "upper", "upper": "lower"}.get(structure, structure)
    gb = Linalg("solve", structure=back)(a.T, gz)
    ga = -t.outer(gb, x) if b.ndim == 1 else -t.dot(gb, x.T)
    if structure != "general":  # only the triangle it reads
        ga = t.tril(ga) if structure == "lower" else t.triu(ga)
    return [ga, gb]


def _grad_cholesky(node, grads, lower=True):
    """Murray's rule (Differentiation of the Cholesky decomposition, 2016): with
    phi(X) the lower triangle of X with its diagonal halved, the gradient is the lower
    triangle of S + S^T less S's diagonal, S = L^-T phi(L^T G) L^-1."""
    t, (chol,), (gz,) = _t(), node.outputs, grads
    if not lower:
        chol, gz = chol.T, gz.T
    inner = t.dot(chol.T, gz)
    phi = t.tril(inner) - t.diag(t.diagonal(inner) / 2)
    upper = Linalg("solve", structure="upper")
    s = upper(chol.T, upper(chol.T, phi.T).T)
    g = t.tril(s + s.T) - t.diag(t.diagonal(s))
    return [g if lower else g.T]


def _grad_eigh(node, grads, lower=True):
    """Theano's EighGrad as products: with a's eigenvalues w and eigenvectors V, the
    gradient of the symmetric matrix is g = V (diag(gw) + F) V^T, F[n, m] = (gV^T V)[n, m] /
    (w[n] - w[m]) off the diagonal (infinite where two eigenvalues are equal) and 0 on it;
    eigh reads one triangle of a, whose elements off the diagonal stand for two of the
    symmetric matrix: the gradient is that triangle of g plus the other's, transposed."""
    t, (a,), gw = _t(), node.inputs, grads[0]
    if node.op.kind == "eigvalsh":  # the same, with no gradient of the vectors
        w, v = Linalg("eigh", lower=lower)(a)
        g = t.dot(v * gw, v.T)
    else:
        (w, v), gv = node.outputs, grads[1]
        eye = t.eye(t.shape_of(a, 0), dtype=w.dtype)
        f = t.dot(gv.T, v) / (w.dimshuffle(0, "x") - w.dimshuffle("x", 0) + eye) * (1 - eye)
        g = t.dot(v, t.dot(f + t.diag(gw), v.T))
    return [t.tril(g) + t.triu(g, 1).T if lower else t.triu(g) + t.tril(g, -1).T]


GRADS = {"matrix_inverse": _grad_inverse, "det": _grad_det, "solve": _grad_solve,
         "cholesky": _grad_cholesky, "eigh": _grad_eigh, "eigvalsh": _grad_eigh}
