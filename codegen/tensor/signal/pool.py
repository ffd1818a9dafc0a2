"""``pool_2d`` and ``pool_3d`` (Theano's ``theano.tensor.signal.pool``), and
``max_pool_2d`` of the older ``downsample`` module."""

from codegen.tensor.conv import pool_2d, pool_3d


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """The older spelling: ``pool_2d`` with ``ds`` windows and ``st`` steps."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding,
                   mode=mode)


def max_pool_2d_same_size(input, patch_size):
    """``input`` (4-d) with every value that is not its patch's maximum set to zero, over
    non-overlapping ``patch_size`` patches (a partial patch at the border is all zeros), as
    Theano defines it: max pooling's gradient given the pooled values, so a patch's ties all
    keep their value."""
    from codegen.graph import late
    from codegen.tensor.basic import as_tensor_variable
    input = as_tensor_variable(input)
    pooled = pool_2d(input, ws=tuple(patch_size), ignore_border=True)
    return late.get("grad")(None, input, known_grads={pooled: pooled})


__all__ = ["pool_2d", "pool_3d", "max_pool_2d", "max_pool_2d_same_size"]
