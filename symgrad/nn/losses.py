"""Losses, each a short composition of symgrad ops (so each is differentiated
and compiled like any other graph)."""
from .. import composites
from .. import elementwise_ops as ew
from .. import tensor_ops as T
from ..types import is_float


def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]; stable at any magnitude.

    ``logits`` has shape ``batch_shape + (classes,)``, ``labels`` the integer
    shape ``batch_shape``.

    >>> import symgrad as sg
    >>> S, y = sg.matrix("S", "batch", 3), sg.vector("y", "batch", dtype="int64")
    >>> loss = sg.nn.softmax_cross_entropy(S, y)
    >>> round(float(loss.eval({S: [[0.0, 0.0, 0.0]], y: [2]})), 6)
    1.098612
    """
    if is_float(labels.dtype):
        raise TypeError(f"softmax_cross_entropy needs integer labels, got {labels.describe()}")
    return -T.mean(T.pick(composites.log_softmax(logits, axis=-1), labels))


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
