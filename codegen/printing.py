"""Printing graphs: ``pp`` in math notation, ``debugprint`` as an indented tree."""

import sys

from codegen.graph import Apply, Constant, Op, Variable
from codegen.graph.errors import warn


def _leaf(var):
    if isinstance(var, Constant):
        return repr(var)
    return var.name or repr(var)


def pp(var, names=None):
    """Math notation: ``pp(foo ** 2)`` -> ``(foo ** TensorConstant{2})``.

    ``names`` (variable id -> text) overrides how graph inputs are shown; generated code uses
    it to print the unique state names (``W_1``) instead of the user's repeated ``W``.
    """
    if not isinstance(var, Variable):
        return pp(var.maker_outputs[0]) if hasattr(var, "maker_outputs") else str(var)
    memo = dict(names or {})

    def fmt(v):
        if v.id in memo:
            return memo[v.id]
        if v.owner is None:
            text = _leaf(v)
        else:
            text = v.owner.op.format(v.owner, [fmt(i) for i in v.owner.inputs])
            if len(v.owner.outputs) > 1:
                text += f".{v.index}"
        memo[v.id] = text
        return text

    return fmt(var)


def debugprint(obj, file=None, print_type=True):
    """An indented tree of the graph of ``obj`` (a variable, a list of them, or a function).

    Each line: the op or variable, an id to spot shared subgraphs, its type and where the user
    built it. A compiled function prints its kernel program instead. ``file="str"`` returns
    the text instead of printing it, as Theano's does.
    """
    if file == "str":
        import io
        text = io.StringIO()
        debugprint(obj, text, print_type)
        return text.getvalue()
    file = file or sys.stdout
    if hasattr(obj, "debug_text"):
        print(obj.debug_text(), file=file)
        return
    outputs = obj if isinstance(obj, (list, tuple)) else [obj]
    ids, seen = {}, set()

    def label(v):
        if v.id not in ids:
            n, name = len(ids), ""
            while True:
                name = chr(ord("A") + n % 26) + name
                n = n // 26 - 1
                if n < 0:
                    break
            ids[v.id] = name
        return ids[v.id]

    def walk(v, prefix):
        head = _leaf(v) if v.owner is None else str(v.owner.op)
        line = f"{prefix}{head} [id {label(v)}]"
        if v.owner is not None and v.name:
            line += f" '{v.name}'"
        if print_type:
            line += f" {v.type}"
        if v.owner is not None:
            line += f"   {v.owner.provenance}"
        if v.id in seen and v.owner is not None:
            print(line + " (seen above)", file=file)
            return
        seen.add(v.id)
        print(line, file=file)
        if v.owner is not None:
            if getattr(v.owner.op, "inner_outputs", None) is not None and \
                    all(v.owner is not n for n in loops):
                loops.append(v.owner)
            for inp in v.owner.inputs:
                walk(inp, prefix.replace("|", " ").replace("-", " ") + " |")

    loops = []  # nodes with a graph of their own (a loop's body), printed after
    for out in outputs:
        walk(out, "")
    if loops:
        print("\nInner graphs:", file=file)
    for node in loops:  # grows as bodies with loops of their own are printed
        print(f"\n{node.op} [id {label(node.outputs[0])}]", file=file)
        for out in node.op.inner_outputs:
            walk(out, " >")


pprint = pp  # Theano's name for it: theano.printing.pprint(y)


def pydotprint(fct, outfile=None, compact=True, format="png", with_ids=False,
               print_output_file=True, return_image=False, **unused):
    """Theano's ``pydotprint``: the graph of a function or variable(s) as a Graphviz drawing.

    The DOT text is written as is (``format='dot'``), or drawn by Graphviz's ``dot`` in
    ``format`` when it is installed; without it, the ``.dot`` file is written instead and a
    warning says so. ``return_image=True`` returns the bytes instead of writing a file.
    """
    import shutil
    import subprocess
    outputs = (fct.fgraph.outputs if hasattr(fct, "fgraph")
               else list(fct) if isinstance(fct, (list, tuple)) else [fct])
    lines = ["digraph G {", "  node [fontname=Helvetica];"]
    ids = {}

    def node_id(key, label, shape):
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            label = label.replace("\\\\", "/").replace('"', "'")
            lines.append(f'  {ids[key]} [label="{label}", shape={shape}];')
        return ids[key]

    seen = set()
    stack = list(outputs)
    while stack:
        var = stack.pop()
        if var.id in seen:
            continue
        seen.add(var.id)
        if var.owner is None:
            node_id(var.id, _leaf(var) + (f" {var.type}" if not compact else ""), "box")
            continue
        node = var.owner
        op = node_id(id(node), str(node.op) + (f" id={id(node)}" if with_ids else ""),
                     "ellipse")
        for k, inp in enumerate(node.inputs):
            src = (node_id(inp.id, _leaf(inp), "box") if inp.owner is None
                   else node_id(id(inp.owner), str(inp.owner.op), "ellipse"))
            lines.append(f'  {src} -> {op} [label="{k} {inp.type}"];')
            stack.append(inp)
    for k, var in enumerate(outputs):
        out = node_id(f"out{k}", f"output {k}: {var.label()}", "plaintext")
        src = (node_id(id(var.owner), str(var.owner.op), "ellipse") if var.owner is not None
               else node_id(var.id, _leaf(var), "box"))
        lines.append(f"  {src} -> {out};")
    text = "\n".join(lines + ["}"]) + "\n"
    dot = shutil.which("dot") if format != "dot" else None
    if format != "dot" and dot is None:
        warn("pydotprint: Graphviz's `dot` is not installed; writing the DOT text")
        format = "dot"
    data = (subprocess.run([dot, f"-T{format}"], input=text.encode(), capture_output=True,
                           check=True).stdout if format != "dot" else text.encode())
    if return_image:
        return data
    outfile = outfile or f"pydotprint.{format}"
    if format == "dot" and not outfile.endswith(".dot"):
        outfile = outfile.rsplit(".", 1)[0] + ".dot"
    with open(outfile, "wb") as f:
        f.write(data)
    if print_output_file:
        print("The output file is available at", outfile)
    return None


class Print(Op):
    """Theano's ``printing.Print(message, attrs)``: ``Print('x')(x)`` is ``x``, and prints
    ``message attr = value`` for each of ``attrs`` of its value when computed. Printing is
    Python: a function with one runs in the reference interpreter (``codegen.function``
    falls back to it with a warning), and a module with one does not build."""

    props = ("message", "attrs")
    #: why only the reference interpreter runs it (codegen.function falls back to it)
    reference_only = "printing is Python, which compiled code cannot call"

    def __init__(self, message="", attrs=("__str__",), global_fn=None):
        self.message, self.attrs = message, tuple(attrs)
        self.global_fn = global_fn

    def short_name(self):
        return f"Print{{{self.message!r}}}"

    def make_node(self, x):
        if not isinstance(x, Variable):
            raise TypeError(f"{self.short_name()}: expected a symbolic variable, got "
                            f"{type(x).__name__}")
        return Apply(self, [x], [x.type])

    def perform(self, node, values):
        (value,) = values
        if self.global_fn is not None:
            self.global_fn(self, value)
        else:
            for attr in self.attrs:
                shown = getattr(value, attr)
                print(self.message, attr, "=", shown() if callable(shown) else shown)
        return [value]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]

    def grad(self, node, output_grads):
        return list(output_grads)
