"""Indexing with integer arrays (numpy's advanced indexing) and writing into indexed parts.

- ``Gather(axis)``: ``x[..., i0, i1, ...]``, the index arrays taking ``x``'s axes ``axis``,
  ``axis + 1``, ... (broadcast together, their shape in place of those axes): ``W[idx]``,
  ``p[T.arange(n), y]``.
- ``AdvancedIncSubtensor(axis, set_instead_of_inc)``: ``x`` with ``y`` added to (or written
  into) the elements a ``Gather`` of the same indices reads; repeated indices add up, in
  order. With ``zeros``, ``x`` gives only the shape (the gradient of a gather).
- ``IncSubtensor(idx, set_instead_of_inc)``: the same for ints and slices
  (``T.inc_subtensor(x[2:, 0], y)``).
- ``SearchSorted(side)``: where each element of ``v`` goes in the sorted vector ``x``
  (numpy's ``searchsorted``): compiled as a gather whose index is a binary search.

Negative indices count from the end; an index out of range is an IndexError naming the op
and the user's line, on every backend (compiled code checks each index before it reads or
writes).
"""

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.errors import describe
from codegen.ops.shape import Subtensor, _bind, _index_text, _slice_key


def _index_shape(idxs):
    """(broadcastable, static shape) of index arrays broadcast together (right-aligned)."""
    m = max(i.ndim for i in idxs)
    bc, shape = [True] * m, [1] * m
    for i in idxs:
        for a in range(i.ndim):
            k = m - i.ndim + a
            if not i.broadcastable[a]:
                bc[k] = False
                shape[k] = i.type.shape[a] if shape[k] in (1, None) else shape[k]
    return bc, [s if not b else 1 for s, b in zip(shape, bc)]


def index_dims(idx_shapes, idxs):
    """The dims of the index arrays' common shape (dim expressions), right-aligned."""
    m = max(len(s) for s in idx_shapes)
    dims = ["1"] * m
    for shape, i in zip(idx_shapes, idxs):
        for a, d in enumerate(shape):
            if not i.broadcastable[a] and dims[m - len(shape) + a] == "1":
                dims[m - len(shape) + a] = d
    return dims


def _index_checks(idxs, shapes, what):
    """Dims of the index arrays that must be equal (their non-broadcast axes, right-aligned)."""
    m = max(len(s) for s in shapes)
    checks = []
    for k in range(m):
        dims = [(i, s[k - (m - len(s))]) for i, s in zip(idxs, shapes)
                if k >= m - len(s) and not i.broadcastable[k - (m - len(s))]]
        for (v0, d0), (v1, d1) in zip(dims, dims[1:]):
            if d0 != d1:
                checks.append((d0, d1, f"{what}: the index arrays {v0.label()} and "
                                       f"{v1.label()} must have equal lengths (axis {k})"))
    return checks


def _check_indices(idxs):
    for i in idxs:
        if i.dtype[0] not in "iu":
            raise TypeError(f"indexing: index arrays must be integers, got {i.type}")


class Gather(Op):
    """``x[(slice(None),) * axis + (i0, i1, ...)]``."""

    props = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def short_name(self):
        return "advanced_subtensor"

    def make_node(self, x, *idxs):
        _check_indices(idxs)
        k = len(idxs)
        node = Apply(self, [x, *idxs], [])
        if self.axis + k > x.ndim:
            raise op_error(IndexError, node, f"too many indices for {describe(x)}")
        bc, shape = _index_shape(idxs)
        xs = x.type.shape
        out_type = TensorType(
            x.dtype, x.broadcastable[:self.axis] + tuple(bc) + x.broadcastable[self.axis + k:],
            tuple(xs[:self.axis]) + tuple(shape) + tuple(xs[self.axis + k:]))
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def format(self, node, args):
        return f"{args[0]}[{', '.join([':'] * self.axis + list(args[1:]))}]"

    def perform(self, node, values):
        x, idxs = values[0], values[1:]
        try:
            return [np.asarray(x[(slice(None),) * self.axis + tuple(idxs)])]
        except (IndexError, ValueError) as exc:  # an index out of range, a value's shape
            raise op_error(type(exc), node, f"{exc} ({describe(node.inputs[0], x)})") from None

    def infer_shape(self, node, input_shapes):
        x, k = input_shapes[0], len(node.inputs) - 1
        return [tuple(x[:self.axis]) + tuple(index_dims(input_shapes[1:], node.inputs[1:]))
                + tuple(x[self.axis + k:])]

    def shape_checks(self, node, input_shapes):
        return _index_checks(node.inputs[1:], input_shapes[1:], "advanced_subtensor")

    def grad(self, node, output_grads):
        (gz,) = output_grads
        x, idxs = node.inputs[0], node.inputs[1:]
        return ([AdvancedIncSubtensor(self.axis, zeros=True)(x, gz, *idxs)]
                + [None] * len(idxs))

    def batch(self, node, inputs, batched):
        """A batch of x, indexed by the same arrays: one axis further along."""
        if any(batched[1:]):
            raise NotImplementedError("advanced_subtensor: index arrays that vary along the "
                                      "batch (jacobian/hessian)")
        return Gather(self.axis + 1)(*inputs)


class AdvancedIncSubtensor(Op):
    """``x`` with ``y`` added into (or, with ``set_instead_of_inc``, written over) the
    elements ``Gather(axis)(x, *idxs)`` reads; ``y`` broadcasts to that shape. Repeated
    indices add up in order (numpy's ``np.add.at``; the last written wins for a set). With
    ``zeros``, the result starts from zeros shaped like ``x``."""

    props = ("axis", "set_instead_of_inc", "zeros")

    def __init__(self, axis, set_instead_of_inc=False, zeros=False):
        self.axis, self.set_instead_of_inc, self.zeros = axis, set_instead_of_inc, zeros

    def short_name(self):
        return "advanced_set_subtensor" if self.set_instead_of_inc else \
            "advanced_inc_subtensor"

    def make_node(self, x, y, *idxs):
        _check_indices(idxs)
        node = Apply(self, [x, y, *idxs], [x.type])
        if y.dtype != x.dtype:
            raise op_error(TypeError, node, f"the value {describe(y)} must have the dtype of "
                           f"{describe(x)} (cast it first)")
        if self.axis + len(idxs) > x.ndim:
            raise op_error(IndexError, node, f"too many indices for {describe(x)}")
        _check_value(node, x, y, self.axis, idxs)
        return node

    def perform(self, node, values):
        x, y, idxs = values[0], values[1], values[2:]
        out = np.zeros_like(x) if self.zeros else x.copy()
        where = (slice(None),) * self.axis + tuple(idxs)
        try:
            if self.set_instead_of_inc:
                out[where] = y
            else:
                np.add.at(out, where, y)
        except (IndexError, ValueError) as exc:  # an index out of range, a value's shape
            raise op_error(type(exc), node, f"{exc} ({describe(node.inputs[0], x)})") from None
        return [out]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def shape_inputs(self, node):
        """With ``zeros``, ``x`` is read for its shape only."""
        return (0,) if self.zeros else ()

    def shape_checks(self, node, input_shapes):
        x, k = input_shapes[0], len(node.inputs) - 2
        piece = (tuple(x[:self.axis]) + tuple(index_dims(input_shapes[2:], node.inputs[2:]))
                 + tuple(x[self.axis + k:]))
        return (_index_checks(node.inputs[2:], input_shapes[2:], self.short_name())
                + _value_checks(node.inputs[1], input_shapes[1], piece, self.short_name()))

    def grad(self, node, output_grads):
        (gz,) = output_grads
        y, idxs = node.inputs[1], node.inputs[2:]
        gy = _reduce_to(Gather(self.axis)(gz, *idxs), y)
        if self.zeros:
            gx = None
        elif self.set_instead_of_inc:
            gx = AdvancedIncSubtensor(self.axis, True)(gz, _zero(gz), *idxs)
        else:
            gx = gz
        return [gx, gy] + [None] * len(idxs)

    def batch(self, node, inputs, batched):
        if any(batched[2:]):
            raise NotImplementedError(f"{self.short_name()}: index arrays that vary along the "
                                      f"batch (jacobian/hessian)")
        x, y = _batched_pair(node, inputs, batched)
        return AdvancedIncSubtensor(self.axis + 1, self.set_instead_of_inc, self.zeros)(
            x, y, *inputs[2:])


class IncSubtensor(Op):
    """``x`` with ``y`` added into (or written over) ``x[idx]`` (ints, slices and ``Sym``s
    for int scalar inputs, as ``Subtensor``'s); ``y`` broadcasts to that part's shape."""

    props = ("key_", "set_instead_of_inc")
    reads_values = True
    data_inputs = 2  # x and the value written; the rest are indices

    def __init__(self, idx, set_instead_of_inc=False):
        self.idx = tuple(idx)
        self.key_ = _slice_key(self.idx)
        self.set_instead_of_inc = set_instead_of_inc

    def short_name(self):
        return "set_subtensor" if self.set_instead_of_inc else "inc_subtensor"

    def make_node(self, x, y, *scalars):
        node = Apply(self, [x, y, *scalars], [x.type])
        piece = Subtensor(self.idx).make_node(x, *scalars).outputs[0]
        _check_broadcast(node, piece, y)
        return node

    def format(self, node, args):
        index = ", ".join(_index_text(i, args[2:]) for i in self.idx)
        return f"{self.short_name()}({args[0]}[{index}], {args[1]})"

    def perform(self, node, values):
        x, y = values[:2]
        out = x.copy()
        where = _bind(self.idx, values[2:])
        try:
            if self.set_instead_of_inc:
                out[where] = y
            else:
                out[where] += y
        except (IndexError, ValueError) as exc:  # an index out of range, a value's shape
            raise op_error(type(exc), node, f"{exc} ({describe(node.inputs[0], x)})") from None
        return [out]

    def infer_shape(self, node, input_shapes, values=None):
        return [input_shapes[0]]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        y, scalars = node.inputs[1], node.inputs[2:]
        gy = _reduce_to(Subtensor(self.idx)(gz, *scalars), y)
        gx = (IncSubtensor(self.idx, True)(gz, _zero(gz), *scalars)
              if self.set_instead_of_inc else gz)
        return [gx, gy] + [None] * len(scalars)

    def batch(self, node, inputs, batched):
        if any(batched[2:]):
            raise NotImplementedError(f"{self.short_name()}: an index that varies along the "
                                      f"batch (jacobian/hessian)")
        x, y = _batched_pair(node, inputs, batched)
        return IncSubtensor((slice(None),) + self.idx, self.set_instead_of_inc)(
            x, y, *inputs[2:])


def _batched_pair(node, inputs, batched):
    """(x, y) of a write into part of x, both with the batch as their first axis: x broadcast
    along it when it has none (its length from y's), y's batch axis put before the axes it
    is broadcast along."""
    from codegen.ops.shape import DimShuffle
    from codegen.tensor import basic as t
    x, y = inputs[0], inputs[1]
    x0, y0 = node.inputs[0], node.inputs[1]
    if batched[1]:
        lead = x0.ndim - y0.ndim  # y's axes align with x's last ones
        if lead:
            y = DimShuffle([0] + ["x"] * lead + list(range(1, y0.ndim + 1)))(y)
    if not batched[0]:
        if not batched[1]:
            raise NotImplementedError("batching a write with neither part batched")
        batch = t.arange(t.shape_of(y, 0))
        along = DimShuffle([0] + ["x"] * x0.ndim)(t.zeros_like(batch, x0.dtype))
        x = DimShuffle(["x"] + list(range(x0.ndim)))(x) + along
    return x, y


def _zero(like):
    from codegen.tensor.basic import constant
    return constant(np.zeros((), dtype=like.dtype))


def _check_value(node, x, y, axis, idxs):
    """``y`` must broadcast to the shape of the part of ``x`` the indices select."""
    bc, _ = _index_shape(idxs)
    piece_bc = x.broadcastable[:axis] + tuple(bc) + x.broadcastable[axis + len(idxs):]
    piece = TensorType(x.dtype, piece_bc)()
    _check_broadcast(node, piece, y)


def _check_broadcast(node, piece, y):
    if y.ndim > piece.ndim:
        raise op_error(ValueError, node, f"the value {describe(y)} has more dimensions than "
                       f"the part it goes into ({piece.ndim})")
    # where the part has length 1 and the value may not, its length is checked when the
    # function runs, as every length of the value the part's does not fix (Theano's rule)
    if np.result_type(piece.dtype, y.dtype) != np.dtype(piece.dtype) and \
            not np.can_cast(y.dtype, piece.dtype, "same_kind"):
        raise op_error(TypeError, node, f"cannot write {describe(y)} into {piece.dtype}")


def _value_checks(y, y_shape, piece, what):
    lead = len(piece) - len(y_shape)
    return [(piece[lead + a], d, f"{what}: dimension {a} of the value {y.label()} must equal "
                                 f"that of the part it goes into")
            for a, d in enumerate(y_shape) if not y.broadcastable[a] and piece[lead + a] != d]


def _reduce_to(g, y):
    """``g`` (the shape of the part ``y`` was broadcast to) summed back to ``y``'s shape."""
    from codegen.tensor import basic as t
    lead = g.ndim - y.ndim
    if lead:
        g = t.sum(g, axis=list(range(lead)))
    axes = [a for a in range(y.ndim) if y.broadcastable[a] and not g.broadcastable[a]]
    if axes:
        g = t.sum(g, axis=axes, keepdims=True)
    if g.broadcastable != y.broadcastable:  # a length-1 part, a value not known to be
        g = t.patternbroadcast(g, y.broadcastable)
    return t.cast(g, y.dtype) if g.dtype != y.dtype else g


class SearchSorted(Op):
    """``searchsorted(x, v, side)``: for each element of ``v``, the place in the sorted vector
    ``x`` where it would go to keep ``x`` sorted (int64, ``v``'s shape): before the equal
    elements (``side`` 'left') or after them ('right'). NaNs sort after every number, as in
    numpy. ``x`` and ``v`` have one dtype (``extra_ops.searchsorted`` casts them); no
    gradient (an index, piecewise constant)."""

    props = ("side",)

    def __init__(self, side="left"):
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        self.side = side

    def short_name(self):
        return "searchsorted"

    def make_node(self, x, v):
        node = Apply(self, [x, v], [])
        if x.ndim != 1:
            raise op_error(ValueError, node, f"x must be a vector, got {describe(x)}")
        if x.dtype != v.dtype:
            raise op_error(TypeError, node, f"x and v must have one dtype, got {x.dtype} "
                                            f"and {v.dtype}")
        out_type = TensorType("int64", v.broadcastable, v.type.shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def perform(self, node, values):
        x, v = values
        return [np.asarray(np.searchsorted(x, v, self.side), dtype="int64")]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def grad(self, node, output_grads):
        return [None, None]


__all__ = ["Gather", "AdvancedIncSubtensor", "IncSubtensor", "SearchSorted"]
