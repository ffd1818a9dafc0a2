"""The Python-level runtime every generated module embeds (codegen/backends/cython/runtime.py
after codegen/graph/casting.py), tested as a module of codegen and as the embedded text."""

import threading

import numpy as np
import pytest

from codegen.backends.cython import runtime
from codegen.backends.cython.render import _check_table, python_runtime
from codegen.lower.program import Check


def _embedded(tmp_path, spec):
    """The runtime as a generated module runs it: in a namespace of its own."""
    namespace = {"_STATE_SPEC": spec, "_STATE_FILE": "m_state.npz", "_state": [None] * len(spec),
                 "_lock": threading.Lock(), "__file__": str(tmp_path / "m.so"),
                 "__name__": "m"}
    exec(compile(python_runtime(), "runtime", "exec"), namespace)
    return namespace


def test_the_embedded_text_imports_nothing_of_codegen_and_keeps_the_modules_doc(tmp_path):
    text = python_runtime()
    assert "from codegen" in text  # the fallback import, not run when embedded:
    namespace = _embedded(tmp_path, {})
    assert "__doc__" not in namespace
    assert namespace["can_cast_input"].__module__ == "m"  # the embedded one


@pytest.mark.parametrize("value, dtype, ok", [
    ([1, 2], "int32", True), ([1.5], "int32", False), (np.ones(2), "float32", False),
    (np.ones(2, np.int32), "float64", True), (1.0, "float32", True), (True, "int8", True),
])
def test_convert_input_follows_theanos_casting_rule(value, dtype, ok):
    bc = (False,) if np.ndim(value) else ()
    if ok:
        out = runtime._convert_input(value, "x", "f", np.dtype(dtype), bc, None)
        assert out.dtype == dtype
    else:
        with pytest.raises(TypeError, match=r"f\(\): argument 'x': expected .*lose precision"):
            runtime._convert_input(value, "x", "f", np.dtype(dtype), bc, None)


def test_convert_input_checks_rank_and_broadcastable_dims():
    with pytest.raises(TypeError, match="expected 2-d float64 matrix, got 1-d"):
        runtime._convert_input(np.ones(3), "A", "f", np.dtype("float64"), (False, False), None)
    with pytest.raises(ValueError, match="dimension 1 is broadcastable"):
        runtime._convert_input(np.ones((2, 3)), "c", "f", np.dtype("float64"), (False, True),
                               None)
    with pytest.raises(TypeError, match="got None"):
        runtime._convert_input(None, "c", "f", np.dtype("float64"), (), None)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_slice_len_is_pythons(n):
    for start in (None, -7, -1, 0, 2, 9):
        for stop in (None, -7, -1, 0, 3, 9):
            for step in (-3, -1, 1, 2):
                given = (start is not None) | ((stop is not None) << 1)
                want = len(range(n)[start:stop:step])
                assert runtime._slice_len(n, start or 0, stop or 0, step, given) == want


def test_shape_failure_rebuilds_the_first_failing_check():
    checks = _check_table([
        Check("a_n1", "b_n0", "dot: a columns must equal b rows", "built at x.py:3: c = a @ b",
              (("a", ("a_n0", "a_n1")), ("b", ("b_n0",)))),
        Check("_dim_div(a_n0, 2)", "3", "subtensor: index 2 is out of bounds", "",
              (("a", ("a_n0",)),), at_least=True),
    ])
    literal = eval(checks)  # the .pyx holds it as a literal
    err = runtime._shape_failure(literal, {"a_n0": 4, "a_n1": 3, "b_n0": 5})
    assert isinstance(err, ValueError)
    assert str(err) == ("dot: a columns must equal b rows (shapes: a (4, 3), b (5,))\n"
                        "  built at x.py:3: c = a @ b")
    err = runtime._shape_failure(literal, {"a_n0": 4, "a_n1": 3, "b_n0": 3})
    assert isinstance(err, IndexError) and "(shapes: a (4,))" in str(err)


def test_state_api_as_a_generated_module_runs_it(tmp_path):
    ns = _embedded(tmp_path, {"w": ("float64", (False,)), "n": ("int64", ())})
    with pytest.raises(RuntimeError, match="f: state w, n not set: m_state.npz was not found"):
        raise ns["_unset_state"]("f")
    ns["set_value"]("w", [1.0, 2.0])
    ns["set_value"]("n", 3)
    with pytest.raises(TypeError, match="set_value\\(\\): argument 'n'"):
        ns["set_value"]("n", 2.5)
    with pytest.raises(KeyError, match="no state named 'v'"):
        ns["get_value"]("v")
    ns["save"](str(tmp_path / "s.npz"))
    ns["set_value"]("w", [5.0, 6.0])
    ns["load"](str(tmp_path / "s.npz"))
    assert ns["get_value"]("w").tolist() == [1.0, 2.0] and ns["state"]()["n"] == 3
    np.savez(tmp_path / "bad.npz", w=np.ones(2))
    with pytest.raises(KeyError, match="has no state n"):
        ns["load"](str(tmp_path / "bad.npz"))
    assert ns["get_value"]("w").tolist() == [1.0, 2.0]  # all or nothing


class _OnTheDevice:
    """An array that says it is in device memory (``__cuda_array_interface__``); here the
    "device" is host memory, which the fake copy below reads."""

    def __init__(self, array, stream=None):
        self.array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": array.dtype.str, "version": 3, "stream": stream,
            "data": (array.__array_interface__["data"][0], False),
            "strides": None if array.flags.c_contiguous else array.strides}


def test_the_cuda_runtime_takes_arrays_from_device_memory_as_embedded_text():
    import ctypes

    from codegen.backends.cython.render import cuda_runtime
    waited, copied = [], []

    def copy_to_host(host, address, nbytes):
        copied.append(nbytes)
        ctypes.memmove(host.ctypes.data, address, nbytes)

    namespace = {"__name__": "m", "__file__": "m.so", "_copy_to_host": copy_to_host,
                 "_wait_stream": lambda stream: waited.append(stream) or "no device here"}
    exec(compile(cuda_runtime(), "cuda runtime", "exec"), namespace)
    view, in_device_memory = namespace["_device_view"], namespace["_in_device_memory"]
    a = np.arange(12.0).reshape(3, 4)
    assert in_device_memory(_OnTheDevice(a)) and not in_device_memory(a)
    # read where it is: a header over the same memory, no copy
    header, there = view(_OnTheDevice(a), "x", "f", np.dtype("float64"), (False, False),
                         False, True)
    assert there and header.ctypes.data == a.ctypes.data and not copied
    # a strided array the glue must make contiguous is copied to the host: its span only
    b = a[:, ::2]
    host, there = view(_OnTheDevice(b), "x", "f", np.dtype("float64"), (False, False),
                       False, True)
    assert not there and copied == [(2 * 4 + 2) * 8 + 8] and np.array_equal(host, b)
    with pytest.raises(TypeError, match=r"f\(\): argument 'x': expected float32 on the device"):
        view(_OnTheDevice(a), "x", "f", np.dtype("float32"), (False, False), False, True)
    # a producer's stream is waited for; the device's error names the argument
    with pytest.raises(RuntimeError, match=r"f\(\): argument 'x': no device here"):
        view(_OnTheDevice(a, stream=7), "x", "f", np.dtype("float64"), (False, False), False,
             True)
    assert waited == [7]
    # spans of strided, reversed and empty arrays, in bytes from element (0, ..., 0)
    assert namespace["_host_span"](a[::-1, ::2]) == (-2 * 32, 2 * 8 + 8)
    assert namespace["_extent"]((0, 3), (24, 8), 8) == (0, 0)
    assert namespace["_contiguous_strides"]((2, 0, 3), 4) == (12, 12, 4)
