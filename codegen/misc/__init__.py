"""Theano's ``theano.misc``: ``pkl_utils`` (models saved as zip files of arrays)."""

from codegen.misc import pkl_utils  # noqa: E402,F401
