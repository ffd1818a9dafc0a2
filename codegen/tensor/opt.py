"""Theano's ``theano.tensor.opt``: ``Assert``, which passes its first input through once
its conditions hold (``assert_op(x, T.all(x >= 0))``), else stops the call with
AssertionError naming the message and the line that built it, compiled as in the reference
interpreter."""

from codegen.ops.assert_op import Assert

assert_op = Assert()

__all__ = ["Assert", "assert_op"]
