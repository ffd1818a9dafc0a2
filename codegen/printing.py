"""Printing graphs: ``pp`` in math notation, ``debugprint`` as an indented tree."""

import sys

from codegen.graph import Constant, Variable


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
            for inp in v.owner.inputs:
                walk(inp, prefix.replace("|", " ").replace("-", " ") + " |")

    for out in outputs:
        walk(out, "")


pprint = pp  # Theano's name for it: theano.printing.pprint(y)
