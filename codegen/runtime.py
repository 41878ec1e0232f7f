"""Helpers that generated kernels call; Numba inlines them when optimising.

``select`` is a branch-free choice: a conditional expression written in the
kernel itself becomes basic blocks in Numba's IR, and many of them make
Numba's compile time grow faster than linearly (a 300-op gradient: 5 s
with conditionals, 1.6 s with ``select``) and keep LLVM from using a select
instruction.
"""
import numba


@numba.njit(cache=True)
def select(condition, if_true, if_false):
    """``if_true`` when ``condition`` else ``if_false`` (both already evaluated).

    >>> select(True, 1.0, 2.0), select(False, 1.0, 2.0)
    (1.0, 2.0)
    """
    return if_true if condition else if_false
