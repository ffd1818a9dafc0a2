"""What the graph language calls of later stages at run time, without importing them: each
later stage registers its part when it is imported (``provide``), and the package's namespace
(``import codegen``, which every ``import codegen.*`` runs first) imports them all. So
``x.eval()`` reaches the numpy reference and ``verify_grad`` compiles functions while no stage
imports a later one (tests/test_layers.py)."""

_PROVIDED = {}


def provide(name, implementation):
    """Register ``implementation`` as the late-bound ``name`` (``evaluate``, ``function``)."""
    _PROVIDED[name] = implementation


def get(name):
    """The implementation registered as ``name``."""
    if name not in _PROVIDED:
        import codegen  # noqa: F401  (its namespace imports every stage, which register)
    return _PROVIDED[name]
