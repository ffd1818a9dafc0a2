"""The Cython expression table: how each scalar op is written, and C types per dtype.

``{0}, {1}, ...`` are the rendered operands, ``{out}`` the C type of the result. Operands are
always plain names or loads, so repeating one in a format costs nothing. NaN propagates as in
numpy (``maximum(nan, 1)`` is nan).
"""

import math

CTYPES = {"float64": "double", "float32": "float", "int64": "int64_t", "int32": "int32_t",
          "int16": "int16_t", "int8": "int8_t", "uint64": "uint64_t", "uint32": "uint32_t",
          "uint16": "uint16_t", "uint8": "uint8_t", "bool": "uint8_t"}

C_OPS = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "true_div": "((<{out}>{0}) / {1})",
    "pow": "pow({0}, {1})",
    "neg": "(-{0})",
    "exp": "exp({0})",
    "expm1": "expm1({0})",
    "log": "log({0})",
    "log1p": "log1p({0})",
    "sqrt": "sqrt({0})",
    "sin": "sin({0})",
    "cos": "cos({0})",
    "tanh": "tanh({0})",
    "sigmoid": "(1.0 / (1.0 + exp(-{0})))",
    "softplus": "(log1p(exp(-fabs({0}))) + ({0} if {0} > 0 else 0.0))",
    "abs": "({0} if {0} >= 0 else -{0})",
    "sgn": "(1 if {0} > 0 else (-1 if {0} < 0 else {0}))",
    "maximum": "({0} if ({0} >= {1} or {0} != {0}) else {1})",
    "minimum": "({0} if ({0} <= {1} or {0} != {0}) else {1})",
    "switch": "({1} if {0} else {2})",
    "second": "{1}",
    "zero_grad": "{0}",
    "eq": "({0} == {1})",
    "neq": "({0} != {1})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    "and_": "({0} and {1})",
    "or_": "({0} or {1})",
    "xor": "(({0} != 0) != ({1} != 0))",
    "invert": "(not {0})",
}

#: How a reduction combines the accumulator {0} with a new value {1}.
COMBINE = {"add": "{0} + {1}", "mul": "{0} * {1}", "maximum": C_OPS["maximum"],
           "minimum": C_OPS["minimum"]}


def op_format(name):
    if name.startswith("cast_"):
        return "(<{out}>{0})"
    try:
        return C_OPS[name]
    except KeyError:
        raise NotImplementedError(f"the Cython backend has no expression for {name}") from None


def literal(value, dtype):
    if dtype.startswith("float"):
        value = float(value)
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        return repr(value)
    if dtype == "bool":
        return "1" if value else "0"
    return str(int(value))


def render(expr, load, dim):
    """Text of ``expr``; ``load(operand_index)`` gives the text of an array element and
    ``dim(expression)`` the kernel parameter carrying a run-time length."""
    if expr.op == "load":
        return load(expr.value)
    if expr.op == "local":
        return expr.value
    if expr.op == "const":
        return literal(expr.value, expr.dtype)
    if expr.op == "dim":
        return f"(<int64_t>{dim(expr.value)})"
    if expr.op == "index":
        return f"i{expr.value}"
    args = [render(a, load, dim) for a in expr.args]
    return op_format(expr.op).format(*args, out=CTYPES[expr.dtype])
