"""Every built-in op's value and gradient at extreme inputs, against mpmath.

Points: ±1e300, ±1000, ±1e-300, 0 and nan. The reference is the exact value
at 60 digits (mpmath), rounded to float64 only at the end: so an expected inf
means the true value really overflows, and wherever the true value is finite
symgrad must give it (no spurious nan or inf from an unstable formula).
Derivative references are hand-derived mpmath formulas (independent of
SymPy), themselves checked against mpmath's numerical differentiation.
Both backends run, one compiled function per op and backend.
"""
import importlib

import mpmath
import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend
mp = mpmath.mp
mp.dps = 60

POINTS = np.array([1e300, -1e300, 1000.0, -1000.0, 1e-300, -1e-300, 0.0, 0.7, -2.5])
ZERO = 6  # index of 0.0: a kink or singularity for several ops
C = 0.5   # the second operand of the binary ops


def _sig(x):
    return 1 / (1 + mpmath.exp(-x))


def _piece(cond, a, b):
    return a if cond else b


# name: (builder on a symgrad vector, value(x), derivative(x), derivative at 0 or None)
# derivative at 0 is API.md's convention at a kink, "inf" for a singularity
OPS = {
    "neg": (lambda x: -x, lambda x: -x, lambda x: -1, None),
    "add": (lambda x: x + C, lambda x: x + C, lambda x: 1, None),
    "sub": (lambda x: C - x, lambda x: C - x, lambda x: -1, None),
    "mul": (lambda x: x * C, lambda x: x * C, lambda x: C, None),
    "div": (lambda x: x / 3.0, lambda x: x / 3, lambda x: mpmath.mpf(1) / 3, None),
    "rdiv": (lambda x: 3.0 / x, lambda x: 3 / x, lambda x: -3 / x ** 2, "inf"),
    "square": (lambda x: x ** 2, lambda x: x ** 2, lambda x: 2 * x, None),
    "cube": (lambda x: x ** 3, lambda x: x ** 3, lambda x: 3 * x ** 2, None),
    "rpow": (lambda x: 2.0 ** x, lambda x: mpmath.power(2, x),
             lambda x: mpmath.power(2, x) * mpmath.log(2), None),
    "exp": (sg.exp, mpmath.exp, mpmath.exp, None),
    "log": (sg.log, mpmath.log, lambda x: 1 / x, "inf"),
    "sin": (sg.sin, mpmath.sin, mpmath.cos, None),
    "cos": (sg.cos, mpmath.cos, lambda x: -mpmath.sin(x), None),
    "tanh": (sg.tanh, mpmath.tanh, lambda x: mpmath.sech(x) ** 2, None),
    "sqrt": (sg.sqrt, mpmath.sqrt, lambda x: 1 / (2 * mpmath.sqrt(x)), "inf"),
    "abs": (sg.abs, abs, lambda x: mpmath.sign(x), 0),
    "sigmoid": (sg.sigmoid, _sig, lambda x: _sig(x) * _sig(-x), None),
    "relu": (sg.relu, lambda x: max(x, 0), lambda x: _piece(x > 0, 1, 0), 0),
    "leaky_relu": (lambda x: sg.leaky_relu(x, 0.1), lambda x: _piece(x > 0, x, x / 10),
                   lambda x: _piece(x > 0, 1, mpmath.mpf(1) / 10), 0.1),
    "prelu": (lambda x: sg.prelu(x, 0.25), lambda x: _piece(x > 0, x, x / 4),
              lambda x: _piece(x > 0, 1, mpmath.mpf(1) / 4), 0.25),
    "hardtanh": (sg.hardtanh, lambda x: min(max(x, -1), 1),
                 lambda x: _piece(-1 < x < 1, 1, 0), None),
    "softplus": (sg.softplus, lambda x: mpmath.log(1 + mpmath.exp(x)), _sig, None),
    "maximum": (lambda x: sg.maximum(x, C), lambda x: max(x, C),
                lambda x: _piece(x >= C, 1, 0), None),
    "minimum": (lambda x: sg.minimum(x, C), lambda x: min(x, C),
                lambda x: _piece(x <= C, 1, 0), None),
    "where": (lambda x: sg.where(x > 0, sg.sqrt(x), sg.exp(-x)),
              lambda x: _piece(x > 0, mpmath.sqrt(abs(x)), mpmath.exp(-x)),
              lambda x: _piece(x > 0, 1 / (2 * mpmath.sqrt(abs(x) or 1)), -mpmath.exp(-x)), -1),
    "log_sigmoid": (lambda x: sg.log(sg.sigmoid(x)), lambda x: -mpmath.log(1 + mpmath.exp(-x)),
                    lambda x: _sig(-x), None),
    "log_1m_sigmoid": (lambda x: sg.log(1 - sg.sigmoid(x)),
                       lambda x: -mpmath.log(1 + mpmath.exp(x)), lambda x: -_sig(x), None),
    "logsumexp": (lambda x: sg.logsumexp(sg.stack([x, x * 0 + C]), axis=0),
                  lambda x: mpmath.log(mpmath.exp(x) + mpmath.exp(C)),
                  lambda x: _sig(x - C), None),
    "softmax": (lambda x: sg.softmax(sg.stack([x, x * 0 + C]), axis=0)[0],
                lambda x: _sig(x - C), lambda x: _sig(x - C) * _sig(C - x), None),
    "log_softmax": (lambda x: sg.log_softmax(sg.stack([x, x * 0 + C]), axis=0)[1],
                    lambda x: -mpmath.log(1 + mpmath.exp(x - C)), lambda x: -_sig(x - C), None),
    "swish": (lambda x: x * sg.sigmoid(x), lambda x: x * _sig(x),
              lambda x: _sig(x) + x * _sig(x) * _sig(-x), None),
}


def _float(v):
    """The float64 rounding of an exact mpmath value; nan when it is not real."""
    if isinstance(v, mpmath.mpc):
        return float("nan") if v.imag != 0 else float(v.real)
    return float(v)


def _exact(fn, x):
    try:
        return _float(fn(mpmath.mpf(float(x))))
    except ZeroDivisionError:  # a pole: IEEE gives an inf there (1/0)
        return float("inf")


def _references(name):
    _, value, derivative, at_zero = OPS[name]
    values = np.array([_exact(value, x) for x in POINTS])
    grads = np.array([_exact(derivative, x) for x in POINTS])
    if at_zero is not None:
        grads[ZERO] = np.inf if at_zero == "inf" else at_zero
    return values, grads


def _assert_same_floats(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    for x, g, w in zip(POINTS, got, want):
        if np.isnan(w) or np.isinf(w):
            ok = np.isnan(g) if np.isnan(w) else g == w or (abs(x) == 0 and np.isinf(g))
        else:
            ok = np.isfinite(g) and abs(g - w) <= 1e-12 * abs(w) + 1e-305
        assert ok, f"{what} at x = {x!r}: got {g!r}, exact value rounds to {w!r}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_derivative_references_agree_with_mpmath_differentiation(name):
    _, value, derivative, _ = OPS[name]
    for x in (mpmath.mpf("0.7"), mpmath.mpf("-1.3"), mpmath.mpf("2.1")):
        assert mpmath.almosteq(mpmath.diff(value, x), derivative(x), rel_eps=1e-30)


@pytest.fixture(scope="module", params=["numpy", "numba"])
def backend(request):
    return request.param


_compiled = {}


def _compile(name, backend):
    if (name, backend) not in _compiled:
        x = sg.vector("x", len(POINTS))
        y = OPS[name][0](x)
        _compiled[name, backend] = Function([x], [y, sg.grad(y.sum(), x)], backend=backend)
    return _compiled[name, backend]


@pytest.mark.parametrize("name", sorted(OPS))
def test_value_and_gradient_at_extreme_points_match_exact_values(name, backend):
    value, grad = _compile(name, backend)(POINTS)
    want_value, want_grad = _references(name)
    _assert_same_floats(value, want_value, f"{name} value ({backend})")
    _assert_same_floats(grad, want_grad, f"{name} gradient ({backend})")



@pytest.mark.parametrize("name", sorted(OPS))
def test_nan_input_gives_nan_value(name, backend):
    # relu(nan) and abs(nan) were 0 (the formulas' last piece was a constant): fixed
    x = np.array([np.nan, 1.0, np.nan])
    f = _compile(name, backend)
    value, _ = f(np.concatenate([x, POINTS[3:]]))
    assert np.isnan(value[0]) and np.isnan(value[2]) and not np.isnan(value[1])
