"""Rendering a module's kernel programs to one readable .pyx through Jinja templates.

Python decides every name, expression and loop line here; the templates under
``templates/cython/`` only splice them into a skeleton.
"""

import os
import re

import numpy as np

from codegen.backends import cexpr, ckernel, cstep, linalg
from codegen.backends.templating import environment
from codegen.lower.memory import in_place_updates, shared_scratch
from codegen.lower.program import (
    AssertStep,
    AxisStep,
    GatherStep,
    LinalgStep,
    LoopKernel,
    ScanStep,
    can_fail,
    reads,
    results,
    step_arrays,
    view_root,
    writes,
)


def comment(text):
    return " ".join(str(text).split())


def _array_refs(program):
    refs = {}
    for step in program.steps:
        for r in step_arrays(step):
            refs[r.name] = r
    return list(refs.values())


def _py_dtype(dtype):
    return f"np.{dtype}" if dtype != "bool" else "np.bool_"


def _output_text(ref, program, copied):
    if hasattr(ref, "dims"):
        return f"{ref.name}.copy()" if ref.name in copied else ref.name
    if ref.op == "const":
        return f"np.asarray({ref.value!r}, dtype={_py_dtype(ref.dtype)})"
    if ref.op == "dim":
        return f"np.asarray({ref.value}, dtype={_py_dtype(ref.dtype)})"
    raise NotImplementedError("scalar expression output")


def _device_output_text(ref, program, copied, call):
    """The glue's expression of an output left on the device (outputs='device'): a
    DeviceArray over the memory the call returned it in, or a copy to the device of what
    the glue holds (an output no step wrote)."""
    if not hasattr(ref, "dims"):
        return f"_to_device({_output_text(ref, program, copied)})"
    root = view_root(program)(ref.name)
    if call is None or root not in call.returned:
        return f"_to_device({ref.name})"
    k = call.returned.index(root)
    return f"_device_array(_device_outputs[{k}], {root}, {ref.name}, _owners, {k})"


def function_context(program, debug=False, device="cpu", state_index=None, profile=False):
    """What the function template needs for one compiled function; ``device``: the C layer
    it calls, the CPU's (``cg_step_<f>``) or CUDA's (``cg_call_<f>``, which moves the arrays
    to the device and back).

    ``debug``: False, True (NaN and Inf checks) or (nan_is_error, inf_is_error, big_is_error).
    ``profile``: the step function times each step (``cstep.step_function``); not in a
    checking build on the CPU, whose glue runs the steps one by one itself.
    """
    guard = (True, True, False) if debug is True else debug
    device_guard = None
    if device == "cuda" and guard:  # checked on the device, by the step function
        device_guard, guard = guard, False
    profile = profile and not guard
    steps = []
    # One thread pool per call: where BLAS runs with its own threads, OpenMP threads still
    # spinning after a loop would compete with them (3x slower on 2 cores, measured). So a
    # function whose products or factorizations may call BLAS threads its loops only while
    # BLAS runs on the call's OpenMP threads (``cg_blas_enter`` in ckernel.blas_access).
    cpu = cstep.CpuStrategy()
    blas = cpu.uses_blas(program)
    threads = "with_blas" if blas else True
    for step in program.steps:
        if isinstance(step, ScanStep):  # the loop as one step (its body is checked whole)
            kernel = cstep.scan_kernel(program, step, cstep.CpuStrategy(), blas)
            steps.append({"kind": "loop", "name": kernel.name, "failure": None,
                          "failure_code": can_fail(step.steps),
                          "guard": _guard_test(program, step),
                          "c_lines": kernel.c_lines, "prototype": kernel.prototype,
                          "declaration": kernel.declaration, "call": kernel.call,
                          "origins": kernel.origins, "outs": writes(step), "ins": reads(step),
                          "extents": "()"})
        elif isinstance(step, AssertStep):  # the condition, read where it is
            steps.append({"kind": "assert", "name": step.name, "failure": step.failure,
                          "failure_code": False, "guard": _guard_test(program, step),
                          "call": f"{step.cond.name}_p[0] == 0",
                          "origins": [(comment(o.text), comment(o.where)) for o in step.origins],
                          "outs": [], "ins": [step.cond.name], "extents": "()"})
        elif isinstance(step, (LoopKernel, AxisStep, GatherStep, LinalgStep)):
            if isinstance(step, LoopKernel):
                kernel = ckernel.loop_kernel(step, threads=threads)
            elif isinstance(step, GatherStep):
                kernel = ckernel.gather_kernel(step, threads=threads)
            elif isinstance(step, LinalgStep):
                kernel = linalg.kernel(step)
            else:
                kernel = ckernel.axis_kernel(step, threads=threads)
            outs = results(step)
            steps.append({"kind": "loop", "name": kernel.name,
                          # a gather returns nonzero for an index out of range, a
                          # factorization for a matrix that is singular
                          "failure": getattr(step, "failure", None), "failure_code": False,
                          "guard": _guard_test(program, step),
                          "c_lines": kernel.c_lines, "prototype": kernel.prototype,
                          "declaration": kernel.declaration,
                          "call": kernel.call,
                          "origins": kernel.origins, "outs": outs, "ins": reads(step),
                          "extents": _extents(step)})
        else:
            steps.append({"kind": "dot", "name": step.name, "call": ckernel.product_call(step),
                          "failure": None, "failure_code": False,
                          "guard": _guard_test(program, step),
                          "origins": [(comment(o.text), comment(o.where)) for o in step.origins],
                          # the values it read: an accumulating product's own output
                          # has changed by the time a check reports them
                          "outs": [step.out.name], "ins": [step.a.name, step.b.name],
                          "extents": "()"})
    buffer_names = {b.ref.name for b in program.buffers}
    update_names = {ref.name for _, ref in program.updates}
    copied = set()
    for ref in program.outputs:
        if hasattr(ref, "dims") and (ref.name not in buffer_names or ref.name in update_names):
            copied.add(ref.name)
    refs = _array_refs(program)
    ndims = {**{a.name: len(a.broadcastable) for a in program.args},
             **{s.local: len(s.broadcastable) for s in program.state},
             **{b.ref.name: len(b.ref.dims) for b in program.buffers},
             **{v.ref.name: len(v.ref.dims) for v in program.views},
             **{name: data.ndim for name, data in program.constants}}
    leaving = update_names | {r.name for r in program.outputs if hasattr(r, "dims")}
    glue_views, base = _view_plan(program, refs, guard)
    # the arguments the glue copies to contiguous memory (np.ascontiguousarray)
    made_contiguous = {view_root(program)(v.source) for v in program.views
                       if v.kind == "contiguous" and v.ref.name in glue_views}
    if device == "cuda":  # state the call returns is brought to the host by the call
        root = view_root(program)
        returned = {root(r.name) for r in program.outputs if hasattr(r, "dims")}
        base += [(s.local, s.dtype, len(s.broadcastable)) for s in program.state
                 if s.local in returned and all(s.local != name for name, _, _ in base)]
    c_base = [(name, cexpr.CTYPES[dtype], ndim) for name, dtype, ndim in base]
    if device == "cuda":
        from codegen.backends.cuda import layer
        step = cstep.step_function(program, c_base, strategy=layer.strategy(device_guard),
                                   profile=profile)
        call = layer.call_function(program, step, base, state_index)
        call_text = "_err = " + _wrapped_call(
            call.name, step.args + ["_on_device", "_device_out_p"], " " * 12)
        declaration = ckernel._signature(
            "int", call.name, step.params + ["unsigned long long", "unsigned long long*"],
            " nogil")
    else:
        step = cstep.step_function(program, c_base, profile=profile)
        call = None
        call_text = (("_err = " if program.failures else "")
                     + _wrapped_call(step.name, step.args, " " * 12))
        declaration = ckernel._signature("int", step.name, step.params, " nogil")
    update_index = {ref.name: k for k, (_, ref) in enumerate(program.updates)}
    # a checking build may stop after any step: new state goes to memory of its own
    in_place = ([False] * len(program.updates) if guard or device_guard
                else in_place_updates(program))
    # DebugMode returns every array a step wrote, so there each keeps memory of its own
    # (and on CUDA, where the glue's arrays are the host's side of the device's)
    taken = [] if guard or device == "cuda" else shared_scratch(program)
    takers = {name for name, _, _ in taken}
    return {
        "name": program.name,
        "args": [{"name": a.name, "dtype": a.dtype, "pydtype": _py_dtype(a.dtype),
                  "bc": tuple(a.broadcastable), "default": a.default,
                  "ready": _ready_test(a), "contiguous": a.name in made_contiguous,
                  # read on the host as a dim: never taken from device memory
                  "value_dim": any(n == a.name and axis is None
                                   for _, n, axis in program.dims)} for a in program.args],
        "state": program.state,
        # a dim is an axis's length, or the value of an int scalar (axis None)
        "dims": [(d, f"_dim({name}, {axis})" if axis is not None else f"int({name})")
                 for d, name, axis in program.dims],
        # one C test for all shape checks; the message is built only when one fails
        "check_any": [f"{_operand(c.lhs)} {'<' if c.at_least else '!='} {_operand(c.rhs)}  "
                      f"# {comment(c.message)}" for c in program.checks],
        "check_table": _check_table(program.checks),
        # (message, where) of each way a step can fail (an index out of range)
        "failure_table": repr(tuple(step.failures)),
        # fresh: arrays that leave the call (outputs, new state); scratch: reused across calls
        "fresh": [_buffer(b, update_index.get(b.ref.name)) for b in program.buffers
                  if b.ref.name in leaving],
        "scratch": [_buffer(b, None) for b in program.buffers
                    if b.ref.name not in leaving and b.ref.name not in takers],
        "shared_scratch": [{"name": name, "owner": owner, "previous": previous}
                           for name, owner, previous in taken],
        # the dims the scratch buffers' shapes use: equal dims, same buffers
        "scratch_key": "(" + "".join(f"{d}, " for d, _, _ in program.dims if any(
            d in re.findall(r"\w+", dim) for b in program.buffers
            if b.ref.name not in leaving for dim in b.ref.dims)) + ")",
        "views": [{"name": v.ref.name, "expr": numpy_view(v, ndims)} for v in program.views
                  if v.ref.name in glue_views],
        "constants": [{"name": name, "value": constant_text(data)}
                      for name, data in program.constants],
        "pointers": [{"name": name, "ctype": cexpr.CTYPES[dtype], "ndim": ndim}
                     for name, dtype, ndim in base],
        "steps": steps,
        # the C layer: the step function (<module>_kernels.c) and the glue's call of it
        "step": step,
        # profile=True: (kind, name, expression, where) of each step the step function times
        "profile": step.profiled,
        "call": call,  # CUDA: the call that moves the arrays (codegen.backends.cuda.layer)
        # CUDA: the arguments an output is (or is a view of), which the glue returns from
        # the host
        "returned_args": {view_root(program)(r.name) for r in program.outputs
                          if hasattr(r, "dims")} & {a.name for a in program.args},
        "step_call": call_text,
        "step_declaration": declaration,
        "kernel_declarations": [line for s in steps if s["kind"] == "loop"
                                for line in s["declaration"]],
        "outputs": [_output_text(r, program, copied) for r in program.outputs],
        # CUDA, called with outputs='device'
        "device_outputs": ([_device_output_text(r, program, copied, call)
                            for r in program.outputs] if device == "cuda" else []),
        "updates": [ref.name for _, ref in program.updates],
        "in_place": in_place,
        "keeps_spares": not all(in_place),  # some update goes into the array replaced before
        "blas": blas,
        "blas_load": cpu.factorizes(program),
        "debug": bool(guard),
        "guard": ", ".join(map(str, guard)) if guard else "",
        "written": "{" + ", ".join(f"{name!r}: {name}" for name, _, _ in program.materialized)
                  + "}",
    }


#: Constants of more elements than this are embedded packed (``constant_text``).
PACKED_CONSTANT = 256


def constant_text(data):
    """Python's expression of a constant array: a literal list, or, past PACKED_CONSTANT
    elements, its bytes zlib-compressed in base64 lines, with its dtype, shape and first
    values in a comment. The C compiler builds a list literal element by element in the
    module's init function, which took 30 s of LeNet's 40 s build (its convolutions' index
    arrays); a string is one constant."""
    dtype = _py_dtype(str(data.dtype))
    if data.size <= PACKED_CONSTANT:
        return f"np.array({data.tolist()!r}, dtype={dtype})"
    import base64
    import zlib
    text = base64.b64encode(zlib.compress(np.ascontiguousarray(data).tobytes(), 9)).decode()
    first = ", ".join(format(v, ".6g") if isinstance(v, float) else str(v)
                      for v in data.ravel()[:4].tolist())
    lines = [f'    "{text[k:k + 88]}"' for k in range(0, len(text), 88)]
    return (f"_unpacked(  # {data.dtype} {data.shape}: {first}, ...\n" + "\n".join(lines)
            + f",\n    {dtype}, {data.shape!r})")


def numpy_view(view, ndims):
    """numpy's expression of a view (``W.T``, ``x[None, :]``, ``c[:, 0]``); ``ndims``: the
    number of axes of each array by name."""
    src = view.source
    if view.kind == "axes":
        kept = [a for a in view.axes if a is not None]
        text = src
        if len(kept) < ndims[src]:  # dropped (length-1) axes: index them with 0
            text += "[" + ", ".join(":" if a in kept else "0" for a in range(ndims[src])) \
                + ", ...]"
        rank = sorted(kept)
        perm = [rank.index(a) for a in kept]
        if perm != list(range(len(perm))):
            text += ".T" if perm == [1, 0] else f".transpose({', '.join(map(str, perm))})"
        if None in view.axes:
            text += "[" + ", ".join("None" if a is None else ":" for a in view.axes) + "]"
        return text
    if view.kind == "index":
        # with ints only, ``...`` follows them, so that the view of one element is a 0-d
        # array sharing its memory (``a[0]`` would be a numpy scalar, a copy that a kernel
        # can neither read as an array nor write through)
        parts = [item if isinstance(item, str) else
                 ":".join("" if p is None else p for p in (item.start, item.stop))
                 + (f":{item.step}" if item.step is not None else "") for item in view.index]
        if all(isinstance(item, str) for item in view.index):
            parts.append("...")
        return f"{src}[{', '.join(parts)}{',' if len(parts) == 1 else ''}]"
    if view.kind == "reshape":
        return f"{src}.reshape({_shape(view.ref.dims)})"
    if view.kind == "contiguous":
        return f"np.ascontiguousarray({src})"
    raise NotImplementedError(f"view kind {view.kind!r}")


def _operand(expr):
    return expr if expr.isidentifier() or expr.isdigit() else f"({expr})"


def _check_table(checks):
    """The shape checks as the text of a Python literal: (lhs, rhs, message, where,
    operands, at_least), with dims as expressions the runtime evaluates over the call's dims when a
    check fails. The module keeps the text and reads it only then: as a literal in the .pyx,
    Cython would turn it into C that builds every tuple at import."""
    rows = ["("]
    for c in checks:
        operands = tuple((label, tuple(dims)) for label, dims in c.operands)
        rows.append(f"    ({c.lhs!r}, {c.rhs!r}, {c.message!r}, {c.where!r},")
        rows.append(f"     {operands!r}, {c.at_least!r}),")
    text = "\n".join(rows + [")"])
    if '"""' in text or "\\" in text:
        return repr(text)
    return 'r"""\n' + text + '"""'


def _wrapped_call(name, args, indent, width=96):
    """``name(args)`` over as many lines as it takes, continued at ``indent``."""
    lines, line = [], f"{name}("
    for k, arg in enumerate(args):
        piece = arg + (", " if k + 1 < len(args) else ")")
        if len(indent) + len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = ""
        line += piece
    lines.append(line if args else f"{name}()")
    return ("\n" + indent).join(lines)


def _view_plan(program, refs, guard):
    """(the views the glue makes as numpy arrays, the arrays the step function takes as
    [(name, dtype, ndim)]).

    The glue makes the copies to contiguous memory and the views an output returns (with the
    views these are views of), and in DebugMode, where each kernel is called from the glue,
    every view. The step function takes the arrays its steps use, or views of which they
    use, that it does not compute itself.
    """
    views = {v.ref.name: v for v in program.views}
    if guard:
        glue = set(views)
    else:
        glue = {name for name, v in views.items() if v.kind == "contiguous"}
        for ref in program.outputs:
            name = getattr(ref, "name", None)
            while name in views and name not in glue:
                glue.add(name)
                name = views[name].source
    needed = {r.name for r in refs}
    stack = list(needed)
    while stack:
        name = stack.pop()
        if name in views and name not in glue and views[name].source not in needed:
            needed.add(views[name].source)
            stack.append(views[name].source)
    computed = {name for name in needed if name in views and name not in glue}
    order = ([(a.name, a.dtype, len(a.broadcastable)) for a in program.args]
             + [(s.local, s.dtype, len(s.broadcastable)) for s in program.state]
             + [(name, str(data.dtype), data.ndim) for name, data in program.constants]
             + [(b.ref.name, b.ref.dtype, len(b.ref.dims)) for b in program.buffers]
             + [(v.ref.name, v.ref.dtype, len(v.ref.dims)) for v in program.views])
    base = [item for item in order if item[0] in needed and item[0] not in computed]
    return glue, base


_TYPENUMS = {"float64": "NPY_FLOAT64", "float32": "NPY_FLOAT32", "int64": "NPY_INT64",
             "int32": "NPY_INT32", "int16": "NPY_INT16", "int8": "NPY_INT8",
             "uint64": "NPY_UINT64", "uint32": "NPY_UINT32", "uint16": "NPY_UINT16",
             "uint8": "NPY_UINT8", "bool": "NPY_BOOL"}


def _ready_test(arg):
    """C condition under which an argument is used as passed, without conversion."""
    test = f"_ready({arg.name}, {_TYPENUMS[arg.dtype]}, {len(arg.broadcastable)})"
    for axis, bc in enumerate(arg.broadcastable):
        if bc:
            test += f" and _dim({arg.name}, {axis}) == 1"
    return test


def _alloc(ref, update):
    """Expression allocating a fresh buffer; new state reuses the array the caller passes as
    its spare (see ``_in_place``)."""
    ndim = len(ref.dims)
    if ndim > 4:
        return f"np.empty({_shape(ref.dims)}, dtype={_py_dtype(ref.dtype)})"
    dims = ", ".join(list(ref.dims) + ["0"] * (4 - ndim))
    typenum = _TYPENUMS[ref.dtype]
    if update is None:
        return f"_empty({typenum}, {ndim}, {dims})"
    return f"_reuse(_spare_arrays[{update}], {typenum}, {ndim}, {dims})"


def _guard_test(program, step):
    """Cython's test of the conditions a step runs under (DebugMode calls each kernel from
    the glue), or None."""
    when = program.guards.get(step.name)
    if not when:
        return None
    return " and ".join(f"{'' if taken else 'not '}{name}_p[0]" for name, taken in when)


def _extents(step):
    """DebugMode bounds check: (array name, array, ((loop length, array axis), ...)) for every
    array a loop kernel indexes; equal extents mean no access falls outside the array."""
    if isinstance(step, LoopKernel):
        pairs = [(op.ref.name, [(step.dims[loop], axis) for loop, axis in enumerate(op.axes)
                                if axis is not None]) for op in step.operands]
    elif isinstance(step, GatherStep):  # the array in loop order; the indices check themselves
        dims, _ = ckernel.gather_loop_dims(step)
        small = step.small()
        pairs = [(small.name, [(d, a) for a, d in enumerate(dims) if small.dims[a] != "1"])]
    elif isinstance(step, LinalgStep):  # the matrices' own lengths
        pairs = [(r.name, [(d, a) for a, d in enumerate(r.dims)]) for r in step_arrays(step)]
    else:  # a walk along an axis (the positions it finds: as many as their count)
        if step.op == "positions":
            out = [(step.count, 0)]
        elif step.op in ("rfft", "irfft"):  # as many points as the transform gives
            out = [(d, j) for j, d in enumerate(step.out.dims)]
        else:
            out = [(step.x.dims[a], j) for j, a in enumerate(step.out_axes())]
        pairs = [(step.x.name, [(step.x.dims[a], a) for a in range(len(step.x.dims))]),
                 (step.out.name, out)]
    return "(" + "".join(f"({name!r}, {name}, ("
                         + "".join(f"({n}, {axis}), " for n, axis in items) + ")), "
                         for name, items in pairs) + ")"


def _buffer(b, update):
    """A buffer's name, allocation and fill; ``update``: its index among the new state."""
    return {"name": b.ref.name, "alloc": _alloc(b.ref, update), "fill": _fill(b.fill)}


def _shape(dims):
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _fill(value):
    """What the glue fills a buffer with before the steps run (None: nothing)."""
    if value is None or value == 0:
        return None if value is None else "0"
    if isinstance(value, float) and np.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python_runtime():
    """The Python-level runtime a generated module embeds: the code of
    ``codegen/graph/casting.py``, then of ``codegen/backends/cython/runtime.py`` (without their
    docstrings, which would replace the module's own ``__doc__``)."""
    import codegen.backends.cython.runtime as runtime
    import codegen.graph.casting as casting
    return _embedded(casting, runtime)


def cuda_runtime():
    """The Python-level runtime a generated CUDA module embeds besides: the code of
    ``codegen/backends/cuda/runtime.py``."""
    import codegen.backends.cuda.runtime as runtime
    return _embedded(runtime)


def _embedded(*modules):
    """The text of ``modules``' files, each without its docstring, to embed in a raw string."""
    import ast
    texts = []
    for module in modules:
        with open(module.__file__) as f:
            text = f.read()
        first = ast.parse(text).body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            text = "".join(text.splitlines(True)[first.end_lineno:])
        where = os.path.relpath(module.__file__, os.path.dirname(_PACKAGE))
        texts.append(f"# ---- {where}\n" + text.strip())
    text = "\n\n\n".join(texts)
    if "'" * 3 in text or text.endswith("\\"):
        raise AssertionError("the runtime's text must fit in a raw string of three quotes")
    return text


def render_module(module_ctx):
    """{file name: text} of a module: ``<name>.pyx`` (the glue), ``<name>_kernels.c`` (the
    math: kernels, products, step functions) and ``<name>_kernels.h`` (what the glue calls)."""
    env = environment()
    name = module_ctx["module_name"]
    cuda = module_ctx.get("device") == "cuda"
    profiled = any(f["profile"] is not None for f in module_ctx["functions"])
    c_ctx = {**module_ctx, "module": name, "standalone": True,
             "dim_helpers": cstep.DIM_HELPERS,
             # a profiled step waits for a step's launches before it reads the clock (CUDA)
             "profile_helpers": cstep.profile_helpers(
                 "cudaStreamSynchronize(cg_stream);" if cuda else None) if profiled else [],
             "functions": [{"name": f["name"], "kernels": f["step"].kernels,
                            "step": f["step"].lines,
                            "kernel_prototypes": f["step"].kernel_prototypes,
                            "step_prototype": f["step"].prototype,
                            **(f["call"].context() if cuda else {})}
                           for f in module_ctx["functions"]]}
    pyx_ctx = {**module_ctx, "python_runtime": python_runtime(),
               "cuda_runtime": cuda_runtime() if cuda else ""}
    layer, suffix = ("cuda", "cu") if cuda else ("c", "c")
    if cuda:
        from codegen.backends.cuda import kernels
        c_ctx.update(threads=kernels.THREADS, partial_blocks=kernels.PARTIAL_BLOCKS,
                     max_totals=kernels.MAX_TOTALS, warp_targets=kernels.WARP_TARGETS,
                     layout=ckernel.LAYOUT)
    return {f"{name}.pyx": env.get_template("cython/module.pyx.j2").render(**pyx_ctx),
            f"{name}_kernels.{suffix}": env.get_template(f"{layer}/kernels.{suffix}.j2")
            .render(**c_ctx),
            f"{name}_kernels.h": env.get_template(f"{layer}/kernels.h.j2").render(**c_ctx)}
