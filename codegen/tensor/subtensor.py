"""Theano's ``theano.tensor.subtensor``: indexing, and writing into what an index selects."""

from codegen.ops.indexing import AdvancedIncSubtensor, IncSubtensor
from codegen.ops.indexing import Gather as AdvancedSubtensor
from codegen.ops.shape import Subtensor
from codegen.tensor.basic import inc_subtensor, set_subtensor

#: Theano's op of indexing with one integer vector is codegen's general gather
AdvancedSubtensor1, AdvancedIncSubtensor1 = AdvancedSubtensor, AdvancedIncSubtensor


def advanced_inc_subtensor1(x, y, ilist):
    """``x`` with ``y`` added at the rows ``ilist`` (repeated rows add up)."""
    return inc_subtensor(x[ilist], y)


def advanced_set_subtensor1(x, y, ilist):
    """``x`` with ``y`` written at the rows ``ilist``."""
    return set_subtensor(x[ilist], y)


__all__ = ["AdvancedIncSubtensor", "AdvancedIncSubtensor1", "AdvancedSubtensor",
           "AdvancedSubtensor1", "IncSubtensor", "Subtensor", "advanced_inc_subtensor1",
           "advanced_set_subtensor1", "inc_subtensor", "set_subtensor"]
