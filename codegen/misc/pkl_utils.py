"""Theano's ``theano.misc.pkl_utils``: ``dump`` and ``load`` of any picklable object (a
model, its shared variables, compiled functions) as a zip file whose arrays are ``.npy``
files of their own, named after their shared variables where those have names, so that
numpy (``np.load`` on the member) reads the parameters without codegen.

>>> import io, numpy as np, codegen
>>> W = codegen.shared(np.eye(2), name='W')
>>> buf = io.BytesIO()
>>> codegen.misc.pkl_utils.dump({'W': W}, buf)
>>> _ = buf.seek(0)
>>> codegen.misc.pkl_utils.load(buf)['W'].get_value()
array([[1., 0.],
       [0., 1.]])
"""

import io
import pickle
import zipfile

import numpy as np

__all__ = ["dump", "load", "PersistentNdarrayID", "PersistentSharedVariableID"]


class PersistentNdarrayID:
    """Each ndarray into the zip file as ``array_<k>.npy`` (Theano's persistent id)."""

    def __init__(self, zip_file):
        self.zip_file = zip_file
        self.count = 0
        self.seen = {}

    def _resolve_name(self, obj):
        name = f"array_{self.count}"
        self.count += 1
        return name

    def __call__(self, obj):
        if type(obj) is not np.ndarray:
            return None
        if id(obj) not in self.seen:
            name = self._resolve_name(obj)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, obj, allow_pickle=False)
            self.zip_file.writestr(f"{name}.npy", buf.getvalue())
            self.seen[id(obj)] = (name, obj)  # kept alive: ids stay unique while pickling
        return f"ndarray.{self.seen[id(obj)][0]}"


class PersistentSharedVariableID(PersistentNdarrayID):
    """Like PersistentNdarrayID, with a named shared variable's value stored as
    ``<name>.npy`` (``<name>_<k>.npy`` when names repeat)."""

    def __init__(self, zip_file, allow_unnamed=True, allow_duplicates=True):
        super().__init__(zip_file)
        self.allow_unnamed, self.allow_duplicates = allow_unnamed, allow_duplicates
        self.names = {}  # id of a shared variable's value -> its name
        self.used = set()

    def _resolve_name(self, obj):
        name = self.names.get(id(obj))
        if name is None:
            if not self.allow_unnamed:
                raise ValueError(f"dump: an array of shape {obj.shape} belongs to no named "
                                 f"shared variable (allow_unnamed=False)")
            return super()._resolve_name(obj)
        if name in self.used:
            if not self.allow_duplicates:
                raise ValueError(f"dump: two shared variables are named {name!r} "
                                 f"(allow_duplicates=False)")
            k = 2
            while f"{name}_{k}" in self.used:
                k += 1
            name = f"{name}_{k}"
        self.used.add(name)
        return name

    def __call__(self, obj):
        from codegen.graph import SharedVariable
        if isinstance(obj, SharedVariable) and obj.name and \
                type(obj.container.value) is np.ndarray:
            self.names.setdefault(id(obj.container.value), obj.name)
        return super().__call__(obj)


def dump(obj, file_handler, protocol=pickle.DEFAULT_PROTOCOL,
         persistent_id=PersistentSharedVariableID):
    """Pickle ``obj`` into ``file_handler`` (a file open for writing bytes) as a zip file:
    the pickle as member ``pkl``, each array as an ``.npy`` member."""
    with zipfile.ZipFile(file_handler, "w", compression=zipfile.ZIP_DEFLATED,
                         allowZip64=True) as zip_file:
        ids = persistent_id(zip_file)

        class _Pickler(pickle.Pickler):
            def persistent_id(self, value):
                return ids(value)
        buf = io.BytesIO()
        _Pickler(buf, protocol=protocol).dump(obj)
        zip_file.writestr("pkl", buf.getvalue())


def load(f, persistent_load=None):
    """The object ``dump`` wrote to ``f`` (a file open for reading bytes)."""
    with zipfile.ZipFile(f, "r") as zip_file:

        def arrays(pid):
            kind, _, name = pid.partition(".")
            if kind != "ndarray":
                raise pickle.UnpicklingError(f"load: unknown persistent id {pid!r}")
            with zip_file.open(f"{name}.npy") as member:
                return np.lib.format.read_array(io.BytesIO(member.read()),
                                                allow_pickle=False)

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid):
                return (persistent_load or arrays)(pid)
        return _Unpickler(io.BytesIO(zip_file.read("pkl"))).load()
