"""The Python-level runtime of a generated CUDA module: finding cuBLAS, taking arguments that
live in device memory (``__cuda_array_interface__``, DLPack) and the spans of arrays.

A generated CUDA module embeds the text of this file and runs it once at import, as it runs
``codegen/backends/cython/runtime.py``, after defining the C-level calls below (``_wait_stream``,
``_copy_to_host``). Plain Python: compiled through Cython, these helpers made the C of a
CUDA module's glue half as large again (47k lines instead of 32k for the MLP). Tested as
embedded text (tests/test_runtime.py) and through emulated modules (tests/test_cuda.py).
"""

import os

import numpy as np

# defined by the generated module before this file runs; placeholders otherwise
_wait_stream = globals().get("_wait_stream")  # (stream) -> None, or the CUDA error's text
_copy_to_host = globals().get("_copy_to_host")  # (host array, address, bytes) -> the same


def _cublas_files():
    """Where cuBLAS may be, tried after the system's sonames when a function with float
    products is first called: the libraries of the nvidia-cublas wheel, then the one
    cuda-pathfinder finds (which looks in the wheels, conda and CUDA_HOME), if installed."""
    import glob
    import importlib.util
    found = []
    try:
        spec = importlib.util.find_spec("nvidia.cublas")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found += sorted(glob.glob(os.path.join(folder, "lib", "libcublas.so*")), reverse=True)
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib
        found.append(load_nvidia_dynamic_lib("cublas").abs_path)
    except Exception:  # not installed, or it found none
        pass
    return [path for path in found if path]


def _in_device_memory(value):
    """Whether ``value`` is an array in CUDA device memory that the call can read where it
    is: it has ``__cuda_array_interface__``, or it is a DLPack producer on a CUDA device."""
    if hasattr(value, "__cuda_array_interface__"):
        return True
    device = getattr(value, "__dlpack_device__", None)
    if device is None:
        return False
    try:
        return int(device()[0]) in (2, 13)  # kDLCUDA, kDLCUDAManaged
    except Exception:
        return False


_DL_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}  # DLPack type codes: int, uint, float, bool


def _dlpack_interface(value):
    """The ``__cuda_array_interface__`` of a DLPack producer on a CUDA device, and the
    capsule that keeps its memory alive. The producer is asked for the data as seen from the
    legacy default stream (``stream=1``), which the module's stream waits for (a blocking
    stream)."""
    try:
        capsule = value.__dlpack__(stream=1)
    except TypeError:
        capsule = value.__dlpack__()
    tensor = _dltensor(capsule)
    if tensor.lanes != 1 or tensor.code not in _DL_KINDS:
        raise TypeError(f"a DLPack tensor of type code {tensor.code} x {tensor.lanes} lanes")
    dtype = np.dtype(f"{_DL_KINDS[tensor.code]}{tensor.bits // 8}") if tensor.code != 6 \
        else np.dtype(np.bool_)
    shape = tuple(tensor.shape[k] for k in range(tensor.ndim))
    strides = (None if not tensor.strides else
               tuple(tensor.strides[k] * dtype.itemsize for k in range(tensor.ndim)))
    face = {"shape": shape, "typestr": dtype.str, "strides": strides, "version": 3,
            "data": ((tensor.data or 0) + tensor.byte_offset, False)}
    return face, capsule


def _dltensor(capsule):
    """The DLTensor a "dltensor" capsule holds: a ctypes structure over the producer's memory,
    valid while the capsule lives."""
    import ctypes

    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                    ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                    ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                    ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)),
                    ("byte_offset", ctypes.c_uint64)]
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return DLTensor.from_address(get(capsule, b"dltensor"))  # DLManagedTensor starts so


def _c_contiguous(shape, strides, itemsize):
    """Whether strides in bytes lay out ``shape`` C-contiguously (a dim of 1 takes any)."""
    step = itemsize
    for n, stride in zip(reversed(shape), reversed(strides)):
        if n != 1 and stride != step:
            return False
        step *= n
    return True


def _device_view(value, name, fname, dtype, bc, returned, contiguous):
    """(An ndarray header over the device memory of ``value`` (an object with
    ``__cuda_array_interface__`` or ``__dlpack__``: CuPy, PyTorch, Numba, JAX), for its
    pointer, dims and strides: the call reads it on the device, with no copy, after the
    work queued on the stream the producer names, True). Its dtype must be the argument's (no
    casting on the device). ``contiguous``: the glue makes a C-contiguous copy of it, which
    it can only do on the host: a strided one is then copied to the host, (that copy, False);
    ``returned``: the function returns it (or a view of it), which the glue does from the
    host: it is copied there too."""
    import ctypes
    where = f"{fname}(): argument {name!r}"
    keep = None
    if hasattr(value, "__cuda_array_interface__"):
        face = value.__cuda_array_interface__
        stream = face.get("stream")
        if stream is not None and int(stream) not in (0, 1, 2):  # not the default stream
            failed = _wait_stream(int(stream))
            if failed:
                raise RuntimeError(f"{where}: {failed}")
    else:
        face, keep = _dlpack_interface(value)
    got = np.dtype(face["typestr"])
    if got != dtype:
        raise TypeError(f"{where}: expected {dtype.name} on the device, got {got.name} (cast "
                        f"it on the device first: no conversion happens there)")
    shape = tuple(int(n) for n in face["shape"])
    if len(shape) != len(bc):
        raise TypeError(f"{where}: expected {len(bc)}-d, got {len(shape)}-d device array")
    for axis in range(len(shape)):
        if bc[axis] and shape[axis] != 1:
            raise ValueError(f"{where}: dimension {axis} is broadcastable and must have "
                             f"length 1, got shape {shape}")
    strides = face.get("strides") or None
    if strides is not None:  # an axis of length 1 takes any stride: 0, as numpy's views may
        strides = tuple(0 if n == 1 else int(s) for n, s in zip(shape, strides))
    if strides is not None and any(s < 0 for s in strides):
        raise ValueError(f"{where}: device arrays with negative strides are not taken; "
                         f"pass a copy")
    pointer = int(face["data"][0])
    if pointer == 0 or 0 in shape:  # nothing to read: any memory will do
        return np.empty(shape, dtype=dtype), True
    # the bytes it spans from its first element (no stride is negative; None: C-contiguous)
    extent = _extent(shape, strides or _contiguous_strides(shape, dtype.itemsize),
                     dtype.itemsize)[1]
    if returned or (contiguous and strides is not None
                    and not _c_contiguous(shape, strides, dtype.itemsize)):
        host = np.empty(extent, dtype=np.uint8)
        failed = _copy_to_host(host, pointer, extent)
        if failed:
            raise RuntimeError(f"{where}: {failed}")
        return np.ndarray(shape, dtype=dtype, buffer=host, strides=strides), False
    # a header only: nothing on the host reads this memory
    memory = (ctypes.c_char * max(extent, 1)).from_address(pointer)
    memory.keep = keep  # a DLPack capsule: the producer's memory lives while the header does
    return np.ndarray(shape, dtype=dtype, buffer=memory, strides=strides), True


def _contiguous_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _extent(shape, strides, itemsize):
    """(lowest, highest) byte offsets from element (0, ..., 0) of the elements an array of
    ``shape`` and ``strides`` (bytes) holds: (0, 0) when it holds none."""
    if 0 in shape:
        return 0, 0
    return (sum(min(0, (n - 1) * s) for n, s in zip(shape, strides)),
            sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + itemsize)


def _host_span(a):
    """(lowest, highest) byte offsets from ``a``'s data pointer of the elements it holds."""
    return _extent(a.shape, a.strides, a.itemsize)
