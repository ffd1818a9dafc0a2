"""The kernel program: plain, immutable data that every backend renders.

Dimensions are integer expressions over the argument dims (``A_n0``), in a small language
that C, Cython and Python read alike: names, integers, ``+``, ``-``, ``*``, parentheses and
the helpers ``_dim_div(a, b)`` (a // b, 0 when b is 0), ``_dim_min(a, b)`` and
``_slice_len(n, start, stop, step, given)``. Scalar computations are a tiny expression
tree (``Expr``) that each backend prints from its own table. Nothing in a program is text
of a host language.
"""

from dataclasses import dataclass, field, replace


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


@dataclass(frozen=True)
class GatherStep:
    """Indexing with integer arrays (``kind`` 'gather'): ``out = x[..., i0, i1, ..., ...]``,
    the index arrays ``idx`` (broadcast together, right-aligned) taking x's axes ``axis``,
    ``axis + 1``, ...; or (``kind`` 'scatter') the other way: ``out[..., i0, ...] (op)= x``
    for each element of ``x`` (the gathered shape) in order, ``combine`` 'add' or 'set'; or
    (``kind`` 'search', numpy's ``searchsorted``) ``out[...] =`` the place of ``idx[0][...]``
    in the sorted vector ``x`` found by a binary search, ``side`` 'left' or 'right'
    (``failure`` None: it cannot fail).

    Negative indices count from the end; an index out of range stops the call with failure
    ``failure`` of the program (nothing is read or written out of bounds)."""

    name: str
    out: ArrayRef
    x: ArrayRef
    idx: tuple  # ArrayRef per indexed axis
    axis: int
    origins: tuple
    failure: int
    combine: str = None
    kind: str = "gather"
    side: str = None  # a search's

    def big(self):
        """The array the indices select elements of: x for a gather or search, out for a
        scatter."""
        return self.out if self.kind == "scatter" else self.x

    def small(self):
        """The array in loop order (the gathered shape): out for a gather or search, x for a
        scatter."""
        return self.x if self.kind == "scatter" else self.out


@dataclass(frozen=True)
class ScanStep:
    """A loop over ``length`` iterations (``index`` counts them) of the ``steps`` of one
    iteration (a ``Scan`` node's body), which read and write the arrays ``views`` computes at
    each iteration (element ``index`` of a sequence, the slot of a state) and the call's other
    arrays. ``arrays``: the arrays of the call it touches (by their names in the call):
    ``inputs`` are read, the others written (and read: the arrays of one iteration)."""

    name: str
    index: str
    length: str
    views: tuple
    steps: tuple
    origins: tuple
    arrays: tuple  # ArrayRef of every array of the call it reads or writes
    inputs: tuple  # names of those it only reads
    kind: str = "scan"
    #: a loop that ends on a condition: the 0-d array (a view of the iteration) holding it,
    #: read after each iteration; the loop stops after the first that holds ('': none)
    until: str = ""


def reads(step):
    """Names of the arrays a step reads (an accumulating product reads its output too)."""
    if isinstance(step, ScanStep):
        return [a.name for a in step.arrays]
    if isinstance(step, LoopKernel):
        return [op.ref.name for op in step.operands if op.role == "in"]
    if isinstance(step, DotStep):
        return [step.a.name, step.b.name] + ([step.out.name] if step.accumulate else [])
    if isinstance(step, GatherStep):
        return ([step.x.name] + [i.name for i in step.idx]
                + ([step.out.name] if step.kind == "scatter" else []))
    if isinstance(step, AssertStep):
        return [step.cond.name]
    if isinstance(step, LinalgStep):
        return [r.name for r in (step.a, step.b) if r is not None]
    return [step.x.name]


def all_steps(steps):
    """The steps, and inside each loop (``ScanStep``) the steps of its body, in order."""
    for step in steps:
        yield step
        if isinstance(step, ScanStep):
            yield from all_steps(step.steps)


def can_fail(steps):
    """Whether one of ``steps`` (or of their loops' bodies) can stop the call: a gather or
    scatter (an index out of range), an assertion, a matrix that is singular."""
    return any(getattr(s, "failure", None) is not None for s in all_steps(steps))


def step_arrays(step):
    """The ArrayRefs a step reads or writes."""
    if isinstance(step, ScanStep):
        return list(step.arrays)
    if isinstance(step, LoopKernel):
        return [op.ref for op in step.operands]
    if isinstance(step, DotStep):
        return [step.a, step.b, step.out]
    if isinstance(step, GatherStep):
        return [step.x, step.out, *step.idx]
    if isinstance(step, AssertStep):
        return [step.cond]
    if isinstance(step, LinalgStep):
        return [r for r in (step.a, step.b, step.out, *step.others, step.work) if r is not None]
    if isinstance(step, AxisStep) and step.work is not None:
        return [step.x, step.out, step.work]
    return [step.x, step.out]


def renamed(step, mapping):
    """``step`` with the arrays ``mapping`` names (name -> ArrayRef) replaced."""
    def ref(r):
        return mapping.get(r.name, r)
    if isinstance(step, ScanStep):
        return replace(step, arrays=tuple(ref(a) for a in step.arrays),
                       inputs=tuple(mapping[n].name if n in mapping else n for n in step.inputs),
                       views=tuple(replace(v, source=ref(ArrayRef(v.source, "", ())).name)
                                   for v in step.views),
                       steps=tuple(renamed(s, mapping) for s in step.steps))
    if isinstance(step, LoopKernel):
        return replace(step, operands=tuple(replace(op, ref=ref(op.ref))
                                            for op in step.operands))
    if isinstance(step, DotStep):
        return replace(step, out=ref(step.out), a=ref(step.a), b=ref(step.b))
    if isinstance(step, GatherStep):
        return replace(step, out=ref(step.out), x=ref(step.x),
                       idx=tuple(ref(i) for i in step.idx))
    if isinstance(step, AssertStep):
        return replace(step, cond=ref(step.cond))
    if isinstance(step, LinalgStep):
        return replace(step, out=ref(step.out), a=ref(step.a),
                       b=step.b and ref(step.b), work=step.work and ref(step.work),
                       others=tuple(ref(r) for r in step.others))
    if isinstance(step, AxisStep) and step.work is not None:
        return replace(step, out=ref(step.out), x=ref(step.x), work=ref(step.work))
    return replace(step, out=ref(step.out), x=ref(step.x))


def view_root(program):
    """A function naming the array a view (or a view of a view) is of; other names map to
    themselves."""
    source = {v.ref.name: v.source for v in program.views}

    def root(name):
        while name in source:
            name = source[name]
        return name
    return root


def copied(step):
    """(source, target) names when ``step`` is a loop that only copies one array of the
    target's shape element by element (``inc_subtensor``'s start), else None. Such a copy of
    an array onto its own memory, same strides, changes nothing and is skipped at run time."""
    if not (isinstance(step, LoopKernel) and len(step.operands) == 2 and len(step.body) == 1
            and len(step.stores) == 1):
        return None
    src, dst = step.operands
    (assign,), (store,) = step.body, step.stores
    if (src.role, dst.role) != ("in", "out") or src.axes != dst.axes or None in src.axes \
            or src.ref.dtype != dst.ref.dtype or store.combine is not None \
            or store.operand != 1 or store.local != assign.local \
            or (assign.expr.op, assign.expr.value) != ("load", 0):
        return None
    return src.ref.name, dst.ref.name


def writes(step):
    """Names of the arrays a step writes."""
    if isinstance(step, ScanStep):
        return [a.name for a in step.arrays if a.name not in step.inputs]
    if isinstance(step, LoopKernel):
        return [op.ref.name for op in step.operands if op.role != "in"]
    if isinstance(step, AssertStep):
        return []
    if isinstance(step, LinalgStep):
        return [r.name for r in (step.out, *step.others, step.work) if r is not None]
    if isinstance(step, AxisStep) and step.work is not None:
        return [step.out.name, step.work.name]
    return [step.out.name]


def results(step):
    """Names of the arrays a step writes for later steps and the caller: its writes but
    memory of its own (``work``: scratch, which NanGuardMode and DebugMode do not check)."""
    work = getattr(step, "work", None)
    return [name for name in writes(step) if work is None or name != work.name]


@dataclass(frozen=True)
class AxisStep:
    """A walk along one axis of ``x``, a row at a time: ``op`` 'argmax' (``out`` has the other
    axes), 'add' / 'mul' (cumsum, cumprod: ``out`` has x's shape, ``out[..., k]`` the sum
    or product of ``x[..., :k + 1]`` in order) or 'argsort' (``out`` has x's shape: the
    indices that sort each row, numpy's stable order with NaNs last) or 'positions' (``x`` a
    vector, ``out`` the positions of its ``count`` nonzero elements); or the streams of a
    random variable of ``MRG_RandomStreams`` (``x``: their states, a row each, walked along
    axis 1), 'mrg_uniform' (``out``: ``count`` draws of each stream) or 'mrg_advance'
    (``out``: the states after a call of ``count`` draws; ``codegen.ops.mrg``)."""

    name: str
    out: ArrayRef
    x: ArrayRef
    axis: int
    origins: tuple
    op: str = "argmax"
    kind: str = "axis"
    count: str = None  # a dim expression the walk takes (the MRG ops')
    #: memory of the walk's own (argsort of a vector: its radix sort's keys, indices and
    #: counts; ``ckernel._argsort_row``)
    work: ArrayRef = None

    def out_axes(self):
        """The axes of ``x`` that ``out``'s axes follow, in order (None: an axis of its own,
        an rfft's (re, im) pairs)."""
        if self.op == "rfft":
            return list(range(len(self.x.dims))) + [None]
        if self.op == "irfft":
            return list(range(len(self.x.dims) - 1))
        return [a for a in range(len(self.x.dims)) if a != self.axis or self.op != "argmax"]

    def outer_axes(self):
        """The axes of ``x`` its rows run over: all but the walked one, and but the (re, im)
        pairs of a complex FFT's input."""
        pair = len(self.x.dims) - 1 if self.op in ("fft", "ifft", "irfft") else None
        return [a for a in range(len(self.x.dims)) if a != self.axis and a != pair]


@dataclass(frozen=True)
class AssertStep:
    """Theano's ``Assert``: the call stops with failure ``failure`` (AssertionError) when the
    0-d array ``cond`` is zero."""

    name: str
    cond: ArrayRef
    failure: int
    origins: tuple
    kind: str = "assert"


@dataclass(frozen=True)
class LinalgStep:
    """A factorization or solve of the square matrix ``a`` (``codegen.ops.linalg``): ``op``
    'cholesky' (``out``: its factor, the lower one or with ``lower`` False the upper),
    'solve' (``out``: x with a x = b, ``structure`` 'general', 'lower' or 'upper'),
    'matrix_inverse', 'det' (``out`` 0-d), 'eigh' (``out``: the eigenvectors, ``others``
    the eigenvalues; ``lower``: the triangle read), 'eigvalsh' (``out``: the eigenvalues),
    'qr' (``out``: R, ``others``: Q, or none; ``mode`` numpy's 'reduced', 'complete' or
    'r') or 'svd' (``out``: V^T, ``others``: U and the singular values, or ``out`` the
    singular values alone; ``mode`` 'full', 'reduced' or 'values'); a qr's or an svd's a
    need not be square. ``work``: a buffer of the step's own (the elimination's
    copy of a, LAPACK's workspace), or None. A matrix that is singular or not positive
    definite stops the call with failure ``failure`` (None: 'det', whose value is then 0).
    The C is ``codegen.backends.linalg``."""

    name: str
    op: str
    out: ArrayRef
    a: ArrayRef
    b: ArrayRef
    work: ArrayRef
    origins: tuple
    failure: int = None
    lower: bool = True
    structure: str = "general"
    m: str = "0"  # the right-hand sides' columns: b's (1 for a vector), n for the inverse
    others: tuple = ()  # the outputs before ``out``: eigh's eigenvalues, qr's Q, svd's U, s
    mode: str = None  # qr's, svd's
    kind: str = "linalg"


@dataclass(frozen=True)
class Buffer:
    """Memory the call allocates: ``fill`` None (empty), 0 or the reduction identity."""

    ref: ArrayRef
    fill: object = None


@dataclass(frozen=True)
class Slice:
    """One axis of an ``index`` view: bounds are dim expressions or None (numpy's default);
    ``step`` an int or None."""

    start: str = None
    stop: str = None
    step: int = None


@dataclass(frozen=True)
class View:
    """An array computed from another without a copy (``kind``):

    - ``axes``: the source's axes reordered, new broadcast axes added, length-1 axes dropped;
      ``axes[i]`` is the source axis behind axis ``i`` of the view (None: a new axis,
      stride 0): ``W.T``, ``b[:, None]``.
    - ``index``: ``index[k]`` for source axis k, a dim expression (the axis is dropped) or a
      ``Slice``; numpy's rules for negative and out-of-range bounds.
    - ``reshape``: the source, C-contiguous, read with the view's dims.
    - ``contiguous``: the source itself when it is C-contiguous, else a C-contiguous copy.
    """

    ref: ArrayRef
    source: str
    kind: str
    axes: tuple = None
    index: tuple = ()

    def text(self):
        """numpy's notation for the view (``debugprint``, comments)."""
        src = self.source
        if self.kind == "axes":
            return f"{src}.dimshuffle({', '.join('x' if a is None else str(a) for a in self.axes)})"
        if self.kind == "index":
            parts = [item if isinstance(item, str) else
                     ":".join("" if p is None else str(p) for p in (item.start, item.stop))
                     + (f":{item.step}" if item.step is not None else "")
                     for item in self.index]
            return f"{src}[{', '.join(parts)}]"
        if self.kind == "reshape":
            return f"{src}.reshape({', '.join(self.ref.dims)})"
        return f"contiguous({src})"


@dataclass(frozen=True)
class Check:
    """``lhs == rhs`` must hold at run time, else ValueError(message) naming the operands;
    with ``at_least``, ``lhs >= rhs``, else IndexError (an index within an axis)."""

    lhs: str
    rhs: str
    message: str
    where: str
    operands: tuple = ()  # (label, dims) of the operands the error shows
    at_least: bool = False


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
    dims: list  # (name, array name, axis): the dims read from the arguments and the state
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
    #: (message, where) of each way a step can fail (an index out of range): a step function
    #: returns 1 + the position of the failure that stopped it
    failures: list = field(default_factory=list)
    #: step name -> ((0-d array name, taken), ...): the step runs only when each array is
    #: nonzero (taken True) or zero (False), in order: the steps only one branch of an
    #: ifelse needs
    guards: dict = field(default_factory=dict)
    fgraph: object = None  # the rewritten FunctionGraph this program implements

    def describe(self):
        """A readable listing of the kernel program (``debugprint`` of a compiled function)."""
        from codegen.lower.memory import in_place_updates, shared_scratch
        lines = [f"program {self.name}({', '.join(a.name for a in self.args)})"]
        for c in self.checks:
            lines.append(f"  check  {c.lhs} {'>=' if c.at_least else '=='} {c.rhs}   "
                         f"{c.message}")
        reuse = {name: owner for name, owner, _ in shared_scratch(self)}
        for b in self.buffers:
            lines.append(f"  buffer {b.ref.name}: {b.ref.dtype}[{', '.join(b.ref.dims)}]"
                         + (f"  (memory of {reuse[b.ref.name]})" if b.ref.name in reuse else ""))
        for v in self.views:
            lines.append(f"  view   {v.ref.name} = {v.text()}")
        self._describe_steps(self.steps, lines, "  ")
        for (state, ref), in_place in zip(self.updates, in_place_updates(self)):
            lines.append(f"  update {state} <- {ref.name}" + ("  (in place)" if in_place else ""))
        return "\n".join(lines)

    def _describe_steps(self, steps, lines, pad):
        for step in steps:
            when = self.guards.get(step.name)
            when = ("   when " + " and ".join(c if taken else f"not {c}" for c, taken in when)
                    if when else "")
            if getattr(step, "accumulate", False):
                lines.append(f"{pad}dot    {step.out.name} += {step.alpha!r} * {step.name}{when}")
            elif isinstance(step, ScanStep):
                lines.append(f"{pad}scan   {step.name}: for {step.index} in "
                             f"range({step.length}){when}")
            else:
                lines.append(f"{pad}{step.kind:6s} {step.name}{when}")
            for o in step.origins:
                lines.append(f"{pad}         {o.text}   {o.where}")
            if isinstance(step, ScanStep):
                for v in step.views:
                    lines.append(f"{pad}    view   {v.ref.name} = {v.text()}")
                self._describe_steps(step.steps, lines, pad + "    ")
