"""Differential fuzzing, the bounded profile CI runs (``make fuzz`` runs 10,000 graphs)."""

import os
import tempfile

import fuzzgraphs
from hypothesis import HealthCheck, given, settings

#: CI's profile: this many modules of GRAPHS graphs each, the same ones every run.
MODULES = int(os.environ.get("CODEGEN_FUZZ_MODULES", "8"))
GRAPHS = 40


@settings(max_examples=MODULES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fuzzgraphs.batches(GRAPHS))
def test_compiled_graphs_agree_with_the_numpy_reference(batch):
    with tempfile.TemporaryDirectory() as out:
        report = fuzzgraphs.check_batch(batch, out)
    assert report.graphs == GRAPHS
    assert report.mismatches == []


def test_the_comparison_can_fail():
    """The comparison reports what differs: dtype, NaN pattern, values, signed zeros."""
    import numpy as np
    assert fuzzgraphs.disagreement(np.float32(1), np.float64(1), 1, True).startswith("dtype")
    assert "isnan" in fuzzgraphs.disagreement(np.array([np.nan]), np.array([1.0]), 1, True)
    assert "values" in fuzzgraphs.disagreement(np.array([1.1]), np.array([1.0]), 1, True)
    assert "signed" in fuzzgraphs.disagreement(np.array([-0.0]), np.array([0.0]), 1, True)
    assert fuzzgraphs.disagreement(np.array([-0.0]), np.array([0.0]), 1, False) is None
    assert fuzzgraphs.disagreement(np.array([3]), np.array([3]), 1, True) is None
    assert "isposinf" in fuzzgraphs.disagreement(np.array([-np.inf]), np.array([np.inf]), 1,
                                                  True)
    assert fuzzgraphs.disagreement(np.array([-np.inf]), np.array([np.inf]), 1, False) is None
    assert "isinf" in fuzzgraphs.disagreement(np.array([0.0]), np.array([np.inf]), 1, False)
