"""codegen.vmath against NumPy: ulp errors over the whole range, special values,
and that a loop calling them is vectorised by LLVM."""
import math
import re

import mpmath
import numba
import numpy as np
import pytest

from symgrad_codegen import vmath

FUNCTIONS = {  # name: (vmath function, NumPy reference, largest |x| worth drawing)
    "exp": (vmath.vexp, np.exp, 720.0),
    "expm1": (vmath.vexpm1, np.expm1, 720.0),
    "log": (vmath.vlog, np.log, 1.7e308),
    "log1p": (vmath.vlog1p, np.log1p, 1.7e308),
    "sin": (vmath.vsin, np.sin, vmath.SIN_COS_LIMIT),
    "cos": (vmath.vcos, np.cos, vmath.SIN_COS_LIMIT),
    "tanh": (vmath.vtanh, np.tanh, 30.0),
}
MAX_ULP = {"tanh": 3.0, "expm1": 2.0, "sin": 2.0, "cos": 2.0}
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 5e-324, -5e-324,
                    2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                    709.78, 709.79, -745.13, -745.14, 1e-300, -1e-300, 0.5, -0.5, 1e-17,
                    -1e-17, math.pi, math.pi / 2, -math.pi / 4, 2.0 ** 49, -(2.0 ** 49) + 0.5])


def _loop_over(function):
    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = function(x[i])
    return loop


@pytest.fixture(scope="module")
def loops():
    return {name: _loop_over(f) for name, (f, _, _) in FUNCTIONS.items()}


def _samples(limit, rng):
    """Uniform values in [-limit, limit], then log-uniform magnitudes from 1e-310 up to
    ``limit`` with both signs: every binade is visited."""
    uniform = rng.uniform(-1.0, 1.0, 20000) * limit
    magnitude = 10.0 ** rng.uniform(-310, math.log10(limit), 40000)
    small = rng.uniform(-4.0, 4.0, 20000)
    return np.concatenate([uniform, magnitude * rng.choice([-1.0, 1.0], 40000), small])


def _ulp_error(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_a_couple_of_ulp_of_numpy_over_the_whole_range(name, loops):
    _, reference, limit = FUNCTIONS[name]
    x = _samples(limit, np.random.default_rng(sum(map(ord, name))))
    got = np.empty_like(x)
    loops[name](x, got)
    with np.errstate(all="ignore"):
        want = reference(x)
    finite = np.isfinite(want) & (want != 0)
    assert finite.sum() > 30000
    # NumPy's own result may be 1 ulp off the true value: allow ours that plus ours
    assert _ulp_error(got[finite], want[finite]).max() <= MAX_ULP.get(name, 1.0) + 1.0
    assert np.array_equal(got[~finite], want[~finite], equal_nan=True)
    signed = ~finite & ~np.isnan(want)  # zeros and infinities keep their sign
    assert np.array_equal(np.signbit(got[signed]), np.signbit(want[signed]))


@pytest.mark.parametrize("name", ["exp", "log", "sin", "tanh"])
def test_against_the_correctly_rounded_value(name, loops):
    """An independent reference: mpmath at 100 digits, rounded to the nearest double."""
    function = {"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "tanh": mpmath.tanh}
    x = np.random.default_rng(7).uniform(0.001, 40.0, 300)
    got = np.empty_like(x)
    loops[name](x, got)
    with mpmath.workdps(100):
        want = np.array([float(function[name](mpmath.mpf(v))) for v in x])
    assert _ulp_error(got, want).max() <= MAX_ULP.get(name, 1.0)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_as_numpy(name, loops):
    _, reference, limit = FUNCTIONS[name]
    x = SPECIAL[np.isnan(SPECIAL) | (np.abs(SPECIAL) < limit) | np.isinf(SPECIAL)]
    got = np.empty_like(x)
    loops[name](x, got)
    with np.errstate(all="ignore"):
        want = reference(x)
    exact = ~np.isfinite(want) | (want == 0) | ~np.isfinite(x)
    assert np.array_equal(got[exact], want[exact], equal_nan=True), x[exact]
    assert np.array_equal(np.signbit(got[exact & ~np.isnan(want)]),
                          np.signbit(want[exact & ~np.isnan(want)]))
    assert _ulp_error(got[~exact], want[~exact]).max() <= MAX_ULP.get(name, 1.0) + 1.0


def test_sin_and_cos_give_nan_beyond_their_exact_reduction_range(loops):
    x = np.array([vmath.SIN_COS_LIMIT, -vmath.SIN_COS_LIMIT * 4, 1e300])
    for name in ("sin", "cos"):
        got = np.empty_like(x)
        loops[name](x, got)
        assert np.isnan(got).all()


def test_pi_over_two_in_four_parts_sums_to_pi_over_two():
    with mpmath.workdps(80):
        total = sum(mpmath.mpf(c) for c in vmath._PIO2)
        assert abs(total - mpmath.pi / 2) < mpmath.mpf(2) ** -200
        assert mpmath.mpf(vmath._LN2_HI) + mpmath.mpf(vmath._LN2_LO) - mpmath.log(2) < 1e-25


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_loop_calling_it_is_vectorised(name, loops):
    loop = loops[name]
    loop(np.linspace(0.1, 2.0, 16), np.empty(16))
    llvm = loop.inspect_llvm(loop.signatures[0])
    assert re.search(r"<(4|8) x double>", llvm), f"the {name} loop was not vectorised"
    assert not re.search(r"call [^@]*@(exp|log|sin|cos|tanh|expm1|log1p)\b", llvm)


def test_float32_arguments_compute_in_float64():
    f = numba.njit(lambda v: vmath.vexp(v))
    assert f(np.float32(1.5)) == pytest.approx(math.exp(1.5), rel=1e-15)


def test_a_block_with_a_huge_sin_argument_is_computed_again_with_libm():
    import symgrad as sg
    x = sg.vector("x", 1500)
    f = sg.value_and_grad((sg.sin(x) * sg.cos(2 * x)).sum(), x, inputs=[x], backend="numba")
    assert "if huge" in f.source and "math.sin(" in f.source
    values = np.random.default_rng(3).uniform(-3.0, 3.0, 1500)
    values[[700, 701, 1400]] = [1e300, -(2.0 ** 60), 3e15]  # the 2nd and 3rd blocks of 512
    cost, grad = f(values)
    want_grad = np.cos(values) * np.cos(2 * values) - 2 * np.sin(values) * np.sin(2 * values)
    assert cost == pytest.approx(np.sum(np.sin(values) * np.cos(2 * values)), rel=1e-13)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15)


def _both_backends(inputs, outputs, values):
    import symgrad as sg
    return [sg.function(inputs, outputs, backend=b, cache=False)(*values)
            for b in ("numba", "numpy")]


def test_a_block_recomputed_with_libm_does_not_read_what_it_overwrote():
    """A loop may store its result over a dead input it has loaded (here the
    product x @ w); recomputing such a block would read its own results."""
    import symgrad as sg
    x, w = sg.matrix("x", 1, 4), sg.matrix("w", 4, 6)
    t = x @ w
    W = np.zeros((4, 6))
    W[:, 0] = 2.0 ** 49  # t[0, 0] = 2**51, beyond vsin's exact range
    got, want = _both_backends([x, w], sg.exp(t) + sg.sin(t), (np.ones((1, 4)), W))
    np.testing.assert_array_equal(got, want)
    cost = sg.sin(x @ w).sum()
    outputs = [cost] + sg.grad(cost, [x, w])
    W = np.full((4, 6), 0.5)
    W[0, 0] = 2.0 ** 52
    got, want = _both_backends([x, w], outputs, (np.ones((1, 4)), W))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def test_second_derivatives_of_sin_at_huge_arguments():
    import symgrad as sg
    s, T, r = sg.scalar("s"), sg.tensor("T", (1, 1, 1)), sg.scalar("r")
    cost = sg.sum(sg.sin((T + s) * 1.3 + 0.4))
    gs, gT = sg.grad(cost, [s, T])
    outputs = [cost, gs, gT] + sg.grad(gs * r, [s, T])
    values = (np.array(-3e15), np.full((1, 1, 1), -3e15), np.array(0.5))
    got, want = _both_backends([s, T, r], outputs, values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
