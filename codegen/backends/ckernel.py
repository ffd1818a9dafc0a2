"""C source for loop kernels (fused elementwise/reduction loops, argmax and cumulative sums)
and for the
products (BLAS above a size, plain loops below it and for integers).

Every compiled backend runs C kernels: the Cython backend embeds them verbatim in the .pyx
(compiled at -O3, as a file of their own under ``codegen build``, while the Python-facing
glue around them is compiled quickly), and a CUDA backend can render the same kernel
programs with its own table.
"""

from codegen.backends import cexpr
from codegen.ops import fft, mrg


def comment(text):
    """One line of free text, safe inside a C comment inside a Python string literal."""
    text = " ".join(str(text).split())
    return text.replace("*/", "* /").replace('"""', "'''").replace("\\", "/")


def _index(name, axes, unit_inner=False):
    """Element offset of an operand; ``unit_inner``: the innermost stride is known to be 1."""
    last = len(axes) - 1
    terms = [f"i{loop}" if unit_inner and loop == last else f"i{loop} * {name}_s{axis}"
             for loop, axis in enumerate(axes) if axis is not None]
    return " + ".join(terms) or "0"


def _nest(n, inner, before_inner=(), after_inner=(), outer_pragma=None):
    """``n`` nested loops; ``inner`` gives the lines of the innermost loop (with its for)."""
    lines = [outer_pragma] if outer_pragma and n > 1 else []
    for a in range(n - 1):
        lines.append("    " * a + f"for (cg_index i{a} = 0; i{a} < n{a}; i{a}++) {{")
    pad = "    " * max(n - 1, 0)
    lines += [pad + line for line in list(before_inner) + list(inner) + list(after_inner)]
    lines += ["    " * a + "}" for a in reversed(range(n - 1))]
    return lines


def _inner_loop(n, body, pragma=None):
    head = [pragma] if pragma else []
    return head + [f"for (cg_index i{n - 1} = 0; i{n - 1} < n{n - 1}; i{n - 1}++) {{"] + \
        ["    " + line for line in body] + ["}"]


def _loops(n, body):
    if n == 0:
        return list(body)
    return _nest(n, _inner_loop(n, body))


_SIMD_REDUCTION = {"add": "+", "mul": "*"}

# Loops over at least this many elements run on OpenMP threads (OMP_NUM_THREADS): below it,
# waking the threads costs more than it saves (measured with benchmarks/ on 2 cores).
PARALLEL_MIN = 65536


def _parallel_pragma(kernel, n, simd, row_acc, threads=True):
    """(the OpenMP pragma that splits the outermost loop among threads, the C condition under
    which it does), or None; ``threads`` "with_blas" (a function that calls BLAS): only while
    BLAS shares the call's threads.

    Rows are independent unless a reduction target is shared between them: with one loop,
    per-thread partial sums are combined by the reduction clause (+ and * only); with
    several, every reduction target must have its own element per outer index.
    """
    if n == 0:
        return None
    for store in kernel.stores:
        if not store.combine:
            continue
        op = kernel.operands[store.operand]
        if n == 1:
            if store.operand not in row_acc or store.combine not in _SIMD_REDUCTION:
                return None
        elif op.axes[0] is None:
            return None
    return ("#pragma omp parallel for schedule(static)",
            _threads_test(threads, [f"n{a}" for a in range(n)]))


def _threads_test(threads, lengths, also=""):
    """The C condition under which a loop over ``lengths`` (their product) runs on threads:
    threads allowed, BLAS not holding them (``threads`` "with_blas"), enough elements."""
    ours = "cg_blas_ours && " if threads == "with_blas" else ""
    return f"cg_threads_allowed && {ours}{also}{' * '.join(lengths)} >= {PARALLEL_MIN}"


def identity(combine, dtype):
    """The C literal a reduction starts from: 0, 1, or the type's extreme for max/min."""
    if combine in ("add", "mul"):
        return "0" if combine == "add" else "1"
    low = combine == "maximum"
    if dtype.startswith("float"):
        return "(-INFINITY)" if low else "INFINITY"
    if dtype == "bool":
        return "0" if low else "1"
    bits = dtype.lstrip("uint")
    if dtype.startswith("u"):
        return "0" if low else f"UINT{bits}_MAX"
    return f"INT{bits}_MIN" if low else f"INT{bits}_MAX"


def _signature(kind, name, params, end):
    """Lines of a C function head, its parameters one per line when they do not fit one."""
    head = f"{kind} {name}(" + ", ".join(params) + ")" + end
    if len(head) > 96:
        head = f"{kind} {name}(\n        " + ",\n        ".join(params) + ")" + end
    return head.split("\n")


def _function(name, params, origins, body, kind="CODEGEN_KERNEL void"):
    """C lines of one kernel: a comment per graph node it computes, signature, body."""
    lines = [f"/* {comment(text)}" + (f"   [{comment(where)}]" if where else "") + " */"
             for text, where in origins]
    lines += _signature(kind, name, params, " {")
    lines += ["    " + line for line in body]
    lines.append("}")
    return lines


class Kernel:
    """A rendered kernel: its C lines, parameter list and the call with run-time values."""

    def __init__(self, name, params, args, origins, body, kind="CODEGEN_KERNEL void"):
        self.name = name
        self.origins = [(comment(t), comment(w)) for t, w in origins]
        self.c_lines = _function(name, params, origins, body, kind)
        returns = kind.split()[-1]  # void, or int for a kernel that may fail
        self.prototype = _signature(returns, name, params, ";")
        self.declaration = _signature(returns, name, params, " nogil")  # Cython's
        self.call = f"{name}({', '.join(args)})"


def loop_signature(kernel):
    """(params, args) of a loop kernel, whichever target runs it: the loop lengths ``n0``...,
    then each operand's pointer and the strides of the axes it is indexed along."""
    params = [f"cg_index n{a}" for a in range(len(kernel.dims))]
    args = list(kernel.dims)
    for op in kernel.operands:
        const = "const " if op.role == "in" else ""
        params.append(f"{const}{cexpr.CTYPES[op.ref.dtype]}* {op.ref.name}")
        args.append(f"{op.ref.name}_p")
        for axis in sorted({a for a in op.axes if a is not None}):
            params.append(f"cg_index {op.ref.name}_s{axis}")
            args.append(f"{op.ref.name}_s{axis}")
    return params, args


def loop_kernel(kernel, table=cexpr.C_OPS, threads=True):
    """A fused loop: per element, load operands, compute the assignments, store or reduce.

    The innermost loop comes in two versions: one for operands that are contiguous along it
    (plain ``x[i]`` indexing that gcc vectorizes, sums with an ``omp simd`` reduction) and a
    strided one. Reductions along the innermost loop accumulate in a register per row.
    ``threads``: whether large loops may run on OpenMP threads (True), only while BLAS runs
    on the call's threads too ("with_blas", in functions with products), or never (False).
    """
    n = len(kernel.dims)
    params, args = loop_signature(kernel)
    dim_params = {}
    policy = threads

    def dim(text):
        return dim_params.setdefault(text, f"d{len(dim_params)}")

    before, after, after_accs, simd, row_acc = [], [], [], [], {}
    for store in kernel.stores:
        op = kernel.operands[store.operand]
        if store.combine and n and op.axes[-1] is None and op.ref.dtype.startswith("float"):
            acc = f"acc{len(before)}"  # reduced along the innermost loop: a register per row
            row_acc[store.operand] = acc
            target = f"{op.ref.name}[{_index(op.ref.name, op.axes)}]"
            before.append(f"{cexpr.CTYPES[op.ref.dtype]} {acc} = "
                          f"{identity(store.combine, op.ref.dtype)};")
            after.append(f"{target} = " + cexpr.COMBINE[store.combine].format(target, acc) + ";")
            after_accs.append(acc)
            simd.append(_SIMD_REDUCTION.get(store.combine) and
                        f"reduction({_SIMD_REDUCTION[store.combine]}:{acc})")

    def loads_of(unit_inner):
        return {i: f"{op.ref.name}[{_index(op.ref.name, op.axes, unit_inner)}]"
                for i, op in enumerate(kernel.operands)}

    def body(unit_inner, replace=None, unused=()):
        loads = loads_of(unit_inner)
        lines = _assignments(kernel, loads, dim, table, replace, unused)
        for store in kernel.stores:
            target = row_acc.get(store.operand, loads[store.operand])
            value = (cexpr.COMBINE[store.combine].format(target, store.local) if store.combine
                     else store.local)
            lines.append(f"{target} = {value};")
        return lines

    init = reduction_init(kernel)
    if n == 0:
        lines = init + body(False)
    else:
        inner_strides = [f"{op.ref.name}_s{op.axes[-1]} == 1" for op in kernel.operands
                         if op.axes[-1] is not None]
        # sums may be reassociated to vectorize: no -ffast-math, NaN/Inf are unaffected
        # (a buffer a kernel writes shares memory with one it reads only element for
        # element, so every iteration of the contiguous inner loop is independent)
        pragma = " ".join(["#pragma omp simd"] + simd) if all(simd) else None
        threads, condition = (_parallel_pragma(kernel, n, simd, row_acc, threads) if threads
                              else None) or (None, None)
        split = _split_calls(kernel, loads_of(True), dim, table, n - 1)
        serial = None  # the pragma of the loop when it runs on this thread
        if threads and n == 1:  # one loop: threads and vector lanes share it
            serial = None if split else pragma
            pragma = threads.replace("parallel for", "parallel for simd") + \
                (" " + " ".join(simd) if simd else "")
            threads = None
        if split:
            calls, replace, unused = split
            inner = _blocked_loop(n, calls, body(True, replace, unused), pragma, simd)
        else:
            inner = _inner_loop(n, body(True), pragma)
        # The contiguity test sits outside the whole nest: gcc leaves a reduction loop
        # unvectorized when the test sits between the outer and the inner loop.
        # Threads for the contiguous and the strided nest (a reduction over a transposed
        # view: pooling a convolution's output), not the single-column one, chosen by a C
        # test around it: an OpenMP region that its if() clause runs on one thread still
        # sets up a team, about 1 us a loop (W1's step: 25%).
        totals = _row_totals(kernel, row_acc) if policy and not threads and n == 2 else None
        if totals:
            contiguous = init + _chunked_rows(inner, before, after, after_accs, totals, policy)
        else:
            contiguous = init + _threads_or_not(_nest(n, inner, before, after, threads),
                                                condition, serial)
        if inner_strides:
            # vector math in blocks here too: the calls take a block of strided loads
            split = _split_calls(kernel, loads_of(False), dim, table, n - 1)
            if split:
                calls, replace, unused = split
                strided_inner = _blocked_loop(n, calls, body(False, replace, unused), None,
                                              simd)
            else:
                strided_inner = _inner_loop(n, body(False))
            strided = _threads_or_not(_nest(n, strided_inner, before, after, threads),
                                      threads and condition, None)
            lines = ([f"if ({' && '.join(inner_strides)}) {{"]
                     + ["    " + line for line in contiguous] + ["} else {"]
                     + ["    " + line for line in init + strided] + ["}"])
        else:
            lines = contiguous
        if n > 1 and not any(store.combine for store in kernel.stores):
            lines = _single_column(kernel, table, dim) + ["} else {"] + \
                ["    " + line for line in lines] + ["}"]
    for text, name in dim_params.items():
        params.append(f"cg_index {name}")
        args.append(text)
    origins = [(o.text, o.where) for o in kernel.origins]
    exact = any(cexpr.converts_float_to_int(a.expr) for a in kernel.body)
    return Kernel(kernel.name, params, args, origins, lines,
                  "CODEGEN_KERNEL CG_EXACT_CASTS void" if exact else "CODEGEN_KERNEL void")


#: Row chunks of a loop that sums a whole 2-d array to one value (``sum(W * W)``): each chunk
#: of rows is summed on its own, by whichever thread, then the chunks' sums in order, so the
#: result does not depend on the number of threads.
ROW_CHUNKS = 64


def _row_totals(kernel, row_acc):
    """[(register, target, combine, C type, dtype)] of the whole-array reductions that keep a
    2-d loop off the threads, when they are all that does (each reduced along the rows into
    its register, then into one element); else None."""
    totals = []
    for store in kernel.stores:
        if not store.combine:
            continue
        op = kernel.operands[store.operand]
        if op.axes[0] is not None:
            continue  # one target per row: rows stay independent
        if store.operand not in row_acc or op.axes != (None, None) \
                or store.combine not in _SIMD_REDUCTION:
            return None
        totals.append((row_acc[store.operand], f"{op.ref.name}[0]", store.combine,
                       cexpr.CTYPES[op.ref.dtype], op.ref.dtype))
    return totals or None


def _chunked_rows(inner, before, after, after_accs, totals, policy):
    """The loop nest of a 2-d kernel with whole-array reductions, on threads when large: the
    rows in ROW_CHUNKS fixed chunks, each chunk's total kept apart, then the totals added in
    chunk order (the same bits on any number of threads). Small loops run as before."""
    acc_of = {acc for acc, *_ in totals}
    per_row = [line for line, acc in zip(after, after_accs) if acc not in acc_of]
    when = "cg_threads_allowed && cg_blas_ours" if policy == "with_blas" \
        else "cg_threads_allowed"
    lines = [f"if (n0 * n1 >= {PARALLEL_MIN}) {{"]
    lines += [f"    {ctype} cg_chunk_{acc}[{ROW_CHUNKS}];" for acc, _, _, ctype, _ in totals]
    lines += [f"    #pragma omp parallel for schedule(static) if({when})",
              f"    for (cg_index cg_c = 0; cg_c < {ROW_CHUNKS}; cg_c++) {{"]
    lines += [f"        {ctype} cg_part_{acc} = {identity(combine, dtype)};"
              for acc, _, combine, ctype, dtype in totals]
    lines += [f"        for (cg_index i0 = cg_c * n0 / {ROW_CHUNKS}; i0 < (cg_c + 1) * n0 / "
              f"{ROW_CHUNKS}; i0++) {{"]
    lines += ["            " + line for line in list(before) + list(inner) + per_row]
    lines += ["            " + f"cg_part_{acc} = "
              + cexpr.COMBINE[combine].format(f"cg_part_{acc}", acc) + ";"
              for acc, _, combine, _, _ in totals]
    lines += ["        }"]
    lines += [f"        cg_chunk_{acc}[cg_c] = cg_part_{acc};" for acc, *_ in totals]
    lines += ["    }", f"    for (cg_index cg_c = 0; cg_c < {ROW_CHUNKS}; cg_c++) {{"]
    lines += [f"        {target} = "
              + cexpr.COMBINE[combine].format(target, f"cg_chunk_{acc}[cg_c]") + ";"
              for acc, target, combine, _, _ in totals]
    lines += ["    }", "} else {"]
    lines += ["    " + line for line in _nest(2, inner, before, after)]
    return lines + ["}"]


def reduction_init(kernel):
    """C lines setting every reduction target of a loop kernel to its identity (the kernel
    sets its targets' start, not its callers), whichever target runs it."""
    init = []
    for store in kernel.stores:
        if store.combine:
            op = kernel.operands[store.operand]
            mapped = [loop for loop, axis in enumerate(op.axes) if axis is not None]
            for depth, loop in enumerate(mapped):
                init.append("    " * depth + f"for (cg_index i{loop} = 0; i{loop} < n{loop}; "
                            f"i{loop}++)")
            init.append("    " * len(mapped) + f"{op.ref.name}[{_index(op.ref.name, op.axes)}] = "
                        f"{identity(store.combine, op.ref.dtype)};")
    return init


def _assignments(kernel, loads, dim, table, replace=None, unused=()):
    """C lines of a kernel's scalar assignments (but ``unused``), operands read through
    ``loads``."""
    return [f"{cexpr.CTYPES[a.dtype]} {a.local} = "
            f"{cexpr.render(a.expr, loads.__getitem__, dim, table, replace)};"
            for a in kernel.body if a.local not in unused]


#: Elements per block in kernels that call vector math (``cexpr.C_CALLS``): the calls of a
#: block go to buffers on the stack (2 KB each in double), then the rest of the body reads
#: them, so that the divisions no longer wait behind each call in turn. Measured on W1's
#: hidden layer (exp, then a division per element), per 4000 elements: 11.3 -> 9.7 us while
#: the core ran slow, 7.05 -> 6.77 us while it ran fast; the block size mattered little.
CALL_BLOCK = 256


def _split_calls(kernel, loads, dim, table, d):
    """((buffer declarations, C lines that make one element's vector math calls into the
    block's buffers), a ``replace`` for ``cexpr.render`` that reads the buffers instead, the
    locals the rest of the body no longer needs), or None when the kernel makes no call whose
    arguments are computed without one. ``d``: the innermost loop, whose element in the block
    is ``j{d}``."""
    calls = {op for op in cexpr.C_CALLS if table.get(op) == cexpr.C_OPS[op]}
    plain = {}  # local -> its expression, for locals computed without any call

    def free(expr):
        if expr.op == "local":
            return expr.value in plain
        return expr.op not in calls and all(free(a) for a in expr.args)

    for a in kernel.body:
        if free(a.expr):
            plain[a.local] = a
    buffers, args_use = {}, set()  # call text -> (buffer name, C type); locals the calls read

    def hoisted(expr):
        return expr.op in calls and all(free(a) for a in expr.args)

    def replace(expr):
        if not hoisted(expr):
            return None
        ctype, f = cexpr.CTYPES[expr.dtype], "f" if expr.dtype == "float32" else ""
        args = cexpr.render_args(expr, loads.__getitem__, dim, table)
        call, rest = cexpr.C_CALLS[expr.op]
        call = call.format(*args, out=ctype, f=f)
        name = buffers.setdefault(call, (f"cgb{len(buffers)}", ctype))[0]
        args_use.update(*(_locals(a) for a in expr.args))
        return rest.format(h=f"{name}[j{d}]", out=ctype, f=f)

    for a in kernel.body:  # find the calls (the text is made again where used)
        cexpr.render(a.expr, loads.__getitem__, dim, table, replace)
    if not buffers:
        return None
    needed, stack = set(), sorted(args_use)
    while stack:
        local = stack.pop()
        if local not in needed:
            needed.add(local)
            stack += sorted(_locals(plain[local].expr))
    every = {a.local for a in kernel.body}
    lines = _assignments(kernel, loads, dim, table, unused=every - needed)
    lines += [f"{name}[j{d}] = {call};" for call, (name, _) in buffers.items()]
    decls = [f"{ctype} {name}[{CALL_BLOCK}];" for name, ctype in buffers.values()]
    # the rest of the body leaves out what only the calls' arguments needed
    kept = {store.local for store in kernel.stores}
    for a in reversed(kernel.body):
        if a.local in kept:
            kept |= _locals(a.expr, hoisted)
    return (decls, lines), replace, every - kept


def _locals(expr, skip=lambda expr: False):
    """Names of the locals ``expr`` reads, not looking inside subexpressions ``skip`` picks."""
    if expr.op == "local":
        return {expr.value}
    if skip(expr) or not expr.args:
        return set()
    return set().union(*(_locals(a, skip) for a in expr.args))


def _threads_or_not(lines, condition, serial):
    """``lines`` with the loop under their OpenMP ``parallel`` pragma twice: under it where
    ``condition`` holds, else on this thread, under the pragma ``serial`` (the plain
    ``omp simd`` one where threads and vector lanes shared the loop) or none."""
    if condition is None:
        return lines
    i = next(k for k, line in enumerate(lines) if line.lstrip().startswith("#pragma omp parallel"))
    pad = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    end = lines.index(pad + "}", i + 2)  # the loop's closing brace
    loop = ["    " + x for x in lines[i + 1:end + 1]]
    return (lines[:i] + [f"{pad}if ({condition}) {{", "    " + lines[i]] + loop
            + [pad + "} else {"] + ([pad + "    " + serial] if serial else []) + loop
            + [pad + "}"] + lines[end + 1:])


def _blocked_loop(n, calls, body, pragma, simd):
    """The contiguous innermost loop in blocks of CALL_BLOCK: a loop making the block's
    vector math calls, then the body. With one loop, threads share out the blocks."""
    (decls, call_lines), d = calls, n - 1
    if pragma and "parallel" in pragma:  # threads take blocks, vector lanes the elements
        outer = pragma.replace("parallel for simd", "parallel for")
        pragma = " ".join(["#pragma omp simd"] + simd)
    else:
        outer = None
    lines = [outer] if outer else []
    lines += [f"for (cg_index blk{d} = 0; blk{d} < n{d}; blk{d} += {CALL_BLOCK}) {{",
              f"    const cg_index blen{d} = n{d} - blk{d} < {CALL_BLOCK} ? n{d} - blk{d} "
              f": {CALL_BLOCK};"]
    lines += ["    " + line for line in decls]
    for head, inner in (("#pragma omp simd", call_lines), (pragma, body)):
        lines += (["    " + head] if head else []) + [
            f"    for (cg_index j{d} = 0; j{d} < blen{d}; j{d}++) {{",
            f"        const cg_index i{d} = blk{d} + j{d};"]
        lines += ["        " + line for line in inner] + ["    }"]
    return lines + ["}"]


def _single_column(kernel, table, dim):
    """The head of a map kernel's branch for an innermost dimension of length 1 (a column,
    such as a batch of one): the loop over the dimension before it becomes the inner one, so
    that it is vectorized when contiguous instead of calling scalar math once per row."""
    n = len(kernel.dims)
    outer = [op for op in kernel.operands if op.axes[n - 2] is not None]
    test = [f"n{n - 1} == 1"] + [f"{op.ref.name}_s{op.axes[n - 2]} == 1" for op in outer]
    loads = {i: f"{op.ref.name}[{_index(op.ref.name, op.axes[:-1], True)}]"
             for i, op in enumerate(kernel.operands)}
    body = _assignments(kernel, loads, dim, table)
    body += [f"{loads[store.operand]} = {store.local};" for store in kernel.stores]
    nest = _nest(n - 1, _inner_loop(n - 1, body, "#pragma omp simd"))
    if any(_reads_index(a.expr, n - 1) for a in kernel.body):
        nest = [f"const cg_index i{n - 1} = 0;  /* the column's one element */"] + nest
    return [f"if ({' && '.join(test)}) {{"] + ["    " + line for line in nest]


def _reads_index(expr, axis):
    """Whether ``expr`` reads the loop index of ``axis`` (``Expr('index')``)."""
    if expr.op == "index":
        return expr.value == axis
    return any(_reads_index(a, axis) for a in expr.args)


def axis_signature(step):
    """(params, args, outer axes, the row's offset, the output row's offset) of a kernel
    walking along one axis (``AxisStep``), whichever target runs it: loop i{j} runs over outer
    axis j, k along the axis."""
    x, out = step.x, step.out
    outer = step.outer_axes()
    params = [f"cg_index n{j}" for j in range(len(outer))] + ["cg_index m"]
    args = [x.dims[a] for a in outer] + [x.dims[step.axis]]
    params += [f"const {cexpr.CTYPES[x.dtype]}* {x.name}"] + [f"cg_index {x.name}_s{a}"
                                                              for a in range(len(x.dims))]
    args += [f"{x.name}_p"] + [f"{x.name}_s{a}" for a in range(len(x.dims))]
    out_axes = step.out_axes()
    params += [f"{cexpr.CTYPES[out.dtype]}* {out.name}"] + [f"cg_index {out.name}_s{j}"
                                                            for j in range(len(out_axes))]
    args += [f"{out.name}_p"] + [f"{out.name}_s{j}" for j in range(len(out_axes))]
    if step.work is not None:  # contiguous, the step's own
        params.append(f"{cexpr.CTYPES[step.work.dtype]}* {step.work.name}")
        args.append(f"{step.work.name}_p")
    if step.count is not None:
        params.append("cg_index count")
        args.append(step.count)
    base = " + ".join(f"i{j} * {x.name}_s{a}" for j, a in enumerate(outer)) or "0"
    out_base = " + ".join(f"i{j} * {out.name}_s{out_axes.index(a)}"
                          for j, a in enumerate(outer)) or "0"
    return params, args, outer, base, out_base


def axis_row(step):
    """The C lines of one row of an ``AxisStep`` (``row`` and ``dst`` point at it)."""
    x, out = step.x, step.out
    ctype, otype = cexpr.CTYPES[x.dtype], cexpr.CTYPES[out.dtype]
    load = f"row[k * {x.name}_s{step.axis}]"
    if step.op == "argmax":  # the first maximal element wins, NaN counts as maximal
        return ["cg_index best_k = 0;",
                f"{ctype} best = row[0];",
                "for (cg_index k = 1; k < m; k++) {",
                f"    {ctype} v = {load};",
                "    if (best == best && (v > best || v != v)) {",
                "        best = v;",
                "        best_k = k;",
                "    }",
                "}",
                "dst[0] = best_k;"]
    step_s = f"{out.name}_s{step.out_axes().index(step.axis)}"
    if step.op in fft.OPS:
        rows = len(step.outer_axes())
        index = "i0" if rows else "0"
        for j in range(1, rows):
            index = f"({index}) * n{j} + i{j}"
        return fft.row_lines(step, index, f"{x.name}_s{step.axis}",
                             f"{x.name}_s{len(x.dims) - 1}", step_s,
                             f"{out.name}_s{len(out.dims) - 1}")
    if step.op.startswith("mrg_"):
        return mrg.row_lines(step, f"{x.name}_s{step.axis}", step_s)
    if step.op == "positions":  # count: the number of nonzero elements, out's length
        return ["cg_index found = 0;",
                "for (cg_index k = 0; k < m; k++) {",
                f"    if ({load} != 0) {{",
                f"        if (found < count) dst[found * {step_s}] = k;",
                "        found++;",
                "    }",
                "}"]
    if step.op == "argsort":
        if step.work is None:
            return _argsort_row(step, step_s)
        return ([f"if (m >= {RADIX_MIN}) {{"]
                + ["    " + line for line in _radix_argsort_row(step, step_s)]
                + ["} else {"]
                + ["    " + line for line in _argsort_row(step, step_s)]
                + ["}"])
    # a running sum or product in the output's dtype, in order, starting from the first
    # element itself (so a first -0.0 stays -0.0, as in numpy)
    sign = _SIMD_REDUCTION[step.op]
    return ["if (m > 0) {",
            f"    {otype} acc = ({otype})row[0];",
            "    dst[0] = acc;",
            "    for (cg_index k = 1; k < m; k++) {",
            f"        acc = acc {sign} ({otype}){load};",
            f"        dst[k * {step_s}] = acc;",
            "    }",
            "}"]


#: the end of a radix sort's pass: the keys and indices written become those read
RADIX_SWAP = ["uint64_t* keys_from = keys;",
              "keys = keys_to;",
              "keys_to = keys_from;",
              "int64_t* was = from;",
              "from = to;",
              "to = was;"]

#: vectors this long or longer are argsorted by a radix sort (``_radix_argsort_row``)
RADIX_MIN = 1024  # about where the two take the same time here


def _radix_argsort_row(step, step_s):
    """A radix sort of a vector's indices by keys that order as its values (numpy's stable
    order: NaNs after every number, -0.0 as 0.0), least significant byte first, so equal
    keys keep their order; a byte every key has is skipped (a float32's upper four, ...).
    In the step's memory (``lowering.argsort_work``): the keys and the indices, each twice
    (read from one, written to the other), and the counts of each byte's values."""
    x, work = step.x, step.work.name
    ctype = cexpr.CTYPES[x.dtype]
    load = f"row[k * {x.name}_s{step.axis}]"
    key = radix_key(x.dtype)
    return (["uint64_t* keys = (uint64_t*)" + work + ";",
             "uint64_t* keys_to = keys + m;",
             f"int64_t* from = {work} + 2 * m;",
             f"int64_t* to = {work} + 3 * m;",
             f"int64_t* count = {work} + 4 * m;  /* of byte b's values: count[256 * b + value] */",
             "for (cg_index d = 0; d < 2048; d++) {",
             "    count[d] = 0;",
             "}",
             "for (cg_index k = 0; k < m; k++) {",
             f"    {ctype} v = {load};"]
            + ["    " + line for line in key]
            + ["    keys[k] = u;",
               "    from[k] = k;",
               "    for (int b = 0; b < 8; b++) {",
               "        count[256 * b + ((u >> (8 * b)) & 255)]++;",
               "    }",
               "}",
               "for (int b = 0; b < 8; b++) {",
               "    int64_t* c = count + 256 * b;",
               "    if (c[(keys[0] >> (8 * b)) & 255] == m) continue;  /* a byte all keys have */",
               "    for (cg_index d = 0, total = 0; d < 256; d++) {",
               "        cg_index here = c[d];",
               "        c[d] = total;",
               "        total += here;",
               "    }",
               "    for (cg_index k = 0; k < m; k++) {",
               "        uint64_t u = keys[k];",
               "        cg_index at = c[(u >> (8 * b)) & 255]++;",
               "        keys_to[at] = u;",
               "        to[at] = from[k];",
               "    }"]
            + ["    " + line for line in RADIX_SWAP]
            + ["}",
               "for (cg_index k = 0; k < m; k++) {",
               f"    dst[k * {step_s}] = from[k];",
               "}"])


def radix_key(dtype, narrow=False):
    """C lines setting ``uint64_t u`` to the radix sort's key of ``v`` (a ``dtype`` value):
    keys order as the values in numpy's sort (NaNs after every number, -0.0 as 0.0). A
    float32's key has 32 bits; a signed int's is offset by 2^63, or with ``narrow`` by half
    its own range (so that it has as many bytes as the int)."""
    ctype = cexpr.CTYPES[dtype]
    if dtype in ("float64", "float32"):
        bits, top = ("64", "0x8000000000000000ULL") if dtype == "float64" else \
            ("32", "0x80000000ULL")
        last = "UINT64_MAX" if bits == "64" else "0xFFFFFFFFULL"
        return [f"union {{ {ctype} f; uint{bits}_t u; }} bits;",
                "bits.f = v;",
                "uint64_t u = bits.u;",
                f"u = u & {top} ? ~u & {last} : u | {top};  /* negatives reversed, below */",
                f"if (v != v) u = {last};",
                f"else if (v == 0) u = {top};  /* -0.0 as 0.0 */"]
    if dtype[0] == "i" and narrow and dtype != "int64":
        half = 1 << (int(dtype[3:]) - 1)
        return [f"uint64_t u = (uint64_t)((int64_t)v + {half}LL);"]
    if dtype[0] == "i":
        return ["uint64_t u = (uint64_t)(int64_t)v ^ 0x8000000000000000ULL;"]
    return ["uint64_t u = (uint64_t)v;"]


#: rows longer than this are partitioned (argsort's introsort); shorter runs are left to
#: the insertion sort that ends it
ARGSORT_RUN = 16


def _argsort_row(step, step_s):
    """An introsort of the indices 0..m-1 in ``dst`` by (value, index): a total order (NaNs,
    which no comparison orders, after every number), so any correct sort gives numpy's
    stable argsort. In place, no memory of its own. Quicksort partitions (Hoare's, about a
    median of three) down to runs of ``ARGSORT_RUN`` elements, the larger side of each kept
    on a stack while the smaller is partitioned (at most 64 deep); a range partitioned
    2 log2(m) + 2 times over is heapsorted instead (so n log n at worst); one insertion sort
    over the row then orders each run, since no element is outside its own."""
    x, itype = step.x, cexpr.CTYPES[step.out.dtype]
    ctype = cexpr.CTYPES[x.dtype]

    def at(k):
        return f"dst[({k}) * {step_s}]"

    def value(i):
        return f"row[({i}) * {x.name}_s{step.axis}]"

    def less(a, b):
        """C lines setting ``lt``: whether the element indexed by ``a`` sorts before the
        one indexed by ``b`` (both index expressions)."""
        if x.dtype[0] != "f":
            test = "lt = va < vb || (va == vb && ia < ib);"
        else:
            test = "lt = vb != vb ? (va == va || ia < ib) : (va < vb || (va == vb && ia < ib));"
        return ["{", f"    {itype} ia = {a}, ib = {b};",
                f"    {ctype} va = {value('ia')}, vb = {value('ib')};", "    " + test, "}"]

    def swap(i, j):
        return [f"{{ {itype} t = {at(i)}; {at(i)} = {at(j)}; {at(j)} = t; }}"]

    def order(i, j):  # the elements at positions i and j put in order
        return ["int lt = 0;"] + less(at(j), at(i)) + ["if (lt) " + swap(i, j)[0]]

    def indent(lines, n=1):
        return ["    " * n + line for line in lines]

    def heap(k):  # position k of the heap over [lo, hi)
        return at(f"lo + {k}")

    sift = (["cg_index child = 2 * root + 1;",
             "if (child >= end) break;",
             "int lt = 0;",
             "if (child + 1 < end) {"]
            + indent(less(heap("child"), heap("child + 1")))
            + ["    if (lt) child++;",
               "}"]
            + less("moving", heap("child"))
            + ["if (!lt) break;",
               f"{heap('root')} = {heap('child')};",
               "root = child;"])
    heapsort = (["/* this range partitioned too often: heapsorted */",
                 "for (cg_index start = (hi - lo) / 2, end = hi - lo; end > 1;) {",
                 "    cg_index root;",
                 "    if (start > 0) {",
                 "        root = --start;",
                 "    } else {",
                 "        end--;",
                 f"        {itype} last = {heap('end')};",
                 f"        {heap('end')} = {heap(0)};",
                 f"        {heap(0)} = last;",
                 "        root = 0;",
                 "    }",
                 f"    {itype} moving = {heap('root')};",
                 "    for (;;) {"]
                + indent(sift, 2)
                + ["    }",
                   f"    {heap('root')} = moving;",
                   "}",
                   "break;"])
    partition = (["cg_index mid = lo + (hi - lo) / 2;",
                  "{"]
                 + indent(order("lo", "mid"))
                 + ["}", "{"]
                 + indent(order("mid", "hi - 1"))
                 + ["}", "{"]
                 + indent(order("lo", "mid"))
                 + ["}",
                    f"{itype} pivot = {at('mid')};",
                    "cg_index i = lo, j = hi - 1;  /* dst[lo] and dst[hi - 1] bound the scans */",
                    "for (;;) {",
                    "    int lt = 1;",
                    "    while (lt) {",
                    "        i++;"]
                 + indent(less(at("i"), "pivot"), 2)
                 + ["    }",
                    "    lt = 1;",
                    "    while (lt) {",
                    "        j--;"]
                 + indent(less("pivot", at("j")), 2)
                 + ["    }",
                    "    if (i >= j) break;"]
                 + indent(swap("i", "j"))
                 + ["}",
                    "/* [lo, j] before the pivot's place, [j + 1, hi) after: the larger range",
                    "   waits on the stack, the smaller is partitioned next */",
                    "if (j + 1 - lo > hi - j - 1) {",
                    "    lo_at[top] = lo; hi_at[top] = j + 1; budget_at[top++] = budget;",
                    "    lo = j + 1;",
                    "} else {",
                    "    lo_at[top] = j + 1; hi_at[top] = hi; budget_at[top++] = budget;",
                    "    hi = j + 1;",
                    "}"])
    return (["for (cg_index k = 0; k < m; k++) {",
             f"    {at('k')} = k;",
             "}",
             "{",
             "    cg_index lo_at[64], hi_at[64];",
             "    int budget_at[64], top = 1;",
             "    lo_at[0] = 0;",
             "    hi_at[0] = m;",
             "    budget_at[0] = 2;",
             "    for (cg_index left = m; left > 1; left >>= 1) budget_at[0] += 2;",
             "    while (top > 0) {",
             "        top--;",
             "        cg_index lo = lo_at[top], hi = hi_at[top];",
             "        int budget = budget_at[top];",
             f"        while (hi - lo > {ARGSORT_RUN}) {{",
             "            if (budget-- == 0) {"]
            + indent(heapsort, 4)
            + ["            }"]
            + indent(partition, 3)
            + ["        }",
               "    }",
               "}",
               f"/* each run of at most {ARGSORT_RUN} elements in order */",
               "for (cg_index k = 1; k < m; k++) {",
               f"    {itype} moving = {at('k')};",
               "    cg_index to = k;",
               "    while (to > 0) {",
               "        int lt = 0;"]
            + indent(less("moving", at("to - 1")), 2)
            + ["        if (!lt) break;",
               f"        {at('to')} = {at('to - 1')};",
               "        to--;",
               "    }",
               f"    {at('to')} = moving;",
               "}"])


def axis_row_pointers(step, base, out_base):
    x, out = step.x, step.out
    return [f"const {cexpr.CTYPES[x.dtype]}* row = {x.name} + {base};",
            f"{cexpr.CTYPES[out.dtype]}* dst = {out.name} + {out_base};"]


def axis_kernel(step, threads=True):
    """A walk along one axis (argmax, cumsum, cumprod, argsort), a row after another; large
    ones share the rows of their outermost loop among threads (``threads`` as for loop
    kernels): each row is written by one thread alone."""
    params, args, outer, base, out_base = axis_signature(step)
    body = axis_row_pointers(step, base, out_base) + axis_row(step)
    nest = _loops(len(outer), body)
    if threads and outer:
        lengths = [f"n{j}" for j in range(len(outer))] + ["m"]
        nest = _threads_or_not(["#pragma omp parallel for schedule(static)"] + nest,
                               _threads_test(threads, lengths, "n0 > 1 && "), None)
    origins = [(o.text, o.where) for o in step.origins]
    return Kernel(step.name, params, args, origins, nest)


def gather_loop_dims(step):
    """The loop lengths of a gather or scatter (``GatherStep``): the gathered shape, the
    big array's axes before and after the indexed ones around the index arrays' shape."""
    big, k = step.big(), len(step.idx)
    m = max(len(i.dims) for i in step.idx)
    common = ["1"] * m
    for i in step.idx:
        for a, d in enumerate(i.dims):
            if d != "1" and common[m - len(i.dims) + a] == "1":
                common[m - len(i.dims) + a] = d
    return list(big.dims[:step.axis]) + common + list(big.dims[step.axis + k:]), m


def index_lines(step, j, m):
    """C lines reading index ``j`` of a gather or scatter at the loop indices ``i{a}`` into
    ``v{j}``, negative ones counted from the end, and clearing ``ok`` when it is out of
    range (``m``: the rank of the index arrays' broadcast shape)."""
    i, big = step.idx[j], step.big()
    lead = step.axis + m - len(i.dims)
    at = " + ".join(f"i{lead + a} * {i.name}_s{a}" for a, d in enumerate(i.dims)
                    if d != "1") or "0"
    n = f"{big.name}_n{step.axis + j}"
    return [f"cg_index v{j} = (cg_index){i.name}[{at}];",
            f"if (v{j} < 0) v{j} += {n};",
            f"if (v{j} < 0 || v{j} >= {n}) ok = 0;"]


def index_check(step, m, fail):
    """(the loop axes of the index arrays' shape, C lines checking the indices at one
    element of it and running ``fail`` where one is out of range): a scatter checks every
    index before it writes anything, so a call it stops leaves the array it writes into as
    it was (new state written in place among them)."""
    body = ["int ok = 1;"]
    for j in range(len(step.idx)):
        body += index_lines(step, j, m)
    return list(range(step.axis, step.axis + m)), body + [f"if (!ok) {fail}"]


def gather_signature(step):
    """(params, args, element, rank, m) of a gather or scatter kernel, whichever target runs it:
    loop ``i{a}`` runs over axis ``a`` of the gathered shape, of which axes ``axis`` to
    ``axis + m - 1`` are the index arrays'; ``element(fail)`` gives the C lines for one
    element, running ``fail`` (and touching nothing) when an index is out of range. A search
    (numpy's searchsorted) is a gather whose index is found in the sorted vector x."""
    small, big, axis, k = step.small(), step.big(), step.axis, len(step.idx)
    dims, m = gather_loop_dims(step)
    r = len(dims)
    params = [f"cg_index n{a}" for a in range(r)]
    args = list(dims)
    const_small, const_big = ("const ", "") if step.kind == "scatter" else ("", "const ")
    params.append(f"{const_small}{cexpr.CTYPES[small.dtype]}* {small.name}")
    args.append(f"{small.name}_p")
    params += [f"cg_index {small.name}_s{a}" for a in range(r)]
    args += [f"{small.name}_s{a}" for a in range(r)]
    params.append(f"{const_big}{cexpr.CTYPES[big.dtype]}* {big.name}")
    args.append(f"{big.name}_p")
    params += [f"cg_index {big.name}_s{a}" for a in range(len(big.dims))]
    args += [f"{big.name}_s{a}" for a in range(len(big.dims))]
    params += [f"cg_index {big.name}_n{axis + j}" for j in range(k)]
    args += [big.dims[axis + j] for j in range(k)]
    for i in {i.name: i for i in step.idx}.values():  # x[r, r]: r passed once
        params.append(f"const {cexpr.CTYPES[i.dtype]}* {i.name}")
        args.append(f"{i.name}_p")
        params += [f"cg_index {i.name}_s{a}" for a in range(len(i.dims))]
        args += [f"{i.name}_s{a}" for a in range(len(i.dims))]

    def element(fail):
        if step.kind == "search":
            return search_lines(step, m)
        outer = [f"i{a} * {big.name}_s{a}" for a in range(axis)]
        outer += [f"i{axis + m + p} * {big.name}_s{axis + k + p}"
                  for p in range(len(big.dims) - axis - k)]
        lines = [f"cg_index o = {' + '.join(outer) or '0'};", "int ok = 1;"]
        for j, i in enumerate(step.idx):
            lines += index_lines(step, j, m) + [f"o += v{j} * {big.name}_s{axis + j};"]
        at = " + ".join(f"i{a} * {small.name}_s{a}" for a in range(r)
                        if small.dims[a] != "1") or "0"
        if step.kind == "gather":
            write = f"{small.name}[{at}] = {big.name}[o];"
        elif step.combine == "set":
            write = f"{big.name}[o] = {small.name}[{at}];"
        elif small.dtype == "bool":
            write = f"{big.name}[o] = {big.name}[o] || {small.name}[{at}];"
        else:
            write = f"{big.name}[o] += {small.name}[{at}];"
        return lines + [f"if (ok) {write}", f"else {fail}"]
    return params, args, element, r, m


def search_lines(step, m):
    """C lines of one element of a search (numpy's searchsorted): the place of the value
    ``v`` in the sorted vector x, found by halving [lo, hi) while x[lo - 1] goes before v and
    x[hi] does not. 'left' moves right past the elements below v, 'right' past those not
    above it; NaN sorts after every number (numpy's order), so a NaN goes before the first
    NaN of x ('left') or after the last ('right')."""
    x, v, out = step.x, step.idx[0], step.out
    ctype = cexpr.CTYPES[x.dtype]
    at_v = " + ".join(f"i{a} * {v.name}_s{a}" for a, d in enumerate(v.dims) if d != "1") or "0"
    at_out = " + ".join(f"i{a} * {out.name}_s{a}" for a in range(m) if out.dims[a] != "1") or "0"
    if x.dtype[0] == "f":
        past = ("a < v || (v != v && a == a)" if step.side == "left"
                else "!(v < a || (a != a && v == v))")
    else:
        past = "a < v" if step.side == "left" else "!(v < a)"
    return [f"const {ctype} v = {v.name}[{at_v}];",
            f"cg_index lo = 0, hi = {x.name}_n0;",
            "while (lo < hi) {",
            "    cg_index mid = lo + (hi - lo) / 2;",
            f"    const {ctype} a = {x.name}[mid * {x.name}_s0];",
            f"    if ({past}) lo = mid + 1;",
            "    else hi = mid;",
            "}",
            f"{out.name}[{at_out}] = lo;"]


def gather_kernel(step, threads=True):
    """A gather or scatter on the CPU: the gathered shape's loops in order (a scatter's
    repeated indices add up in that order); returns 1 when an index was out of range (a
    scatter checks them all first, and then writes nothing).

    Large ones split their outermost loop among threads (``threads`` as for loop kernels):
    a gather's elements are independent; a scatter's only along an axis before the indexed
    ones, where each thread then writes elements of its own, in the same order."""
    params, args, element, r, m = gather_signature(step)
    nest = _loops(r, element("bad = 1;"))
    if threads and r and (step.kind != "scatter" or step.axis > 0):
        nest = _threads_or_not(
            ["#pragma omp parallel for schedule(static) reduction(|:bad)"] + nest,
            _threads_test(threads, [f"n{a}" for a in range(r)]), None)
    check = []
    if step.kind == "scatter":
        axes, body = index_check(step, m, "return 1;")
        check = ["/* every index first: one out of range stops it before anything is "
                 "written */"]
        for depth, a in enumerate(axes):
            check.append("    " * depth + f"for (cg_index i{a} = 0; i{a} < n{a}; i{a}++) {{")
        check += ["    " * len(axes) + line for line in body]
        check += ["    " * d + "}" for d in reversed(range(len(axes)))]
        check = ["{"] + ["    " + line for line in check] + ["}"]
    lines = check + ["int bad = 0;"] + nest + ["return bad;"]
    origins = [(o.text, o.where) for o in step.origins]
    return Kernel(step.name, params, args, origins, lines, "CODEGEN_KERNEL int")


def _short_sums(ctype, target, scalar, vector, index, count):
    """``case`` lines of a switch on k (1 to 4): ``target = sum of scalar(p) * vector(p)``
    over p < k in one pass along ``index``, the scalars hoisted out of the loop."""
    cases = []
    for k in range(1, 5):
        hoist = " ".join(f"const {ctype} s{p} = {scalar(p)};" for p in range(k))
        total = " + ".join(f"s{p} * {vector(p)}" for p in range(k))
        cases += [f"            case {k}: {{",
                  f"                {hoist}",
                  "                #pragma omp simd",
                  f"                for (cg_index {index} = 0; {index} < {count}; {index}++)",
                  f"                    {target} = {total};",
                  "                break;",
                  "            }"]
    return "\n".join(cases)


def _strided(base, stride, p, offset=""):
    """``base[p * stride + offset]`` written plainly for p = 0 and 1."""
    step = "" if p == 0 else (stride if p == 1 else f"{p} * {stride}")
    index = " + ".join(x for x in (step, offset) if x) or "0"
    return f"{base}[{index}]"


def product_loops(ctype, suffix):
    """C lines of the plain-loop products (``cg_gemm_loops_d`` ...) for one element type.

    Used for products too small for a BLAS call to pay off and for strides BLAS cannot take.
    Few long dot products (a gradient like ``delta . x.T``) reduce along k with an
    ``omp simd`` sum; otherwise rows of c accumulate ``a[i, p] * b[p, :]`` along contiguous j.
    """
    T = ctype
    return f"""static void cg_gemm_loops_{suffix}(cg_index m, cg_index n, cg_index k,
        const {T}* a, cg_index a0, cg_index a1,
        const {T}* b, cg_index b0, cg_index b1, {T}* c, cg_index c0) {{
    if (n < 8 && k > n) {{
        for (cg_index i = 0; i < m; i++) {{
            for (cg_index j = 0; j < n; j++) {{
                c[i * c0 + j] = cg_dot_{suffix}(k, a + i * a0, a1, b + j * b1, b0);
            }}
        }}
        return;
    }}
    if (b1 == 1 && k >= 1 && k <= 4) {{  /* short sums: each row of c in one pass */
        for (cg_index i = 0; i < m; i++) {{
            const {T}* ai = a + i * a0;
            {T}* ci = c + i * c0;
            switch (k) {{
{_short_sums(T, "ci[j]", lambda p: _strided("ai", "a1", p),
             lambda p: _strided("b", "b0", p, "j"), "j", "n")}
            }}
        }}
        return;
    }}
    for (cg_index i = 0; i < m; i++) {{
        {T}* ci = c + i * c0;
        if (k == 0) {{
            for (cg_index j = 0; j < n; j++) ci[j] = 0;
            continue;
        }}
        for (cg_index p = 0; p < k; p++) {{  /* the first term sets the row, no zeroing */
            const {T} aip = a[i * a0 + p * a1];
            const {T}* bp = b + p * b0;
            if (b1 == 1 && p == 0) {{
                for (cg_index j = 0; j < n; j++) ci[j] = aip * bp[j];
            }} else if (b1 == 1) {{
                for (cg_index j = 0; j < n; j++) ci[j] += aip * bp[j];
            }} else if (p == 0) {{
                for (cg_index j = 0; j < n; j++) ci[j] = aip * bp[j * b1];
            }} else {{
                for (cg_index j = 0; j < n; j++) ci[j] += aip * bp[j * b1];
            }}
        }}
    }}
}}

static void cg_gemv_loops_{suffix}(cg_index m, cg_index k, const {T}* a, cg_index a0,
        cg_index a1, const {T}* x, cg_index x0, {T}* y, cg_index y0) {{
    if (a0 == 1 && a1 != 1 && y0 == 1 && k >= 1 && k <= 4) {{  /* short sums: one pass */
        switch (k) {{
{_short_sums(T, "y[i]", lambda p: _strided("x", "x0", p),
             lambda p: _strided("a", "a1", p, "i"), "i", "m")}
        }}
        return;
    }}
    if (a0 == 1 && a1 != 1 && y0 == 1 && k > 0) {{  /* contiguous columns: y += a[:, p] x[p] */
        #pragma omp simd
        for (cg_index i = 0; i < m; i++) y[i] = a[i] * x[0];
        for (cg_index p = 1; p < k; p++) {{
            const {T} xp = x[p * x0];
            const {T}* ap = a + p * a1;
            #pragma omp simd
            for (cg_index i = 0; i < m; i++) y[i] += ap[i] * xp;
        }}
        return;
    }}
    for (cg_index i = 0; i < m; i++) y[i * y0] = cg_dot_{suffix}(k, a + i * a0, a1, x, x0);
}}""".split("\n")


#: Below this many multiply-adds a product runs as plain loops: BLAS call and threading
#: overheads dominate there (measured with benchmarks/; the tutorial MLP's products are all
#: below it).
SMALL_PRODUCT = 32768


#: How BLAS and cuBLAS (column-major) see a row-major view, in C.
LAYOUT = """/* How BLAS (column-major) sees a row-major view: 'N' as is, 'T' transposed, no copy. */
static int cg_layout(cg_index rows, cg_index cols, cg_index s0, cg_index s1,
                     char* trans, int* ld) {
    if ((s1 == 1 || cols <= 1) && (rows <= 1 || s0 >= cols)) {
        *trans = 'N';
        *ld = (int)(rows > 1 && s0 > 0 ? s0 : (cols > 1 ? cols : 1));
        return 1;
    }
    if ((s0 == 1 || rows <= 1) && (cols <= 1 || s1 >= rows)) {
        *trans = 'T';
        *ld = (int)(cols > 1 && s1 > 0 ? s1 : (rows > 1 ? rows : 1));
        return 1;
    }
    return 0;
}""".split("\n")


#: OpenBLAS's own threshold (multiply-adds) for threading gemm: larger products run on the
#: call's threads.
GEMM_THREADS_MIN = 262144

#: Products with at most this many rows (over SMALL_PRODUCT multiply-adds, and k not so
#: long that it is summed in parts on the call's threads) run as the few-rows kernels
#: (``cg_gemm_rows_s``, ``cg_gemm_dots_s``), which read b in place: BLAS packs b whole for
#: every call, as long as the product itself takes when a has few rows (a
#: recurrent step's 8 x 128 . 128 x 512 on one core: 24-36 us against BLAS's 53-69 us; at 32
#: rows BLAS is ahead, 97 against 118 us).
FEW_ROWS = 16

#: A product's k is summed in parts (``cg_k_parts``) where it is at least this many times c's
#: longer side, each part at least K_PARTS_MIN long, at most K_PARTS_MAX parts (measured
#: with LeNet's weight gradients: 25 x 20 x 36864 and 500 x 50 x 4096 on 2 cores).
K_PARTS_RATIO, K_PARTS_MIN, K_PARTS_MAX = 4, 256, 8


def blas_access():
    """C lines shared by the products of every element type: scipy's BLAS, reached through
    function pointers that the module sets the first time a product is large enough to need
    them (``cg_load_blas``: a module whose products are all small never imports scipy), and
    how BLAS sees a strided view; scipy's LAPACK, the same way (``cg_load_lapack``)."""
    return [f"#define CG_K_PARTS_RATIO {K_PARTS_RATIO}", f"#define CG_K_PARTS_MIN {K_PARTS_MIN}",
            f"#define CG_K_PARTS_MAX {K_PARTS_MAX}"] + """#ifdef _OPENMP
#include <omp.h>
#else
#define omp_get_thread_num() 0
#define omp_get_num_threads() 1
#endif
typedef void (*cg_dgemm_t)(char*, char*, int*, int*, int*, double*, double*, int*,
                           double*, int*, double*, double*, int*);
typedef void (*cg_sgemm_t)(char*, char*, int*, int*, int*, float*, float*, int*,
                           float*, int*, float*, float*, int*);
typedef void (*cg_dgemv_t)(char*, int*, int*, double*, double*, int*, double*, int*, double*,
                           double*, int*);
typedef void (*cg_sgemv_t)(char*, int*, int*, float*, float*, int*, float*, int*, float*,
                           float*, int*);
static cg_dgemm_t cg_dgemm;
static cg_sgemm_t cg_sgemm;
static cg_dgemv_t cg_dgemv;
static cg_sgemv_t cg_sgemv;
static int cg_blas_state;  /* 0: not loaded yet, 1: loaded, -1: none (plain loops only) */
/* set by the module: loads scipy's BLAS (taking the GIL) and calls cg_set_blas */
CODEGEN_KERNEL void (*cg_load_blas)(void);

/* BLAS's thread count (OpenBLAS's get/set), when the module found them. A call then runs its
   large products on its own OpenMP threads, each calling BLAS on its share of the output,
   with BLAS held to one thread for the call (cg_blas_enter, cg_blas_leave) and the call's
   large loops threaded too: one thread pool, where BLAS's own threads, spinning between
   products, and OpenMP's, spinning between loops, would fight over the cores. */
typedef int (*cg_get_threads_t)(void);
typedef void (*cg_set_threads_t)(int);
static cg_get_threads_t cg_blas_get_threads;
static cg_set_threads_t cg_blas_set_threads;
CODEGEN_KERNEL int cg_blas_ours;  /* 1: products and loops share the call's OpenMP threads */

CODEGEN_KERNEL void cg_set_blas_threads(void* get, void* set) {
#ifdef _OPENMP
    cg_blas_get_threads = (cg_get_threads_t)get;
    cg_blas_set_threads = (cg_set_threads_t)set;
    __atomic_store_n(&cg_blas_ours, get && set, __ATOMIC_RELEASE);
#endif
}

/* Hold BLAS to one thread; returns the count to restore (0: nothing). Only a count above
   one is changed, so calls overlapping in time leave it as it was. */
static int cg_blas_hold(void) {
    int before = 0;
#ifdef _OPENMP
    if (__atomic_load_n(&cg_blas_ours, __ATOMIC_ACQUIRE) && cg_threads_allowed
            && omp_get_max_threads() > 1) {
        before = cg_blas_get_threads();
        if (before > 1)
            cg_blas_set_threads(1);
        else
            before = 0;
    }
#endif
    return before;
}

/* The hold made where BLAS was loaded in the middle of a call (its first large product,
   cg_blas_ready): that call's products then run as every later call's do, on the call's
   threads with BLAS on one, and give the same bits. The call's cg_blas_leave restores it. */
static int cg_blas_late;

/* Hold BLAS to one thread for a call; returns what cg_blas_leave restores. */
CODEGEN_KERNEL int cg_blas_enter(void) {
    return cg_blas_hold();
}

CODEGEN_KERNEL void cg_blas_leave(int before) {
    int late = __atomic_exchange_n(&cg_blas_late, 0, __ATOMIC_ACQ_REL);
    if (late > 1)
        cg_blas_set_threads(late);
    if (before > 1)
        cg_blas_set_threads(before);
}

/* Whether a product of this many multiply-adds runs on the call's threads: OpenBLAS's own
   thresholds for threading gemm and gemv. */
static int cg_blas_split(double madds, double min) {
#ifdef _OPENMP
    return madds > min && cg_threads_allowed && !omp_in_parallel()
        && __atomic_load_n(&cg_blas_ours, __ATOMIC_ACQUIRE) && omp_get_max_threads() > 1;
#else
    return 0;
#endif
}

/* The share of n (rows or columns, or a product's k) that thread or part t of nt takes,
   in multiples of 8. */
static void cg_share(cg_index n, int t, int nt, cg_index* start, cg_index* len) {
    cg_index step = ((n + nt - 1) / nt + 7) / 8 * 8;
    *start = t * step < n ? t * step : n;
    *len = (*start + step < n ? *start + step : n) - *start;
}

/* Long sums over few outputs (a weight's gradient over many rows: k several times c's
   longer side) run as `parts` products over consecutive shares of k, each into its own
   block (the first into c), added to c in order: the shares run on the call's threads
   without each packing a whole operand, and the number of parts depends on the shape
   only, so the bits do not depend on the thread count. One part where k is not that long. */
static int cg_k_parts(cg_index m, cg_index n, cg_index k) {
    cg_index side = m > n ? m : n, parts = k / (CG_K_PARTS_RATIO * side);
    if (k / CG_K_PARTS_MIN < parts)
        parts = k / CG_K_PARTS_MIN;
    return parts < 2 ? 1 : (parts > CG_K_PARTS_MAX ? CG_K_PARTS_MAX : (int)parts);
}

/* The calling thread's scratch for the parts' blocks, kept between calls and grown as
   needed (NULL when it cannot be had: the product then runs whole). */
static __thread void* cg_scratch_p;
static __thread size_t cg_scratch_bytes;

static void* cg_scratch(size_t bytes) {
    if (bytes > cg_scratch_bytes) {
        free(cg_scratch_p);
        cg_scratch_p = malloc(bytes);
        cg_scratch_bytes = cg_scratch_p ? bytes : 0;
    }
    return cg_scratch_p;
}

CODEGEN_KERNEL void cg_set_blas(void* dgemm, void* sgemm, void* dgemv, void* sgemv) {
    cg_dgemm = (cg_dgemm_t)dgemm;
    cg_sgemm = (cg_sgemm_t)sgemm;
    cg_dgemv = (cg_dgemv_t)dgemv;
    cg_sgemv = (cg_sgemv_t)sgemv;
    __atomic_store_n(&cg_blas_state, dgemm && sgemm && dgemv && sgemv ? 1 : -1,
                     __ATOMIC_RELEASE);
}

/* Multiply-adds fused in the few-rows kernels, where the target has FMA: they and BLAS sum
   products in their own ways, and the rest of the module keeps numpy's two roundings. */
#if defined(__GNUC__) && !defined(__clang__)
#define CG_FUSED __attribute__((optimize("fp-contract=fast")))
#else
#define CG_FUSED
#endif
/* The widest vector the target has, for the few-rows kernels (GCC's vector extensions). */
#if defined(__AVX512F__)
#define CG_VBYTES 64
#elif defined(__AVX__)
#define CG_VBYTES 32
#else
#define CG_VBYTES 16
#endif

static int cg_blas_ready(void) {
    if (__atomic_load_n(&cg_blas_state, __ATOMIC_ACQUIRE) == 0 && cg_load_blas != 0) {
        cg_load_blas();
        int before = cg_blas_hold();  /* this call's enter found no BLAS to hold */
        if (before > 1)
            __atomic_store_n(&cg_blas_late, before, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&cg_blas_state, __ATOMIC_ACQUIRE) > 0;
}

/* BLAS loaded at the start of a call whose factorizations or solves may call LAPACK (which
   calls BLAS), before cg_blas_enter: BLAS is then held to one thread from the first call on,
   where loading it at the first large product would leave that call's LAPACK on BLAS's own
   threads (inside the call's, and potrf's bits depend on their number). */
CODEGEN_KERNEL void cg_blas_load(void) {
    cg_blas_ready();
}

/* scipy's LAPACK, for the factorizations and solves of large matrices (backends.linalg),
   set by the module the first time one is large enough (cg_load_lapack), as BLAS is. The
   matrices are void*: one type serves both element types. */
typedef void (*cg_potrf_t)(char*, int*, void*, int*, int*);
typedef void (*cg_getrf_t)(int*, int*, void*, int*, int*, int*);
typedef void (*cg_getrs_t)(char*, int*, int*, void*, int*, int*, void*, int*, int*);
typedef void (*cg_trtrs_t)(char*, char*, char*, int*, int*, void*, int*, void*, int*, int*);
typedef void (*cg_syevd_t)(char*, char*, int*, void*, int*, void*, void*, int*, int*, int*,
                           int*);
static cg_potrf_t cg_dpotrf, cg_spotrf;
static cg_getrf_t cg_dgetrf, cg_sgetrf;
static cg_getrs_t cg_dgetrs, cg_sgetrs;
static cg_trtrs_t cg_dtrtrs, cg_strtrs;
static cg_syevd_t cg_dsyevd, cg_ssyevd;
typedef void (*cg_geqrf_t)(int*, int*, void*, int*, void*, void*, int*, int*);
typedef void (*cg_orgqr_t)(int*, int*, int*, void*, int*, void*, void*, int*, int*);
static cg_geqrf_t cg_dgeqrf, cg_sgeqrf;
static cg_orgqr_t cg_dorgqr, cg_sorgqr;
typedef void (*cg_gesdd_t)(char*, int*, int*, void*, int*, void*, void*, int*, void*, int*,
                           void*, int*, int*, int*);
static cg_gesdd_t cg_dgesdd, cg_sgesdd;
static int cg_lapack_state;  /* 0: not loaded yet, 1: loaded, -1: none (plain loops only) */
CODEGEN_KERNEL void (*cg_load_lapack)(void);

CODEGEN_KERNEL void cg_set_lapack(void* dpotrf, void* spotrf, void* dgetrf, void* sgetrf,
                                  void* dgetrs, void* sgetrs, void* dtrtrs, void* strtrs,
                                  void* dsyevd, void* ssyevd, void* dgeqrf, void* sgeqrf,
                                  void* dorgqr, void* sorgqr, void* dgesdd, void* sgesdd) {
    cg_dpotrf = (cg_potrf_t)dpotrf;
    cg_spotrf = (cg_potrf_t)spotrf;
    cg_dgetrf = (cg_getrf_t)dgetrf;
    cg_sgetrf = (cg_getrf_t)sgetrf;
    cg_dgetrs = (cg_getrs_t)dgetrs;
    cg_sgetrs = (cg_getrs_t)sgetrs;
    cg_dtrtrs = (cg_trtrs_t)dtrtrs;
    cg_strtrs = (cg_trtrs_t)strtrs;
    cg_dsyevd = (cg_syevd_t)dsyevd;
    cg_ssyevd = (cg_syevd_t)ssyevd;
    cg_dgeqrf = (cg_geqrf_t)dgeqrf;
    cg_sgeqrf = (cg_geqrf_t)sgeqrf;
    cg_dorgqr = (cg_orgqr_t)dorgqr;
    cg_sorgqr = (cg_orgqr_t)sorgqr;
    cg_dgesdd = (cg_gesdd_t)dgesdd;
    cg_sgesdd = (cg_gesdd_t)sgesdd;
    __atomic_store_n(&cg_lapack_state, dpotrf && spotrf && dgetrf && sgetrf && dgetrs && sgetrs
                     && dtrtrs && strtrs && dsyevd && ssyevd && dgeqrf && sgeqrf && dorgqr
                     && sorgqr && dgesdd && sgesdd ? 1 : -1, __ATOMIC_RELEASE);
}

static int cg_lapack_ready(void) {
    if (__atomic_load_n(&cg_lapack_state, __ATOMIC_ACQUIRE) == 0 && cg_load_lapack != 0)
        cg_load_lapack();
    return __atomic_load_n(&cg_lapack_state, __ATOMIC_ACQUIRE) > 0;
}

""".split("\n")[:-1] + LAYOUT


#: The suffix of each element type's product functions (``cg_gemm_d``); float64 and float32
#: use BLAS's letters and call BLAS above SMALL_PRODUCT, integers always run the loops
#: (wrapping on overflow as numpy does: Python's CFLAGS carry -fwrapv).
PRODUCT_SUFFIX = {"float64": "d", "float32": "s", "int64": "i64", "int32": "i32",
                  "int16": "i16", "int8": "i8", "uint64": "u64", "uint32": "u32",
                  "uint16": "u16", "uint8": "u8"}
#: The element types whose products call BLAS; the others always run the loops.
BLAS_DTYPES = ("float32", "float64")


def _product_signatures(T, x):
    return {"gemv": (f"cg_gemv_{x}", [
                "cg_index m", "cg_index k", f"const {T}* a", "cg_index a0",
                "cg_index a1", f"const {T}* v", "cg_index v0", f"{T}* y", "cg_index y0"]),
            "gemm": (f"cg_gemm_{x}", [
                "cg_index m", "cg_index n", "cg_index k", f"const {T}* a", "cg_index a0",
                "cg_index a1", f"const {T}* b", "cg_index b0", "cg_index b1", f"{T}* c",
                "cg_index c0"]),
            "gemm_acc": (f"cg_gemm_acc_{x}", [
                "cg_index m", "cg_index n", "cg_index k", f"const {T}* a", "cg_index a0",
                "cg_index a1", f"const {T}* b", "cg_index b0", "cg_index b1", f"{T}* c",
                "cg_index c0", "cg_index c1", f"{T} alpha"]),
            "dotv": (f"cg_dotv_{x}", [
                "cg_index k", f"const {T}* u", "cg_index u0", f"const {T}* v",
                "cg_index v0", f"{T}* out"])}


def product_declarations(dtypes, accumulating=()):
    """(C prototypes, Cython declarations) of the BLAS hand-over (``blas_access``) and of the
    product functions of ``dtypes`` (``cg_gemm_acc_d`` ... only for ``accumulating``)."""
    c_lines = ["extern void (*cg_load_blas)(void);",
               "void cg_set_blas(void*, void*, void*, void*);",
               "extern void (*cg_load_lapack)(void);",
               "void cg_set_lapack(void*, void*, void*, void*, void*, void*, void*, void*, "
               "void*, void*, void*, void*, void*, void*, void*, void*);",
               "void cg_set_blas_threads(void*, void*);",
               "extern int cg_blas_ours;",
               "void cg_blas_load(void);",
               "int cg_blas_enter(void);",
               "void cg_blas_leave(int);"]
    cython_lines = ["void (*cg_load_blas)() noexcept nogil",
                    "void cg_set_blas(void*, void*, void*, void*) nogil",
                    "void (*cg_load_lapack)() noexcept nogil",
                    "void cg_set_lapack(void*, void*, void*, void*, void*, void*, void*, void*, "
                    "void*, void*, void*, void*, void*, void*, void*, void*) nogil",
                    "void cg_set_blas_threads(void*, void*) nogil",
                    "void cg_blas_load() nogil",
                    "int cg_blas_enter() nogil",
                    "void cg_blas_leave(int) nogil"]
    for dtype in dtypes:
        signatures = _product_signatures(cexpr.CTYPES[dtype], PRODUCT_SUFFIX[dtype])
        if dtype not in accumulating:
            del signatures["gemm_acc"]
        for name, params in signatures.values():
            c_lines += _signature("void", name, params, ";")
            cython_lines += _signature("void", name, params, " nogil")
    return c_lines, cython_lines


def products(ctype, suffix, blas, accumulate=False):
    """C lines of the products one element type calls: ``cg_gemm_d`` (matrix . matrix),
    ``cg_gemv_d`` (matrix . vector) and ``cg_dotv_d`` (vector . vector), and with
    ``accumulate`` ``cg_gemm_acc_d`` (c += alpha * a . b). With ``blas`` (float64, float32),
    above SMALL_PRODUCT multiply-adds and for strides BLAS takes, they call BLAS; otherwise,
    and for integers always, the plain loops."""
    T, x = ctype, suffix
    head = {k: "\n".join(_signature("CODEGEN_KERNEL void", name, params, " {"))
            for k, (name, params) in _product_signatures(T, x).items()}
    gemv_blas = f"""
    char ta;
    int lda, mi = (int)m, ki = (int)k, incv = (int)v0, incy = (int)y0;
    {T} one = 1, zero = 0;
    if (m == 0)
        return;
    if (m * k > {SMALL_PRODUCT} && v0 > 0 && cg_layout(m, k, a0, a1, &ta, &lda)
            && cg_blas_ready()) {{
        /* column-major sees a^T (k x m) for 'N', a (m x k) for 'T' */
        if (cg_blas_split((double)m * k, 9216))
            cg_gemv_shared_{x}(ta, m, ki, a, lda, a0, v, incv, y, incy, y0);
        else if (ta == 'N')
            cg_{x}gemv("T", &ki, &mi, &one, ({T}*)a, &lda, ({T}*)v, &incv, &zero, y, &incy);
        else
            cg_{x}gemv("N", &mi, &ki, &one, ({T}*)a, &lda, ({T}*)v, &incv, &zero, y, &incy);
        return;
    }}""" if blas else ""
    gemm_vars, gemm_blas = (_gemm_blas(T, x, "one = 1, zero = 0", "&one", "&zero")
                            if blas else ("", ""))
    few = f"""
    if (m <= {FEW_ROWS} && m * n * k > {SMALL_PRODUCT} && cg_k_parts(m, n, k) == 1
            && cg_gemm_few_{x}(m, n, k, a, a0, a1, b, b0, b1, c, c0))
        return;""" if blas else ""
    shared = f"""/* BLAS's gemm and gemv on the call's threads (cg_blas_split): c's longer side,
   or y, shared out, each thread packing the other operand whole. Functions of their own,
   so that the small products' loops compile as they do alone. */
static void __attribute__((noinline)) cg_gemm_shared_{x}(
        char tb, char ta, cg_index m, cg_index n, int k, const {T}* alpha, const {T}* a,
        int lda, cg_index a0, const {T}* b, int ldb, cg_index b1, const {T}* beta, {T}* c,
        int ldc, cg_index c0) {{
    #pragma omp parallel
    {{
        cg_index start, len;
        cg_share(m >= n ? m : n, omp_get_thread_num(), omp_get_num_threads(), &start, &len);
        int li = (int)len, mi = (int)m, ni = (int)n;
        if (li > 0 && m >= n)
            cg_{x}gemm(&tb, &ta, &ni, &li, &k, ({T}*)alpha, ({T}*)b, &ldb,
                      ({T}*)a + start * a0, &lda, ({T}*)beta, c + start * c0, &ldc);
        else if (li > 0)
            cg_{x}gemm(&tb, &ta, &li, &mi, &k, ({T}*)alpha, ({T}*)b + start * b1, &ldb,
                      ({T}*)a, &lda, ({T}*)beta, c + start, &ldc);
    }}
}}

/* c = alpha a.b + beta c as cg_k_parts' parts (c rows contiguous, b's rows b0 apart, a's
   columns a1 apart): part g of k into c (g = 0) or block g - 1 of the scratch, then the
   blocks added to c in order. */
static void __attribute__((noinline)) cg_gemm_parts_{x}(
        int parts, char tb, char ta, cg_index m, cg_index n, cg_index k, const {T}* alpha,
        const {T}* a, int lda, cg_index a1, const {T}* b, int ldb, cg_index b0,
        const {T}* beta, {T}* c, int ldc, cg_index c0) {{
    {T}* blocks = ({T}*)cg_scratch((size_t)(parts - 1) * m * n * sizeof({T}));
    int mi = (int)m, ni = (int)n, ki = (int)k;
    if (!blocks) {{
        cg_{x}gemm(&tb, &ta, &ni, &mi, &ki, ({T}*)alpha, ({T}*)b, &ldb, ({T}*)a, &lda,
                  ({T}*)beta, c, &ldc);
        return;
    }}
    int threads = cg_blas_split((double)m * n * k, {GEMM_THREADS_MIN});
    #pragma omp parallel for schedule(static) if(threads)
    for (int g = 0; g < parts; g++) {{
        cg_index start, len;
        cg_share(k, g, parts, &start, &len);
        {T} zero = 0;
        int li = (int)len, ldo = g == 0 ? ldc : ni;
        cg_{x}gemm(&tb, &ta, &ni, &mi, &li, ({T}*)alpha, ({T}*)b + start * b0, &ldb,
                  ({T}*)a + start * a1, &lda, g == 0 ? ({T}*)beta : &zero,
                  g == 0 ? c : blocks + (g - 1) * m * n, &ldo);
    }}
    #pragma omp parallel for schedule(static) if(threads && m * n >= {PARALLEL_MIN})
    for (cg_index i = 0; i < m; i++) {{
        for (int g = 1; g < parts; g++) {{
            const {T}* block = blocks + (g - 1) * m * n + i * n;
            for (cg_index j = 0; j < n; j++)
                c[i * c0 + j] += block[j];
        }}
    }}
}}

static void __attribute__((noinline)) cg_gemv_shared_{x}(
        char ta, cg_index m, int k, const {T}* a, int lda, cg_index a0, const {T}* v,
        int incv, {T}* y, int incy, cg_index y0) {{
    {T} one = 1, zero = 0;
    #pragma omp parallel
    {{
        cg_index i0, rows;
        cg_share(m, omp_get_thread_num(), omp_get_num_threads(), &i0, &rows);
        int ri = (int)rows;
        if (ri > 0 && ta == 'N')
            cg_{x}gemv("T", &k, &ri, &one, ({T}*)a + i0 * a0, &lda, ({T}*)v, &incv, &zero,
                      y + i0 * y0, &incy);
        else if (ri > 0)
            cg_{x}gemv("N", &ri, &k, &one, ({T}*)a + i0 * a0, &lda, ({T}*)v, &incv, &zero,
                      y + i0 * y0, &incy);
    }}
}}

""" if blas else ""
    few_lines = few_rows(T, x) if blas else []
    return shared.split("\n") + few_lines + f"""/* y (m) = a (m x k) . v (k) */
{head["gemv"]}{gemv_blas}
    cg_gemv_loops_{x}(m, k, a, a0, a1, v, v0, y, y0);
}}

/* c (m x n, rows contiguous) = a (m x k) . b (k x n) */
{head["gemm"]}{gemm_vars}
    if (m == 0 || n == 0)
        return;
    if (n == 1) {{  /* matrix . column: gemv is much faster than gemm with one column */
        cg_gemv_{x}(m, k, a, a0, a1, b, b0, c, c0);
        return;
    }}
    if (m == 1) {{  /* row . matrix = (matrix^T . row)^T */
        cg_gemv_{x}(n, k, b, b1, b0, a, a1, c, 1);
        return;
    }}{few}{gemm_blas}
    cg_gemm_loops_{x}(m, n, k, a, a0, a1, b, b0, b1, c, c0);
}}

/* out (scalar) = u . v */
{head["dotv"]}
    *out = cg_dot_{x}(k, u, u0, v, v0);
}}""".split("\n") + (product_accumulate(T, x, head["gemm_acc"], blas) if accumulate else [])


def few_rows(T, x):
    """C lines of the few-rows products of one float type (see FEW_ROWS): ``cg_gemm_rows``
    for b's rows contiguous (tiles of 3 rows x 4 vectors of c held in registers while k
    runs, each row of b loaded once per tile), ``cg_gemm_dots`` for a's rows and b's columns
    contiguous (tiles of 4 x 4 sums along k, one vector each). Multiply-adds are fused where
    the target has FMA (the products' last bits differ from numpy's anyway: BLAS orders its
    sums its own way); the order of every sum depends on the shape only."""
    row_calls = "\n".join(
        f"                case {rows}{vectors}: cg_rows_{rows}x{vectors}_{x}(k, a + i * a0, a0, "
        f"a1, b + j, b0,\n                        c + i * c0 + j, c0); break;"
        for rows in (3, 2, 1) for vectors in (4, 1))
    tiles = "\n".join(_rows_tile(T, x, rows, vectors)
                      for rows in (3, 2, 1) for vectors in (4, 1))
    calls = "\n".join(f"""                case {r}: cg_dots_{r}x{DOTS_J}_{x}(k, a + i * a0, a0,
                        b + j * b1, b1, c + i * c0 + j, c0); break;"""
                      for r in range(DOTS_I, 0, -1))
    dots_tile = "\n".join(_dots_tile(T, x, rows) for rows in range(DOTS_I, 0, -1))
    return f"""typedef {T} cg_v{x} __attribute__((vector_size(CG_VBYTES)));
enum {{ CG_VW_{x} = CG_VBYTES / sizeof({T}), CG_TILE_{x} = 4 * CG_VW_{x} }};

static inline cg_v{x} cg_load_{x}(const {T}* p) {{
    cg_v{x} v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}}

static inline void cg_store_{x}({T}* p, cg_v{x} v) {{
    __builtin_memcpy(p, &v, sizeof v);
}}

/* a sum along k kept as a vector: its lanes in order, then u[kv:k] . w[kv:k] */
static inline CG_FUSED {T} cg_dots_end_{x}(cg_v{x} sum, const {T}* u, const {T}* w,
        cg_index kv, cg_index k) {{
    {T} t = 0;
    for (int l = 0; l < CG_VW_{x}; l++)
        t += sum[l];
    for (cg_index p = kv; p < k; p++)
        t += u[p] * w[p];
    return t;
}}

{tiles}
/* c[:, j0:j1] = a . b[:, j0:j1] (b's rows contiguous) */
static CG_FUSED void cg_gemm_rows_{x}(cg_index m, cg_index j0, cg_index j1, cg_index k,
        const {T}* a, cg_index a0, cg_index a1, const {T}* b, cg_index b0, {T}* c,
        cg_index c0) {{
    cg_index j = j0;
    while (j + CG_VW_{x} <= j1) {{  /* tiles of 4 vectors, then of 1 */
        int vectors = j + CG_TILE_{x} <= j1 ? 4 : 1;
        for (cg_index i = 0; i < m; i += 3) {{  /* 3 rows at a time, then 2 or 1 */
            switch ((m - i < 3 ? m - i : 3) * 10 + vectors) {{
{row_calls}
            }}
        }}
        j += vectors * CG_VW_{x};
    }}
    for (; j < j1; j++)
        for (cg_index i = 0; i < m; i++) {{
            {T} t = 0;
            for (cg_index p = 0; p < k; p++)
                t += a[i * a0 + p * a1] * b[p * b0 + j];
            c[i * c0 + j] = t;
        }}
}}

{dots_tile}
/* c[:, j0:j1] = a . b[:, j0:j1], a's rows and b's columns contiguous (b's columns b1
   apart): sums along k, a tile of DOTS_I x DOTS_J of them at a time, one vector each */
static CG_FUSED void cg_gemm_dots_{x}(cg_index m, cg_index j0, cg_index j1, cg_index k,
        const {T}* a, cg_index a0, const {T}* b, cg_index b1, {T}* c, cg_index c0) {{
    const cg_index kv = k / CG_VW_{x} * CG_VW_{x};
    for (cg_index i = 0; i < m; i += {DOTS_I}) {{
        const int ri = m - i < {DOTS_I} ? (int)(m - i) : {DOTS_I};
        for (cg_index j = j0; j < j1; j += {DOTS_J}) {{
            const int rj = j1 - j < {DOTS_J} ? (int)(j1 - j) : {DOTS_J};
            if (rj == {DOTS_J}) {{
                switch (ri) {{
{calls}
                }}
                continue;
            }}
            for (int r = 0; r < ri; r++)  /* the edges: one sum at a time */
                for (int s = 0; s < rj; s++) {{
                    const {T}* u = a + (i + r) * a0;
                    const {T}* w = b + (j + s) * b1;
                    cg_v{x} sum = {{0}};
                    for (cg_index p = 0; p < kv; p += CG_VW_{x})
                        sum += cg_load_{x}(u + p) * cg_load_{x}(w + p);
                    c[(i + r) * c0 + j + s] = cg_dots_end_{x}(sum, u, w, kv, k);
                }}
        }}
    }}
}}

/* c = a . b with few rows in a, when b's rows (or a's rows and b's columns) are
   contiguous: 1 when done. Above OpenBLAS's threading threshold the columns are shared
   out to the call's threads, in whole tiles (the sums do not depend on the threads). */
static int cg_gemm_few_{x}(cg_index m, cg_index n, cg_index k, const {T}* a, cg_index a0,
        cg_index a1, const {T}* b, cg_index b0, cg_index b1, {T}* c, cg_index c0) {{
    const int rows = b1 == 1, dots = !rows && a1 == 1 && b0 == 1;
    if (!rows && !dots)
        return 0;
    #pragma omp parallel if(cg_blas_split((double)m * n * k, {GEMM_THREADS_MIN}))
    {{
        const cg_index unit = rows ? CG_TILE_{x} : {DOTS_J};
        const cg_index units = (n + unit - 1) / unit, nt = omp_get_num_threads();
        const cg_index t = omp_get_thread_num(), per = (units + nt - 1) / nt;
        const cg_index j0 = t * per * unit < n ? t * per * unit : n;
        const cg_index j1 = (t + 1) * per * unit < n ? (t + 1) * per * unit : n;
        if (j0 < j1 && rows)
            cg_gemm_rows_{x}(m, j0, j1, k, a, a0, a1, b, b0, c, c0);
        else if (j0 < j1)
            cg_gemm_dots_{x}(m, j0, j1, k, a, a0, b, b1, c, c0);
    }}
    return 1;
}}
""".split("\n")


def _offset(base, stride, k):
    """``base + k * stride`` written plainly (``a``, ``a + a0``, ``a + 2 * a0``)."""
    return base if k == 0 else f"{base} + {stride}" if k == 1 else f"{base} + {k} * {stride}"


def _rows_tile(T, x, rows, vectors):
    """A tile of ``cg_gemm_rows``: ``rows`` rows of c by ``vectors`` vectors of columns, its
    sums in registers while k runs (constant bounds, so that the compiler keeps them there)."""
    v, width = f"cg_v{x}", f"CG_VW_{x}"
    acc = [[f"c{r}{j}" for j in range(vectors)] for r in range(rows)]
    zeros = "\n".join(f"    {v} " + ", ".join(f"{name} = {{0}}" for name in row) + ";"
                      for row in acc)
    loads = ", ".join(f"v{j} = cg_load_{x}({_offset('bp', width, j)})" for j in range(vectors))
    sums = "\n".join(f"        const {T} s{r} = a[{_offset('p * a1', 'a0', r)}];  "
                     + " ".join(f"{acc[r][j]} += v{j} * s{r};" for j in range(vectors))
                     for r in range(rows))
    stores = "\n".join("    " + " ".join(
        f"cg_store_{x}({_offset(_offset('c', 'c0', r), width, j)}, {acc[r][j]});"
        for j in range(vectors)) for r in range(rows))
    return f"""static inline CG_FUSED void cg_rows_{rows}x{vectors}_{x}(cg_index k, const {T}* a,
        cg_index a0, cg_index a1, const {T}* b, cg_index b0, {T}* c, cg_index c0) {{
{zeros}
    for (cg_index p = 0; p < k; p++) {{
        const {T}* bp = b + p * b0;
        const {v} {loads};
{sums}
    }}
{stores}
}}
"""


#: The sums ``cg_gemm_dots`` keeps in registers at a time: rows of a by columns of b.
DOTS_I, DOTS_J = 4, 4


def _dots_tile(T, x, rows):
    """The tile of ``cg_gemm_dots``: ``rows`` x DOTS_J sums along k, a vector each (constant
    bounds, so that the compiler keeps them in registers), each added up across its lanes in
    order at the end, then the rest of k (``cg_dots_end``)."""
    v, width = f"cg_v{x}", f"CG_VW_{x}"
    acc = [[f"c{r}{j}" for j in range(DOTS_J)] for r in range(rows)]
    zeros = "\n".join(f"    {v} " + ", ".join(f"{name} = {{0}}" for name in row) + ";"
                      for row in acc)
    loads = "\n".join(
        f"        const {v} " + ", ".join(f"{name}{r} = cg_load_{x}({_offset(base, stride, r)} + p)"
                                      for r in range(n)) + ";"
        for name, base, stride, n in (("u", "a", "a0", rows), ("w", "b", "b1", DOTS_J)))
    sums = "\n".join("        " + " ".join(f"{acc[r][j]} += u{r} * w{j};" for j in range(DOTS_J))
                     for r in range(rows))
    ends = "\n".join(
        f"    c[{_offset(str(j), 'c0', r)}] = cg_dots_end_{x}({acc[r][j]}, "
        f"{_offset('a', 'a0', r)}, {_offset('b', 'b1', j)}, kv, k);"
        for r in range(rows) for j in range(DOTS_J))
    return f"""static inline CG_FUSED void cg_dots_{rows}x{DOTS_J}_{x}(cg_index k, const {T}* a,
        cg_index a0, const {T}* b, cg_index b1, {T}* c, cg_index c0) {{
    const cg_index kv = k / {width} * {width};
{zeros}
    for (cg_index p = 0; p < kv; p += {width}) {{
{loads}
{sums}
    }}
{ends}
}}
"""


def _gemm_blas(T, x, constants, alpha, beta, when=""):
    """(declarations, test and call) of BLAS's gemm for ``c = alpha a.b + beta c`` (c rows
    contiguous), taken above SMALL_PRODUCT multiply-adds for strides BLAS can read; ``alpha``
    and ``beta`` point at ``constants`` or parameters, ``when`` adds a condition."""
    declarations = f"""
    char ta, tb;
    int lda, ldb, mi = (int)m, ni = (int)n, ki = (int)k;
    int ldc = (int)(c0 > 0 && m > 1 ? c0 : (n > 1 ? n : 1));
    {T} {constants};"""
    call = f"""
    if ({when}m * n * k > {SMALL_PRODUCT} && cg_layout(m, k, a0, a1, &ta, &lda)
            && cg_layout(k, n, b0, b1, &tb, &ldb) && cg_blas_ready()) {{
        /* row-major c = a.b is column-major c^T = b^T . a^T */
        int parts = cg_k_parts(m, n, k);
        if (parts > 1) {{
            cg_gemm_parts_{x}(parts, tb, ta, m, n, k, {alpha}, a, lda, a1, b, ldb, b0, {beta},
                              c, ldc, c0);
            return;
        }}
        if (cg_blas_split((double)m * n * k, {GEMM_THREADS_MIN})) {{
            cg_gemm_shared_{x}(tb, ta, m, n, ki, {alpha}, a, lda, a0, b, ldb, b1, {beta}, c,
                               ldc, c0);
            return;
        }}
        cg_{x}gemm(&tb, &ta, &ni, &mi, &ki, {alpha}, ({T}*)b, &ldb, ({T}*)a, &lda, {beta}, c, &ldc);
        return;
    }}"""
    return declarations, call


def product_accumulate(T, x, head, blas):
    """C lines of ``cg_gemm_acc_d``: c += alpha * a . b, into values a loop wrote to c.

    BLAS's gemm with beta = 1 adds to c as it goes (no zeroing pass, no buffer); the plain
    loops (small products, strides BLAS cannot take) add row by row, or a dot product per
    element where rows are short and the sums long (a weight gradient over many samples).
    """
    gemm_blas = "".join(_gemm_blas(T, x, "one = 1", "&alpha", "&one", "c1 == 1 && ")) \
        if blas else ""
    return f"""
/* c (m x n) += alpha * a (m x k) . b (k x n) */
{head}{gemm_blas}
    if (n < 8 && k > n) {{
        for (cg_index i = 0; i < m; i++)
            for (cg_index j = 0; j < n; j++)
                c[i * c0 + j * c1] += alpha * cg_dot_{x}(k, a + i * a0, a1, b + j * b1, b0);
        return;
    }}
    for (cg_index i = 0; i < m; i++) {{
        {T}* ci = c + i * c0;
        for (cg_index p = 0; p < k; p++) {{
            const {T} aip = alpha * a[i * a0 + p * a1];
            const {T}* bp = b + p * b0;
            for (cg_index j = 0; j < n; j++) ci[j * c1] += aip * bp[j * b1];
        }}
    }}
}}""".split("\n")


def product_code(dtypes, accumulating=()):
    """All C lines of the products of ``dtypes`` (those the module's products use), with
    ``cg_gemm_acc_d`` ... for the types in ``accumulating``."""
    lines = blas_access()
    for dtype in dtypes:
        ctype, x = cexpr.CTYPES[dtype], PRODUCT_SUFFIX[dtype]
        lines += ([""] + dot_loop(ctype, x) + [""] + product_loops(ctype, x) + [""]
                  + products(ctype, x, dtype in BLAS_DTYPES, dtype in accumulating))
    return lines


def dot_loop(ctype, suffix):
    """C lines of ``cg_dot_d`` ...: a strided dot product, vectorized when contiguous.

    The contiguous case keeps 16 partial sums (four AVX registers of doubles) so that
    the additions do not wait on one another; they are combined in a fixed order.
    """
    T = ctype
    return f"""static inline {T} cg_dot_{suffix}(cg_index k, const {T}* x, cg_index x0,
        const {T}* y, cg_index y0) {{
    {T} acc = 0;
    if (x0 == 1 && y0 == 1) {{
        {T} lane[16] = {{0}};
        cg_index p = 0;
        for (; p + 16 <= k; p += 16)
            for (int l = 0; l < 16; l++) lane[l] += x[p + l] * y[p + l];
        for (; p < k; p++) acc += x[p] * y[p];
        for (int l = 0; l < 16; l++) acc += lane[l];
    }} else {{
        for (cg_index p = 0; p < k; p++) acc += x[p * x0] * y[p * y0];
    }}
    return acc;
}}""".split("\n")


#: Declarations that let gcc vectorize libm calls through glibc's libmvec where the build
#: defines CODEGEN_SIMD_MATH (see ``build.simd_math_available``).
SIMD_MATH = """\
#if defined(CODEGEN_SIMD_MATH) && defined(__GNUC__) && !defined(__clang__)
/* let gcc vectorize calls through glibc's libmvec (IEEE special values are kept); pow
   stays scalar: libmvec's gives NaN for pow(-inf, 0.5) where C99's gives inf, and an
   element's result would depend on whether it fell in a vector or in the remainder */
#define CODEGEN_SIMD __attribute__((simd("notinbranch")))
CODEGEN_SIMD double exp(double); CODEGEN_SIMD float expf(float);
CODEGEN_SIMD double expm1(double); CODEGEN_SIMD float expm1f(float);
CODEGEN_SIMD double log(double); CODEGEN_SIMD float logf(float);
CODEGEN_SIMD double log1p(double); CODEGEN_SIMD float log1pf(float);
CODEGEN_SIMD double tanh(double); CODEGEN_SIMD float tanhf(float);
CODEGEN_SIMD double sin(double); CODEGEN_SIMD float sinf(float);
CODEGEN_SIMD double cos(double); CODEGEN_SIMD float cosf(float);
#endif
""".split("\n")[:-1]


def product_call(step):
    """The C call of a product step (``DotStep``): out = a . b, or out += alpha * a . b."""
    a, b, out = step.a, step.b, step.out
    p = {r.name: f"{r.name}_p" for r in (a, b, out)}

    def operand(ref, transposed):
        """Dims and stride names of an operand as the product uses it."""
        if len(ref.dims) == 1:
            return ref.dims, (f"{ref.name}_s0",)
        dims, strides = ref.dims, (f"{ref.name}_s0", f"{ref.name}_s1")
        return (dims[::-1], strides[::-1]) if transposed else (dims, strides)

    (ad, as_), (bd, bs) = operand(a, step.trans[0]), operand(b, step.trans[1])
    x = PRODUCT_SUFFIX.get(out.dtype)
    if x is None:
        raise NotImplementedError(
            f"dot: compiled products take float or integer operands, got {out.dtype} "
            f"(cast the operands, or use mode='FAST_COMPILE') [{comment(step.origins[0].where)}]")
    if step.accumulate:  # matrix products only (codegen.lower.accumulate)
        call = (f"cg_gemm_acc_{x}({ad[0]}, {bd[1]}, {ad[1]}, {p[a.name]}, {as_[0]}, {as_[1]}, "
                f"{p[b.name]}, {bs[0]}, {bs[1]}, {p[out.name]}, {out.name}_s0, {out.name}_s1, "
                f"{step.alpha!r})")
    elif len(ad) == 2 and len(bd) == 2:
        call = (f"cg_gemm_{x}({ad[0]}, {bd[1]}, {ad[1]}, {p[a.name]}, {as_[0]}, {as_[1]}, "
                f"{p[b.name]}, {bs[0]}, {bs[1]}, {p[out.name]}, {out.name}_s0)")
    elif len(ad) == 2:
        call = (f"cg_gemv_{x}({ad[0]}, {ad[1]}, {p[a.name]}, {as_[0]}, {as_[1]}, "
                f"{p[b.name]}, {bs[0]}, {p[out.name]}, {out.name}_s0)")
    elif len(bd) == 2:
        call = (f"cg_gemv_{x}({bd[1]}, {bd[0]}, {p[b.name]}, {bs[1]}, {bs[0]}, "
                f"{p[a.name]}, {as_[0]}, {p[out.name]}, {out.name}_s0)")
    else:
        call = (f"cg_dotv_{x}({ad[0]}, {p[a.name]}, {as_[0]}, {p[b.name]}, {bs[0]}, "
                f"{p[out.name]})")
    return call
