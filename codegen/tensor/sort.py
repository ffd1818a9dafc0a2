"""``theano.tensor.sort``: sorting along an axis and the k largest or smallest elements."""

from codegen.tensor.basic import argsort, argtopk, sort, topk, topk_and_argtopk

__all__ = ["sort", "argsort", "topk", "argtopk", "topk_and_argtopk"]
