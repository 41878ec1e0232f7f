"""Independent references for tests: two-sided finite differences in float64.

These never call symgrad's autodiff: they only evaluate a forward function.
"""
import numpy as np


def numeric_grad(f, args, k, eps=1e-6):
    """d f(*args) / d args[k] by central differences; f returns a float."""
    args = [np.array(a, dtype=np.float64) for a in args]
    base = args[k]
    out = np.zeros(base.shape)
    for i in np.ndindex(base.shape):
        old = base[i]
        base[i] = old + eps
        up = float(f(*args))
        base[i] = old - eps
        down = float(f(*args))
        base[i] = old
        out[i] = (up - down) / (2 * eps)
    return out


def assert_close(actual, expected, rtol=1e-7, atol=1e-9, what=""):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
