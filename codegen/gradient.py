"""``codegen.gradient``: grad, jacobian, hessian and verify_grad (Theano's API).

>>> import codegen.tensor as T
>>> from codegen import pp
>>> foo = T.scalar('foo')
>>> pp(T.grad(foo ** 2, foo))
'(TensorConstant{2.0} * foo)'
"""

import numpy as np

from codegen.autodiff import (
    DisconnectedGrad,
    DisconnectedInputError,
    NullGrad,
    NullTypeGradError,
    grad_raw,
)
from codegen.graph import late
from codegen.rewrite import simplify


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Gradient of scalar ``cost`` w.r.t. ``wrt`` (a variable or a list), as graphs; ``cost``
    may be None where ``known_grads`` ({variable: its gradient}) starts the walk, as in
    Theano.

    The result is simplified (constants folded, ``x*1`` and friends removed), so it prints and
    compiles small.
    """
    from codegen.tensor.basic import as_tensor_variable
    if cost is not None or not known_grads:
        cost = as_tensor_variable(cost)
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    sparse = [getattr(w, "is_sparse", False) for w in wrt_list]
    if any(sparse):  # a sparse matrix's gradient: of its stored values, in its pattern
        dense = grad(cost, [w.data if s else w for w, s in zip(wrt_list, sparse)],
                     consider_constant, disconnected_inputs, known_grads, return_disconnected)
        grads = [w.with_data(g) if s and g is not None else g
                 for w, s, g in zip(wrt_list, sparse, dense)]
        return grads[0] if single else grads
    grads = grad_raw(cost, wrt_list, consider_constant, disconnected_inputs, known_grads,
                     return_disconnected)
    present = [g for g in grads if g is not None]
    simplified = iter(simplify(present))
    grads = [next(simplified) if g is not None else None for g in grads]
    grads = [_own_constant(g) for g in grads]
    _tag_gradients(cost, wrt_list, grads)
    return grads[0] if single else grads


def _own_constant(g):
    """A constant gradient as a constant of its own, which ``_tag_gradients`` may mark."""
    from codegen.graph import Constant
    if not isinstance(g, Constant):
        return g
    own = type(g)(g.type, g.data, g.name)
    own.weak = getattr(g, "weak", False)
    return own


def zero_grad(x):
    """``x``, through which no gradient flows (its gradient is disconnected)."""
    from codegen.tensor.basic import zero_grad
    return zero_grad(x)


#: Theano's other names for zero_grad: a gradient that reaches an input only through one
#: is disconnected (``disconnected_inputs`` decides what ``grad`` does then)
disconnected_grad = consider_constant = zero_grad


def grad_clip(x, lower_bound, upper_bound):
    """``x``, whose gradient is clipped to [lower_bound, upper_bound] on its way back."""
    from codegen.tensor.basic import _elemwise, as_tensor_variable
    x, lo, hi = (as_tensor_variable(v) for v in (x, lower_bound, upper_bound))
    if lo.ndim or hi.ndim:
        raise TypeError(f"grad_clip: the bounds must be scalars, got {lo.type} and {hi.type}")
    return _elemwise("grad_clip", x, lo, hi)


def grad_scale(x, multiplier):
    """``x``, whose gradient is multiplied by ``multiplier`` on its way back."""
    from codegen.tensor.basic import _elemwise, as_tensor_variable
    x, m = as_tensor_variable(x), as_tensor_variable(multiplier)
    if m.ndim:
        raise TypeError(f"grad_scale: the multiplier must be a scalar, got {m.type}")
    return _elemwise("grad_scale", x, m)


def _tag_gradients(cost, wrt, grads):
    """Mark each gradient this call built with the variable it differentiates with respect
    to (``g.tag.gradient_of``): a data-parallel split reduces exactly these. A result that is a
    variable of the cost's graph (the gradient of ``sum(x * w)`` is ``x``) or a constant is
    not marked, since marking it would mark it for every other graph that uses it.

    Each gradient built here (constants too: ``grad`` gives each its own) also keeps its
    cost (``g.tag.grad_cost``). In Theano a gradient's graph always reaches every input of the
    cost; here simplification may leave ``grad(x + y * z, x)`` the constant 1, and
    ``codegen.function`` counts the cost's inputs as used by a function that returns it."""
    from codegen.graph import Constant, toposort
    known = {v.id for v in wrt} | ({cost.id} if cost is not None else set())
    for node in toposort([cost] if cost is not None else []):
        known.update(v.id for v in node.inputs)
    for g, var in zip(grads, wrt):
        if g is None or g.id in known:
            continue
        if cost is not None:
            g.tag.grad_cost = cost
        if not isinstance(g, Constant):
            g.tag.gradient_of = var


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt for a vector ``expression``, as one graph without a scan loop.

    The vector-jacobian product ``v -> v^T J`` is built once with a symbolic seed ``v``;
    ``codegen.autodiff.batch`` then rewrites that graph to take a whole batch of seeds along a new
    leading axis, and feeding it the identity gives every row of J at once, for any length.
    """
    from codegen.autodiff.batch import batch_graph
    from codegen.tensor import basic as t
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        out = grad(expression, wrt_list, consider_constant, disconnected_inputs)
        return out[0] if single else out
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression must be a vector, got {expression.type}")
    seed = t.tensor(expression.dtype, expression.broadcastable, name="jacobian_seed")
    proxy = t.sum(expression * seed)
    vjps = grad(proxy, wrt_list, consider_constant, disconnected_inputs)
    eye = t.eye(t.shape_of(expression, 0), dtype=expression.dtype)
    try:
        rows = simplify(batch_graph(vjps, {seed.id: eye}))
    except NotImplementedError as exc:
        # an op without a batching rule: one gradient per row, when the rows are known
        n = expression.type.shape[0] if expression.type.shape is not None else None
        if n is None:
            raise NotImplementedError(f"{exc}; and the length of {expression.label()} is not "
                                      f"known when the graph is built, so its rows cannot be "
                                      f"taken one by one either") from None
        per_row = [grad(expression[i], wrt_list, consider_constant, disconnected_inputs)
                   for i in range(n)]
        rows = [t.stack([r[k] for r in per_row]) for k in range(len(wrt_list))]
    return rows[0] if single else rows


def _as_list(x):
    return (list(x), False) if isinstance(x, (list, tuple)) else ([x], True)


def _paired(op, variables, eval_points, what):
    """``variables`` and their ``eval_points`` as two lists of one length."""
    variables, eval_points = _as_list(variables)[0], _as_list(eval_points)[0]
    if len(variables) != len(eval_points):
        raise ValueError(f"{op}: {len(variables)} {what} but {len(eval_points)} eval_points")
    return variables, eval_points


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Theano's L-operator, the vector-Jacobian product ``v^T (df/dwrt)``: ``eval_points``
    are shaped like ``f`` (lists of both for several outputs), the result like ``wrt``.

    >>> import codegen.tensor as T
    >>> x, v = T.dvector('x'), T.dvector('v')
    >>> Lop(x * 3, x, v).eval({x: [1.0, 2.0], v: [1.0, 10.0]})
    array([ 3., 30.])
    """
    fs, vs = _paired("Lop", f, eval_points, "outputs")
    wrt_list, single = _as_list(wrt)
    out = simplify(_vjp(fs, vs, wrt_list, consider_constant, disconnected_inputs))
    return out[0] if single else out


def _vjp(fs, seeds, wrt_list, consider_constant, disconnected_inputs):
    """``seeds^T (d fs / d wrt)`` for each variable of ``wrt_list``, unsimplified."""
    from codegen.tensor import basic as t
    known = {out: t.as_tensor_variable(seed) for out, seed in zip(fs, seeds)}
    return grad_raw(None, wrt_list, consider_constant, disconnected_inputs, known)


def Rop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Theano's R-operator, the Jacobian-vector product ``(df/dwrt) v``: ``eval_points`` are
    shaped like ``wrt``, the result like ``f``. Built as the transpose of ``Lop``: for a seed
    ``u`` shaped like ``f``, ``Lop`` gives ``J^T u``, whose gradient in ``u`` along ``v`` is
    ``J v`` (which ``u`` only gives its shape; ``f`` stands in for it).

    >>> import codegen.tensor as T
    >>> x, v = T.dvector('x'), T.dvector('v')
    >>> Rop(x ** 2, x, v).eval({x: [1.0, 2.0], v: [1.0, 10.0]})
    array([ 2., 40.])
    """
    from codegen.graph.basic import clone_replace
    from codegen.tensor import basic as t
    fs, single = _as_list(f)
    wrt_list, vs = _paired("Rop", wrt, eval_points, "variables")
    seeds = [t.tensor(out.dtype, out.broadcastable, name=f"rop_seed{k}")
             for k, out in enumerate(fs)]
    vjps = _vjp(fs, seeds, wrt_list, consider_constant, disconnected_inputs)
    total = None
    for vjp, v in zip(vjps, vs):
        term = t.sum(vjp * t.as_tensor_variable(v))
        total = term if total is None else total + term
    jvps = grad_raw(total, seeds, disconnected_inputs="ignore")
    out = simplify(clone_replace(jvps, dict(zip(seeds, fs))))
    return out[0] if single else out


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Matrix of second derivatives of scalar ``cost`` w.r.t. vector ``wrt``."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    out = []
    for var in wrt_list:
        g = grad(cost, var, consider_constant, disconnected_inputs)
        out.append(jacobian(g, var, consider_constant, disconnected_inputs))
    return out[0] if single else out


def numeric_grad(fn, points, eps=1e-6):
    """Central finite differences of scalar ``fn(*points)`` for each point."""
    grads = []
    for i, point in enumerate(points):
        point = np.array(point, dtype="float64")
        g = np.zeros_like(point)
        for idx in np.ndindex(point.shape):
            args = [np.array(p, dtype="float64") for p in points]
            args[i][idx] += eps
            plus = float(fn(*args))
            args[i][idx] -= 2 * eps
            minus = float(fn(*args))
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, out_type=None, abs_tol=None,
                rel_tol=None, mode=None, cast_to_output_type=False, no_debug_ref=True):
    """Check the symbolic gradient of ``fun`` (tensor variables -> a tensor) at the points
    ``pt`` against finite differences, as Theano's ``verify_grad`` does: a non-scalar output
    is projected on random weights from ``rng`` (``n_tests`` draws).

    Raises GradientError (an AssertionError) with the largest relative error when it
    exceeds ``rel_tol``.

    >>> import codegen.tensor as T
    >>> verify_grad(lambda x: T.tanh(x) * 2, [np.array([0.1, -0.4])])
    True
    """
    from codegen.tensor import basic as t
    function = late.get("function")
    rng = rng if rng is not None else np.random.default_rng(0)
    eps, rel_tol, abs_tol = eps or 1e-6, rel_tol or 1e-6, abs_tol or 1e-8
    mode = mode or "FAST_COMPILE"
    points = [np.asarray(p, dtype="float64") for p in pt]
    inputs = [t.tensor("float64", [False] * p.ndim, name=f"x{i}") for i, p in enumerate(points)]
    output = t.as_tensor_variable(fun(*inputs))
    shape = np.shape(function(inputs, output, mode=mode)(*points))
    for _ in range(n_tests):
        weights = t.constant(_uniform(rng, shape))
        cost = t.sum(output * weights)
        f = function(inputs, cost, mode=mode)
        symbolic = function(inputs, grad(cost, inputs), mode=mode)(*points)
        numeric = numeric_grad(f, points, eps)
        for i, (s, n) in enumerate(zip(symbolic, numeric)):
            err = np.abs(s - n) / np.maximum(np.abs(s) + np.abs(n), abs_tol)
            if np.max(err, initial=0) > rel_tol and np.max(np.abs(s - n), initial=0) > abs_tol:
                raise GradientError(i, float(np.max(np.abs(s - n))), float(np.max(err)),
                                    abs_tol, rel_tol, s, n)
    return True


class GradientError(AssertionError):
    """Theano's ``verify_grad`` failure: the symbolic gradient of input ``arg`` differs from
    finite differences by ``abs_err`` (``rel_err`` relatively), over the tolerances."""

    def __init__(self, arg, abs_err, rel_err, abs_tol, rel_tol, symbolic=None, numeric=None):
        self.arg, self.abs_err, self.rel_err = arg, abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol
        super().__init__(f"verify_grad: input {arg}: max relative error {rel_err:.3g} > "
                         f"{rel_tol} (max absolute error {abs_err:.3g})\nsymbolic={symbolic}"
                         f"\nnumeric={numeric}")


class DisconnectedType:
    """Theano's type of a disconnected gradient: an op's ``grad`` returns
    ``DisconnectedType()()`` for an input its outputs do not depend on."""

    def __call__(self, name=None):
        return DisconnectedGrad()

    def __repr__(self):
        return "DisconnectedType"


disconnected_type = DisconnectedType()


class NullType:
    """Theano's type of an undefined gradient: ``NullType(why)()`` from an op's ``grad`` is
    an error, saying ``why``, only where a gradient asked for depends on it."""

    def __init__(self, why_null="(no explanation given)"):
        self.why_null = why_null

    def __call__(self, name=None):
        return NullGrad(self.why_null)

    def __repr__(self):
        return f"NullType({self.why_null!r})"


def _op_name(op):
    return op.short_name() if hasattr(op, "short_name") else type(op).__name__


def grad_undefined(op, x_pos, x, comment=""):
    """The gradient an op's ``grad`` gives for input ``x_pos`` (``x``) where it is
    mathematically undefined."""
    return NullType(f"the gradient of {_op_name(op)} with respect to its input {x_pos} "
                    f"({x!r}) is mathematically undefined. {comment}".rstrip())()


def grad_not_implemented(op, x_pos, x, comment=""):
    """The gradient an op's ``grad`` gives for input ``x_pos`` (``x``) where it is not
    implemented."""
    return NullType(f"the gradient of {_op_name(op)} with respect to its input {x_pos} "
                    f"({x!r}) is not implemented. {comment}".rstrip())()


def _uniform(rng, shape):
    """Weights in [0, 1) from a numpy Generator or a legacy RandomState (Theano's tests)."""
    return np.asarray(rng.random(shape), dtype="float64")


late.provide("grad", grad)  # for the graph language's functions built from gradients

__all__ = ["DisconnectedInputError", "DisconnectedType", "GradientError", "Lop",
           "NullType", "NullTypeGradError", "Rop", "disconnected_type", "grad",
           "grad_not_implemented", "grad_undefined", "hessian", "jacobian", "numeric_grad",
           "verify_grad"]
