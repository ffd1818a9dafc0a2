"""Theano's ``theano.compile.nanguardmode``: ``NanGuardMode``, which stops a call at the
first op that produces a NaN, an Inf or a value above 1e10 (codegen.compile.mode)."""

from codegen.compile.mode import NanGuardMode

__all__ = ["NanGuardMode"]
