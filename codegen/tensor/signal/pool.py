"""``pool_2d`` and ``pool_3d`` (Theano's ``theano.tensor.signal.pool``), and
``max_pool_2d`` of the older ``downsample`` module."""

from codegen.tensor.conv import pool_2d, pool_3d


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """The older spelling: ``pool_2d`` with ``ds`` windows and ``st`` steps."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding,
                   mode=mode)


__all__ = ["pool_2d", "pool_3d", "max_pool_2d"]
