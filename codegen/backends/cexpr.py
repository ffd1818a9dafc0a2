"""The C expression table: how each scalar op is written in C, and C types per dtype.

Kernels of every compiled backend are C (the Cython backend embeds them verbatim; a CUDA
backend extends this table with ``{**C_OPS, ...}``). ``{0}, {1}, ...`` are the rendered
operands, ``{out}`` the C type of the result and ``{f}`` the float32 suffix of libm names
(``expf``). Operands are always plain names or loads, so repeating one costs nothing. NaN
propagates as in numpy (``maximum(nan, 1)`` is nan).
"""

import math

CTYPES = {"float64": "double", "float32": "float", "int64": "int64_t", "int32": "int32_t",
          "int16": "int16_t", "int8": "int8_t", "uint64": "uint64_t", "uint32": "uint32_t",
          "uint16": "uint16_t", "uint8": "uint8_t", "bool": "uint8_t"}

C_OPS = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "true_div": "(({out}){0} / {1})",
    "pow": "pow{f}({0}, {1})",
    "floor_div": "floor{f}({0} / {1})",
    "floor_div_int": "({1} == 0 ? 0 : {0} / {1} - ({0} % {1} != 0 && "
                     "({0} % {1} < 0) != ({1} < 0)))",
    "mod": "(fmod{f}({0}, {1}) != 0 && (fmod{f}({0}, {1}) < 0) != ({1} < 0) "
           "? fmod{f}({0}, {1}) + {1} : fmod{f}({0}, {1}))",
    "mod_int": "({1} == 0 ? 0 : ({0} % {1} != 0 && ({0} % {1} < 0) != ({1} < 0) "
               "? {0} % {1} + {1} : {0} % {1}))",
    "neg": "(-{0})",
    "sqrt": "sqrt{f}({0})",
    "softplus": "(log1p{f}(exp{f}(-fabs{f}({0}))) + ({0} > 0 ? {0} : 0))",
    "abs": "({0} >= 0 ? {0} : -{0})",
    "sgn": "({0} > 0 ? 1 : ({0} < 0 ? -1 : {0}))",
    "maximum": "(({0} >= {1} || {0} != {0}) ? {0} : {1})",
    "minimum": "(({0} <= {1} || {0} != {0}) ? {0} : {1})",
    "switch": "({0} ? {1} : {2})",
    "second": "{1}",
    "zero_grad": "{0}",
    "eq": "({0} == {1})",
    "neq": "({0} != {1})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    "and_": "({0} && {1})",
    "or_": "({0} || {1})",
    "xor": "(({0} != 0) != ({1} != 0))",
    "invert": "(!{0})",
}

#: Ops whose C calls a vector math function (libmvec when available): the call, and the rest
#: of the op around its result ``{h}``. ``C_OPS`` writes each as the two put together; loop
#: kernels make the calls for a block of elements first and do the rest after
#: (``ckernel``), so that the rest (a division, mostly) of one vector need not wait for the
#: call of the next.
C_CALLS = {
    "exp": ("exp{f}({0})", "{h}"),
    "expm1": ("expm1{f}({0})", "{h}"),
    "log": ("log{f}({0})", "{h}"),
    "log1p": ("log1p{f}({0})", "{h}"),
    "sin": ("sin{f}({0})", "{h}"),
    "cos": ("cos{f}({0})", "{h}"),
    "tanh": ("cg_tanh_u{f}({0})", "cg_tanh_q{f}({h})"),
    "sigmoid": ("exp{f}(-{0})", "(({out})1 / (1 + {h}))"),
}
C_OPS.update({op: rest.replace("{h}", call) for op, (call, rest) in C_CALLS.items()})

#: C that entries of ``C_OPS`` call, emitted once before the kernels.
C_HELPERS = """\
/* tanh(x) = expm1(2x) / (expm1(2x) + 2), as cg_tanh_q(cg_tanh_u(x)). With libmvec this
   vectorizes through its expm1, 1.5x as fast as its tanh, with the same largest error (4 ulp
   against glibc's scalar tanh, measured on 2e7 points). Beyond |x| = 20, tanh rounds to +-1,
   which the clamp gives exactly; NaN passes the clamp and stays NaN, and -0 stays -0. In
   float, libmvec's own tanhf is the faster and the more accurate one. */
static inline double cg_tanh_u(double x) {
    double c = x > 20 ? 20 : (x < -20 ? -20 : x);
    return expm1(2 * c);
}
static inline double cg_tanh_q(double u) {
    return u / (u + 2);
}
#define cg_tanh_uf tanhf
#define cg_tanh_qf(u) (u)
"""

#: How a reduction combines the accumulator {0} with a new value {1}.
COMBINE = {"add": "{0} + {1}", "mul": "{0} * {1}", "maximum": C_OPS["maximum"],
           "minimum": C_OPS["minimum"]}


def op_format(name, table=C_OPS):
    if name.startswith("cast_"):
        return "(({out}){0})"
    try:
        return table[name]
    except KeyError:
        raise NotImplementedError(f"no C expression for scalar op {name}") from None


def literal(value, dtype):
    if dtype.startswith("float"):
        value = float(value)
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        return repr(value) + ("f" if dtype == "float32" else "")
    if dtype == "bool":
        return "1" if value else "0"
    return str(int(value))


def render(expr, load, dim, table=C_OPS, replace=None):
    """C text of ``expr``; ``load(operand_index)`` gives the text of an array element and
    ``dim(expression)`` the kernel parameter carrying a run-time length. ``replace(expr)``,
    when given, may return the text of a subexpression instead (None: render it here)."""
    if replace is not None:
        text = replace(expr)
        if text is not None:
            return text
    if expr.op == "load":
        return load(expr.value)
    if expr.op == "local":
        return expr.value
    if expr.op == "const":
        return literal(expr.value, expr.dtype)
    if expr.op == "dim":
        return f"((int64_t){dim(expr.value)})"
    if expr.op == "index":
        return f"i{expr.value}"
    args = [render(a, load, dim, table, replace) for a in expr.args]
    suffix = "f" if expr.dtype == "float32" else ""
    name = expr.op
    if name + "_int" in table and not expr.dtype.startswith("float"):
        name += "_int"  # C's / and % truncate; these variants floor as numpy does
    return op_format(name, table).format(*args, out=CTYPES[expr.dtype], f=suffix)
