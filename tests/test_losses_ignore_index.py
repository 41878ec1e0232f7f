"""``sg.nn.softmax_cross_entropy(logits, labels, ignore_index=None, reduction="mean")``
as PyTorch's ``torch.nn.functional.cross_entropy``: ignored positions (padding)
contribute no loss and no gradient, "mean" divides by the number of the other
positions, "sum" and "none" (per-example losses, 0 where ignored).

Checked against a NumPy reference derived by hand (the gradient is
softmax - onehot, masked, divided by the count for "mean"), against finite
differences (``sg.check_grad``) and against torch where it is installed.
Every compiled check runs on both backends explicitly.
"""
import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from reference import assert_close

BACKENDS = ["numpy", "numba"]
REDUCTIONS = ["mean", "sum", "none"]
C = 5  # classes


def reference(logits, labels, ignore_index, reduction, upstream=None):
    """(loss, d cost / d logits) in NumPy, with cost = loss for "mean" / "sum"
    and cost = sum(upstream * loss) for "none"."""
    logits = np.asarray(logits, np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = np.where(keep, labels, 0)
    onehot = np.eye(logits.shape[-1])[safe]
    per = np.where(keep, -np.take_along_axis(log_p, safe[..., None], -1)[..., 0], 0.0)
    d_per = (np.exp(log_p) - onehot) * keep[..., None]  # d per / d logits, 0 where ignored
    if reduction == "none":
        return per, d_per * upstream[..., None]
    if reduction == "sum":
        return per.sum(), d_per
    count = keep.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / count, d_per / count  # count 0: nan loss (as torch)


def data(batch_shape, ignore_index, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, batch_shape + (C,))
    labels = rng.integers(0, C, batch_shape)
    flat = labels.reshape(-1)
    flat[1::3] = ignore_index  # about a third is padding, not the first position
    return logits, labels


def build(batch_shape, ignore_index, reduction, dtype="float64", label_dtype="int64"):
    dims = ("n", "t")[:len(batch_shape)]
    S = sg.tensor("S", dims + (C,), dtype=dtype)
    y = sg.tensor("y", dims, dtype=label_dtype)
    loss = sg.nn.softmax_cross_entropy(S, y, ignore_index=ignore_index, reduction=reduction)
    w = sg.tensor("w", dims)  # upstream weights for "none"
    cost = sg.sum(loss * w) if reduction == "none" else loss
    return S, y, w, loss, cost


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, -1, 3])
def test_loss_and_gradient_match_the_hand_derived_reference(ignore_index, reduction, backend):
    logits, labels = data((7,), ignore_index)
    upstream = np.random.default_rng(1).uniform(0.5, 2.0, 7)
    S, y, w, loss, cost = build((7,), ignore_index, reduction)
    assert loss.shape == (S.shape[:-1] if reduction == "none" else ())
    loss_v, g_v = sg.function([S, y, w], [loss, sg.grad(cost, S)], backend=backend)(
        logits, labels, upstream)
    want_loss, want_g = reference(logits, labels, ignore_index, reduction, upstream)
    assert_close(loss_v, want_loss, rtol=1e-12, what="loss")
    assert_close(g_v, want_g, rtol=1e-12, atol=1e-15, what="gradient")
    ignored = labels == ignore_index
    assert ignored.any() and (~ignored).any()
    assert np.all(g_v[ignored] == 0.0)  # exactly zero, not merely small
    if reduction == "none":
        assert np.all(loss_v[ignored] == 0.0) and np.all(loss_v[~ignored] > 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sequence_padding_with_two_batch_dimensions(reduction, backend):
    logits, labels = data((3, 4), -100, seed=2)
    upstream = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4))
    S, y, w, loss, cost = build((3, 4), -100, reduction)
    loss_v, g_v = sg.function([S, y, w], [loss, sg.grad(cost, S)], backend=backend)(
        logits, labels, upstream)
    want_loss, want_g = reference(logits, labels, -100, reduction, upstream)
    assert_close(loss_v, want_loss, rtol=1e-12, what="loss")
    assert_close(g_v, want_g, rtol=1e-12, atol=1e-15, what="gradient")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_without_ignore_index_nothing_changes(reduction, backend):
    logits, labels = data((6,), 0, seed=4)  # label 0 here is an ordinary class
    upstream = np.random.default_rng(5).uniform(0.5, 2.0, 6)
    S, y, w, loss, cost = build((6,), None, reduction)
    loss_v, g_v = sg.function([S, y, w], [loss, sg.grad(cost, S)], backend=backend)(
        logits, labels, upstream)
    want_loss, want_g = reference(logits, labels, None, reduction, upstream)
    assert_close(loss_v, want_loss, rtol=1e-12, what="loss")
    assert_close(g_v, want_g, rtol=1e-12, atol=1e-15, what="gradient")


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_is_the_batch_mean(backend):
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    logits, labels = data((4,), 1, seed=6)
    default = sg.nn.softmax_cross_entropy(S, y)
    explicit = sg.nn.softmax_cross_entropy(S, y, ignore_index=None, reduction="mean")
    a, b = sg.function([S, y], [default, explicit], backend=backend)(logits, labels)
    assert_close(a, reference(logits, labels, None, "mean")[0], rtol=1e-12)
    assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_ignored_mean_is_nan_as_torch_and_the_gradient_zero(backend):
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    logits, labels = data((3,), -100)
    labels[:] = -100
    outs = []
    for reduction in REDUCTIONS:
        loss = sg.nn.softmax_cross_entropy(S, y, ignore_index=-100, reduction=reduction)
        outs += [loss, sg.grad(sg.sum(loss), S)]
    mean, g_mean, total, g_sum, per, g_none = sg.function([S, y], outs, backend=backend)(
        logits, labels)
    assert np.isnan(mean)
    assert total == 0.0 and np.all(per == 0.0)
    for g in (g_mean, g_sum, g_none):
        assert np.all(g == 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignored_label_is_never_an_index_but_a_bad_kept_label_raises(backend):
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    loss = sg.nn.softmax_cross_entropy(S, y, ignore_index=-100)
    f = sg.function([S, y], [loss, sg.grad(loss, S)], backend=backend)
    logits = np.zeros((3, C))
    value, _ = f(logits, np.array([-100, 2, -100]))  # -100 would be out of range as an index
    assert_close(value, np.log(C))
    for bad in ([-1, 2, -100], [C, 2, -100]):
        with pytest.raises(IndexError):
            f(logits, np.array(bad))
    plain = sg.function([S, y], sg.nn.softmax_cross_entropy(S, y), backend=backend)
    with pytest.raises(IndexError):  # without ignore_index a negative label is still an error
        plain(logits, np.array([-100, 2, 1]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_logits_at_ignored_positions_do_not_leak(backend):
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    logits, labels = data((4,), -1, seed=7)
    logits[1] = np.nan  # a padded row, e.g. from an empty sequence
    logits[3] = [np.inf, -np.inf, 0.0, 1.0, 2.0]
    labels[:] = [2, -1, 0, -1]
    loss = sg.nn.softmax_cross_entropy(S, y, ignore_index=-1)
    loss_v, g_v = sg.function([S, y], [loss, sg.grad(loss, S)], backend=backend)(logits, labels)
    kept = [0, 2]
    want_loss, want_g = reference(logits[kept], labels[kept], -1, "mean")
    assert_close(loss_v, want_loss, rtol=1e-12)
    assert_close(g_v[kept], want_g, rtol=1e-12, atol=1e-15)
    assert np.all(g_v[[1, 3]] == 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, label_dtype", [("float32", "int64"), ("float64", "int32"),
                                                ("float32", "int32")])
def test_dtypes(dtype, label_dtype, backend):
    logits, labels = data((5,), -100, seed=8)
    S, y, w, loss, cost = build((5,), -100, "mean", dtype=dtype, label_dtype=label_dtype)
    g = sg.grad(cost, S)
    assert loss.dtype == g.dtype == dtype
    loss_v, g_v = sg.function([S, y], [loss, g], backend=backend)(
        logits.astype(dtype), labels.astype(label_dtype))
    assert np.asarray(loss_v).dtype == g_v.dtype == np.dtype(dtype)
    want_loss, want_g = reference(logits.astype(dtype), labels, -100, "mean")
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert_close(loss_v, want_loss, rtol=tol, atol=tol)
    assert_close(g_v, want_g, rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_check_grad(reduction):
    logits, labels = data((6,), -100, seed=9)
    upstream = np.random.default_rng(10).uniform(0.5, 2.0, 6)
    S, y, w, loss, cost = build((6,), -100, reduction)
    values = {S: logits, y: labels, w: upstream}
    if reduction != "none":
        values.pop(w)
    result = sg.check_grad(cost, S, values, eps=1e-6, rtol=1e-6, atol=1e-9)
    assert result, result


def test_bad_reduction_and_ignore_index_are_refused():
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    for bad in ("average", "elementwise_mean", None, "MEAN"):
        with pytest.raises(ValueError, match=r"'mean', 'sum', 'none'"):
            sg.nn.softmax_cross_entropy(S, y, reduction=bad)
    for bad in (-1.0, "pad", True):
        with pytest.raises(TypeError, match="ignore_index"):
            sg.nn.softmax_cross_entropy(S, y, ignore_index=bad)
    with pytest.raises(TypeError, match="integer labels"):
        sg.nn.softmax_cross_entropy(S, sg.vector("f", "n"), ignore_index=-100)


# ----------------------------------------------------------------- against torch

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_matches_torch_cross_entropy(ignore_index, reduction, backend):
    torch = pytest.importorskip("torch")
    logits, labels = data((8,), ignore_index, seed=11)
    upstream = np.random.default_rng(12).uniform(0.5, 2.0, 8)
    S, y, w, loss, cost = build((8,), ignore_index, reduction)
    loss_v, g_v = sg.function([S, y, w], [loss, sg.grad(cost, S)], backend=backend)(
        logits, labels, upstream)
    t_logits = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.tensor(labels),
                                               ignore_index=ignore_index, reduction=reduction)
    t_cost = (t_loss * torch.tensor(upstream)).sum() if reduction == "none" else t_loss
    t_cost.backward()
    assert_close(loss_v, t_loss.detach().numpy(), rtol=1e-12, what="loss")
    assert_close(g_v, t_logits.grad.numpy(), rtol=1e-12, atol=1e-15, what="gradient")


def test_all_ignored_mean_matches_torch():
    torch = pytest.importorskip("torch")
    logits = torch.zeros((2, C), dtype=torch.float64)
    t_loss = torch.nn.functional.cross_entropy(logits, torch.tensor([-100, -100]))
    S, y = sg.matrix("S", "n", C), sg.vector("y", "n", dtype="int64")
    loss = sg.nn.softmax_cross_entropy(S, y, ignore_index=-100)
    ours = sg.function([S, y], loss, backend="numpy")(logits.numpy(), np.array([-100, -100]))
    assert np.isnan(ours) and bool(torch.isnan(t_loss))
