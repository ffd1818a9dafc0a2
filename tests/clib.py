"""Calling a library of the c target from Python through ctypes, for the tests: the calls a C
program would make, with numpy arrays in and out."""

import ctypes
import os

import numpy as np

from codegen.backends.c import write_library
from codegen.backends.c.render import MAX_NDIM
from codegen.lower.module import lower_module


class CArray(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("ndim", ctypes.c_int),
                ("dims", ctypes.c_int64 * MAX_NDIM), ("dtype", ctypes.c_char_p)]

    def numpy(self):
        """A copy of the array the library handed out."""
        dtype = np.dtype(self.dtype.decode())
        shape = tuple(self.dims[k] for k in range(self.ndim))
        n = int(np.prod(shape))
        if n == 0:
            return np.empty(shape, dtype)
        buf = (ctypes.c_char * (n * dtype.itemsize)).from_address(self.data)
        return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape)


class CError(Exception):
    def __init__(self, code, message):
        super().__init__(f"[{code}] {message}")
        self.code, self.message = code, message


class CLibrary:
    """``lib.f(*arrays)`` calls ``<module>_f`` and returns its outputs (a list of arrays)."""

    def __init__(self, module, out_dir):
        self.name = module.name
        self.paths = write_library(module.name, module.specs, out_dir)
        self.dir = os.path.join(out_dir, module.name)
        self.lib = ctypes.CDLL(self.paths[2])
        self.programs = {p.name: p for p in lower_module(module.specs).programs}
        fn = self._fn
        fn("create").restype = ctypes.c_void_p
        fn("error").restype = ctypes.c_char_p
        fn("error").argtypes = [ctypes.c_void_p]
        fn("destroy").argtypes = [ctypes.c_void_p]
        self.m = fn("create")()

    def _fn(self, name):
        return getattr(self.lib, f"{self.name}_{name}")

    def error(self):
        return self._fn("error")(self.m).decode()

    def _check(self, code):
        if code != 0:
            raise CError(code, self.error())

    def load(self, folder=None):
        self._check(self._fn("load")(ctypes.c_void_p(self.m),
                                     (folder or os.path.join(self.dir, f"{self.name}_state"))
                                     .encode()))

    def save(self, folder):
        self._check(self._fn("save")(ctypes.c_void_p(self.m), folder.encode()))

    def get_value(self, name):
        out = CArray()
        self._check(self._fn("get_value")(ctypes.c_void_p(self.m), name.encode(),
                                          ctypes.byref(out)))
        return out.numpy()

    def set_value(self, name, value, dtype=None):
        value = np.ascontiguousarray(value, dtype=dtype)
        dims = (ctypes.c_int64 * max(value.ndim, 1))(*value.shape)
        self._check(self._fn("set_value")(ctypes.c_void_p(self.m), name.encode(),
                                          value.ctypes.data_as(ctypes.c_void_p),
                                          ctypes.c_int(value.ndim), dims))

    def call(self, fname, *arrays, keep=None):
        program = self.programs[fname]
        args, kept = [ctypes.c_void_p(self.m)], []
        for spec, value in zip(program.args, arrays):
            value = np.ascontiguousarray(value, dtype=spec.dtype)
            kept.append(value)
            args.append(ctypes.c_void_p(value.ctypes.data))
            for axis, bc in enumerate(spec.broadcastable):
                if not bc:
                    args.append(ctypes.c_int64(value.shape[axis]))
        outs = [CArray() for _ in program.outputs]
        args += [ctypes.byref(o) for o in outs]
        self._check(self._fn(fname)(*args))
        return [o.numpy() for o in outs]

    def close(self):
        if self.m:
            self._fn("destroy")(ctypes.c_void_p(self.m))
            self.m = None
