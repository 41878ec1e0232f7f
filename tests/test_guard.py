"""The zero-upstream guard has one owner, ``symgrad/guard.py`` (issue 12, part 5).

* ``guard.strip_guards`` is a drop-in replacement for the printers' own
  recogniser (``_unguard``, copied below as it was when this moved): the same
  result on hand-built guards and on every formula of derived gradients up to
  third order. Where they differ is a choice of the user's that only looks like
  a guard: ``_unguard`` printed the indicator ``Piecewise((0, Eq(t, 0)), (1, True))``
  as ``1``; ``strip_guards`` keeps it.
* The guard still does its job: exact zeros for a zero upstream gradient, and
  second and third derivatives right where a first-order upstream gradient is 0.
* Derived VJP formulas pass the same supported-function check as a user's
  formula: a derivative that leaves the set fails when ``sg.grad`` builds it.
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.derivatives import elemwise_vjp
from symgrad.graph import toposort
from symgrad.guard import GuardedProduct, as_piecewise, guarded, is_guard, strip_guards

T0, T1, T2, T3 = sympy.symbols("t0:4", real=True)


def reference_unguard(e):
    """sympy_form._unguard as it was (the behaviour strip_guards replaces), verbatim."""
    def guard(a):
        return (isinstance(a, sympy.Piecewise) and len(a.args) == 2 and a.args[0].expr == 0
                and isinstance(a.args[0].cond, sympy.Eq) and a.args[1].cond is sympy.true
                and not a.args[1].expr.has(sympy.nan))
    return e.replace(guard, lambda a: a.args[1].expr)


def _guards_in(e):
    return [a for a in sympy.preorder_traversal(e) if is_guard(a)]


# ------------------------------------------------------------------ hand-built guards

HAND_BUILT = {
    "sin": guarded(T0, sympy.sin(T1)),
    "log times power": guarded(T0, sympy.log(T1) * T1 ** T2),
    "choice of formulas": guarded(T0, sympy.Piecewise((sympy.exp(T1), T1 > 0), (T1 ** 2, True))),
    "in a sum": 1 + T1 * guarded(T0, sympy.cos(T1)),
    "two guards": guarded(T0, sympy.cos(T1)) + guarded(T2, sympy.sin(T1)),
    "power guard": guarded(T1 ** T2, sympy.log(T1)),
    "nested": as_piecewise(GuardedProduct(T0, T3 * GuardedProduct(T1 ** T2, sympy.log(T1)))),
    "nan product": sympy.Piecewise((0, sympy.Eq(T0, 0)), (sympy.nan, True)),
    "nan piece": guarded(T0, sympy.Piecewise((sympy.nan, T1 < 0), (1 / T1, True))),
    "upstream squared": guarded(T0, T0 * sympy.exp(T1)),
}


@pytest.mark.parametrize("label", sorted(HAND_BUILT))
def test_strip_guards_matches_the_printers_recogniser_on_hand_built_guards(label):
    e = HAND_BUILT[label]
    assert _guards_in(e), "the case must hold a guard"
    stripped = strip_guards(e)
    assert stripped == reference_unguard(e)
    assert all(a.args[1].expr.has(sympy.nan) for a in _guards_in(stripped))


def test_guarded_builds_the_guard_and_nothing_where_there_is_nothing_to_guard():
    assert guarded(T0, sympy.sin(T1)) == sympy.Piecewise(
        (0, sympy.Eq(T0, 0)), (T0 * sympy.sin(T1), True))
    assert guarded(T0, 3) == 3 * T0 and guarded(T0, 0) == 0 and guarded(0, sympy.sin(T1)) == 0
    numbers = sympy.Piecewise((1, T1 > 0), (sympy.Rational(1, 100), True))
    assert guarded(T0, numbers) == sympy.Piecewise((T0, T1 > 0), (T0 / 100, True))
    nested = HAND_BUILT["nested"]
    outer, = [a for a in _guards_in(nested) if a.args[0].cond.lhs == T0]
    assert outer.args[1].expr.has(sympy.Eq(T1 ** T2, 0))  # the inner guard is not folded in


@pytest.mark.parametrize("label", ["sin", "choice of formulas", "in a sum", "two guards",
                                   "upstream squared"])
def test_a_stripped_guard_has_the_guards_value_where_the_product_is_finite(label):
    e = HAND_BUILT[label]
    symbols = sorted(e.free_symbols, key=str)
    f, f_stripped = (sympy.lambdify(symbols, x, "numpy") for x in (e, strip_guards(e)))
    rng = np.random.default_rng(3)
    for _ in range(20):
        point = rng.normal(size=len(symbols))
        np.testing.assert_allclose(f(*point), f_stripped(*point), rtol=1e-14)


def test_a_guard_is_exactly_zero_for_a_zero_upstream_even_where_the_derivative_is_not_finite():
    e = guarded(T0, 1 / T1)
    f = sympy.lambdify([T0, T1], e, "numpy")
    zero, one, two, four = map(np.float64, (0, 1, 2, 4))
    with np.errstate(divide="ignore", invalid="ignore"):
        assert f(zero, zero) == 0.0 and f(zero, one) == 0.0 and f(two, four) == 0.5


# ------------------------------------------------------------------ derived gradients

def _user(name, fn):
    return sg.elementwise(fn, name=name)


UNARY = {
    "exp": sg.exp, "log": sg.log, "sin": sg.sin, "cos": sg.cos, "tanh": sg.tanh,
    "sqrt": sg.sqrt, "abs": sg.abs, "sigmoid": sg.sigmoid, "relu": sg.relu,
    "leaky_relu": sg.leaky_relu, "hardtanh": sg.hardtanh, "softplus": sg.softplus,
    "square": lambda x: x * x, "cube": lambda x: x ** 3,
    "where": lambda x: sg.where(x > 0, sg.log(x), x),
    "step": _user("step", lambda t: sympy.floor(t) + sympy.sign(t) * t),
    "erf": _user("erf", lambda t: sympy.erf(t) * sympy.atan(t)),
    "log1p": _user("softsign", lambda t: t / (1 + sympy.Abs(t))),
}
BINARY = {
    "pow": lambda x, w: sg.abs(x) ** w,
    "maximum": sg.maximum, "minimum": sg.minimum,
    "swish": _user("swish", lambda t, b: t / (1 + sympy.exp(-b * t))),
    "xlogy": _user("xlogy", lambda t, u: t * sympy.log(u ** 2 + 1)),
    "atan2": _user("atan2", lambda t, u: sympy.atan2(t, u ** 2 + 1)),
}


def _derived_graphs(label):
    x, w, v = sg.vector("x", 3), sg.vector("w", 3), sg.vector("v", 3)
    y = UNARY[label](x) * w if label in UNARY else BINARY[label](x, w)
    g = sg.grad(y.sum(), x)
    g2x, g2w = sg.grad((g * v).sum(), [x, w], disconnected="zero")
    g3 = sg.grad((g2x * v).sum() + (g2w * v).sum(), x, disconnected="zero")
    return [g, g2x, g2w, g3]


def _formulas(outputs):
    return [n.op.formula.expr for n in toposort(outputs)
            if isinstance(getattr(n.op, "formula", None), sympy.Lambda)]


@pytest.mark.parametrize("label", sorted(UNARY) + sorted(BINARY))
def test_strip_guards_matches_the_printers_recogniser_on_derived_gradients(label):
    formulas = _formulas(_derived_graphs(label))
    guards = [a for e in formulas for a in _guards_in(e)]
    if label not in ("abs", "relu", "leaky_relu", "hardtanh", "step", "maximum", "minimum",
                     "square"):
        assert guards, "derived gradients of a smooth op carry guards"
    for e in formulas:
        assert strip_guards(e) == reference_unguard(e), e


def test_every_guard_the_derivatives_build_is_recognised():
    """The shapes the old recogniser took for guards in derived formulas are all
    guards by the new one too (no user formula here that only looks like one)."""
    for label in sorted(UNARY) + sorted(BINARY):
        for e in _formulas(_derived_graphs(label)):
            for a in sympy.preorder_traversal(e):
                old = (isinstance(a, sympy.Piecewise) and len(a.args) == 2
                       and a.args[0].expr == 0 and isinstance(a.args[0].cond, sympy.Eq)
                       and a.args[1].cond is sympy.true)
                assert not old or is_guard(a), (label, a)


def test_second_and_third_derivatives_where_the_upstream_gradient_is_zero():
    """d/dw of <d/dx sum(w sin x), v> = v cos x, also where w = 0; then d/dx of that."""
    x, w, v = sg.vector("x", 4), sg.vector("w", 4), sg.vector("v", 4)
    gx = sg.grad((w * sg.sin(x)).sum(), x)
    mixed = sg.grad((gx * v).sum(), w)
    third = sg.grad((mixed * v).sum(), x)
    xv, vv = np.array([0.3, -1.2, 2.0, 0.0]), np.array([1.0, -2.0, 0.5, 3.0])
    wv = np.array([0.0, 0.0, 1.5, 0.0])
    f = sg.function([x, w, v], [gx, mixed, third], backend="numpy")
    got_gx, got_mixed, got_third = f(xv, wv, vv)
    np.testing.assert_array_equal(got_gx[wv == 0], 0.0)
    np.testing.assert_allclose(got_gx, wv * np.cos(xv), rtol=1e-14)
    np.testing.assert_allclose(got_mixed, vv * np.cos(xv), rtol=1e-14)
    np.testing.assert_allclose(got_third, -vv * vv * np.sin(xv), rtol=1e-14, atol=1e-300)


def test_a_zero_upstream_through_a_nan_branch_gives_exact_zeros():
    x = sg.vector("x", 3)
    y = sg.where(x > 0, sg.log(x), x)  # log's derivative is inf/nan where x <= 0
    g = sg.grad(y.sum(), x)
    xv = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(sg.function([x], g, backend="numpy")(xv), [1.0, 1.0, 0.5])
    gg = sg.grad((g * g).sum(), x)   # second order through the untaken branch
    np.testing.assert_array_equal(sg.function([x], gg, backend="numpy")(xv), [0.0, 0.0, -0.25])


# ------------------------------------------------------------------ choices that only look like guards

LOOKALIKES = {
    "indicator of t != 0": sympy.Piecewise((0, sympy.Eq(T0, 0)), (1, True)),
    "sin(t)/t, 0 at 0": sympy.Piecewise((0, sympy.Eq(T0, 0)), (sympy.sin(T0) / T0, True)),
    "0 where t == 1": sympy.Piecewise((0, sympy.Eq(T0, 1)), (T0, True)),
    "other argument": sympy.Piecewise((0, sympy.Eq(T0, 0)), (T1, True)),
}


@pytest.mark.parametrize("label", sorted(LOOKALIKES))
def test_a_users_choice_that_looks_like_a_guard_is_neither_stripped_nor_taken_for_one(label):
    e = LOOKALIKES[label]
    assert not is_guard(e)
    assert strip_guards(e) == e
    assert reference_unguard(e) != e  # what the printers' own recogniser got wrong


def test_a_users_choice_with_a_vanishing_product_is_a_guard_and_strips_to_the_same_values():
    e = sympy.Piecewise((0, sympy.Eq(T0, 0)), (T0 * T1, True))
    assert is_guard(e) and strip_guards(e) == T0 * T1 == reference_unguard(e)


def test_derivatives_of_lookalike_choices_are_those_of_the_choice():
    """Differentiated as a choice (0 in the piece t == 0, as for the steps):
    the indicator's gradient is 0 everywhere (it was inf at 0, taken for the
    guarded product t * (1/t)), and sin(t)/t's is its derivative off 0."""
    x = sg.vector("x", 4)
    xv = np.array([0.0, 1.0, -2.0, 0.5])
    nonzero = sg.elementwise(lambda t: sympy.Piecewise((0, sympy.Eq(t, 0)), (1, True)), "nonzero")
    np.testing.assert_array_equal(sg.grad(nonzero(x).sum(), x).eval({x: xv}), 0.0)
    sinc = sg.elementwise(
        lambda t: sympy.Piecewise((0, sympy.Eq(t, 0)), (sympy.sin(t) / t, True)), "sinc0")
    got = sg.grad(sinc(x).sum(), x).eval({x: xv})
    off = xv != 0
    assert got[0] == 0.0
    np.testing.assert_allclose(got[off], np.cos(xv[off]) / xv[off] - np.sin(xv[off]) / xv[off] ** 2,
                               rtol=1e-14)


def test_a_lookalike_choice_is_printed_as_the_choice():
    x = sg.vector("x", 3)
    nonzero = sg.elementwise(lambda t: sympy.Piecewise((0, sympy.Eq(t, 0)), (1, True)), "nonzero")
    assert "x" in sg.pretty(nonzero(x))


# ------------------------------------------------------------------ derived formulas are checked

def test_a_derivative_that_leaves_the_supported_functions_fails_when_the_gradient_is_built():
    """|asin t| is a valid formula, but SymPy writes its derivative with re and im
    (asin t is complex for |t| > 1): no backend can compile that."""
    absasin = sg.elementwise(lambda t: sympy.Abs(sympy.asin(t)), name="absasin")
    x = sg.vector("x", 3)
    y = absasin(x).sum()    # the forward graph builds and runs
    np.testing.assert_allclose(y.eval({x: np.array([0.5, -0.5, 0.1])}),
                               2 * np.arcsin(0.5) + np.arcsin(0.1), rtol=1e-14)
    with pytest.raises(ValueError) as err:
        sg.grad(y, x)
    text = str(err.value)
    assert "Abs(asin(t0))" in text and "argument 1 of 1 (t0)" in text
    assert "'re'" in text and "cannot differentiate" in text


def test_the_message_names_the_op_the_argument_and_the_function():
    t, u = sympy.symbols("t0 t1", real=True)
    with pytest.raises(ValueError) as err:
        elemwise_vjp(sympy.Lambda((t, u), u * sympy.Abs(t ** u)), 0, "powabs")
    text = str(err.value)
    assert text.startswith("cannot differentiate elementwise op 'powabs' (t1*Abs(t0**t1)) "
                           "with respect to its argument 1 of 2 (t0): its derivative uses the "
                           "SymPy function ")
    assert any(f"'{f}'" in text for f in ("re", "im", "arg"))
    assert "symgrad cannot compile it" in text


def test_the_error_from_sg_grad_names_the_op():
    absatanh = sg.elementwise(lambda t: sympy.Abs(sympy.atanh(t)), name="absatanh")
    x = sg.vector("x", 3)
    with pytest.raises(ValueError, match="elementwise op 'absatanh'"):
        sg.grad(absatanh(x).sum(), x)


def test_a_derivative_inside_the_supported_functions_builds_and_is_right():
    abslog = sg.elementwise(lambda t: sympy.Abs(sympy.log(t)), name="abslog")
    x = sg.vector("x", 3)
    xv = np.array([0.5, 2.0, 3.0])
    np.testing.assert_allclose(sg.grad(abslog(x).sum(), x).eval({x: xv}),
                               np.sign(np.log(xv)) / xv, rtol=1e-14)
