"""The Cython backend (CPU): a module is its C layer (``templates/c/kernels.c.j2``: kernels,
products, step functions) and Python glue around it (``templates/cython``), compiled into an
extension module that needs only numpy at run time (scipy for large products)."""

NAME = "cython"
DEVICES = ("cpu",)


def missing():
    """Nothing: a C compiler and Cython are checked when a build starts (codegen.build)."""
    return None


def assemble(module_name, specs, debug=False, spec_path="<interactive>", flags=(),
             regenerate=None):
    from codegen.backends.cython.module import assemble
    return assemble(module_name, specs, debug, spec_path, flags, regenerate)


def build(name, sources, flags, quiet=True):
    from codegen.build import build
    return build(name, sources, flags, quiet)
