"""What the benchmark scripts (run.py, zoo.py) share: how they print times and
how they compare results. NumPy only, so importing it costs a child process nothing."""
import numpy as np


def fmt_time(seconds):
    """``1.2 µs``, ``3.45 ms``, ``1.23 s``; ``–`` for None."""
    if seconds is None:
        return "–"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def rel_error(got, want):
    """Max over the cost and every gradient of max|got - want| / max|want|."""
    errs = []
    for g, h in zip([got[0]] + list(got[1]), [want[0]] + list(want[1])):
        g, h = np.asarray(g, dtype=np.float64), np.asarray(h, dtype=np.float64)
        errs.append(float(np.max(np.abs(g - h))) / max(float(np.max(np.abs(h))), 1e-300))
    return max(errs)
