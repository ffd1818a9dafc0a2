"""The Python-level runtime of every generated module: argument conversion, error messages,
the state API and DebugMode checks.

A generated module imports nothing of codegen: it embeds the text of ``codegen/graph/casting.py``
and of this file and runs them once at import, in its own namespace, after defining the names
below (its state spec, state file, state list and lock). None of it is on the hot path, and
compiling it through Cython would double the module's build time. As a module of codegen it is
linted and unit-tested (tests/test_runtime.py), with placeholders for those names.
"""

import os

import numpy as np

try:
    can_cast_input  # embedded: casting.py ran just before this file
except NameError:
    from codegen.graph.casting import can_cast_input

# defined by the generated module before this file runs; placeholders otherwise
_STATE_SPEC = globals().get("_STATE_SPEC", {})
_STATE_FILE = globals().get("_STATE_FILE", "")
_state = globals().get("_state", [])
_lock = globals().get("_lock")


def _type_name(dtype, bc):
    kinds = {(): 'scalar', (False,): 'vector', (False, False): 'matrix', (True, False): 'row',
             (False, True): 'col'}
    return f"{dtype} {kinds.get(tuple(bc), str(tuple(bc)))}"


def _as_input(value, name, fname, dtype, bc, allow_downcast):
    """Validate one argument: dtype under Theano's casting rules, ndim, broadcastable dims."""
    if (type(value) is np.ndarray and value.dtype == dtype and value.ndim == len(bc)
            and value.flags.aligned):
        for axis in range(value.ndim):  # the common case: no conversion, no message built
            if bc[axis] and value.shape[axis] != 1:
                break
        else:
            return value
    return _convert_input(value, name, fname, np.dtype(dtype), bc, allow_downcast)


def _convert_input(value, name, fname, dtype, bc, allow_downcast):
    where = f"{fname}(): argument {name!r}"
    expected = _type_name(dtype.name, bc)
    if value is None:
        raise TypeError(f"{where}: expected {expected}, got None")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{where}: cannot convert {type(value).__name__} to an array: {exc}") \
            from None
    if arr.dtype.kind not in 'biuf':
        raise TypeError(f"{where}: expected {expected}, got {type(value).__name__} of dtype "
                        f"{arr.dtype}")
    if arr.dtype != dtype:
        plain = value if not isinstance(value, (np.ndarray, np.generic)) else arr
        if not can_cast_input(plain, dtype, allow_downcast):
            raise TypeError(f"{where}: expected {dtype.name}, got {arr.dtype}; casting would "
                            f"lose precision (pass allow_input_downcast=True to function(), "
                            f"or give {dtype.name} data)")
        arr = arr.astype(dtype)
    if arr.ndim != len(bc):
        raise TypeError(f"{where}: expected {len(bc)}-d {expected}, got {arr.ndim}-d array of "
                        f"shape {arr.shape}")
    for axis in range(arr.ndim):
        if bc[axis] and arr.shape[axis] != 1:
            raise ValueError(f"{where}: dimension {axis} is broadcastable and must have length "
                             f"1, got shape {arr.shape}")
    if not arr.flags.aligned:  # a field of a structured array: its strides are not elements
        arr = arr.copy()
    return arr


def _shape_error(message, where, operands, error=ValueError):
    shapes = ", ".join(f"{label} {tuple(shape)}" for label, shape in operands)
    text = message + (f" (shapes: {shapes})" if shapes else "")
    return error(text + (f"\n  {where}" if where else ""))


def _unpacked(text, dtype, shape):
    """A constant embedded packed (``render.constant_text``): its bytes zlib-compressed, in
    base64."""
    import base64
    import zlib
    data = zlib.decompress(base64.b64decode(text))
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _slice_len(n, start, stop, step, given):
    """len(range(n)[start:stop:step]); bit 0 of ``given``: start given, bit 1: stop given."""
    return len(range(n)[slice(start if given & 1 else None, stop if given & 2 else None, step)])


def _dim_div(a, b):
    """a // b for dims, 0 when b is 0."""
    return a // b if b else 0


def _dim_min(a, b):
    """The smaller of two dims."""
    return a if a < b else b


def _step_failure(failures, k, counts=None):
    """The error of failure ``k`` of a function's steps: an index out of range (IndexError),
    NaN/Inf found by NanGuardMode on the device (FloatingPointError; ``counts``: of NaN,
    Inf and values above 1e10 in the array, then [(dims, min, max, NaN, Inf)] of the step's
    inputs the failure names), a condition of the graph that does not hold (Theano's
    Assert: AssertionError; ValueError for the checks of numpy's functions built from other
    ops), or a matrix that is singular or not positive definite (numpy's LinAlgError)."""
    message, where, kind = failures[k][:3]
    report = ""
    if kind == "float" and counts is not None:
        message = message.replace("NaN, Inf or values above 1e10", "{} NaN, {} Inf and {} "
                                  "values above 1e10".format(*counts[:3]), 1)
        summaries = zip(failures[k][3] if len(failures[k]) > 3 else (), counts[3:])
        report = "; ".join(_input_report(label, dims, *(np.dtype(dtype).type(v) for v in low_high),
                                         nan, inf)
                           for (label, dtype), (dims, *low_high, nan, inf) in summaries
                           if 0 not in dims)
    error = {"float": FloatingPointError, "assert": AssertionError, "value": ValueError,
             "linalg": np.linalg.LinAlgError}.get(kind, IndexError)
    return error(message + (f"\n  {where}" if where else "")
                 + (f"\n  inputs: {report}" if report else ""))


def _input_report(label, shape, low, high, nan, inf):
    """An input's line of NanGuardMode's report: its shape, least and largest values (NaN
    left out) and its NaN and Inf counts."""
    return f"{label}: shape {shape}, min {low}, max {high}, nan {nan}, inf {inf}"


def _shape_failure(checks, dims):
    """The error for the first failing shape check, given the call's dims; ``checks`` is the
    text of the check table (a Python literal)."""
    import ast
    scope = {"_slice_len": _slice_len, "_dim_div": _dim_div, "_dim_min": _dim_min}
    for lhs, rhs, message, where, operands, at_least in ast.literal_eval(checks.lstrip("\n")):
        lhs, rhs = eval(lhs, scope, dims), eval(rhs, scope, dims)
        if (lhs < rhs) if at_least else (lhs != rhs):
            return _shape_error(message, where, [
                (label, tuple(eval(d, scope, dims) for d in shape)) for label, shape in operands],
                IndexError if at_least else ValueError)
    return AssertionError("a shape check failed but none does on re-evaluation")


def _check_extents(kernel, arrays):
    """DebugMode: every loop runs exactly over the arrays it indexes (no out-of-bounds access)."""
    for name, a, pairs in arrays:
        for length, axis in pairs:
            if a.shape[axis] != length:
                raise IndexError(f"{kernel}: a loop of length {length} over axis {axis} of "
                                 f"{name} (shape {a.shape}) would index outside it")


def _check_finite(name, origin, outputs, inputs, nan_is_error, inf_is_error, big_is_error):
    """DebugMode/NanGuardMode: raise at the first kernel that produced NaN, Inf or |x| > 1e10."""
    for a in outputs:
        if a.dtype.kind != 'f' or a.size == 0:
            continue
        nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
        big = int((np.abs(a[np.isfinite(a)]) > 1e10).sum())
        if (nan and nan_is_error) or (inf and inf_is_error) or (big and big_is_error):
            report = "; ".join(
                _input_report(label, b.shape, np.nanmin(b), np.nanmax(b),
                              int(np.isnan(b).sum()), int(np.isinf(b).sum()))
                for label, b in inputs if b.dtype.kind == 'f' and b.size)
            raise FloatingPointError(f"{name}: produced {nan} NaN, {inf} Inf and {big} values "
                                     f"above 1e10\n  {origin}\n  inputs: {report}")


def _cython_scipy(module):
    """scipy.linalg's ``module`` (cython_blas, cython_lapack), loaded from its file alone:
    importing scipy.linalg would take about 0.2 s more."""
    import importlib.machinery
    import importlib.util
    import sys
    name = f"scipy.linalg.{module}"
    if name in sys.modules:
        return sys.modules[name]
    scipy = importlib.util.find_spec("scipy")
    if scipy is not None and scipy.origin:
        folder = os.path.join(os.path.dirname(scipy.origin), "linalg")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, module + suffix)
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location(name, path)
                loaded = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(loaded)
                return loaded
    return importlib.import_module(name)


_STATE_INDEX = {name: i for i, name in enumerate(_STATE_SPEC)}  # positions in _state


_STATE_PROBLEM = ["was not found next to the module"]


def _load_initial_state():
    """The state from the file beside the module, all of it or none (a damaged file leaves
    the state unset, with a warning; calls then say what to set)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _STATE_FILE)
    if not (_STATE_SPEC and os.path.exists(path)):
        return
    try:
        with np.load(path, allow_pickle=False) as data:
            loaded = {name: _checked_state(name, data[name]) for name in _STATE_INDEX}
    except Exception as exc:  # noqa: BLE001 - any damage
        import warnings
        _STATE_PROBLEM[0] = f"beside the module is damaged ({type(exc).__name__}: {exc})"
        warnings.warn(f"{_STATE_FILE} {_STATE_PROBLEM[0]}; the state is unset", RuntimeWarning)
        return
    for name, value in loaded.items():
        _state[_STATE_INDEX[name]] = value


def _index(name):
    if name not in _STATE_INDEX:
        raise KeyError(f"no state named {name!r}; the state is {sorted(_STATE_SPEC)}")
    return _STATE_INDEX[name]


def _unset_state(function):
    missing = [name for name, i in _STATE_INDEX.items() if _state[i] is None]
    return RuntimeError(f"{function}: state {', '.join(missing)} not set: {_STATE_FILE} "
                        f"{_STATE_PROBLEM[0]}; call set_value or load first")


def _checked_state(name, value):
    _index(name)  # a KeyError naming the state for an unknown name
    dtype, bc = _STATE_SPEC[name]
    return _as_input(value, name, "set_value", np.dtype(dtype), bc, False).copy()


def _host_state():
    """Bring the state arrays up to date on the host where a newer value lives on a device
    (a CUDA module defines ``_sync_device_state``); called with the lock held."""
    sync = globals().get("_sync_device_state")
    if sync is not None:
        sync()


def get_value(name):
    """A copy of the state array ``name``."""
    i = _index(name)
    with _lock:
        if _state[i] is None:
            raise KeyError(f"state {name!r} is not set; call set_value or load first")
        _host_state()
        return _state[i].copy()


def set_value(name, value):
    """Replace the state array ``name`` (same dtype and broadcastable dims)."""
    i = _index(name)
    value = _checked_state(name, value)
    with _lock:
        _state[i] = value


def state():
    """A dict of copies of every state array."""
    with _lock:
        _host_state()
        return {name: _state[i].copy() for name, i in _STATE_INDEX.items()
                if _state[i] is not None}


def save(path):
    """Write the state to ``path`` (.npz)."""
    np.savez(path, **state())


def load(path):
    """Read the state from ``path`` (.npz written by save); all or nothing."""
    try:
        data = np.load(path, allow_pickle=False)
    except OSError:  # no such file, no permission: as open() says it
        raise
    except Exception as exc:
        raise ValueError(f"load({path!r}): not a state file written by save() (an .npz "
                         f"archive): {type(exc).__name__}: {exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"load({path!r}): expected an .npz archive of the state written by "
                         f"save(), got a single array of shape {data.shape}")
    with data:
        missing = sorted(set(_STATE_SPEC) - set(data.files))
        if missing:
            raise KeyError(f"load({path!r}): the file has no state {', '.join(missing)} (it "
                           f"holds {', '.join(sorted(data.files)) or 'nothing'})")
        try:
            arrays = {name: data[name] for name in _STATE_SPEC}
        except Exception as exc:  # a damaged archive member
            raise ValueError(f"load({path!r}): the file is damaged: {type(exc).__name__}: "
                             f"{exc}") from None
    new = {name: _checked_state(name, value) for name, value in arrays.items()}
    with _lock:
        for name, value in new.items():
            _state[_STATE_INDEX[name]] = value


_load_initial_state()
