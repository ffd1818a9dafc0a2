"""The C layer under every module: one step function per compiled function.

A step function takes the call's dims, and the data pointer and strides (in elements) of each
array its caller holds (the arguments, the state, the memory the caller planned, the
constants), computes the views as pointer arithmetic, and runs every kernel and product of
the program in order. Everything that can fail (shapes, indices, memory) is checked by the
caller before it calls, so a step cannot fail and changes nothing but the arrays it writes.

The Python target's glue (``templates/cython``) and the C library (``templates/c``) both call
it: the math is here, in C, once.
"""

from dataclasses import dataclass

import numpy as np

from codegen.backends import cexpr, ckernel, linalg
from codegen.backends.ckernel import comment
from codegen.lower.program import (
    AssertStep,
    DotStep,
    GatherStep,
    LinalgStep,
    LoopKernel,
    ScanStep,
    all_steps,
    can_fail,
    copied,
    reads,
    writes,
)
from codegen.lower.rows import independent_rows
from codegen.ops.shape import dim_product


@dataclass
class StepFunction:
    name: str
    params: list  # C parameter declarations
    args: list  # what the caller passes for each: the parameter's own name in its scope
    lines: list  # the definition
    prototype: list
    kernels: list  # C lines of each kernel it calls
    kernel_prototypes: list
    blas: bool  # whether a product may call BLAS
    #: (message, where, kind) of each failure it returns (1 + the position): the program's
    #: (kind 'index'), then the strategy's checks of what steps wrote (kind 'float')
    failures: list = None
    #: built with profile=True: (kind, name, expression, where) of each timed step, whose
    #: seconds and runs the function adds to cg_prof[2k], cg_prof[2k + 1]; else None
    profiled: list = None


def contiguous_strides(dims):
    """C expressions of the strides (in elements) of a C-contiguous array of ``dims``."""
    strides, acc = [], "1"
    for d in reversed(dims):
        strides.append(acc)
        # the first length whole too (a + b), as later ones are in parentheses
        acc = dim_product([d]) if acc == "1" else (acc if d == "1" else f"{acc} * ({d})")
    return strides[::-1]


def step_name(program):
    return f"cg_step_{program.name}"


class CpuStrategy:
    """How the CPU turns the steps of a kernel program into C: loop nests (OpenMP, libmvec
    blocks: ``ckernel``) and products through BLAS or loops."""

    name = "cpu"

    def __init__(self, threads=True):
        self.threads = threads  # False: the kernels of a loop that runs on threads itself

    def step(self, step, blas):
        """(kernel C lines or None, its prototype lines, the C statement that runs it)."""
        threads = self.threads and ("with_blas" if blas else True)
        if isinstance(step, DotStep):
            return None, [], ckernel.product_call(step)
        if isinstance(step, GatherStep):
            kernel = ckernel.gather_kernel(step, threads=threads)
        elif isinstance(step, LinalgStep):
            kernel = linalg.kernel(step)
        elif isinstance(step, LoopKernel):
            kernel = ckernel.loop_kernel(step, threads=threads)
        else:
            kernel = ckernel.axis_kernel(step, threads=threads)
        return kernel.c_lines, kernel.prototype, kernel.call

    def rows(self, program, step):
        """A loop's independent rows (``lower.rows``): blocks of them run side by side."""
        return independent_rows(step, program.checks)

    def uses_blas(self, program):
        """Whether a step may call BLAS: a product, or a factorization or solve (LAPACK's
        call BLAS), of floats. The call then holds BLAS to one thread (``cg_blas_enter``)."""
        return _float_steps(program, (DotStep, LinalgStep))

    def factorizes(self, program):
        """Whether a step may call LAPACK: BLAS is then loaded as the call starts
        (``cg_blas_load``), before it is held."""
        return _float_steps(program, LinalgStep)

    def condition(self, name):
        """C test of a 0-d array being nonzero (an ifelse's condition)."""
        return f"({name}_p[0] != 0)"


def _float_steps(program, kinds):
    """Whether ``program`` has a step of ``kinds`` on the floats BLAS takes."""
    return any(isinstance(s, kinds) and s.out.dtype in ckernel.BLAS_DTYPES
               for s in all_steps(program.steps))


def step_function(program, base, kind="CODEGEN_KERNEL int", strategy=None, profile=False):
    """The step function of ``program``; ``base``: [(name, C type, ndim)] of the arrays its
    caller passes (every view not among them is computed inside); ``strategy``: how steps
    become kernels (the CPU's by default); ``profile``: time each step (``profile_kind``),
    adding to the array its last parameter, ``cg_prof``, points to (``PROFILE_HELPERS``).

    It returns 0, or 1 + the position in ``program.failures`` of the failure that stopped
    it (a step that may fail, a gather, is a call returning nonzero when it did: the steps
    after it do not run)."""
    strategy = strategy or CpuStrategy()
    blas = strategy.uses_blas(program)
    params, args = [], []
    for d, _, _ in program.dims:
        params.append(f"cg_index {d}")
        args.append(d)
    arrays = {}
    for name, ctype, ndim in base:
        params.append(f"{ctype}* {name}_p")
        args.append(f"{name}_p")
        for k in range(ndim):
            params.append(f"cg_index {name}_s{k}")
            args.append(f"{name}_s{k}")
        arrays[name] = ctype
    if profile:
        params.append("double* cg_prof")
        args.append("_profile_p")
    body = []
    views = {v.ref.name: v for v in program.views}

    def view(name):  # the view's pointer and strides, after those of the views it is of
        if name in arrays:
            return
        v = views[name]
        view(v.source)
        body.extend(view_lines(v, arrays[v.source], _dims_of(program, v.source)))
        arrays[name] = arrays[v.source]

    for step in program.steps:
        for name in reads(step) + writes(step):
            view(name)
    for step in program.steps:
        for name, _ in program.guards.get(step.name, ()):
            view(name)
    kernels, prototypes = [], []
    if blas:
        if strategy.factorizes(program):
            body.append("cg_blas_load();  /* before it is held: LAPACK calls it */")
        body.append("int cg_blas_before = cg_blas_enter();  /* BLAS on this call's threads */")
    failures = list(program.failures)
    checks = getattr(strategy, "checks", None)  # NaN and Inf checks of a debug build
    fallible = can_fail(program.steps) or checks
    if fallible:
        body += ["int cg_failed = 0;", "do {  /* a failing step breaks out */"]
    pad = "    " if fallible else ""
    emit = _Emitter(program, strategy, blas, kernels, prototypes)
    profiled = [] if profile else None
    if profile:
        body.append("double cg_prof_t0;  /* profile=True: when the step being timed began */")
    for step in program.steps:
        lines = emit.lines(step)
        for setup, test, message, *inputs in (checks(program, step) if checks else ()):
            # (a check may name the step's inputs it summarizes when it fails)
            failures.append((message, step.origins[-1].where, "float", *inputs))
            lines += (["{"] + ["    " + line for line in setup]
                      + [f"    if ({test}) {{", f"        cg_failed = {len(failures)};",
                         "        break;", "    }", "}"])
        if profile:
            lines = (["cg_prof_t0 = cg_profile_clock();"] + lines
                     + [f"cg_profile_add(cg_prof + {2 * len(profiled)}, cg_prof_t0);"])
            profiled.append((profile_kind(step), step.name, comment(step.origins[-1].text),
                             comment(step.origins[-1].where)))
        body += [pad + line for line in emit.guarded(step, lines)]
    if fallible:
        body.append("} while (0);")
    if blas:
        body.append("cg_blas_leave(cg_blas_before);")
    body.append(f"return {'cg_failed' if fallible else '0'};")
    name = step_name(program)
    head = ckernel._signature(kind, name, params, " {")
    lines = ([f"/* {program.name}: every kernel and product of one call, in order; returns 0, "
              f"or 1 + the failure that stopped it */"] + head
             + ["    " + line for line in body] + ["}"])
    return StepFunction(name, params, args, lines, ckernel._signature("int", name, params, ";"),
                        kernels, prototypes, blas, failures, profiled)


def profile_kind(step):
    """What a profile calls a step: a product, an elementwise kernel, a reduction, a gather
    (or scatter), a walk along an axis (argmax, cumsum, argsort) or a loop (a scan)."""
    if isinstance(step, DotStep):
        return "product"
    if isinstance(step, GatherStep):
        return step.kind
    if isinstance(step, ScanStep):
        return "loop"
    if isinstance(step, LoopKernel):
        return "reduction" if any(store.combine for store in step.stores) else "elementwise"
    if isinstance(step, AssertStep):
        return "assert"
    if isinstance(step, LinalgStep):
        return f"linalg ({step.op})"
    return f"axis ({step.op})"


def profile_helpers(sync=None):
    """C of the clock a profiled step function reads, and of adding a step's time to its
    slot; ``sync``: the statement that waits for the step's work to finish first (CUDA's
    stream), where it runs asynchronously."""
    return ["/* profile=True: a monotonic clock, in seconds, and a step's time and run added "
            "to its slot */",
            "#include <time.h>",
            "static inline double cg_profile_clock(void) {",
            "    struct timespec t;",
            "    clock_gettime(CLOCK_MONOTONIC, &t);",
            "    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;",
            "}",
            "",
            "static inline void cg_profile_add(double* slot, double t0) {",
            *([f"    {sync}"] if sync else []),
            "    slot[0] += cg_profile_clock() - t0;",
            "    slot[1] += 1;",
            "}"]


class _Emitter:
    """The C statements of steps, and the kernels they call (added to ``kernels``)."""

    def __init__(self, program, strategy, blas, kernels, prototypes):
        self.program, self.strategy, self.blas = program, strategy, blas
        self.kernels, self.prototypes = kernels, prototypes

    def lines(self, step):
        """The statements running ``step``; one that fails breaks out of the enclosing loop
        with ``cg_failed`` set to 1 + its failure."""
        origins = step.origins
        where = comment(origins[-1].where)
        note = f"/* {comment(origins[-1].text)}{f' [{where}]' if where else ''} */"
        if isinstance(step, ScanStep):
            kernel = scan_kernel(self.program, step, self.strategy, self.blas, self)
            if can_fail(step.steps):
                return [f"if ((cg_failed = {kernel.call})) break;  {note}"]
            return [f"{kernel.call};  {note}"]
        if isinstance(step, AssertStep):  # the condition read where it is
            return [f"if (!{self.strategy.condition(step.cond.name)}) {{  {note}",
                    f"    cg_failed = {step.failure + 1};  /* Assert */",
                    "    break;", "}"]
        c_lines, prototype, call = self.strategy.step(step, self.blas)
        if c_lines is not None:
            self.kernels.append(c_lines)
            self.prototypes += prototype
        if getattr(step, "failure", None) is not None:  # a gather, a singular matrix
            why = "an index out of range" if isinstance(step, GatherStep) else step.op
            return [f"if ({call}) {{  {note}",
                    f"    cg_failed = {step.failure + 1};  /* {why} */",
                    "    break;", "}"]
        *first, last = call.split("; ")  # several launches: a line each, the note on the last
        lines = [f"{part};" for part in first] + [f"{last};  {note}"]
        pair = copied(step)
        if pair is None:
            return lines
        # new state written in place: the copy it starts from is already there
        src, dst = pair
        differ = " || ".join([f"{dst}_p != {src}_p"] + [
            f"{dst}_s{a} != {src}_s{a}" for a, n in enumerate(step.operands[1].ref.dims)
            if n != "1"])
        return [f"if ({differ}) {{"] + ["    " + line for line in lines] + ["}"]

    def guarded(self, step, lines):
        """``lines`` under the conditions the step runs under (one branch of an ifelse)."""
        when = self.program.guards.get(step.name)
        if not when:
            return lines
        test = " && ".join(self.strategy.condition(name) if taken
                           else f"!{self.strategy.condition(name)}" for name, taken in when)
        return [f"if ({test}) {{"] + ["    " + line for line in lines] + ["}"]


def scan_kernel(program, step, strategy, blas, emit=None):
    """The C function running a loop (``ScanStep``): the call's dims and the arrays it
    touches in; each iteration computes its views, then runs the body's steps. It returns 0,
    or 1 + the failure that stopped it. Its body's kernels go to ``emit``'s list.

    A loop whose rows are independent (``strategy.rows``) runs as blocks of its rows, each
    the whole loop over its rows (``row_blocks``)."""
    emit = emit or _Emitter(program, strategy, blas, [], [])
    rows = strategy.rows(program, step)
    if rows:
        emit = _Emitter(program, type(strategy)(threads=False), blas, emit.kernels,
                        emit.prototypes)
    params, args = [], []
    for d, _, _ in program.dims:
        params.append(f"cg_index {d}")
        args.append(d)
    ctypes, dims = {}, {}
    for ref in step.arrays:
        ctype = cexpr.CTYPES[ref.dtype]
        params.append(f"{ctype}* {ref.name}_p")
        args.append(f"{ref.name}_p")
        for k in range(len(ref.dims)):
            params.append(f"cg_index {ref.name}_s{k}")
            args.append(f"{ref.name}_s{k}")
        ctypes[ref.name], dims[ref.name] = ctype, ref.dims
    inner = []
    for v in step.views:
        inner += view_lines(v, ctypes[v.source], dims[v.source])
        ctypes[v.ref.name], dims[v.ref.name] = ctypes[v.source], v.ref.dims
    for s in step.steps:
        inner += emit.guarded(s, emit.lines(s))
    if step.until:
        inner += [f"if ({strategy.condition(step.until)}) break;  /* until */"]
    origin = step.origins[-1]
    where = comment(origin.where)
    body = ["int cg_failed = 0;",
            f"for (cg_index {step.index} = 0; {step.index} < {step.length}; "
            f"{step.index}++) {{  /* {comment(origin.text)}{f' [{where}]' if where else ''} */"]
    body += ["    " + line for line in inner] + ["}", "return cg_failed;"]
    origins = [(origin.text, origin.where)]
    if rows:
        loop = ckernel.Kernel(f"{step.name}_rows", params, args, origins, body, "static int")
        emit.kernels.append(loop.c_lines)
        body = row_blocks(step, rows, loop, blas)
    kernel = ckernel.Kernel(step.name, params, args, origins, body, "CODEGEN_KERNEL int")
    emit.kernels.append(kernel.c_lines)
    emit.prototypes.extend(kernel.prototype)
    return kernel


#: A loop with independent rows (``lower.rows``) runs as blocks of at least ROW_BLOCK_MIN
#: rows, at most ROW_BLOCKS_MAX of them: the shape alone decides, so the bits do not depend
#: on the thread count. It runs whole where the weights its products read are larger than
#: ROW_SHARED_MAX bytes: there each block would read them from memory, where one product
#: over all the rows, shared among the threads, reads them once per iteration.
ROW_BLOCK_MIN, ROW_BLOCKS_MAX, ROW_SHARED_MAX = 8, 8, 2 << 20


def row_blocks(step, rows, loop, blas):
    """C body of a loop run as blocks of its independent rows, side by side on the call's
    threads: each block calls ``loop`` (the loop itself) with its rows (each array's data
    moved on to the block's first row, the rows' dim the block's length)."""
    d, axis = rows.dims[0], dict(rows.axes)
    args = [("cg_rows" if a in rows.dims else a)
            for a in loop.call[len(loop.name) + 1:-1].split(", ")]
    moved = {f"{name}_p": f"{name}_p + cg_first * {name}_s{k}"
             for name, k in axis.items() if k is not None}
    shared = " + ".join(f"(double)({' * '.join(f'({x})' for x in ref.dims)})"
                        f" * {np.dtype(ref.dtype).itemsize}"
                        for ref in _weights(step, axis)) or "0"
    when = "cg_blocks > 1 && cg_threads_allowed" + (" && cg_blas_ours" if blas else "")
    call = f"{loop.name}({', '.join(moved.get(a, a) for a in args)})"
    return [f"/* the rows along {d} are independent: blocks of them, each the whole loop on "
            f"its rows, side by side */",
            f"cg_index cg_blocks = _dim_min({d} / {ROW_BLOCK_MIN}, {ROW_BLOCKS_MAX});",
            f"if (cg_blocks < 1 || {shared} > {ROW_SHARED_MAX})",
            "    cg_blocks = 1;",
            f"cg_index cg_size = (({d}) + cg_blocks - 1) / cg_blocks;",
            f"#pragma omp parallel for schedule(static) if({when})",
            "for (cg_index cg_block = 0; cg_block < cg_blocks; cg_block++) {",
            "    cg_index cg_first = cg_block * cg_size;",
            f"    cg_index cg_rows = _dim_min(cg_size, ({d}) - cg_first);",
            f"    {call};",
            "}",
            "return 0;  /* such a loop gathers nothing: it cannot fail */"]


def _weights(step, axis):
    """The arrays without rows that the loop's products read (every block reads them)."""
    source = {v.ref.name: v.source for v in step.views}

    def root(name):
        while name in source:
            name = source[name]
        return name
    names = {root(r.name) for s in all_steps(step.steps) if isinstance(s, DotStep)
             for r in (s.a, s.b)}
    return [r for r in step.arrays if r.name in names and axis.get(r.name) is None]


def _dims_of(program, name):
    for group in (program.buffers, program.views):
        for item in group:
            if item.ref.name == name:
                return item.ref.dims
    dims = {}
    for d, array, axis in program.dims:
        dims.setdefault(array, {})[axis] = d
    for a in program.args:
        if a.name == name:
            return tuple(dims.get(name, {}).get(k, "1") for k in range(len(a.broadcastable)))
    for s in program.state:
        if s.local == name:
            return tuple(dims.get(name, {}).get(k, "1") for k in range(len(s.broadcastable)))
    for cname, data in program.constants:
        if cname == name:
            return tuple(str(n) for n in data.shape)
    raise KeyError(f"no array {name!r} in program {program.name}")


def view_lines(v, ctype, src_dims):
    """C lines computing view ``v``'s pointer and strides from its source's (integer
    indices were checked by the caller: see ``Lowerer._add_index_checks``)."""
    name, src = v.ref.name, v.source
    text = comment(v.text())
    lines = []
    if v.kind == "axes":
        lines.append(f"{ctype}* {name}_p = {src}_p;  /* {text} */")
        for a, axis in enumerate(v.axes):
            lines.append(f"cg_index {name}_s{a} = {'0' if axis is None else f'{src}_s{axis}'};")
    elif v.kind == "index":
        offset, out_axis = [], 0
        for k, item in enumerate(v.index):
            if isinstance(item, str):
                n = src_dims[k]
                offset.append(f"({item} < 0 ? {item} + ({n}) : {item}) * {src}_s{k}"
                              if not item.isdigit() else f"{item} * {src}_s{k}")
                continue
            step = item.step or 1
            given = (item.start is not None) | ((item.stop is not None) << 1)
            if item.start is not None or step < 0:
                offset.append(f"cg_slice_start({src_dims[k]}, {item.start or 0}, {step}, "
                              f"{given}) * {src}_s{k}")
            stride = f"{step} * {src}_s{k}" if step != 1 else f"{src}_s{k}"
            lines.append(f"cg_index {name}_s{out_axis} = {stride};")
            out_axis += 1
        lines.insert(0, f"{ctype}* {name}_p = {src}_p + {' + '.join(offset) or '0'};  "
                        f"/* {text} */")
    elif v.kind in ("reshape", "contiguous"):
        # a reshape reads a C-contiguous source (a buffer, a constant, or a contiguous view)
        lines.append(f"{ctype}* {name}_p = {src}_p;  /* {text} */")
        for a, st in enumerate(contiguous_strides(v.ref.dims)):
            lines.append(f"cg_index {name}_s{a} = {st};")
    else:
        raise NotImplementedError(f"a step function cannot compute a {v.kind} view")
    return lines


#: The dims helpers (``lower.program``'s dim language) and the slice start, in C.
DIM_HELPERS = """\
/* dims: a // b (0 when b is 0), the smaller of two, and numpy's slice rules */
static inline cg_index _dim_div(cg_index a, cg_index b) {
    return b != 0 ? a / b : 0;
}

static inline cg_index _dim_min(cg_index a, cg_index b) {
    return a < b ? a : b;
}

static inline cg_index _slice_len(cg_index n, cg_index start, cg_index stop, cg_index step,
                                  int given) {
    cg_index lo, hi;
    if (n < 0)  /* range(n) is empty (arange of a negative length) */
        n = 0;
    if (step > 0) {
        lo = (given & 1) ? (start < 0 ? start + n : start) : 0;
        hi = (given & 2) ? (stop < 0 ? stop + n : stop) : n;
        lo = lo < 0 ? 0 : (lo > n ? n : lo);
        hi = hi < 0 ? 0 : (hi > n ? n : hi);
        return hi > lo ? (hi - lo + step - 1) / step : 0;
    }
    lo = (given & 1) ? (start < 0 ? start + n : start) : n - 1;
    hi = (given & 2) ? (stop < 0 ? stop + n : stop) : -1;
    lo = lo < -1 ? -1 : (lo > n - 1 ? n - 1 : lo);
    hi = hi < -1 ? -1 : (hi > n - 1 ? n - 1 : hi);
    return lo > hi ? (lo - hi - step - 1) / (-step) : 0;
}

/* the first index a slice takes (numpy's rules; an empty slice may start past the end) */
static inline cg_index cg_slice_start(cg_index n, cg_index start, cg_index step, int given) {
    cg_index lo;
    if (step > 0) {
        lo = (given & 1) ? (start < 0 ? start + n : start) : 0;
        return lo < 0 ? 0 : (lo > n ? n : lo);
    }
    lo = (given & 1) ? (start < 0 ? start + n : start) : n - 1;
    return lo < -1 ? -1 : (lo > n - 1 ? n - 1 : lo);
}
""".split("\n")[:-1]
