"""Theano's casting rule for inputs, in one place: codegen's functions and every generated
module (which embeds this file's text, and imports nothing of codegen) apply the same."""

import numpy as np


def can_cast_input(value, dtype, allow_downcast=None):
    """Theano's casting rule for a value given where ``dtype`` is expected.

    Arrays cast safely (int64 -> float64 yes, float64 -> float32 no) unless downcasting is
    allowed; Python scalars, and lists of them, are accepted when the conversion is exact
    (``[1, 2]`` for an int32 vector), and Python floats for float32 inputs (as Theano does
    for floatX).
    """
    if allow_downcast:
        return True
    target = np.dtype(dtype)
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        if isinstance(value, float):
            return target.kind == "f"
        converted = np.asarray(value).astype(target)
        return converted.item() == value
    arr = np.asarray(value)
    if np.can_cast(arr.dtype, target, casting="safe"):
        return True
    if isinstance(value, (list, tuple)):  # Python numbers, as scalars of them are
        if target.kind == "f" and arr.dtype.kind == "f":
            return True
        with np.errstate(all="ignore"):
            return bool(np.all(arr.astype(target).astype(arr.dtype) == arr))
    return False
