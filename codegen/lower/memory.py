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

from codegen.lower.program import GatherStep, LoopKernel, reads, view_root, writes


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
    replaces (when no reader holds that array). It may when the loop kernel writing it reads
    the old array, if at all, only element by element at the index it writes, and no later
    step, output or view reads the old array, and no step that may fail comes after it: the
    new state then needs no second array, and the memory a step touches stays the same from
    call to call."""
    root = view_root(program)
    local = {s.name: s.local for s in program.state}
    returned = {root(r.name) for r in program.outputs if hasattr(r, "dims")}
    flags = []
    for name, new in program.updates:
        old = local[name]
        writer = next((k for k, step in enumerate(program.steps) if isinstance(step, LoopKernel)
                       and any(op.ref.name == new.name and op.role == "out"
                               for op in step.operands)), None)
        if writer is None or old in returned or new.name in returned:
            flags.append(False)
            continue
        step = program.steps[writer]
        axes = next(op.axes for op in step.operands if op.ref.name == new.name)
        flags.append(
            # a step that may fail (a gather) after it would leave the state half updated
            not any(isinstance(later, GatherStep) for later in program.steps[writer + 1:])
            and all(op.axes == axes for op in step.operands if op.ref.name == old)
            and not any(root(op.ref.name) == old and op.ref.name != old
                        for op in step.operands)
            and not any(root(name) == old for later in program.steps[writer + 1:]
                        for name in reads(later)))
    return flags
