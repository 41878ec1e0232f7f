"""Losses, each a short composition of symgrad ops (so each is differentiated
and compiled like any other graph)."""
import numpy as np
from sympy import Piecewise

from .. import composites
from .. import elementwise_ops as ew
from .. import tensor_ops as T
from ..elementwise import elementwise
from ..errors import ShapeError
from ..types import is_float, same_dim


_REDUCTIONS = ("mean", "sum", "none")


def _reduced(losses, reduction, what):
    """``losses`` reduced as PyTorch's ``reduction=`` ("mean" over all elements)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{what}: reduction must be one of "
                         f"{', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")
    if reduction == "none":
        return losses
    return T.sum(losses) if reduction == "sum" else T.mean(losses)


def _same_shape(input, target, what):
    input, target = T._as_expr(input), T._as_expr(target)
    if input.ndim != target.ndim or not all(
            same_dim(a, b) for a, b in zip(input.shape, target.shape)):
        raise ShapeError(f"{what}: target {target.describe()} must have the shape of "
                         f"input {input.describe()} (as PyTorch)")
    for name, e in (("input", input), ("target", target)):
        if not is_float(e.dtype):
            raise TypeError(f"{what} needs a floating-point {name}, got {e.describe()}; "
                            "cast it with sg.cast(x, 'float64')")
    return input, target


# quadratic within delta of 0, linear beyond; value and slope agree at |d| = delta
_huber = elementwise(lambda d, delta: Piecewise((delta * (-d - delta / 2), d <= -delta),
                                                (delta * (d - delta / 2), d >= delta),
                                                (d * d / 2, True)), name="huber")


def softmax_cross_entropy(logits, labels, ignore_index=None, reduction="mean"):
    """-log softmax(logits)[label] per example, reduced as PyTorch's
    ``torch.nn.functional.cross_entropy``; stable at any magnitude.

    ``logits`` has shape ``batch_shape + (classes,)``, ``labels`` the integer
    shape ``batch_shape``. ``reduction`` is ``"mean"`` (over the batch),
    ``"sum"`` or ``"none"`` (the per-example losses).

    Positions whose label is ``ignore_index`` (e.g. -100 or -1 for padding)
    contribute nothing: their loss is 0, their gradient exactly 0, and
    ``"mean"`` divides by the number of the other positions. With every
    position ignored that mean is 0/0 = nan, as in PyTorch. Unlike PyTorch,
    nan logits at an ignored position give a zero gradient there, not nan.
    An ignored label is never used as an index, so it may be out of range;
    any other label out of ``range(classes)`` raises IndexError at call time.

    >>> import symgrad as sg
    >>> S, y = sg.matrix("S", "batch", 3), sg.vector("y", "batch", dtype="int64")
    >>> loss = sg.nn.softmax_cross_entropy(S, y)
    >>> round(float(loss.eval({S: [[0.0, 0.0, 0.0]], y: [2]})), 6)
    1.098612
    >>> padded = sg.nn.softmax_cross_entropy(S, y, ignore_index=-100, reduction="none")
    >>> padded.eval({S: [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]], y: [2, -100]}).round(6)
    array([1.098612, 0.      ])
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"softmax_cross_entropy: reduction must be one of "
                         f"{', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")
    logits, labels = T._as_expr(logits), T._as_expr(labels)
    if logits.ndim and labels.ndim == logits.ndim:  # one-hot rows, or probabilities
        raise TypeError(f"softmax_cross_entropy: labels must be class indices (int), got "
                        f"one-hot {labels.describe()} shaped like the logits "
                        f"{logits.describe()}; pass labels.argmax(axis={labels.ndim - 1})")
    if is_float(labels.dtype):
        raise TypeError(f"softmax_cross_entropy needs integer labels (class indices), got "
                        f"{labels.describe()}; pass them as int64 (labels.astype(np.int64), or "
                        "sg.cast(labels, 'int64') for an expression)")
    log_p = composites.log_softmax(logits, axis=-1)
    if ignore_index is None:
        losses = -T.pick(log_p, labels)
    else:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"softmax_cross_entropy: ignore_index must be an int or None, "
                            f"got {ignore_index!r}")
        keep = ew.neq(labels, int(ignore_index))  # 1, or 0 at an ignored position
        # an ignored label picks class 0 instead (labels * keep), and where() zeroes
        # that pick's loss and gradient, even were it inf or nan
        losses = ew.where(keep, -T.pick(log_p, labels * keep), 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return T.sum(losses)
    if ignore_index is None:
        return T.mean(losses)
    return T.sum(losses) / T.sum(keep)  # over the kept positions; none kept: 0/0 = nan


def max_margin(s_true, s_corrupt, margin=1.0, reduction="mean"):
    """Mean of max(0, margin - s_true + s_corrupt): the window model's hinge loss
    (``torch.nn.functional.margin_ranking_loss(s_true, s_corrupt, 1, margin)``);
    ``reduction`` as PyTorch's: ``"mean"``, ``"sum"`` or ``"none"``.

    >>> import symgrad as sg
    >>> s, sc = sg.vector("s", 2), sg.vector("sc", 2)
    >>> float(sg.nn.max_margin(s, sc).eval({s: [2.0, 0.0], sc: [0.5, 0.5]}))
    0.75
    """
    return _reduced(ew.relu(margin - s_true + s_corrupt), reduction, "max_margin")


def l2(*params):
    """Sum of squares of all entries of ``params`` (no 1/2 factor).

    >>> import symgrad as sg
    >>> W, b = sg.matrix("W", 1, 2), sg.vector("b", 1)
    >>> float(sg.nn.l2(W, b).eval({W: [[1.0, 2.0]], b: [3.0]}))
    14.0
    """
    total = None
    for p in params:
        term = T.sum(p * p)
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2 needs at least one parameter")
    return total


def mse(pred, target, reduction="mean"):
    """Mean over all elements of (pred - target)**2 (``torch.nn.functional.mse_loss``);
    ``reduction`` as PyTorch's: ``"mean"``, ``"sum"`` or ``"none"``.

    >>> import symgrad as sg
    >>> p, t = sg.vector("p", 2), sg.vector("t", 2)
    >>> float(sg.nn.mse(p, t).eval({p: [1.0, 2.0], t: [0.0, 0.0]}))
    2.5
    """
    return _reduced((pred - target) ** 2, reduction, "mse")


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002 - torch's name
    """The Huber loss of ``torch.nn.functional.huber_loss`` (also ``sg.nn.huber``):
    with d = input - target, d**2 / 2 where |d| < delta, else delta * (|d| - delta / 2);
    reduced as ``reduction`` (``"mean"`` over all elements, ``"sum"`` or ``"none"``).

    >>> import symgrad as sg
    >>> p, t = sg.vector("p", 3), sg.vector("t", 3)
    >>> sg.nn.huber_loss(p, t, reduction="none").eval({p: [0.5, 3.0, -3.0], t: [0.0, 0.0, 0.0]})
    array([0.125, 2.5  , 2.5  ])
    """
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.number)) or \
            not delta > 0:
        raise ValueError(f"huber_loss: delta must be a positive number, got {delta!r}")
    input, target = _same_shape(input, target, "huber_loss")
    return _reduced(_huber(input - target, float(delta)), reduction, "huber_loss")


huber = huber_loss


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",  # noqa: A002
                                     pos_weight=None):
    """Sigmoid and binary cross-entropy in one, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``: per element

        -weight * (pos_weight * target * log σ(input) + (1 - target) * log(1 - σ(input))),

    written as weight * (pos_weight * target * softplus(-input) + (1 - target) *
    softplus(input)), which is finite with a finite gradient for logits of any size.
    ``target`` (probabilities in [0, 1]) has the shape of ``input``; ``weight``
    broadcasts to it, ``pos_weight`` (the positive class's weight, one per class)
    broadcasts along the last axis. ``reduction``: ``"mean"`` over all elements,
    ``"sum"`` or ``"none"``.

    >>> import symgrad as sg
    >>> z, y = sg.vector("z", 3), sg.vector("y", 3)
    >>> loss = sg.nn.binary_cross_entropy_with_logits(z, y, reduction="none")
    >>> loss.eval({z: [0.0, 1000.0, -1000.0], y: [1.0, 0.0, 0.0]}).round(6).tolist()
    [0.693147, 1000.0, 0.0]
    """
    input, target = _same_shape(input, target, "binary_cross_entropy_with_logits")
    positive = target * ew.softplus(-input)  # -target * log σ(input)
    if pos_weight is not None:
        positive = positive * pos_weight
    losses = positive + (1 - target) * ew.softplus(input)  # -(1 - target) * log σ(-input)
    if weight is not None:
        losses = losses * weight
    if losses.ndim != input.ndim or not all(
            same_dim(a, b) for a, b in zip(losses.shape, input.shape)):
        raise ShapeError(f"binary_cross_entropy_with_logits: weight and pos_weight must "
                         f"broadcast to the input {input.describe()}")
    return _reduced(losses, reduction, "binary_cross_entropy_with_logits")
