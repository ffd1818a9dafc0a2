"""Products added into the loop that reads them: ``o = e + c * dot(a, b)`` becomes a loop
writing ``o = e`` and then one gemm adding ``c * a.b`` into ``o`` (BLAS's beta = 1).

A weight gradient that only feeds its momentum update, ``m' = mom * m + (1 - mom) * g``, is
otherwise a buffer that BLAS zeroes, then fills, and that the update loop reads back: three
passes over memory as large as the weights. Folded, the buffer is gone, and the loop that
writes ``mom * m`` (and the parameter's own update, ``p - lr * m``) reads and writes one array
less. Theano's gemm optimizer made the same fold (``gemm_inplace``).

A product is folded when:
- it is a matrix product (gemm) of floats, written to a buffer of the call's own;
- one loop kernel, and nothing else (no other step, output, update or view), reads it;
- that loop reads it at the element it writes to an output of the same type (the shape checks
  make their shapes equal: neither is broadcast in the loop), and
  only in one term ``+ g``, ``+ c * g`` or ``- c * g`` (c a nonzero constant) of the value
  stored there, which nothing else in the loop reads.

The loop then runs where it ran, without the term, and the product right after it. Moving the
product later changes nothing it reads: the steps in between wrote only their own buffers, and
whether a new state may go into its old array is decided afterwards, on this order.
"""

import numbers
from dataclasses import replace

from codegen.lower.program import Assign, DotStep, LoopKernel, Origin, Store, reads

FLOATS = ("float32", "float64")


def fold_accumulating_products(program):
    """Fold every product that qualifies (see the module docstring); ``program`` is changed in
    place. Returns the number of products folded."""
    folded = 0
    while True:
        found = _next_fold(program)
        if found is None:
            return folded
        i, j, loop, product, gone = found
        program.steps[j] = loop
        program.steps.insert(j + 1, product)
        del program.steps[i]
        _drop_buffer(program, gone)
        folded += 1


def _next_fold(program):
    readers = _readers(program)
    leaving = _leaving(program)
    buffers = {b.ref.name: b for b in program.buffers}
    for i, step in enumerate(program.steps):
        if not (isinstance(step, DotStep) and not step.accumulate
                and step.out.dtype in FLOATS and len(step.a.dims) == 2
                and len(step.b.dims) == 2):
            continue
        g = step.out.name
        buffer = buffers.get(g)
        if buffer is None or buffer.fill is not None or g in leaving:
            continue
        users = readers.get(g, [])
        if len(users) != 1 or users[0] <= i:
            continue
        j = users[0]
        loop = program.steps[j]
        if not isinstance(loop, LoopKernel):
            continue
        if program.guards.get(step.name) != program.guards.get(loop.name):
            continue  # run under different conditions (ifelse)
        first = step.origins[0]
        split = _split_term(loop, g, step.out, first.text)
        if split is None:
            continue
        new_loop, out_ref, alpha = split
        if alpha == 0:  # 0 * g is NaN where g is: BLAS skips a product scaled by 0
            continue
        said = Origin(f"{out_ref.name} += {alpha:g} * {first.text}", first.where)
        product = replace(step, out=out_ref, alpha=alpha, accumulate=True,
                          origins=(said,) + step.origins[1:])
        return i, j, new_loop, product, g
    return None


def _readers(program):
    """Array name -> indices of the steps that read it (each step once)."""
    out = {}
    for k, step in enumerate(program.steps):
        for name in set(reads(step)):
            out.setdefault(name, []).append(k)
    return out


def _leaving(program):
    """Arrays that leave the call (outputs, new state) or that a view is made of or is."""
    names = {r.name for r in program.outputs if hasattr(r, "dims")}
    names |= {ref.name for _, ref in program.updates}
    names |= {v.source for v in program.views} | {v.ref.name for v in program.views}
    return names


def _split_term(loop, g, g_ref, product_text):
    """(loop without the ``c * g`` term, the output the term was added to, its sign times c),
    or None when ``g`` is not read as such a term; ``product_text``: what ``g`` computes."""
    index = next(k for k, op in enumerate(loop.operands) if op.ref.name == g)
    operand = loop.operands[index]
    full = tuple(range(len(g_ref.dims)))
    if operand.axes != full or len(loop.dims) != len(full):
        return None
    body = list(loop.body)
    loads = [a for a in body if _count_loads(a.expr, index)]
    if len(loads) != 1 or _count_loads(loads[0].expr, index) != 1:
        return None
    uses = _local_uses(loop)
    term_local = None  # the assignment t = c * g, when the term is one of its own
    term_alpha = _scaled_load(loads[0].expr, index)
    if term_alpha is not None:  # the sum is the only reader of t
        term_local = loads[0].local
        if uses.get(term_local, 0) != 1 or any(s.local == term_local for s in loop.stores):
            return None
        sums = [(a, _split_sum(a.expr, lambda e: 1.0 if e.op == "local"
                               and e.value == term_local else None)) for a in body]
        sums = [(a, found) for a, found in sums if found is not None]
        if len(sums) != 1:
            return None
        total, (sign, rest, _) = sums[0]
    else:  # g inside the sum itself: e + c * g
        total = loads[0]
        found = _split_sum(total.expr, lambda e: _scaled_load(e, index))
        if found is None:
            return None
        sign, rest, term_alpha = found
    stores = [s for s in loop.stores if s.local == total.local]
    if len(stores) != 1 or uses.get(total.local, 0) != 0 or stores[0].combine is not None:
        return None
    out = loop.operands[stores[0].operand]
    if out.role != "out" or out.axes != full or out.ref.dtype != g_ref.dtype:
        return None
    # the loop's comments say what it still computes: the other term, which the product
    # after the loop adds to
    dropped = {a.origin for a in body if a.local == term_local}
    alpha = sign * term_alpha
    partial = Origin(f"{_text(rest, loop)}, to which the product after this loop adds "
                     f"{alpha:g} * {product_text}", total.origin.where)
    new_body = []
    for a in body:
        if a.local == term_local:
            continue
        if a.local == total.local:
            a = Assign(a.local, a.dtype, rest, partial)
        new_body.append(_reindex_assign(a, index))
    origins = tuple(partial if o == total.origin else o for o in loop.origins
                    if o not in dropped)
    operands = loop.operands[:index] + loop.operands[index + 1:]
    stores_ = tuple(Store(s.operand - (s.operand > index), s.local, s.combine)
                    for s in loop.stores)
    new_loop = replace(loop, operands=operands, body=tuple(new_body), stores=stores_,
                       origins=origins)
    return new_loop, out.ref, alpha


def _text(expr, loop):
    """How the comments name a value of the loop: the graph node a local holds, an operand's
    array name, a constant's value."""
    if expr.op == "local":
        held = next((a for a in loop.body if a.local == expr.value), None)
        if held is not None:
            return held.origin.text
    if expr.op == "load":
        return loop.operands[expr.value].ref.name
    if expr.op == "const":
        return repr(expr.value)
    return "the other terms"


def _count_loads(expr, index):
    if expr.op == "load":
        return int(expr.value == index)
    return sum(_count_loads(a, index) for a in expr.args)


def _local_uses(loop):
    """Local name -> how many assignments read it (stores not counted)."""
    uses = {}

    def walk(expr):
        if expr.op == "local":
            uses[expr.value] = uses.get(expr.value, 0) + 1
        for a in expr.args:
            walk(a)
    for a in loop.body:
        walk(a.expr)
    return uses


def _constant(expr):
    value = expr.value
    if expr.op == "const" and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    return None


def _scaled_load(expr, index):
    """c for ``c * g`` or ``g * c``, 1 for ``g`` alone; else None."""
    if expr.op == "load" and expr.value == index:
        return 1.0
    if expr.op == "mul" and len(expr.args) == 2:
        x, y = expr.args
        for k, v in ((x, y), (y, x)):
            c = _constant(k)
            if c is not None and v.op == "load" and v.value == index:
                return float(c)
    return None


def _split_sum(expr, term):
    """(sign, the other operand, term(t)) for ``e + t``, ``t + e`` or ``e - t`` where
    ``term(t)`` is not None; else None."""
    if expr.op not in ("add", "sub") or len(expr.args) != 2:
        return None
    x, y = expr.args
    sides = [(y, x, -1.0 if expr.op == "sub" else 1.0)]
    if expr.op == "add":
        sides.append((x, y, 1.0))
    for t, rest, sign in sides:
        found = term(t)
        if found is not None:
            return sign, rest, found
    return None


def _reindex(expr, index):
    if expr.op == "load" and expr.value > index:
        return replace(expr, value=expr.value - 1)
    if expr.args:
        return replace(expr, args=tuple(_reindex(a, index) for a in expr.args))
    return expr


def _reindex_assign(a, index):
    return Assign(a.local, a.dtype, _reindex(a.expr, index), a.origin)


def _drop_buffer(program, name):
    program.buffers[:] = [b for b in program.buffers if b.ref.name != name]
    program.materialized[:] = [m for m in program.materialized if m[0] != name]
