"""Messages that say how to fix it (issue 15, item 8): one-hot labels for
softmax_cross_entropy, sg.grad with respect to a part of a variable, and with
respect to a variable re-created under the same name."""
import numpy as np
import pytest

import symgrad as sg
from symgrad.autodiff import namesakes


# ---------------------------------------------------------------- softmax_cross_entropy labels

def test_one_hot_float_labels_are_refused_at_build_time_naming_argmax():
    S = sg.matrix("S", "batch", 3)
    for labels in (sg.matrix("Y", "batch", 3), np.eye(3)[[0, 2]]):
        with pytest.raises(TypeError, match=r"labels must be class indices \(int\), got one-hot "
                                            r".*shaped like the logits 'S'.*"
                                            r"pass labels\.argmax\(axis=1\)"):
            sg.nn.softmax_cross_entropy(S, labels)


def test_two_d_integer_labels_for_two_d_logits_are_one_hot_too():
    S = sg.matrix("S", 4, 3)
    with pytest.raises(TypeError, match=r"one-hot 'Y' \(int64, shape \(4, 3\)\).*argmax\(axis=1\)"):
        sg.nn.softmax_cross_entropy(S, sg.matrix("Y", 4, 3, dtype="int64"))
    # a sequence model's 2-D labels for 3-D logits are class indices: accepted
    T, y = sg.tensor("T", (2, 5, 3)), sg.matrix("y", 2, 5, dtype="int64")
    loss = sg.nn.softmax_cross_entropy(T, y)
    logits = np.zeros((2, 5, 3))
    assert float(loss.eval({T: logits, y: np.zeros((2, 5), np.int64)})) == pytest.approx(np.log(3))


def test_float_class_indices_say_to_pass_integers():
    S = sg.matrix("S", "batch", 3)
    with pytest.raises(TypeError, match=r"integer labels \(class indices\), got 'f' "
                                        r"\(float64.*labels\.astype\(np\.int64\)"):
        sg.nn.softmax_cross_entropy(S, sg.vector("f", "batch"))


# ---------------------------------------------------------------- sg.grad with respect to a part

@pytest.mark.parametrize("part,fix", [
    (lambda x, X: x[0], "sg.grad(cost, x)[0]"),
    (lambda x, X: x[1:], "sg.grad(cost, x)[1:]"),
    (lambda x, X: x[::2], "sg.grad(cost, x)[::2]"),
    (lambda x, X: X[0], "sg.grad(cost, X)[0]"),
    (lambda x, X: X[:, 1], "sg.grad(cost, X)[:, 1]"),
    (lambda x, X: X[1, 0], "sg.grad(cost, X)[1, 0]"),
    (lambda x, X: X[1:3, :2], "sg.grad(cost, X)[1:, :2]"),
])
def test_grad_wrt_an_indexed_variable_suggests_indexing_the_gradient(part, fix):
    x, X = sg.vector("x", 4), sg.matrix("X", 3, 4)
    cost = (x * x).sum() + (X * X).sum()
    wrt = part(x, X)
    with pytest.raises(sg.DisconnectedInputError) as info:
        sg.grad(cost, wrt)
    message = str(info.value)
    assert "is an expression of the variable" in message and message.endswith(fix)
    # the suggestion, followed, is the part of the gradient
    good = eval(fix, {"sg": sg, "cost": cost, "x": x, "X": X})
    xs, Xs = np.arange(4.0), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(good.eval({x: xs, X: Xs}), part(2 * xs, 2 * Xs))


def test_grad_wrt_another_expression_of_a_variable_names_the_variable():
    x = sg.vector("x", 4)
    with pytest.raises(sg.DisconnectedInputError,
                       match=r"expression of the variable 'x', not a variable.*"
                             r"sg\.grad\(cost, x\), then the operations that made 'tanh\(x\)'"):
        sg.grad((x * x).sum(), sg.tanh(x))
    with pytest.raises(sg.DisconnectedInputError, match=r"sg\.grad\(cost, x\), then"):
        sg.grad((x * x).sum(), x[::-1])  # a reversed slice: no index written back


def test_an_expression_the_cost_goes_through_is_still_differentiable():
    x = sg.vector("x", 3)
    h = sg.tanh(x)
    g = sg.grad((h * h).sum(), [h, x[0]], disconnected="zero")
    np.testing.assert_allclose(g[0].eval({x: [0.5, 1.0, 2.0]}), 2 * np.tanh([0.5, 1.0, 2.0]))
    assert float(g[1].eval({x: [0.5, 1.0, 2.0]})) == 0.0


# ---------------------------------------------------------------- a re-created variable

def test_a_recreated_variable_is_named_as_a_different_variable():
    x = sg.vector("x", 3)
    cost = (x * x).sum()
    x2 = sg.vector("x", 3)
    for wrt in (x2, x2[0]):
        with pytest.raises(sg.DisconnectedInputError,
                           match=r"the graph has a different variable named 'x'; variables are "
                                 r"identified by object, not name"):
            sg.grad(cost, wrt)
    assert namesakes(x2, [cost]) == [x] and namesakes(x, [cost]) == []


def test_an_unrelated_variable_keeps_the_plain_message():
    x, z = sg.vector("x", 3), sg.vector("z", 3)
    with pytest.raises(sg.DisconnectedInputError,
                       match=r"does not depend on 'z' .*; pass disconnected='zero'"):
        sg.grad((x * x).sum(), z)
