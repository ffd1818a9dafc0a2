"""The rewrite passes: constant folding, algebraic simplification, canonical order, CSE."""

import numpy as np

from codegen.graph import Constant, toposort
from codegen.graph.basic import provenance_as
from codegen.ops.blas import Dot, fold_transposes
from codegen.ops.elemwise import Elemwise, constant_value, is_elemwise
from codegen.ops.indexing import AdvancedIncSubtensor
from codegen.ops.override import GradOverride
from codegen.ops.reduce import Reduce
from codegen.ops.scalar import GRADIENT_ONLY
from codegen.ops.shape import Alloc, Concatenate, DimShuffle, Reshape, ShapeOf, Subtensor
from codegen.rewrite.walker import apply_local

FOLD_LIMIT = 1 << 16  # elements; bigger constants stay computed at run time


def _t():
    from codegen.tensor import basic
    return basic


# ---------------------------------------------------------------- constant folding

def fold_node(node):
    """A Constant for a node whose inputs are all constants, else None."""
    if isinstance(node.op, ShapeOf) or not node.inputs or len(node.outputs) != 1:
        return None
    if not all(isinstance(v, Constant) for v in node.inputs):
        return None
    if any(v.data.size > FOLD_LIMIT for v in node.inputs):
        return None
    (value,) = node.op.perform(node, [v.data for v in node.inputs])
    out = node.out
    folded = _t().constant(np.asarray(value, dtype=out.dtype))
    if folded.broadcastable != out.broadcastable:
        return None
    folded.weak = all(getattr(v, "weak", False) for v in node.inputs)
    return folded


def constant_fold(outputs):
    return apply_local(outputs, fold_node)


# ---------------------------------------------------------------- algebra

def _is_const(var, value):
    v = constant_value(var)
    return v is not None and v == value


def _same_type_or_cast(candidate, like):
    """``candidate`` if it can stand for ``like`` (same broadcast pattern), cast if needed."""
    if candidate.broadcastable != like.broadcastable:
        return None
    return candidate if candidate.dtype == like.dtype else _t().cast(candidate, like.dtype)


def _tiled_pieces(node):
    """``add`` of the gradients of slices that tile one axis of the same array (the gates of
    an LSTM: ``pre[:, :n]``, ``pre[:, n:2n]``, ...): their concatenation, plus the other
    terms; each gradient alone is an array of zeros with one part written."""
    from codegen.ops.elemwise import is_elemwise
    from codegen.ops.shape import SubtensorGrad
    terms, stack = [], [node.out]
    while stack:
        v = stack.pop()
        if v.owner is not None and is_elemwise(v.owner, "add") and \
                v.broadcastable == node.out.broadcastable and (v is node.out or len(
                    v.owner.inputs) == 2):
            stack.extend(reversed(v.owner.inputs))
        else:
            terms.append(v)
    pieces = {}
    for v in terms:
        o = v.owner
        if o is None or not isinstance(o.op, SubtensorGrad) or len(o.inputs) != 2:
            continue
        axes = [a for a, item in enumerate(o.op.idx) if item != slice(None)]
        if len(axes) != 1 or len(o.op.idx) != v.ndim:
            continue
        item = o.op.idx[axes[0]]
        if not isinstance(item, slice) or item.step not in (None, 1) or \
                not all(p is None or (isinstance(p, int) and p >= 0)
                        for p in (item.start, item.stop)):
            continue
        pieces.setdefault((o.inputs[0].id, axes[0]), []).append((item.start or 0, item.stop,
                                                               v))
    for (_, axis), found in pieces.items():
        found.sort(key=lambda p: p[0])
        ends = [p[1] for p in found]
        if len(found) < 2 or found[0][0] != 0 or ends[-1] is not None or any(
                e is None or e != nxt[0] for e, nxt in zip(ends[:-1], found[1:])):
            continue
        joined = _t().concatenate([v.owner.inputs[1] for _, _, v in found], axis=axis)
        if joined.dtype != node.out.dtype:
            joined = _t().cast(joined, node.out.dtype)
        used = {id(v) for _, _, v in found}
        total = joined
        for v in terms:
            if id(v) not in used:
                total = total + v
        return total
    return None


def _simplify_elemwise(node):
    t = _t()
    name = node.op.scalar_op.name
    ins, out = node.inputs, node.out
    if name == "add":
        tiled = _tiled_pieces(node)
        if tiled is not None:
            return _same_type_or_cast(tiled, out)
    if name == "mul":
        for a, b in (ins, ins[::-1]):
            if _is_const(b, 1):
                return _same_type_or_cast(a, out)
    exact_zero = not out.dtype.startswith("float")  # -0.0 + 0 is +0.0, -(0.0) is -0.0
    if name == "add" and exact_zero:
        for a, b in (ins, ins[::-1]):
            if _is_const(b, 0):
                return _same_type_or_cast(a, out)
    if name == "sub" and _is_const(ins[1], 0):
        return _same_type_or_cast(ins[0], out)
    if name == "sub" and _is_const(ins[0], 0) and exact_zero:
        return _same_type_or_cast(t.neg(ins[1]), out)
    if name == "true_div" and _is_const(ins[1], 1):
        return _same_type_or_cast(ins[0], out)
    if name == "pow":
        if _is_const(ins[1], 1):
            return _same_type_or_cast(ins[0], out)
        if _is_const(ins[1], 2):
            return _same_type_or_cast(t.mul(ins[0], ins[0]), out)
        if _is_const(ins[1], 0.5) and out.dtype.startswith("float"):
            # numpy 2 computes x ** 0.5 as sqrt(x) (so (-inf) ** 0.5 is NaN and (-0.) ** 0.5
            # is -0.), and gcc vectorizes pow(x, 0.5) as sqrt but leaves the scalar rest
            return _same_type_or_cast(t.sqrt(ins[0]), out)
    if name == "neg" and ins[0].owner is not None and is_elemwise(ins[0].owner, "neg"):
        return ins[0].owner.inputs[0]
    if name == "second" and all(out.broadcastable) and ins[1].broadcastable == out.broadcastable:
        # fill(x, c) is just c when both are of one element (0-d costs); where x has lengths
        # of its own, dropping it would drop the check that c's agree with them
        return _same_type_or_cast(ins[1], out)
    if name == "second" and _checked_inside(ins[0], ins[1]) and ins[1].type == out.type:
        return ins[1]
    if name == "second" and ins[0].owner is not None and isinstance(ins[0].owner.op, Elemwise):
        return _fill_from_operands(node)
    if name != "second":
        for rule in (_drop_fill_operand, _fold_into_fill):
            replaced = rule(node)
            if replaced is not None:
                return replaced
    if name.startswith("cast_") and ins[0].dtype == out.dtype:
        return ins[0]
    if name in ("mul", "add") and isinstance(ins[1], Constant) and not isinstance(
            ins[0], Constant):
        # canonical order: constants first, so equal expressions become one node under CSE
        return t.mul(ins[1], ins[0]) if name == "mul" else t.add(ins[1], ins[0])
    return None


def _checked_inside(x, value):
    """Whether ``value`` is a chain of fills (``second(a, second(b, ...))``) that takes the
    shape of ``x`` already: then ``second(x, value)`` adds nothing, neither a length nor a
    check. A gradient through nested ``switch``es builds such chains, each level filling
    with the shapes of the levels below it again."""
    while value.owner is not None and is_elemwise(value.owner, "second"):
        if value.owner.inputs[0] is x:
            return True
        value = value.owner.inputs[1]
    return False


def _fill_from_operands(node):
    """fill only reads its first input's shape, the broadcast of that node's operands:
    ``fill(f(u, v), g) -> fill(u, g)`` when v broadcasts along u, else
    ``fill(u, fill(v, g))``; either has the shape without computing f, and keeps the check
    that u and v agree."""
    t = _t()
    shape_of, value = node.inputs
    shaping = []
    for u in shape_of.owner.inputs:
        if not all(u.broadcastable) and not any(u is w for w in shaping):
            shaping.append(u)
    if not shaping:
        return None
    for u in shaping:  # one operand that gives the shape, the rest broadcast along it
        if u.broadcastable == shape_of.broadcastable and all(
                all(w.broadcastable[a] for a, bc in enumerate(u.broadcastable) if not bc)
                for w in shaping if w is not u):
            return t.second(u, value)
    for u in reversed(shaping[1:]):
        value = t.second(u, value)
    return _same_type_or_cast(t.second(shaping[0], value), node.out)


def _drop_fill_operand(node):
    """``f(second(a, b), z) -> f(b, z)`` when z is a itself (so it gives the result a's shape,
    and no check of a's shape against z's is lost).

    This is the gradient of a broadcast sum: ``sum`` sends back ``fill(x, g)`` and the
    consumer multiplies it with x anyway.
    """
    ins = node.inputs
    for i, v in enumerate(ins):
        if v.owner is None or not is_elemwise(v.owner, "second"):
            continue
        if not any(u is v.owner.inputs[0] for j, u in enumerate(ins) if j != i):
            continue
        new_inputs = list(ins)
        new_inputs[i] = v.owner.inputs[1]
        pattern = tuple(all(bc) for bc in zip(*[x.broadcastable for x in new_inputs]))
        if pattern == node.out.broadcastable and new_inputs[i].ndim == v.ndim:
            return node.op(*new_inputs)
    return None


def _fold_into_fill(node):
    """``c * fill(a, b) -> fill(a, c * b)`` for constants c, so the constants fold."""
    ins = node.inputs
    fills = [i for i, v in enumerate(ins) if v.owner is not None and is_elemwise(v.owner,
                                                                             "second")]
    if len(fills) != 1 or not all(isinstance(v, Constant) for i, v in enumerate(ins)
                                  if i != fills[0]):
        return None
    a, b = ins[fills[0]].owner.inputs
    new_inputs = list(ins)
    new_inputs[fills[0]] = b
    return _t().second(a, node.op(*new_inputs))


def _compose_dimshuffle(node):
    (x,) = node.inputs
    order = node.op.new_order
    if x.owner is not None and isinstance(x.owner.op, DimShuffle):
        inner = x.owner.op.new_order
        composed = ["x" if i == "x" else inner[i] for i in order]
        return DimShuffle(composed)(x.owner.inputs[0])
    if list(order) == list(range(x.ndim)):
        return x
    return None


def _permutation(var):
    """The order of ``var``'s DimShuffle when it only permutes axes, else None."""
    if var.owner is None or not isinstance(var.owner.op, DimShuffle):
        return None
    order = var.owner.op.new_order
    if "x" in order or len(order) != var.owner.inputs[0].ndim or \
            list(order) == list(range(len(order))):
        return None
    return order


def _regroup(lengths, target):
    """[(axes, positions)]: runs of ``lengths`` (None: unknown) paired in order with runs of
    ``target`` (ints, -1: unknown) of the same product, one side of each pair a single
    entry (an axis split, or axes merged); an unknown length pairs with -1 alone. None when
    the two do not pair so."""
    if any(n == 0 for n in lengths):
        return None
    pairs, a, t = [], 0, 0
    while a < len(lengths) and t < len(target):
        n, m = lengths[a], target[t]
        if n is None or m == -1:
            if n is not None or m != -1:
                return None
            pairs.append(([a], [t]))
            a, t = a + 1, t + 1
        elif n >= m:  # axis a split into target[t], target[t + 1], ...
            group, product = [t], m
            t += 1
            while product < n and t < len(target) and target[t] != -1:
                product, group = product * target[t], group + [t]
                t += 1
            if product != n:
                return None
            pairs.append(([a], group))
            a += 1
        else:  # axes a, a + 1, ... merged into target[t]
            group, product = [a], n
            a += 1
            while product < m and a < len(lengths) and lengths[a] is not None:
                product, group = product * lengths[a], group + [a]
                a += 1
            if product != m:
                return None
            pairs.append((group, [t]))
            t += 1
    return pairs if a == len(lengths) and t == len(target) else None


def _reshape_target(node):
    """A reshape's lengths as ints and at most one -1, or None (lengths computed at run
    time); a reshape to another variable's shape uses that variable's static shape."""
    op = node.op
    if op.shape is None:
        shape = tuple(-1 if n is None else n for n in node.inputs[1].type.shape)
    elif len(node.inputs) == 1 and all(isinstance(n, int) for n in op.shape):
        shape = op.shape
    else:
        return None
    return shape if shape.count(-1) <= 1 else None


def _reshape_before_dimshuffle(node):
    """``x.dimshuffle(p).reshape(s)``, where ``s`` splits axes, or merges axes that are
    neighbours in ``x`` in the same order, is ``x.reshape(s').dimshuffle(p')``: a view of
    ``x`` where it was a transposed copy (pooling windows of a convolution's output,
    computed as (batch, rows, columns, filters), in Theano's (batch, filters, rows,
    columns) order; the gradient's way back)."""
    x, shape = node.inputs[0], _reshape_target(node)
    order = _permutation(x)
    if order is None or shape is None:
        return None
    pairs = _regroup(x.type.shape, shape)
    if pairs is None or all(len(axes) == len(positions) == 1 for axes, positions in pairs):
        return None
    if any(order[b] != order[a] + 1 for axes, _ in pairs for a, b in zip(axes, axes[1:])):
        return None  # merged axes that are not neighbours in x
    pair_of = {axis: k for k, (axes, _) in enumerate(pairs) for axis in axes}
    lengths, placed = [], {}
    for axis in range(len(order)):  # x's axes in order, each pair where its first one is
        k = pair_of[order.index(axis)]
        if k not in placed:
            positions = pairs[k][1]
            placed[k] = list(range(len(lengths), len(lengths) + len(positions)))
            lengths += [shape[i] for i in positions]
    src = x.owner.inputs[0]
    return DimShuffle([i for k in range(len(pairs)) for i in placed[k]])(
        Reshape(lengths)(src))


def _elemwise_before_dimshuffle(node):
    """An elementwise op of arrays permuted alike (and of arrays broadcast along some axes)
    is the permuted op of the arrays: its loops read them in their own order."""
    ins = node.inputs
    orders = [_permutation(v) for v in ins]
    found = {o for o in orders if o is not None}
    if len(found) != 1:
        return None
    (order,) = found
    if any(v.ndim != len(order) or (o is None and not any(v.broadcastable))
           for v, o in zip(ins, orders)):
        return None  # an array of full lengths in the other order
    back = [order.index(axis) for axis in range(len(order))]
    new = [v.owner.inputs[0] if o is not None else DimShuffle(back)(v)
           for v, o in zip(ins, orders)]
    return DimShuffle(order)(node.op(*new))


def _reduce_before_dimshuffle(node):
    """A reduction of a permuted array is the permuted reduction of the array: the loops
    then read it in its own order (pooling a convolution's output, computed as (batch,
    rows, columns, filters), over windows of rows and columns: the filters are the
    contiguous inner loop, where they were a stride)."""
    x, op = node.inputs[0], node.op
    order = _permutation(x)
    if order is None:
        return None
    src = x.owner.inputs[0]
    reduced = Reduce(op.combine, [order[a] for a in op.axes], op.keepdims)(src)
    if op.keepdims:
        return DimShuffle(order)(reduced)
    kept = sorted(order[k] for k in range(len(order)) if k not in op.axes)
    return DimShuffle([kept.index(order[k]) for k in range(len(order))
                       if k not in op.axes])(reduced)


def _listed_scalars(vector):
    """The scalars a vector is built from, when it is a concatenation of single elements
    (``x.shape[1:]``: dimshuffle{x} of each shape entry) and constants; else None."""
    owner = vector.owner
    if owner is None or not isinstance(owner.op, Concatenate) or owner.op.axis != 0:
        return None
    scalars = []
    for piece in owner.inputs:
        if isinstance(piece, Constant):
            scalars += [_t().constant(v) for v in np.asarray(piece.data).ravel()]
        elif isinstance(piece.owner and piece.owner.op, DimShuffle) \
                and piece.owner.op.new_order == ("x",):
            scalars.append(piece.owner.inputs[0])
        else:
            inner = _listed_scalars(piece)
            if inner is None:
                return None
            scalars += inner
    return scalars


def _entry_of_listed(node):
    """An element, at a constant index, of a vector listed element by element is that
    element: ``reps[k]`` of ``concatenate([[1], x.shape[1:]])`` is ``shape{k}``, a
    length."""
    (item,) = node.op.idx if len(node.op.idx) == 1 else (None,)
    if not isinstance(item, (int, np.integer)) or node.inputs[0].ndim != 1:
        return None
    scalars = _listed_scalars(node.inputs[0])
    if not scalars or not -len(scalars) <= item < len(scalars):
        return None
    return _same_type_or_cast(scalars[item], node.out)


_SCALAR_COMBINE = {"add": "add", "mul": "mul", "maximum": "maximum", "minimum": "minimum"}


def _reduce_of_listed(node):
    """The sum, product, max or min of a vector listed element by element is that of its
    elements: ``prod(x.shape[1:])`` becomes ``shape{1} * shape{2}``, a length the compiled
    backends can reshape by (Keras flattens so)."""
    op, x = node.op, node.inputs[0]
    if x.ndim != 1 or op.keepdims or op.combine not in _SCALAR_COMBINE:
        return None
    scalars = _listed_scalars(x)
    if not scalars:
        return None
    combine = getattr(_t(), _SCALAR_COMBINE[op.combine])
    out = scalars[0]
    for s in scalars[1:]:
        out = combine(out, s)
    return _same_type_or_cast(out, node.out)


def _scatter_into_zeros(node):
    """``inc_subtensor(zeros(...)[idx], y)`` (a sum by index, a sparse product) and
    ``set_subtensor(zeros(...)[idx], y)`` (a diagonal matrix, as the Cholesky factor's
    gradient builds) start from zeros of the alloc's shape: the scatter fills its buffer with
    zeros rather than copying an allocated one."""
    op, x = node.op, node.inputs[0]
    if (op.zeros or x.owner is None
            or not isinstance(x.owner.op, Alloc) or constant_value(x.owner.inputs[0]) != 0):
        return None
    return AdvancedIncSubtensor(op.axis, op.set_instead_of_inc, zeros=True)(*node.inputs)


def _scaled(var):
    """(c, s, negated) for ``var = c * s`` with c of one element (c None for ``var = s``
    or ``var = -s``)."""
    if var.owner is not None and is_elemwise(var.owner, "neg"):
        return None, var.owner.inputs[0], True
    if var.owner is not None and is_elemwise(var.owner, "mul") and len(var.owner.inputs) == 2:
        for c, s in (var.owner.inputs, var.owner.inputs[::-1]):
            if all(c.broadcastable) and s.dtype == var.dtype \
                    and s.broadcastable == var.broadcastable:
                return c, s, False
    return None, var, False


def _step_into_scatter(node):
    """``x + c * inc_subtensor(zeros_like(x)[idx], v) -> inc_subtensor(x[idx], c * v)`` (and
    ``x - ...`` with -c), c of one element or absent: the gradient of a gather (an embedding's
    rows, a sparse product's weights) added to the array it gathered from touches the rows
    the indices pick, not a dense array of x's shape. Where an index repeats, its values add
    up after scaling (rounding may differ in the last bit); elsewhere the values are the
    same."""
    name, ins, out = node.op.scalar_op.name, node.inputs, node.out
    if name not in ("add", "sub") or len(ins) != 2:
        return None
    pairs = [(ins[0], ins[1], -1)] if name == "sub" else [(ins[0], ins[1], 1),
                                                          (ins[1], ins[0], 1)]
    for x, grad, sign in pairs:
        if x.type != out.type:
            continue
        c, s, negated = _scaled(grad)
        op = s.owner.op if s.owner is not None else None
        if not (isinstance(op, AdvancedIncSubtensor) and op.zeros
                and not op.set_instead_of_inc and s.type == x.type):
            continue
        like = s.owner.inputs[0]
        if like is not x and not (None not in x.type.shape and like.type.shape == x.type.shape):
            continue  # x + zeros shaped like another array checks that their shapes agree
        t = _t()
        v = s.owner.inputs[1]
        if c is not None:
            c = t.dimshuffle(c, []) if c.ndim else c
            v = t.mul(t.neg(c) if (sign < 0) != negated else c, v)  # -c of a constant folds
        elif (sign < 0) != negated:
            v = t.neg(v)
        if v.dtype != s.dtype:
            v = t.cast(v, s.dtype)
        return AdvancedIncSubtensor(op.axis)(x, v, *s.owner.inputs[2:])
    return None


def simplify_node(node):
    if len(node.outputs) != 1:
        return None
    folded = fold_node(node)
    if folded is not None:
        return folded
    if isinstance(node.op, Elemwise):
        for rule in (_simplify_elemwise, _step_into_scatter, _elemwise_before_dimshuffle):
            simpler = rule(node)
            if simpler is not None:
                return simpler
        return None
    if isinstance(node.op, DimShuffle):
        return _compose_dimshuffle(node)
    if isinstance(node.op, Reshape):
        return _reshape_before_dimshuffle(node)
    if isinstance(node.op, Subtensor):
        return _entry_of_listed(node)
    if isinstance(node.op, AdvancedIncSubtensor):
        return _scatter_into_zeros(node)
    if isinstance(node.op, Reduce):
        listed = _reduce_of_listed(node)
        return listed if listed is not None else _reduce_before_dimshuffle(node)
    if isinstance(node.op, Dot):
        outer = _outer_product(node)
        if outer is not None:
            return outer
    return fold_transposes(node)


def _outer_product(node):
    """``dot(a, b)`` summing over one element by type (a column times a row: the outer
    products that gradients of matrix-vector products build) -> ``a * b``, broadcast: the
    same values, as one loop that fuses with its neighbours instead of a product of k = 1."""
    if node.inputs[0].ndim != 2 or node.inputs[1].ndim != 2:
        return None
    a, b = (v.T if t else v for v, t in zip(node.inputs, node.op.trans))
    if not (a.broadcastable[1] and b.broadcastable[0]):
        return None
    return _same_type_or_cast(a * b, node.out)


def simplify(outputs):
    """Constant folding plus ``x*1, x+0, x**1, x**2 -> x*x, --x, exp(log x)``, transposes of
    transposes, transposes folded into products, outer products as broadcast products, fills
    of constants, and constants-first order for add and mul."""
    return apply_local(outputs, simplify_node)


def canonicalize(outputs):
    return simplify(outputs)


# ---------------------------------------------------------------- zero_grad

def _drop_zero_grad(node):
    if isinstance(node.op, GradOverride):
        return node.inputs[:node.op.n_outputs]
    if any(is_elemwise(node, name) for name in GRADIENT_ONLY) and \
            node.inputs[0].type == node.out.type:
        return node.inputs[0]
    return None


def remove_zero_grad(outputs):
    """zero_grad, grad_clip, grad_scale and OpFromGraph's grad_overrides only matter to the
    gradient walker; compiled code does not need them."""
    return apply_local(outputs, _drop_zero_grad)


def _compiled_form(node):
    from codegen.ops.valued import NumpyOp, compiled_form
    return compiled_form(node) if isinstance(node.op, NumpyOp) else None


def expand_valued(outputs):
    """The ops whose outputs' lengths depend on the values (nonzero, unique, bincount,
    repeat by counts) built from compiled ops (``valued.compiled_form``)."""
    return apply_local(outputs, _compiled_form)


# ---------------------------------------------------------------- common subexpressions

def _input_key(var, canon):
    if isinstance(var, Constant):
        return ("const",) + var.signature()
    return ("var", canon.get(var.id, var).id)


def cse(outputs):
    """Merge nodes that apply equal ops to the same inputs, and equal constants."""
    canon, seen_nodes, seen_consts = {}, {}, {}
    for node in toposort(outputs):
        for var in node.inputs:
            if isinstance(var, Constant):
                canon.setdefault(var.id, seen_consts.setdefault(var.signature(), var))
        key = (node.op.key(), tuple(_input_key(v, canon) for v in node.inputs))
        if key in seen_nodes:
            for old, new in zip(node.outputs, seen_nodes[key].outputs):
                canon[old.id] = new
            continue
        inputs = [canon.get(v.id, v) for v in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            with provenance_as(node.provenance):
                new_node = node.op.make_node(*inputs)
            for old, new in zip(node.outputs, new_node.outputs):
                new.name = old.name
                canon[old.id] = new
            seen_nodes[key] = new_node
        else:
            seen_nodes[key] = node
    return [canon.get(v.id, v) for v in outputs]


def count_nodes(outputs):
    return len(toposort(outputs))
