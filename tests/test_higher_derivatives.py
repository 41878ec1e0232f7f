"""Second and third derivatives where an intermediate gradient is exactly zero.

Derived gradients guard their products so that a zero upstream gradient
gives an exact zero even where a local derivative is inf or nan. The guard
must not change the mathematics: differentiated again it behaves as the plain
product (issue 11, bug 0: sg.grad(sg.grad(sin(s) * s, s), s) at s = 0 was 1,
not 2). References are SymPy's derivatives of the closed-form composite,
evaluated numerically, and hand-derived NumPy formulas; both backends.
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401  (runs both backends itself)
from reference import assert_close

BACKENDS = ("numpy", "numba")
T = sympy.Symbol("t", real=True)

# (name, symgrad op, the same op as a SymPy formula, a point away from kinks)
OPS = [
    ("exp", sg.exp, sympy.exp, 0.3),
    ("log", sg.log, sympy.log, 1.7),
    ("sin", sg.sin, sympy.sin, 0.4),
    ("cos", sg.cos, sympy.cos, 0.9),
    ("tanh", sg.tanh, sympy.tanh, -0.6),
    ("sqrt", sg.sqrt, sympy.sqrt, 2.3),
    ("sigmoid", sg.sigmoid, lambda t: 1 / (1 + sympy.exp(-t)), 0.8),
    ("softplus", sg.softplus, lambda t: sympy.log(1 + sympy.exp(t)), -1.1),
    ("abs", sg.abs, sympy.Abs, -0.7),
    ("relu", sg.relu, lambda t: t, 0.6),
    ("leaky_relu", lambda x: sg.leaky_relu(x, 0.1), lambda t: 0.1 * t, -0.6),
    ("hardtanh", sg.hardtanh, lambda t: t, 0.35),
    ("maximum", lambda x: sg.maximum(x * x, 0.2), lambda t: t * t, 0.9),
    ("minimum", lambda x: sg.minimum(x * x * x, 5.0), lambda t: t ** 3, 1.2),
    ("pow", lambda x: x ** 2.5, lambda t: t ** 2.5, 1.3),
    ("rpow", lambda x: 1.7 ** x, lambda t: 1.7 ** t, 0.5),
    ("div", lambda x: 1 / (1 + x * x), lambda t: 1 / (1 + t * t), 0.7),
    ("swish", sg.elementwise(lambda t: t / (1 + sympy.exp(-t)), name="swish"),
     lambda t: t / (1 + sympy.exp(-t)), 0.45),
    ("erf", sg.elementwise(lambda t: sympy.erf(t)), sympy.erf, 0.3),
]


def _reference(formula, c, order):
    return float(sympy.diff(formula(T), T, order).subs(T, c).evalf(30))


@pytest.fixture(scope="module", params=BACKENDS)
def compiled(request):
    """For every op f at its point c, one function of scalars x giving the second
    and third derivatives of f(x) (x - c) and of (f(x) - f(c))**2: at x = c the
    first-order upstream gradient reaching f is exactly zero in both."""
    xs, outputs = [], []
    for name, op, formula, c in OPS:
        for pattern in ("times_zero", "zero_residual"):
            x = sg.scalar(f"{name}_{pattern}")
            fc = float(formula(sympy.Float(c, 30)))
            cost = op(x) * (x - c) if pattern == "times_zero" else (op(x) - fc) ** 2
            d2 = sg.grad(sg.grad(cost, x), x)
            xs.append(x)
            outputs += [d2, sg.grad(d2, x)]
    fn = sg.function(xs, outputs, backend=request.param)
    values = fn(*[c for _, _, _, c in OPS for _ in range(2)])
    return {x.name: (values[2 * i], values[2 * i + 1]) for i, x in enumerate(xs)}


@pytest.mark.parametrize("name, op, formula, c", OPS, ids=[o[0] for o in OPS])
def test_second_and_third_derivative_where_the_upstream_gradient_is_zero(compiled, name, op, formula, c):
    f1, f2, f3 = (_reference(formula, c, k) for k in (1, 2, 3))
    d2, d3 = compiled[f"{name}_times_zero"]
    # (f(x) (x - c))'' = 2 f' + f'' (x - c), ''' = 3 f'' + f''' (x - c)
    assert_close(d2, 2 * f1, rtol=1e-10, what=f"{name}: d2 of f(x) (x - c)")
    assert_close(d3, 3 * f2, rtol=1e-9, atol=1e-12, what=f"{name}: d3 of f(x) (x - c)")
    d2, d3 = compiled[f"{name}_zero_residual"]
    # ((f - f(c))**2)'' = 2 f'^2 at x = c, ''' = 6 f' f''
    assert_close(d2, 2 * f1 ** 2, rtol=1e-10, what=f"{name}: d2 of (f - f(c))**2")
    assert_close(d3, 6 * f1 * f2, rtol=1e-9, atol=1e-12, what=f"{name}: d3 of (f - f(c))**2")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_reported_case_sin_s_times_s_at_zero(backend):
    s = sg.scalar("s")
    d1 = sg.grad(sg.sin(s) * s, s)
    d2 = sg.grad(d1, s)
    d3 = sg.grad(d2, s)
    got = sg.function([s], [d1, d2, d3], backend=backend)(0.0)
    # sin(s) s: d1 = s cos s + sin s, d2 = 2 cos s - s sin s, d3 = -3 sin s - s cos s
    assert_close(np.array(got, dtype=float), [0.0, 2.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gauss_newton_hessian_at_a_zero_residual_point(backend):
    rng = np.random.default_rng(7)
    X, w, y = sg.matrix("X", 5, 2), sg.vector("w", 2), sg.vector("y", 5)
    H = sg.hessian(((sg.tanh(X @ w) - y) ** 2).sum(), w)
    Xv, wv = rng.normal(size=(5, 2)), rng.normal(size=2)
    yv = np.tanh(Xv @ wv)                      # every residual is zero
    J = (1 - np.tanh(Xv @ wv) ** 2)[:, None] * Xv
    got = sg.function([X, w, y], H, backend=backend)(Xv, wv, yv)
    assert_close(got, 2 * J.T @ J, rtol=1e-12)
    assert np.abs(got).min() > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_by_double_reverse_mode_at_zero_cotangent(backend):
    """J v as d/du <vjp(u), v> at u = 0: every first-order upstream gradient is 0."""
    rng = np.random.default_rng(3)
    W, x = sg.matrix("W", 3, 4), sg.vector("x", 4)
    u, v = sg.vector("u", 3), sg.vector("v", 4)
    y = sg.sigmoid(W @ sg.tanh(x)) * sg.exp(0.5 * (W @ x))
    vjp = sg.grad((y * u).sum(), x)
    jvp = sg.grad((vjp * v).sum(), u)
    Wv, xv, vv = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)

    def y_np(x_):
        return 1 / (1 + np.exp(-(Wv @ np.tanh(x_)))) * np.exp(0.5 * (Wv @ x_))
    h = 1e-6
    expected = (y_np(xv + h * vv) - y_np(xv - h * vv)) / (2 * h)
    got = sg.function([W, x, u, v], jvp, backend=backend)(Wv, xv, np.zeros(3), vv)
    assert_close(got, expected, rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_untaken_where_branch_stays_harmless_at_second_order(backend):
    x = sg.scalar("x")
    f = sg.where(x > 0, sg.sqrt(x), 0.0)
    d2 = sg.grad(sg.grad(f, x), x)
    fn = sg.function([x], [d2, sg.grad(d2, x)], backend=backend)
    assert fn(-1.0) == [0.0, 0.0]                  # sqrt's derivatives are nan there
    assert_close(np.array(fn(4.0), dtype=float), [-0.25 * 4 ** -1.5, 0.375 * 4 ** -2.5])


# ------------------------------------------------ bug 5: d(c**y)/dy at c = 0

@pytest.mark.parametrize("backend", BACKENDS)
def test_derivative_of_zero_to_the_power_y(backend):
    y = sg.scalar("y")
    g = sg.grad(0.0 ** y, y)                      # raised while building before
    fn = sg.function([y], g, backend=backend)
    assert fn(2.0) == 0.0 and fn(0.5) == 0.0      # 0**y is constant 0 for y > 0 (autograd: 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_power_derivatives_at_a_zero_base(backend):
    x, y = sg.vector("x", 3), sg.scalar("y")
    gx, gy = sg.grad((x ** y).sum(), [x, y])
    fn = sg.function([x, y], [gx, gy], backend=backend)
    xv = np.array([0.0, 1.0, 2.0])
    got_x, got_y = fn(xv, 2.0)
    assert_close(got_x, 2 * xv)                   # y x**(y-1): 0 at x = 0, not 0/0
    assert_close(got_y, np.log(2.0) * 4.0)        # x**y log x: 0 at x = 0, not 0 * -inf
    got_x, _ = fn(xv, 0.5)
    assert got_x[0] == np.inf                     # 0.5 / sqrt(0), as NumPy and PyTorch


# ------------------------------------- bug 6: derivatives of floor / ceiling

STEP_FORMULAS = [
    ("floor(2t)", lambda t: sympy.floor(2 * t), lambda v: np.floor(2 * v), 0.0),
    ("ceiling(3t)", lambda t: sympy.ceiling(3 * t), lambda v: np.ceil(3 * v), 0.0),
    ("mod 3", lambda t: t - 3 * sympy.floor(t / 3), lambda v: np.mod(v, 3), 1.0),
    ("round", lambda t: sympy.floor(t + sympy.Rational(1, 2)), lambda v: np.floor(v + 0.5), 0.0),
    ("t floor(t**2)", lambda t: t * sympy.floor(t ** 2), lambda v: v * np.floor(v ** 2), None),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("label, formula, ref, slope", STEP_FORMULAS, ids=[s[0] for s in STEP_FORMULAS])
def test_derivatives_of_step_functions_of_expressions(backend, label, formula, ref, slope):
    t = sg.vector("t", 4)
    op = sg.elementwise(formula)
    g = sg.grad(op(t).sum(), t)
    assert "Subs" not in str(g.to_sympy())
    tv = np.array([0.3, 1.35, -2.2, 4.1])        # away from the jumps
    value, grad = sg.function([t], [op(t), g], backend=backend)(tv)
    assert_close(value, ref(tv))
    expected = np.full(4, slope) if slope is not None else np.floor(tv ** 2)
    assert_close(grad, expected)
