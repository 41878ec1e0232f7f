"""What ``sg.function`` says about its inputs and outputs (issue 15, item 8):
its repr, a bare input, outputs that are not expressions, a re-created
variable, and ``sg.evaluate`` given values by an ambiguous name."""
import re

import numpy as np
import pytest

import symgrad as sg

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - backends chosen here


def test_repr_names_the_inputs_with_their_types_and_the_outputs():
    X, w = sg.matrix("X", "batch", 3), sg.vector("w", 3)
    scores = X @ w
    scores.name = "scores"
    loss = (scores * scores).mean()
    loss.name = "loss"
    f = sg.function([X, w], [scores, loss], backend="numpy")
    assert repr(f) == ("<sg.function (X: float64[batch, 3], w: float64[3]) -> [scores, loss], "
                       "backend='numpy'>")
    g = sg.function([X, w], loss, backend="numpy")
    assert repr(g) == "<sg.function (X: float64[batch, 3], w: float64[3]) -> loss, backend='numpy'>"
    vg = sg.value_and_grad(loss, w, inputs=[X, w], backend="numpy")
    assert repr(vg) == ("<sg.value_and_grad (X: float64[batch, 3], w: float64[3]) -> "
                        "(loss, grad of w), backend='numpy'>")
    vg2 = sg.value_and_grad(loss, [X, w], inputs=[X, w], backend="numpy")
    assert repr(vg2).endswith("-> (loss, grad of [X, w]), backend='numpy'>")


def test_a_bare_variable_is_a_list_of_one_input():
    x = sg.vector("x", 3)
    f = sg.function(x, (x * x).sum(), backend="numpy")
    assert f.inputs == [x]
    assert f(np.array([1.0, 2.0, 3.0])) == 14.0
    assert f(x=[1.0, 0.0, -2.0]) == 5.0


@pytest.mark.parametrize("inputs", [3, "x", None])
def test_inputs_that_are_no_list_of_variables_raise(inputs):
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match="inputs"):
        sg.function(inputs, x * 2.0, backend="numpy")


@pytest.mark.parametrize("outputs,which,fix", [
    (1.0, "the output is float 1.0", "sg.constant(1.0)"),
    (np.float32(2.5), "the output is float32", "sg.constant("),
    (np.arange(3.0), "the output is ndarray array([0., 1., 2.])", "sg.constant(array([0., 1., 2.]))"),
    (np.zeros(100), "the output is a ndarray object", "sg.constant(value)"),
])
def test_an_output_that_is_no_expression_says_to_make_a_constant(outputs, which, fix):
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match="function outputs must be expressions") as err:
        sg.function([x], outputs, backend="numpy")
    assert which in str(err.value) and fix in str(err.value)


def test_the_output_in_a_list_is_named_by_its_position():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match=re.escape("output 1 is int 0; to return a constant, "
                                                  "pass sg.constant(0) instead")):
        sg.function([x], [x * 2.0, 0], backend="numpy")


def test_a_re_created_variable_is_named_as_a_different_variable():
    x = sg.vector("x", 3)
    y = x * 2.0
    x2 = sg.vector("x", 3)  # the same name and type, another variable
    with pytest.raises(ValueError, match="a different variable named 'x'") as err:
        sg.function([x2], y, backend="numpy")
    message = str(err.value)
    assert "identity, not by name" in message and "the outputs were built from" in message
    # the variable the graph was built from works; a graph built from x2 as well
    np.testing.assert_array_equal(sg.function([x], y, backend="numpy")([1.0, 2.0, 3.0]),
                                  [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(sg.function([x2], x2 * 2.0, backend="numpy")([1.0, 0.0, 1.0]),
                                  [2.0, 0.0, 2.0])


def test_an_input_simply_missing_is_listed():
    x, b = sg.vector("x", 3), sg.vector("b", 3)
    with pytest.raises(ValueError, match=re.escape(
            "the outputs depend on inputs not listed in `inputs`: 'b' (float64, shape (3,))")):
        sg.function([x], x + b, backend="numpy")


def test_evaluate_says_when_values_hold_a_different_variable_of_that_name():
    x = sg.vector("x", 2)
    y = x * 3.0
    with pytest.raises(ValueError, match="`values` holds a different variable named 'x'"):
        sg.evaluate(y, {sg.vector("x", 2): np.ones(2)})
    np.testing.assert_array_equal(sg.evaluate(y, {"x": [1.0, 2.0]}), [3.0, 6.0])
    np.testing.assert_array_equal(sg.evaluate(y, {x: [1.0, 2.0]}), [3.0, 6.0])


def test_evaluate_refuses_a_name_two_variables_share():
    x, other = sg.vector("x", 2), sg.vector("x", 2)
    y = x * 3.0 + other
    with pytest.raises(ValueError, match="different variables named 'x', so the value keyed by "
                                         "the name 'x' is ambiguous"):
        sg.evaluate(y, {"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="no value given for 'z'"):
        sg.evaluate(y + sg.vector("z", 2), {x: [1.0, 2.0], other: [0.5, 0.5]})
