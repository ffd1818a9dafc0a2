"""Bad input, kind by kind, against ``codegen.function``, a built module and their state API.

Every kind must give the right result or a clear error (its type, and the words that name
the argument or state, the op, and what was expected against what was got), never crash the
interpreter, and leave the state bit for bit as it was when the call is rejected.
``tests/test_bad_input.py`` runs each kind; ``tests/reliability.py`` runs each in a process of
its own, to count crashes.
"""

import os
import tempfile

import numpy as np

import codegen
import codegen.tensor as T

X = np.linspace(-1, 1, 12).reshape(4, 3)
Y = np.array([0.0, 1.0, 1.0, 0.0])
LR = np.float32(0.1)


def graph():
    """A training step: inputs x (matrix), y (vector), lr (float32 scalar); state W, b."""
    x, y, lr = T.matrix("x"), T.vector("y"), T.fscalar("lr")
    W = codegen.shared(np.full((3, 2), 0.5), name="W")
    b = codegen.shared(np.zeros(2), name="b")
    p = T.nnet.sigmoid(T.dot(x, W) + b)
    cost = T.sum((p[:, 0] - y) ** 2)  # the line errors point at
    gW, gb = T.grad(cost, [W, b])
    return [x, y, lr], cost, [(W, W - lr * gW), (b, b - lr * gb)], [W, b]


class FunctionAPI:
    """``codegen.function`` and the shared variables' get_value/set_value."""

    kind = "function"

    def __init__(self):
        inputs, cost, updates, self.shared = graph()
        self.call = codegen.function(inputs, cost, updates=updates, name="train")
        self.reference = codegen.function(inputs, cost, updates=updates, mode="FAST_COMPILE")
        self.initial = {s.name: s.get_value() for s in self.shared}

    def state(self):
        return {s.name: s.get_value() for s in self.shared}

    def reset(self):
        for s in self.shared:
            s.set_value(self.initial[s.name])

    def set_value(self, name, value):
        next(s for s in self.shared if s.name == name).set_value(value)

    def get_value(self, name):
        return next(s for s in self.shared if s.name == name).get_value()

    def expected(self, *args):
        """The reference's result and new state, from the initial state."""
        for s in self.shared:
            s.set_value(self.initial[s.name])
        result = self.reference(*args)
        return result, {s.name: s.get_value() for s in self.shared}


class ModuleAPI(FunctionAPI):
    """A built module: its function and get_value, set_value, save, load."""

    kind = "module"

    def __init__(self, out_dir):
        super().__init__()
        inputs, cost, updates, _ = graph()
        module = codegen.Module("badinput_mlp")
        module.add_function("train", inputs, cost, updates=updates)
        from codegen.compile.module import load_module
        self.module = load_module(module.build(out_dir))
        self.call = self.module.train
        self.out_dir = out_dir

    def state(self):
        return self.module.state()

    def reset(self):
        for name, value in self.initial.items():
            self.module.set_value(name, value)

    def set_value(self, name, value):
        self.module.set_value(name, value)

    def get_value(self, name):
        return self.module.get_value(name)


def _big_endian(a):
    return a.astype(a.dtype.newbyteorder(">"))


def _field(a):
    records = np.zeros(a.shape, dtype=[("pad", "i1"), ("v", a.dtype)])
    records["v"] = a
    return records["v"]


def _matrix(a):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(a)


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _file(api, name, write):
    path = os.path.join(tempfile.mkdtemp(), name)
    write(path)
    return path


def _npz_without_b(path):
    np.savez(path, W=np.zeros((3, 2)))


def _npz_complex(path):
    np.savez(path, W=np.zeros((3, 2), complex), b=np.zeros(2))


def _npz_truncated(path):
    np.savez(path + ".npz", W=np.zeros((3, 2)), b=np.zeros(2))
    data = open(path + ".npz", "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


#: (name, APIs it applies to (f: function, m: module), call(api), what it must give:
#: "result" (the reference's), or ("error", type, words its message must hold))
KINDS = [
    ("None for a matrix", "fm", lambda a: a.call(None, Y, LR),
     ("error", TypeError, ["'x'", "None"])),
    ("a string", "fm", lambda a: a.call("abc", Y, LR), ("error", TypeError, ["'x'", "str"])),
    ("a list of strings", "fm", lambda a: a.call([["a", "b", "c"]], Y, LR),
     ("error", TypeError, ["'x'"])),
    ("a ragged list", "fm", lambda a: a.call([[1.0, 2.0], [3.0]], Y, LR),
     ("error", TypeError, ["'x'"])),
    ("a dict", "fm", lambda a: a.call({"a": 1}, Y, LR), ("error", TypeError, ["'x'"])),
    ("an object", "fm", lambda a: a.call(object(), Y, LR), ("error", TypeError, ["'x'"])),
    ("a generator", "fm", lambda a: a.call((v for v in X), Y, LR),
     ("error", TypeError, ["'x'"])),
    ("complex values", "fm", lambda a: a.call(X + 1j, Y, LR),
     ("error", TypeError, ["'x'", "complex"])),
    ("object dtype", "fm", lambda a: a.call(X.astype(object), Y, LR),
     ("error", TypeError, ["'x'", "object"])),
    ("datetimes", "fm", lambda a: a.call(np.zeros((4, 3), "datetime64[s]"), Y, LR),
     ("error", TypeError, ["'x'"])),
    ("a too large Python int", "fm", lambda a: a.call(X, Y, 2**70),
     ("error", TypeError, ["'lr'"])),
    ("a vector for a matrix", "fm", lambda a: a.call(Y, Y, LR),
     ("error", TypeError, ["'x'", "2-d", "1-d"])),
    ("a 3-d array for a matrix", "fm", lambda a: a.call(X[None], Y, LR),
     ("error", TypeError, ["'x'", "2-d", "3-d"])),
    ("a scalar for a matrix", "fm", lambda a: a.call(1.0, Y, LR), ("error", TypeError, ["'x'"])),
    ("float64 for a float32 scalar", "fm", lambda a: a.call(X, Y, np.float64(0.1)),
     ("error", TypeError, ["'lr'", "float32", "float64"])),
    ("int64 for a float32 scalar", "fm", lambda a: a.call(X, Y, np.int64(1)),
     ("error", TypeError, ["'lr'", "float32", "int64"])),
    ("x's columns against W's rows", "fm", lambda a: a.call(X[:, :2], Y, LR),
     ("error", ValueError, ["dot", "x", "badinput.py"])),
    ("y's length against x's rows", "fm", lambda a: a.call(X, Y[:3], LR),
     ("error", ValueError, ["y", "badinput.py", "(p[:, 0] - y)"])),
    ("too few arguments", "fm", lambda a: a.call(X, Y),
     ("error", TypeError, ["train()", ("'lr'", "exactly 3 positional arguments (2 given)")])),
    ("too many arguments", "fm", lambda a: a.call(X, Y, LR, LR), ("error", TypeError, ["4"])),
    ("an unknown keyword", "fm", lambda a: a.call(X, Y, LR, z=1), ("error", TypeError, ["z"])),
    ("NaN and Inf in the data", "fm", lambda a: a.call(np.where(X > 0.5, np.nan, X) + np.where(
        X < -0.5, np.inf, 0), Y, LR), "result"),
    ("no rows", "fm", lambda a: a.call(X[:0], Y[:0], LR), "result"),
    ("a strided view", "fm", lambda a: a.call(np.repeat(X, 2, axis=0)[::2], Y, LR), "result"),
    ("a transposed view", "fm", lambda a: a.call(np.ascontiguousarray(X.T).T, Y, LR), "result"),
    ("big-endian data", "fm", lambda a: a.call(_big_endian(X), _big_endian(Y), LR), "result"),
    ("a structured field", "fm", lambda a: a.call(_field(X), _field(Y), LR), "result"),
    ("a read-only array", "fm", lambda a: a.call(_read_only(X), _read_only(Y), LR), "result"),
    ("booleans for floats", "fm", lambda a: a.call(X > 0, Y > 0, LR), "result"),
    ("nested lists", "fm", lambda a: a.call(X.tolist(), Y.tolist(), 0.25), "result"),
    ("np.matrix", "fm", lambda a: a.call(_matrix(X), Y, LR), "result"),
    ("set_value: a vector for a matrix", "fm", lambda a: a.set_value("W", np.zeros(3)),
     ("error", TypeError, ["W", "2-d"])),
    ("set_value: complex", "fm", lambda a: a.set_value("W", np.zeros((3, 2), complex)),
     ("error", TypeError, ["W", "complex"])),
    ("set_value: a lossy cast", "fm", lambda a: a.set_value("b", np.zeros(2, np.float128)),
     ("error", TypeError, ["b", "float64"])),
    ("set_value: None", "fm", lambda a: a.set_value("b", None), ("error", TypeError, ["b"])),
    ("set_value: an unknown name", "m", lambda a: a.set_value("V", np.zeros(2)),
     ("error", KeyError, ["V"])),
    ("get_value: an unknown name", "m", lambda a: a.get_value("V"), ("error", KeyError, ["V"])),
    ("load: no such file", "m", lambda a: a.module.load("/nonexistent/state.npz"),
     ("error", FileNotFoundError, ["state.npz"])),
    ("load: not an archive", "m", lambda a: a.module.load(_file(a, "junk.npz", lambda p: open(
        p, "wb").write(b"not a state file"))), ("error", ValueError, ["junk.npz", "save()"])),
    ("load: a .npy array", "m", lambda a: a.module.load(_file(a, "x.npy", lambda p: np.save(
        p, X))), ("error", ValueError, ["x.npy", "single array"])),
    ("load: a state missing", "m", lambda a: a.module.load(_file(a, "s.npz", _npz_without_b)),
     ("error", KeyError, ["s.npz", "b"])),
    ("load: a complex state", "m", lambda a: a.module.load(_file(a, "c.npz", _npz_complex)),
     ("error", TypeError, ["W", "complex"])),
    ("load: a truncated archive", "m", lambda a: a.module.load(_file(a, "t.npz",
                                                                      _npz_truncated)),
     ("error", ValueError, ["t.npz"])),
]


def applicable(api):
    return [kind for kind in KINDS if api.kind[0] in kind[1]]


def check(api, kind):
    """None if ``kind`` behaves on ``api`` as it must, else what went wrong."""
    name, _, call, expected = kind
    api.reset()
    before = {k: v.tobytes() for k, v in api.state().items()}
    try:
        got = call(api)
    except Exception as exc:  # noqa: BLE001 - judged below
        after = {k: v.tobytes() for k, v in api.state().items()}
        if after != before:
            return f"state changed by a rejected call ({type(exc).__name__}: {exc})"
        if expected == "result":
            return f"raised {type(exc).__name__}: {exc}"
        _, types, words = expected
        text = str(exc)
        if not isinstance(exc, types):
            return f"raised {type(exc).__name__}, expected {types.__name__}: {text}"
        missing = [w for w in words  # a tuple: any one of its words
                   if not any(part in text for part in (w if isinstance(w, tuple) else (w,)))]
        return f"message lacks {missing}: {text}" if missing else None
    if expected != "result":
        return f"returned {got!r}, expected {expected[1].__name__}"
    new_state = api.state()
    want, want_state = api.expected(*_replay(kind))
    if not np.allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True):
        return f"returned {got!r}, the reference {want!r}"
    for name, value in want_state.items():
        if not np.allclose(new_state[name], value, rtol=1e-6, atol=1e-6, equal_nan=True):
            return f"state {name} {new_state[name]!r}, the reference {value!r}"
    return None


class _Recorder:
    """Stands in for an API to capture the arguments a kind passes."""

    def call(self, *args, **kwargs):
        self.args = args


def _replay(kind):
    recorder = _Recorder()
    kind[2](recorder)
    return recorder.args
