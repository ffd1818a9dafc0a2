"""The seed tutorial, cell by cell, with its numbers; compiled by default."""

import os
import subprocess
import sys

import numpy as np
import pytest

import codegen as theano
import codegen.tensor as T

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def tutorial_output():
    out = subprocess.run([sys.executable, "examples/tutorial.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_tutorial_prints_the_tutorials_numbers(tutorial_output):
    text = tutorial_output
    for expected in ["<class 'codegen.tensor.var.TensorVariable'>", "TensorType(float64, scalar)",
                     "(foo ** TensorConstant{2})", "9.0", "[array([18., 37.]), array(91.)]",
                     "[array([14., 32.]), array(91.)]", "<TensorType(float64, matrix)>",
                     "[[ 9. 16.]\n [ 4.  1.]]", "[[2. 3.]\n [1. 0.]]", "[[4. 9.]\n [1. 0.]]",
                     "20.0", "[[9. 8. 7.]\n [4. 5. 6.]]", "5.0\nnan",
                     "<TensorType(float64, vector)>\n<TensorType(float32, vector)>",
                     "cpu\nfloat64"]:
        assert expected in text, expected
    assert "tutorial.py:95: C = T.dot(A, B)" in text
    assert "FloatingPointError" in text and "(num / den)" in text
    assert text.count("Cost: ") == 20


def test_shape_error_names_line_and_operands():
    A, B = T.matrix("A"), T.matrix("B")
    C = T.dot(A, B)
    with pytest.raises(ValueError) as info:
        C.eval({A: np.zeros((3, 4)), B: np.zeros((5, 6))})
    message = str(info.value)
    assert "A (3, 4)" in message and "B (5, 6)" in message
    assert "test_tutorial.py" in message and "C = T.dot(A, B)" in message
    assert len(message.splitlines()) == 2


def test_test_values_raise_at_the_building_line():
    theano.config.compute_test_value = "warn"
    A, B = T.matrix("A"), T.matrix("B")
    A.tag.test_value = np.random.random((3, 4))
    B.tag.test_value = np.random.random((5, 6))
    with pytest.raises(ValueError, match="C = T.dot"):
        C = T.dot(A, B)  # noqa: F841


def test_shared_and_floatx_cells():
    theano.config.floatX = "float32"
    assert str(theano.shared(np.array([1.3, 2.4])).type()) == "<TensorType(float64, vector)>"
    v = theano.shared(np.array([1.3, 2.4], dtype=theano.config.floatX))
    assert str(v.type()) == "<TensorType(float32, vector)>"
