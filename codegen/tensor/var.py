"""TensorVariable: graph variables with Python operators and numpy-like methods.

As in Theano, the operators and methods live in a class of their own that symbolic
tensors, constants and shared variables each take: ``isinstance(v, T.TensorVariable)`` is
true of a symbolic tensor only, not of a constant or a shared variable (Lasagne tells a
user's expression from its own parameter so)."""

from codegen.graph import Constant, SharedVariable, TensorType, Variable


def _b():
    from codegen.tensor import basic
    return basic


class TensorOperators(Variable):
    """What a tensor does in Python (Theano's ``_tensor_py_operators``): arithmetic builds
    graph nodes, ``(x + 1) * y``."""

    def __repr__(self):
        if self.name:
            return self.name
        if self.owner is None:
            return f"<{self.type}>"
        return f"{self.owner.op}.{self.index}"

    # arithmetic
    def __add__(self, other): return _b().add(self, other)
    def __radd__(self, other): return _b().add(other, self)
    def __sub__(self, other): return _b().sub(self, other)
    def __rsub__(self, other): return _b().sub(other, self)
    def __mul__(self, other): return _b().mul(self, other)
    def __rmul__(self, other): return _b().mul(other, self)
    def __truediv__(self, other): return _b().true_div(self, other)
    def __rtruediv__(self, other): return _b().true_div(other, self)
    def __floordiv__(self, other): return _b().floor_div(self, other)
    def __rfloordiv__(self, other): return _b().floor_div(other, self)
    def __mod__(self, other): return _b().mod(self, other)
    def __rmod__(self, other): return _b().mod(other, self)
    def __pow__(self, other): return _b().pow(self, other)
    def __rpow__(self, other): return _b().pow(other, self)
    def __neg__(self): return _b().neg(self)
    def __abs__(self): return _b().abs(self)

    # comparisons (== and != stay Python identity, as in Theano: use T.eq / T.neq)
    def __lt__(self, other): return _b().lt(self, other)
    def __le__(self, other): return _b().le(self, other)
    def __gt__(self, other): return _b().gt(self, other)
    def __ge__(self, other): return _b().ge(self, other)
    __hash__ = Variable.__hash__

    # logic
    def __invert__(self): return _b().invert(self)
    def __and__(self, other): return _b().and_(self, other)
    def __rand__(self, other): return _b().and_(other, self)
    def __or__(self, other): return _b().or_(self, other)
    def __ror__(self, other): return _b().or_(other, self)
    def __xor__(self, other): return _b().xor(self, other)
    def __rxor__(self, other): return _b().xor(other, self)

    def __bool__(self):
        # As in Theano: a variable is true (``if not input:`` tests for one given), but a
        # comparison's result has no truth value, so that ``a < b < c`` (Python's
        # ``(a < b) and (b < c)``) and ``if x > 0:`` fail instead of being quietly wrong.
        from codegen.ops.scalar import COMPARISONS
        if self.owner is not None and \
                getattr(getattr(self.owner.op, "scalar_op", None), "name", None) in COMPARISONS:
            raise TypeError(f"{self.label()} is a symbolic comparison and has no truth value "
                            f"(a < b < c or `if x > 0:`); use T.switch, T.and_ or ifelse")
        return True

    def __iter__(self):
        raise TypeError("a symbolic variable cannot be iterated over")

    def __getitem__(self, index): return _b().subtensor(self, index)

    # shape
    @property
    def shape(self): return _b().shape(self)
    @property
    def T(self): return _b().transpose(self)
    def transpose(self, *axes): return _b().transpose(self, axes or None)
    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _b().dimshuffle(self, pattern)
    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        return _b().reshape(self, shape)
    def flatten(self, ndim=1, outdim=None): return _b().flatten(self, ndim, outdim)
    def astype(self, dtype): return _b().cast(self, dtype)
    def copy(self, name=None):
        """A new variable of this one's value (Theano's tensor_copy), named ``name``."""
        out = _b().tensor_copy(self)
        out.name = name
        return out

    # reductions
    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _b().sum(self, axis, dtype, keepdims, acc_dtype)
    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _b().prod(self, axis, dtype, keepdims, acc_dtype)
    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _b().mean(self, axis, dtype, keepdims=keepdims, acc_dtype=acc_dtype)
    def var(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return _b().var(self, axis, ddof, keepdims, corrected)
    def std(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return _b().std(self, axis, ddof, keepdims, corrected)
    def max(self, axis=None, keepdims=False): return _b().max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _b().min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _b().argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _b().argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _b().any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return _b().all(self, axis, keepdims)
    def ptp(self, axis=None): return _b().ptp(self, axis)
    def cumsum(self, axis=None): return _b().cumsum(self, axis)
    def cumprod(self, axis=None): return _b().cumprod(self, axis)
    def dot(self, other): return _b().dot(self, other)

    # Theano's other methods, each the function of T of that name
    def sort(self, axis=-1, kind="quicksort", order=None):
        return _b().sort(self, axis, kind, order)
    def argsort(self, axis=-1, kind="quicksort", order=None):
        return _b().argsort(self, axis, kind, order)
    def clip(self, a_min, a_max): return _b().clip(self, a_min, a_max)
    def round(self, mode=None): return _b().round(self, mode)
    def nonzero(self, return_matrix=False): return _b().nonzero(self, return_matrix)
    def nonzero_values(self): return _b().nonzero_values(self)
    def repeat(self, repeats, axis=None): return _b().repeat(self, repeats, axis)
    def trace(self): return _b().trace(self)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _b().diagonal(self, offset, axis1, axis2)
    def squeeze(self): return _b().squeeze(self)
    def swapaxes(self, axis1, axis2): return _b().swapaxes(self, axis1, axis2)
    def take(self, indices, axis=None): return _b().take(self, indices, axis)
    def fill(self, value): return _b().fill(self, value)
    def ravel(self): return _b().flatten(self)
    @property
    def size(self): return _b().prod(self.shape)
    def norm(self, L, axis=None, keepdims=False):
        """The L-norm over ``axis``: ``sum(abs(x) ** L) ** (1 / L)`` (L > 0 and finite, as
        Theano's)."""
        import math
        if L == 0 or math.isinf(L):
            raise NotImplementedError(f"norm: L={L}; only a positive, finite L")
        return _b().pow(_b().pow(abs(self), L).sum(axis=axis, keepdims=keepdims), 1.0 / L)
    def conj(self):
        """The complex conjugate: a real tensor is its own (codegen has no complex dtypes)."""
        return self
    conjugate = conj
    def zeros_like(self, dtype=None): return _b().zeros_like(self, dtype)
    def get_scalar_constant_value(self):
        from codegen.tensor.utils_theano import get_scalar_constant_value
        return get_scalar_constant_value(self)
    def searchsorted(self, v, side="left", sorter=None):
        from codegen.tensor.extra_ops import searchsorted
        return searchsorted(self, v, side, sorter)
    def choose(self, choices, out=None, mode="raise"):
        return _b().choose(self, choices, out, mode)
    def compress(self, condition, axis=None):
        from codegen.tensor.extra_ops import compress
        return compress(condition, self, axis)
    __dot__ = dot
    def __rdot__(self, other): return _b().dot(other, self)

    def eval(self, inputs_to_values=None):
        """Evaluate with the numpy reference: ``(x * 2).eval({x: 3})`` -> ``array(6.)``."""
        from codegen.graph import late
        return late.get("evaluate")([self], inputs_to_values or {})[0]


_tensor_py_operators = TensorOperators  # Theano's name


class TensorVariable(TensorOperators):
    """A symbolic tensor: an input, or what an op computes."""


class TensorConstant(TensorOperators, Constant):
    def __repr__(self):
        return Constant.__repr__(self)


class TensorSharedVariable(TensorOperators, SharedVariable):
    def __repr__(self):
        return self.name or f"<{self.type}>"


TensorType.variable_class = TensorVariable
