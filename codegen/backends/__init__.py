"""Backends: ``numpy`` (the reference interpreter) and the compiled backends.

A compiled backend is a package ``codegen/backends/<name>/`` whose ``__init__`` says, with
no heavy imports:

- ``NAME``: the backend's name (``codegen build --backend NAME``);
- ``DEVICES``: the values of ``config.device`` it compiles for (``cpu``, ``cuda``);
- ``missing()``: what this machine lacks to build with it, or None;
- ``assemble(module_name, specs, debug, spec_path, flags, regenerate)``: the module's files
  ({file name: text}), its initial state and its kernel programs;
- ``build(name, sources, flags, quiet)``: the path of the built extension.

Backends are found by looking at the packages here: adding one adds its package (and its
templates), and edits nothing else. One is chosen by ``config.device``
(``THEANO_FLAGS``/``CODEGEN_FLAGS`` ``device=...``, Theano's ``gpu`` meaning ``cuda``) or by
``codegen build --backend NAME``. Asking for one that cannot build here is an error that says
what is missing, never a silent build for another target.
"""

import functools
import importlib
import pkgutil

#: Devices that codegen knows of, and what to say when no backend here compiles for one.
KNOWN_DEVICES = {"cpu": "", "cuda": "the CUDA backend is not part of codegen yet"}


class BackendUnavailable(RuntimeError):
    """A compiled backend was asked for that cannot build on this machine."""


@functools.lru_cache(maxsize=None)
def _found():
    """{name: backend package} of the compiled backends in this folder."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            package = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(package, "NAME") and hasattr(package, "assemble"):
                found[package.NAME] = package
    return found


def names():
    return sorted(_found())


def get(name):
    """The package of compiled backend ``name``."""
    return _found()[name]


def for_device(device):
    """The name of the backend compiling for ``device``, or None."""
    return next((name for name, b in sorted(_found().items()) if device in b.DEVICES), None)


def resolve(device=None, backend=None):
    """The name of the compiled backend for ``backend`` (a name) or else ``device`` (else
    ``config.device``), or BackendUnavailable saying why it cannot build here."""
    if backend is None:
        from codegen.config import config
        device = device or config.device
        backend = for_device(device)
        if backend is None:
            raise BackendUnavailable(
                f"cannot compile for device={device!r}: "
                f"{KNOWN_DEVICES.get(device) or 'no backend here compiles for it'}. "
                f"Use device='cpu' (codegen.config.device, or THEANO_FLAGS=device=cpu), or "
                f"mode='FAST_COMPILE' for the numpy reference.")
        asked = f"device={device!r} (the {backend} backend)"
    else:
        asked = f"backend {backend!r}"
    if backend not in _found():
        why = KNOWN_DEVICES.get(backend, "")
        raise BackendUnavailable(f"no backend {backend!r}{f' ({why})' if why else ''}; this "
                                 f"codegen has {', '.join(names())}")
    missing = get(backend).missing()
    if missing:
        raise BackendUnavailable(
            f"cannot compile for {asked}: {missing}. Use device='cpu' (codegen.config.device, "
            f"or THEANO_FLAGS=device=cpu), or mode='FAST_COMPILE' for the numpy reference.")
    return backend
