"""Ops written as compositions of the primitives, stable by construction.

logsumexp(x) = m + log(sum(exp(x - m))) with m = max(x): every exp argument
is <= 0, so nothing overflows; log_softmax = x - logsumexp(x) and
softmax = exp(log_softmax). Any m gives the same value, so the shift is a
``stop_gradient`` (as in JAX): its gradient, which would cancel exactly (it
enters with +1 and with -sum(softmax) = -1), is never formed, and the
gradient of a cross-entropy reads softmax - one-hot, with no arg-max term.
"""
from . import elementwise_ops as ew
from . import tensor_ops as T
from .autodiff import stop_gradient
from .types import normalize_axes


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x), axis)), computed without overflow.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> float(sg.logsumexp(x).eval({x: [1000.0, 1000.0]}))
    1000.6931471805599
    """
    x = T._as_expr(x)
    axes = normalize_axes(axis, x.ndim, x.describe())
    m = stop_gradient(T.max(x, axes, keepdims=True))  # any shift: no gradient through it
    out = ew.log(T.sum(ew.exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else T.reshape(out, tuple(d for a, d in enumerate(x.shape)
                                                    if a not in axes))


def log_softmax(x, axis=-1):
    """x - logsumexp(x, axis): log-probabilities, stable at any magnitude.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.log_softmax(x).eval({x: [0.0, -1000.0]})
    array([    0., -1000.])
    """
    return x - logsumexp(x, axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x), axis), computed as exp(log_softmax(x)).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.softmax(x).eval({x: [1000.0, 1000.0]})
    array([0.5, 0.5])
    """
    return ew.exp(log_softmax(x, axis))
