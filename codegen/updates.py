"""Theano's ``theano.updates``: ``OrderedUpdates``, the updates a scan returns and programs
build: an ordered dict from shared variables to their new values, merged with ``+``."""

from collections import OrderedDict

from codegen.graph import SharedVariable


class OrderedUpdates(OrderedDict):
    """Updates of shared variables, in the order they were given."""

    def __setitem__(self, key, value):
        if not isinstance(key, SharedVariable):
            raise TypeError(f"OrderedUpdates: a key must be a shared variable, got {key!r}")
        if key in self and self[key] is not value:
            raise KeyError(f"OrderedUpdates: {key} has an update already")
        super().__setitem__(key, value)

    def update(self, other=(), **kwargs):
        for key, value in OrderedDict(other, **kwargs).items():
            self[key] = value

    def __add__(self, other):
        merged = OrderedUpdates(self)
        merged.update(other)
        return merged

    def __radd__(self, other):
        merged = OrderedUpdates(other)
        merged.update(self)
        return merged


__all__ = ["OrderedUpdates"]
