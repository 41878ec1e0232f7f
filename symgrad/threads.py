"""How many threads compiled kernels use: ``sg.set_num_threads(n)``.

A kernel's big loops run over a fixed partition of their iterations into
chunks (``codegen.source``), chunks spread over Numba's threads, and BLAS
products (scipy's and NumPy's OpenBLAS, through threadpoolctl) use the same
count. The partition depends on the sizes alone, never on the thread count,
so every thread count gives the same bits. The default is all cores (Numba's
``NUMBA_NUM_THREADS``), or ``$SYMGRAD_NUM_THREADS`` when set at import.
"""
import os

import numba
import numpy as np

_ENV = "SYMGRAD_NUM_THREADS"
_count = None  # set by set_num_threads; None: Numba's and the BLAS's own defaults


def _checked(n, source):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{source} must be a positive int, not {n!r}")
    n = int(n)
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"{source} = {n} is outside 1..{limit}: Numba started {limit} threads "
                         f"(NUMBA_NUM_THREADS, default: the number of cores); to use more, set "
                         f"NUMBA_NUM_THREADS={n} in the environment before importing symgrad")
    return n


def set_num_threads(n):
    """Use ``n`` threads in compiled kernels and their BLAS products, from now on
    and in every thread of this process; returns the previous count.

    Results are the same bits for any ``n``: loops split their work at fixed
    points that depend on the sizes only, and combine partial sums in order.
    Small loops run on one thread whatever ``n`` is. ``n`` is at most Numba's
    ``NUMBA_NUM_THREADS`` (default: the number of cores).

    >>> import symgrad as sg
    >>> previous = sg.set_num_threads(1)
    >>> sg.get_num_threads()
    1
    >>> _ = sg.set_num_threads(previous)
    """
    global _count
    n = _checked(n, "the thread count")
    previous = get_num_threads()
    _count = n
    _limit_blas(n)
    return previous


def get_num_threads():
    """The number of threads compiled kernels use (see ``set_num_threads``).

    >>> import symgrad as sg
    >>> 1 <= sg.get_num_threads() <= numba.config.NUMBA_NUM_THREADS
    True
    """
    return numba.config.NUMBA_NUM_THREADS if _count is None else _count


def use():
    """Give the calling thread's Numba the chosen count (Numba keeps one count per
    thread): called before each run of a kernel with parallel loops."""
    if _count is not None and numba.get_num_threads() != _count:
        numba.set_num_threads(_count)


def _limit_blas(n):
    try:
        import threadpoolctl
    except ImportError:  # a dependency; without it, BLAS keeps its own count
        return
    threadpoolctl.threadpool_limits(limits=n, user_api="blas")


def _from_environment():
    value = os.environ.get(_ENV)
    if value is None or not value.strip():
        return
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"${_ENV} = {value!r} is not an int: set it to a thread count "
                         f"such as 2, or unset it for all cores") from None
    set_num_threads(_checked(n, f"${_ENV}"))


_from_environment()
