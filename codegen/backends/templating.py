"""The Jinja environment every backend renders its templates with, and the files that
generation reads (the cache keys cover them)."""

import functools
import os

from codegen.config import tool_cache_dir

TEMPLATE_DIRS = [
    # a checkout: templates/ at the top of the repository; installed: codegen/templates
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                 "templates"),
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates"),
]


def generator_files():
    """Every file generation reads: codegen's own sources and the templates."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for top in [package] + [d for d in TEMPLATE_DIRS if os.path.isdir(d)]:
        for folder, _, names in os.walk(top):
            found += [os.path.join(folder, n) for n in names if n.endswith((".py", ".j2"))]
    return sorted(set(found))


@functools.lru_cache(maxsize=None)
def environment():
    """One per process, so templates compile once; their compiled code is also kept between
    processes (Jinja checks it against the template's source): compiling the module
    template costs about 0.1 s of every cold build."""
    import jinja2  # here: a function found in the graph cache renders nothing
    loader = jinja2.FileSystemLoader([d for d in TEMPLATE_DIRS if os.path.isdir(d)])
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             bytecode_cache=_bytecode_cache())
    env.filters["py"] = repr  # a Python literal of a string
    return env


def _bytecode_cache():
    directory = tool_cache_dir("templates")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    import jinja2
    return jinja2.FileSystemBytecodeCache(directory) if os.access(directory, os.W_OK) else None
