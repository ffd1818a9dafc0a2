"""Rendering a module's kernel programs as a plain C library: ``<module>.h`` and ``<module>.c``.

The library needs no Python, numpy or codegen at run time. A module object
(``<module>_create``) holds the state and, per function, a workspace reused from call to
call. Each compiled function takes C-contiguous (row-major) inputs with their dims and fills
``<module>_array`` outputs that point into the module object's memory. The kernels and
products are the ones the Cython backend runs (``ckernel``); Python decides every name and
line here, and ``templates/c/`` only splices them in.
"""

import numpy as np

from codegen.backends import cexpr, ckernel
from codegen.backends.ckernel import comment
from codegen.backends.cstep import DIM_HELPERS, contiguous_strides, step_function, view_lines
from codegen.backends.templating import environment
from codegen.lower.memory import in_place_updates, shared_scratch
from codegen.lower.program import DotStep, all_steps

#: The most axes an array of the library's interface has (``<module>_array.dims``).
MAX_NDIM = 8

#: numpy's ``descr`` of each dtype in a .npy header (little-endian hosts).
NPY_DESCR = {"float64": "<f8", "float32": "<f4", "int64": "<i8", "int32": "<i4",
             "int16": "<i2", "int8": "|i1", "uint64": "<u8", "uint32": "<u4",
             "uint16": "<u2", "uint8": "|u1", "bool": "|b1"}

#: Error codes, as the header names them (``<MODULE>_ERR_...``).
ERRORS = [("OK", 0, "success"),
          ("SHAPE", 1, "the arguments' shapes do not fit together or with the state"),
          ("ARGUMENT", 2, "a bad argument: a null pointer, a negative dim, an unknown name"),
          ("STATE", 3, "the state is not set (load it or set every value first)"),
          ("MEMORY", 4, "out of memory"),
          ("IO", 5, "a state file could not be read or written, or is not as expected"),
          ("INDEX", 6, "an index is out of bounds"),
          ("ASSERT", 7, "a condition of the graph (Theano's Assert) does not hold"),
          ("LINALG", 8, "a matrix is singular, or not positive definite")]


def c_string(text):
    """A C string literal of ``text`` (UTF-8)."""
    out = []
    for ch in str(text):
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def c_dim(expr):
    """A dim expression as C: the language of ``lower.program`` is C already."""
    return str(expr)


def _size(dims):
    return " * ".join(f"(size_t)({d})" for d in dims if d != "1") or "1"


class _Function:
    """What the C template needs for one compiled function; ``slots`` numbers the module's
    workspace slots (shared by all functions of a module)."""

    def __init__(self, program, prefix, state_index, slots, doc):
        self.p = program
        self.prefix = prefix
        self.lines = []
        self.slot_count = slots
        self.name = program.name
        self.doc = doc
        self.errors = []
        self._build(state_index)

    def _slot(self):
        self.slot_count += 1
        return self.slot_count - 1

    def emit(self, line=""):
        self.lines.append(line)

    def fail(self, code, fmt, *args):
        """A line returning error ``code`` with a printf-formatted message."""
        extra = "".join(f", {a}" for a in args)
        return f"return cg_fail(m, {self.prefix.upper()}_ERR_{code}, {c_string(fmt)}{extra});"

    def _build(self, state_index):
        p = self.p
        P = self.prefix
        where_fn = f"{P}_{p.name}"
        # ---------------- arguments
        params = [f"{P}_module* m"]
        arg_dims = {}
        for a in p.args:
            params.append(f"const {cexpr.CTYPES[a.dtype]}* {a.name}")
            dims = []
            for axis, bc in enumerate(a.broadcastable):
                if bc:
                    dims.append("1")
                else:
                    params.append(f"int64_t {a.name}_n{axis}")
                    dims.append(f"{a.name}_n{axis}")
            arg_dims[a.name] = dims
        self.outputs = p.outputs
        for k, _ in enumerate(p.outputs):
            params.append(f"{P}_array* out{k}")
        self.params = params
        self.emit(f"if (m == NULL) return {P.upper()}_ERR_ARGUMENT;")
        for k, _ in enumerate(p.outputs):
            self.emit(f"if (out{k} == NULL) "
                      + self.fail("ARGUMENT", f"{where_fn}: output pointer out{k} is NULL"))
        for a in p.args:
            for d in arg_dims[a.name]:
                if d != "1":
                    self.emit(f"if ({d} < 0) " + self.fail(
                        "ARGUMENT", f"{where_fn}: argument {a.name}: dim {d} must not be "
                        "negative, got %lld", f"(long long){d}"))
            size = _size(arg_dims[a.name])
            self.emit(f"if ({a.name} == NULL && {size} > 0) " + self.fail(
                "ARGUMENT", f"{where_fn}: argument {a.name} is NULL"))
        # ---------------- state
        for s in p.state:
            i = state_index[s.name]
            self.emit(f"if (m->state[{i}].data == NULL) " + self.fail(
                "STATE", f"{where_fn}: state {s.name!r} is not set (load the state file or "
                f"call {P}_set_value)"))
        dim_of = {}
        for d, name, axis in p.dims:
            dim_of[(name, axis)] = d
        locals_ = {s.local: s for s in p.state}
        for d, name, axis in p.dims:
            if axis is None and name in locals_:  # the value of an int scalar of the state
                self.emit(f"cg_index {d} = (cg_index)*({cexpr.CTYPES[locals_[name].dtype]}*)"
                          f"m->state[{state_index[locals_[name].name]}].data;")
            elif axis is None:  # the value of an int scalar argument
                self.emit(f"cg_index {d} = (cg_index){name}[0];")
            elif name in locals_:
                self.emit(f"cg_index {d} = (cg_index)m->state[{state_index[locals_[name].name]}]"
                          f".dims[{axis}];")
        # ---------------- shape checks
        for c in p.checks:
            where = f" [{comment(c.where)}]" if c.where else ""
            lhs, rhs = c_dim(c.lhs), c_dim(c.rhs)
            if c.at_least:
                self.emit(f"if (({lhs}) < ({rhs})) " + self.fail(
                    "INDEX", f"{where_fn}: {c.message} (length %lld){where}",
                    f"(long long)({lhs})"))
            else:
                self.emit(f"if (({lhs}) != ({rhs})) " + self.fail(
                    "SHAPE", f"{where_fn}: {c.message} (%lld != %lld){where}",
                    f"(long long)({lhs})", f"(long long)({rhs})"))
        # ---------------- pointers: arguments, state, constants
        arrays = {}  # name -> (ctype, dims) of every array with a pointer
        for a in p.args:
            T = cexpr.CTYPES[a.dtype]
            self.emit(f"{T}* {a.name}_p = ({T}*){a.name};")
            arrays[a.name] = (T, arg_dims[a.name])
        for s in p.state:
            T = cexpr.CTYPES[s.dtype]
            i = state_index[s.name]
            dims = tuple("1" if bc else dim_of[(s.local, axis)]
                         for axis, bc in enumerate(s.broadcastable))
            self.emit(f"{T}* {s.local}_p = ({T}*)m->state[{i}].data;")
            arrays[s.local] = (T, dims)
        self.constants = []
        for name, data in p.constants:
            T = cexpr.CTYPES[str(data.dtype)]
            values = ", ".join(cexpr.literal(v, str(data.dtype)) for v in data.ravel().tolist())
            self.constants.append(f"static const {T} {p.name}_{name}[{max(data.size, 1)}] = "
                                  f"{{{values or '0'}}};")
            self.emit(f"{T}* {name}_p = ({T}*){p.name}_{name};")
            arrays[name] = (T, tuple(str(n) for n in data.shape))
        # ---------------- memory: workspace, new state, outputs
        updates = {ref.name: k for k, (_, ref) in enumerate(p.updates)}
        in_place = in_place_updates(p)
        returned = [r.name for r in p.outputs if hasattr(r, "dims")]
        leaving = set(updates) | set(returned)
        taken = {name: owner for name, owner, _ in shared_scratch(p)}
        self.commits = []
        for b in p.buffers:
            ref = b.ref
            T = cexpr.CTYPES[ref.dtype]
            bytes_ = f"{_size(ref.dims)} * sizeof({T})"
            if ref.name in taken:
                self.emit(f"{T}* {ref.name}_p = ({T}*){taken[ref.name]}_p;  "
                          f"/* memory reused: {taken[ref.name]} is not read from then on */")
            elif ref.name in updates:
                k = updates[ref.name]
                state_name = p.updates[k][0]
                i = state_index[state_name]
                same = " && ".join(f"m->state[{i}].dims[{a}] == ({d})"
                                   for a, d in enumerate(ref.dims)) or "1"
                self.emit(f"{T}* {ref.name}_p;  /* the new value of {comment(state_name)} */")
                if in_place[k]:
                    self.emit(f"if ({same}) {{")
                    self.emit(f"    {ref.name}_p = ({T}*)m->state[{i}].data;  /* in place */")
                    self.emit("} else {")
                    self.emit(f"    {ref.name}_p = ({T}*)cg_reserve(&m->spare[{i}], {bytes_});")
                    self.emit(f"    if ({ref.name}_p == NULL) " + self.fail(
                        "MEMORY", f"{where_fn}: out of memory"))
                    self.emit("}")
                else:
                    self.emit(f"{ref.name}_p = ({T}*)cg_reserve(&m->spare[{i}], {bytes_});")
                    self.emit(f"if ({ref.name}_p == NULL) " + self.fail(
                        "MEMORY", f"{where_fn}: out of memory"))
                self.commits.append((i, ref.name, ref.dims))
            else:
                slot = self._slot()
                self.emit(f"{T}* {ref.name}_p = ({T}*)cg_reserve(&m->ws[{slot}], {bytes_});")
                self.emit(f"if ({ref.name}_p == NULL) " + self.fail(
                    "MEMORY", f"{where_fn}: out of memory"))
            arrays[ref.name] = (T, ref.dims)
        # output arrays that are not buffers of their own are copied into slots
        out_lines = []
        seen = set()
        for k, ref in enumerate(p.outputs):
            if not hasattr(ref, "dims"):  # a constant or a dim
                dtype = ref.dtype
                T = cexpr.CTYPES[dtype]
                slot = self._slot()
                value = (cexpr.literal(ref.value, dtype) if ref.op == "const"
                         else f"({T})({c_dim(ref.value)})")
                self.emit(f"{T}* out{k}_p = ({T}*)cg_reserve(&m->ws[{slot}], sizeof({T}));")
                self.emit(f"if (out{k}_p == NULL) " + self.fail("MEMORY",
                                                                  f"{where_fn}: out of memory"))
                out_lines.append(f"*out{k}_p = {value};")
                out_lines.append(f"cg_set_output(out{k}, out{k}_p, 0, NULL, "
                                 f"{c_string(dtype)});")
                continue
            T = cexpr.CTYPES[ref.dtype]
            dims = ", ".join(f"(int64_t)({d})" for d in ref.dims) or "0"
            own = (ref.name in leaving and ref.name not in updates and ref.name not in seen
                   and any(b.ref.name == ref.name for b in p.buffers))
            seen.add(ref.name)
            out_lines.append(f"{{ int64_t dims[] = {{{dims}}}; ")
            if own:
                out_lines[-1] += (f"cg_set_output(out{k}, {ref.name}_p, {len(ref.dims)}, dims, "
                                  f"{c_string(ref.dtype)}); }}")
                continue
            slot = self._slot()
            self.emit(f"{T}* out{k}_p = ({T}*)cg_reserve(&m->ws[{slot}], "
                      f"{_size(ref.dims)} * sizeof({T}));")
            self.emit(f"if (out{k}_p == NULL) " + self.fail("MEMORY",
                                                              f"{where_fn}: out of memory"))
            strides = ", ".join(f"{ref.name}_s{a}" for a in range(len(ref.dims))) or "0"
            cdims = ", ".join(f"(cg_index)({d})" for d in ref.dims) or "0"
            out_lines[-1] += (f"cg_index cdims[] = {{{cdims}}}, strides[] = {{{strides}}}; "
                              f"cg_copy(out{k}_p, {ref.name}_p, {len(ref.dims)}, cdims, strides, "
                              f"sizeof({T})); cg_set_output(out{k}, out{k}_p, {len(ref.dims)}, "
                              f"dims, {c_string(ref.dtype)}); }}")
        # strides of the arrays with memory of their own (all C-contiguous)
        for name, (T, dims) in arrays.items():
            for a, st in enumerate(contiguous_strides(dims)):
                self.emit(f"cg_index {name}_s{a} = {st};")
        # fills (a gradient of a slice starts at zero)
        for b in p.buffers:
            if b.fill is not None:
                T = cexpr.CTYPES[b.ref.dtype]
                value = cexpr.literal(b.fill, b.ref.dtype)
                self.emit(f"for (size_t i = 0; i < {_size(b.ref.dims)}; i++) "
                          f"{b.ref.name}_p[i] = {value};")
        # ---------------- the step: views, kernels and products (cstep)
        base = [(name, T, len(dims)) for name, (T, dims) in arrays.items()]
        self.step = step_function(p, base, kind="static int")
        if p.failures:
            self.emit(f"int cg_failed = {self.step.name}({', '.join(self.step.args)});")
            for k, (message, where, kind, *_) in enumerate(p.failures):
                where = f" [{comment(where)}]" if where else ""
                self.emit(f"if (cg_failed == {k + 1}) "
                          + self.fail({"index": "INDEX", "linalg": "LINALG"}.get(kind, "ASSERT"),
                                      f"{where_fn}: {message}{where}"))
        else:
            self.emit(f"{self.step.name}({', '.join(self.step.args)});")
        # outputs that are views: their pointers, computed again here
        views = {v.ref.name: v for v in p.views}
        after = []

        def view(name):
            if name in arrays:
                return
            v = views[name]
            view(v.source)
            after.extend(view_lines(v, arrays[v.source][0], arrays[v.source][1]))
            arrays[name] = (arrays[v.source][0], v.ref.dims)

        for ref in p.outputs:
            if hasattr(ref, "dims") and ref.name in views:
                view(ref.name)
        self.out_lines = after + out_lines


def _header_doc(program, spec_doc):
    lines = [line.strip() for line in spec_doc.split("\n")]
    for k, ref in enumerate(program.outputs):
        if hasattr(ref, "dims"):
            shape = ", ".join(ref.dims)
            lines.append(f"out{k}: {ref.dtype} array of shape ({shape})")
        else:
            lines.append(f"out{k}: {ref.dtype} scalar")
    return lines


def render_library(module_name, programs, docs, state, initial_note, version, spec_path):
    """(header text, C source text) of the library of a module's kernel programs.

    ``state``: [(name, dtype, broadcastable)] in the module's state order; ``docs``: each
    program's signature text (as the Python module's docstrings give it).
    """
    prefix = module_name
    state_index = {name: i for i, (name, _, _) in enumerate(state)}
    functions, slots = [], 0
    for program, doc in zip(programs, docs):
        f = _Function(program, prefix, state_index, slots, doc)
        slots = f.slot_count
        functions.append(f)
    for name, _, bc in state:
        if len(bc) > MAX_NDIM:
            raise NotImplementedError(f"the c target: state {name!r} has more than "
                                      f"{MAX_NDIM} axes")
    product_types = sorted({s.out.dtype for p in programs for s in all_steps(p.steps)
                            if isinstance(s, DotStep)})
    accumulating = sorted({s.out.dtype for p in programs for s in all_steps(p.steps)
                           if isinstance(s, DotStep) and s.accumulate})
    ctx = {
        "module": module_name, "prefix": prefix, "PREFIX": prefix.upper(),
        "version": version, "spec": spec_path, "max_ndim": MAX_NDIM,
        "errors": ERRORS, "initial_note": initial_note,
        "state": [{"name": n, "dtype": d, "ndim": len(bc),
                   "bc": "{" + (", ".join("1" if b else "0" for b in bc) or "0") + "}",
                   "descr": NPY_DESCR[d], "itemsize": np.dtype(d).itemsize}
                  for n, d, bc in state],
        "functions": [{"name": f.name, "params": f.params, "body": f.lines,
                       "doc": _header_doc(f.p, f.doc), "step": f.step.lines,
                       "kernels": f.step.kernels, "constants": f.constants,
                       "outputs": f.out_lines, "commits": f.commits}
                      for f in functions],
        "dim_helpers": DIM_HELPERS, "profile_helpers": [], "standalone": False,
        "slots": max(slots, 1),
        "c_helpers": cexpr.helpers(programs),
        "simd_math": ckernel.SIMD_MATH,
        "product_code": ckernel.product_code(product_types, accumulating),
    }
    env = environment()
    return (env.get_template("c/module.h.j2").render(**ctx),
            env.get_template("c/module.c.j2").render(**ctx))


__all__ = ["render_library", "c_string", "MAX_NDIM", "NPY_DESCR"]
