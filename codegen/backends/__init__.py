"""Backends: ``numpy`` (the reference interpreter) and the compiled targets.

A compiled target is chosen by ``config.device`` (``THEANO_FLAGS``/``CODEGEN_FLAGS``
``device=...``, Theano's ``gpu`` meaning ``cuda``) or by ``codegen build --backend NAME``.
Asking for one that cannot build here is an error that says what is missing, never a silent
build for another target.
"""

#: The compiled backend each device runs on.
DEVICES = {"cpu": "cython", "cuda": "cuda"}

#: Compiled backends by name: what one needs that is not there (None: it can build here).
_MISSING = {
    "cython": lambda: None,
    "cuda": lambda: "the CUDA backend is not part of codegen yet",
}


class BackendUnavailable(RuntimeError):
    """A compiled backend was asked for that cannot build on this machine."""


def names():
    return sorted(_MISSING)


def resolve(device=None, backend=None):
    """The name of the compiled backend for ``backend`` (a name) or else ``device`` (else
    ``config.device``), or BackendUnavailable saying why it cannot build here."""
    if backend is None:
        from codegen.config import config
        device = device or config.device
        backend = DEVICES[device]
        asked = f"device={device!r} (the {backend} backend)"
    else:
        asked = f"backend {backend!r}"
    if backend not in _MISSING:
        raise BackendUnavailable(f"no backend {backend!r}; expected one of {names()}")
    missing = _MISSING[backend]()
    if missing:
        raise BackendUnavailable(
            f"cannot compile for {asked}: {missing}. Use device='cpu' (codegen.config.device, "
            f"or THEANO_FLAGS=device=cpu), or mode='FAST_COMPILE' for the numpy reference.")
    return backend
