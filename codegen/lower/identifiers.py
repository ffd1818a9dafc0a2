"""Identifiers of the generated code: what a user's name becomes, and the names it cannot
take (imported by the graph cache's fast path, so it imports nothing heavy)."""

import re

IDENT = re.compile(r"[^A-Za-z0-9_]")


def sanitize(name):
    name = IDENT.sub("_", name or "v")
    return name if name and not name[0].isdigit() else f"v_{name}"


#: Names the generated code cannot give a variable: Python and Cython keywords, C keywords,
#: the C types and library names the code uses, and the lowercase macros of the headers it
#: includes (math.h, stdint.h, Python.h, numpy, gcc's own: ``linux`` is 1).
_C_NAMES = """
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while bool true false complex imaginary alignas alignof noreturn
static_assert thread_local errno assert stdin stdout stderr linux unix i386 alloca offsetof
va_arg va_copy va_end va_start fpclassify isfinite isinf isnan isnormal signbit isgreater
isgreaterequal isless islessequal islessgreater isunordered iszero issignaling issubnormal
iscanonical iseqsig math_errhandling import_array import_array1 import_array2 constchar
st_atime st_ctime st_mtime sched_priority abs memcpy memset malloc free printf
""".split()
#: math.h's functions (and their float and long double forms): the kernels call them
_MATH_FUNCTIONS = """
acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 frexp ilogb
ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc lgamma
tgamma ceil floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo
copysign nan nextafter nexttoward fdim fmax fmin fma gamma j0 j1 jn y0 y1 yn exp10 pow10
sincos significand drem
""".split()
_C_NAMES += [f + suffix for f in _MATH_FUNCTIONS for suffix in ("", "f", "l")]
_PYTHON_NAMES = """
False None True and as assert async await break class continue def del elif else except
finally for from global if import in is lambda nonlocal not or pass raise return try while
with yield match case type np cnp os threading self len range object print int float
tuple list dict str bool isinstance cdef cpdef ctypedef cimport struct union nogil gil
prange inline const unsigned include DEF IF ELIF ELSE outputs
""".split()


#: Names a Python-level definition of the generated module cannot take.
PYTHON_RESERVED = frozenset(_PYTHON_NAMES)


#: Names a generated module defines or imports itself
MODULE_NAMES = ("get_value", "set_value", "state", "save", "load", "np", "os", "threading",
                "cg_load_blas")


def usable_function_name(fname):
    """Whether ``fname`` can name a function of a generated module."""
    return (sanitize(fname) == fname and not fname.startswith("_") and fname not in MODULE_NAMES
            and fname not in PYTHON_RESERVED)
