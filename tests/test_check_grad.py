"""sg.check_grad (API.md §6): passes on correct graphs, reports per-variable
errors that match hand-computed values, and fails when the analytic gradient
is wrong (shown by swapping in a deliberately wrong gradient)."""
import importlib

import numpy as np
import pytest

import symgrad as sg

check_module = importlib.import_module("symgrad.check")  # the module, not sg.check_grad


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_ok_on_a_correct_graph_with_per_variable_errors(rng):
    W, x, b = sg.matrix("W", 3, 4), sg.vector("x", 4), sg.vector("b", 3)
    cost = (sg.tanh(W @ x + b) ** 2).sum() + sg.softplus(x).mean()
    values = {W: rng.normal(size=(3, 4)), x: rng.normal(size=4), b: rng.normal(size=3)}
    result = sg.check_grad(cost, [W, x, b], values)
    assert isinstance(result, sg.GradCheckResult)
    assert result.ok is True and bool(result) is True
    assert set(result.max_rel_error) == {"W", "x", "b"} == set(result.max_abs_error)
    for name in ("W", "x", "b"):
        assert 0 <= result.max_abs_error[name] < 1e-7
        assert 0 <= result.max_rel_error[name] < 1e-5


def test_single_wrt_and_values_keyed_by_name(rng):
    x, y = sg.vector("x", 3), sg.scalar("y")
    cost = (sg.sin(x) * y).sum()
    result = sg.check_grad(cost, x, {"x": rng.normal(size=3), "y": 1.7})
    assert result.ok and list(result.max_abs_error) == ["x"]


def test_ok_with_repeated_gathers_and_named_dimensions(rng):
    E = sg.matrix("E", 5, 3)
    idx = sg.vector("idx", "batch", dtype="int64")
    labels = sg.vector("labels", "batch", dtype="int64")
    U = sg.matrix("U", 3, 4)
    loss = sg.nn.softmax_cross_entropy(E[idx] @ U, labels)
    values = {E: rng.normal(size=(5, 3)), U: rng.normal(size=(3, 4)),
              idx: np.array([1, 4, 1, 1]), labels: np.array([0, 3, 2, 0])}
    result = sg.check_grad(loss, [E, U], values)
    assert result.ok, result


def test_missing_value_is_an_error():
    x, y = sg.vector("x", 2), sg.vector("y", 2)
    with pytest.raises(ValueError, match="y"):
        sg.check_grad((x * y).sum(), x, {x: np.ones(2)})


def test_two_sided_difference_error_and_tolerances():
    """For sum(x^3), (f(x+h) - f(x-h)) / 2h = 3x^2 + h^2 exactly: the reported
    error is h^2 = eps^2, and the pass rule is |a - n| <= atol + rtol |n|."""
    x = sg.vector("x", 3)
    cost = (x ** 3).sum()
    xv = np.array([0.5, -1.0, 2.0])
    eps = 1e-2
    result = sg.check_grad(cost, x, {x: xv}, eps=eps)
    np.testing.assert_allclose(result.max_abs_error["x"], eps ** 2, rtol=1e-6)
    # relative to the gradient's size, largest at x = 0.5 (|gradient| 0.75)
    np.testing.assert_allclose(result.max_rel_error["x"], eps ** 2 / 0.75, rtol=1e-3)
    assert not result.ok and not bool(result)  # 1e-4 > 1e-7 + 1e-5 * 0.75
    assert sg.check_grad(cost, x, {x: xv}, eps=eps, rtol=1e-3).ok
    assert sg.check_grad(cost, x, {x: xv}, eps=eps, rtol=0, atol=2e-4).ok
    assert not sg.check_grad(cost, x, {x: xv}, eps=eps, rtol=0, atol=5e-5).ok
    assert sg.check_grad(cost, x, {x: xv}).ok  # default eps = 1e-4: error 1e-8


def test_fails_when_the_analytic_gradient_is_wrong(monkeypatch):
    x = sg.vector("x", 3)
    cost = (x ** 3).sum()
    xv = np.array([0.5, -1.0, 2.0])
    assert sg.check_grad(cost, x, {x: xv}).ok

    def wrong_grad(cost, wrt, disconnected="raise"):
        return [2 * w for w in wrt]  # 2x instead of 3x^2

    monkeypatch.setattr(check_module, "grad", wrong_grad)
    result = sg.check_grad(cost, x, {x: xv})
    assert result.ok is False and bool(result) is False
    # |3x^2 - 2x| is 0.25, 5, 8 at x = 0.5, -1, 2
    np.testing.assert_allclose(result.max_abs_error["x"], 8.0, rtol=1e-6)
    assert result.max_rel_error["x"] > 0.3


def test_small_error_in_one_variable_fails_and_is_attributed_to_it(monkeypatch, rng):
    x, y = sg.vector("x", 3), sg.vector("y", 3)
    cost = (sg.exp(x) * sg.sin(y)).sum()
    real_grad = check_module.grad

    def slightly_wrong(cost, wrt, disconnected="raise"):
        grads = real_grad(cost, wrt, disconnected=disconnected)
        return [g * 1.001 if w is x else g for w, g in zip(wrt, grads)]

    monkeypatch.setattr(check_module, "grad", slightly_wrong)
    values = {x: rng.normal(size=3), y: rng.uniform(0.5, 1.5, size=3)}
    result = sg.check_grad(cost, [x, y], values)
    assert not result.ok
    expected_abs = 1e-3 * np.max(np.abs(np.exp(values[x]) * np.sin(values[y])))
    np.testing.assert_allclose(result.max_abs_error["x"], expected_abs, rtol=1e-4)
    assert 9e-4 < result.max_rel_error["x"] < 1.1e-3
    assert result.max_rel_error["y"] < 1e-6
