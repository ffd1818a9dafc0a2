"""``pool_2d`` (Theano's ``theano.tensor.signal.pool``), and ``max_pool_2d`` of the older
``downsample`` module."""

from codegen.tensor.conv import pool_2d


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """The older spelling: ``pool_2d`` with ``ds`` windows and ``st`` steps."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding,
                   mode=mode)


__all__ = ["pool_2d", "max_pool_2d"]
