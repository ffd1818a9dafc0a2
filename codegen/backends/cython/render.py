"""Rendering a module's kernel programs to one readable .pyx through Jinja templates.

Python decides every name, expression and loop line here; the templates under
``templates/cython/`` only splice them into a skeleton.
"""

import os

import jinja2
import numpy as np

from codegen.backends.cython import exprs
from codegen.lower.program import ArgmaxStep, DotStep, LoopKernel

TEMPLATE_DIRS = [
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))), "templates"),
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                 "templates"),
]


def environment():
    loader = jinja2.FileSystemLoader([d for d in TEMPLATE_DIRS if os.path.isdir(d)])
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def comment(text):
    return " ".join(str(text).split())


def _index(name, axes):
    terms = [f"i{loop} * {name}_s{axis}" for loop, axis in enumerate(axes) if axis is not None]
    return " + ".join(terms) or "0"


def render_loop(kernel):
    """Signature, declarations and loop lines of one fused loop kernel."""
    params = [f"Py_ssize_t n{a}" for a in range(len(kernel.dims))]
    args = list(kernel.dims)
    dim_params = {}

    def dim(text):
        if text not in dim_params:
            dim_params[text] = f"d{len(dim_params)}"
        return dim_params[text]

    loads = {}
    for i, op in enumerate(kernel.operands):
        ctype = exprs.CTYPES[op.ref.dtype]
        const = "const " if op.role == "in" else ""
        params.append(f"{const}{ctype}* {op.ref.name}")
        args.append(f"{op.ref.name}_p")
        for axis in sorted({a for a in op.axes if a is not None}):
            params.append(f"Py_ssize_t {op.ref.name}_s{axis}")
            args.append(f"{op.ref.name}_s{axis}")
        loads[i] = f"{op.ref.name}[{_index(op.ref.name, op.axes)}]"
    body = []
    for assign in kernel.body:
        text = exprs.render(assign.expr, loads.__getitem__, dim)
        body.append(f"{assign.local} = {text}")
    for store in kernel.stores:
        target = loads[store.operand]
        if store.combine:
            body.append(f"{target} = " + exprs.COMBINE[store.combine].format(target, store.local))
        else:
            body.append(f"{target} = {store.local}")
    for text, name in dim_params.items():
        params.append(f"Py_ssize_t {name}")
        args.append(text)
    locals_ = {}
    for assign in kernel.body:
        locals_.setdefault(exprs.CTYPES[assign.dtype], []).append(assign.local)
    decls = []
    if kernel.dims:
        decls.append("Py_ssize_t " + ", ".join(f"i{a}" for a in range(len(kernel.dims))))
    decls += [f"{ctype} {', '.join(names)}" for ctype, names in locals_.items()]
    lines, indent = [], ""
    for a in range(len(kernel.dims)):
        lines.append(f"{indent}for i{a} in range(n{a}):")
        indent += "    "
    lines += [indent + line for line in body]
    return {"name": kernel.name, "params": params, "decls": decls, "lines": lines,
            "origins": [(comment(o.text), comment(o.where)) for o in kernel.origins],
            "call": f"{kernel.name}({', '.join(args)})"}


def render_dot(step):
    a, b, out = step.a, step.b, step.out
    p = {r.name: f"{r.name}_p" for r in (a, b, out)}

    def s(ref, axis):
        return f"{ref.name}_s{axis}"

    if len(a.dims) == 2 and len(b.dims) == 2:
        call = (f"_gemm({a.dims[0]}, {b.dims[1]}, {a.dims[1]}, {p[a.name]}, {s(a, 0)}, "
                f"{s(a, 1)}, {p[b.name]}, {s(b, 0)}, {s(b, 1)}, {p[out.name]}, {s(out, 0)})")
    elif len(a.dims) == 2:
        call = (f"_gemv({a.dims[0]}, {a.dims[1]}, {p[a.name]}, {s(a, 0)}, {s(a, 1)}, "
                f"{p[b.name]}, {s(b, 0)}, {p[out.name]}, {s(out, 0)})")
    elif len(b.dims) == 2:
        call = (f"_gemv({b.dims[1]}, {b.dims[0]}, {p[b.name]}, {s(b, 1)}, {s(b, 0)}, "
                f"{p[a.name]}, {s(a, 0)}, {p[out.name]}, {s(out, 0)})")
    else:
        call = f"_dotv({a.dims[0]}, {p[a.name]}, {s(a, 0)}, {p[b.name]}, {s(b, 0)}, {p[out.name]})"
    return call


def render_argmax(step):
    """argmax along one axis: the first maximal element wins, NaN counts as maximal."""
    x, out = step.x, step.out
    outer = [a for a in range(len(x.dims)) if a != step.axis]
    ctype = exprs.CTYPES[x.dtype]
    params = [f"Py_ssize_t n{j}" for j in range(len(outer))] + ["Py_ssize_t m"]
    args = [x.dims[a] for a in outer] + [x.dims[step.axis]]
    params += [f"const {ctype}* {x.name}"] + [f"Py_ssize_t {x.name}_s{a}"
                                               for a in range(len(x.dims))]
    args += [f"{x.name}_p"] + [f"{x.name}_s{a}" for a in range(len(x.dims))]
    params += [f"int64_t* {out.name}"] + [f"Py_ssize_t {out.name}_s{a}" for a in range(len(outer))]
    args += [f"{out.name}_p"] + [f"{out.name}_s{a}" for a in range(len(outer))]
    base = " + ".join(f"i{j} * {x.name}_s{a}" for j, a in enumerate(outer)) or "0"
    at = f"{x.name}[{base} + k * {x.name}_s{step.axis}]"
    lines, indent = [], ""
    for j in range(len(outer)):
        lines.append(f"{indent}for i{j} in range(n{j}):")
        indent += "    "
    out_idx = " + ".join(f"i{j} * {out.name}_s{j}" for j in range(len(outer))) or "0"
    lines += [indent + line for line in (
        "best_k = 0",
        f"best = {x.name}[{base}]",
        "for k in range(1, m):",
        f"    v = {at}",
        "    if best == best and (v > best or v != v):",
        "        best = v",
        "        best_k = k",
        f"{out.name}[{out_idx}] = best_k")]
    decls = ["Py_ssize_t k, best_k" + "".join(f", i{j}" for j in range(len(outer))),
             f"{ctype} best, v"]
    return {"name": step.name, "params": params, "decls": decls, "lines": lines,
            "call": f"{step.name}({', '.join(args)})"}


def _array_refs(program):
    refs = {}
    for step in program.steps:
        if isinstance(step, LoopKernel):
            for op in step.operands:
                refs[op.ref.name] = op.ref
        elif isinstance(step, DotStep):
            for r in (step.a, step.b, step.out):
                refs[r.name] = r
        elif isinstance(step, ArgmaxStep):
            for r in (step.x, step.out):
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
        return f"np.asarray({ref.value}, dtype=np.int64)"
    raise NotImplementedError("scalar expression output")


def function_context(program, debug=False):
    """What the function template needs for one compiled function."""
    steps = []
    for step in program.steps:
        if isinstance(step, LoopKernel):
            steps.append({"kind": "loop", **render_loop(step), "outs": [
                op.ref.name for op in step.operands if op.role != "in"]})
        elif isinstance(step, DotStep):
            steps.append({"kind": "dot", "name": step.name, "call": render_dot(step),
                          "origins": [(comment(o.text), comment(o.where)) for o in step.origins],
                          "outs": [step.out.name]})
        else:
            steps.append({"kind": "loop", **render_argmax(step), "outs": [step.out.name],
                          "origins": [(comment(o.text), comment(o.where)) for o in step.origins]})
    buffer_names = {b.ref.name for b in program.buffers}
    update_names = {ref.name for _, ref in program.updates}
    copied = set()
    for ref in program.outputs:
        if hasattr(ref, "dims") and (ref.name not in buffer_names or ref.name in update_names):
            copied.add(ref.name)
    refs = _array_refs(program)
    return {
        "name": program.name,
        "args": [{"name": a.name, "dtype": a.dtype, "pydtype": _py_dtype(a.dtype),
                  "bc": tuple(a.broadcastable), "default": a.default} for a in program.args],
        "state": program.state,
        "dims": program.dims,
        "checks": [{"cond": f"{c.lhs} != {c.rhs}", "message": repr(c.message),
                    "where": repr(c.where),
                    "operands": "(" + "".join(f"({label!r}, {_shape(dims)}), "
                                              for label, dims in c.operands) + ")"}
                   for c in program.checks],
        "buffers": [{"name": b.ref.name, "shape": _shape(b.ref.dims),
                     "dtype": _py_dtype(b.ref.dtype), "fill": _fill(b.fill)}
                    for b in program.buffers],
        "views": [{"name": v.ref.name, "expr": v.expr} for v in program.views],
        "pointers": [{"name": r.name, "ctype": exprs.CTYPES[r.dtype], "ndim": len(r.dims)}
                     for r in refs],
        "steps": steps,
        "outputs": [_output_text(r, program, copied) for r in program.outputs],
        "updates": [ref.name for _, ref in program.updates],
        "debug": debug,
    }


def _shape(dims):
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _fill(value):
    if value is None:
        return None
    if isinstance(value, float) and np.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def render_module(module_ctx):
    return environment().get_template("cython/module.pyx.j2").render(**module_ctx)
