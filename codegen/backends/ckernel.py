"""C source for loop kernels (fused elementwise/reduction loops and argmax).

Every compiled backend runs C kernels: the Cython backend embeds them verbatim in the .pyx
(compiled at -O3 while the Python-facing glue around them is compiled quickly), and a CUDA
backend can render the same kernel programs with its own table.
"""

from codegen.backends import cexpr


def comment(text):
    """One line of free text, safe inside a C comment inside a Python string literal."""
    text = " ".join(str(text).split())
    return text.replace("*/", "* /").replace('"""', "'''").replace("\\", "/")


def _index(name, axes):
    terms = [f"i{loop} * {name}_s{axis}" for loop, axis in enumerate(axes) if axis is not None]
    return " + ".join(terms) or "0"


def _loops(n, body):
    lines = []
    for a in range(n):
        lines.append("    " * a + f"for (Py_ssize_t i{a} = 0; i{a} < n{a}; i{a}++) {{")
    lines += ["    " * n + line for line in body]
    lines += ["    " * a + "}" for a in reversed(range(n))]
    return lines


def _function(name, params, origins, body):
    """C lines of one kernel: a comment per graph node it computes, signature, body."""
    lines = [f"/* {comment(text)}" + (f"   [{comment(where)}]" if where else "") + " */"
             for text, where in origins]
    head = f"static void {name}(" + ", ".join(params) + ") {"
    if len(head) > 96:
        head = f"static void {name}(\n        " + ",\n        ".join(params) + ") {"
    lines += head.split("\n")
    lines += ["    " + line for line in body]
    lines.append("}")
    return lines


class Kernel:
    """A rendered kernel: its C lines, parameter list and the call with run-time values."""

    def __init__(self, name, params, args, origins, body):
        self.name = name
        self.params = params
        self.origins = [(comment(t), comment(w)) for t, w in origins]
        self.c_lines = _function(name, params, origins, body)
        self.call = f"{name}({', '.join(args)})"


def loop_kernel(kernel, table=cexpr.C_OPS):
    """A fused loop: per element, load operands, compute the assignments, store or reduce."""
    params = [f"Py_ssize_t n{a}" for a in range(len(kernel.dims))]
    args = list(kernel.dims)
    dim_params = {}

    def dim(text):
        return dim_params.setdefault(text, f"d{len(dim_params)}")

    loads = {}
    for i, op in enumerate(kernel.operands):
        const = "const " if op.role == "in" else ""
        params.append(f"{const}{cexpr.CTYPES[op.ref.dtype]}* {op.ref.name}")
        args.append(f"{op.ref.name}_p")
        for axis in sorted({a for a in op.axes if a is not None}):
            params.append(f"Py_ssize_t {op.ref.name}_s{axis}")
            args.append(f"{op.ref.name}_s{axis}")
        loads[i] = f"{op.ref.name}[{_index(op.ref.name, op.axes)}]"
    body = [f"{cexpr.CTYPES[a.dtype]} {a.local} = "
            f"{cexpr.render(a.expr, loads.__getitem__, dim, table)};" for a in kernel.body]
    for store in kernel.stores:
        target = loads[store.operand]
        value = (cexpr.COMBINE[store.combine].format(target, store.local) if store.combine
                 else store.local)
        body.append(f"{target} = {value};")
    for text, name in dim_params.items():
        params.append(f"Py_ssize_t {name}")
        args.append(text)
    origins = [(o.text, o.where) for o in kernel.origins]
    return Kernel(kernel.name, params, args, origins, _loops(len(kernel.dims), body))


def argmax_kernel(step):
    """argmax along one axis: the first maximal element wins, NaN counts as maximal."""
    x, out = step.x, step.out
    outer = [a for a in range(len(x.dims)) if a != step.axis]
    ctype = cexpr.CTYPES[x.dtype]
    params = [f"Py_ssize_t n{j}" for j in range(len(outer))] + ["Py_ssize_t m"]
    args = [x.dims[a] for a in outer] + [x.dims[step.axis]]
    params += [f"const {ctype}* {x.name}"] + [f"Py_ssize_t {x.name}_s{a}"
                                               for a in range(len(x.dims))]
    args += [f"{x.name}_p"] + [f"{x.name}_s{a}" for a in range(len(x.dims))]
    params += [f"int64_t* {out.name}"] + [f"Py_ssize_t {out.name}_s{j}"
                                          for j in range(len(outer))]
    args += [f"{out.name}_p"] + [f"{out.name}_s{j}" for j in range(len(outer))]
    base = " + ".join(f"i{j} * {x.name}_s{a}" for j, a in enumerate(outer)) or "0"
    out_idx = " + ".join(f"i{j} * {out.name}_s{j}" for j in range(len(outer))) or "0"
    body = [f"const {ctype}* row = {x.name} + {base};",
            "Py_ssize_t best_k = 0;",
            f"{ctype} best = row[0];",
            "for (Py_ssize_t k = 1; k < m; k++) {",
            f"    {ctype} v = row[k * {x.name}_s{step.axis}];",
            "    if (best == best && (v > best || v != v)) {",
            "        best = v;",
            "        best_k = k;",
            "    }",
            "}",
            f"{out.name}[{out_idx}] = best_k;"]
    origins = [(o.text, o.where) for o in step.origins]
    return Kernel(step.name, params, args, origins, _loops(len(outer), body))
