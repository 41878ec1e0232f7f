"""A formula's floats are parameters of the compiled kernel (issue 19, item 6).

Python numbers are folded into formulas (``x * 0.5`` keeps x's dtype), so a
sweep over a float hyper-parameter used to print, compile and cache one
kernel per value. The kernel now takes the floats as arguments: one source,
one compile, and the right numbers for every value.
"""
import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401  (Numba only, explicitly)
from reference import assert_close


def _model(lr, decay):
    x = sg.vector("x", "n")
    cost = (sg.tanh(x * lr) ** 2 + decay * x * x).sum()
    return x, cost


def test_a_float_sweep_compiles_one_kernel():
    kernels, sources = set(), set()
    xv = np.linspace(-2, 2, 7)
    # (an integral float, 2.0, is folded as the integer 2 and prints its own kernel)
    for lr in (0.1, 0.37, 1.5, -2.5):
        for decay in (1e-4, 0.3):
            x, cost = _model(lr, decay)
            f = sg.value_and_grad(cost, [x], [x], backend="numba")
            value, (g,) = f(xv)
            t = np.tanh(lr * xv)
            assert_close(value, (t ** 2 + decay * xv ** 2).sum(), rtol=1e-13)
            assert_close(g, 2 * t * (1 - t ** 2) * lr + 2 * decay * xv, rtol=1e-12)
            sources.add(f._function.source)
            kernels.add(id(f._function._program.function))
    assert len(sources) == 1 and len(kernels) == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_parameters_take_the_formula_type(dtype):
    x = sg.vector("x", 5, dtype=dtype)
    f = sg.function([x], x * 0.1 + 0.7, backend="numba")
    xv = np.arange(5, dtype=dtype)
    got = f(xv)
    assert got.dtype == np.dtype(dtype)
    # float32 arithmetic with float32 constants, as NumPy's weak scalars
    np.testing.assert_array_equal(got, xv * np.dtype(dtype).type(0.1) + np.dtype(dtype).type(0.7))
