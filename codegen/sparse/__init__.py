"""``codegen.sparse`` (Theano's ``theano.sparse``): CSR and CSC matrices in graphs, built from
their parts with the tensor ops every backend compiles (``codegen.sparse.basic``)."""

from codegen.sparse import basic
from codegen.sparse.basic import *  # noqa: F401,F403
from codegen.sparse.basic import (  # noqa: F401  (names the star leaves out)
    CSC,
    CSM,
    CSR,
    FORMATS,
    SparseConstant,
    SparseSharedVariable,
    SparseTensorSharedVariable,
    SparseType,
    SparseVariable,
    _is_dense_variable,
    _is_sparse,
    _is_sparse_variable,
    sparse_formats,
)

__all__ = [name for name in dir(basic) if not name.startswith("_")
           and name not in ("np", "scipy", "T", "upcast", "TensorVariable", "INDEX", "SHAPE")]
