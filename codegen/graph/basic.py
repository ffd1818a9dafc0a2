"""Graph objects: Variable, Constant, SharedVariable, Apply and the Op base class."""

import contextlib
import contextvars
import itertools
import os
import sys

import numpy as np

from codegen.config import config
from codegen.graph.errors import GraphError, user_frame, warn
from codegen.graph.type import can_cast_input

_ids = itertools.count()


class Provenance:
    """Where the user built a graph node: the first stack frame outside codegen.

    ``role`` says why codegen made a node there, e.g. ``grad of sigmoid`` for the nodes of a
    gradient, which carry the line of the forward node they differentiate.
    """

    __slots__ = ("filename", "lineno", "role")

    def __init__(self, filename, lineno, role=""):
        self.filename, self.lineno, self.role = filename, lineno, role

    @classmethod
    def capture(cls):
        override = _override.get()
        if override is not None:
            return override
        frame, _ = user_frame(sys._getframe(1))
        if frame is None:
            return cls("<unknown>", 0)
        return cls(os.path.abspath(frame.f_code.co_filename), frame.f_lineno)

    def relpath(self, start=None):
        if self.filename.startswith("<"):
            return self.filename
        try:
            rel = os.path.relpath(self.filename, start or os.getcwd())
        except ValueError:
            return self.filename
        return self.filename if rel.startswith("..") else rel

    def __str__(self):
        return f"{self.relpath()}:{self.lineno}" + (f" ({self.role})" if self.role else "")


_override = contextvars.ContextVar("provenance_override", default=None)


@contextlib.contextmanager
def provenance_as(provenance):
    """Nodes built inside this block record ``provenance`` instead of the caller's line."""
    token = _override.set(provenance)
    try:
        yield
    finally:
        _override.reset(token)

    def __repr__(self):
        return f"Provenance({self})"


class Tag:
    """Free-form annotations (Theano's ``var.tag.test_value``)."""

    def __repr__(self):
        return f"Tag({vars(self)})"


class Variable:
    """A value in the graph: a graph input (owner None) or output ``index`` of ``owner``."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = Tag()
        self.id = next(_ids)

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def ndim(self):
        return self.type.ndim

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def provenance(self):
        return self.owner.provenance if self.owner is not None else None

    def label(self):
        """A short human name: the user's name, else the op that made it."""
        if self.name:
            return self.name
        if self.owner is not None:
            return self.owner.op.short_name()
        return f"<{self.type.kind_name()}>"

    def __repr__(self):
        return self.name or f"{type(self).__name__}({self.type}, id={self.id})"


class Constant(Variable):
    """A variable with a fixed value, folded into emitted code."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = np.asarray(data, dtype=type.dtype)
        self.data.setflags(write=False)

    def signature(self):
        return (self.type.dtype, self.type.broadcastable, self.data.shape, self.data.tobytes())

    def __repr__(self):
        return self.name or f"TensorConstant{{{_format_constant(self.data)}}}"


def _format_constant(data):
    if data.size == 1:
        return repr(data.reshape(()).item())
    return np.array2string(data, separator=", ", threshold=6)


class SharedVariable(Variable):
    """A graph input with a value that persists across calls and is shared by functions."""

    def __init__(self, type, value, name=None):
        super().__init__(type, None, None, name)
        self.container = _Container(self._checked(value, copy=True))
        self.default_update = None

    def _checked(self, value, copy):
        """``value`` as an array of this variable's type, by Theano's casting rule
        (``can_cast_input``): an array must cast safely (int64 into int32, or float64 into
        float32, is refused), Python numbers and lists must convert exactly."""
        given = np.asarray(value)
        dtype = self.type.numpy_dtype
        if given.dtype.kind not in "biuf":
            raise TypeError(f"shared variable {self.label()}: expected {dtype.name} data, got "
                            f"{type(value).__name__} of dtype {given.dtype}")
        plain = value if not isinstance(value, (np.ndarray, np.generic)) else given
        if given.dtype != dtype and not can_cast_input(plain, dtype.name):
            raise TypeError(f"shared variable {self.label()}: expected dtype {dtype.name}, "
                            f"got {given.dtype}; casting would lose precision (give "
                            f"{dtype.name} data, e.g. value.astype('{dtype.name}'))")
        arr = given.astype(dtype, copy=copy or given is not value)
        self.type.check_value(arr)
        return arr

    def get_value(self, borrow=False, return_internal_type=False):
        value = self.container.value
        return value if borrow else value.copy()

    def set_value(self, value, borrow=False):
        try:
            value = self._checked(value, copy=not borrow)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{self.label()}.set_value: {exc}") from None
        if value is self.container.value:  # set again (changed in place): a new object, so
            value = value.view()  # that a device copy made from it is made again
        self.container.value = value

    @property
    def value(self):
        return self.container.value

    def label(self):
        return self.name or f"<shared {self.type.kind_name()}>"


class _Container(list):
    """Where a shared variable's value lives: a list of that one array, so that the compiled
    call of ``codegen.function`` (a generated module's ``_Call_<f>``) reads and writes it as
    a list item, in C."""

    __slots__ = ()

    def __init__(self, value):
        super().__init__((value,))

    @property
    def value(self):
        return self[0]

    @value.setter
    def value(self, value):
        self[0] = value


class Apply:
    """One application of ``op`` to ``inputs`` giving ``outputs``; records the user's line."""

    def __init__(self, op, inputs, output_types, provenance=None):
        self.op = op
        self.inputs = list(inputs)
        self.provenance = provenance or Provenance.capture()
        self.outputs = [self._output(t, i) for i, t in enumerate(output_types)]

    def _output(self, out, index):
        """Output ``index`` from its type, or (Theano's ``Apply(op, inputs, [x.type()])``) a
        variable made for it that no node owns yet."""
        if not isinstance(out, Variable):
            return out.variable_class(out, owner=self, index=index)
        if out.owner is not None:
            raise ValueError(f"Apply: output {index} ({out.label()}) is already the output of "
                             f"{out.owner.op}; give a new variable (x.type())")
        out.owner, out.index = self, index
        return out

    @property
    def out(self):
        (out,) = self.outputs
        return out

    def __repr__(self):
        args = ", ".join(v.label() for v in self.inputs)
        return f"{self.op}({args})"


class Op:
    """Base class: an op holds its type rule, numpy reference, gradient and lowering hook.

    Subclasses implement ``make_node(*inputs) -> Apply``, ``perform(node, values) -> list`` and,
    when differentiable, ``grad(node, output_grads) -> list`` building gradient graphs.
    ``props`` names the attributes that make two instances equal (used by CSE).
    """

    props = ()
    #: Bumped when the emitted code of the op changes, to invalidate build caches.
    codegen_version = 1

    def key(self):
        return (type(self).__name__,) + tuple(_hashable(getattr(self, p)) for p in self.props)

    def __eq__(self, other):
        return type(self) is type(other) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def short_name(self):
        return type(self).__name__.lower()

    def __str__(self):
        return self.short_name()

    def __call__(self, *inputs):
        node = self.make_node(*inputs)
        if config.compute_test_value != "off":
            try:
                _compute_test_value(node)
            except GraphError as exc:
                raise exc.with_traceback(None) from None
            except (ValueError, TypeError, IndexError) as exc:
                if getattr(exc, "node", None) is None:
                    raise
                raise exc.with_traceback(None) from None
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def grad(self, node, output_grads):
        raise NotImplementedError(f"{self} has no gradient")

    def batch(self, node, inputs, batched):
        """This node over a batch: ``inputs`` where ``batched[i]`` have a new leading axis.

        Returns the output with a leading batch axis (used by jacobian and hessian).
        """
        raise NotImplementedError(f"{self} does not support batching (jacobian/hessian)")

    def format(self, node, args):
        """Math notation for ``pp``, given the already formatted inputs."""
        return f"{self.short_name()}({', '.join(args)})"

    def infer_shape(self, node, input_shapes):
        """Output shapes from input shapes (tuples of dim expressions); used by lowering."""
        raise NotImplementedError(f"{self} has no shape rule")


def test_value(var):
    """The value to check ``var`` with at graph-build time, or None (with a warning)."""
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.container.value
    value = getattr(var.tag, "test_value", None)
    if value is None and var.owner is None:
        message = f"{var.label()} has no test value (set {var.label()}.tag.test_value)"
        if config.compute_test_value == "raise":
            raise GraphError(message)
        if config.compute_test_value == "warn":
            warn(message)
    return value


def _compute_test_value(node):
    values = [test_value(v) for v in node.inputs]
    if any(v is None for v in values):
        return
    values = [np.asarray(v, dtype=var.dtype) for v, var in zip(values, node.inputs)]
    for out, value in zip(node.outputs, node.op.perform(node, values)):
        out.tag.test_value = value


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    return value


def toposort(outputs):
    """Apply nodes needed for ``outputs``, each after the nodes it depends on."""
    order, seen = [], set()
    for out in outputs:
        stack = [(out.owner, False)] if out.owner is not None else []
        while stack:
            node, expanded = stack.pop()
            if node in seen:
                continue
            if expanded:
                seen.add(node)
                order.append(node)
                continue
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and inp.owner not in seen:
                    stack.append((inp.owner, False))
    return order


def descendants(roots, sources, blocked=()):
    """Ids of ``sources`` and of every variable of ``roots``' graph computed from one of them,
    not through the ids in ``blocked``."""
    reach = {v.id for v in sources}
    for node in toposort(roots):
        if any(i.id in reach and i.id not in blocked for i in node.inputs):
            reach.update(o.id for o in node.outputs)
    return reach


def graph_inputs(outputs, blockers=()):
    """Variables without owner (inputs, constants, shared) that ``outputs`` depend on.

    ``blockers``: variables taken as inputs, what computes them not walked (the expressions
    a scan is given as non-sequences); they are listed where the walk meets them."""
    if blockers:
        stop = {v.id for v in blockers}
        found, seen, stack = [], set(), list(reversed(outputs))
        while stack:
            var = stack.pop()
            if var.id in seen:
                continue
            seen.add(var.id)
            if var.owner is None or var.id in stop:
                found.append(var)
            else:
                stack.extend(reversed(var.owner.inputs))
        return found
    found, seen = [], set()
    for node in toposort(outputs):
        for inp in node.inputs:
            if inp.owner is None and inp.id not in seen:
                seen.add(inp.id)
                found.append(inp)
    for out in outputs:
        if out.owner is None and out.id not in seen:
            seen.add(out.id)
            found.append(out)
    return found


def clients(outputs):
    """Map each variable id to the Apply nodes that use it."""
    users = {}
    for node in toposort(outputs):
        for inp in node.inputs:
            users.setdefault(inp.id, []).append(node)
    return users


def rebuild(outputs, mapping, copy_all=False, nodes=None):
    """``outputs`` rebuilt on ``mapping`` (a variable's id -> what stands for it), which gets
    every copy made. A node whose outputs all have stand-ins is not rebuilt (what it computes
    is replaced); one whose inputs are all unchanged is kept as it is, unless ``copy_all``.
    ``nodes`` (in order): rebuild only these, not every node ``outputs`` depend on.
    Copies keep the provenance of their nodes and the names of their variables."""
    for node in toposort(outputs) if nodes is None else nodes:
        if all(out.id in mapping for out in node.outputs):
            continue
        new_inputs = [mapping.get(v.id, v) for v in node.inputs]
        if not copy_all and all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        with provenance_as(node.provenance):
            new_node = node.op.make_node(*new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            if old.name and not new.name:
                new.name = old.name
            if getattr(old.tag, "gradient_of", None) is not None:  # see gradient.grad
                new.tag.gradient_of = old.tag.gradient_of
            mapping[old.id] = new
    return [mapping.get(v.id, v) for v in outputs]


def clone_replace(outputs, replace):
    """``outputs`` rebuilt with variables replaced (``replace`` maps old var -> new var).

    Rebuilt nodes keep the provenance of the nodes they copy.
    """
    return rebuild(outputs, {old.id: new for old, new in replace.items()})


def equal_computations(xs, ys, in_xs=None, in_ys=None):
    """Whether the variables ``xs`` compute the same as ``ys``, pair by pair (Theano's
    ``scan_utils.equal_computations``): the same ops (equal by their props) on inputs that are
    equal in turn, down to the same graph inputs, constants of equal type and value, or the
    pairs ``in_xs[k]``, ``in_ys[k]`` taken as equal."""
    if len(xs) != len(ys):
        return False
    known = {}  # (id of x, id of y) -> equal
    for a, b in zip(in_xs or (), in_ys or ()):
        known[a.id, b.id] = True

    def same(x, y):  # without recursion: a graph may be thousands of nodes deep
        stack = [(x, y)]
        while stack:
            u, v = stack[-1]
            if (u.id, v.id) in known:
                stack.pop()
                continue
            if u is v:
                result = True
            elif u.type != v.type:
                result = False
            elif isinstance(u, Constant) or isinstance(v, Constant):
                result = isinstance(u, Constant) and isinstance(v, Constant) and \
                    u.signature() == v.signature()
            elif u.owner is None or v.owner is None:
                result = False
            else:
                a, b = u.owner, v.owner
                if u.index != v.index or a.op != b.op or len(a.inputs) != len(b.inputs):
                    result = False
                else:
                    pairs = list(zip(a.inputs, b.inputs))
                    todo = [p for p in pairs if (p[0].id, p[1].id) not in known]
                    if todo:
                        stack.extend(todo)
                        continue
                    result = all(known[p.id, q.id] for p, q in pairs)
            known[u.id, v.id] = result
            stack.pop()
        return known[x.id, y.id]

    return all(same(x, y) for x, y in zip(xs, ys))


def is_same_graph(var1, var2, givens=None):
    """Theano's ``theano.gof.graph.is_same_graph``: whether ``var1`` and ``var2`` compute the
    same, ``givens`` ({a: b}) naming variables of the one taken as equal to the other's."""
    givens = dict(givens or {})
    return equal_computations([var1], [var2], list(givens), list(givens.values()))
