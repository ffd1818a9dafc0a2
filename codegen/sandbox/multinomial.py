"""Theano's ``theano.sandbox.multinomial``: multinomial draws from uniform ones, and draws
without replacement (``ChoiceFromUniform``).

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


class ChoiceFromUniform:
    """Indices (N x n, of ``odtype``) of ``n`` draws without replacement per row of
    ``pvals`` from the uniform draws ``unis`` (N * n of them), as Theano's C code draws
    them: draw c of row r is the first outcome whose running probability (float64) exceeds
    ``unis[c * N + r]``; then that outcome's probability becomes 0 and the row is divided by
    its new total, summed in pvals' dtype from the running sum before the outcome (as
    Theano sums it). ``n`` is an int (the draws are built one after another)."""

    def __init__(self, odtype="auto", replace=False):
        self.odtype, self.replace = odtype, replace

    def __call__(self, pvals, unis, n=1):
        from codegen.tensor import basic as t
        pvals, unis = t.as_tensor_variable(pvals), t.as_tensor_variable(unis)
        if pvals.ndim != 2 or unis.ndim != 1:
            raise NotImplementedError(f"ChoiceFromUniform: pvals must be a matrix and unis a "
                                      f"vector, got {pvals.type} and {unis.type}")
        if not isinstance(n, (int, np.integer)):
            raise NotImplementedError("ChoiceFromUniform: the number of draws must be an int")
        odtype = "int64" if self.odtype == "auto" else str(np.dtype(self.odtype))
        rows, width = pvals.shape[0], pvals.shape[1]
        outcomes = t.arange(width).dimshuffle("x", 0)
        p, picks = pvals, []
        for c in range(int(n)):
            running = t.cumsum(t.cast(p, "float64"), axis=1)
            u = t.cast(unis[c * rows:(c + 1) * rows], "float64").dimshuffle(0, "x")
            # the first outcome above u (running sums of nonnegative p only grow)
            m = t.minimum(t.sum(running <= u, axis=1, dtype="int64"), width - 1)
            picks.append(m)
            if c == n - 1 or self.replace:
                continue
            at = t.eq(outcomes, m.dimshuffle(0, "x"))
            before = t.sum(t.switch(at, running - t.cast(p, "float64"), 0), axis=1)
            # the new total: from the running sum before the outcome, in pvals' dtype, then
            # the outcomes after it added one by one
            terms = t.switch(at, t.cast(before, pvals.dtype).dimshuffle(0, "x"),
                             t.switch(t.gt(outcomes, m.dimshuffle(0, "x")), p, 0))
            total = t.cumsum(t.cast(terms, pvals.dtype), axis=1)[:, -1]
            p = t.cast(t.switch(at, 0, p) / total.dimshuffle(0, "x"), pvals.dtype)
        return t.cast(t.stack(picks, axis=1), odtype)


__all__ = ["ChoiceFromUniform", "MultinomialFromUniform"]
