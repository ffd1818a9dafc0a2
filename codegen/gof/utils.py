"""Theano's ``theano.gof.utils``: the exception an op's optional method raises where the op
does not have it."""


class MethodNotDefined(Exception):
    """An op's method (its C code, ``R_op``, ...) that the op does not define."""


__all__ = ["MethodNotDefined"]
