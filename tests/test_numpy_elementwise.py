"""NumPy's elementwise spellings (symgrad/elementwise_ops.py): tan ... arctanh and
their aliases, log2, log10, exp2, cbrt, square, reciprocal, rsqrt, sign, floor,
ceil, trunc, round, hypot, arctan2, logaddexp, sinc, erf, erfc, erfinv, log1p,
expm1, fmax, fmin, mod, clip, isnan, isfinite, isinf.

One table of cases against NumPy / SciPy references (values, gradients and
Hessian-vector products against finite differences, tests/op_checks.py), then
one compiled function each for: float32 inputs, integer inputs, extreme values,
nan and inf. Derivative conventions at kinks use ``.eval`` (the NumPy
interpreter, no compile). Numba compiles in this file: 6.
"""
import numpy as np
import pytest
import scipy.special

import symgrad as sg

from op_checks import Case, check_cases

RNG = np.random.default_rng(1414)


def _normal(*shape):
    return RNG.standard_normal(shape)


def _uniform(lo, hi, *shape):
    return RNG.uniform(lo, hi, shape)


def _signed(lo, hi, *shape):
    """Entries of size lo..hi with random signs."""
    return RNG.uniform(lo, hi, shape) * RNG.choice([-1.0, 1.0], shape)


def _off_grid(*shape, step=1.0):
    """Entries at least step / 10 away from every multiple of step / 2: away from
    the jumps of floor, ceil and trunc (integers) and round (halves)."""
    return step * (RNG.integers(-12, 12, shape) / 2 + RNG.uniform(0.1, 0.4, shape))


def _mod_points(n):
    """(a, b) with a / b at least 0.1 away from an integer: away from mod's jumps."""
    b = _signed(0.5, 2.0, n)
    a = b * (RNG.integers(-4, 4, n) + RNG.uniform(0.1, 0.9, n))
    return a, b


_A, _B = _mod_points(6)
_HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999999999999994])


SMOOTH = [
    Case("tan", sg.tan, [_uniform(-1.2, 1.2, 6)], np.tan),
    Case("arcsin", sg.arcsin, [_uniform(-0.9, 0.9, 6)], np.arcsin),
    Case("arccos", sg.arccos, [_uniform(-0.9, 0.9, 6)], np.arccos),
    Case("arctan", sg.arctan, [3 * _normal(6)], np.arctan),
    Case("sinh", sg.sinh, [2 * _normal(2, 3)], np.sinh),
    Case("cosh", sg.cosh, [2 * _normal(2, 3)], np.cosh),
    Case("arcsinh", sg.arcsinh, [3 * _normal(6)], np.arcsinh),
    Case("arccosh", sg.arccosh, [_uniform(1.2, 4.0, 6)], np.arccosh),
    Case("arctanh", sg.arctanh, [_uniform(-0.9, 0.9, 6)], np.arctanh),
    Case("log2", sg.log2, [_uniform(0.2, 5.0, 6)], np.log2),
    Case("log10", sg.log10, [_uniform(0.2, 5.0, 6)], np.log10),
    Case("exp2", sg.exp2, [3 * _normal(6)], np.exp2),
    Case("cbrt", sg.cbrt, [_signed(0.3, 8.0, 6)], np.cbrt),
    Case("square", sg.square, [_normal(2, 3)], np.square),
    Case("reciprocal", sg.reciprocal, [_signed(0.3, 3.0, 6)], np.reciprocal),
    Case("rsqrt", sg.rsqrt, [_uniform(0.2, 5.0, 6)], lambda x: 1 / np.sqrt(x)),
    Case("erf", sg.erf, [2 * _normal(6)], scipy.special.erf),
    Case("erfc", sg.erfc, [2 * _normal(6)], scipy.special.erfc),
    Case("erfinv", sg.erfinv, [_uniform(-0.99, 0.99, 6)], scipy.special.erfinv),
    Case("log1p", sg.log1p, [np.array([-0.5, 1e-12, 0.3, 2.0, 7.0])], np.log1p),
    Case("expm1", sg.expm1, [np.array([-3.0, -1e-12, 1e-9, 0.3, 2.0])], np.expm1),
    Case("hypot", sg.hypot, [_normal(2, 3), _normal(3)], np.hypot),
    Case("arctan2", sg.arctan2, [_normal(6), _normal(6)], np.arctan2),
    Case("hypot over a named dimension", sg.hypot, [_normal(5), _normal(5)], np.hypot,
         dims={0: ("n",), 1: ("n",)}),
]


def _steps(m, x):
    """x + the step functions of x: their gradients are 0, so the whole gradient
    is 1 (finite differences of the reference check that none leaks through)."""
    return (x + m.sign(x) + m.floor(x) + m.ceil(x) + m.trunc(x) + m.round(x)
            + 2 * m.round(x / 100, 2) + m.round(10 * x, -1))


def _masks(m, x):
    return x + 2 * m.isnan(x) + 3 * m.isfinite(x) + 4 * m.isinf(x)


PIECEWISE = [
    Case("sign, floor, ceil, trunc, round", lambda x: _steps(sg, x), [_off_grid(6)],
         lambda x: _steps(np, x)),
    Case("round halves to even", lambda x: sg.concatenate([sg.round(x), sg.round(x / 10, 1)]),
         [_HALVES], lambda x: np.concatenate([np.round(x), np.round(x / 10, 1)]), wrt=()),
    Case("isnan, isfinite, isinf", lambda x: _masks(sg, x), [_normal(4)], lambda x: _masks(np, x)),
    Case("logaddexp", sg.logaddexp, [3 * _normal(2, 3), 3 * _normal(2, 3)], np.logaddexp),
    Case("logaddexp with a number", lambda a: sg.logaddexp(a, 0.5), [_normal(4)],
         lambda a: np.logaddexp(a, 0.5)),
    Case("sinc", sg.sinc, [np.array([0.0, 1e-3, -0.05, 0.0999, 0.1001, -0.7, 1.3, 2.5, -3.7])],
         np.sinc),
    Case("fmax", sg.fmax, [_normal(2, 3), _normal(2, 3)], np.fmax),
    Case("fmin", sg.fmin, [_normal(2, 3), _normal(3)], np.fmin),
    Case("mod", sg.mod, [_A, _B], np.mod),
    Case("remainder by a number", lambda a: sg.remainder(a, 0.75), [np.array([-2.0, -0.4, 0.3, 1.9])],
         lambda a: np.remainder(a, 0.75)),
    Case("clip", lambda x: sg.clip(x, -0.5, 0.5), [np.array([-1.3, -0.4, 0.1, 0.45, 0.7])],
         lambda x: np.clip(x, -0.5, 0.5)),
    Case("clip by expressions", sg.clip,
         [np.array([-1.3, -0.4, 0.1, 0.45, 0.7]), _uniform(-1.0, -0.6, 5), np.array([0.6])],
         np.clip),
    Case("clip, a_min only", lambda x, lo: sg.clip(x, lo, None),
         [np.array([-1.3, -0.4, 0.1, 0.7]), np.array([0.0, -0.2, 0.3, 0.0])],
         lambda x, lo: np.clip(x, lo, None)),
    Case("clip, a_max only", lambda x: sg.clip(x, a_max=0.2), [np.array([-1.3, 0.1, 0.7])],
         lambda x: np.clip(x, None, 0.2)),
    Case("clip, a_min > a_max gives a_max", lambda x: sg.clip(x, 1.0, 0.0),
         [np.array([-1.3, 0.5, 1.7])], lambda x: np.clip(x, 1.0, 0.0), wrt=()),
]


def test_smooth_table():
    check_cases(SMOOTH, backend="numpy")


def test_piecewise_table():
    check_cases(PIECEWISE, backend="numpy")


def test_aliases():
    """NumPy 2's short names are the same functions."""
    assert (sg.asin, sg.acos, sg.atan, sg.asinh, sg.acosh, sg.atanh, sg.atan2, sg.remainder) == (
        sg.arcsin, sg.arccos, sg.arctan, sg.arcsinh, sg.arccosh, sg.arctanh, sg.arctan2, sg.mod)


UNARY = {
    "tan": (sg.tan, np.tan), "arcsin": (sg.arcsin, np.arcsin), "arccos": (sg.arccos, np.arccos),
    "arctan": (sg.arctan, np.arctan), "sinh": (sg.sinh, np.sinh), "cosh": (sg.cosh, np.cosh),
    "arcsinh": (sg.arcsinh, np.arcsinh), "arctanh": (sg.arctanh, np.arctanh),
    "log2": (sg.log2, np.log2), "log10": (sg.log10, np.log10), "exp2": (sg.exp2, np.exp2),
    "cbrt": (sg.cbrt, np.cbrt), "square": (sg.square, np.square),
    "reciprocal": (sg.reciprocal, np.reciprocal), "sign": (sg.sign, np.sign),
    "floor": (sg.floor, np.floor), "ceil": (sg.ceil, np.ceil), "trunc": (sg.trunc, np.trunc),
    "round": (sg.round, np.round), "sinc": (sg.sinc, np.sinc), "erf": (sg.erf, scipy.special.erf),
    "erfc": (sg.erfc, scipy.special.erfc), "erfinv": (sg.erfinv, scipy.special.erfinv),
    "log1p": (sg.log1p, np.log1p),
    "expm1": (sg.expm1, np.expm1), "rsqrt": (sg.rsqrt, lambda x: 1 / np.sqrt(x)),
    "isnan": (sg.isnan, lambda x: np.isnan(x).astype(x.dtype)),
    "isfinite": (sg.isfinite, lambda x: np.isfinite(x).astype(x.dtype)),
}
BINARY = {
    "hypot": (sg.hypot, np.hypot), "arctan2": (sg.arctan2, np.arctan2),
    "logaddexp": (sg.logaddexp, np.logaddexp), "fmax": (sg.fmax, np.fmax),
    "fmin": (sg.fmin, np.fmin), "mod": (sg.mod, np.mod), "clip": (
        lambda a, b: sg.clip(a, -0.5, b), lambda a, b: np.clip(a, np.float32(-0.5), b)),
}


def test_float32_stays_float32():
    """Every op of a float32 input is float32, computed as NumPy's float32 ufunc,
    and so are its gradients."""
    x = sg.vector("x", 6, dtype="float32")
    y = sg.vector("y", 6, dtype="float32")
    xv = np.array([0.3, -0.7, 0.45, 0.9, -0.2, 0.6], dtype=np.float32)
    yv = np.array([0.5, 0.1, -0.8, 1.5, -0.3, 0.2], dtype=np.float32)
    outs = [op(x) for op, _ in UNARY.values()] + [op(x, y) for op, _ in BINARY.values()]
    cost = sum((o * o).sum() for o in outs[:-1])
    outs += sg.grad(cost, [x, y])
    got = sg.function([x, y], outs, backend="numpy")(xv, yv)
    with np.errstate(invalid="ignore"):  # log2 and rsqrt of negatives: nan, both sides
        wants = [ref(xv) for _, ref in UNARY.values()] + [ref(xv, yv) for _, ref in BINARY.values()]
    for name, value, want in zip([*UNARY, *BINARY], got, wants):
        assert want.dtype == np.float32, name
        assert value.dtype == np.float32, f"{name}: {value.dtype}"
        np.testing.assert_allclose(value, want, rtol=2e-6, atol=1e-7, err_msg=name)
    assert got[-2].dtype == np.float32 and got[-1].dtype == np.float32


def test_integer_inputs():
    """Integer inputs give floats where NumPy does (tan, log2, ...) and stay
    integers where NumPy keeps them (square, sign, floor, round, mod, fmax, clip)."""
    i = sg.vector("i", 5, dtype="int64")
    j = sg.vector("j", 5, dtype="int64")
    iv = np.array([-7, -1, 0, 3, 8])
    jv = np.array([3, -2, 5, -4, 3])
    pairs = [
        (sg.tan(i), np.tan(iv)), (sg.arctan(i), np.arctan(iv)), (sg.log2(abs(i) + 1), np.log2(abs(iv) + 1)),
        (sg.exp2(i), np.exp2(iv)), (sg.cbrt(i), np.cbrt(iv)), (sg.sinc(i), np.sinc(iv)),
        (sg.erf(i), scipy.special.erf(iv)), (sg.hypot(i, j), np.hypot(iv, jv)),
        (sg.arctan2(i, j), np.arctan2(iv, jv)), (sg.logaddexp(i, j), np.logaddexp(iv, jv)),
        (sg.reciprocal(j), 1.0 / jv),
        (sg.square(i), np.square(iv)), (sg.sign(i), np.sign(iv)), (sg.floor(i), np.floor(iv)),
        (sg.ceil(i), np.ceil(iv)), (sg.round(i), np.round(iv)), (sg.round(i, -1), np.round(iv, -1)),
        (sg.mod(i, j), np.mod(iv, jv)), (sg.mod(i, 3), np.mod(iv, 3)), (sg.fmax(i, j), np.fmax(iv, jv)),
        (sg.fmin(i, j), np.fmin(iv, jv)), (sg.clip(i, -2, 4), np.clip(iv, -2, 4)),
        (sg.clip(i, 0.5, None), np.clip(iv, 0.5, None)), (sg.mod(i, 2.5), np.mod(iv, 2.5)),
    ]
    got = sg.function([i, j], [e for e, _ in pairs], backend="numpy")(iv, jv)
    for (e, want), value in zip(pairs, got):
        assert e.dtype == want.dtype.name == value.dtype.name, (e.name, e.dtype, want.dtype, value.dtype)
        np.testing.assert_allclose(value, want, rtol=1e-12, err_msg=e.name)
    assert sg.floor(i) is i and sg.round(i) is i


def test_extreme_values():
    """logaddexp, sinc and hypot where the textbook formulas overflow, underflow or
    cancel, values and gradients against NumPy and the limits; erfinv up to ±1
    against SciPy; round to decimals bit for bit."""
    a, b = sg.vector("a", 7), sg.vector("b", 7)
    av = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0, 800.0, -745.0])
    bv = np.array([1000.0, -1000.0, -1000.0, 1000.0, 1000.0, 799.0, -746.0])
    x = sg.vector("x", 8)
    xv = np.array([0.0, 1e-300, 1e-8, -1e-5, 1e6 + 0.5, -3e7 + 0.25, 1e15, 2.0])
    p, q = sg.vector("p", 4), sg.vector("q", 4)
    pv = np.array([1e200, 1e-200, 3e300, 0.0])
    qv = np.array([1e200, 1e-200, 4e300, 5e-310])
    s = sg.scalar("s")
    r = sg.vector("r", 8)
    rv = np.array([0.565, 0.575, 0.57, 1.005, 2.675, -0.285, 1234.5678, -0.0049999])
    e = sg.vector("e", 2 * 53 + 8)
    tail = 1 - 2.0 ** -np.arange(1, 54)  # up to the last double below 1, where erf rounds to 1
    ev = np.concatenate([tail, -tail, [0.0, -0.0, 1e-300, 0.5, 1.0, -1.0, 1.5, np.nan]])
    lae = sg.logaddexp(a, b)
    outs = [lae, *sg.grad(lae.sum(), [a, b]), sg.logaddexp(a, 1000.0),
            sg.sinc(x), sg.grad(sg.sinc(x).sum(), x), sg.grad(sg.grad(sg.sinc(s), s), s),
            sg.hypot(p, q), *sg.grad(sg.hypot(p[:3], q[:3]).sum(), [p, q]), sg.erfinv(e),
            sg.round(r, 2), sg.round(r, -2), sg.round(r * 100, 3)]
    f = sg.function([a, b, x, p, q, s, e, r], outs, backend="numpy")
    (v, ga, gb, v1000, sinc, dsinc, d2sinc0, h, gp, gq, erfinv, *rounded) = \
        f(av, bv, xv, pv, qv, 0.0, ev, rv)
    for value, want in zip(rounded, [np.round(rv, 2), np.round(rv, -2), np.round(rv * 100, 3)]):
        np.testing.assert_array_equal(value, want)  # bit for bit: a division, as NumPy's
    np.testing.assert_allclose(erfinv, scipy.special.erfinv(ev), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(v, np.logaddexp(av, bv), rtol=1e-15)
    np.testing.assert_allclose(v1000, np.logaddexp(av, 1000.0), rtol=1e-15)
    with np.errstate(over="ignore"):
        soft = 1 / (1 + np.exp(bv - av))  # d/da; exp overflows to inf, giving 0
    np.testing.assert_allclose(ga, soft, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(gb, 1 - soft, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(sinc, np.sinc(xv), rtol=1e-13, atol=1e-300)
    with np.errstate(all="ignore"):
        px = np.pi * xv
        want = (np.cos(px) * px - np.sin(px)) / (px * xv)
    small = np.abs(xv) < 1e-3  # where that formula cancels: the Taylor series
    want[small] = -np.pi ** 2 / 3 * xv[small] + np.pi ** 4 / 30 * xv[small] ** 3
    np.testing.assert_allclose(dsinc, want, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(d2sinc0, -np.pi ** 2 / 3, rtol=1e-14)
    np.testing.assert_allclose(h, np.hypot(pv, qv), rtol=1e-15)
    np.testing.assert_allclose(gp, [np.sqrt(0.5), np.sqrt(0.5), 0.6, 0.0], rtol=1e-14)
    np.testing.assert_allclose(gq, [np.sqrt(0.5), np.sqrt(0.5), 0.8, 0.0], rtol=1e-14)


def test_nan_and_inf():
    """isnan / isfinite / isinf see nan and inf in compiled code; fmax and fmin
    ignore a nan; the other ops propagate them as NumPy does."""
    x, y = sg.vector("x", 7), sg.vector("y", 7)
    nan, inf = np.nan, np.inf
    xv = np.array([nan, inf, -inf, 1.0, nan, -0.0, 2.0])
    yv = np.array([1.0, nan, 3.0, nan, nan, inf, -inf])
    with np.errstate(all="ignore"):  # the references compute nan and inf
        pairs = [
            (sg.isnan(x), np.isnan(xv).astype(float)), (sg.isfinite(x), np.isfinite(xv).astype(float)),
            (sg.isinf(x), np.isinf(xv).astype(float)), (sg.isnan(x + y), np.isnan(xv + yv).astype(float)),
            (sg.fmax(x, y), np.fmax(xv, yv)), (sg.fmin(x, y), np.fmin(xv, yv)),
            (sg.fmax(x, 0.5), np.fmax(xv, 0.5)), (sg.fmin(0.5, y), np.fmin(0.5, yv)),
            (sg.sign(x), np.sign(xv)), (sg.round(x), np.round(xv)), (sg.floor(y), np.floor(yv)),
            (sg.clip(x, -1.0, 1.0), np.clip(xv, -1.0, 1.0)), (sg.mod(x, y), np.mod(xv, yv)),
            (sg.mod(y, 0.0), np.full(7, nan)), (sg.hypot(x, y), np.hypot(xv, yv)),
            (sg.logaddexp(x, y), np.logaddexp(xv, yv)), (sg.logaddexp(x, x), np.logaddexp(xv, xv)),
            (sg.sinc(x), np.sinc(xv)), (sg.cbrt(x), np.cbrt(xv)), (sg.exp2(x), np.exp2(xv)),
            (sg.arctan2(x, y), np.arctan2(xv, yv)),
            # a gradient through fmax goes to the argument that is not nan
            (sg.grad(sg.fmax(x, y).sum(), x), np.array([0.0, 1, 0, 1, 1, 0, 1])),
        ]
    got = sg.function([x, y], [e for e, _ in pairs], backend="numpy")(xv, yv)
    for k, ((e, want), value) in enumerate(zip(pairs, got)):
        np.testing.assert_allclose(value, want, rtol=1e-14, atol=1e-15, err_msg=f"{k}: {e.name}")


def test_derivative_conventions():
    """PyTorch's conventions where a derivative is undefined: sign, floor, round
    give 0; clip passes the gradient at its bounds (torch.clamp); fmax / fmin
    give a tie to the first argument; masks pass no gradient."""
    x = sg.vector("x", 5)
    xv = {x: [-1.0, 0.0, 0.5, 1.0, 2.0]}
    for op in (sg.sign, sg.floor, sg.ceil, sg.round, sg.trunc, sg.isnan, sg.isfinite, sg.isinf):
        g = sg.grad(op(x).sum() + x.sum(), x).eval(xv)
        np.testing.assert_array_equal(g, np.ones(5), err_msg=op.__name__)
        g = sg.grad(op(x).sum(), x).eval(xv)  # in the graph: zeros, not disconnected
        np.testing.assert_array_equal(g, np.zeros(5), err_msg=op.__name__)
    np.testing.assert_array_equal(sg.grad(sg.clip(x, 0.0, 1.0).sum(), x).eval(xv), [0, 1, 1, 1, 0])
    lo, hi = sg.scalar("lo"), sg.scalar("hi")
    g_lo, g_hi = sg.grad(sg.clip(x, lo, hi).sum(), [lo, hi])
    values = {**xv, lo: 0.0, hi: 1.0}
    assert float(g_lo.eval(values)) == 1.0 and float(g_hi.eval(values)) == 1.0
    a, b = sg.scalar("a"), sg.scalar("b")
    for op in (sg.fmax, sg.fmin):
        ga, gb = sg.grad(op(a, b), [a, b])
        assert (float(ga.eval({a: 1.0, b: 1.0})), float(gb.eval({a: 1.0, b: 1.0}))) == (1.0, 0.0)
    assert float(sg.grad(sg.mod(a, b), b).eval({a: 7.0, b: 2.0})) == -3.0


def test_errors():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match="decimals must be an int"):
        sg.round(x, 1.5)
    assert sg.clip(x) is x
    with pytest.raises(sg.ShapeError):
        sg.hypot(x, sg.vector("y", 4))
