"""Learning-rate schedules against their formulas and torch.optim.lr_scheduler."""
import math

import numpy as np
import pytest

from symgrad.optim import schedules


def test_constant():
    f = schedules.constant(0.3)
    assert [f(t) for t in range(4)] == [0.3] * 4


def test_step_decay_formula():
    f = schedules.step_decay(0.2, factor=0.1, every=4)
    for t in range(20):
        assert f(t) == pytest.approx(0.2 * 0.1 ** (t // 4), rel=1e-15)
    assert f(3) == 0.2 and f(4) == pytest.approx(0.02)


def test_exponential_decay_formula():
    f = schedules.exponential_decay(0.5, k=0.3)
    for t in range(20):
        assert f(t) == pytest.approx(0.5 * math.exp(-0.3 * t), rel=1e-15)
    assert f(0) == 0.5


def test_cyclic_triangle():
    f = schedules.cyclic(0.01, 0.11, step_size=5)
    # piecewise linear between the corners (0, base), (5, max), (10, base), ...
    corners_t = np.arange(0, 41, 5)
    corners_lr = np.where(corners_t // 5 % 2 == 0, 0.01, 0.11)
    for t in range(41):
        assert f(t) == pytest.approx(np.interp(t, corners_t, corners_lr), rel=1e-12)
    assert f(0) == 0.01 and f(5) == pytest.approx(0.11) and f(10) == pytest.approx(0.01)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_epochs(bad):
    for f in (schedules.constant(0.1), schedules.step_decay(0.1, every=2),
              schedules.exponential_decay(0.1, 0.1), schedules.cyclic(0.1, 0.2, 3)):
        with pytest.raises(ValueError, match="epoch"):
            f(bad)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="every"):
        schedules.step_decay(0.1, every=0)
    with pytest.raises(ValueError, match="max_lr"):
        schedules.cyclic(0.2, 0.1, 3)
    with pytest.raises(ValueError, match="step_size"):
        schedules.cyclic(0.1, 0.2, 0)
    with pytest.raises(ValueError, match="factor"):
        schedules.step_decay(0.1, factor=-1.0)


def torch_lrs(make_scheduler, lr0, epochs):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = make_scheduler(torch, opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_against_torch():
    pytest.importorskip("torch")
    cases = [
        (schedules.step_decay(0.1, factor=0.5, every=3), 0.1,
         lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
        (schedules.exponential_decay(0.1, k=0.2), 0.1,
         lambda torch, o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-0.2))),
        (schedules.cyclic(0.01, 0.1, step_size=4), 0.01,
         lambda torch, o: torch.optim.lr_scheduler.CyclicLR(
             o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular",
             cycle_momentum=False)),
    ]
    for ours, lr0, make in cases:
        theirs = torch_lrs(make, lr0, 25)
        np.testing.assert_allclose([ours(t) for t in range(25)], theirs, rtol=1e-12)
