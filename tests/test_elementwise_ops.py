"""Elementwise ops, operators and ``sg.elementwise`` formulas: values and gradients.

Each op is described once (symgrad builder, NumPy reference, hand-derived
partial derivatives, sampling domain) and checked three ways: the value
against the NumPy formula, the gradient against the hand-derived derivative,
and the gradient against two-sided finite differences of the NumPy reference.
The cost is ``sum(w * op(x))`` with random weights ``w`` (never 1), so a
rule that ignores its upstream gradient fails. Sample points stay away from
kinks and ties; the kink conventions of API.md §2 have their own tests.
"""
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import sympy

import symgrad as sg
from reference import assert_close, numeric_grad

SHAPE = (3, 4)


# ---------------------------------------------------------------- helpers

def uniform(lo, hi, avoid=(), gap=0.05):
    """A sampler of U(lo, hi) values at least ``gap`` away from each point of ``avoid``."""
    def sample(rng, shape):
        x = rng.uniform(lo, hi, shape)
        bad = np.zeros(shape, bool)
        for k in avoid:
            bad |= np.abs(x - k) < gap
        while bad.any():
            x[bad] = rng.uniform(lo, hi, int(bad.sum()))
            bad[...] = False
            for k in avoid:
                bad |= np.abs(x - k) < gap
        return x
    return sample


def weights(rng, shape):
    """Upstream gradient weights: magnitudes in [0.5, 2], random signs, never all 1."""
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def sum_to(g, shape):
    """Sum the broadcast ``g`` back to ``shape`` (the reference for broadcasting)."""
    g = np.asarray(g, float)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, d in enumerate(shape):
        if d == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return np.broadcast_to(g, shape)


def check(build, ref, arrays, wrt=None, derivs=None, seed=0, names=None,
          rtol=1e-7, atol=1e-9, fd_rtol=1e-6, fd_atol=1e-7, shapes=None):
    """Value of ``build(*variables)`` vs ``ref(*arrays)``; gradient of
    sum(w * out) vs the hand-derived ``derivs`` and vs finite differences.

    ``shapes`` overrides the variables' declared shapes (e.g. named dims).
    """
    arrays = [np.asarray(a) for a in arrays]
    names = names or [f"x{i}" for i in range(len(arrays))]
    shapes = shapes or [a.shape for a in arrays]
    xs = [sg.tensor(n, s, dtype=a.dtype.name) for n, s, a in zip(names, shapes, arrays)]
    wrt = [k for k, a in enumerate(arrays) if a.dtype.kind == "f"] if wrt is None else wrt
    out = build(*xs)
    expected = np.asarray(ref(*arrays), dtype=float)
    assert out.ndim == expected.ndim
    w = weights(np.random.default_rng(seed + 1000), expected.shape)
    w_var = sg.tensor("upstream", out.shape)  # a variable, so named dims work too
    grads = sg.grad(sg.sum(out * w_var), [xs[k] for k in wrt])
    value, *got = sg.function(xs + [w_var], [out] + grads, backend="numpy")(*arrays, w)
    assert_close(value, expected, rtol=rtol, atol=atol, what="value")
    for k, g in zip(wrt, got):
        assert g.shape == arrays[k].shape, f"gradient of argument {k}: shape {g.shape}"

        def f(v, k=k):
            args = list(arrays)
            args[k] = v
            return np.sum(w * ref(*args))
        numeric = numeric_grad(f, [arrays[k]], 0)
        assert_close(g, numeric, rtol=fd_rtol, atol=fd_atol, what=f"d/d arg {k} vs differences")
        if derivs is not None:
            exact = sum_to(w * derivs[k](*arrays), arrays[k].shape)
            assert_close(g, exact, rtol=rtol, atol=atol, what=f"d/d arg {k} vs formula")
    return value, got


# ---------------------------------------------------------------- the table

@dataclass
class Op:
    name: str
    build: Callable          # symgrad: Exprs -> Expr
    ref: Callable            # NumPy: arrays -> array
    derivs: tuple            # hand-derived partial derivative per argument (NumPy; None: not in wrt)
    domains: tuple           # a sampler per argument
    wrt: tuple = None        # arguments to differentiate (default: all)

    def __repr__(self):
        return self.name


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _swish(t, beta):
    return t * _sigmoid(beta * t)


ANY = uniform(-3, 3)
POS = uniform(0.2, 4)
NONZERO = uniform(-3, 3, avoid=(0,), gap=0.2)
ones = np.ones_like
zeros = np.zeros_like

swish = sg.elementwise(lambda t, beta: t / (1 + sympy.exp(-beta * t)), name="swish")
cubic = sg.elementwise(lambda t: t ** 3 - 2 * t + sympy.sin(t), name="cubic")
three = sg.elementwise(lambda a, b, c: a * b + sympy.exp(c) * a - sympy.cos(b * c), name="three")
user_softplus = sg.elementwise(lambda t: sympy.log(1 + sympy.exp(t)), name="softplus")

OPS = [
    # math functions
    Op("exp", sg.exp, np.exp, (np.exp,), (ANY,)),
    Op("log", sg.log, np.log, (lambda x: 1 / x,), (POS,)),
    Op("sin", sg.sin, np.sin, (np.cos,), (ANY,)),
    Op("cos", sg.cos, np.cos, (lambda x: -np.sin(x),), (ANY,)),
    Op("tanh", sg.tanh, np.tanh, (lambda x: 1 - np.tanh(x) ** 2,), (ANY,)),
    Op("sqrt", sg.sqrt, np.sqrt, (lambda x: 0.5 / np.sqrt(x),), (POS,)),
    Op("abs", sg.abs, np.abs, (np.sign,), (NONZERO,)),
    Op("abs-builtin", lambda x: abs(x), np.abs, (np.sign,), (NONZERO,)),
    Op("sigmoid", sg.sigmoid, _sigmoid, (lambda x: _sigmoid(x) * (1 - _sigmoid(x)),), (ANY,)),
    Op("relu", sg.relu, lambda x: np.maximum(x, 0), (lambda x: (x > 0) * 1.0,), (NONZERO,)),
    Op("leaky_relu", sg.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
       (lambda x: np.where(x > 0, 1.0, 0.01),), (NONZERO,)),
    Op("leaky_relu-0.2", lambda x: sg.leaky_relu(x, alpha=0.2), lambda x: np.where(x > 0, x, 0.2 * x),
       (lambda x: np.where(x > 0, 1.0, 0.2),), (NONZERO,)),
    Op("prelu", sg.prelu, lambda x, a: np.where(x > 0, x, a * x),
       (lambda x, a: np.where(x > 0, 1.0, a), lambda x, a: np.where(x > 0, 0.0, x)),
       (NONZERO, uniform(0.05, 0.5))),
    Op("hardtanh", sg.hardtanh, lambda x: np.clip(x, -1, 1),
       (lambda x: (np.abs(x) < 1) * 1.0,), (uniform(-2.5, 2.5, avoid=(-1, 1), gap=0.1),)),
    Op("softplus", sg.softplus, lambda x: np.log1p(np.exp(x)), (_sigmoid,), (ANY,)),
    Op("maximum", sg.maximum, np.maximum,
       (lambda a, b: (a > b) * 1.0, lambda a, b: (b > a) * 1.0), (ANY, ANY)),
    Op("minimum", sg.minimum, np.minimum,
       (lambda a, b: (a < b) * 1.0, lambda a, b: (b < a) * 1.0), (ANY, ANY)),
    Op("where", lambda c, a, b: sg.where(c > 0, a, b), lambda c, a, b: np.where(c > 0, a, b),
       (None, lambda c, a, b: (c > 0) * 1.0, lambda c, a, b: (c <= 0) * 1.0),
       (NONZERO, ANY, ANY), wrt=(1, 2)),
    Op("where-mixed", lambda c, a: sg.where(c < 0.5, sg.sin(a) * c, c ** 2 + a),
       lambda c, a: np.where(c < 0.5, np.sin(a) * c, c ** 2 + a),
       (lambda c, a: np.where(c < 0.5, np.sin(a), 2 * c),
        lambda c, a: np.where(c < 0.5, np.cos(a) * c, 1.0)),
       (uniform(-3, 3, avoid=(0.5,), gap=0.1), ANY)),
    # operators
    Op("add", lambda a, b: a + b, np.add, (lambda a, b: ones(a), lambda a, b: ones(b)),
       (ANY, ANY)),
    Op("sub", lambda a, b: a - b, np.subtract, (lambda a, b: ones(a), lambda a, b: -ones(b)),
       (ANY, ANY)),
    Op("mul", lambda a, b: a * b, np.multiply, (lambda a, b: b, lambda a, b: a), (ANY, ANY)),
    Op("div", lambda a, b: a / b, np.divide, (lambda a, b: 1 / b, lambda a, b: -a / b ** 2),
       (ANY, NONZERO)),
    Op("pow", lambda a, b: a ** b, np.power,
       (lambda a, b: b * a ** (b - 1), lambda a, b: a ** b * np.log(a)), (POS, ANY)),
    Op("neg", lambda a: -a, np.negative, (lambda a: -ones(a),), (ANY,)),
    Op("radd", lambda a: 2.5 + a, lambda a: 2.5 + a, (ones,), (ANY,)),
    Op("rsub", lambda a: 3.0 - a, lambda a: 3.0 - a, (lambda a: -ones(a),), (ANY,)),
    Op("rmul", lambda a: 0.7 * a, lambda a: 0.7 * a, (lambda a: 0.7 * ones(a),), (ANY,)),
    Op("rdiv", lambda a: 2.0 / a, lambda a: 2.0 / a, (lambda a: -2.0 / a ** 2,), (NONZERO,)),
    Op("square", lambda a: a ** 2, np.square, (lambda a: 2 * a,), (ANY,)),
    Op("cube", lambda a: a ** 3, lambda a: a ** 3, (lambda a: 3 * a ** 2,), (ANY,)),
    Op("pow-half", lambda a: a ** 0.5, np.sqrt, (lambda a: 0.5 / np.sqrt(a),), (POS,)),
    Op("pow-neg", lambda a: a ** -2, lambda a: a ** -2.0, (lambda a: -2 * a ** -3.0,), (NONZERO,)),
    Op("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, (lambda a: 2.0 ** a * np.log(2.0),), (ANY,)),
    Op("self-product", lambda a: a * a, np.square, (lambda a: 2 * a,), (ANY,)),
    Op("self-quotient-chain", lambda a: sg.sin(a) / (a * a + 1), lambda a: np.sin(a) / (a * a + 1),
       (lambda a: (np.cos(a) * (a * a + 1) - 2 * a * np.sin(a)) / (a * a + 1) ** 2,), (ANY,)),
    # sg.elementwise formulas
    Op("user-cubic", cubic, lambda t: t ** 3 - 2 * t + np.sin(t),
       (lambda t: 3 * t ** 2 - 2 + np.cos(t),), (ANY,)),
    Op("user-three", three, lambda a, b, c: a * b + np.exp(c) * a - np.cos(b * c),
       (lambda a, b, c: b + np.exp(c), lambda a, b, c: a + c * np.sin(b * c),
        lambda a, b, c: np.exp(c) * a + b * np.sin(b * c)), (ANY, ANY, ANY)),
    Op("user-swish", swish, _swish,
       (lambda t, b: _sigmoid(b * t) + b * t * _sigmoid(b * t) * (1 - _sigmoid(b * t)),
        lambda t, b: t * t * _sigmoid(b * t) * (1 - _sigmoid(b * t))), (ANY, uniform(0.2, 2))),
    Op("user-swish-number", lambda t: swish(t, 1.5), lambda t: _swish(t, 1.5),
       (lambda t: _sigmoid(1.5 * t) + 1.5 * t * _sigmoid(1.5 * t) * (1 - _sigmoid(1.5 * t)),), (ANY,)),
    Op("user-number-first", lambda t: three(2.0, t, 0.5),
       lambda t: 2.0 * t + np.exp(0.5) * 2.0 - np.cos(0.5 * t),
       (lambda t: 2.0 + 0.5 * np.sin(0.5 * t),), (ANY,)),
    Op("user-repeated-argument", lambda t: three(t, t, t),
       lambda t: t * t + np.exp(t) * t - np.cos(t * t),
       (lambda t: 2 * t + np.exp(t) * (1 + t) + 2 * t * np.sin(t * t),), (ANY,)),
    Op("user-softplus", user_softplus, lambda t: np.logaddexp(0, t), (_sigmoid,), (ANY,)),
    Op("number-arguments", lambda a: sg.maximum(a, 0.25) + sg.minimum(1, a),
       lambda a: np.maximum(a, 0.25) + np.minimum(1, a),
       (lambda a: (a > 0.25) * 1.0 + (a < 1) * 1.0,), (uniform(-3, 3, avoid=(0.25, 1), gap=0.1),)),
]


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_elementwise_value_and_gradient(op):
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    arrays = [domain(rng, SHAPE) for domain in op.domains]
    wrt = list(op.wrt) if op.wrt is not None else list(range(len(arrays)))
    check(op.build, op.ref, arrays, wrt=wrt, derivs=op.derivs)


PUBLIC_OPS = ["exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid", "relu", "leaky_relu",
              "prelu", "hardtanh", "softplus", "maximum", "minimum", "where"]


def test_every_public_elementwise_op_is_in_the_table():
    assert set(PUBLIC_OPS) <= {op.name for op in OPS}


def test_prelu_with_a_per_channel_slope_vector():
    rng = np.random.default_rng(1)
    x, a = NONZERO(rng, (5, 3)), rng.uniform(0.05, 0.5, 3)
    check(sg.prelu, lambda x, a: np.where(x > 0, x, a * x), [x, a],
          derivs=[lambda x, a: np.where(x > 0, 1.0, a), lambda x, a: np.where(x > 0, 0.0, x)])


@pytest.mark.parametrize("name, build, ref", [
    ("lt", lambda a, b: a < b, np.less),
    ("le", lambda a, b: a <= b, np.less_equal),
    ("gt", lambda a, b: a > b, np.greater),
    ("ge", lambda a, b: a >= b, np.greater_equal),
])
def test_comparisons_give_0_or_1_and_a_zero_gradient(name, build, ref):
    a = np.array([[-1.0, 0.0, 2.0], [3.0, 1.5, -2.0]])
    b = np.array([[0.0, 0.0, 2.0], [-3.0, 1.5, 5.0]])  # ties included: <= and >= differ from < and >
    x, y = sg.matrix("x", 2, 3), sg.matrix("y", 2, 3)
    out = build(x, y)
    w = weights(np.random.default_rng(2), (2, 3))
    gx, gy = sg.grad(sg.sum(out * w + x * y), [x, y], disconnected="zero")
    value, gx_v, gy_v = sg.function([x, y], [out, gx, gy], backend="numpy")(a, b)
    assert_close(value, ref(a, b).astype(float))
    # the comparison contributes nothing: only the x * y term remains
    assert_close(gx_v, b)
    assert_close(gy_v, a)


def test_comparison_with_a_number_and_use_in_arithmetic():
    x = sg.vector("x", 4)
    a = np.array([-2.0, 0.5, 1.0, 3.0])
    out = (x > 0.75) * x ** 2 + (x <= 0.75) * 3.0
    w = weights(np.random.default_rng(3), 4)
    g = sg.grad(sg.sum(out * w), x)
    value, g_v = sg.function([x], [out, g], backend="numpy")(a)
    assert_close(value, np.where(a > 0.75, a ** 2, 3.0))
    assert_close(g_v, w * np.where(a > 0.75, 2 * a, 0.0))


def test_where_with_a_constant_boolean_condition():
    mask = np.array([True, False, True])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, -2.0, -3.0])
    check(lambda x, y: sg.where(mask, x, y), lambda x, y: np.where(mask, x, y), [a, b],
          derivs=[lambda x, y: mask * 1.0, lambda x, y: (~mask) * 1.0])


def test_where_with_an_integer_condition_variable():
    c = np.array([0, 3, -1, 0], dtype=np.int64)  # nonzero means "take a"
    a, b = np.arange(4.0), -np.arange(4.0) - 1
    check(sg.where, lambda c, a, b: np.where(c != 0, a, b), [c, a, b], wrt=[1, 2],
          derivs=[None, lambda c, a, b: (c != 0) * 1.0, lambda c, a, b: (c == 0) * 1.0])


def test_elementwise_of_an_array_argument_is_a_constant():
    arr = np.array([0.5, -1.0, 2.0])
    check(lambda x: swish(x, arr), lambda x: _swish(x, arr), [np.array([0.3, -0.7, 1.1])],
          derivs=[lambda t: _sigmoid(arr * t) + arr * t * _sigmoid(arr * t) * (1 - _sigmoid(arr * t))])


def test_elementwise_on_a_scalar_variable():
    check(lambda t, b: swish(t, b), _swish, [np.array(0.8), np.array(1.3)])


def test_elementwise_of_numbers_only_is_a_constant():
    out = swish(1.0, 2.0)
    assert out.shape == ()
    assert_close(out.eval({}), _swish(1.0, 2.0))


def test_elementwise_second_derivative_of_a_user_formula():
    t = sg.scalar("t")
    d2 = sg.grad(sg.grad(cubic(t), t), t)
    for v in [-1.3, 0.4, 2.0]:
        assert_close(d2.eval({t: v}), 6 * v - np.sin(v))


# every SymPy function a formula may use (elementwise.SUPPORTED_FUNCTIONS):
# value against NumPy/SciPy, gradient against finite differences, away from
# the discontinuities of sign, Heaviside, floor and ceiling

def fn(name, formula, ref, domain, marks=()):
    return pytest.param(name, formula, ref, domain, id=name, marks=marks)


USER_FUNCTIONS = [
    fn("tan", sympy.tan, np.tan, uniform(-1.2, 1.2)),
    fn("asin", sympy.asin, np.arcsin, uniform(-0.9, 0.9)),
    fn("acos", sympy.acos, np.arccos, uniform(-0.9, 0.9)),
    fn("atan", sympy.atan, np.arctan, ANY),
    fn("sinh", sympy.sinh, np.sinh, ANY),
    fn("cosh", sympy.cosh, np.cosh, ANY),
    fn("asinh", sympy.asinh, np.arcsinh, ANY),
    fn("acosh", sympy.acosh, np.arccosh, uniform(1.2, 4)),
    fn("atanh", sympy.atanh, np.arctanh, uniform(-0.9, 0.9)),
    fn("Abs", sympy.Abs, np.abs, NONZERO),
    fn("Max", lambda t: sympy.Max(t, 0.3), lambda t: np.maximum(t, 0.3), uniform(-3, 3, avoid=(0.3,))),
    fn("Min", lambda t: sympy.Min(t, 0.3), lambda t: np.minimum(t, 0.3), uniform(-3, 3, avoid=(0.3,))),
    fn("erf", sympy.erf, lambda t: scipy_special().erf(t), ANY),
    fn("erfc", sympy.erfc, lambda t: scipy_special().erfc(t), ANY),
    fn("log1p", lambda t: sympy.codegen.cfunctions.log1p(t), np.log1p, POS),
    fn("expm1", lambda t: sympy.codegen.cfunctions.expm1(t), np.expm1, ANY),
    fn("atan2", lambda t: sympy.atan2(t, 2), lambda t: np.arctan2(t, 2), ANY),
    fn("sign", lambda t: t ** 2 * sympy.sign(t), lambda t: t ** 2 * np.sign(t), NONZERO),
    fn("Heaviside", lambda t: t ** 2 * sympy.Heaviside(t), lambda t: t ** 2 * (t > 0), NONZERO),
    fn("floor", lambda t: t * sympy.floor(t), lambda t: t * np.floor(t),
       uniform(-3, 3, avoid=range(-3, 4), gap=0.1)),
    fn("ceiling", lambda t: t * sympy.ceiling(t), lambda t: t * np.ceil(t),
       uniform(-3, 3, avoid=range(-3, 4), gap=0.1)),
]


def scipy_special():
    return pytest.importorskip("scipy.special", reason="scipy provides the erf reference")


@pytest.mark.parametrize("name, formula, ref, domain", USER_FUNCTIONS)
def test_user_formula_with_each_supported_sympy_function(name, formula, ref, domain):
    import sympy.codegen.cfunctions  # noqa: F401 - log1p, expm1
    op = sg.elementwise(formula, name=name)
    arrays = [domain(np.random.default_rng(zlib.crc32(name.encode())), SHAPE)]
    check(op, ref, arrays, rtol=1e-6, atol=1e-9)


def test_float32_inputs_give_float32_values_and_gradients():
    rng = np.random.default_rng(16)
    for op in [op for op in OPS if op.name in PUBLIC_OPS]:
        arrays = [domain(rng, (4,)).astype(np.float32) for domain in op.domains]
        xs = [sg.vector(f"x{i}", 4, dtype="float32") for i in range(len(arrays))]
        out = op.build(*xs)
        wrt = [xs[k] for k in (op.wrt or range(len(xs)))]
        grads = sg.grad(sg.sum(out * 1.5), wrt)
        assert out.dtype == "float32" and all(g.dtype == "float32" for g in grads), op.name
        value, *got = sg.function(xs, [out] + grads, backend="numpy")(*arrays)
        assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in got), op.name
        exact = [a.astype(np.float64) for a in arrays]
        assert_close(value, op.ref(*exact), rtol=1e-5, atol=1e-6, what=op.name)
        for k, g in zip(op.wrt or range(len(xs)), got):
            assert_close(g, 1.5 * op.derivs[k](*exact), rtol=1e-5, atol=1e-6, what=op.name)


# ---------------------------------------------------------------- kinks (API.md §2)

KINK_X = np.array([-1.5, -1.0, -0.0, 0.0, 1.0, 2.0])


@pytest.mark.parametrize("name, build, expected_slope", [
    ("relu", sg.relu, lambda x: (x > 0) * 1.0),                       # relu'(0) = 0
    ("abs", sg.abs, np.sign),                                          # |x|'(0) = 0
    ("hardtanh", sg.hardtanh, lambda x: (np.abs(x) < 1) * 1.0),         # hardtanh'(±1) = 0
    ("leaky_relu", lambda x: sg.leaky_relu(x, 0.1), lambda x: np.where(x > 0, 1.0, 0.1)),  # alpha at 0
    ("leaky_relu-default", sg.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.01)),
    ("prelu", lambda x: sg.prelu(x, sg.constant(0.3)), lambda x: np.where(x > 0, 1.0, 0.3)),
    ("maximum-0", lambda x: sg.maximum(x, 0.0), lambda x: (x >= 0) * 1.0),  # a tie goes to x
    ("maximum-0-reversed", lambda x: sg.maximum(0.0, x), lambda x: (x > 0) * 1.0),
    ("minimum-1", lambda x: sg.minimum(x, 1.0), lambda x: (x <= 1) * 1.0),
    ("minimum-1-reversed", lambda x: sg.minimum(1.0, x), lambda x: (x < 1) * 1.0),
])
def test_kink_conventions(name, build, expected_slope):
    x = sg.vector("x", len(KINK_X))
    w = weights(np.random.default_rng(4), len(KINK_X))
    g = sg.grad(sg.sum(build(x) * w), x)
    assert_close(sg.function([x], g, backend="numpy")(KINK_X), w * expected_slope(KINK_X))


def test_prelu_gradient_wrt_slope_at_zero_is_zero():
    x, a = sg.vector("x", 3), sg.scalar("a")
    w = np.array([0.7, -1.3, 1.9])
    g = sg.grad(sg.sum(sg.prelu(x, a) * w), a)
    assert_close(sg.function([x, a], g, backend="numpy")(np.array([0.0, -2.0, 1.0]), 0.3), -1.3 * -2.0)


@pytest.mark.parametrize("op", [sg.maximum, sg.minimum])
def test_elementwise_tie_gives_everything_to_the_first_argument(op):
    a, b = sg.vector("a", 4), sg.vector("b", 4)
    v = np.array([-1.0, 0.0, 2.5, 7.0])
    w = weights(np.random.default_rng(5), 4)
    ga, gb = sg.grad(sg.sum(op(a, b) * w), [a, b])
    ga_v, gb_v = sg.function([a, b], [ga, gb], backend="numpy")(v, v.copy())
    assert_close(ga_v, w)            # never split (w/2) nor doubled (2w)
    assert_close(gb_v, np.zeros(4))


@pytest.mark.parametrize("op", [sg.maximum, sg.minimum])
def test_tie_of_an_expression_with_itself_counts_once(op):
    x = sg.vector("x", 3)
    w = weights(np.random.default_rng(6), 3)
    g = sg.grad(sg.sum(op(x, x) * w), x)
    assert_close(g.eval({x: [1.0, -2.0, 0.0]}), w)


def test_ties_created_by_broadcasting_count_once_per_element():
    """max over a broadcast copy: every entry ties, and v still gets w, not 3w."""
    v = sg.vector("v", 4)
    w = weights(np.random.default_rng(17), 4)
    g = sg.grad(sg.sum(sg.max(sg.broadcast_to(v, (3, 4)), axis=0) * w), v)
    assert_close(g.eval({v: np.arange(4.0)}), w)
    c, M = sg.matrix("c", 3, 1), sg.matrix("M", 3, 4)
    W = weights(np.random.default_rng(18), (3, 4))
    gc, gM = sg.grad(sg.sum(sg.maximum(c, M) * W), [c, M])
    gc_v, gM_v = sg.function([c, M], [gc, gM], backend="numpy")(np.ones((3, 1)), np.ones((3, 4)))
    assert_close(gc_v, W.sum(axis=1, keepdims=True))   # c is the first argument: it wins every tie
    assert_close(gM_v, np.zeros((3, 4)))


@pytest.mark.parametrize("reduce", [sg.max, sg.min])
def test_reduction_ties_go_to_the_first_index_only(reduce):
    v = np.array([[3.0, 3.0, 1.0, 3.0],
                  [2.0, 5.0, 5.0, 2.0],
                  [4.0, 4.0, 4.0, 4.0]])
    x = sg.matrix("x", 3, 4)
    np_arg = np.argmax if reduce is sg.max else np.argmin
    w_rows = weights(np.random.default_rng(7), 3)
    w_cols = weights(np.random.default_rng(8), 4)
    g_rows = sg.grad(sg.sum(reduce(x, axis=1) * w_rows), x)
    g_cols = sg.grad(sg.sum(reduce(x, axis=0) * w_cols), x)
    g_all = sg.grad(reduce(x) * 1.7, x)
    g_keep = sg.grad(sg.sum(reduce(x, axis=-1, keepdims=True) * w_rows[:, None]), x)
    rows, cols, alls, keep = sg.function([x], [g_rows, g_cols, g_all, g_keep], backend="numpy")(v)
    expected_rows = np.zeros((3, 4))
    expected_rows[np.arange(3), np_arg(v, axis=1)] = w_rows
    expected_cols = np.zeros((3, 4))
    expected_cols[np_arg(v, axis=0), np.arange(4)] = w_cols
    expected_all = np.zeros(12)
    expected_all[np_arg(v)] = 1.7                      # first in C order
    assert_close(rows, expected_rows)
    assert_close(keep, expected_rows)
    assert_close(cols, expected_cols)
    assert_close(alls, expected_all.reshape(3, 4))


def test_reduction_ties_along_a_middle_axis_of_a_3d_tensor():
    v = np.zeros((2, 3, 2))
    v[0, :, 0] = [1.0, 1.0, 0.0]
    v[0, :, 1] = [0.0, 2.0, 2.0]
    v[1, :, 0] = [5.0, 5.0, 5.0]
    v[1, :, 1] = [-1.0, -3.0, -1.0]
    x = sg.tensor("x", (2, 3, 2))
    w = weights(np.random.default_rng(9), (2, 2))
    g = sg.grad(sg.sum(sg.max(x, axis=1) * w), x).eval({x: v})
    expected = np.zeros((2, 3, 2))
    for i in range(2):
        for k in range(2):
            expected[i, np.argmax(v[i, :, k]), k] = w[i, k]
    assert_close(g, expected)


# ---------------------------------------------------------------- broadcasting

BROADCAST_SHAPES = [
    ((3, 1), (1, 4)),
    ((4,), (3, 4)),
    ((3, 4), (4,)),
    ((), (3, 4)),
    ((3, 4), ()),
    ((2, 1, 4), (3, 1)),
    ((1,), (5,)),
    ((3, 1), (3, 4)),
]

BINARY = [op for op in OPS if op.name in ("add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                          "prelu", "user-swish")]


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("op", BINARY, ids=repr)
def test_broadcasting_sums_gradients_back_to_each_shape(op, shapes):
    rng = np.random.default_rng(10)
    arrays = [np.asarray(domain(rng, s)) for domain, s in zip(op.domains, shapes)]
    _, grads = check(op.build, op.ref, arrays, derivs=op.derivs)
    assert [g.shape for g in grads] == [tuple(s) for s in shapes]


def test_broadcasting_three_arguments_of_a_user_formula():
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=(3, 1)), rng.normal(size=(1, 4)), rng.normal(size=(4,))]
    (row,) = [op for op in OPS if op.name == "user-three"]
    _, grads = check(three, row.ref, arrays, derivs=row.derivs)
    assert [g.shape for g in grads] == [(3, 1), (1, 4), (4,)]


def test_where_broadcasts_condition_and_branches():
    rng = np.random.default_rng(12)
    c, a, b = NONZERO(rng, (3, 1)), rng.normal(size=(4,)), rng.normal(size=())
    check(lambda c, a, b: sg.where(c > 0, a, b), lambda c, a, b: np.where(c > 0, a, b), [c, a, b],
          wrt=[1, 2], derivs=[None, lambda c, a, b: np.broadcast_to(c > 0, (3, 4)) * 1.0,
                              lambda c, a, b: np.broadcast_to(c <= 0, (3, 4)) * 1.0])


def test_scalar_times_matrix_plus_vector():
    rng = np.random.default_rng(13)
    s, M, v = np.array(1.7), rng.normal(size=(3, 4)), rng.normal(size=4)
    check(lambda s, M, v: s * M + v, lambda s, M, v: s * M + v, [s, M, v],
          derivs=[lambda s, M, v: M, lambda s, M, v: s * np.ones_like(M),
                  lambda s, M, v: np.ones_like(M)])


def test_named_dimensions_broadcast_and_bind_at_call_time():
    x, W = sg.vector("x", "n"), sg.matrix("W", "m", "n")
    b = sg.matrix("b", "m", 1)
    out = sg.tanh(W * x + b)
    assert len(out.shape) == 2 and str(out.shape[0]) == "m" and str(out.shape[1]) == "n"
    wv = sg.matrix("w", "m", "n")
    cost = sg.sum(out * wv)
    gx, gW, gb = sg.grad(cost, [x, W, b])
    f = sg.function([x, W, b, wv], [out, gx, gW, gb], backend="numpy")
    rng = np.random.default_rng(14)
    for m, n in [(3, 4), (2, 7)]:
        xv, Wv, bv, w = rng.normal(size=n), rng.normal(size=(m, n)), rng.normal(size=(m, 1)), \
            weights(rng, (m, n))
        value, gx_v, gW_v, gb_v = f(xv, Wv, bv, w)
        h = np.tanh(Wv * xv + bv)
        d = w * (1 - h ** 2)
        assert_close(value, h)
        assert_close(gx_v, (d * Wv).sum(axis=0))
        assert_close(gW_v, d * xv)
        assert_close(gb_v, d.sum(axis=1, keepdims=True))
    with pytest.raises(sg.ShapeError, match="n"):
        f(np.zeros(4), np.zeros((3, 5)), np.zeros((3, 1)), np.zeros((3, 5)))


def test_named_dimension_broadcasts_against_1():
    rng = np.random.default_rng(15)
    xv, yv = rng.normal(size=6), rng.normal(size=1)
    check(lambda x, y: x * y, np.multiply, [xv, yv], shapes=[("n",), (1,)],
          derivs=[lambda x, y: y * np.ones_like(x), lambda x, y: x])


# ---------------------------------------------------------------- build-time errors

def test_mismatched_shapes_raise_at_build_time_naming_both():
    a, b = sg.vector("a", 3), sg.vector("b", 4)
    for build in [lambda: a + b, lambda: a * b, lambda: sg.maximum(a, b), lambda: swish(a, b),
                  lambda: sg.where(a > 0, a, b), lambda: a < b]:
        with pytest.raises(sg.ShapeError) as e:
            build()
        assert "(3,)" in str(e.value) and "(4,)" in str(e.value), str(e.value)


def test_mismatched_matrix_shapes_name_both():
    A, B = sg.matrix("A", 3, 4), sg.matrix("B", 4, 3)
    with pytest.raises(sg.ShapeError) as e:
        A - B
    assert "(3, 4)" in str(e.value) and "(4, 3)" in str(e.value)


def test_named_dimensions_do_not_broadcast_against_each_other():
    a, b = sg.vector("a", "n"), sg.vector("b", "m")
    with pytest.raises(sg.ShapeError) as e:
        a + b
    assert "n" in str(e.value) and "m" in str(e.value)
    with pytest.raises(sg.ShapeError):
        a + sg.vector("c", 3)


def test_elementwise_wrong_number_of_arguments():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError):
        swish(x)
    with pytest.raises(TypeError):
        cubic(x, x)


def test_elementwise_rejects_free_symbols_and_non_arguments():
    other = sympy.Symbol("k")
    with pytest.raises(ValueError):
        sg.elementwise(lambda t: t * other)
    with pytest.raises(TypeError):
        swish(sg.vector("x", 2), "1.5")


def test_symbolic_truth_value_is_an_error():
    x = sg.scalar("x")
    with pytest.raises(TypeError):
        if x > 0:
            pass
