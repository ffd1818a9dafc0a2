"""Lowering: a rewritten FunctionGraph becomes a kernel program (``program.Program``)."""

import re
from dataclasses import replace

import numpy as np

from codegen.graph import Constant, clients, toposort
from codegen.graph.errors import NotCompiled, source_line
from codegen.lower.accumulate import fold_accumulating_products
from codegen.lower.fusion import fuse, sink
from codegen.lower.identifiers import (  # noqa: F401 (PYTHON_RESERVED: theirs to import)
    _C_NAMES,
    _PYTHON_NAMES,
    PYTHON_RESERVED,
    sanitize,
)
from codegen.lower.program import (
    Arg,
    ArrayRef,
    AssertStep,
    Assign,
    AxisStep,
    Buffer,
    Check,
    DotStep,
    Expr,
    GatherStep,
    LinalgStep,
    LoopKernel,
    Operand,
    Origin,
    Program,
    ScanStep,
    Slice,
    StateRef,
    Store,
    View,
    all_steps,
    reads,
    renamed,
    step_arrays,
    writes,
)
from codegen.lower.shapes import symbolic_shapes, unify_dims
from codegen.ops.assert_op import Assert
from codegen.ops.blas import Dot
from codegen.ops.elemwise import Elemwise
from codegen.ops.fft import FFT1, work_words
from codegen.ops.ifelse import IfElse
from codegen.ops.indexing import (
    AdvancedIncSubtensor,
    Gather,
    IncSubtensor,
    SearchSorted,
    index_dims,
)
from codegen.ops.linalg import Linalg, failure
from codegen.ops.mrg import MRGAdvance, MRGDraws
from codegen.ops.random import RandomVariable
from codegen.ops.reduce import Argmax, ArgSort, CumOp, Positions
from codegen.ops.scan import Scan
from codegen.ops.shape import (
    Alloc,
    ARange,
    Concatenate,
    DimShuffle,
    Rebroadcast,
    Reshape,
    ShapeOf,
    SpecifyShape,
    SplitPiece,
    Subtensor,
    SubtensorGrad,
    Sym,
    dim_factors,
    slice_dims,
)
from codegen.printing import pp

PARALLEL_MIN = 1 << 15  # elements; smaller loops are not worth waking threads for


class Names:
    """Unique, deterministic identifiers for the generated code.

    Whatever a user names a variable, its identifier cannot collide with C, Cython or Python
    names, macros of the included headers, or the names the code derives from it (``x_p``,
    ``x_s0``, ``x_n0``: a user's ``x_p`` becomes ``x_p_1``). Names in the style of macros (no
    lowercase letter, two capitals or more, three characters or more: ``EOF``, ``NAN``,
    ``M_E``, but not ``W_1``; and ``I``, complex.h's) and those with a library's prefix
    (``Py``, ``NPY``, ``PRI``, ``M_``, ``cg_``...) are prefixed with ``v_``.
    """

    RESERVED = frozenset(_C_NAMES + _PYTHON_NAMES + [
        # the locals of the kernels, on the CPU and on CUDA
        "int64_t", "row", "dst", "acc", "best", "best_k", "k", "m", "v", "bad", "o", "ok",
        "e", "r", "rest", "total", "base", "lane", "lt", "ia", "ib", "va", "vb", "start",
        "end", "root", "child", "last", "moving"])
    KERNEL_LOCAL = re.compile(r"^(?:[nidtj]|acc|blk|blen|cgb)[0-9]+$")
    DERIVED = re.compile(r"_(?:p|v|s[0-9]+|n[0-9]+)$|_t$")  # and POSIX's types end in _t
    MACRO_LIKE = re.compile(r"^(?:(?=(?:[^A-Z]*[A-Z]){2})[A-Z0-9_]{3,}|I|"
                            r"(?:Py|PY|Npy|NPY|npy|PRI|SCN|M_|L_|P_|MyPy|cg_|CG_|CODEGEN|pyx|"
                            r"__pyx).*)$")

    def __init__(self):
        self.used = set()

    def new(self, hint):
        base = sanitize(hint)
        if self.MACRO_LIKE.match(base):
            base = f"v_{base}"
        name, k = base, 1
        while not self._free(name):
            name = f"{base}_{k}" if not base.startswith("_") else f"v{base}_{k}"
            k += 1
        self.used.add(name)
        return name

    def _free(self, name):
        return not (name in self.used or name in self.RESERVED or name.startswith("_")
                    or self.KERNEL_LOCAL.match(name) or self.DERIVED.search(name))


def origin_of(node, names=None):
    prov = node.provenance
    where = f"{prov}" if prov is not None else ""
    text = pp(node.outputs[0], names) if len(node.outputs) == 1 else str(node.op)
    if len(text) > 90:
        text = text[:87] + "..."
    name = node.outputs[0].name if len(node.outputs) == 1 else None
    return Origin(f"{name + ' = ' if name else ''}{text}", where)


def _where_text(node):
    prov = node.provenance
    if prov is None:
        return ""
    line = source_line(prov)
    return f"built at {prov}" + (f": {line}" if line else "")


class Lowerer:
    def __init__(self, fgraph, name, arg_names, state_names, defaults):
        self.fgraph = fgraph
        self.name = name
        self.names = Names()
        self.vals = {}  # var id -> ('array', ArrayRef) | ('scalar', Expr)
        self.kinds = {}  # array name -> 'arg' | 'state' | 'buffer' | 'view' | 'const'
        self.dims, self.checks, self.constants = [], [], []
        self.buffers, self.views, self.steps = [], [], []
        self.arg_names, self.state_names, self.defaults = arg_names, state_names, defaults
        self.taken = set()  # buffers that became new state
        self.display = {}  # variable id -> name in the generated code (for comments)
        self.materialized = []
        self.failures = []  # (message, where, kind) of each step that may fail
        self.guards = {}  # step name -> ((condition array, taken), ...)
        self.conditions = {}  # condition variable id -> its 0-d ArrayRef
        self.stored = {}  # scalar variable id -> the array a loop of one element stored it in
        self.early_shapes = {}  # variable id -> its dims, for lengths read before it exists
        self.free = set()  # ids of the scalar nodes known before any step runs (lengths)

    # ------------------------------------------------------------------ leaves

    def _declare_array(self, var, name, kind):
        dims = []
        for axis, bc in enumerate(var.broadcastable):
            if bc:
                dims.append("1")
            else:
                dim = f"{name}_n{axis}"
                self.dims.append((dim, name, axis))
                dims.append(dim)
        ref = ArrayRef(name, var.dtype, tuple(dims))
        self.vals[var.id] = ("array", ref)
        self.kinds[name] = kind
        return ref

    def _leaves(self):
        args = []
        for var, hint in zip(self.fgraph.inputs, self.arg_names):
            name = self.names.new(hint)
            self._declare_array(var, name, "arg")
            self.display[var.id] = name
            if var.ndim == 0 and var.dtype[0] in "iu":
                # an int scalar argument is read once per call, as a dim: slice bounds,
                # indices and lengths computed from it are dim expressions
                self.dims.append((f"{name}_v", name, None))
                self.vals[var.id] = ("scalar", Expr("dim", value=f"{name}_v", dtype=var.dtype))
            args.append(Arg(name, var.dtype, var.broadcastable, self.defaults.get(var.id)))
        state = []
        for var in self.fgraph.shared:
            sname = self.state_names[var.id]
            local = self.names.new(sname)
            self._declare_array(var, local, "state")
            self.display[var.id] = sname
            if var.ndim == 0 and var.dtype[0] in "iu":
                # an int scalar of the state is read once per call, before any step writes
                # its new value: an index or a length like an int scalar argument
                self.dims.append((f"{local}_v", local, None))
                self.vals[var.id] = ("scalar", Expr("dim", value=f"{local}_v", dtype=var.dtype))
            state.append(StateRef(sname, local, var.dtype, var.broadcastable))
        return args, state

    def _constant(self, var):
        if var.data.size == 1:
            return ("scalar", Expr("const", value=var.data.reshape(()).item(), dtype=var.dtype))
        name = self.names.new(f"const_{len(self.constants)}")
        self.constants.append((name, var.data))
        self.kinds[name] = "const"
        return ("array", ArrayRef(name, var.dtype, tuple(str(n) for n in var.data.shape)))

    def val(self, var):
        if var.id not in self.vals:
            if isinstance(var, Constant):
                self.vals[var.id] = self._constant(var)
            else:
                raise KeyError(f"lowering: {var.label()} used before it was computed")
        return self.vals[var.id]

    def shape(self, var):
        if var.id not in self.vals and var.id in self.early_shapes:
            return self.early_shapes[var.id]  # read before var's loop has run (``reads``)
        kind, ref = self.val(var)
        if kind == "local":
            return ref
        return ref.dims if kind == "array" else ("1",) * var.ndim

    def array(self, var):
        """An ArrayRef for ``var``, materializing a scalar into a buffer when needed."""
        kind, ref = self.val(var)
        if kind == "array":
            return ref
        if var.id in self.stored:
            return self.stored[var.id]
        dims = ("1",) * var.ndim
        buf = ArrayRef(self.names.new(self.hint(var)), var.dtype, dims)
        # a constant, or a value computed from shapes and constants: a loop of one element
        # stores it
        self.buffers.append(Buffer(buf))
        self.kinds[buf.name] = "buffer"
        origin = (self.origin(var.owner) if var.owner is not None
                  else Origin(f"{buf.name} = {var.label()}", ""))
        self.steps.append(LoopKernel(
            self._step_name(buf.name), dims, (Operand(buf, _axis_map(var.broadcastable),
                                                      "out"),), (),
            (Assign("v", var.dtype, ref, origin),), (Store(0, "v"),), (origin,)))
        self.stored[var.id] = buf  # it stays a scalar (a dim, say) for its other uses
        return buf

    # ------------------------------------------------------------------ helpers

    def _buffer(self, var, hint, fill=None, dims=None):
        dims = tuple(dims if dims is not None else self._out_dims(var))
        ref = ArrayRef(self.names.new(hint), var.dtype, dims)
        if var.owner is not None:
            self.materialized.append((ref.name, var, self.origin(var.owner)))
        self.display.setdefault(var.id, ref.name)
        self.buffers.append(Buffer(ref, fill))
        self.kinds[ref.name] = "buffer"
        self.vals[var.id] = ("array", ref)
        return ref

    def _out_dims(self, var):
        node = var.owner
        shapes = [self.shape(v) for v in node.inputs]
        if getattr(node.op, "reads_values", False):
            return node.op.infer_shape(node, shapes, values=self.values(node))[var.index]
        return node.op.infer_shape(node, shapes)[var.index]

    def values(self, node):
        """The dim expression of the value of each int scalar input of ``node`` (None for
        the others, and for its leading ``data_inputs``, which it reads as arrays: a 0-d
        int array a step computes is data there, as the value reshaped or written)."""
        out = []
        data = getattr(node.op, "data_inputs", 0)
        for k, v in enumerate(node.inputs):
            if k < data:
                out.append(None)
                continue
            kind, ref = self.val(v) if v.ndim == 0 else (None, None)
            if kind == "array" and v.dtype[0] in "iu":
                raise NotCompiled(
                    f"{node.op.short_name()}: the compiled backends take lengths, bounds and "
                    f"indices known before the steps run (constants, int scalar arguments, "
                    f"shapes, a loop's index), not {v.label()}, which a step computes"
                    f"{_where_text(node) and ' (' + _where_text(node) + ')'}")
            out.append(_dim_text(ref, node.op.short_name()) if kind == "scalar"
                       and v.dtype[0] in "iu" else None)
        return out

    def _add_checks(self, node):
        if not hasattr(node.op, "shape_checks"):
            return
        shapes = [self.shape(v) for v in node.inputs]
        for lhs, rhs, message in node.op.shape_checks(node, shapes):
            if lhs == rhs or (lhs == "1" and rhs == "1"):
                continue
            if any({c.lhs, c.rhs} == {lhs, rhs} and not c.at_least for c in self.checks):
                continue  # checked already (by an earlier op, which the error then names)
            operands = tuple((v.label(), tuple(self.shape(v))) for v in node.inputs
                             if self.val_kind(v) not in ("scalar", "local"))
            self.checks.append(Check(lhs, rhs, f"{node.op.short_name()}: {message}",
                                     _where_text(node), operands))

    def _view(self, var, source, hint, kind, axes=None, index=()):
        ref = ArrayRef(self.names.new(hint), var.dtype, tuple(self._out_dims(var)))
        self.views.append(View(ref, source, kind, axes, index))
        self.display.setdefault(var.id, ref.name)
        self.kinds[ref.name] = "view"
        self.vals[var.id] = ("array", ref)
        return ref

    def origin(self, node):
        """What a step computes, in pp notation with the names the generated code uses."""
        return origin_of(node, self.display)

    def hint(self, var):
        if var.name:
            return var.name
        node = var.owner
        return node.op.short_name().split("{")[0] if node is not None else "v"

    # ------------------------------------------------------------------ nodes

    def is_scalar_node(self, node):
        return isinstance(node.op, (Elemwise, DimShuffle)) and all(
            self.val_kind(v) == "scalar" for v in node.inputs)

    def val_kind(self, var):
        if var.id in self.vals:
            return self.vals[var.id][0]
        if isinstance(var, Constant):
            return self.val(var)[0]
        return "array"

    def lower(self):
        args, state = self._leaves()
        self._lower_graph(self.fgraph.all_outputs)
        out_refs = [self.array(v) if self._needs_array(v) else self.val(v)[1]
                    for v in self.fgraph.outputs]
        targets = self._update_state(state)
        updates = [(target.name, self._fresh(value))
                   for target, (_, value) in zip(targets, self.fgraph.updates)]
        return Program(self.name, args, state, self.dims, self.checks, self.constants,
                       self.buffers, self.views, self.steps, out_refs, updates,
                       materialized=self.materialized, fgraph=self.fgraph,
                       failures=self.failures, guards=self.guards)

    def _lower_graph(self, outputs):
        """Steps computing ``outputs`` (their inputs bound in ``self.vals`` already)."""
        nodes = toposort(outputs)
        users = clients(outputs)
        # scalar nodes first pass: decided in order since scalar-ness flows forward
        scalar_ids = set()
        for node in nodes:
            if isinstance(node.op, ShapeOf) or (self.is_scalar_node_ids(node, scalar_ids)):
                scalar_ids.add(id(node))
                for o in node.outputs:
                    self.kinds.setdefault(f"#scalar{o.id}", "scalar")
        shapes = symbolic_shapes(nodes, self._leaf_shape, self._leaf_value)
        canonical, merges = unify_dims(nodes, shapes, [d for d, _, _ in self.dims],
                                       self._leaf_shape)
        required = [Check(lhs, rhs, f"{node.op.short_name()}: {message}", _where_text(node))
                    for lhs, rhs, message, node in merges]
        guards = branch_guards(nodes, outputs)

        def loop_key(v):  # loops run under one condition: nodes under others do not fuse
            shape = canonical(shapes.get(v.id))
            when = guards.get(id(v.owner)) if v.owner is not None else None
            if shape is None or not when:
                return shape
            return tuple(shape) + (("when",) + tuple((c.id, t) for c, t in when),)
        self._free_lengths(nodes, scalar_ids, shapes)
        needed = self._needed(outputs)  # not the arrays only read for shapes known early
        nodes = [node for node in nodes if id(node) in needed]
        group_of, groups = fuse(nodes, lambda n: id(n) in scalar_ids, loop_key, self.reads)
        sink(groups, group_of, nodes, outputs)
        after = {id(n): [c.owner for c, _ in g if c.owner is not None]
                 for n in nodes for g in [guards.get(id(n), ())] if g}
        for unit in _schedule(nodes, group_of, after, self.reads):
            members = unit if isinstance(unit, list) else [unit]
            when = guards.get(id(members[0]), ())
            if any(guards.get(id(m), ()) != when for m in members):
                when = ()
            self._conditions(when)
            first = len(self.steps)
            try:
                if isinstance(unit, list):
                    self._lower_group(group_of[id(unit[0])], users, outputs)
                elif id(unit) in scalar_ids:
                    self._lower_scalar(unit)
                else:
                    self._lower_node(unit)
            except NotCompiled as exc:
                if exc.node is None:
                    self._blame(exc, members)
                raise
            self._guard(first, when)
        equal = [c for c in self.checks if not c.at_least]
        emitted = {(c.lhs, c.rhs) for c in equal} | {(c.rhs, c.lhs) for c in equal}
        self.checks.extend(c for c in required if (c.lhs, c.rhs) not in emitted)

    def _blame(self, exc, members):
        """Say which node ``exc`` concerns and the int scalars computed by steps that its
        members take as lengths (``NotCompiled``); a fused group with none: not known."""
        if exc.late is None:
            exc.late = [v for m in members for v in m.inputs[getattr(m.op, "data_inputs", 0):]
                        if v.ndim == 0 and v.dtype[0] in "iu" and v.owner is not None
                        and self.val_kind(v) == "array"]
        if exc.late or len(members) == 1:
            exc.node = members[0]

    def _free_lengths(self, nodes, scalar_ids, shapes):
        """Note what is known before any step runs: the shapes of the arrays that only
        lengths (``h.shape[0]``) and shape-only inputs (``reshape(x, like=h)``) read, where
        the symbolic shapes give their dims, and the scalar nodes computed from such lengths
        alone. A loop drawing a dropout mask of ``h``'s shape may then be the loop computing
        ``h`` (``reads``)."""
        def early(var):
            dims = shapes.get(var.id)
            if dims is None or any("@value" in d for d in dims):
                return False
            self.early_shapes[var.id] = tuple(dims)
            return True
        for node in nodes:
            if id(node) in scalar_ids:
                if (early(node.inputs[0]) if isinstance(node.op, ShapeOf) else
                        all(v.owner is None or id(v.owner) in self.free for v in node.inputs)):
                    self.free.add(id(node))
            for k in _shape_inputs(node):
                early(node.inputs[k])

    def _needed(self, outputs):
        """The ids of the nodes whose values ``outputs`` need: those the nodes computing them
        ``read``, from the outputs back (an array whose only use is its shape, known before
        any step runs, is not computed: the zeros a scatter starts from, ``alloc``'s)."""
        needed, stack = set(), [v.owner for v in outputs if v.owner is not None]
        while stack:
            node = stack.pop()
            if id(node) not in needed:
                needed.add(id(node))
                stack.extend(v.owner for v in self.reads(node) if v.owner is not None)
        return needed

    def reads(self, node):
        """The inputs whose values ``node`` needs computed before it runs: none for a length
        known early, not a shape-only input whose shape is known early."""
        if id(node) in self.free:  # a length, or a scalar of lengths only
            return [] if isinstance(node.op, ShapeOf) else node.inputs
        skip = _shape_inputs(node)
        return [v for k, v in enumerate(node.inputs)
                if k not in skip or v.id not in self.early_shapes]

    def _conditions(self, when):
        """The 0-d arrays of the conditions ``when`` names, computed (each under the
        conditions before it) if they are not yet."""
        for k, (cond, _) in enumerate(when):
            if cond.id not in self.conditions:
                first = len(self.steps)
                self.conditions[cond.id] = self.array(cond)
                self._guard(first, when[:k])

    def _guard(self, first, when):
        """Steps ``first``... run only under the conditions ``when``."""
        if when:
            names = tuple((self.conditions[c.id].name, taken) for c, taken in when)
            for step in self.steps[first:]:
                self.guards[step.name] = names

    def _needs_array(self, output):
        """Whether an output computed as a scalar expression needs an array: one of shape
        (1, 1) stays one, and one computed from shapes is stored by a kernel."""
        kind, ref = self.val(output)
        return kind == "scalar" and (output.ndim > 0 or ref.op not in ("const", "dim"))

    def _leaf_shape(self, var):
        kind, ref = self.vals.get(var.id, (None, None))
        if kind is not None:
            return tuple(self.shape(var))
        if isinstance(var, Constant):
            return tuple(str(n) for n in var.data.shape)
        return None

    def _leaf_value(self, var):
        """The dim expression of an int scalar argument's value, or None."""
        kind, ref = self.vals.get(var.id, (None, None))
        if kind != "scalar" or var.dtype[0] not in "iu":
            return None
        try:
            return _dim_text(ref, "shape")
        except NotImplementedError:
            return None

    def is_scalar_node_ids(self, node, scalar_ids):
        if not isinstance(node.op, (Elemwise, DimShuffle)):
            return False
        for v in node.inputs:
            if v.owner is not None:
                if id(v.owner) not in scalar_ids:
                    return False
            elif not ((isinstance(v, Constant) and v.data.size == 1)
                      or self.vals.get(v.id, ("",))[0] == "scalar"):
                return False
        return True

    def _update_state(self, state):
        by_name = {s.name: s for s in state}
        return [by_name[self.state_names[var.id]] for var, _ in self.fgraph.updates]

    def _fresh(self, var):
        """An array holding ``var`` that aliases nothing else (new state must not alias)."""
        kind, ref = self.val(var)
        if kind == "array" and self.kinds.get(ref.name) == "buffer" and ref.name not in self.taken:
            self.taken.add(ref.name)
            return ref
        src = self.array(var)
        return self._copy(var, src, f"{self.hint(var)}_new")

    def _copy(self, var, src, hint):
        dst = ArrayRef(self.names.new(hint), var.dtype, src.dims)
        self.buffers.append(Buffer(dst))
        self.kinds[dst.name] = "buffer"
        self._identity_loop(self.names.new(f"{self.name}_copy_{dst.name}"), src, dst,
                            var.broadcastable,
                            Origin(f"copy of {var.label()}", ""))
        return dst

    def _identity_loop(self, name, src, dst, broadcastable, origin):
        operands = (Operand(src, _axis_map(broadcastable), "in"),
                    Operand(dst, _axis_map(broadcastable), "out"))
        body = (Assign("v", src.dtype, Expr("load", value=0, dtype=src.dtype), origin),)
        self.steps.append(LoopKernel(name, dst.dims, operands, (), body,
                                     (Store(1, "v"),), (origin,)))

    # ------------------------------------------------------------------ scalar expressions

    def _lower_scalar(self, node):
        if isinstance(node.op, ShapeOf):
            dim = self.shape(node.inputs[0])[node.op.axis]
            self.vals[node.out.id] = ("scalar", Expr("dim", value=dim, dtype="int64"))
            return
        args = [self.val(v)[1] for v in node.inputs]
        if isinstance(node.op, DimShuffle):
            self.vals[node.out.id] = ("scalar", args[0])
            return
        self.vals[node.out.id] = ("scalar", Expr(node.op.scalar_op.name, tuple(args),
                                                 dtype=node.out.dtype))

    # ------------------------------------------------------------------ fused loops

    def _lower_group(self, group, users, outputs):
        members = group.members
        if _lone_fill(group) and self.val_kind(members[0].inputs[1]) == "array":
            # second(x, y) of y's own type: y, once x's lengths are checked against y's
            node = members[0]
            self._add_checks(node)
            self._view(node.out, self.array(node.inputs[1]).name, self.hint(node.out), "axes",
                       axes=tuple(range(node.out.ndim)))
            return
        member_ids = {id(m) for m in members}
        output_ids = {v.id for v in outputs}
        loop_var = (group.reduces[0].inputs[0] if group.reduces else members[-1].out)
        operands, scalars, body, stores, origins = [], [], [], [], []
        operand_index = {}
        locals_ = {}

        def operand(ref, axes):
            if (ref.name, axes) not in operand_index:
                operand_index[ref.name, axes] = len(operands)
                operands.append(Operand(ref, axes, "in"))
            return Expr("load", value=operand_index[ref.name, axes], dtype=ref.dtype)

        def load(var, axes=None):
            if var.owner is not None and id(var.owner) in member_ids:
                return Expr("local", value=locals_[var.id], dtype=var.dtype)
            kind, ref = self.val(var)
            if kind == "scalar":
                return ref
            return operand(ref, _axis_map(var.broadcastable) if axes is None else axes)

        for node in members:
            # dims of members are needed before their buffers exist
            self._add_checks(node)
            dims = self._out_dims(node.out)
            if isinstance(node.op, RandomVariable):
                expr = _draw(self, node, load, operand)
            else:
                expr = Expr(node.op.scalar_op.name, tuple(load(v) for v in node.inputs),
                            dtype=node.out.dtype)
            local = f"t{len(body)}"
            origin = self.origin(node)
            origins.append(origin)
            body.append(Assign(local, node.out.dtype, expr, origin))
            locals_[node.out.id] = local
            self.vals[node.out.id] = ("local", dims)
            used_outside = node.out.id in output_ids or any(
                id(u) not in member_ids and u not in group.reduces and node.out in self.reads(u)
                for u in users.get(node.out.id, []))  # (a length needs no array)
            if used_outside:
                ref = ArrayRef(self.names.new(self.hint(node.out)), node.out.dtype, tuple(dims))
                self.buffers.append(Buffer(ref))
                self.kinds[ref.name] = "buffer"
                stores.append(Store(len(operands), local))
                operands.append(Operand(ref, _axis_map(node.out.broadcastable), "out"))
                self.vals[node.out.id] = ("array", ref)
                self.display.setdefault(node.out.id, ref.name)
                self.materialized.append((ref.name, node.out, origin))
        loop_dims = tuple(self._dims_of(loop_var))
        for node in group.reduces:
            self._add_checks(node)
            (x,) = node.inputs
            value = load(x) if x.id not in locals_ else Expr("local", value=locals_[x.id],
                                                             dtype=x.dtype)
            local = f"t{len(body)}"
            origin = self.origin(node)
            origins.append(origin)
            body.append(Assign(local, node.out.dtype, value if value.dtype == node.out.dtype
                               else Expr(f"cast_{node.out.dtype}", (value,),
                                         dtype=node.out.dtype), origin))
            out_dims = node.op.infer_shape(node, [loop_dims])[0]
            ref = ArrayRef(self.names.new(self.hint(node.out)), node.out.dtype, tuple(out_dims))
            self.buffers.append(Buffer(ref))  # the kernel sets the reduction's start value
            self.kinds[ref.name] = "buffer"
            # the loop axis each output axis follows (None: reduced or broadcast)
            kept = ([a for a in range(x.ndim)] if node.op.keepdims
                    else [a for a in range(x.ndim) if a not in node.op.axes])
            axes = tuple(None if a in node.op.axes or x.broadcastable[a] else kept.index(a)
                         for a in range(x.ndim))
            stores.append(Store(len(operands), local, combine=node.op.combine))
            operands.append(Operand(ref, axes, "acc"))
            self.vals[node.out.id] = ("array", ref)
            self.display.setdefault(node.out.id, ref.name)
            self.materialized.append((ref.name, node.out, origin))
        for node in members:  # members kept only in registers have no array value
            if self.vals[node.out.id][0] == "local":
                del self.vals[node.out.id]
        last = members[-1].out if members else group.reduces[0].out
        name = self._step_name(self.hint(last))
        self.steps.append(LoopKernel(name, loop_dims, tuple(operands), tuple(scalars),
                                     tuple(body), tuple(stores), tuple(origins),
                                     parallel=bool(loop_dims) and not group.reduces,
                                     kind="loop"))

    def _step_name(self, hint):
        """The C name of the next step: the function's name, the step's number, a hint."""
        return self.names.new(f"{self.name}_k{len(self.steps)}_{hint}")

    def _dims_of(self, var):
        kind, ref = self.vals.get(var.id, (None, None))
        if kind == "array":
            return ref.dims
        if kind == "local":
            return ref
        return self.shape(var)

    # ------------------------------------------------------------------ other nodes

    def _lower_node(self, node):
        where = _where_text(node)
        if getattr(node.op, "reference_only", None):
            raise NotCompiled(f"{node.op.short_name()}: {node.op.reference_only}; "
                              f"only the reference interpreter (mode='FAST_COMPILE') "
                              f"runs it{where and ' (' + where + ')'}", reference=True)
        for cls in type(node.op).__mro__:
            if cls in NODE_LOWERINGS:
                return NODE_LOWERINGS[cls](self, node, self.origin(node))
        raise NotCompiled(f"the compiled backend cannot lower {node.op} yet"
                          f"{where and ' (' + where + ')'}", reference=True)

    def _is_contiguous(self, name):
        """Whether array ``name`` is known to be C-contiguous: a buffer, a constant, or a
        reshape (or a contiguous view) of one."""
        kind = self.kinds.get(name)
        if kind in ("buffer", "const"):
            return True
        if kind != "view":
            return False
        view = next(v for v in reversed(self.views) if v.ref.name == name)
        if view.kind == "reshape":
            return self._is_contiguous(view.source)
        if view.kind == "index":  # x[i, j, a:b] of a C-contiguous x: rows of it, in order
            return _keeps_rows(view.index) and self._is_contiguous(view.source)
        return view.kind == "contiguous"

    def _contiguous(self, var):
        src = self.array(var)
        if self._is_contiguous(src.name):
            return src
        if self.kinds.get(src.name) in ("arg", "state"):
            view = ArrayRef(self.names.new(f"{src.name}_c"), src.dtype, src.dims)
            self.views.append(View(view, src.name, "contiguous"))
            self.kinds[view.name] = "view"
            return view
        return self._copy(var, src, f"{src.name}_c")

    def _add_index_checks(self, node, x, dims, idx, values=()):
        """An integer index must fall within its axis (numpy raises IndexError): a check
        that the axis is long enough, ``dim >= i + 1`` (``dim >= -i`` for negative ``i``;
        both for an index known at run time, ``values[k]`` for ``Sym(k)``)."""
        for axis, item in enumerate(idx):
            if isinstance(item, slice):
                continue
            if isinstance(item, int):
                needs, shown = [str(item + 1 if item >= 0 else -item)], str(item)
            else:
                value = values[item.k]
                scalar = node.inputs[len(node.inputs) - len(values) + item.k]
                text = pp(scalar)  # the index as the user wrote it: -i, i + 1
                shown = text if len(text) <= 40 else scalar.label()
                needs = [f"{value} + 1", _negated(value)]
            for need in needs:
                if dims[axis].isdigit() and need.isdigit() and int(dims[axis]) >= int(need):
                    continue
                self.checks.append(Check(
                    dims[axis], need, f"{node.op.short_name()}: index {shown} is out of "
                    f"bounds for axis {axis} of {x.label()}", _where_text(node),
                    ((x.label(), tuple(dims)),), at_least=True))

    def _add_reshape_check(self, node, src, dims):
        """The sizes before and after agree (a reshape to another variable's shape too: the
        gradient's always do, a user's need not)."""
        (c_in, atoms_in), (c_out, atoms_out) = dim_factors(src.dims), dim_factors(dims)
        if c_in == c_out and sorted(atoms_in) == sorted(atoms_out):
            return  # the same product (n * 800 and n * 50 * 4 * 4), or -1 made it so
        total_in = " * ".join(f"({d})" for d in src.dims) or "1"
        total_out = " * ".join(f"({d})" for d in dims) or "1"
        target = node.op.shape if node.op.shape is not None else \
            f"the shape of {node.inputs[1].label()}"
        self.checks.append(Check(total_in, total_out, f"reshape: cannot reshape "
                                 f"{node.inputs[0].label()} to {target}",
                                 _where_text(node),
                                 ((node.inputs[0].label(), tuple(src.dims)),)))


def _negated(text):
    """``-(text)`` for a C or Cython expression, with a negation inside folded away: an index
    written ``x[-i]`` checks ``dim >= i``, not ``dim >= -((-i))`` (which Cython warns about)."""
    inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    if re.fullmatch(r"-\s*\(?[A-Za-z_][A-Za-z_0-9]*\)?", inner):
        return inner.lstrip("-").strip()
    return f"-({text})"


def _lone_fill(group):
    """Whether ``group`` is one ``second(x, y)`` (Theano's fill: y broadcast to x's shape)
    whose y has the result's type: where x's lengths agree with y's, as checked, the result
    is y itself, and a loop would only copy it. Gradients make chains of these (that of a
    ``switch`` keeps each operand's shape so): the CTC cost's gradient had 333 such loops."""
    if len(group.members) != 1 or group.reduces:
        return False
    node = group.members[0]
    return (isinstance(node.op, Elemwise) and node.op.scalar_op.name == "second"
            and node.inputs[1].type == node.out.type and node.out.ndim > 0)


# ---------------------------------------------------------------------- ops that are not maps
# Each op that is neither elementwise nor a reduction (those are fused into loops, see
# ``Lowerer._lower_group``) lowers through its row of NODE_LOWERINGS: views, products, and the
# loops of their own that it needs.

def _lower_dimshuffle(lw, node, origin):
    src = lw.array(node.inputs[0])
    lw._view(node.out, src.name, lw.hint(node.out), "axes",
             axes=tuple(None if i == "x" else i for i in node.op.new_order))


def _lower_subtensor(lw, node, origin):
    src = lw.array(node.inputs[0])
    values = lw.values(node)[1:]
    lw._add_index_checks(node, node.inputs[0], src.dims, node.op.idx, values)
    lw._view(node.out, src.name, lw.hint(node.out), "index",
             index=_index(node.op.idx, values))


def _lower_split_piece(lw, node, origin):
    op = node.op
    gz, xs = node.inputs[0], node.inputs[1:]
    src = lw.array(gz)
    start = " + ".join(lw.shape(x)[op.axis] for x in xs[: op.k]) or "0"
    stop = f"{start} + {lw.shape(xs[op.k])[op.axis]}" if start != "0" else \
        lw.shape(xs[op.k])[op.axis]
    lw._view(node.out, src.name, lw.hint(node.out), "index",
             index=_axis_slice(gz.ndim, op.axis, start, stop))


def _lower_reshape(lw, node, origin):
    src = lw._contiguous(node.inputs[0])
    lw._add_reshape_check(node, src, lw._out_dims(node.out))
    lw._view(node.out, src.name, lw.hint(node.out), "reshape")


def _lower_specify_shape(lw, node, origin):
    x = node.inputs[0]
    src = lw.array(x)
    shape = tuple(lw.values(node)[1 + s.k] if isinstance(s, Sym) else str(s)
                  for s in node.op.shape)
    for have, want in zip(src.dims, shape):
        if have != want:
            lw.checks.append(Check(have, want, f"specify_shape: {x.label()} does not have the "
                                   f"shape given", _where_text(node),
                                   ((x.label(), tuple(src.dims)), ("expected", shape))))
    lw._view(node.out, src.name, lw.hint(node.out), "axes", axes=tuple(range(x.ndim)))


def _lower_rebroadcast(lw, node, origin):
    x = node.inputs[0]
    src = lw.array(x)
    for a, b in node.op.flags:
        if b and src.dims[a] != "1":
            lw.checks.append(Check(src.dims[a], "1", f"{node.op.short_name()}: axis {a} of "
                                   f"{x.label()} was made broadcastable, so its length must be 1",
                                   _where_text(node), ((x.label(), tuple(src.dims)),)))
    lw._view(node.out, src.name, lw.hint(node.out), "axes", axes=tuple(range(x.ndim)))


def _lower_dot(lw, node, origin):
    lw._add_checks(node)
    a, b = (lw.array(v) for v in node.inputs)
    out = lw._buffer(node.out, lw.hint(node.out))
    lw.steps.append(DotStep(lw._step_name(out.name), out, a, b, (origin,), trans=node.op.trans))


def _lower_arange(lw, node, origin):
    kind, n = lw.val(node.inputs[0])
    if kind != "scalar":
        raise NotCompiled(f"arange: the compiled backends take a length known before the "
                          f"steps run (a constant, an int scalar argument, a shape), not "
                          f"{node.inputs[0].label()}, which a step computes"
                          f"{_where_text(node) and ' (' + _where_text(node) + ')'}")
    (length,) = node.op.infer_shape(node, [()], values=[_dim_text(n, "arange")])[0]
    out = lw._buffer(node.out, lw.hint(node.out), dims=(length,))
    body = (Assign("v", "int64", Expr("index", value=0, dtype="int64"), origin),)
    lw.steps.append(LoopKernel(lw._step_name(out.name), out.dims, (Operand(out, (0,), "out"),),
                               (), body, (Store(0, "v"),), (origin,)))


def _lower_argmax(lw, node, origin):
    lw._add_checks(node)
    x = lw.array(node.inputs[0])
    out = lw._buffer(node.out, lw.hint(node.out))
    lw.steps.append(AxisStep(lw._step_name(out.name), out, x, node.op.axis, (origin,)))


def _lower_cumulative(lw, node, origin):
    x = lw.array(node.inputs[0])
    out = lw._buffer(node.out, lw.hint(node.out))
    lw.steps.append(AxisStep(lw._step_name(out.name), out, x, node.op.axis, (origin,),
                             op=node.op.mode))


def _lower_positions(lw, node, origin):
    """One walk along the mask, writing the positions of its nonzero elements; the count
    (the output's length) bounds the writes."""
    x = lw.array(node.inputs[0])
    out = lw._buffer(node.out, lw.hint(node.out))
    lw.steps.append(AxisStep(lw._step_name(out.name), out, x, 0, (origin,), op="positions",
                             count=out.dims[0]))


#: elements of a tile of a vector's radix sort on CUDA (``backends.cuda.radix``): a block's
#: share of each pass, with 256 counts of its own
RADIX_TILE = 4096


def argsort_work(m):
    """The int64 words of the memory of a vector's argsort (of ``m``, a dim expression)
    for its radix sort (``ckernel._argsort_row``): two of keys, two of indices, and the
    counts of the 8 bytes' 256 values; on CUDA also 256 counts per tile of RADIX_TILE
    elements."""
    return f"4 * ({m}) + 2048 + 256 * _dim_div({m} + {RADIX_TILE - 1}, {RADIX_TILE})"


def _lower_argsort(lw, node, origin):
    """One walk along the axis; a vector's has memory of its own, for a radix sort when it
    is long (``ckernel._argsort_row``)."""
    x = lw.array(node.inputs[0])
    out = lw._buffer(node.out, lw.hint(node.out))
    work = None
    if len(x.dims) == 1:
        work = ArrayRef(lw.names.new(f"{out.name}_work"), "int64", (argsort_work(x.dims[0]),))
        lw.buffers.append(Buffer(work))
        lw.kinds[work.name] = "buffer"
    lw.steps.append(AxisStep(lw._step_name(out.name), out, x, node.op.axis, (origin,),
                             op="argsort", work=work))


def _lower_fft(lw, node, origin):
    """One walk along the signal axis, a line at a time, each line's transform in memory of
    the step's own (``ops.fft``)."""
    lw._add_checks(node)
    x = lw.array(node.inputs[0])
    out = lw._buffer(node.out, lw.hint(node.out))
    op = node.op
    axis = op.signal_axis(len(x.dims))
    count = out.dims[-1] if op.kind == "irfft" else None
    step = AxisStep(lw._step_name(out.name), out, x, axis, (origin,), op=op.kind, count=count)
    lines = " * ".join(f"({x.dims[a]})" for a in step.outer_axes()) or "1"
    points = count if op.kind == "irfft" else x.dims[axis]
    work = ArrayRef(lw.names.new(f"{out.name}_work"), "float64",
                    (f"{lines} * ({work_words(points)})",))
    lw.buffers.append(Buffer(work))
    lw.kinds[work.name] = "buffer"
    lw.steps.append(replace(step, work=work))


def _lower_assert(lw, node, origin):
    """Theano's Assert: a step per condition that stops the call where it is zero (a
    constant true one has none); the value passes through as it is. The failure's kind is
    'assert' (AssertionError) or 'value' (ValueError), as the op's ``error``."""
    from codegen.graph import Constant
    kind = "value" if node.op.error == "ValueError" else "assert"
    for cond in node.inputs[1:]:
        if isinstance(cond, Constant) and np.all(cond.data):
            continue
        ref = lw.array(cond)
        lw.failures.append((f"Assert: {node.op.msg}", _where_text(node), kind))
        lw.steps.append(AssertStep(lw._step_name(f"assert_{ref.name}"), ref,
                                   len(lw.failures) - 1, (origin,)))
    lw.vals[node.out.id] = lw.val(node.inputs[0])
    if node.inputs[0].id in lw.display:
        lw.display.setdefault(node.out.id, lw.display[node.inputs[0].id])


def _lower_mrg(lw, node, origin):
    """A random variable's MRG streams (codegen.ops.mrg): a walk along each stream's row."""
    state = lw.array(node.inputs[0])
    count = lw.values(node)[1]
    out = lw._buffer(node.out, lw.hint(node.out))
    name = lw._step_name(out.name)
    if isinstance(node.op, MRGDraws):  # (draws, streams): the walk writes a stream's column
        column = ArrayRef(lw.names.new(f"{out.name}_by_stream"), out.dtype, out.dims[::-1])
        lw.views.append(View(column, out.name, "axes", axes=(1, 0)))
        lw.kinds[column.name] = "view"
        out = column
    lw.steps.append(AxisStep(name, out, state, 1, (origin,),
                             op=node.op.short_name(), count=count))


def _linalg_workspace(kind, n, m, structure="general", mode=None, q=None):
    """The dims (dim expressions) of the ``work`` buffer of a step of ``kind`` on an n x n
    (qr, svd: n x m) matrix with m right-hand sides, or None (the factor needs none); ``q``:
    qr's Q columns (R's rows for mode 'r'). The kernels of ``codegen.backends.linalg`` lay
    their scratch out within these sizes."""
    if kind == "cholesky":
        return None
    if kind in ("eigh", "eigvalsh"):  # the matrix rotated, or syevd's a, w, work and iwork
        return (f"3 * ({n}) + 16", n)
    if kind == "qr":  # the reflectors, their factors (tau), geqrf's and orgqr's work
        return (f"{n} + 34", f"{m} + {q}")
    if kind == "svd":  # gesdd's a, U, V^T, s, work and iwork; the rotations' a, V, norms
        k = n if n == m else f"_dim_min({n}, {m})"
        return ((f"{n} + {m} + 50", f"{n} + {m} + 8 * {k} + 50") if mode == "full"
                else (f"{n} + 50", f"8 * {m} + 50"))
    # the elimination's copy of a, LAPACK's b (column-major) and its pivots (as C ints, in
    # the last row); a triangular solve's b for LAPACK
    return (f"{n} + {m} + 1", n) if structure == "general" else (m, n)


def _lower_linalg(lw, node, origin):
    """A factorization or solve (``codegen.ops.linalg``): one step, with a buffer of its
    own where it eliminates or rotates, and a failure where the matrix can stop it."""
    op = node.op
    lw._add_checks(node)
    a = lw.array(node.inputs[0])
    if op.kind == "cholesky" and not op.param("lower", True):  # the upper triangle, read as
        upper = ArrayRef(lw.names.new(f"{a.name}_T"), a.dtype, a.dims[::-1])  # a.T's lower
        lw.views.append(View(upper, a.name, "axes", axes=(1, 0)))
        lw.kinds[upper.name] = "view"
        a = upper
    b = lw.array(node.inputs[1]) if op.kind == "solve" else None
    # (eigh's eigenvalues, its eigenvectors; qr's Q, its R; svd's U, s, V^T): ``others``,
    # then ``out``
    others = tuple(lw._buffer(v, lw.hint(v)) for v in node.outputs[:-1])
    out = lw._buffer(node.outputs[-1], lw.hint(node.outputs[-1]))
    structure = op.param("structure", "general")
    n = a.dims[0]
    m = {"matrix_inverse": n, "det": "0", "qr": a.dims[1], "svd": a.dims[1]}.get(
        op.kind, b.dims[1] if b and len(b.dims) == 2 else "1")
    # the step's own memory
    q = None  # qr's Q columns, R's rows without Q
    if op.kind == "qr":
        q = out.dims[0] if op.param("mode") == "r" else others[0].dims[1]
    dims = _linalg_workspace(op.kind, n, m, structure, op.param("mode"), q)
    work = None
    if dims is not None:
        work = ArrayRef(lw.names.new(f"{out.name}_work"), out.dtype, dims)
        lw.buffers.append(Buffer(work))
        lw.kinds[work.name] = "buffer"
    message = failure(op)
    if message is not None:
        lw.failures.append((f"{op.short_name()}: {message}", _where_text(node), "linalg"))
    lw.steps.append(LinalgStep(lw._step_name(out.name), op.kind, out, a, b, work, (origin,),
                               None if message is None else len(lw.failures) - 1,
                               op.param("lower", True), structure, m, others,
                               op.param("mode")))


def _lower_concatenate(lw, node, origin):
    op, var = node.op, node.out
    lw._add_checks(node)
    out = lw._buffer(var, lw.hint(var))
    offset = "0"
    for k, inp in enumerate(node.inputs):
        src = lw.array(inp)
        end = f"{offset} + {src.dims[op.axis]}" if offset != "0" else src.dims[op.axis]
        piece = ArrayRef(lw.names.new(f"{out.name}_part{k}"), var.dtype, src.dims)
        lw.views.append(View(piece, out.name, "index",
                             index=_axis_slice(var.ndim, op.axis, offset, end)))
        lw.kinds[piece.name] = "view"
        lw._identity_loop(lw._step_name(piece.name), src, piece, inp.broadcastable, origin)
        offset = end


def _lower_subtensor_grad(lw, node, origin):
    x, gz = node.inputs[:2]
    var = node.out
    values = lw.values(node)[2:]
    lw._add_index_checks(node, x, lw.shape(x), node.op.idx, values)
    out = lw._buffer(var, lw.hint(var), fill=0, dims=lw.shape(x))
    src = lw.array(gz)
    piece = ArrayRef(lw.names.new(f"{out.name}_part"), var.dtype, src.dims)
    lw.views.append(View(piece, out.name, "index", index=_index(node.op.idx, values)))
    lw.kinds[piece.name] = "view"
    lw._identity_loop(lw._step_name(piece.name), src, piece, gz.broadcastable, origin)


def _dim_text(expr, op):
    """A scalar computed from shapes and constants as a dim expression (the dim language of
    ``lower.program``), or NotImplementedError naming ``op``."""
    if expr.op == "dim":
        return expr.value
    if expr.op == "const" and float(expr.value) == int(expr.value):
        return str(int(expr.value))
    if expr.op in ("add", "sub", "mul") and len(expr.args) == 2:
        sign = {"add": "+", "sub": "-", "mul": "*"}[expr.op]
        return f"({_dim_text(expr.args[0], op)} {sign} {_dim_text(expr.args[1], op)})"
    if expr.op == "floor_div" and len(expr.args) == 2:  # of lengths: never negative
        return f"_dim_div({_dim_text(expr.args[0], op)}, {_dim_text(expr.args[1], op)})"
    if expr.op in ("minimum", "maximum") and len(expr.args) == 2:
        a, b = _dim_text(expr.args[0], op), _dim_text(expr.args[1], op)
        if a == b:  # a square matrix's diagonal: min(n, n)
            return a
        if expr.op == "minimum":
            return f"_dim_min({a}, {b})"
        return f"({a} + {b} - _dim_min({a}, {b}))"  # the larger
    if expr.op == "neg" and len(expr.args) == 1:
        return f"(-{_dim_text(expr.args[0], op)})"
    if expr.op.startswith("cast_") and len(expr.args) == 1:
        return _dim_text(expr.args[0], op)
    raise NotCompiled(f"{op}: the compiled backends take lengths, bounds and indices "
                              f"that are constants, int scalar arguments, shapes "
                              f"(x.shape[0]) or their sums, products, quotients, minima and maxima")


def _lower_alloc(lw, node, origin):
    value, lengths = node.inputs[0], node.inputs[1:]
    var = node.out
    dims = []
    for n, bc in zip(lengths, var.broadcastable):
        kind, expr = lw.val(n)
        if kind != "scalar":
            raise NotCompiled(f"alloc: the compiled backends take lengths known before the "
                              f"steps run (constants, int scalar arguments, shapes, their sums "
                              f"and products), not {n.label()}, which a step computes"
                              f"{_where_text(node) and ' (' + _where_text(node) + ')'}")
        dims.append("1" if bc else _dim_text(expr, "alloc"))
    lead = var.ndim - value.ndim
    out = lw._buffer(var, lw.hint(var), dims=tuple(dims))
    kind, v = lw.val(value)
    operands = []
    if kind == "scalar":
        expr = v
    else:
        src = lw.array(value)
        for j, bc in enumerate(value.broadcastable):
            if not bc and src.dims[j] != dims[lead + j]:
                lw.checks.append(Check(src.dims[j], dims[lead + j],
                                       f"alloc: dimension {j} of {value.label()} must equal "
                                       f"length {lead + j}", _where_text(node),
                                       ((value.label(), tuple(src.dims)),)))
        axes = tuple(None if a < lead or value.broadcastable[a - lead] else a - lead
                     for a in range(var.ndim))
        operands.append(Operand(src, axes, "in"))
        expr = Expr("load", value=0, dtype=value.dtype)
    operands.append(Operand(out, _axis_map(var.broadcastable), "out"))
    lw.steps.append(LoopKernel(lw._step_name(out.name), out.dims, tuple(operands), (),
                               (Assign("v", var.dtype, expr, origin),),
                               (Store(len(operands) - 1, "v"),), (origin,)))


def _failure(lw, node, message):
    """The position of a new failure of the program: ``message`` (naming the op) and the
    user's line."""
    lw.failures.append((f"{node.op.short_name()}: {message}", _where_text(node), "index"))
    return len(lw.failures) - 1


def _index_arrays(lw, node, idxs):
    """The ArrayRefs of a node's index arrays, after the checks that they broadcast."""
    lw._add_checks(node)
    return tuple(lw.array(i) for i in idxs)


def _lower_gather(lw, node, origin):
    x, idxs = node.inputs[0], node.inputs[1:]
    refs = _index_arrays(lw, node, idxs)
    src = lw.array(x)
    out = lw._buffer(node.out, lw.hint(node.out))
    axes = ", ".join(str(node.op.axis + j) for j in range(len(idxs)))
    failure = _failure(lw, node, f"an index is out of bounds for axis {axes} of {x.label()}")
    lw.steps.append(GatherStep(lw._step_name(out.name), out, src, refs, node.op.axis,
                               (origin,), failure))


def _lower_searchsorted(lw, node, origin):
    """A gather (``GatherStep`` of kind 'search') whose index, for each element of v, is a
    binary search in the sorted vector x; it cannot fail."""
    x, v = node.inputs
    src, values = lw.array(x), lw.array(v)
    out = lw._buffer(node.out, lw.hint(node.out))
    lw.steps.append(GatherStep(lw._step_name(out.name), out, src, (values,), 0, (origin,), None,
                               kind="search", side=node.op.side))


def _broadcast_value(lw, y, rank):
    """``y`` as an array of ``rank`` axes (leading broadcast axes added by a view)."""
    ref = lw.array(y)
    if y.ndim == rank:
        return ref
    lead = rank - y.ndim
    view = ArrayRef(lw.names.new(f"{ref.name}_b"), ref.dtype, ("1",) * lead + tuple(ref.dims))
    lw.views.append(View(view, ref.name, "axes",
                         axes=(None,) * lead + tuple(range(y.ndim))))
    lw.kinds[view.name] = "view"
    return view


def _lower_advanced_inc(lw, node, origin):
    op, var = node.op, node.out
    x, y, idxs = node.inputs[0], node.inputs[1], node.inputs[2:]
    refs = _index_arrays(lw, node, idxs)
    if op.zeros:
        out = lw._buffer(var, lw.hint(var), fill=0, dims=lw.shape(x))
    else:
        src = lw.array(x)
        out = lw._buffer(var, lw.hint(var), dims=src.dims)
        lw._identity_loop(lw._step_name(out.name), src, out, x.broadcastable,
                          Origin(f"{out.name} = copy of {x.label()}", origin.where))
    k = len(idxs)
    rank = op.axis + len(index_dims([r.dims for r in refs], idxs)) + x.ndim - op.axis - k
    value = _broadcast_value(lw, y, rank)
    axes = ", ".join(str(op.axis + j) for j in range(k))
    failure = _failure(lw, node, f"an index is out of bounds for axis {axes} of {x.label()}")
    lw.steps.append(GatherStep(lw._step_name(out.name), out, value, refs, op.axis, (origin,),
                               failure, combine="set" if op.set_instead_of_inc else "add",
                               kind="scatter"))


def _lower_inc_subtensor(lw, node, origin):
    op, var = node.op, node.out
    x, y = node.inputs[:2]
    values = lw.values(node)[2:]
    src = lw.array(x)
    lw._add_index_checks(node, x, src.dims, op.idx, values)
    out = lw._buffer(var, lw.hint(var), dims=src.dims)
    lw._identity_loop(lw._step_name(out.name), src, out, x.broadcastable,
                      Origin(f"{out.name} = copy of {x.label()}", origin.where))
    piece_dims = slice_dims(src.dims, op.idx, values)
    piece = ArrayRef(lw.names.new(f"{out.name}_part"), var.dtype, piece_dims)
    lw.views.append(View(piece, out.name, "index", index=_index(op.idx, values)))
    lw.kinds[piece.name] = "view"
    value = lw.array(y)
    lead = len(piece_dims) - y.ndim
    for a, bc in enumerate(y.broadcastable):
        if not bc and value.dims[a] != piece_dims[lead + a]:
            lw.checks.append(Check(piece_dims[lead + a], value.dims[a],
                                   f"{op.short_name()}: dimension {a} of the value "
                                   f"{y.label()} must equal that of the part it goes into",
                                   _where_text(node),
                                   ((y.label(), tuple(value.dims)),)))
    part_axes = _axis_map([False] * len(piece_dims))
    y_axes = tuple(None if a < lead or y.broadcastable[a - lead] else a - lead
                   for a in range(len(piece_dims)))
    operands = [Operand(value, y_axes, "in")]
    expr = Expr("load", value=0, dtype=y.dtype)
    if y.dtype != var.dtype:
        expr = Expr(f"cast_{var.dtype}", (expr,), dtype=var.dtype)
    if not op.set_instead_of_inc:  # read through a view of its own: a kernel's operands
        # have distinct names (this one is read and written element for element)
        before = ArrayRef(lw.names.new(f"{out.name}_old"), var.dtype, piece_dims)
        lw.views.append(View(before, out.name, "index", index=_index(op.idx, values)))
        lw.kinds[before.name] = "view"
        operands.append(Operand(before, part_axes, "in"))
        expr = Expr("add", (Expr("load", value=1, dtype=var.dtype), expr), dtype=var.dtype)
    operands.append(Operand(piece, part_axes, "out"))
    lw.steps.append(LoopKernel(lw._step_name(piece.name), piece_dims, tuple(operands), (),
                               (Assign("v", var.dtype, expr, origin),),
                               (Store(len(operands) - 1, "v"),), (origin,)))


def _draw(lw, node, load, operand):
    """One element of the draws ``node`` in the loop over their shape (the loop's axes are
    the draws'): a function of the element's flat index and the stream state alone
    (``codegen.ops.random``), so any order and any threads give the same numbers, and the
    loop that applies a dropout mask can draw it. ``load(var, axes)`` gives a parameter's
    element, ``operand(ref, axes)`` the load of an array the loop reads."""
    op, var = node.op, node.out
    rng, params = node.inputs[0], node.inputs[1:3]
    dims = lw._out_dims(var)  # RandomVariable.infer_shape: its lengths' values
    state = lw.array(rng)
    lw.checks.append(Check(state.dims[0], "2", f"{op.short_name()}: the stream state "
                           f"{rng.label()} must be [seed, counter]", _where_text(node),
                           ((rng.label(), tuple(state.dims)),), at_least=True))
    r = len(dims)
    words = []
    for k, what in enumerate(("seed", "counter")):
        view = ArrayRef(lw.names.new(f"{state.name}_{what}"), "int64", ())
        lw.views.append(View(view, state.name, "index", index=(str(k),)))
        lw.kinds[view.name] = "view"
        words.append(operand(view, (None,) * r))
    seed, counter = words
    values = []
    for p in params:
        lead = r - p.ndim  # one value per draw, broadcast (right-aligned) over the draws
        axes = tuple(None if a < lead or p.broadcastable[a - lead] else a - lead
                     for a in range(r))
        if lw.val_kind(p) == "array":
            ref = lw.array(p)
            for a, axis in enumerate(axes):
                if axis is not None and ref.dims[axis] != dims[a]:
                    lw.checks.append(Check(ref.dims[axis], dims[a], f"{op.short_name()}: "
                                           f"dimension {axis} of the parameter {p.label()} "
                                           f"must equal the draws' {a}", _where_text(node),
                                           ((p.label(), tuple(ref.dims)),)))
        values.append(load(p, axes))
    flat = None  # the element's flat index, C order
    for a in range(r):
        if dims[a] == "1":
            continue
        later = [d for d in dims[a + 1:] if d != "1"]
        term = Expr("index", value=a, dtype="int64")
        if later:
            term = Expr("mul", (term, Expr("dim", value=" * ".join(f"({d})" for d in later),
                                            dtype="int64")), dtype="int64")
        flat = term if flat is None else Expr("add", (flat, term), dtype="int64")
    flat = flat or Expr("const", value=0, dtype="int64")
    T = var.dtype

    def arith(name, *args):
        return Expr(name, args, dtype=T)
    if op.dist == "uniform":
        u = Expr("rand_uniform", (flat, counter, seed),
                 dtype="float32" if T == "float32" else "float64")
        low, high = values
        return arith("add", low, arith("mul", arith("sub", high, low), u))
    if op.dist == "normal":
        z = Expr("rand_normal", (flat, counter, seed), dtype="float32" if T == "float32"
                 else "float64")
        avg, std = values
        return arith("add", avg, arith("mul", std, z))
    if op.dist == "poisson":
        return Expr("rand_poisson", (flat, counter, seed, values[0]), dtype=T)
    return Expr("rand_bernoulli", (flat, counter, seed, values[0]), dtype=T)


def branch_guards(nodes, outputs):
    """id(node) -> ((condition variable, taken), ...) for the nodes that only the branches
    of ifelse nodes need: the conditions common to every way an output reaches the node
    (from the outermost ifelse in). A node with no entry runs whatever the conditions."""
    contexts = {}  # id(node) -> the contexts it is reached in
    seen = set()
    stack = [(v.owner, ()) for v in outputs if v.owner is not None]
    while stack:
        node, ctx = stack.pop()
        key = (id(node), tuple((c.id, t) for c, t in ctx))
        if key in seen:
            continue
        seen.add(key)
        contexts.setdefault(id(node), []).append(ctx)
        if isinstance(node.op, IfElse):
            cond, n = node.inputs[0], node.op.n
            parts = [(cond, ctx)] + [(v, ctx + ((cond, True),)) for v in node.inputs[1:1 + n]] \
                + [(v, ctx + ((cond, False),)) for v in node.inputs[1 + n:]]
        else:
            parts = [(v, ctx) for v in node.inputs]
        stack.extend((v.owner, c) for v, c in parts if v.owner is not None)
    guards = {}
    for node in nodes:
        ctxs = contexts.get(id(node))
        if not ctxs:
            continue
        common = ctxs[0]
        for ctx in ctxs[1:]:
            k = 0
            while k < min(len(common), len(ctx)) and common[k][0] is ctx[k][0] \
                    and common[k][1] == ctx[k][1]:
                k += 1
            common = common[:k]
        if common:
            guards[id(node)] = common
    return guards


def _lower_ifelse(lw, node, origin):
    """Each output: the value of the branch the condition picks, in one loop (the steps only
    a branch needs ran under its condition: ``Program.guards``)."""
    cond, n = node.inputs[0], node.op.n
    lw._conditions(((cond, True),))
    cref = lw.conditions[cond.id]
    lw._add_checks(node)
    for k, var in enumerate(node.outputs):
        out = lw._buffer(var, lw.hint(var))
        operands = [Operand(cref, (None,) * var.ndim, "in")]
        loads = [Expr("load", value=0, dtype=cond.dtype)]
        for v in (node.inputs[1 + k], node.inputs[1 + n + k]):
            kind, ref = lw.val(v)
            if kind == "scalar":
                loads.append(ref)
                continue
            operands.append(Operand(lw.array(v), _axis_map(v.broadcastable), "in"))
            loads.append(Expr("load", value=len(operands) - 1, dtype=v.dtype))
        operands.append(Operand(out, _axis_map(var.broadcastable), "out"))
        expr = Expr("switch", tuple(loads), dtype=var.dtype)
        lw.steps.append(LoopKernel(lw._step_name(out.name), out.dims, tuple(operands), (),
                                   (Assign("v", var.dtype, expr, origin),),
                                   (Store(len(operands) - 1, "v"),), (origin,)))


def _copy_kernel(name, value, var, dst, origin):
    """A loop storing ``value`` (the lowered value of ``var``: an array or a scalar
    expression) into every element of ``dst`` (``var`` broadcast where it is broadcastable)."""
    kind, ref = value
    operands = []
    if kind == "scalar":
        expr = ref
    else:
        lead = len(dst.dims) - var.ndim
        operands.append(Operand(ref, tuple(
            None if a < lead or var.broadcastable[a - lead] else a - lead
            for a in range(len(dst.dims))), "in"))
        expr = Expr("load", value=0, dtype=var.dtype)
    if expr.dtype != dst.dtype:
        expr = Expr(f"cast_{dst.dtype}", (expr,), dtype=dst.dtype)
    operands.append(Operand(dst, tuple(range(len(dst.dims))), "out"))
    return LoopKernel(name, dst.dims, tuple(operands), (), (Assign("v", dst.dtype, expr, origin),),
                      (Store(len(operands) - 1, "v"),), (origin,))


def _written_in_place(lw, k, values, first_buffer, local, state, store, L):
    """Whether output ``k`` of a loop's body may be computed in its slot: it is a buffer of
    the body's own (not filled, not another output's, not a condition); and, for a state that
    keeps only its last value (the slot is the window its tap reads), no step reads the window
    after the one that writes the value, which reads it, if at all, element for element at the
    index it writes."""
    kind, ref = values[k]
    buffers = {b.ref.name: b for b in lw.buffers[first_buffer:]}
    if kind != "array" or ref.name not in buffers or buffers[ref.name].fill is not None:
        return False
    if any(j != k and v[0] == "array" and v[1].name == ref.name for j, v in enumerate(values)):
        return False
    if any(ref.name == name for when in lw.guards.values() for name, _ in when):
        return False
    if state is None or store == "all":  # a row, a slot the body never reads
        return True
    if L != 1:
        return False

    def root(name):
        while name in local:
            name = local[name]
        return name
    writer = next(i for i, step in enumerate(lw.steps)
                  if any(root(name) == ref.name for name in writes(step)))
    if ref.name not in writes(lw.steps[writer]):  # written through views (its parts)
        return False
    if any(root(name) == state for step in lw.steps[writer + 1:] for name in reads(step)):
        return False
    step = lw.steps[writer]
    window = [op for op in getattr(step, "operands", ()) if root(op.ref.name) == state]
    if not any(root(name) == state for name in reads(step)):
        return True
    if not isinstance(step, LoopKernel) or len({op.ref.name for op in window}) != 1:
        return False
    out = next(op for op in step.operands if op.ref.name == ref.name)
    return out.role == "out" and all(op.role == "in" and op.axes == out.axes for op in window)


def _views_in_order(views):
    """``views`` with each after the view it is of."""
    by_name = {v.ref.name: v for v in views}
    done, out = set(), []

    def add(v):
        if v.ref.name in done:
            return
        if v.source in by_name:
            add(by_name[v.source])
        done.add(v.ref.name)
        out.append(v)
    for v in views:
        add(v)
    return out


def _identity(step, views):
    """Whether ``step`` is a loop copying an array onto itself (``views``: name -> what a view
    is, views of the same elements being the same array)."""
    if not (isinstance(step, LoopKernel) and len(step.operands) == 2 and len(step.body) == 1):
        return False
    a, b = (op.ref.name for op in step.operands)
    return ((a == b or (a in views and views.get(a) == views.get(b)))
            and step.operands[0].axes == step.operands[1].axes
            and step.body[0].expr == Expr("load", value=0, dtype=step.body[0].expr.dtype)
            and step.stores == (Store(1, step.body[0].local),))


def _counts_from_zero(var):
    """Whether element ``t`` of ``var`` is ``t``: ``arange(k)``, or a slice of it from 0."""
    node = var.owner
    while node is not None and isinstance(node.op, Subtensor) and len(node.op.idx) == 1 \
            and isinstance(node.op.idx[0], slice) and node.op.idx[0].start in (None, 0) \
            and node.op.idx[0].step in (None, 1):
        var = node.inputs[0]
        node = var.owner
    if isinstance(var, Constant):  # arange(k) folded into a constant
        data = var.data
        return data.ndim == 1 and np.array_equal(data, np.arange(len(data)))
    return node is not None and isinstance(node.op, ARange)


def _checks_over_iterations(lw, first, t, n, name, where):
    """The checks of a loop's body that name its index ``t`` (an index ``t + 1`` must be
    within an axis) made for every iteration at once, before the loop: at its first and last
    iteration (the index expressions are sums and products, monotonic in ``t``), and not at
    all when it has none."""
    made = lw.checks[first:]
    del lw.checks[first:]
    for c in made:
        uses = [bool(re.search(rf"\b{t}\b", x)) for x in (c.lhs, c.rhs)]
        if not any(uses):
            lw.checks.append(c)
            continue
        if not c.at_least:
            raise NotCompiled(f"{name}: a shape that changes from one iteration to "
                              f"the next ({c.message}) ({where})", reference=True)
        for value in ("0", f"({n} - 1)"):
            lhs, rhs = (re.sub(rf"\b{t}\b", value, x) for x in (c.lhs, c.rhs))
            lw.checks.append(Check(lhs, f"_dim_min({n}, 1) * ({rhs})", c.message, c.where,
                                   c.operands, at_least=True))


def _lower_scan(lw, node, origin):
    """A loop in the step function over the steps of the body (``ScanStep``): the body's
    inputs are views at the iteration's index, its outputs are copied into the state's slot
    and the stacked outputs' row; the arrays of one iteration are the call's, planned once."""
    from codegen.ops.scan import clone_inner
    from codegen.rewrite import optimize
    op = node.op
    where = _where_text(node)
    n = lw.values(node)[0]
    if n is None:
        raise NotCompiled(f"{op.name}: the compiled backends take a number of steps "
                                  f"that is a constant, an int scalar argument or a shape")
    _, seqs, inits, nonseqs = op.outer_parts(node.inputs)
    lengths = op.lengths()
    seq_refs = [lw.array(v) for v in seqs]
    init_refs = [lw.array(v) for v in inits]
    for k, (v, ref) in enumerate(zip(seqs, seq_refs)):
        if ref.dims[0] != n:
            lw.checks.append(Check(ref.dims[0], n, f"{op.name}: sequence {k} ({v.label()}) is "
                                   f"shorter than the number of steps", where,
                                   ((v.label(), tuple(ref.dims)),), at_least=True))
    for k, (v, ref, L) in enumerate(zip(inits, init_refs, lengths)):
        if ref.dims[0] != str(L):
            lw.checks.append(Check(ref.dims[0], str(L), f"{op.name}: a state with taps back "
                                   f"to -{L} needs {L} initial values", where,
                                   ((v.label(), tuple(ref.dims)),)))
    # the outputs' memory, and the initial values in the states' first rows
    bufs = []
    for k, (var, init, L, store) in enumerate(zip(node.outputs, init_refs, lengths, op.store)):
        first = str(L) if store == "last" else (f"{L} + {n}" if n != "0" else str(L))
        buf = lw._buffer(var, f"{lw.hint(var)}_{'last' if store == 'last' else 'all'}",
                         dims=(first,) + tuple(init.dims[1:]))
        bufs.append(buf)
        head = buf
        if store == "all":
            head = ArrayRef(lw.names.new(f"{buf.name}_init"), buf.dtype, init.dims)
            lw.views.append(View(head, buf.name, "index",
                                 index=_axis_slice(len(buf.dims), 0, None, str(L))))
            lw.kinds[head.name] = "view"
        lw.steps.append(_copy_kernel(lw._step_name(head.name), ("array", init), inits[k],
                                     head, Origin(f"{buf.name}[:{L}] = {inits[k].label()}",
                                                  origin.where)))
    # one iteration: the body, on views at index t
    ins, outs = clone_inner(op.inner_inputs, op.inner_outputs)
    outs = optimize(outs)
    inner_seqs = ins[:op.n_seqs]
    inner_taps, k = [], op.n_seqs
    for lags in op.taps:
        inner_taps.append(ins[k:k + len(lags)])
        k += len(lags)
    inner_nonseqs = ins[k:]
    t = lw.names.new("t")
    saved = lw.steps, lw.views, len(lw.materialized), len(lw.buffers)
    lw.steps, lw.views = [], []

    def at(source, var, hint, first):  # source[first, ...], a view made at each iteration
        ref = ArrayRef(lw.names.new(hint), var.dtype, tuple(source.dims[1:]))
        lw.views.append(View(ref, source.name, "index",
                             index=(first,) + (Slice(),) * (len(source.dims) - 1)))
        lw.kinds[ref.name] = "view"
        return ref

    for var, ref, outer in zip(inner_seqs, seq_refs, seqs):
        if _counts_from_zero(outer):  # arange(...)[t] is t: an index known in the loop
            lw.vals[var.id] = ("scalar", Expr("dim", value=t, dtype=var.dtype))
            lw.display[var.id] = t
            continue
        lw.vals[var.id] = ("array", at(ref, var, f"{ref.name}_t", t))
        lw.display[var.id] = lw.vals[var.id][1].name
    for taps, lags, buf, L, store in zip(inner_taps, op.taps, bufs, lengths, op.store):
        for var, lag in zip(taps, lags):
            back = L - lag
            first = str(back) if store == "last" else (f"{t} + {back}" if back else t)
            lw.vals[var.id] = ("array", at(buf, var, f"{buf.name}_{lag}", first))
            lw.display[var.id] = lw.vals[var.id][1].name
    for var, outer in zip(inner_nonseqs, nonseqs):
        lw.vals[var.id] = lw.val(outer)
        lw.display[var.id] = lw.display.get(outer.id, outer.label())
    n_checks = len(lw.checks)
    try:
        lw._lower_graph(outs)
    except NotCompiled as exc:  # in the body: the loop as a whole runs in the reference
        exc.node, exc.late = node, []
        raise
    del lw.materialized[saved[2]:]  # the arrays of one iteration are not the graph's values
    _checks_over_iterations(lw, n_checks, t, n, op.name, where)
    for b in lw.buffers[saved[3]:]:
        if any(re.search(rf"\b{t}\b", d) for d in b.ref.dims):
            raise NotCompiled(f"{op.name}: an array whose shape changes from one "
                              f"iteration to the next ({b.ref.name}) (" + where + ")",
                              reference=True)
    m = op.n_states
    values = [lw.val(v) for v in outs]
    # products added into the loop that reads them, within the body (see accumulate.py)
    body = Program(op.name, [], [], [], [], [], lw.buffers[saved[3]:], lw.views, lw.steps,
                   [ref for kind, ref in values if kind == "array"], [], guards=lw.guards)
    fold_accumulating_products(body)
    lw.buffers[saved[3]:] = body.buffers
    # the new values into the states' slots, the stacked outputs' rows
    slots = []
    for k, (var, buf, L, store) in enumerate(zip(outs[:m], bufs, lengths, op.store)):
        if store == "all":
            slots.append(at(buf, var, f"{buf.name}_new", f"{t} + {L}"))
            continue
        kind, ref = values[k]
        if kind == "array" and lw.kinds.get(ref.name) == "view":  # may read the window
            tmp = ArrayRef(lw.names.new(f"{buf.name}_tmp"), buf.dtype, ref.dims)
            lw.buffers.append(Buffer(tmp))
            lw.kinds[tmp.name] = "buffer"
            lw.steps.append(_copy_kernel(lw._step_name(tmp.name), values[k], var, tmp,
                                         Origin(f"{tmp.name} = {var.label()}", origin.where)))
            values[k] = ("array", tmp)
        if L > 1:  # the window moves on by one
            tmp = ArrayRef(lw.names.new(f"{buf.name}_shift"), buf.dtype,
                           (str(L - 1),) + tuple(buf.dims[1:]))
            lw.buffers.append(Buffer(tmp))
            lw.kinds[tmp.name] = "buffer"
            bc = (False,) * len(buf.dims)
            later = ArrayRef(lw.names.new(f"{buf.name}_later"), buf.dtype, tmp.dims)
            lw.views.append(View(later, buf.name, "index",
                                 index=_axis_slice(len(buf.dims), 0, "1", str(L))))
            earlier = ArrayRef(lw.names.new(f"{buf.name}_earlier"), buf.dtype, tmp.dims)
            lw.views.append(View(earlier, buf.name, "index",
                                 index=_axis_slice(len(buf.dims), 0, "0", str(L - 1))))
            for src, dst in ((later, tmp), (tmp, earlier)):
                lw.kinds[src.name] = lw.kinds.get(src.name, "view")
                lw.steps.append(LoopKernel(
                    lw._step_name(dst.name), dst.dims,
                    (Operand(src, _axis_map(bc), "in"), Operand(dst, _axis_map(bc), "out")),
                    (), (Assign("v", buf.dtype, Expr("load", value=0, dtype=buf.dtype),
                                origin),), (Store(1, "v"),), (origin,)))
        slots.append(at(buf, var, f"{buf.name}_new", str(L - 1)))
    stacked = []
    for k, var in enumerate(node.outputs[m:]):
        kind, ref = values[m + k]
        dims = ref.dims if kind == "array" else ("1",) * outs[m + k].ndim
        stop = op.until and m + k == len(outs) - 1  # the condition: 1 in the rows not run
        out = lw._buffer(var, lw.hint(var), fill=1 if stop else None, dims=(n,) + tuple(dims))
        stacked.append(out)
        slots.append(at(out, outs[m + k], f"{out.name}_row", t))
    # each value goes into its slot: computed there (the buffer of the step that writes it
    # renamed to the slot) where nothing reads the slot's old value after that, else copied
    local = {v.ref.name: v.source for v in lw.views}
    renames = {}
    for k, (var, slot) in enumerate(zip(outs, slots)):
        kind, ref = values[k]
        if kind == "array":
            for a in range(var.ndim):
                if not var.broadcastable[a] and ref.dims[a] != slot.dims[a]:
                    lw.checks.append(Check(
                        ref.dims[a], slot.dims[a], f"{op.name}: dimension {a} of the step's "
                        f"output {k} ({var.label()}) must stay the same in every iteration "
                        f"(as its initial value's)", where, ((var.label(), tuple(ref.dims)),)))
        if _written_in_place(lw, k, values, saved[3], local, bufs[k].name if k < m else None,
                             op.store[k] if k < m else "all", lengths[k] if k < m else 0):
            renames[ref.name] = slot
            continue
        lw.steps.append(_copy_kernel(lw._step_name(slot.name), values[k], var, slot,
                                     Origin(f"{slot.name} = {lw.display.get(var.id, var.label())}",
                                            origin.where)))
    if renames:
        same = {v.ref.name: (v.source, v.kind, v.axes, v.index) for v in lw.views}
        lw.steps = [s for s in (renamed(step, renames) for step in lw.steps)
                    if not _identity(s, same)]
        lw.buffers = [b for b in lw.buffers if b.ref.name not in renames]
        lw.views = _views_in_order([replace(v, source=renames[v.source].name)
                                    if v.source in renames else v for v in lw.views])
    # buffers filled before the steps run are filled at each iteration instead
    fills = []
    outer = {ref.name for ref in stacked}  # the stacked outputs: filled once, before the loop
    for j in range(saved[3], len(lw.buffers)):
        b = lw.buffers[j]
        if b.fill is not None and b.ref.name not in outer:
            lw.buffers[j] = Buffer(b.ref)
            fills.append(LoopKernel(
                lw._step_name(f"{b.ref.name}_fill"), b.ref.dims,
                (Operand(b.ref, tuple(range(len(b.ref.dims))), "out"),), (),
                (Assign("v", b.ref.dtype, Expr("const", value=b.fill, dtype=b.ref.dtype),
                        origin),), (Store(0, "v"),), (origin,)))
    inner_steps, inner_views = fills + lw.steps, lw.views
    lw.steps, lw.views = saved[0], saved[1]
    # the arrays of the call the loop touches, by their names in the call
    local = {v.ref.name: v.source for v in inner_views}

    def root(name):
        while name in local:
            name = local[name]
        return name
    known = {ref.name: ref for kind, ref in lw.vals.values() if kind == "array"}
    known.update({b.ref.name: b.ref for b in lw.buffers})
    known.update({v.ref.name: v.ref for v in lw.views})
    touched, written = {}, set()
    for step in inner_steps:
        for ref in step_arrays(step):
            name = root(ref.name)
            touched.setdefault(name, known.get(name, ref))
        written.update(root(name) for name in writes(step))
    for v in inner_views:
        name = root(v.source)
        touched.setdefault(name, known[name])
    for step in all_steps(inner_steps):
        for name, _ in lw.guards.get(step.name, ()):
            if root(name) in known:
                touched.setdefault(root(name), known[root(name)])
    arrays = tuple(touched[name] for name in sorted(touched))
    lw.steps.append(ScanStep(lw._step_name(op.name), t, n, tuple(inner_views), tuple(inner_steps),
                             (origin,), arrays, tuple(sorted(set(touched) - written)),
                             until=slots[-1].name if op.until else ""))
    for var, buf in zip(node.outputs, bufs + stacked):
        lw.vals[var.id] = ("array", buf)


#: How each op that is not a map or a reduction lowers: (lowerer, node, origin) -> None.
NODE_LOWERINGS = {
    Scan: _lower_scan,
    IfElse: _lower_ifelse,
    Gather: _lower_gather,
    SearchSorted: _lower_searchsorted,
    AdvancedIncSubtensor: _lower_advanced_inc,
    IncSubtensor: _lower_inc_subtensor,
    Alloc: _lower_alloc,
    DimShuffle: _lower_dimshuffle,
    Subtensor: _lower_subtensor,
    SplitPiece: _lower_split_piece,
    Reshape: _lower_reshape,
    SpecifyShape: _lower_specify_shape,
    Rebroadcast: _lower_rebroadcast,
    Dot: _lower_dot,
    ARange: _lower_arange,
    Argmax: _lower_argmax,
    CumOp: _lower_cumulative,
    ArgSort: _lower_argsort,
    Positions: _lower_positions,
    FFT1: _lower_fft,
    Assert: _lower_assert,
    MRGDraws: _lower_mrg,
    MRGAdvance: _lower_mrg,
    Concatenate: _lower_concatenate,
    Linalg: _lower_linalg,
    SubtensorGrad: _lower_subtensor_grad,
}


def _schedule(nodes, group_of, after=None, reads=lambda node: node.inputs):
    """Nodes and fused groups (as lists of nodes) in an order where the inputs each node
    ``reads`` come first (and the nodes ``after[id(node)]`` lists: the conditions of its
    guard)."""
    unit_of, units = {}, []
    for node in nodes:
        group = group_of.get(id(node))
        key = ("g", group.id) if group is not None else ("n", id(node))
        if key not in unit_of:
            unit_of[key] = len(units)
            units.append([] if group is not None else node)
        if group is not None:
            units[unit_of[key]].append(node)
        unit_of[id(node)] = unit_of[key]
    deps = [set() for _ in units]
    for node in nodes:
        u = unit_of[id(node)]
        for inp in reads(node):
            if inp.owner is not None and unit_of[id(inp.owner)] != u:
                deps[u].add(unit_of[id(inp.owner)])
        for before in (after or {}).get(id(node), ()):
            if id(before) in unit_of and unit_of[id(before)] != u:
                deps[u].add(unit_of[id(before)])
    order, state = [], [0] * len(units)

    def visit(u):
        stack = [(u, iter(sorted(deps[u])))]
        state[u] = 1
        while stack:
            cur, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[cur] = 2
                order.append(units[cur])
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
            elif state[nxt] == 1:
                raise AssertionError("fusion created a cycle")

    for u in range(len(units)):
        if state[u] == 0:
            visit(u)
    return order


def _axis_map(broadcastable):
    """Array axis advanced by each loop axis (None: broadcast, stride 0)."""
    return tuple(None if bc else a for a, bc in enumerate(broadcastable))


def _index(idx, values=()):
    """An op's index (ints, slices, ``Sym``s standing for ``values[k]``, dim expressions)
    as a view's: dim expressions and Slices."""
    def part(p):
        return None if p is None else (values[p.k] if isinstance(p, Sym) else str(p))
    return tuple(Slice(part(item.start), part(item.stop), item.step)
                 if isinstance(item, slice) else part(item) for item in idx)


def _shape_inputs(node):
    """The inputs of ``node`` read for their shapes only (``Op.shape_inputs``)."""
    return node.op.shape_inputs(node) if hasattr(node.op, "shape_inputs") else ()


def _keeps_rows(index):
    """Whether a view ``index`` of a C-contiguous array is C-contiguous: indices on its
    leading axes, then at most one slice of step 1, then whole axes."""
    k = 0
    while k < len(index) and isinstance(index[k], str):
        k += 1
    if k < len(index) and index[k].step in (None, 1):
        k += 1
    return all(isinstance(item, Slice) and item == Slice() for item in index[k:])


def _axis_slice(ndim, axis, start, stop):
    """The index of [start:stop] along ``axis`` of an array of ``ndim`` axes."""
    return tuple(Slice(start, stop) if a == axis else Slice() for a in range(ndim))


def lower(fgraph, name, arg_names, state_names, defaults=None):
    """The kernel program of ``fgraph`` (already rewritten).

    ``arg_names``: identifier hints for the inputs; ``state_names``: shared variable id ->
    unique state name in the module; ``defaults``: input id -> default value.
    """
    program = Lowerer(fgraph, name, arg_names, state_names, defaults or {}).lower()
    fold_accumulating_products(program)
    return program


__all__ = ["lower", "sanitize", "Names"]
