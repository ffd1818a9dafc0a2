"""What the graph language calls of later stages at run time, without importing them: each
later stage registers its part when it is imported (``provide``), and ``get`` imports the
stage that registers a name not registered yet. So
``x.eval()`` reaches the numpy reference and ``verify_grad`` compiles functions while no stage
imports a later one (tests/test_layers.py)."""

_PROVIDED = {}


def provide(name, implementation):
    """Register ``implementation`` as the late-bound ``name`` (``evaluate``, ``function``)."""
    _PROVIDED[name] = implementation


#: the module that registers each name when imported (some load only on first use)
_HOMES = {"grad": "codegen.gradient", "grad_raw": "codegen.autodiff",
          "null_grad": "codegen.autodiff",
          "evaluate": "codegen.backends.numpy", "run": "codegen.backends.numpy",
          "function": "codegen.compile.function"}


def get(name):
    """The implementation registered as ``name``, its module imported if it is not yet."""
    if name not in _PROVIDED:
        import importlib
        importlib.import_module(_HOMES[name])
    return _PROVIDED[name]
