"""Theano's ``theano.sparse.sharedvar``."""

from codegen.sparse.basic import SparseSharedVariable, SparseTensorSharedVariable, shared  # noqa: F401

sparse_constructor = shared
