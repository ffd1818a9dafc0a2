"""Loops whose rows are independent: a recurrent network's minibatch.

A loop over time (``ScanStep``) carries its state from one iteration to the next, so its
iterations run in order; but in a recurrent network trained on a minibatch, row r of every
array of an iteration (the state, the gates, the products with the weights) depends on row r
of the others only. Such a loop can run as several loops, each over a block of the rows,
side by side on the call's threads, with no barrier between iterations: each block's
iteration is a product of a few rows by the weights and the elementwise work on those rows.

``independent_rows`` finds the dim of those rows (with the dims the call's checks make equal
to it: the minibatch of the inputs and of the initial state), and the axis along it of every
array the loop touches, when the loop has one. Each block then runs the loop itself, on views of its
rows: the arrays' data moved on to the block's first row, the dim replaced by the block's
length. That holds when:

- every array the loop writes has the dim on exactly one axis (its rows), and every array it
  only reads has it there or nowhere (the weights, read whole by every block);
- the dim appears in no other expression of the loop (its length, an index, a slice bound,
  a loop's value of its own index along the rows);
- each step maps rows to rows: an elementwise loop or a reduction runs along the rows of every
  operand with one loop axis (a reduction over the rows would add up rows of several blocks);
  a product takes its output's rows from its left operand's rows, the right one a weight
  (or its columns from the right one's, the left a weight); views keep the rows whole;
- no step gathers, draws random numbers or loops again.
"""

import re
from dataclasses import dataclass

from codegen.lower.program import DotStep, LoopKernel, Slice


@dataclass(frozen=True)
class Rows:
    """The loop's independent rows: ``dims`` count them (dims of the call, the same length:
    the call's checks make them equal); ``axes``: (array name, axis of its rows, or None
    where it has none) for each array the loop touches (``ScanStep.arrays``)."""

    dims: tuple
    axes: tuple


def independent_rows(step, checks=()):
    """``Rows`` of ``step`` (a ``ScanStep``), or None when its rows depend on each other;
    ``checks``: the call's (``Program.checks``), which say which dims are equal."""
    if step.until:  # one condition stops the iterations of every row
        return None
    written = {a.name for a in step.arrays if a.name not in step.inputs}
    candidates = sorted({d for a in step.arrays if a.name in written for d in a.dims
                         if d.isidentifier()})
    equal, tried = _equal_dims(checks), set()
    for dim in candidates:
        dims = tuple(sorted(equal.get(dim, {dim})))
        if dims in tried:
            continue
        tried.add(dims)
        axes = _row_axes(step, dims, written)
        if axes is not None:
            return Rows(dims, tuple((a.name, axes[a.name]) for a in step.arrays))
    return None


def _equal_dims(checks):
    """{dim: the set of dims the checks make equal to it} (plain names only)."""
    equal = {}
    for c in checks:
        if c.at_least or not (c.lhs.isidentifier() and c.rhs.isidentifier()):
            continue
        group = equal.get(c.lhs, {c.lhs}) | equal.get(c.rhs, {c.rhs})
        for d in group:
            equal[d] = group
    return equal


def _row_axes(step, dims, written):
    """{array name: its rows' axis or None} when ``dims`` count independent rows, else None."""
    mention = re.compile(r"\b(" + "|".join(re.escape(d) for d in dims) + r")\b")
    if mention.search(step.length):
        return None
    axes = {}
    for ref in step.arrays:
        axis = _axis_of(ref.dims, dims, mention)
        if axis is False or (axis is None and ref.name in written):
            return None
        axes[ref.name] = axis
    for view in step.views:
        axis = _view_axis(view, axes[view.source], mention)
        if axis is False:
            return None
        axes[view.ref.name] = axis
    if not any(axis is not None for axis in axes.values()):
        return None
    for s in step.steps:
        if not _maps_rows(s, dims, axes, mention):
            return None
    return axes


def _axis_of(dims, rows, mention):
    """The one axis whose dim is one of ``rows`` (None: no axis mentions them), or False
    (they appear twice, or inside another expression)."""
    hits = [k for k, d in enumerate(dims) if mention.search(d)]
    if not hits:
        return None
    if len(hits) > 1 or dims[hits[0]] not in rows:
        return False
    return hits[0]


def _view_axis(view, source_axis, mention):
    """The rows' axis in ``view`` given its source's (False: the view takes part of the rows,
    or reads them in another shape)."""
    if view.kind == "axes":
        if source_axis is None:
            return None
        return view.axes.index(source_axis) if source_axis in view.axes else False
    if view.kind != "index":
        return None if source_axis is None else False
    for k, item in enumerate(view.index):
        bounds = (item,) if isinstance(item, str) else (item.start or "", item.stop or "")
        if any(mention.search(b) for b in bounds):
            return False
    if source_axis is None:
        return None
    item = view.index[source_axis]
    if not isinstance(item, Slice) or item != Slice() and item != Slice(step=1):
        return False
    return sum(1 for it in view.index[:source_axis] if isinstance(it, Slice))


def _maps_rows(step, dims, axes, mention):
    """Whether ``step`` computes each row of what it writes from the same row of what it
    reads (and from arrays without rows)."""
    if isinstance(step, LoopKernel):
        return _loop_maps_rows(step, dims, axes, mention)
    if isinstance(step, DotStep):
        return _product_maps_rows(step, axes)
    return False


def _loop_maps_rows(kernel, dims, axes, mention):
    along = [k for k, d in enumerate(kernel.dims) if mention.search(d)]
    if any(kernel.dims[k] not in dims for k in along) or len(along) > 1:
        return False
    if any(mention.search(str(expr)) for _, _, expr in kernel.scalars):
        return False
    if any(_mentions(a.expr, mention, along) for a in kernel.body):
        return False
    for op in kernel.operands:
        row = axes.get(op.ref.name)
        if row is None:
            if op.role != "in" or (along and op.axes[along[0]] is not None):
                return False
        elif not along or op.axes[along[0]] != row:
            return False
    return True


def _mentions(expr, mention, along):
    """Whether a scalar expression reads the rows' dim or the loop's index along them."""
    if expr.op == "dim" and mention.search(str(expr.value)):
        return True
    if expr.op == "index" and expr.value in along:
        return True
    return any(_mentions(a, mention, along) for a in expr.args)


def _product_maps_rows(step, axes):
    out, a, b = (axes.get(r.name) for r in (step.out, step.a, step.b))
    if len(step.out.dims) != 2 or len(step.a.dims) != 2 or len(step.b.dims) != 2:
        return False
    a_rows = None if a is None else (a if not step.trans[0] else 1 - a)  # axis of op(a)
    b_rows = None if b is None else (b if not step.trans[1] else 1 - b)
    if out == 0:
        return a_rows == 0 and b is None
    if out == 1:
        return b_rows == 1 and a is None
    return False
