"""Theano's ``theano.sandbox.multinomial``: multinomial draws from uniform ones.

``MultinomialFromUniform(odtype)(pvals, unis, n)`` counts, for each row of ``pvals`` (N x K)
and each of the ``n`` draws, the first outcome whose running sum of probabilities (in
float64) exceeds the uniform draw ``unis[c * N + row]``, as Theano's C code does (no check
that the probabilities are nonnegative or sum to 1; a draw above their sum counts nowhere).
It is built from ops that compile (a running sum, comparisons and a sum), so it runs in the
built module.
"""

import numpy as np


class MultinomialFromUniform:
    """Counts (N x K, of ``odtype``; 'auto': pvals' dtype) of ``n`` multinomial draws per
    row of ``pvals`` from the uniform draws ``unis`` (N * n of them)."""

    def __init__(self, odtype="auto"):
        self.odtype = odtype

    def __call__(self, pvals, unis, n=1):
        from codegen.tensor import basic as t
        pvals, unis, n = (t.as_tensor_variable(v) for v in (pvals, unis, n))
        if pvals.ndim != 2:
            raise NotImplementedError(f"MultinomialFromUniform: pvals must be a matrix, got "
                                      f"{pvals.type}")
        if unis.ndim != 1:
            raise NotImplementedError(f"MultinomialFromUniform: unis must be a vector, got "
                                      f"{unis.type}")
        odtype = pvals.dtype if self.odtype == "auto" else str(np.dtype(self.odtype))
        running = t.cumsum(t.cast(pvals, "float64"), axis=1)  # (N, K)
        draws = t.reshape(t.cast(unis, "float64"), (n, pvals.shape[0]))  # (n, N)
        above = t.cast(running.dimshuffle("x", 0, 1) > draws.dimshuffle(0, 1, "x"), "int64")
        first = t.eq(above, 1) & t.eq(t.cumsum(above, axis=2), 1)  # the first outcome above
        return t.cast(t.sum(first, axis=0), odtype)


__all__ = ["MultinomialFromUniform"]
