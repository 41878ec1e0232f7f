"""sg.nn layers, activations and losses under PyTorch's functional names
(layer_norm, batch_norm, dropout, log_sigmoid, binary_cross_entropy_with_logits,
huber_loss, and reduction= of mse / max_margin) against hand-written NumPy
versions of torch's formulas: values, gradients and Hessian-vector products by
finite differences (tests/op_checks.py), logits at ±1000, and build-time errors.

Three compiled functions in all: the normalisation table, the losses table and the
extreme-value table.
"""
import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases

_rng = np.random.default_rng(11)


def _r(*shape):
    return _rng.standard_normal(shape)


def _positive(*shape):
    return _rng.uniform(0.5, 2.0, shape)


def _away_from(kinks, shape, gap=0.15, scale=3.0):
    """Random values at least ``gap`` from every kink (so finite differences are smooth)."""
    out = _rng.uniform(-scale, scale, shape)
    for k in kinks:
        near = np.abs(out - k) < gap
        out[near] = k + np.where(out[near] >= k, gap, -gap) * 2
    return out


# ------------------------------------------------------------------ references (torch's formulas)

def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_layer_norm(x, k, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # biased
    out = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _channel(p, x):
    return p.reshape((x.shape[1],) + (1,) * (x.ndim - 2))


def np_batch_norm(x, mean=None, var=None, weight=None, bias=None, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    if mean is None:  # training: the batch's statistics, biased variance
        m, v = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        m, v = _channel(mean, x), _channel(var, x)
    out = (x - m) / np.sqrt(v + eps)
    if weight is not None:
        out = out * _channel(weight, x)
    if bias is not None:
        out = out + _channel(bias, x)
    return out


def np_batch_stats(x):
    axes = (0,) + tuple(range(2, x.ndim))
    return np.concatenate([x.mean(axis=axes), x.var(axis=axes, ddof=1)])


def _reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](losses)


def np_bce_naive(x, y, weight=None, pos_weight=None, reduction="mean"):
    """torch's documented formula, literally (fine for moderate logits)."""
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    s = np_sigmoid(x)
    return _reduce(-w * (pw * y * np.log(s) + (1 - y) * np.log(1 - s)), reduction)


def np_bce_stable(x, y, pos_weight=1.0, reduction="none"):
    """The same with log σ(x) = -logaddexp(0, -x), exact at any magnitude."""
    log_s, log_1ms = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    return _reduce(-(pos_weight * y * log_s + (1 - y) * log_1ms), reduction)


def np_huber(x, t, reduction="mean", delta=1.0):
    d = x - t
    return _reduce(np.where(np.abs(d) < delta, 0.5 * d ** 2, delta * (np.abs(d) - 0.5 * delta)),
                   reduction)


# ------------------------------------------------------------------ the tables

_mask = sg.nn.dropout_mask((3, 4), p=0.25, rng=np.random.default_rng(5))
_probs = _rng.uniform(0.05, 0.95, (3, 4))
_huber_delta_1 = _away_from([-1.0, 1.0], (2, 5))
_huber_delta_half = _away_from([-0.5, 0.5], (7,), gap=0.1)
_margin_args = [_away_from([1.0], (6,)), np.zeros(6)]  # margin - s + sc = 1 - s: kink at s = 1

NORMS = [
    # layer_norm
    Case("layer_norm 2 axes, weight, bias",
         lambda x, w, b: sg.nn.layer_norm(x, (3, 4), w, b, eps=1e-3),
         [_r(2, 3, 4), _r(3, 4), _r(3, 4)], lambda x, w, b: np_layer_norm(x, 2, w, b, 1e-3)),
    Case("layer_norm named dims", lambda x, w: sg.nn.layer_norm(x, ["ln_n"], weight=w),
         [_r(3, 5), _r(5)], lambda x, w: np_layer_norm(x, 1, w),
         dims={0: ("ln_batch", "ln_n"), 1: ("ln_n",)}, smooth=False),
    # batch_norm
    Case("batch_norm training (N, C, L), weight, bias",
         lambda x, w, b: sg.nn.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
         [_r(3, 2, 4), _r(2), _r(2)],
         lambda x, w, b: np_batch_norm(x, weight=w, bias=b, eps=1e-3)),
    Case("batch_norm training (N, C), named batch",
         lambda x: sg.nn.batch_norm(x, None, None, training=True),
         [_r(5, 3)], np_batch_norm, dims={0: ("bn_batch", 3)}, smooth=False),
    Case("batch_norm eval (N, C, H, W)",
         lambda x, m, v, w, b: sg.nn.batch_norm(x, m, v, w, b),
         [_r(2, 3, 2, 2), _r(3), _positive(3), _r(3), _r(3)],
         lambda x, m, v, w, b: np_batch_norm(x, m, v, w, b)),
    Case("batch_norm eval, arrays for the stats",
         lambda x: sg.nn.batch_norm(x, np.array([0.5, -1.0]), np.array([2.0, 0.25]), eps=0.0),
         [_r(3, 2)], lambda x: np_batch_norm(x, np.array([0.5, -1.0]), np.array([2.0, 0.25]), eps=0.0),
         wrt=()),  # affine in x: its value is the point
    Case("batch_norm_stats", lambda x: sg.concatenate(list(sg.nn.batch_norm_stats(x))),
         [_r(4, 3, 2)], np_batch_stats),
    Case("batch_norm_stats named batch", lambda x: sg.concatenate(list(sg.nn.batch_norm_stats(x))),
         [_r(5, 2)], np_batch_stats, dims={0: ("bs_batch", 2)}, smooth=False),
]

LOSSES = [
    Case("log_sigmoid", sg.nn.log_sigmoid, [_r(3, 4)], lambda x: np.log(np_sigmoid(x))),
    # dropout
    Case("dropout with a fed mask", lambda x, m: sg.nn.dropout(x, 0.25, mask=m), [_r(3, 4), _mask],
         lambda x, m: x * m / 0.75, wrt=(0,)),
    Case("dropout broadcast mask", lambda x, m: sg.nn.dropout(x, 0.5, True, mask=m),
         [_r(3, 4), np.array([1.0, 0.0, 1.0, 1.0])], lambda x, m: x * m * 2.0, wrt=(0,)),
    Case("dropout evaluation", lambda x: sg.nn.dropout(x, 0.5, training=False), [_r(3)],
         lambda x: x),
    # binary_cross_entropy_with_logits
    Case("bce logits mean", lambda x, y: sg.nn.binary_cross_entropy_with_logits(x, y),
         [_r(3, 4) * 3, _probs], np_bce_naive),
    Case("bce logits weight, pos_weight, none",
         lambda x, y, w, pw: sg.nn.binary_cross_entropy_with_logits(x, y, w, "none", pw),
         [_r(3, 4) * 3, _probs, _positive(3, 1), _positive(4)],
         lambda x, y, w, pw: np_bce_naive(x, y, w, pw, "none")),
    Case("bce logits sum, pos_weight", lambda x, y, pw: sg.nn.binary_cross_entropy_with_logits(
        x, y, reduction="sum", pos_weight=pw), [_r(3, 4) * 3, (_probs > 0.5) * 1.0, _positive(4)],
         lambda x, y, pw: np_bce_naive(x, y, pos_weight=pw, reduction="sum"), smooth=False),
    # huber_loss
    Case("huber_loss mean", lambda x, t: sg.nn.huber_loss(x, t), [_huber_delta_1, np.zeros((2, 5))],
         np_huber),
    Case("huber_loss none, delta=0.5", lambda x, t: sg.nn.huber_loss(x, t, "none", 0.5),
         [_huber_delta_half + 0.25, np.full(7, 0.25)],
         lambda x, t: np_huber(x, t, "none", 0.5)),
    Case("huber_loss sum, delta=2", lambda x, t: sg.nn.huber_loss(x, t, reduction="sum", delta=2.0),
         [_away_from([-2.0, 2.0], (6,)), np.zeros(6)], lambda x, t: np_huber(x, t, "sum", 2.0)),
    # reduction= of the older losses
    Case("mse none", lambda p, t: sg.nn.mse(p, t, reduction="none"), [_r(2, 3), _r(2, 3)],
         lambda p, t: (p - t) ** 2),
    Case("mse sum", lambda p, t: sg.nn.mse(p, t, "sum"), [_r(2, 3), _r(2, 3)],
         lambda p, t: np.sum((p - t) ** 2)),
    Case("max_margin none", lambda s, sc: sg.nn.max_margin(s, sc, reduction="none"), _margin_args,
         lambda s, sc: np.maximum(0, 1 - s + sc), smooth=False),
    Case("max_margin sum", lambda s, sc: sg.nn.max_margin(s, sc, 1.0, "sum"), _margin_args,
         lambda s, sc: np.sum(np.maximum(0, 1 - s + sc)), smooth=False),
]

_extreme = np.array([[-1000.0, -50.0, -1.5, 0.0], [0.7, 30.0, 200.0, 1000.0]])
_extreme_y = np.array([[0.0, 1.0, 0.3, 1.0], [0.5, 0.0, 1.0, 0.2]])

EXTREME = [
    Case("bce logits at ±1000, none",
         lambda x, y: sg.nn.binary_cross_entropy_with_logits(x, y, reduction="none"),
         [_extreme, _extreme_y], np_bce_stable),
    Case("bce logits at ±1000, pos_weight, mean",
         lambda x, y: sg.nn.binary_cross_entropy_with_logits(x, y, pos_weight=3.0),
         [_extreme, _extreme_y], lambda x, y: np_bce_stable(x, y, 3.0, "mean")),
    Case("log_sigmoid at ±1000", sg.nn.log_sigmoid, [_extreme], lambda x: -np.logaddexp(0, -x)),
    Case("layer_norm of huge values", lambda x: sg.nn.layer_norm(x, 3),
         [np.array([[1e6, 1e6 + 1.0, 1e6 + 3.0]])], lambda x: np_layer_norm(x, 1), rtol=1e-6),
]


# two tables of a few hundred nodes (Numba's compile time grows faster than the graph);
# the second-order check (smooth) is left out where another row already makes it
def test_layer_norm_and_batch_norm():
    check_cases(NORMS, backend="numpy")


def test_losses_and_activations():
    check_cases(LOSSES, backend="numpy")


def test_extreme_values():
    check_cases(EXTREME, backend="numpy")


def test_bce_gradient_at_extreme_logits_is_sigmoid_minus_target():
    # d/dx of the mean loss = (pos_weight * y * (σ - 1) + (1 - y) * σ) / size: finite at ±1000
    x, y = sg.vector("x", 4), sg.vector("y", 4)
    loss = sg.nn.binary_cross_entropy_with_logits(x, y, reduction="sum")
    g = sg.grad(loss, x).eval({x: [-1000.0, -1000.0, 1000.0, 1000.0], y: [0.0, 1.0, 0.0, 1.0]})
    np.testing.assert_array_equal(g, [0.0, -1.0, 1.0, 0.0])
    v = loss.eval({x: [-1000.0, -1000.0, 1000.0, 1000.0], y: [0.0, 1.0, 0.0, 1.0]})
    assert v == 2000.0


# ------------------------------------------------------------------ dropout's mask and modes

def test_dropout_mask_is_seeded_and_keeps_1_minus_p():
    a = sg.nn.dropout_mask((200, 50), p=0.3, rng=np.random.default_rng(1))
    b = sg.nn.dropout_mask((200, 50), p=0.3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 1.0} and a.dtype == np.float64
    assert abs(a.mean() - 0.7) < 0.02
    assert sg.nn.dropout_mask((3,), p=1.0, rng=0).sum() == 0
    assert sg.nn.dropout_mask((3,), p=0.0, rng=0).sum() == 3
    np.testing.assert_array_equal(sg.nn.dropout_mask((4,), 0.5, rng=3),
                                  sg.nn.dropout_mask((4,), 0.5, rng=np.random.default_rng(3)))


def test_aliases_and_unused_running_stats():
    assert sg.nn.logsigmoid is sg.nn.log_sigmoid and sg.nn.huber is sg.nn.huber_loss
    x, m, v = sg.matrix("x", 4, 3), sg.vector("m", 3), sg.vector("v", 3)
    names = {e.name for e in sg.ops.free_inputs([sg.nn.batch_norm(x, m, v, training=True)])}
    assert names == {"x"}  # training uses the batch's statistics only, as torch


def test_dropout_modes():
    x = sg.vector("x", 3)
    assert sg.nn.dropout(x, 0.5, training=False) is x
    assert sg.nn.dropout(x, 0.0) is x  # p = 0: nothing dropped, no mask needed
    np.testing.assert_array_equal(sg.nn.dropout(x, 1.0).eval({x: [1.0, 2.0, 3.0]}), [0.0, 0.0, 0.0])


# ------------------------------------------------------------------ build-time errors

def test_errors_name_the_expression_and_the_fix():
    x = sg.matrix("acts", 3, 4)
    with pytest.raises(ValueError, match="mask=.*dropout_mask"):
        sg.nn.dropout(x, 0.5)
    with pytest.raises(TypeError):  # torch's 4th argument is inplace: mask is keyword-only
        sg.nn.dropout(x, 0.5, True, np.ones((3, 4)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        sg.nn.dropout(x, 1.5, mask=np.ones((3, 4)))
    with pytest.raises(sg.ShapeError, match="mask"):
        sg.nn.dropout(x, 0.5, mask=sg.vector("m", 3))
    with pytest.raises(sg.ShapeError, match="acts.*normalized_shape=\\(4,\\)|normalized_shape"):
        sg.nn.layer_norm(x, 3)
    with pytest.raises(sg.ShapeError, match="weight"):
        sg.nn.layer_norm(x, 4, weight=sg.vector("w", 3))
    with pytest.raises(sg.ShapeError, match="acts"):
        sg.nn.layer_norm(x, (2, 3, 4))
    with pytest.raises(ValueError, match="running_mean"):
        sg.nn.batch_norm(x, None, None)
    with pytest.raises(sg.ShapeError, match="running_var.*\\(4,\\)"):
        sg.nn.batch_norm(x, np.zeros(4), np.ones(3))
    with pytest.raises(sg.ShapeError, match="bias"):
        sg.nn.batch_norm(x, None, None, bias=sg.vector("b", 3), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        sg.nn.batch_norm(sg.matrix("one", 1, 4), None, None, training=True)
    with pytest.raises(sg.ShapeError, match="\\(N, C"):
        sg.nn.batch_norm(sg.vector("v", 4), None, None, training=True)
    with pytest.raises(sg.ShapeError, match="target.*acts"):
        sg.nn.binary_cross_entropy_with_logits(x, sg.vector("t", 4))
    with pytest.raises(TypeError, match="floating-point target"):
        sg.nn.binary_cross_entropy_with_logits(x, sg.matrix("t", 3, 4, dtype="int64"))
    with pytest.raises(sg.ShapeError, match="broadcast"):  # weight must not grow the loss
        sg.nn.binary_cross_entropy_with_logits(x, sg.matrix("t", 3, 4),
                                               weight=sg.tensor("w", (2, 3, 4)))
    with pytest.raises(ValueError, match="reduction"):
        sg.nn.binary_cross_entropy_with_logits(x, x, reduction="batchmean")
    with pytest.raises(ValueError, match="delta"):
        sg.nn.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        sg.nn.mse(x, x, reduction="avg")
    with pytest.raises(TypeError, match="floating-point"):
        sg.nn.layer_norm(sg.matrix("ints", 2, 2, dtype="int64"), 2)


def test_softmax_cross_entropy_keeps_reduction_and_ignore_index():
    import inspect
    params = inspect.signature(sg.nn.softmax_cross_entropy).parameters
    assert params["ignore_index"].default is None and params["reduction"].default == "mean"
