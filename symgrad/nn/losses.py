"""Losses, each a short composition of symgrad ops (so each is differentiated
and compiled like any other graph)."""
import numpy as np

from .. import composites
from .. import elementwise_ops as ew
from .. import tensor_ops as T
from ..types import is_float


_REDUCTIONS = ("mean", "sum", "none")


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
    labels = T._as_expr(labels)
    if is_float(labels.dtype):
        raise TypeError(f"softmax_cross_entropy needs integer labels, got {labels.describe()}")
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


def max_margin(s_true, s_corrupt, margin=1.0):
    """Mean of max(0, margin - s_true + s_corrupt): the window model's hinge loss.

    >>> import symgrad as sg
    >>> s, sc = sg.vector("s", 2), sg.vector("sc", 2)
    >>> float(sg.nn.max_margin(s, sc).eval({s: [2.0, 0.0], sc: [0.5, 0.5]}))
    0.75
    """
    return T.mean(ew.relu(margin - s_true + s_corrupt))


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


def mse(pred, target):
    """Mean over all elements of (pred - target)**2.

    >>> import symgrad as sg
    >>> p, t = sg.vector("p", 2), sg.vector("t", 2)
    >>> float(sg.nn.mse(p, t).eval({p: [1.0, 2.0], t: [0.0, 0.0]}))
    2.5
    """
    return T.mean((pred - target) ** 2)
