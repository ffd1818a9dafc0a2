"""Theano's ``theano.ifelse``: ``from codegen.ifelse import ifelse``.

>>> import codegen, codegen.tensor as T
>>> from codegen.ifelse import ifelse
>>> a, b = T.scalars('a', 'b')
>>> f = codegen.function([a, b], ifelse(T.lt(a, b), a * 10, b * 10), mode='FAST_COMPILE')
>>> float(f(1, 2)), float(f(3, 2))
(10.0, 20.0)
"""

from codegen.ops.ifelse import IfElse


def ifelse(condition, then_branch, else_branch, name=None):
    """``then_branch`` if the scalar ``condition`` is nonzero, else ``else_branch`` (each a
    variable or a list of them); only the branch taken is computed."""
    from codegen.tensor.basic import as_tensor_variable
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = [else_branch] if not isinstance(else_branch, (list, tuple)) else list(else_branch)
    if len(thens) != len(elses):
        raise ValueError(f"ifelse: {len(thens)} then-values but {len(elses)} else-values")
    thens = [as_tensor_variable(v) for v in thens]
    elses = [as_tensor_variable(v) for v in elses]
    for k, (a, b) in enumerate(zip(thens, elses)):  # a Python number takes the other's type
        if a.dtype != b.dtype and a.owner is None and getattr(a, "data", None) is not None:
            thens[k] = as_tensor_variable(a.data.astype(b.dtype))
        elif a.dtype != b.dtype and b.owner is None and getattr(b, "data", None) is not None:
            elses[k] = as_tensor_variable(b.data.astype(a.dtype))
    condition = as_tensor_variable(condition)
    # one node per output: the steps only one branch needs are found by the condition, so
    # values shared by several outputs' branches stay lazy
    outs = [IfElse(1)(condition, a, b) for a, b in zip(thens, elses)]
    if name is not None:
        for out in outs:
            out.name = name
    return outs[0] if single else list(outs)


__all__ = ["ifelse"]
