"""Initialisers: ranges, variances from the fan formulas, seeding, the bias helper."""
import numpy as np
import pytest

import symgrad as sg
from symgrad.nn import init


def rng(seed=0):
    return np.random.default_rng(seed)


def test_xavier_uniform_bound_and_variance():
    W = init.xavier_uniform((300, 200), rng())
    a = np.sqrt(6 / 500)
    assert W.shape == (300, 200) and W.dtype == np.float64
    assert np.abs(W).max() <= a and np.abs(W).max() > 0.99 * a
    # U(-a, a) has variance a**2 / 3 = 2 / (fan_in + fan_out)
    assert W.var() == pytest.approx(2 / 500, rel=0.02)
    assert abs(W.mean()) < 0.01 * a


def test_xavier_normal_and_he_normal_std():
    W = init.xavier_normal((400, 100), rng(1))
    assert W.std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    W = init.xavier_normal((400, 100), rng(1), gain=3.0)
    assert W.std() == pytest.approx(3 * np.sqrt(2 / 500), rel=0.02)
    H = init.he_normal((50, 800), rng(2))
    assert H.std() == pytest.approx(np.sqrt(2 / 50), rel=0.02)


def test_fans_follow_x_at_W_layout_and_overrides():
    # (fan_in, fan_out) = (1000, 10): xavier variance 2/1010; he uses fan_in = 1000
    assert init.he_normal((1000, 10), rng()).std() == pytest.approx(np.sqrt(2 / 1000), rel=0.03)
    assert init.he_normal((10, 1000), rng()).std() == pytest.approx(np.sqrt(2 / 10), rel=0.03)
    # more dimensions: the last is fan_out, the others multiply into fan_in
    T = init.xavier_uniform((5, 50, 100), rng())
    assert np.abs(T).max() <= np.sqrt(6 / 350) and np.abs(T).max() > 0.99 * np.sqrt(6 / 350)
    # overrides, and 1-d shapes that need them
    b = init.xavier_uniform((20000,), rng(), fan_in=3, fan_out=3)
    assert np.abs(b).max() <= 1.0 and np.abs(b).max() > 0.99
    assert init.he_normal((20000,), rng(), fan_in=8).std() == pytest.approx(0.5, rel=0.03)
    W = init.xavier_uniform((4, 4), rng(), fan_in=1, fan_out=1)
    assert np.abs(W).max() <= np.sqrt(3)
    with pytest.raises(ValueError, match="fan_in= and fan_out="):
        init.xavier_normal((7,), rng())
    with pytest.raises(ValueError, match="fan_in= and fan_out="):
        init.he_normal((), rng())


def test_uniform_and_zeros():
    E = init.uniform((1000, 20), rng(), scale=0.25)
    assert np.abs(E).max() <= 0.25 and E.var() == pytest.approx(0.25 ** 2 / 3, rel=0.03)
    E = init.uniform((1000, 20), rng())              # default scale 0.1
    assert 0.099 < np.abs(E).max() <= 0.1
    Z = init.zeros((3, 4), rng())
    assert Z.shape == (3, 4) and not Z.any() and Z.dtype == np.float64


def test_seeded_and_independent_of_global_state():
    np.random.seed(123)
    a = init.xavier_normal((3, 4), rng(7))
    np.random.seed(456)
    b = init.xavier_normal((3, 4), rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.xavier_normal((3, 4), rng(8)))


def test_bad_arguments():
    with pytest.raises(TypeError, match="Generator"):
        init.xavier_uniform((2, 2), 0)
    with pytest.raises(ValueError, match="shape"):
        init.uniform((2, -1), rng())
    with pytest.raises(ValueError, match="scale"):
        init.uniform((2, 2), rng(), scale=-1.0)


def test_softmax_bias_zeroes_the_bias_gradient():
    labels = np.array([0, 2, 2, 1, 2, 2, 0, 2])
    b0 = init.softmax_bias(labels, 3)
    np.testing.assert_allclose(np.exp(b0), np.bincount(labels) / len(labels), rtol=1e-15)
    # with zero weights, d(mean cross-entropy)/db = softmax(b) - frequencies = 0
    X = sg.matrix("X", "batch", 4)
    y = sg.vector("y", "batch", dtype="int64")
    W, b = sg.matrix("W", 4, 3), sg.vector("b", 3)
    cost = sg.nn.softmax_cross_entropy(X @ W + b, y)
    Xv = np.random.default_rng(0).normal(size=(len(labels), 4))
    gb = sg.grad(cost, b).eval({X: Xv, y: labels, W: np.zeros((4, 3)), b: b0})
    np.testing.assert_allclose(gb, 0.0, atol=1e-15)
    gb_other = sg.grad(cost, b).eval({X: Xv, y: labels, W: np.zeros((4, 3)), b: np.zeros(3)})
    assert np.abs(gb_other).max() > 0.1


def test_softmax_bias_errors():
    with pytest.raises(ValueError, match=r"class\(es\) \[1\]"):
        init.softmax_bias([0, 2], 3)
    with pytest.raises(ValueError, match="lie in"):
        init.softmax_bias([0, 3], 3)
    with pytest.raises(TypeError, match="integer"):
        init.softmax_bias([0.5, 1.0], 3)
