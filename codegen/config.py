"""Global configuration, Theano-style: ``codegen.config.floatX = 'float32'``.

Initial values come from the environment variable ``CODEGEN_FLAGS`` (``THEANO_FLAGS`` is read
too, so scripts written for Theano keep working), e.g.
``CODEGEN_FLAGS=device=cpu,floatX=float32 python script.py``.
"""

import contextlib
import os

_CHOICES = {
    "floatX": ("float64", "float32"),
    "device": ("cpu", "cuda"),
    "compute_test_value": ("off", "ignore", "warn", "raise"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode"),
    "target": ("native", "portable"),
    # Theano's, accepted so that its programs run; codegen's results do not depend on them
    "optimizer": ("fast_run", "merge", "fast_compile", "None", "o1", "o2", "o3", "o4",
                  "unsafe"),
    "exception_verbosity": ("low", "high"),
    "allow_gc": (True, False),
    "openmp": (True, False),
    # every function compiled with profile=True, each summary printed at exit
    "profile": (True, False),
}


class _Warnings:
    """``config.warn``: Theano's switches for warnings about its own past bugs
    (``config.warn.subtensor_merge_bug = False``). codegen never had those bugs, so it
    accepts any of them and warns of none."""

    def __repr__(self):
        return f"Warnings({vars(self)})"


def _default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "codegen")


def tool_cache_dir(kind):
    """A folder of the default cache for codegen's own tables (Cython's lexicon, compiled
    templates). They belong to the installed tools, not to any module cache, so they stay in
    the default location even when CODEGEN_CACHE_DIR points at a per-run module cache, as in
    CI."""
    return os.path.join(_default_cache_dir(), kind)


class Config:
    """Attribute-style settings with validation of the values that have a fixed set.

    Options are ordinary instance attributes, so ``getattr``, ``setattr``, ``vars(config)`` and
    pytest's ``monkeypatch`` work as on any object; setting one checks its value, and deleting
    one puts its default back (an option never goes missing).
    """

    def __init__(self):
        for key, value in self.defaults().items():
            setattr(self, key, value)
        for var in ("THEANO_FLAGS", "CODEGEN_FLAGS"):
            self._apply_flags(os.environ.get(var, ""), var)

    @staticmethod
    def defaults():
        return {
            "floatX": "float64",
            "device": "cpu",
            "compute_test_value": "off",
            "mode": "FAST_RUN",
            "target": "native",
            "cache_dir": os.environ.get("CODEGEN_CACHE_DIR") or _default_cache_dir(),
            "optimizer": "fast_run",
            "exception_verbosity": "low",
            "allow_gc": True,
            "openmp": False,
            "profile": False,
            "warn": _Warnings(),
        }

    def _apply_flags(self, text, source):
        known = self.defaults()
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{source}: expected KEY=VALUE, got {item!r}")
            if key == "device" and value.startswith("gpu"):
                value = "cuda"
            if key in ("allow_gc", "openmp", "profile"):
                value = value.lower() in ("true", "1")
            if key in known and key != "warn":
                setattr(self, key, value)

    def __getattr__(self, name):  # only called for names that are not options
        raise AttributeError(f"codegen.config has no option {name!r}")

    def __setattr__(self, name, value):
        if name not in self.defaults():
            raise AttributeError(f"codegen.config has no option {name!r}")
        allowed = _CHOICES.get(name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"codegen.config.{name}: expected one of {allowed}, got {value!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        setattr(self, name, self.defaults()[name] if name in self.defaults() else None)

    def __repr__(self):
        body = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"Config({body})"

    def change_flags(self, **options):
        """Theano's ``change_flags``: the options set to these values inside a ``with``
        block or a decorated function, and put back after (even when it raises)."""
        return _ChangedFlags(self, options)


class _ChangedFlags(contextlib.ContextDecorator):
    def __init__(self, config, options):
        for name in options:
            if name not in config.defaults():
                raise AttributeError(f"codegen.config has no option {name!r}")
        self.config, self.options, self.saved = config, options, []

    def __enter__(self):
        self.saved.append({name: getattr(self.config, name) for name in self.options})
        try:
            for name, value in self.options.items():
                setattr(self.config, name, value)
        except Exception:
            self.__exit__()
            raise
        return self.config

    def __exit__(self, *exc):
        for name, value in self.saved.pop().items():
            setattr(self.config, name, value)
        return False


config = Config()
