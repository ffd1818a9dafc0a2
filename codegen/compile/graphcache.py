"""The graph cache: from a function's graph straight to its built extension.

The build cache (codegen.build) is keyed by the generated source, so a warm call still pays
for rewriting, lowering and rendering before it finds the extension. This cache sits in front:
its key is the graph itself (every node's op, inputs, types, names and source line, the
constants' bytes, the input specs), the compiler flags and a fingerprint of codegen's own
files, so it can never hand back a module that today's codegen would generate differently.
"""

import hashlib
import json
import os
import tempfile

import numpy as np

from codegen.config import config
from codegen.graph import Constant, toposort

_FINGERPRINT = None


def _fingerprint():
    """Path, size and modification time of every file codegen generates code from (its
    sources and its templates), read once per process."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from codegen.backends.templating import generator_files
        h = hashlib.sha256()
        for path in generator_files():
            st = os.stat(path)
            h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def graph_key(fgraph, ins, fname, extra):
    """A hash of everything the generated module depends on; ``extra``: flags and options."""
    h = hashlib.sha256()
    index = {}

    def add(*parts):
        h.update(repr(parts).encode())
        h.update(b"\n")

    def ref(var):
        if var.id not in index:
            index[var.id] = len(index)
            if isinstance(var, Constant):
                data = np.asarray(var.data)
                add("const", _type(var.type), data.dtype.str, data.shape, data.tobytes())
            else:
                add("leaf", _type(var.type), var.name)
        return index[var.id]

    add(_fingerprint(), fname, extra)
    for spec in ins:
        ref(spec.variable)
        value = None if spec.value is None else np.asarray(spec.value)
        add("in", spec.name, None if value is None else (value.dtype.str, value.shape,
                                                          value.tobytes()))
    for var in fgraph.shared:
        add("shared", ref(var))
    for node in toposort(fgraph.all_outputs):
        args = [ref(v) for v in node.inputs]
        p = node.provenance
        add("node", node.op.key(), args, p.filename, p.lineno, p.role)
        for out in node.outputs:
            index[out.id] = len(index)
            add("out", _type(out.type), out.name)
    add("outputs", [ref(v) for v in fgraph.outputs])
    add("updates", [(ref(s), ref(v)) for s, v in fgraph.updates])
    return h.hexdigest()


def _type(t):
    return (t.dtype, tuple(t.broadcastable), tuple(t.shape) if t.shape is not None else None)


def _entry(key):
    return os.path.join(os.path.abspath(config.cache_dir), "graphs", f"{key[:32]}.json")


def lookup(key):
    """(module name, extension path) built earlier for ``key``, or None."""
    try:
        with open(_entry(key)) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    from codegen.build import verified
    if entry.get("key") != key or not verified(entry.get("path", "")):
        return None
    return entry["module"], entry["path"]


def store(key, module_name, path):
    entry = _entry(key)
    os.makedirs(os.path.dirname(entry), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=os.path.dirname(entry))
    with os.fdopen(fd, "w") as f:
        json.dump({"key": key, "module": module_name, "path": path}, f)
    os.replace(tmp, entry)
