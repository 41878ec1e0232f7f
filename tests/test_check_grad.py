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


# ---------------------------------------------------------------- float32 graphs

def _tanh_model(dtype):
    W, x, b = sg.matrix("W", 3, 4, dtype=dtype), sg.vector("x", 4, dtype=dtype), \
        sg.vector("b", 3, dtype=dtype)
    return (W, x, b), (sg.tanh(W @ x + b) ** 2).sum() + sg.softplus(x).mean()


def test_a_correct_float32_graph_passes_in_float64_and_says_so(rng):
    """In float32 the differences alone are ~1e-3 off at h = 1e-4 (the old
    check reported ok=False); evaluated in float64 the errors match those of
    the same model built in float64."""
    (W, x, b), cost = _tanh_model("float32")
    values = {W: rng.normal(size=(3, 4)), x: rng.normal(size=4), b: rng.normal(size=3)}
    result = sg.check_grad(cost, [W, x, b], values)
    assert result.ok, result
    assert result.widened == ("W", "x", "b")
    assert "float32 variables W, x, b evaluated in float64" in repr(result)
    vars64, cost64 = _tanh_model("float64")
    reference = sg.check_grad(cost64, list(vars64), dict(zip(vars64, values.values())))
    assert reference.widened == () and "float64" not in repr(reference)
    for name in ("W", "x", "b"):
        assert result.max_abs_error[name] < 1e-7
        np.testing.assert_allclose(result.numeric[name], reference.numeric[name], rtol=1e-12)
        np.testing.assert_allclose(result.analytic[name], reference.analytic[name], rtol=1e-12)
    # an independent reference: the hand-derived gradient of b, in float64 from the given values
    h = np.tanh(values[W] @ values[x] + values[b])
    np.testing.assert_allclose(result.analytic["b"], 2 * h * (1 - h ** 2), rtol=1e-12)


def test_float64_values_are_not_rounded_to_float32():
    """sum(x^2) has the exact difference quotient 2x: 2 * 0.1 in float64, not
    2 * float32(0.1), which is 1.5e-8 relative away."""
    x = sg.vector("x", 2, dtype="float32")
    xv = np.array([0.1, 1 / 3])
    result = sg.check_grad((x * x).sum(), x, {x: xv})
    np.testing.assert_allclose(result.numeric["x"], 2 * xv, rtol=1e-10)
    np.testing.assert_allclose(result.analytic["x"], 2 * xv, rtol=1e-15)
    assert abs(float(np.float32(0.1)) / 0.1 - 1) > 1e-8  # what rounding would have given


def test_float32_constants_and_casts_are_widened_too():
    x = sg.vector("x", 3)
    c = sg.constant(np.array([0.1, 0.2, 0.3], dtype=np.float32))
    cost = (sg.sin(sg.cast(x, "float32") * c) * 1.5).sum()
    assert cost.dtype == "float32"
    xv = np.array([0.3, -1.2, 2.5])
    result = sg.check_grad(cost, x, {x: xv})
    assert result.ok and result.widened == ()
    cv = np.array([0.1, 0.2, 0.3], dtype=np.float32).astype(np.float64)
    np.testing.assert_allclose(result.analytic["x"], 1.5 * cv * np.cos(xv * cv), rtol=1e-13)


def test_a_wrong_float32_gradient_fails(monkeypatch, rng):
    (W, x, b), cost = _tanh_model("float32")
    real_grad = check_module.grad

    def slightly_wrong(cost, wrt, disconnected="raise"):
        grads = real_grad(cost, wrt, disconnected=disconnected)
        return [g * 1.0001 if w is b else g for w, g in zip(wrt, grads)]

    monkeypatch.setattr(check_module, "grad", slightly_wrong)
    values = {W: rng.normal(size=(3, 4)), x: rng.normal(size=4), b: rng.normal(size=3)}
    result = sg.check_grad(cost, [W, x, b], values)
    assert not result.ok
    assert 9e-5 < result.max_rel_error["b"] < 1.1e-4
    assert result.max_rel_error["W"] < 1e-6 and result.max_rel_error["x"] < 1e-6


def test_the_relu_kink_fails_with_its_entry_named():
    """relu'(0) is 0 by convention, the two-sided difference there is 1/2."""
    x = sg.vector("x", 3, dtype="float32")
    result = sg.check_grad(sg.relu(x).sum(), x, {x: [1.0, 0.0, -2.0]})
    assert not result.ok
    worst = result.worst["x"]
    assert worst.index == (1,) and worst.direction is None
    assert worst.numeric == pytest.approx(0.5, rel=1e-12) and worst.analytic == 0.0
    assert worst.abs_error == pytest.approx(0.5) and worst.rel_error == pytest.approx(1.0)
    assert "worst at (1,): numeric 0.5 analytic 0" in repr(result)


def test_integer_values_are_not_cast_silently():
    E, idx = sg.vector("E", 4), sg.vector("idx", 2, dtype="int64")
    cost = (E[idx] ** 2).sum()
    assert sg.check_grad(cost, E, {E: np.arange(4.0), idx: [1, 3]}).ok
    with pytest.raises(TypeError, match="idx"):
        sg.check_grad(cost, E, {E: np.arange(4.0), idx: [1.5, 3.0]})


def test_the_callers_arrays_are_not_modified(rng):
    (W, x, b), cost = _tanh_model("float64")
    values = {W: rng.normal(size=(3, 4)), x: rng.normal(size=4), b: rng.normal(size=3)}
    copies = {k: v.copy() for k, v in values.items()}
    sg.check_grad(cost, [W, x, b], values)
    sg.check_grad(cost, [W, x, b], values, directions=3)
    for k in values:
        np.testing.assert_array_equal(values[k], copies[k])


# ---------------------------------------------------------------- the worst entry

def test_worst_entry_is_the_one_furthest_outside_the_tolerance():
    """For sum(x^4) at eps = 1e-2 the difference quotient is 4x^3 + 4x eps^2:
    errors 4e-4, 2e-4, 8e-4 at x = -1, 0.5, 2, against tolerances 1e-7 + 1e-5
    |numeric| of 4.0e-5, 5.1e-6, 3.2e-4: furthest outside (39x) at x = 0.5,
    though the largest error is at x = 2."""
    x = sg.vector("x", 3)
    result = sg.check_grad((x ** 4).sum(), x, {x: [-1.0, 0.5, 2.0]}, eps=1e-2)
    worst = result.worst["x"]
    assert worst.index == (1,)
    assert worst.analytic == 0.5 and worst.numeric == pytest.approx(0.5 + 2e-4, rel=1e-10)
    assert worst.abs_error == pytest.approx(2e-4, rel=1e-6)
    assert worst.rel_error == pytest.approx(2e-4 / (0.5 + 2e-4), rel=1e-6)
    np.testing.assert_allclose(result.max_abs_error["x"], 8e-4, rtol=1e-6)
    # with no tolerance every error is infinitely far outside it: the largest is worst
    exact = sg.check_grad((x ** 4).sum(), x, {x: [-1.0, 0.5, 2.0]}, eps=1e-2, rtol=0, atol=0)
    assert exact.worst["x"].index == (2,)


def test_worst_entry_of_a_matrix_gradient_wrong_in_one_entry(monkeypatch, rng):
    W, x = sg.matrix("W", 3, 4), sg.vector("x", 4)
    cost = sg.tanh(W @ x).sum()
    real_grad = check_module.grad
    slip = np.zeros((3, 4))
    slip[2, 1] = 1e-3

    def wrong_in_one_entry(cost, wrt, disconnected="raise"):
        return [g + sg.constant(slip) for g in real_grad(cost, wrt, disconnected=disconnected)]

    monkeypatch.setattr(check_module, "grad", wrong_in_one_entry)
    Wv, xv = rng.normal(size=(3, 4)), rng.normal(size=4)
    result = sg.check_grad(cost, W, {W: Wv, x: xv})
    assert not result.ok
    worst = result.worst["W"]
    exact = (1 - np.tanh(Wv @ xv) ** 2)[2] * xv[1]  # d/dW[2, 1] of sum(tanh(W x))
    assert worst.index == (2, 1)
    assert worst.numeric == pytest.approx(exact, rel=1e-7)
    assert worst.analytic == pytest.approx(exact + 1e-3, rel=1e-12)
    assert f"W: rel {result.max_rel_error['W']:.2e}" in repr(result)
    assert "worst at (2, 1)" in repr(result)


def test_a_nan_gradient_is_the_worst_entry(monkeypatch):
    x = sg.vector("x", 3)
    real_grad = check_module.grad

    def nan_in_one_entry(cost, wrt, disconnected="raise"):
        return [g + sg.constant([0.0, 0.0, np.nan]) for g in real_grad(cost, wrt, disconnected)]

    monkeypatch.setattr(check_module, "grad", nan_in_one_entry)
    result = sg.check_grad((x ** 3).sum(), x, {x: [1.0, 0.5, 2.0]}, rtol=0, atol=0)
    assert not result.ok and result.worst["x"].index == (2,)
    assert np.isnan(result.max_abs_error["x"]) and np.isnan(result.max_rel_error["x"])


# ---------------------------------------------------------------- random directions

N_BIG = 1000


@pytest.fixture(scope="module")
def big_model():
    """sum(tanh(W x)^2) with a 1000 x 1000 W, its values and its hand-derived gradient."""
    W, x = sg.matrix("W", N_BIG, N_BIG), sg.vector("x", N_BIG)
    rng = np.random.default_rng(5)
    values = {W: rng.normal(size=(N_BIG, N_BIG)) / np.sqrt(N_BIG), x: rng.normal(size=N_BIG)}
    h = np.tanh(values[W] @ values[x])
    gradient = np.outer(2 * h * (1 - h ** 2), values[x])
    return W, x, (sg.tanh(W @ x) ** 2).sum(), values, gradient


def _cost_of(values, W, x, Wv):
    return float((np.tanh(Wv @ values[x]) ** 2).sum())


def test_directions_pass_a_right_gradient_of_a_large_parameter(big_model):
    W, x, cost, values, gradient = big_model
    result = sg.check_grad(cost, W, values, directions=6, rng=1)
    assert result.ok, result
    assert result.directions == 6 and "6 random directions per variable" in repr(result)
    assert result.numeric["W"].shape == result.analytic["W"].shape == (6,)
    worst = result.worst["W"]
    assert isinstance(worst.index, int) and 0 <= worst.index < 6
    assert f"worst direction {worst.index}:" in repr(result)
    u = worst.direction
    assert u.shape == (N_BIG, N_BIG)
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-12)
    # both numbers at the worst direction, from the hand-derived gradient and NumPy
    np.testing.assert_allclose(worst.analytic, np.vdot(gradient, u), rtol=1e-10)
    eps = 1e-4
    numeric = (_cost_of(values, W, x, values[W] + eps * u)
               - _cost_of(values, W, x, values[W] - eps * u)) / (2 * eps)
    # f ~ 500 is summed in another order here: 1e-13 of it over 2 eps is 5e-10
    np.testing.assert_allclose(worst.numeric, numeric, rtol=0, atol=1e-8)
    assert worst.numeric == result.numeric["W"][worst.index]


def test_directions_catch_a_wrong_gradient_of_a_large_parameter(big_model, monkeypatch):
    W, x, cost, values, gradient = big_model
    real_grad = check_module.grad

    def slightly_wrong(cost, wrt, disconnected="raise"):
        return [g * 1.001 for g in real_grad(cost, wrt, disconnected=disconnected)]

    monkeypatch.setattr(check_module, "grad", slightly_wrong)
    result = sg.check_grad(cost, W, values, directions=3)
    assert not result.ok
    assert 9e-4 < result.max_rel_error["W"] < 1.1e-3
    np.testing.assert_allclose(result.analytic["W"], 1.001 * result.numeric["W"], rtol=1e-6)


def test_directions_cost_two_evaluations_each(big_model, monkeypatch):
    """O(k) evaluations, not O(size): one call of the gradient, 2k of the cost."""
    W, x, cost, values, gradient = big_model
    calls = []

    class Counting(check_module.Function):
        def __call__(self, *args, **kwargs):
            calls.append(self)
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(check_module, "Function", Counting)
    assert sg.check_grad(cost, [W, x], values, directions=4).ok
    assert len(calls) == 1 + 2 * 4 * 2  # two variables


def test_directions_are_reproducible_from_a_seed_or_generator(rng):
    (W, x, b), cost = _tanh_model("float64")
    values = {W: rng.normal(size=(3, 4)), x: rng.normal(size=4), b: rng.normal(size=3)}
    first = sg.check_grad(cost, [W, b], values, directions=3, rng=7)
    again = sg.check_grad(cost, [W, b], values, directions=3, rng=np.random.default_rng(7))
    other = sg.check_grad(cost, [W, b], values, directions=3, rng=8)
    default = sg.check_grad(cost, [W, b], values, directions=3)
    assert first.ok and other.ok
    np.testing.assert_array_equal(first.numeric["W"], again.numeric["W"])
    np.testing.assert_array_equal(default.numeric["b"],
                                  sg.check_grad(cost, [W, b], values, directions=3).numeric["b"])
    assert not np.allclose(first.numeric["W"], other.numeric["W"])
    # each directional derivative is the gradient's dot product with a unit vector
    full = sg.check_grad(cost, b, values)
    assert np.all(np.abs(first.analytic["b"]) <= np.linalg.norm(full.analytic["b"]) * (1 + 1e-12))


def test_a_scalar_has_one_direction_up_to_sign():
    s = sg.scalar("s")
    result = sg.check_grad(sg.exp(s) * 3.0, s, {s: 0.5}, directions=2)
    assert result.ok
    np.testing.assert_allclose(np.abs(result.analytic["s"]), 3 * np.exp(0.5), rtol=1e-14)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_directions_must_be_a_positive_int(bad):
    x = sg.vector("x", 2)
    with pytest.raises(ValueError, match="directions must be a positive int"):
        sg.check_grad(x.sum(), x, {x: np.ones(2)}, directions=bad)
