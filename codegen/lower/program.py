"""The kernel program: plain, immutable data that every backend renders.

Dimensions are C/Python expressions over the argument dims (``A_n0``); scalar computations are
a tiny expression tree (``Expr``) that each backend prints from its own table.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expr:
    """A scalar expression: ``op`` is 'load' (operand index), 'local' (name), 'const'
    (value), 'dim' (an int expression), 'index' (loop index of axis ``value``) or the name of a
    scalar op applied to ``args``."""

    op: str
    args: tuple = ()
    value: object = None
    dtype: str = "float64"


@dataclass(frozen=True)
class Origin:
    """A graph node a step implements: math notation and the user's line."""

    text: str
    where: str


@dataclass(frozen=True)
class ArrayRef:
    """An ndarray in the generated code: a name and its dims (expressions)."""

    name: str
    dtype: str
    dims: tuple


@dataclass(frozen=True)
class Operand:
    """An array a loop reads or writes; ``axes[i]`` is the array axis that loop axis ``i``
    advances (None: the array is broadcast along it, stride 0)."""

    ref: ArrayRef
    axes: tuple
    role: str  # 'in', 'out' or 'acc' (reduction target)


@dataclass(frozen=True)
class Assign:
    local: str
    dtype: str
    expr: Expr
    origin: Origin


@dataclass(frozen=True)
class Store:
    operand: int  # index into the kernel's operands
    local: str
    combine: str = None  # for 'acc': the scalar op combining (add, mul, maximum, minimum)


@dataclass(frozen=True)
class LoopKernel:
    """One fused loop nest over ``dims``: loads, scalar assignments, stores."""

    name: str
    dims: tuple
    operands: tuple
    scalars: tuple  # (param name, dtype, dim expression) passed by value
    body: tuple  # Assign ...
    stores: tuple  # Store ...
    origins: tuple
    parallel: bool = False
    kind: str = "loop"


@dataclass(frozen=True)
class DotStep:
    """out = a . b through BLAS (gemm / gemv / dot); transposes come from strides.

    ``trans``: whether a and b are used transposed (their two strides swapped).
    ``accumulate``: out += alpha * a . b instead, into the values a loop just wrote there
    (matrix products only; see ``codegen.lower.accumulate``).
    """

    name: str
    out: ArrayRef
    a: ArrayRef
    b: ArrayRef
    origins: tuple
    kind: str = "dot"
    trans: tuple = (False, False)
    accumulate: bool = False
    alpha: float = 1.0


def reads(step):
    """Names of the arrays a step reads (an accumulating product reads its output too)."""
    if isinstance(step, LoopKernel):
        return [op.ref.name for op in step.operands if op.role == "in"]
    if isinstance(step, DotStep):
        return [step.a.name, step.b.name] + ([step.out.name] if step.accumulate else [])
    return [step.x.name]


def view_root(program):
    """A function naming the array a view (or a view of a view) is of; other names map to
    themselves."""
    source = {v.ref.name: v.source for v in program.views}

    def root(name):
        while name in source:
            name = source[name]
        return name
    return root


def writes(step):
    """Names of the arrays a step writes."""
    if isinstance(step, LoopKernel):
        return [op.ref.name for op in step.operands if op.role != "in"]
    return [step.out.name]


@dataclass(frozen=True)
class ArgmaxStep:
    name: str
    out: ArrayRef
    x: ArrayRef
    axis: int
    origins: tuple
    kind: str = "argmax"


@dataclass(frozen=True)
class Buffer:
    """Memory the call allocates: ``fill`` None (empty), 0 or the reduction identity."""

    ref: ArrayRef
    fill: object = None


@dataclass(frozen=True)
class View:
    """A view of an existing array, defined by a numpy expression (no copy).

    ``axes``, for views that only reorder, add or drop length-1 axes: the source axis behind
    each axis of the view (None: a new broadcast axis, stride 0). Such a view needs no array
    object at run time: its pointer is the source's and its strides are the source's, permuted.
    """

    ref: ArrayRef
    source: str
    expr: str
    axes: tuple = None


@dataclass(frozen=True)
class Check:
    """``lhs == rhs`` must hold at run time, else ValueError(message) naming the operands."""

    lhs: str
    rhs: str
    message: str
    where: str
    operands: tuple = ()  # (label, dims) of the operands the error shows


@dataclass(frozen=True)
class Arg:
    name: str
    dtype: str
    broadcastable: tuple
    default: object = None


@dataclass(frozen=True)
class StateRef:
    name: str  # name in the module's state
    local: str  # name in the function body
    dtype: str
    broadcastable: tuple


@dataclass
class Program:
    name: str
    args: list
    state: list
    dims: list  # (name, expression)
    checks: list
    constants: list  # (name, ndarray)
    buffers: list
    views: list
    steps: list
    outputs: list  # ArrayRef or scalar Expr per output
    updates: list  # (state name, ArrayRef)
    signature: str = ""
    doc: str = ""
    #: (array name, graph variable, Origin) of every array a step writes, in step order
    materialized: list = field(default_factory=list)
    fgraph: object = None  # the rewritten FunctionGraph this program implements

    def describe(self):
        """A readable listing of the kernel program (``debugprint`` of a compiled function)."""
        lines = [f"program {self.name}({', '.join(a.name for a in self.args)})"]
        for b in self.buffers:
            lines.append(f"  buffer {b.ref.name}: {b.ref.dtype}[{', '.join(b.ref.dims)}]")
        for v in self.views:
            lines.append(f"  view   {v.ref.name} = {v.expr}")
        for step in self.steps:
            if getattr(step, "accumulate", False):
                lines.append(f"  dot    {step.out.name} += {step.alpha!r} * {step.name}")
            else:
                lines.append(f"  {step.kind:6s} {step.name}")
            for o in step.origins:
                lines.append(f"           {o.text}   {o.where}")
        for state, ref in self.updates:
            lines.append(f"  update {state} <- {ref.name}")
        return "\n".join(lines)
