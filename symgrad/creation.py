"""Arrays made from nothing but a shape: ranges (more to come: zeros, ones, eye, ...)."""
import numpy as np

from .ops import Broadcast, Cumsum
from .ops.leaves import constant
from .types import as_dim

__all__ = ["arange"]


def arange(n):
    """``0, 1, ..., n - 1`` as int64, for an int or a named dimension ``n``.

    >>> import symgrad as sg
    >>> sg.arange(4).eval({})
    array([0, 1, 2, 3])
    >>> x = sg.vector("x", "n")
    >>> (x * sg.arange("n")).eval({x: [5.0, 6.0, 7.0]})
    array([ 0.,  6., 14.])
    """
    d = as_dim(n)
    if isinstance(d, int):
        return constant(np.arange(d, dtype=np.int64))
    # a named size is only known at call time: the running count of ones, minus one
    return Cumsum(0)(Broadcast((d,))(constant(1))) - 1
