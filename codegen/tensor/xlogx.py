"""``theano.tensor.xlogx``: ``x log x`` and ``x log y`` that are 0 where ``x`` is 0 (where
``0 * log 0`` would be NaN): entropies and cross-entropies of probabilities that may be 0.
Elementwise compositions, so they fuse, differentiate and compile everywhere. Their gradients
are Theano's (``d/dx x log y = log y``, at x = 0 too) except at x = 0 where the log is not
finite: there ``xlogx``'s is 0 and ``xlogy0``'s 0 in x (Theano's are -inf)."""

from codegen.tensor.basic import and_, as_tensor_variable, eq, isinf, isnan, log, or_, switch


def xlogy0(x, y):
    """``x * log(y)``, 0 where ``x`` is 0."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    log_y = log(y)
    return x * switch(and_(eq(x, 0), or_(isinf(log_y), isnan(log_y))), 0, log_y)


def xlogx(x):
    """``x * log(x)``, 0 where ``x`` is 0."""
    x = as_tensor_variable(x)
    return x * log(switch(eq(x, 0), 1, x))


__all__ = ["xlogx", "xlogy0"]
