"""How many threads compiled kernels use: ``sg.set_num_threads(n)``.

A kernel's big loops run over a fixed partition of their iterations into
chunks, and its big products in fixed blocks of rows, one BLAS call a block
(``codegen.source``); Numba's threads take the chunks and blocks. The
partitions depend on the sizes (and the number of threads Numba started),
never on the count in use, and every BLAS call of a kernel runs on one
thread, so every count gives the same bits. The default is all cores
(Numba's ``NUMBA_NUM_THREADS``), or ``$SYMGRAD_NUM_THREADS`` when set at
import.
"""
import importlib
import os
import threading

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
    """Use ``n`` threads in compiled kernels (their big loops and products), from
    now on and in every thread of this process; returns the previous count.

    Results are the same bits for any ``n``: loops and products split their
    work at fixed points that depend on the sizes (and on the threads Numba
    started) only, partial sums are combined in order, and each BLAS call of
    a kernel runs on one thread. Small loops, scatter-adds and loops over a
    named dimension run on one thread whatever ``n`` is. NumPy's own BLAS
    outside kernels keeps its count (threadpoolctl sets that). ``n`` is at
    most Numba's ``NUMBA_NUM_THREADS`` (default: the number of cores).

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
    return previous


def get_num_threads():
    """The number of threads compiled kernels use (see ``set_num_threads``).

    >>> import symgrad as sg
    >>> 1 <= sg.get_num_threads() <= numba.config.NUMBA_NUM_THREADS
    True
    """
    return numba.config.NUMBA_NUM_THREADS if _count is None else _count


class running:
    """``with running(compiled):`` around a run of the kernel ``compiled`` (a
    ``codegen.compiler.Compiled``): its parallel loops get the chosen count
    (Numba keeps one count per calling thread), and its BLAS calls one thread
    each (the kernel spreads its products over threads itself, and a BLAS on
    several threads may round differently from one count to another).

    >>> import numpy as np, symgrad as sg
    >>> x = sg.matrix("x", 2, 2)
    >>> f = sg.function([x], x @ x, cache=False)
    >>> with running(f._program.compiled):
    ...     blas_threads() == [1] * len(blas_threads())
    True
    """

    def __init__(self, compiled):
        self.parallel, self.products = compiled.parallel, compiled.products
        self.serialised = False

    def __enter__(self):
        if self.parallel:
            if _count is not None and numba.get_num_threads() != _count:
                numba.set_num_threads(_count)
            # Numba's workqueue layer (where neither TBB nor OpenMP is there)
            # aborts the process when two threads launch parallel work at once
            self.serialised = _layer() in ("workqueue", None)
            if self.serialised:
                _workqueue_lock.acquire()
        if self.products:
            _pin_blas(+1)

    def __exit__(self, *exc):
        if self.products:
            _pin_blas(-1)
        if self.serialised:
            _workqueue_lock.release()


_workqueue_lock = threading.Lock()
_layers = []


def _layer():
    """Numba's threading layer, or None before its first parallel launch."""
    if not _layers:
        try:
            _layers.append(numba.threading_layer())
        except ValueError:  # no parallel launch yet
            return None
    return _layers[0]


# kernels running with BLAS pinned to one thread, and the BLAS libraries'
# counts from before the first of them (restored after the last)
_pinned = {"runs": 0, "saved": ()}
_pin_lock = threading.Lock()


def _pin_blas(step):
    with _pin_lock:
        _pinned["runs"] += step
        if step > 0 and _pinned["runs"] == 1:
            _pinned["saved"] = [(lib, lib.get_num_threads()) for lib in _blas()]
            for lib, _ in _pinned["saved"]:
                lib.set_num_threads(1)
        elif step < 0 and _pinned["runs"] == 0:
            for lib, count in _pinned["saved"]:
                lib.set_num_threads(count)


_controllers = []


def _blas():
    """threadpoolctl's controllers of the BLAS libraries in this process, found
    once: NumPy's, and SciPy's, which Numba's products call."""
    if not _controllers:
        import threadpoolctl
        importlib.import_module("scipy.linalg.cython_blas")  # loads the BLAS Numba calls
        controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
        _controllers.append(controller.lib_controllers)
    return _controllers[0]


def blas_threads():
    """The thread counts of the BLAS libraries kernels may call (see ``running``).

    >>> all(n >= 1 for n in blas_threads())
    True
    """
    return [lib.get_num_threads() for lib in _blas()]


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
