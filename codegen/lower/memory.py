"""Scratch memory shared between arrays whose lives do not overlap.

Every array a call computes for itself (a scratch buffer: not an output, not new state) used
to have memory of its own in the workspace. Most are read by the next step or two and never
again: W2's forward pass writes the product ``W.h`` and then ``sigmoid(W.h + b)``, two
arrays of 512 x 256, and the first is dead once the second exists. Sharing their memory
shrinks the workspace that the call sweeps through the caches, and a loop that writes over
the array it reads (in place) writes to cache lines it just loaded instead of fetching new
ones.

A scratch buffer takes over the memory of another buffer of the same type and dims when:
- it is not filled before the steps run (a reduction target starts filled), and its first use
  is a write;
- the other's last use comes before that write; or at that write itself when the step is a
  loop kernel that reads the other array only element by element at the index it writes (the
  kernels load an element's operands before they store it, as for new state written in place).

Reads through views count as reads of the array viewed; an output that is a view of a scratch
buffer keeps it alive to the end of the call.
"""

from codegen.lower.program import (
    GatherStep,
    LoopKernel,
    can_fail,
    copied,
    reads,
    view_root,
    writes,
)


def shared_scratch(program):
    """(buffer, owner, previous) for every scratch buffer that takes over another's memory,
    in step order: ``owner`` is the scratch buffer that has that memory of its own,
    ``previous`` the array that used it last (``owner`` or an earlier taker)."""
    leaving = {r.name for r in program.outputs if hasattr(r, "dims")}
    leaving |= {ref.name for _, ref in program.updates}
    root = view_root(program)
    first_write, last_use, first_use = {}, {}, {}
    for k, step in enumerate(program.steps):
        for name in writes(step):
            first_write.setdefault(root(name), k)
        for name in list(reads(step)) + list(writes(step)):
            name = root(name)
            first_use.setdefault(name, k)
            last_use[name] = k
    end = len(program.steps)
    for name in leaving:
        last_use[root(name)] = end
    for v in program.views:  # a view kept as an array object may leave in ways not seen
        if v.kind != "axes":
            last_use[root(v.source)] = end

    scratch = [b for b in program.buffers if b.ref.name not in leaving
               and b.ref.name in first_write]
    born = sorted(scratch, key=lambda b: first_write[b.ref.name])
    slots = []  # [memory owner, dtype, dims, name of the array now in it]
    taken = []
    for b in born:
        name, k = b.ref.name, first_write[b.ref.name]
        best = None
        if b.fill is None and first_use[name] == k:
            for slot in slots:
                owner, dtype, dims, current = slot
                if dtype != b.ref.dtype or dims != b.ref.dims:
                    continue
                end_of_current = last_use[current]
                if end_of_current < k or (end_of_current == k and _in_place(
                        program.steps[k], current, name, root)):
                    # the array that died last (or in this very step) is the likeliest cached
                    if best is None or end_of_current > last_use[best[3]]:
                        best = slot
        if best is None:
            slots.append([name, b.ref.dtype, b.ref.dims, name])
        else:
            taken.append((name, best[0], best[3]))
            best[3] = name
    return taken


def _in_place(step, old, new, root):
    """Whether loop kernel ``step`` may write ``new`` over ``old``: it writes ``new`` as a
    plain output and reads ``old`` only as such, at the same element, and through no view."""
    if not isinstance(step, LoopKernel):
        return False
    outs = [op for op in step.operands if op.ref.name == new]
    if len(outs) != 1 or outs[0].role != "out":
        return False
    olds = [op for op in step.operands if root(op.ref.name) == old]
    return all(op.ref.name == old and op.role == "in" and op.axes == outs[0].axes
               for op in olds)


def in_place_updates(program):
    """For each update, whether its new value may be written over the state array it
    replaces (when no reader holds that array). It may when the loop kernel writing it first
    reads the old array, if at all, only element by element at the index it writes, and
    from the step that changes that memory on, no step reads the old array and none may
    fail (a failed call changes no state), and no output or view is of it: the new state
    then needs no second array, and the memory a step touches stays the same from call to
    call.

    Where that loop only copies the old array (``W + c * dot(a, b)``, folded into a product
    that adds to the copy; ``inc_subtensor(W[idx], v)``, an SGD step on the rows an
    embedding gathered), the copy onto the same memory is skipped at run time (``copied``)
    and the memory changes at the next writer: steps before it may read the old array, and
    a scatter, which checks every index before it writes, may be that writer."""
    root = view_root(program)
    local = {s.name: s.local for s in program.state}
    returned = {root(r.name) for r in program.outputs if hasattr(r, "dims")}
    flags = []
    for name, new in program.updates:
        old = local[name]
        writers = [k for k, step in enumerate(program.steps) if new.name in writes(step)]
        if not writers or old in returned or new.name in returned \
                or not _loop_in_place(program.steps[writers[0]], old, new.name, root):
            flags.append(False)
            continue
        change = writers[0]
        if copied(program.steps[change]) == (old, new.name) and len(writers) > 1:
            change = writers[1]
        step = program.steps[change]
        scatter = isinstance(step, GatherStep) and step.kind == "scatter"
        flags.append(
            # a step that may fail after the memory changed would leave the state half new
            not can_fail(program.steps[change + (1 if scatter else 0):])
            and not any(root(name) == old for s in program.steps[change + 1:]
                        for name in reads(s))
            and not (scatter and any(root(name) == old for name in reads(step))))
    return flags


def _loop_in_place(step, old, new, root):
    """The first writer of new state is a loop kernel that reads ``old``, if at all, as
    itself at the element it writes."""
    if not isinstance(step, LoopKernel):
        return False
    axes = next(op.axes for op in step.operands if op.ref.name == new)
    return (all(op.axes == axes for op in step.operands if op.ref.name == old)
            and not any(root(op.ref.name) == old and op.ref.name != old
                        for op in step.operands))
