"""``codegen.tensor``, conventionally imported as ``T``: Theano's tensor API."""

from codegen.tensor import nnet

# theano.tensor.sort is a module and T.sort a function: the module is loaded first, so that
# importing it later does not bind its name over the function's
from codegen.tensor import sort as _sort_module  # noqa: F401
from codegen.tensor.basic import *  # noqa: F401,F403
from codegen.tensor.basic import __all__ as _basic_all
from codegen.tensor.utils_theano import (
    NotScalarConstantError,
    ceil_intdiv,
    deg2rad,
    get_scalar_constant_value,
    inverse_permutation,
    permute_row_elements,
    rad2deg,
)
from codegen.tensor.var import TensorConstant, TensorSharedVariable, TensorVariable


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Symbolic gradient of scalar ``cost`` w.r.t. ``wrt`` (see ``codegen.gradient.grad``)."""
    from codegen.gradient import grad as _grad
    return _grad(cost, wrt, consider_constant, disconnected_inputs, known_grads,
                 return_disconnected)


def Rop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Jacobian-vector product (see ``codegen.gradient.Rop``)."""
    from codegen.gradient import Rop as _rop
    return _rop(f, wrt, eval_points, consider_constant, disconnected_inputs)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product (see ``codegen.gradient.Lop``)."""
    from codegen.gradient import Lop as _lop
    return _lop(f, wrt, eval_points, consider_constant, disconnected_inputs)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The jacobian of ``expression`` w.r.t. ``wrt`` (see ``codegen.gradient.jacobian``)."""
    from codegen.gradient import jacobian as _jacobian
    return _jacobian(expression, wrt, consider_constant, disconnected_inputs)


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The hessian of scalar ``cost`` w.r.t. ``wrt`` (see ``codegen.gradient.hessian``)."""
    from codegen.gradient import hessian as _hessian
    return _hessian(cost, wrt, consider_constant, disconnected_inputs)


__all__ = list(_basic_all) + ["nnet", "grad", "jacobian", "hessian", "Rop", "Lop",
                              "TensorConstant",
                              "TensorSharedVariable", "TensorVariable",
                              "NotScalarConstantError", "ceil_intdiv", "deg2rad",
                              "get_scalar_constant_value", "inverse_permutation",
                              "permute_row_elements", "rad2deg"]

#: Theano's tensor APIs that codegen does not have yet
_MISSING = ("raw_random", "blas")


def __getattr__(name):
    if name in ("extra_ops", "nlinalg", "slinalg", "fft", "shared_randomstreams", "signal",
                "xlogx", "sharedvar", "opt", "elemwise", "subtensor", "type"):
        import importlib
        return importlib.import_module(f"codegen.tensor.{name}")
    from codegen.graph.errors import missing_theano_api
    raise missing_theano_api("codegen.tensor", name, _MISSING)
