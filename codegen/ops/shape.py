"""Ops that rearrange data without arithmetic: dimshuffle, reshape, indexing, concatenate.

Compiled backends lower most of them to views (new strides over the same memory).
"""

import math
import re
from dataclasses import dataclass

import numpy as np

from codegen.graph import Apply, Op, TensorType, op_error
from codegen.graph.errors import describe


def _tensor():
    from codegen.tensor import basic
    return basic


class DimShuffle(Op):
    """Permute dimensions, insert broadcastable ones ('x'), drop broadcastable ones.

    ``DimShuffle((1, 'x', 0))`` turns a matrix (a, b) into a tensor3 (b, 1, a).
    """

    props = ("new_order",)

    def __init__(self, new_order):
        self.new_order = tuple(new_order)

    def short_name(self):
        return "dimshuffle{" + ",".join(str(i) for i in self.new_order) + "}"

    def make_node(self, x):
        kept = [i for i in self.new_order if i != "x"]
        if len(set(kept)) != len(kept) or any(not 0 <= i < x.ndim for i in kept):
            raise ValueError(f"dimshuffle{self.new_order}: invalid for a {x.ndim}-d input")
        node = Apply(self, [x], [])
        for axis in range(x.ndim):
            if axis not in kept and not x.broadcastable[axis]:
                raise op_error(ValueError, node, f"cannot drop dimension {axis} of "
                               f"{describe(x)}: it is not broadcastable")
        bc = tuple(True if i == "x" else x.broadcastable[i] for i in self.new_order)
        shape = tuple(1 if i == "x" else x.type.shape[i] for i in self.new_order)
        out_type = TensorType(x.dtype, bc, shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def format(self, node, args):
        kept = [i for i in self.new_order if i != "x"]
        if kept == list(range(node.inputs[0].ndim)):
            return args[0]  # only inserts broadcastable axes: numpy broadcasting shows it
        if kept == list(reversed(range(node.inputs[0].ndim))) and len(kept) == len(
                self.new_order):
            return f"{args[0]}.T"
        return f"{args[0]}.dimshuffle{tuple(self.new_order)}"

    def perform(self, node, values):
        (x,) = values
        kept = [i for i in self.new_order if i != "x"]
        dropped = tuple(i for i in range(x.ndim) if i not in kept)
        if dropped:
            x = x.reshape([n for i, n in enumerate(x.shape) if i not in dropped])
            remap = {old: new for new, old in enumerate(i for i in range(node.inputs[0].ndim)
                                                       if i not in dropped)}
            kept = [remap[i] for i in kept]
        y = np.transpose(x, kept) if kept else x.reshape(())
        shape = [1] * len(self.new_order)
        it = iter(y.shape)
        for pos, i in enumerate(self.new_order):
            if i != "x":
                shape[pos] = next(it)
        return [y.reshape(shape)]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        return [tuple("1" if i == "x" else shape[i] for i in self.new_order)]

    def batch(self, node, inputs, batched):
        return DimShuffle([0] + ["x" if i == "x" else i + 1 for i in self.new_order])(inputs[0])

    def grad(self, node, output_grads):
        # gz has this op's output type, so the inserted 'x' axes are broadcastable and drop.
        (gz,) = output_grads
        positions = {i: pos for pos, i in enumerate(self.new_order) if i != "x"}
        order = [positions.get(axis, "x") for axis in range(node.inputs[0].ndim)]
        return [DimShuffle(order)(gz)]


class Reshape(Op):
    """Reshape to ``shape``: entries are lengths, -1 (inferred), ('d', k), input dim k, or
    ``Sym(k)``, the value of the int scalar input ``1 + k`` (``x.shape[0] * 2``, say).

    With a second input ``like`` and ``shape`` None, reshape to ``like``'s shape (used by
    the gradient, where the target shape is only known at run time).
    """

    props = ("shape",)
    #: the lowerer gives ``infer_shape`` the dim expressions of the scalar inputs' values
    reads_values = True
    data_inputs = 1  # the array reshaped; the rest are its shape

    def __init__(self, shape):
        self.shape = None if shape is None else tuple(shape)

    def short_name(self):
        return "reshape"

    def make_node(self, x, *rest):
        like = rest[0] if self.shape is None else None
        inputs = [x, *rest]
        node = Apply(self, inputs, [])
        if like is not None:
            out_type = TensorType(x.dtype, like.broadcastable, like.type.shape)
        else:
            if sum(1 for s in self.shape if s == -1) > 1:
                raise op_error(ValueError, node, "at most one dimension may be -1")
            bc = tuple(s == 1 for s in self.shape)
            static = tuple(s if isinstance(s, int) and s >= 0 else None for s in self.shape)
            out_type = TensorType(x.dtype, bc, static)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def batch(self, node, inputs, batched):
        if len(inputs) == 2 or not batched[0]:
            return super().batch(node, inputs, batched)
        if any(batched[1:]):
            raise NotImplementedError("reshape to lengths that vary along the batch")
        shape = [("d", 0)] + [("d", s[1] + 1) if isinstance(s, tuple) else s for s in self.shape]
        return Reshape(shape)(*inputs)

    def shape_inputs(self, node):
        """The inputs read for their shapes only (``like``), not their values."""
        return (1,) if self.shape is None else ()

    def target_shape(self, x_shape, values=()):
        return tuple(x_shape[s[1]] if isinstance(s, tuple) else
                     int(values[s.k]) if isinstance(s, Sym) else s for s in self.shape)

    def perform(self, node, values):
        x = values[0]
        target = values[1].shape if self.shape is None else \
            self.target_shape(x.shape, values[1:])
        try:
            return [x.reshape(target)]
        except ValueError:
            raise op_error(ValueError, node, f"cannot reshape {describe(node.inputs[0], x)} "
                                             f"to {tuple(target)}") from None

    def infer_shape(self, node, input_shapes, values=None):
        if self.shape is None:
            return [input_shapes[1]]
        x_shape = input_shapes[0]
        if any(isinstance(s, Sym) for s in self.shape) and not values:
            raise NotImplementedError("reshape: lengths known when lowering")
        dims = [x_shape[s[1]] if isinstance(s, tuple) else values[1 + s.k]
                if isinstance(s, Sym) else str(s) for s in self.shape]
        if "-1" in dims:
            dims[dims.index("-1")] = dim_quotient(x_shape, [d for d in dims if d != "-1"])
        return [tuple(dims)]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        x = node.inputs[0]
        grads = [Reshape(None)(gz, x)]
        return grads + [None] * (len(node.inputs) - 1)


def _split_top(text, signs):
    """``text`` cut at the characters of ``signs`` outside parentheses (a leading sign is
    part of its term)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in signs and text[:i].strip():
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in parts + [text[start:]]]


def _wraps(text):
    """Whether ``text`` is one parenthesized expression, ``(...)``."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def dim_product(dims):
    """The dim expression of the product of ``dims``, each length that is not a name or a
    number kept whole: ``n * (a + b)``, never ``n * a + b``."""
    return " * ".join(d if re.fullmatch(r"\w+", d) else f"({d})" for d in dims) or "1"


def dim_factors(dims):
    """(integer coefficient, other factors in order) of the product of the dim expressions
    ``dims``, parentheses around products opened."""
    coefficient, atoms, todo = 1, [], [str(d).strip() for d in dims]
    while todo:
        d = todo.pop(0)
        factors = _split_top(d, "*")
        if len(factors) > 1:
            todo[:0] = factors
        elif _wraps(d) and len(_split_top(d[1:-1], "+-")) == 1:
            todo.insert(0, d[1:-1].strip())
        elif d.isdigit():
            coefficient *= int(d)
        else:
            atoms.append(d if len(_split_top(d, "+-")) == 1 else f"({d})")
    return coefficient, atoms


def dim_quotient(numerator, denominator):
    """The dim expression of ``prod(numerator) // prod(denominator)`` (lists of dim
    expressions), common factors cancelled: reshaping ``(n * 576, 20)`` to ``(-1, 24, 24,
    20)`` gives ``n``, not a quotient of products, so that the emitted code stays readable
    and equal lengths read alike."""
    c, atoms = dim_factors(numerator)
    d, below = dim_factors(denominator)
    if c == 0 or d == 0:  # _dim_div(a, 0) is 0
        return "0"
    for atom in list(below):  # n * 800 // n is 800 (an empty array keeps its 800 columns)
        if atom in atoms:
            atoms.remove(atom)
            below.remove(atom)
    g = math.gcd(c, d)
    c, d = c // g, d // g
    top = " * ".join(atoms + ([str(c)] if c != 1 or not atoms else []))
    bottom = " * ".join(below + ([str(d)] if d != 1 or not below else []))
    return top if bottom == "1" else f"_dim_div({top}, {bottom})"


@dataclass(frozen=True)
class Sym:
    """A symbolic part of an index: the value of the op's input ``1 + k`` (an int scalar:
    ``x[i]``, ``X[index * 20:(index + 1) * 20]``)."""

    k: int

    def __repr__(self):
        return f"${self.k}"


def _int_part(part, scalars, what, op="indexing"):
    """An int, or a Sym for an int scalar variable (appended to ``scalars``); ``what`` and
    ``op`` name it in errors."""
    from codegen.graph import Constant, Variable
    if part is None:
        return None
    if isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)):
        return int(part)
    if isinstance(part, Constant) and part.ndim == 0 and part.dtype[0] in "iu":
        return int(part.data)
    if isinstance(part, Variable):
        if part.ndim != 0 or part.dtype[0] not in "iu":
            raise TypeError(f"{op}: {what} must be an int scalar, got {part.type}")
        scalars.append(part)
        return Sym(len(scalars) - 1)
    raise TypeError(f"{op}: {what} must be an int or an int scalar, got "
                    f"{type(part).__name__}")


def _normalize_index(index, ndim):
    """(index, scalars): ``index`` with ints, slices and ``Sym``s standing for ``scalars``
    (int scalar variables), padded with full slices to ``ndim`` items."""
    if not isinstance(index, tuple):
        index = (index,)
    out, scalars = [], []
    for item in index:
        if isinstance(item, slice):
            start, stop, step = (_int_part(p, scalars, "a slice bound")
                                 for p in (item.start, item.stop, item.step))
            if isinstance(step, Sym):
                raise NotImplementedError("indexing: a slice step must be a Python int "
                                          "(symbolic steps are not supported)")
            if step == 0:
                raise ValueError("indexing: slice step cannot be zero")
            out.append(slice(start, stop, step))
        else:
            out.append(_int_part(item, scalars, "an index"))
    if len(out) > ndim:
        raise IndexError(f"indexing: too many indices ({len(out)}) for a {ndim}-d tensor")
    return tuple(out) + (slice(None),) * (ndim - len(out)), scalars


def _slice_key(idx):
    return tuple((i.start, i.stop, i.step) if isinstance(i, slice) else i for i in idx)


def _bind(idx, values):
    """``idx`` with each Sym replaced by its value (``values``: the op's scalar inputs)."""
    def part(p):
        return int(values[p.k]) if isinstance(p, Sym) else p
    return tuple(slice(part(i.start), part(i.stop), i.step) if isinstance(i, slice) else part(i)
                 for i in idx)


def _index_text(item, names):
    """An index item in numpy's notation, Syms by the names of their scalars."""
    def part(p):
        return "" if p is None else (names[p.k] if isinstance(p, Sym) else str(p))
    if isinstance(item, slice):
        return (part(item.start) + ":" + part(item.stop)
                + (f":{item.step}" if item.step is not None else ""))
    return part(item)


def _has_sym(idx):
    return any(isinstance(p, Sym) for i in idx
               for p in ((i.start, i.stop) if isinstance(i, slice) else (i,)))


def slice_dims(shape, idx, values):
    """The dims of ``x[idx]`` for ``x`` of ``shape`` (dim expressions); ``values``: the dim
    expression of each Sym's scalar (None: not known, NotImplementedError)."""
    def part(p):
        if isinstance(p, Sym):
            if values is None or values[p.k] is None:
                raise NotImplementedError("the length of a slice with symbolic bounds")
            return values[p.k]
        return p
    out = []
    for dim, item in zip(shape, idx):
        if isinstance(item, slice):
            flags = (item.start is not None) + 2 * (item.stop is not None)
            if flags == 0 and (item.step or 1) == 1:
                out.append(dim)  # x[:]
                continue
            start, stop = part(item.start), part(item.stop)
            out.append(f"_slice_len({dim}, {start if start is not None else 0}, "
                       f"{stop if stop is not None else 0}, {item.step or 1}, {flags})")
    return tuple(out)


#: an argument's dim (``A_n0``) or an integer: a length as written
_LENGTH = re.compile(r"(?:[A-Za-z_]\w*_n)?\d+")


def is_length(dim):
    """Whether a dim expression can never be negative as written: an argument's dim, an
    integer, a slice's length, or the smaller of two lengths. ``arange(n)`` has ``n``
    elements where ``n`` is one (``arange(x.shape[0])``), ``len(range(n))`` otherwise."""
    if _LENGTH.fullmatch(dim) or (dim.startswith("_slice_len(") and _call_ends(dim)):
        return True
    if dim.startswith("_dim_min(") and _call_ends(dim):
        depth, inner = 0, dim[len("_dim_min("):-1]
        for k, c in enumerate(inner):
            depth += (c == "(") - (c == ")")
            if c == "," and depth == 0:
                return is_length(inner[:k].strip()) and is_length(inner[k + 1:].strip())
    return False


def _call_ends(dim):
    """Whether the parenthesis that the call ``dim`` opens closes at its last character."""
    depth = 0
    for k, c in enumerate(dim):
        depth += (c == "(") - (c == ")")
        if depth == 0 and c == ")":
            return k == len(dim) - 1
    return False


class Subtensor(Op):
    """``x[idx]`` with ints and slices; a bound or index may be an int scalar variable
    (a ``Sym`` for the op's input ``1 + k``)."""

    props = ("key_",)
    #: the lowerer gives ``infer_shape`` the dim expressions of the scalar inputs' values
    reads_values = True
    data_inputs = 1  # the array indexed; the rest are indices

    def __init__(self, idx):
        self.idx = tuple(idx)
        self.key_ = _slice_key(self.idx)

    def short_name(self):
        return "subtensor"

    def make_node(self, x, *scalars):
        node = Apply(self, [x, *scalars], [])
        bc, shape = [], []
        for axis, item in enumerate(self.idx):
            n = x.type.shape[axis]
            if isinstance(item, slice):
                static = not any(isinstance(p, Sym) for p in (item.start, item.stop))
                length = len(range(*item.indices(n))) if n is not None and static else None
                bc.append(length == 1 if length is not None else False)
                shape.append(length)
            elif isinstance(item, int) and n is not None and not -n <= item < n:
                raise op_error(IndexError, node, f"index {item} is out of bounds for dimension "
                               f"{axis} of {describe(x)} with length {n}")
        out_type = TensorType(x.dtype, bc, shape)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def format(self, node, args):
        return f"{args[0]}[{', '.join(_index_text(i, args[1:]) for i in self.idx)}]"

    def perform(self, node, values):
        x = values[0]
        try:
            return [np.asarray(x[_bind(self.idx, values[1:])])]
        except IndexError as exc:
            raise op_error(IndexError, node, f"{exc} ({describe(node.inputs[0], x)})") from None

    def infer_shape(self, node, input_shapes, values=None):
        return [slice_dims(input_shapes[0], self.idx, values and values[1:])]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        scalars = node.inputs[1:]
        return [SubtensorGrad(self.idx)(node.inputs[0], gz, *scalars)] + [None] * len(scalars)

    def batch(self, node, inputs, batched):
        if any(batched[1:]):
            raise NotImplementedError("indexing with an index that varies along the batch")
        return Subtensor((slice(None),) + self.idx)(*inputs)


class SubtensorGrad(Op):
    """Zeros shaped like ``x`` with ``gz`` written into ``x[idx]`` (gradient of indexing)."""

    props = ("key_",)

    def __init__(self, idx):
        self.idx = tuple(idx)
        self.key_ = _slice_key(self.idx)

    def short_name(self):
        return "subtensor_grad"

    def make_node(self, x, gz, *scalars):
        return Apply(self, [x, gz, *scalars], [x.type])

    def perform(self, node, values):
        x, gz = values[:2]
        out = np.zeros_like(x)
        out[_bind(self.idx, values[2:])] = gz
        return [out]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, node, output_grads):
        (gz,) = output_grads
        scalars = node.inputs[2:]
        return [None, Subtensor(self.idx)(gz, *scalars)] + [None] * len(scalars)

    def batch(self, node, inputs, batched):
        """Zeros shaped like a batch of x, each with its gz written in: x (which only gives
        the shape) is broadcast along the batch axis when it has none, taking the batch's
        length from gz."""
        from codegen.tensor import basic as t
        x, gz, scalars = inputs[0], inputs[1], inputs[2:]
        if any(batched[2:]):
            raise NotImplementedError("indexing with an index that varies along the batch")
        if not batched[1]:
            gz = DimShuffle(["x"] + list(range(gz.ndim)))(gz)
        if not batched[0]:
            batch = t.arange(t.shape_of(gz, 0))  # a vector of the batch's length
            along = DimShuffle([0] + ["x"] * x.ndim)(t.zeros_like(batch, x.dtype))
            x = DimShuffle(["x"] + list(range(x.ndim)))(x) + along
        return SubtensorGrad((slice(None),) + self.idx)(x, gz, *scalars)


class Concatenate(Op):
    """Join tensors of equal ndim along ``axis``."""

    props = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def short_name(self):
        return "concatenate"

    def make_node(self, *xs):
        node = Apply(self, xs, [])
        ndim = xs[0].ndim
        if any(x.ndim != ndim for x in xs):
            raise op_error(TypeError, node, "inputs must have equal ndim, got "
                           + ", ".join(describe(x) for x in xs))
        dtype = str(np.result_type(*[x.dtype for x in xs]))
        bc = [all(x.broadcastable[a] for x in xs) if a != self.axis else False
              for a in range(ndim)]
        out_type = TensorType(dtype, bc)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def perform(self, node, values):
        shapes = {tuple(np.delete(v.shape, self.axis)) for v in values}
        if len(shapes) > 1:
            raise op_error(ValueError, node, "shapes disagree outside the concatenation axis: "
                           + ", ".join(describe(x, v) for x, v in zip(node.inputs, values)))
        return [np.concatenate(values, axis=self.axis).astype(node.out.dtype, copy=False)]

    def infer_shape(self, node, input_shapes):
        first = list(input_shapes[0])
        first[self.axis] = " + ".join(f"{s[self.axis]}" for s in input_shapes)
        return [tuple(first)]

    def shape_checks(self, node, input_shapes):
        checks = []
        for var, shape in zip(node.inputs[1:], input_shapes[1:]):
            for axis, (d0, d1) in enumerate(zip(input_shapes[0], shape)):
                if axis != self.axis and d0 != d1:
                    checks.append((d0, d1, f"dimension {axis} of {node.inputs[0].label()} and "
                                           f"{var.label()} must be equal"))
        return checks

    def grad(self, node, output_grads):
        (gz,) = output_grads
        return [SplitPiece(self.axis, k)(gz, *node.inputs) for k in range(len(node.inputs))]

    def batch(self, node, inputs, batched):
        """Joined along the next axis; an input without the batch axis is broadcast along
        it (its length taken from a batched one)."""
        from codegen.tensor import basic as t
        n = t.shape_of(inputs[batched.index(True)], 0)
        padded = [x if b else t.alloc(x, n, *t.shape(x)) for x, b in zip(inputs, batched)]
        return Concatenate(self.axis + 1)(*padded)


class SplitPiece(Op):
    """Piece ``k`` of ``gz`` split along ``axis`` into the lengths of ``xs``."""

    props = ("axis", "k")

    def __init__(self, axis, k):
        self.axis, self.k = axis, k

    def short_name(self):
        return f"split_piece{{{self.k}}}"

    def make_node(self, gz, *xs):
        x = xs[self.k]
        return Apply(self, [gz, *xs], [TensorType(gz.dtype, x.broadcastable)])

    def perform(self, node, values):
        gz, xs = values[0], values[1:]
        start = sum(x.shape[self.axis] for x in xs[: self.k])
        index = [slice(None)] * gz.ndim
        index[self.axis] = slice(start, start + xs[self.k].shape[self.axis])
        return [gz[tuple(index)]]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1 + self.k]]

    def grad(self, node, output_grads):
        raise NotImplementedError("split_piece is only used inside gradients")

    def batch(self, node, inputs, batched):
        """The piece of each gz in the batch: a slice along the next axis, its bounds the
        lengths of the pieces before it."""
        from codegen.tensor import basic as t
        if any(batched[1:]):
            raise NotImplementedError("split_piece: pieces whose lengths vary along the batch")
        gz, xs = inputs[0], inputs[1:]
        start = 0
        for x in xs[: self.k]:
            start = start + t.shape_of(x, self.axis)
        stop = start + t.shape_of(xs[self.k], self.axis)
        index = [slice(None)] * gz.ndim
        index[self.axis + 1] = slice(start, stop)
        return gz[tuple(index)]


class ShapeOf(Op):
    """The length of ``x`` along ``axis``, an int64 scalar (``x.shape[axis]``)."""

    props = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def short_name(self):
        return f"shape{{{self.axis}}}"

    def make_node(self, x):
        return Apply(self, [x], [TensorType("int64", ())])

    def format(self, node, args):
        return f"{args[0]}.shape[{self.axis}]"

    def perform(self, node, values):
        return [np.asarray(values[0].shape[self.axis], dtype="int64")]

    def infer_shape(self, node, input_shapes):
        return [()]

    def grad(self, node, output_grads):
        return [None]

    def batch(self, node, inputs, batched):
        return ShapeOf(self.axis + 1)(inputs[0])


class SpecifyShape(Op):
    """``x`` itself, once its shape is checked to be ``shape`` (Theano's specify_shape): ints
    and ``Sym`` entries (int scalars, as a reshape's lengths)."""

    props = ("shape",)
    reads_values = True
    data_inputs = 1  # the array; the rest are its shape

    def __init__(self, shape):
        self.shape = tuple(shape)

    def short_name(self):
        return "specify_shape"

    def make_node(self, x, *scalars):
        node = Apply(self, [x, *scalars], [])
        if len(self.shape) != x.ndim:
            raise op_error(ValueError, node, f"{x.label()} has {x.ndim} dimensions, the shape "
                                             f"given {len(self.shape)}")
        static = tuple(s if isinstance(s, int) else None for s in self.shape)
        out_type = TensorType(x.dtype, x.broadcastable, static)
        node.outputs = [out_type.variable_class(out_type, owner=node, index=0)]
        return node

    def target(self, values):
        return tuple(int(values[s.k]) if isinstance(s, Sym) else s for s in self.shape)

    def perform(self, node, values):
        x, target = values[0], self.target(values[1:])
        if x.shape != target:
            raise op_error(ValueError, node, f"{describe(node.inputs[0], x)}, expected shape "
                                             f"{target}")
        return [x]

    def infer_shape(self, node, input_shapes, values=None):
        return [input_shapes[0]]

    def grad(self, node, output_grads):
        return [output_grads[0]] + [None] * (len(node.inputs) - 1)


class Rebroadcast(Op):
    """``x`` with the broadcastable flag of some axes changed (Theano's ``addbroadcast``,
    ``unbroadcast``, ``patternbroadcast``): ``flags`` maps an axis to its new flag. An axis made
    broadcastable is checked at run time to have length 1; clearing a flag checks nothing."""

    props = ("flags",)

    def __init__(self, flags):
        self.flags = tuple(sorted((int(a), bool(b)) for a, b in dict(flags).items()))

    def short_name(self):
        return "rebroadcast{" + ",".join(f"{a}:{int(b)}" for a, b in self.flags) + "}"

    def make_node(self, x):
        bc, shape = list(x.broadcastable), list(x.type.shape)
        for a, b in self.flags:
            if not 0 <= a < x.ndim:
                raise ValueError(f"{self.short_name()}: axis {a} is out of range for "
                                 f"{x.label()}, which has {x.ndim} dimensions")
            if b and shape[a] not in (None, 1):
                raise ValueError(f"{self.short_name()}: axis {a} of {x.label()} has length "
                                 f"{shape[a]}, so it cannot be broadcastable")
            bc[a] = b
            shape[a] = 1 if b else (shape[a] if not x.broadcastable[a] else 1)
        return Apply(self, [x], [TensorType(x.dtype, bc, shape)])

    def format(self, node, args):
        return args[0]

    def perform(self, node, values):
        x = values[0]
        for a, b in self.flags:
            if b and x.shape[a] != 1:
                raise op_error(ValueError, node, f"{describe(node.inputs[0], x)}: axis {a} "
                                                 f"was made broadcastable, so its length must be "
                                                 f"1, got {x.shape[a]}")
        return [x]

    def infer_shape(self, node, input_shapes):
        shape = list(input_shapes[0])
        for a, b in self.flags:
            if b:
                shape[a] = "1"
        return [tuple(shape)]

    def grad(self, node, output_grads):
        x, g = node.inputs[0], output_grads[0]
        back = {a: x.broadcastable[a] for a, _ in self.flags
                if g.broadcastable[a] != x.broadcastable[a]}
        return [Rebroadcast(back)(g) if back else g]

    def batch(self, node, inputs, batched):
        return Rebroadcast({a + 1: b for a, b in self.flags})(inputs[0])


class ARange(Op):
    """``[0, 1, ..., n-1]`` as int64, for an int scalar ``n`` (a constant or a shape)."""

    def make_node(self, n):
        if n.ndim != 0 or n.dtype[0] not in "iu":
            raise TypeError(f"arange: expected an int scalar, got {n.type}")
        return Apply(self, [n], [TensorType("int64", (False,))])

    #: the lowerer gives ``infer_shape`` the dim expression of the length's value
    reads_values = True

    def perform(self, node, values):
        return [np.arange(int(values[0]), dtype="int64")]

    def infer_shape(self, node, input_shapes, values=None):
        if not values or values[0] is None:
            raise NotImplementedError("arange: a length known when lowering")
        n = values[0]  # numpy's arange(-2) is empty
        return [(n if is_length(n) else f"_slice_len({n}, 0, 0, 1, 0)",)]

    def grad(self, node, output_grads):
        return [None]


class Alloc(Op):
    """``alloc(value, *shape)``: ``value`` broadcast to ``shape`` (Theano's ``T.alloc``), its
    axes aligned with the last ones; each length an int scalar: a constant, a shape
    (``x.shape[0]``) or sums and products of those."""

    def make_node(self, value, *shape):
        if value.ndim > len(shape):
            raise TypeError(f"alloc: a {value.ndim}-d value cannot fill {len(shape)} axes")
        for k, n in enumerate(shape):
            if n.ndim != 0 or n.dtype[0] not in "iu":
                raise TypeError(f"alloc: length {k} must be an int scalar, got {n.type}")
        lead = len(shape) - value.ndim
        bc = tuple(_is_one(n) and (k < lead or value.broadcastable[k - lead])
                   for k, n in enumerate(shape))
        return Apply(self, [value, *shape], [TensorType(value.dtype, bc)])

    #: the lowerer gives ``infer_shape`` the dim expressions of the lengths' values
    reads_values = True

    def infer_shape(self, node, input_shapes, values=None):
        lengths = (values or [None])[1:]
        if len(lengths) != node.out.ndim or None in lengths:
            raise NotImplementedError("alloc: lengths known when lowering")
        return [tuple("1" if bc else n for n, bc in zip(lengths, node.out.broadcastable))]

    def perform(self, node, values):
        value, *shape = values
        shape = tuple(int(n) for n in shape)
        try:
            return [np.array(np.broadcast_to(value, shape))]
        except ValueError:
            raise op_error(ValueError, node, f"cannot fill shape {shape} with "
                                             f"{describe(node.inputs[0], value)}") from None

    def grad(self, node, output_grads):
        (gz,) = output_grads
        value = node.inputs[0]
        lead = node.out.ndim - value.ndim
        g = _tensor().sum(gz, axis=list(range(lead))) if lead else gz
        return [g] + [None] * (len(node.inputs) - 1)


def _is_one(n):
    from codegen.graph import Constant
    return isinstance(n, Constant) and int(n.data) == 1
