"""Input specifications (In / Param) and the validation of values given to a function."""

import numpy as np

from codegen.graph import can_cast_input


class In:
    """An input with options: ``In(b, value=np.zeros(2))`` gives ``b`` a default.

    ``Param(b, default=...)`` is Theano's older spelling and means the same.
    """

    def __init__(self, variable, name=None, value=None, default=None, mutable=False,
                 borrow=False):
        self.variable = variable
        self.name = name or variable.name
        self.value = value if value is not None else default
        self.mutable = mutable
        self.borrow = borrow

    @property
    def has_default(self):
        return self.value is not None


def Param(variable, default=None, name=None):
    return In(variable, name=name, value=default)


class Out:
    """An output with options (Theano's ``Out``): ``Out(y, borrow=True)``. Every output of a
    compiled function is a fresh array of the caller's, so ``borrow`` changes nothing."""

    def __init__(self, variable, borrow=False):
        self.variable = variable
        self.borrow = borrow

    def __repr__(self):
        return f"Out({self.variable!r}, borrow={self.borrow})"


def as_in(spec):
    return spec if isinstance(spec, In) else In(spec)


def convert_value(value, var, argname, fname, allow_downcast=None):
    """``value`` as an ndarray of ``var``'s type, or TypeError/ValueError naming the argument."""
    where = f"{fname}(): argument {argname!r}"
    if value is None:
        raise TypeError(f"{where}: expected {var.type.dtype} {var.type.kind_name()}, got None")
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected {var.type.dtype}, got array of dtype {value.dtype}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{where}: cannot convert {type(value).__name__} to an array: "
                        f"{exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected {var.type.dtype} {var.type.kind_name()}, got "
                        f"{type(value).__name__} of dtype {arr.dtype}")
    if arr.dtype != var.type.numpy_dtype:
        plain = value if not isinstance(value, (np.ndarray, np.generic)) else arr
        if not can_cast_input(plain, var.type.dtype, allow_downcast):
            raise TypeError(f"{where}: expected {var.type.dtype}, got {arr.dtype}; casting "
                            f"would lose precision (pass allow_input_downcast=True to "
                            f"function(), or give {var.type.dtype} data)")
        arr = arr.astype(var.type.dtype)
    try:
        var.type.check_value(arr)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return arr
