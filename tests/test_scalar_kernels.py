"""Kernels whose fused loop is 0-d (scalar inputs only): printed as plain
scalar code, with no blocks and with libm's sin / cos, which are exact for
arguments the vectorisable versions do not reduce (|x| >= 2**50)."""
import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture


@pytest.fixture(scope="module")
def sinc():
    s = sg.scalar("s")
    y = sg.sin(s) / s
    return sg.function([s], [y, sg.grad(y, s), (sg.cos(s) * s).sum()], backend="numba")


@pytest.mark.parametrize("x", [0.5, -3.0, 1e20])
def test_scalar_sin_and_cos_match_numpy(sinc, x):
    value, slope, other = sinc(x)
    np.testing.assert_allclose(value, np.sin(x) / x, rtol=1e-14)
    np.testing.assert_allclose(slope, np.cos(x) / x - np.sin(x) / x ** 2, rtol=1e-13)
    np.testing.assert_allclose(other, np.cos(x) * x, rtol=1e-14)
    assert "for " not in sinc.source and "vsin" not in sinc.source.split("def kernel")[1]
