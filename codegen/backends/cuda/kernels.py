"""CUDA kernels from the kernel program: the strategy of the CUDA backend for the C layer.

- A map (a loop kernel that stores only) is a grid-stride kernel over all its elements, each
  thread turning its flat index into loop indices; 64-bit indexing throughout. Each thread
  takes UNROLL elements a trip, loading all of their operands before computing any: the
  loads in flight together are what keeps the card's memory busy. A map of two
  or more axes whose operands each span every axis (or none) has a second, contiguous
  variant, chosen at run time when all of them are C-contiguous: there the flat index is the
  offset, with no divisions.
- A loop kernel with reductions is a thread per element of the reductions' targets (a row
  sum: a thread per row), each summing the reduced axes in the CPU's order, or, chosen at
  run time for few targets over many elements each, a warp per target element, its lanes
  combined by shuffles in a fixed order: deterministic either way (no float atomics).
  Reductions to scalars split the elements among blocks, combined by a
  tree in shared memory and warp shuffles, then a second kernel of one block. A loop whose
  reductions follow different axes (the MLP's cost and its bias gradient, fused) is launched
  once per set of axes, each launch computing the body and storing that set's targets (the
  last also its plain stores, so that an earlier launch never reads a value a store has
  replaced).
- argmax, cumsum, cumprod, the positions of nonzero elements (a walk along an axis): a thread
  per row, or tiles of long rows shared by a block's threads (``walks``); a vector's argsort
  from RADIX_MIN elements: a radix sort by the whole grid (``radix``); the rows of a
  matrix's argsort and the random streams: a thread per row.
- Products: the CPU's functions (``cg_gemm_d`` ..., so that ``ckernel.product_call``
  serves both): float matrix products above CUBLAS_MIN through cuBLAS's gemm, the rest
  plain kernels, one thread per output element summing along k in order.

Kernels are launched through ``CG_LAUNCH(kernel, blocks, threads, args...)``, which is
``kernel<<<blocks, threads>>>(args...)`` under nvcc and a loop over blocks and threads in the
emulation (``emulation.h``), so that the same ``.cu`` runs on the host in tests.
"""

import re
from dataclasses import replace

from codegen.backends import cexpr, ckernel, linalg
from codegen.backends.ckernel import Kernel, _index, identity
from codegen.backends.cuda import radix, walks
from codegen.lower.program import AxisStep, DotStep, GatherStep, LinalgStep, LoopKernel, results
from codegen.lower.program import reads as step_reads

#: The C table on CUDA: C_OPS, with what differs. The CPU's tanh (expm1 form, for libmvec)
#: stays out: CUDA's tanh is fast and as accurate.
CUDA_OPS = {**cexpr.C_OPS, "tanh": "tanh{f}({0})"}

#: Threads per block of every launch (a power of two, at least 64).
THREADS = 256
#: A reduction to scalars splits its elements among at most this many blocks, each writing
#: one partial result per target into the module's partials buffer, which one block then
#: combines; at most MAX_TOTALS targets per kernel (more run on one thread).
PARTIAL_BLOCKS, MAX_TOTALS = 1024, 8
#: Elements a thread takes per trip of the grid-stride loop of a map or of a reduction to
#: scalars, blockDim.x apart (a warp's loads stay side by side), every operand of all of
#: them loaded before any is computed. One load in flight per thread left an H200's memory
#: two-thirds idle (W3 at 1e8 elements: 31 % of the copy rate).
UNROLL = 4
#: A reduction whose targets follow some loop axes takes a warp per target element when
#: there are at most this many targets, each of at least 32 elements (2M threads at most);
#: else a thread per target element. (Not yet measured on a device: a first choice.)
WARP_TARGETS = 65536
# the tiled walks' partial results (a value and an index each, at most) fit the buffer
assert walks.PARTIAL_TILES * 16 <= PARTIAL_BLOCKS * MAX_TOTALS * 8


def loop_kernel(kernel):
    """(Kernel, whether it is a map) for a ``LoopKernel``."""
    n = len(kernel.dims)
    params, args = ckernel.loop_signature(kernel)
    dim_params = {}

    def dim(text):
        return dim_params.setdefault(text, f"d{len(dim_params)}")

    def body_of(loads, targets=None):  # ``targets``: where the stores go, if not ``loads``
        body = [f"{cexpr.CTYPES[a.dtype]} {a.local} = "
                f"{cexpr.render(a.expr, loads.__getitem__, dim, CUDA_OPS)};"
                for a in kernel.body]
        for store in kernel.stores:
            target = (targets or loads)[store.operand]
            value = (cexpr.COMBINE[store.combine].format(target, store.local) if store.combine
                     else store.local)
            body.append(f"{target} = {value};")
        return body

    loads = {i: f"{op.ref.name}[{_index(op.ref.name, op.axes)}]"
             for i, op in enumerate(kernel.operands)}
    body = body_of(loads)
    read = _Reads(loads)
    body_of(read, loads)
    registers = {i: f"cg_v{i}[cg_u]" for i in sorted(read.keys_read)}
    declared = [f"{cexpr.CTYPES[kernel.operands[i].ref.dtype]} cg_v{i}[{UNROLL}];"
                for i in registers]

    def unrolled(loads):  # (preloads, body) of one of a trip's elements
        return ([f"{registers[i]} = {loads[i]};" for i in registers],
                body_of({**loads, **registers}, loads))

    reduces = any(store.combine for store in kernel.stores)
    if not reduces:
        total = " * ".join(f"n{a}" for a in range(n)) or "1"
        lines = grid_stride(total, _flat_to_indices(list(range(n))), *unrolled(loads),
                            declared)
        test = _contiguous_test(kernel)
        flat_loads = {i: f"{op.ref.name}[{'e' if _spans_all(op, n) else '0'}]"
                      for i, op in enumerate(kernel.operands)}
        if test and not any(re.search(r"\bi\d+\b", line) for line in body_of(flat_loads)):
            # (a body reading the loop indices themselves, a random draw's, has no variant)
            head = ("if (" + "\n        && ".join(test) + ") {").splitlines()
            flat = grid_stride(total, [], *unrolled(flat_loads), declared)
            lines = (["/* every operand C-contiguous: the flat index is the offset */", *head]
                     + ["    " + line for line in flat]
                     + ["} else {"] + ["    " + line for line in lines] + ["}"])
    else:
        kept = _kept_axes(kernel)
        if len(kept) == 1 and next(iter(kept)):
            lines = _per_output_element(kernel, next(iter(kept)), loads, body)
        elif kept == {()} and sum(1 for st in kernel.stores if st.combine) <= MAX_TOTALS:
            preload, body = unrolled(loads)
            return _block_reduction(kernel, params, args, loads, body, dim_params,
                                    preload, declared), "total"
        else:
            lines = _one_thread(kernel, body)
    for text, name in dim_params.items():
        params.append(f"cg_index {name}")
        args.append(text)
    origins = [(o.text, o.where) for o in kernel.origins]
    parallel = not reduces or len(kept) == 1 and bool(next(iter(kept)))
    return Kernel(kernel.name, params, args, origins, lines, "__global__ void"), parallel


def reduction_groups(kernel):
    """The kernels that run ``kernel`` when its reductions follow different sets of axes:
    one per set, in order of the sets, with that set's reductions; the last also does the
    plain stores. Otherwise [kernel]."""
    kept_of = {k: tuple(loop for loop, axis in enumerate(kernel.operands[st.operand].axes)
                        if axis is not None)
               for k, st in enumerate(kernel.stores) if st.combine}
    sets = sorted(set(kept_of.values()))
    if len(sets) < 2:
        return [kernel]
    groups = []
    for j, kept in enumerate(sets):
        stores = tuple(st for k, st in enumerate(kernel.stores)
                       if kept_of.get(k) == kept or (j == len(sets) - 1 and not st.combine))
        groups.append(replace(kernel, name=f"{kernel.name}_{j}", stores=stores))
    return groups


def _spans_all(op, n):
    return [a for a in op.axes] == list(range(n))


def _contiguous_test(kernel):
    """The run-time tests of a map's contiguous variant (all its operands C-contiguous over
    the loop's shape; an axis of length 1 takes any stride), or None where it has none: one
    axis (no divisions to save), or an operand that spans some axes but not all."""
    n = len(kernel.dims)
    if n < 2 or not all(_spans_all(op, n) or all(a is None for a in op.axes)
                        for op in kernel.operands):
        return None
    terms = []
    for op in kernel.operands:
        if not _spans_all(op, n):
            continue
        for k in range(n):
            inner = " * ".join(f"n{j}" for j in range(k + 1, n)) or "1"
            terms.append(f"(n{k} == 1 || {op.ref.name}_s{k} == {inner})")
    return terms or None


def trips(total):
    """The C expression of the threads a grid-stride loop of ``total`` elements (a C
    expression) needs: one per UNROLL elements."""
    return f"({total} + {UNROLL - 1}) / {UNROLL}"


class _Reads(dict):
    """The loads of a kernel's operands, noting which of them a body reads."""

    def __init__(self, loads):
        super().__init__(loads)
        self.keys_read = set()

    def __getitem__(self, key):
        self.keys_read.add(key)
        return super().__getitem__(key)


def _flat_to_indices(axes):
    """Lines turning the flat index ``e`` into the loop indices ``i{a}`` of ``axes``."""
    if not axes:
        return []
    lines = ["cg_index rest = e;"] if len(axes) > 1 else []
    for a in reversed(axes[1:]):
        lines += [f"const cg_index i{a} = rest % n{a};", f"rest /= n{a};"]
    return lines + [f"const cg_index i{axes[0]} = {'rest' if len(axes) > 1 else 'e'};"]


def grid_stride(total, index, preload, body, declared=()):
    """Lines of a grid-stride loop over ``total`` elements in which each thread takes UNROLL
    elements a trip, blockDim.x apart: first each element's ``preload`` (its operands into
    the registers ``declared``), then each element's ``body``, in order; ``index``: the lines
    giving an element's loop indices from its flat index ``e``, ahead of both."""
    lines = [f"const cg_index total = {total};", *declared,
             f"for (cg_index base = blockIdx.x * (cg_index)blockDim.x * {UNROLL} + threadIdx.x;",
             f"        base < total; base += (cg_index)gridDim.x * blockDim.x * {UNROLL}) {{"]
    for part in ([preload] if preload else []) + [body]:
        lines += ["    #pragma unroll",
                  f"    for (int cg_u = 0; cg_u < {UNROLL}; cg_u++) {{",
                  "        const cg_index e = base + cg_u * (cg_index)blockDim.x;",
                  "        if (e < total) {"]
        lines += ["            " + line for line in index + part]
        lines += ["        }", "    }"]
    return lines + ["}"]


def threads_over(axes, n, body, before=()):
    """Lines of a grid-stride loop with a thread per element of the loop axes ``axes`` (of
    ``n``; each thread turns its flat index into those ``i{a}``), running ``before`` and
    then, in order, the other axes' loops around ``body``."""
    total = " * ".join(f"n{a}" for a in axes) or "1"
    lines = [f"const cg_index total = {total};",
             "for (cg_index e = blockIdx.x * (cg_index)blockDim.x + threadIdx.x; e < total;",
             "        e += (cg_index)gridDim.x * blockDim.x) {"]
    lines += ["    " + line for line in _flat_to_indices(axes)]
    inner, depth = list(before), 0
    for a in range(n):
        if a not in axes:
            inner.append("    " * depth + f"for (cg_index i{a} = 0; i{a} < n{a}; i{a}++) {{")
            depth += 1
    inner += ["    " * depth + line for line in body]
    inner += ["    " * d + "}" for d in reversed(range(depth))]
    return lines + ["    " + line for line in inner] + ["}"]


def _per_output_element(kernel, kept, loads, body):
    """A reduction whose targets all follow the loop axes ``kept``, in two variants chosen at
    run time by the sizes (``cg_warp_per_element``): a thread per element of those axes
    (grid-stride), summing the other axes in the CPU's order; or, for few targets over many
    elements each (a bias gradient: a few hundred rows of a few hundred), a warp per element
    of the targets, whose lanes split the reduced elements (lane l takes l, l + 32, ...: side
    by side in memory where the reduced axis is the contiguous one) and combine them by warp
    shuffles in a fixed order. Both are deterministic."""
    n = len(kernel.dims)
    start = [f"{loads[st.operand]} = {identity(st.combine, kernel.operands[st.operand].ref.dtype)};"
             for st in kernel.stores if st.combine]
    by_thread = threads_over(list(kept), n, body, start)
    reduced = [a for a in range(n) if a not in kept]
    if not reduced:
        return by_thread
    targets = [st for st in kernel.stores if st.combine]
    body, types = _into_registers(kernel, targets, loads, body)  # each lane sums its own

    def split(flat, axes):  # the loop indices of `axes` from their flat index
        out = [f"cg_index rest = {flat};"] if len(axes) > 1 else []
        for a in reversed(axes[1:]):
            out += [f"const cg_index i{a} = rest % n{a};", f"rest /= n{a};"]
        return out + [f"const cg_index i{axes[0]} = {'rest' if len(axes) > 1 else flat};"]

    by_warp = ["/* every thread of a block runs the same rounds (the shuffles need all of a "
               "warp) */",
               "const cg_index lane = threadIdx.x % 32, warps = blockDim.x / 32;",
               "for (cg_index base = blockIdx.x * warps; base < cg_targets;",
               "        base += (cg_index)gridDim.x * warps) {",
               "    const cg_index e = base + threadIdx.x / 32;"]
    by_warp += [f"    {t} acc{j} = {ident};" for j, (t, ident) in enumerate(types)]
    by_warp += ["    {"] + ["        " + line for line in split("e", list(kept))]
    by_warp += ["        if (e < cg_targets) {",
                "            for (cg_index r = lane; r < cg_reduced; r += 32) {"]
    by_warp += ["                " + line for line in split("r", reduced) + body]
    by_warp += ["            }", "        }"]
    for j, (st, (t, _)) in enumerate(zip(targets, types)):
        c = cexpr.COMBINE[st.combine]
        by_warp += ["        for (int off = 16; off > 0; off >>= 1) {",
                    f"            {t} other = __shfl_down_sync(0xffffffffu, acc{j}, off);",
                    f"            acc{j} = " + c.format(f"acc{j}", "other") + ";",
                    "        }"]
    by_warp += ["        if (e < cg_targets && lane == 0) {"]
    by_warp += [f"            {loads[st.operand]} = acc{j};" for j, st in enumerate(targets)]
    by_warp += ["        }", "    }", "}"]
    kept_total = " * ".join(f"n{a}" for a in kept)
    reduced_total = " * ".join(f"n{a}" for a in reduced)
    return ([f"const cg_index cg_targets = {kept_total}, cg_reduced = {reduced_total};",
             "if (cg_warp_per_element(cg_targets, cg_reduced)) {  /* a warp per target */"]
            + ["    " + line for line in by_warp]
            + ["} else {  /* a thread per target */"]
            + ["    " + line for line in by_thread] + ["}"])


def per_output_blocks(step):
    """The blocks of a launch of a reduction kernel whose targets follow one set of loop
    axes: one thread per target element, or a warp each (``_per_output_element``)."""
    kept = _parallel_axes(step)
    total = " * ".join(f"({step.dims[a]})" for a in kept) or "1"
    reduced = " * ".join(f"({d})" for a, d in enumerate(step.dims) if a not in kept)
    if not reduced:
        return f"cg_blocks({total})"
    return (f"cg_blocks(cg_warp_per_element({total}, {reduced}) ? ({total}) * 32 "
            f": ({total}))")


def _into_registers(kernel, targets, loads, body):
    """``body`` with the stores of reduction ``targets`` combining into registers acc0,
    acc1, ... instead, and the (C type, identity) of each register."""
    body = list(body)
    for j, st in enumerate(targets):
        target = loads[st.operand]
        old = f"{target} = " + cexpr.COMBINE[st.combine].format(target, st.local) + ";"
        body[body.index(old)] = f"acc{j} = " + cexpr.COMBINE[st.combine].format(
            f"acc{j}", st.local) + ";"
    types = [(cexpr.CTYPES[kernel.operands[st.operand].ref.dtype],
              identity(st.combine, kernel.operands[st.operand].ref.dtype)) for st in targets]
    return body, types


def _tree(red, combine, ctype, identity_text, value):
    """Lines combining the block's values in shared array ``red`` into ``value`` on thread 0:
    a tree over shared memory down to a warp, then warp shuffles; every thread takes part
    (the fixed order makes the result the same every run)."""
    c = cexpr.COMBINE[combine]
    return [f"{red}[threadIdx.x] = {value};",
            "__syncthreads();",
            "for (unsigned int s = blockDim.x / 2; s >= 32; s >>= 1) {",
            f"    if (threadIdx.x < s) {red}[threadIdx.x] = "
            + c.format(f"{red}[threadIdx.x]", f"{red}[threadIdx.x + s]") + ";",
            "    __syncthreads();",
            "}",
            f"{value} = threadIdx.x < 32 ? {red}[threadIdx.x] : {identity_text};",
            "for (int off = 16; off > 0; off >>= 1) {",
            # every thread shuffles once per round (the combine may name its operand twice)
            f"    {ctype} other = __shfl_down_sync(0xffffffffu, {value}, off);",
            f"    {value} = " + c.format(value, "other") + ";",
            "}"]


def _block_reduction(kernel, params, args, loads, body, dim_params, preload, declared):
    """A loop kernel whose reductions are all to scalars: a grid-stride pass in which each
    thread combines its elements, a tree and warp shuffles per block into the partials
    buffer, and a second kernel of one block combining the blocks' partials into the
    targets. Deterministic: the blocks, each thread's elements and the trees depend on the
    sizes alone."""
    n = len(kernel.dims)
    totals = [(k, st) for k, st in enumerate(kernel.stores) if st.combine]
    body, types = _into_registers(kernel, [st for _, st in totals], loads, body)
    lines = [f"__shared__ {t} cg_red{j}[{THREADS}];" for j, (t, _) in enumerate(types)]
    lines += [f"{t} acc{j} = {ident};" for j, (t, ident) in enumerate(types)]
    total = " * ".join(f"n{a}" for a in range(n)) or "1"
    lines += grid_stride(total, _flat_to_indices(list(range(n))), preload, body, declared)
    for j, ((_, st), (t, ident)) in enumerate(zip(totals, types)):
        lines += _tree(f"cg_red{j}", st.combine, t, ident, f"acc{j}")
        lines.append(f"if (threadIdx.x == 0) (({t}*)cg_partials)[{j * PARTIAL_BLOCKS} + "
                     f"blockIdx.x] = acc{j};")
    for text, name in dim_params.items():
        params.append(f"cg_index {name}")
        args.append(text)
    params = params + ["char* cg_partials"]
    args = args + ["cg_partials"]
    origins = [(o.text, o.where) for o in kernel.origins]
    first = Kernel(kernel.name, params, args, origins, lines, "__global__ void")
    # the second: the blocks' partials into the targets
    size = " * ".join(f"({d})" for d in kernel.dims) or "1"
    f_params = ["cg_index nblocks", "const char* cg_partials"]
    f_args = [f"cg_blocks_of_totals({trips(size)})", "cg_partials"]
    f_lines = [f"__shared__ {t} cg_red{j}[{THREADS}];" for j, (t, _) in enumerate(types)]
    for j, ((_, st), (t, ident)) in enumerate(zip(totals, types)):
        op = kernel.operands[st.operand]
        f_params.append(f"{t}* {op.ref.name}")
        f_args.append(f"{op.ref.name}_p")
        c = cexpr.COMBINE[st.combine]
        f_lines += [f"{t} acc{j} = {ident};",
                    "for (cg_index b = threadIdx.x; b < nblocks; b += blockDim.x)",
                    f"    acc{j} = " + c.format(f"acc{j}", f"((const {t}*)cg_partials)"
                                                f"[{j * PARTIAL_BLOCKS} + b]") + ";"]
        f_lines += _tree(f"cg_red{j}", st.combine, t, ident, f"acc{j}")
        f_lines.append(f"if (threadIdx.x == 0) {op.ref.name}[0] = acc{j};")
    finish = Kernel(f"{kernel.name}_total", f_params, f_args,
                    [(f"the blocks' partial results of {kernel.name}", "")], f_lines,
                    "__global__ void")
    return first, finish


def _one_thread(kernel, body):
    """More reductions to scalars than a block reduction holds (MAX_TOTALS) in one loop: its
    whole loop nest on one thread, in the CPU's order."""
    return (["if (blockIdx.x != 0 || threadIdx.x != 0) return;  /* one thread: in order */"]
            + ckernel.reduction_init(kernel) + ckernel._loops(len(kernel.dims), body))


def axis_kernel(step):
    """A walk along one axis (argmax, cumsum, cumprod), one thread per row."""
    params, args, outer, base, out_base = ckernel.axis_signature(step)
    total = " * ".join(f"n{j}" for j in range(len(outer))) or "1"
    lines = [f"const cg_index total = {total};",
             "for (cg_index e = blockIdx.x * (cg_index)blockDim.x + threadIdx.x; e < total;",
             "        e += (cg_index)gridDim.x * blockDim.x) {",
             "    cg_index rest = e;"]
    for j in reversed(range(1, len(outer))):
        lines += [f"    const cg_index i{j} = rest % n{j};", f"    rest /= n{j};"]
    if outer:
        lines.append("    const cg_index i0 = rest;")
    lines += ["    " + line for line in ckernel.axis_row_pointers(step, base, out_base)
              + ckernel.axis_row(step)] + ["}"]
    origins = [(o.text, o.where) for o in step.origins]
    return Kernel(step.name, params, args, origins, lines, "__global__ void")


def gather_kernel(step):
    """(kernel and its launching function, the launching call) of a gather or scatter: a
    gather is a thread per element (grid-stride); a scatter a thread per element of the axes
    around the indexed ones, which runs through the index arrays' shape in order, so that
    repeated indices add up in the CPU's order (deterministic, no atomics). An index out of
    range sets the module's fault flag; the launching function returns it (cg_faulted). A
    search (searchsorted) is a thread per element too, and cannot fail."""
    params, args, element, r, m = ckernel.gather_signature(step)
    axis = step.axis
    spread = list(range(r)) if step.kind != "scatter" else \
        [a for a in range(r) if not axis <= a < axis + m]
    total = " * ".join(f"n{a}" for a in spread) or "1"
    lines = threads_over(spread, r, element("*cg_fault = 1;"))
    origins = [(o.text, o.where) for o in step.origins]
    kernel = Kernel(step.name, params + ["int* cg_fault"], args + ["cg_fault"], origins, lines,
                    "__global__ void")
    launcher = f"{step.name}_run"
    sizes = ", ".join([p.split()[-1] for p in params] + ["cg_fault"])
    run = ckernel._signature("static int", launcher, params, " {")
    c_lines = kernel.c_lines
    if step.kind == "scatter":  # every index first (a kernel of its own): see index_check
        axes, body = ckernel.index_check(step, m, "*cg_fault = 1;")
        checks = Kernel(f"{step.name}_indices", params + ["int* cg_fault"], args + ["cg_fault"],
                        origins, threads_over(axes, 0, body),  # a thread per index, no loops
                        "__global__ void")
        c_lines = checks.c_lines + [""] + c_lines
        indices = " * ".join(f"n{a}" for a in axes) or "1"
        run += [f"    CG_LAUNCH({checks.name}, cg_blocks({indices}), {THREADS}, {sizes});",
                "    if (cg_faulted()) return 1;  /* nothing written */"]
    run += [f"    CG_LAUNCH({step.name}, cg_blocks({total}), {THREADS}, {sizes});",
            # a search cannot fail: nothing to read back (a CUDA graph can capture it)
            "    return 0;" if step.failure is None else "    return cg_faulted();",
            "}"]
    return c_lines + [""] + run, kernel.prototype, f"{launcher}({', '.join(args)})"


#: The GPU's way of running a linear algebra step's phases (``backends.linalg``): one
#: block, its threads sharing each phase's rows, thread 0 the serial parts.
BLOCK = linalg.Par(tid="threadIdx.x", nthreads="blockDim.x", barrier="__syncthreads();",
                   shared="__shared__ ",
                   fail=("if (threadIdx.x == 0) *cg_fault = 1;", "return;"))


def linalg_kernel(step):
    """(kernel and its launching function, the launching call) of a factorization or solve:
    one block of THREADS threads (the phases of one matrix depend on each other); a matrix
    that stops it sets the module's fault flag, which the launching function returns."""
    k = linalg.kernel(step, BLOCK, "__global__ void", [("int* cg_fault", "cg_fault")])
    params, args = linalg.signature(step)
    launcher = f"{step.name}_run"
    sizes = ", ".join([p.split()[-1] for p in params] + ["cg_fault"])
    run = ckernel._signature("static int", launcher, params, " {")
    run += [f"    CG_LAUNCH({step.name}, 1, {THREADS}, {sizes});",
            "    return cg_faulted();",
            "}"]
    return k.c_lines + [""] + run, k.prototype, f"{launcher}({', '.join(args)})"


def _array_ref(program, name):
    """The ArrayRef called ``name`` in ``program`` (a buffer or a view), or None."""
    for item in list(program.buffers) + list(program.views):
        if item.ref.name == name:
            return item.ref
    return None


def _kept_axes(kernel):
    """The distinct sets of loop axes that a kernel's reduction targets follow."""
    return {tuple(loop for loop, axis in enumerate(kernel.operands[st.operand].axes)
                  if axis is not None) for st in kernel.stores if st.combine}


def _parallel_axes(kernel):
    """The loop axes a kernel's threads split: all of a map's, a reduction's kept ones."""
    kept = _kept_axes(kernel)
    if not kept:
        return tuple(range(len(kernel.dims)))
    return next(iter(kept)) if len(kept) == 1 else ()


def launch(kernel, is_map, total, blocks=None):
    """The C launch of a kernel over ``total`` elements (a C expression); ``blocks``: the
    launch's blocks where they are not cg_blocks(total)."""
    blocks = blocks or (f"cg_blocks({total})" if is_map else "1")
    threads = str(THREADS) if is_map else "1"
    args = kernel.call[len(kernel.name) + 1:-1]  # the call is name(args)
    return f"CG_LAUNCH({kernel.name}, {blocks}, {threads}, {args})"


class Strategy:
    """How the CUDA backend turns the steps of a kernel program into kernels and launches
    (the CPU's is ``cstep.CpuStrategy``)."""

    name = "cuda"

    def __init__(self, guard=None):
        self.guard = guard
        if guard:
            self.checks = self._checks

    def _checks(self, program, step):
        """NanGuardMode on the device: after a step, each float array it wrote is checked
        where it is (a kernel sets the fault flag); [(C lines before, C test, failure
        message, ((name, dtype) of each input summarized))]."""
        from codegen.backends.cstep import _dims_of
        nan, inf, big = self.guard
        flags = int(bool(nan)) | int(bool(inf)) << 1 | int(bool(big)) << 2

        dtypes = {**{a.name: a.dtype for a in program.args},
                  **{s.local: s.dtype for s in program.state},
                  **{name: str(data.dtype) for name, data in program.constants},
                  **{item.ref.name: item.ref.dtype
                     for item in list(program.buffers) + list(program.views)}}

        def floats(names):
            """[(name, its dims, its dtype)] of the float arrays among ``names``."""
            return [(name, list(_dims_of(program, name)), dtypes[name])
                    for name in dict.fromkeys(names)
                    if dtypes.get(name, "").startswith("float")]

        def layout(tag, name, dims):
            n = ", ".join([f"(cg_index)({d})" for d in dims] + ["0"])
            st = ", ".join([f"{name}_s{k}" for k in range(len(dims))] + ["0"])
            return f"const cg_index cg_n{tag}[] = {{{n}}}, cg_s{tag}[] = {{{st}}};"

        # a failing check summarizes the step's float inputs as the CPU's does (up to
        # CG_SUMMARIZED of them: kernels.h.j2)
        inputs = floats(read for read in step_reads(step) if read not in results(step))[:8]
        summary = [layout(f"_in{k}", name, dims) for k, (name, dims, _) in enumerate(inputs)]
        summarize = "".join(f" && cg_summarize({k}, {name}_p, {len(dims)}, cg_n_in{k}, "
                            f"cg_s_in{k})" for k, (name, dims, _) in enumerate(inputs))
        out = []
        for name, dims, _ in floats(results(step)):
            out.append(([layout("", name, dims)] + summary,
                        f"cg_nonfinite({name}_p, {len(dims)}, cg_n, cg_s, {flags}){summarize}",
                        f"{step.name}: produced NaN, Inf or values above 1e10 in {name} "
                        f"(NanGuardMode, on the device): {step.origins[-1].text}",
                        tuple((name, dtype) for name, _, dtype in inputs)))
        return out

    def step(self, step, blas):
        """(kernel C lines or None, its prototype lines, the C statement that runs it)."""
        if isinstance(step, DotStep):
            return None, [], ckernel.product_call(step)
        if isinstance(step, LoopKernel) and len(reduction_groups(step)) > 1:
            parts = [self.step(group, blas) for group in reduction_groups(step)]
            return ([line for lines, _, _ in parts for line in lines + [""]][:-1],
                    [line for _, prototype, _ in parts for line in prototype],
                    "; ".join(call for _, _, call in parts))
        if isinstance(step, LoopKernel):
            kernel, is_map = loop_kernel(step)
            if is_map == "total":  # two kernels: the blocks' partials, then the totals
                first, finish = kernel
                total = " * ".join(f"({d})" for d in step.dims) or "1"
                call = (f"CG_LAUNCH({first.name}, cg_blocks_of_totals({trips(total)}), "
                        f"{THREADS}, "
                        f"{first.call[len(first.name) + 1:-1]}); "
                        f"CG_LAUNCH({finish.name}, 1, {THREADS}, "
                        f"{finish.call[len(finish.name) + 1:-1]})")
                return first.c_lines + [""] + finish.c_lines, \
                    first.prototype + finish.prototype, call
            total = " * ".join(f"({step.dims[a]})" for a in _parallel_axes(step)) or "1"
            if is_map and any(st.combine for st in step.stores):
                return kernel.c_lines, kernel.prototype, launch(kernel, is_map, total,
                                                                per_output_blocks(step))
            if is_map:  # a map: UNROLL elements a thread
                return kernel.c_lines, kernel.prototype, launch(
                    kernel, is_map, total, f"cg_blocks({trips(total)})")
        elif isinstance(step, GatherStep):
            return gather_kernel(step)
        elif isinstance(step, LinalgStep):
            return linalg_kernel(step)
        elif isinstance(step, AxisStep):
            kernel, is_map = axis_kernel(step), True
            if step.op in walks.TILED_OPS:  # a thread per row, or tiles: chosen at run time
                return walks.kernels(step, THREADS, kernel)
            if step.op == "argsort" and step.work is not None:  # a vector's: by the grid
                return radix.kernels(step, THREADS, kernel)
            total = " * ".join(f"({step.x.dims[a]})" for a in step.outer_axes()) or "1"
        else:
            raise NotImplementedError(f"the CUDA backend cannot run a {step.kind} step")
        return kernel.c_lines, kernel.prototype, launch(kernel, is_map, total)

    def uses_blas(self, program):
        return False

    def rows(self, program, step):
        """None: on the GPU every row of a loop is a thread of its kernels already."""
        return None

    def condition(self, name):
        """Whether a 0-d array in device memory is nonzero (read on the host: an ifelse's
        condition decides which launches happen)."""
        return f"cg_device_true({name}_p)"


#: Above this many multiply-adds a float product calls cuBLAS (when its operands' strides
#: let it), below it the plain kernel.
CUBLAS_MIN = 32768


def _cublas_branch(dtype, x, beta, when=""):
    """C lines of a product that calls cuBLAS's gemm (row-major c = a.b as column-major
    c^T = b^T a^T, the transposes from the strides, beta = 1 to add into c) when cuBLAS was
    loaded and the sizes and strides allow; nothing for integer products."""
    if dtype not in ("float32", "float64"):
        return ""
    T = cexpr.CTYPES[dtype]
    alpha = "alpha" if beta == "1" else f"({T})1"
    return f"""    char ta, tb;
    int lda, ldb;
    if ({when}cg_cublas_{x}gemm != NULL && m * n * k > {CUBLAS_MIN} && m < 2147483647
            && n < 2147483647 && k < 2147483647 && (c0 >= n || m == 1)
            && cg_layout(m, k, a0, a1, &ta, &lda) && cg_layout(k, n, b0, b1, &tb, &ldb)) {{
        const {T} scale = {alpha}, keep = ({T}){beta};
        int ldc = (int)(m > 1 && c0 > 0 ? c0 : (n > 1 ? n : 1));
        cg_cublas_{x}gemm(cg_cublas_handle, tb == 'T', ta == 'T', (int)n, (int)m, (int)k,
                          &scale, b, ldb, a, lda, &keep, c, ldc);
        return;
    }}
"""


def products(dtypes, accumulating=()):
    """C lines of the products of ``dtypes``: one kernel per element type, and host functions
    with the CPU's names and arguments (``cg_gemm_d``, ``cg_gemm_acc_d``, ``cg_gemv_d``,
    ``cg_dotv_d``) that launch it."""
    lines = []
    for dtype in dtypes:
        T, x = cexpr.CTYPES[dtype], ckernel.PRODUCT_SUFFIX[dtype]
        gemm_cublas = _cublas_branch(dtype, x, "0")
        acc_cublas = _cublas_branch(dtype, x, "1", "c1 == 1 && ")
        lines += f"""
/* c[i, j] (+)= alpha * sum_p a[i, p] b[p, j], one thread per element of c, p in order */
__global__ void cg_product_{x}(cg_index m, cg_index n, cg_index k, const {T}* a, cg_index a0,
        cg_index a1, const {T}* b, cg_index b0, cg_index b1, {T}* c, cg_index c0,
        cg_index c1, {T} alpha, int accumulate) {{
    for (cg_index e = blockIdx.x * (cg_index)blockDim.x + threadIdx.x; e < m * n;
            e += (cg_index)gridDim.x * blockDim.x) {{
        const cg_index i = e / n, j = e % n;
        {T} acc = k > 0 ? a[i * a0] * b[j * b1] : 0;
        for (cg_index p = 1; p < k; p++) acc += a[i * a0 + p * a1] * b[p * b0 + j * b1];
        c[i * c0 + j * c1] = accumulate ? c[i * c0 + j * c1] + alpha * acc : acc;
    }}
}}

static void cg_gemm_{x}(cg_index m, cg_index n, cg_index k, const {T}* a, cg_index a0,
        cg_index a1, const {T}* b, cg_index b0, cg_index b1, {T}* c, cg_index c0) {{
{gemm_cublas}    CG_LAUNCH(cg_product_{x}, cg_blocks(m * n), {THREADS}, m, n, k, a, a0, a1, b, b0,
              b1, c, c0, 1, ({T})1, 0);
}}

static void cg_gemv_{x}(cg_index m, cg_index k, const {T}* a, cg_index a0, cg_index a1,
        const {T}* v, cg_index v0, {T}* y, cg_index y0) {{
    CG_LAUNCH(cg_product_{x}, cg_blocks(m), {THREADS}, m, 1, k, a, a0, a1, v, v0, 0, y, y0, 0,
              ({T})1, 0);
}}

static void cg_dotv_{x}(cg_index k, const {T}* u, cg_index u0, const {T}* v, cg_index v0,
        {T}* out) {{
    CG_LAUNCH(cg_product_{x}, 1, 1, 1, 1, k, u, 0, u0, v, v0, 0, out, 0, 0, ({T})1, 0);
}}
""".split("\n")
        if dtype in accumulating:
            lines += f"""static void cg_gemm_acc_{x}(cg_index m, cg_index n, cg_index k,
        const {T}* a, cg_index a0, cg_index a1, const {T}* b, cg_index b0, cg_index b1,
        {T}* c, cg_index c0, cg_index c1, {T} alpha) {{
{acc_cublas}    CG_LAUNCH(cg_product_{x}, cg_blocks(m * n), {THREADS}, m, n, k, a, a0, a1, b, b0,
              b1, c, c0, c1, alpha, 1);
}}
""".split("\n")
    return lines
