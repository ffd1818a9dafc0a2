"""TensorType: dtype + broadcastable pattern + static shape where known."""

import numpy as np

from codegen.graph.casting import can_cast_input  # noqa: F401  (part of this module's API)

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)

_NDIM_NAMES = {0: "scalar", 1: "vector", 2: "matrix", 3: "tensor3", 4: "tensor4"}


class TensorType:
    """The static type of a tensor variable.

    ``broadcastable[i]`` is True when dimension ``i`` is known to have length 1 and may be
    broadcast against any length, as in Theano; ``shape[i]`` is the length when it is known
    when the graph is built, else None.

    >>> TensorType('float64', (False, True))
    TensorType(float64, col)
    """

    variable_class = None  # set by codegen.tensor.var to TensorVariable

    __slots__ = ("dtype", "broadcastable", "shape", "name")

    def __init__(self, dtype, broadcastable, shape=None, name=None):
        """``name``: a name for the type itself (Theano's), shown in its repr; types of one
        dtype and pattern are equal whatever their names."""
        dtype = str(np.dtype(dtype))
        if dtype not in DTYPES:
            raise TypeError(f"TensorType: unsupported dtype {dtype!r}; expected one of {DTYPES}")
        broadcastable = tuple(bool(b) for b in broadcastable)
        if shape is None:
            shape = tuple(1 if b else None for b in broadcastable)
        shape = tuple(None if s is None else int(s) for s in shape)
        if len(shape) != len(broadcastable):
            raise ValueError("TensorType: shape and broadcastable differ in length")
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "broadcastable", broadcastable)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "name", name)

    def __setattr__(self, name, value):
        raise AttributeError("TensorType is immutable")

    def __reduce__(self):  # pickled by its arguments, not by setting its (immutable) slots
        return TensorType, (self.dtype, self.broadcastable, self.shape, self.name)

    @property
    def ndim(self):
        return len(self.broadcastable)

    @property
    def numpy_dtype(self):
        return np.dtype(self.dtype)

    def with_dtype(self, dtype):
        return TensorType(dtype, self.broadcastable, self.shape)

    def __eq__(self, other):
        return (isinstance(other, TensorType) and self.dtype == other.dtype
                and self.broadcastable == other.broadcastable)

    def __hash__(self):
        return hash((self.dtype, self.broadcastable))

    def kind_name(self):
        bc = self.broadcastable
        if bc == (False, True):
            return "col"
        if bc == (True, False):
            return "row"
        if not any(bc) and self.ndim in _NDIM_NAMES:
            return _NDIM_NAMES[self.ndim]
        return str(bc)

    def __repr__(self):
        return self.name or f"TensorType({self.dtype}, {self.kind_name()})"

    def __call__(self, name=None):
        """Make a fresh input variable of this type (Theano: ``shared_var.type()``)."""
        return self.variable_class(self, owner=None, name=name)

    def describe_value(self, value):
        return f"{value.dtype} array of shape {value.shape}"

    def check_value(self, value):
        """Raise TypeError/ValueError when ``value`` (an ndarray) does not fit this type."""
        if value.ndim != self.ndim:
            raise TypeError(f"expected {self.ndim}-d {self.dtype} ({self.kind_name()}), "
                            f"got {value.ndim}-d array of shape {value.shape}")
        for axis, (bc, n) in enumerate(zip(self.broadcastable, value.shape)):
            if bc and n != 1:
                raise ValueError(f"dimension {axis} is broadcastable and must have length 1, "
                                 f"got shape {value.shape}")
