"""sg.stop_gradient: the value of x, no gradient through it (JAX's lax.stop_gradient).

References are independent of the code under test: the same function written
with the stopped value as a separate constant input (its derivatives by
two-sided finite differences or a NumPy formula), and, for the max shift of
softmax/logsumexp, the NumPy formulas of softmax - one-hot.
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.graph import toposort
from symgrad.lowering import lower
from symgrad.numba_backend import NumbaProgram
from symgrad.numpy_backend import NumpyProgram
from symgrad.ops import ArgOneHot, StopGradient
from symgrad.optimize import optimize
from symgrad_codegen import Loop

RNG = np.random.default_rng(15)


def _fd(f, x, v, h=1e-6):
    """Two-sided finite difference of ``f`` at ``x`` along ``v``."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


# ---------------------------------------------------------------- meaning

def test_value_is_x_and_gradient_treats_it_as_a_constant():
    x = sg.vector("x", 4)
    xs = RNG.standard_normal(4)
    assert sg.stop_gradient(x).shape == (4,) and sg.stop_gradient(x).dtype == "float64"
    np.testing.assert_array_equal(sg.stop_gradient(x).eval({x: xs}), xs)
    cost = (sg.sin(x) * sg.stop_gradient(sg.exp(x))).sum()
    g = sg.function([x], sg.grad(cost, x), backend="numpy")(xs)
    np.testing.assert_allclose(g, np.cos(xs) * np.exp(xs), rtol=1e-14)  # exp(x) held fixed
    # the unstopped cost's derivative differs: the test tells them apart
    assert not np.allclose(g, np.cos(xs) * np.exp(xs) + np.sin(xs) * np.exp(xs))


def test_a_cost_through_stop_gradient_only_has_a_zero_gradient_not_an_error():
    # as JAX: jax.grad(lambda x: lax.stop_gradient(x).sum())(x) is zeros
    x = sg.tensor("x", (2, "n"), dtype="float32")
    g = sg.grad(sg.stop_gradient(x).sum(), x)
    assert g.shape == x.shape and g.dtype == "float32"
    out = sg.function([x], g, backend="numpy")(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(out, np.zeros((2, 3), np.float32))
    assert out.dtype == np.float32


def test_second_derivatives_and_jvp_hvp_treat_it_as_zero_derivative():
    x, v = sg.vector("x", 3), sg.vector("v", 3)
    c = sg.vector("c", 3)  # the reference: the stopped value as an input of its own
    xs, vs = RNG.uniform(0.5, 1.5, 3), RNG.standard_normal(3)
    cost = (x ** 3 * sg.stop_gradient(sg.exp(x))).sum()
    ref = (x ** 3 * sg.exp(c)).sum()
    g = sg.grad(cost, x)
    # differentiating the gradient again still sees the stop: d/dx (3 x^2 c) = 6 x c
    got = sg.function([x, v], [sg.grad((g * v).sum(), x), sg.hvp(cost, x, v),
                               sg.jvp(g, x, v), sg.hessian(cost, x)], backend="numpy")(xs, vs)
    ref_g = sg.function([x, c], sg.grad(ref, x), backend="numpy")
    want = _fd(lambda t: ref_g(t, xs), xs, vs)  # c held at exp(xs)
    np.testing.assert_allclose(want, 6 * xs * np.exp(xs) * vs, rtol=1e-6)
    for out in got[:3]:
        np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(got[3], np.diag(6 * xs * np.exp(xs)), rtol=1e-12)
    # jvp of the stopped function itself: d(x * stop(exp x)) . v = exp(x) v
    y = x * sg.stop_gradient(sg.exp(x))
    np.testing.assert_allclose(sg.jvp(y, x, v).eval({x: xs, v: vs}), np.exp(xs) * vs,
                               rtol=1e-14)


def test_integer_values_pass_through():
    i = sg.vector("i", 3, dtype="int64")
    out = sg.stop_gradient(i)
    assert out.dtype == "int64"
    assert sg.stop_gradient(i).eval({i: [3, -1, 7]}).tolist() == [3, -1, 7]
    assert float(sg.stop_gradient(2.5).eval()) == 2.5


# ---------------------------------------------------------------- graph, backends, printing

def test_it_stays_in_gradient_graphs_and_optimize_drops_it_for_a_backend():
    x = sg.vector("x", 3)
    g = sg.grad((x * sg.stop_gradient(sg.tanh(x))).sum(), x)
    assert any(isinstance(n.op, StopGradient) for n in toposort([g]))
    assert any(isinstance(n.op, StopGradient) for n in toposort(optimize([g], for_backend=False)))
    (opt,) = optimize([g])
    assert not any(isinstance(n.op, StopGradient) for n in toposort([opt]))
    xs = RNG.standard_normal(3)
    np.testing.assert_allclose(sg.function([x], g, backend="numpy")(xs), np.tanh(xs), rtol=1e-15)


@pytest.fixture(scope="module")
def unoptimized():
    """A graph still holding stop_gradient nodes (sg.function would drop them),
    run by the NumPy and Numba backends directly: the op's own evaluate and lower."""
    x, W = sg.vector("x", 5), sg.matrix("W", 5, 3)
    h = sg.stop_gradient(sg.tanh(x))  # inside a fused loop
    s = sg.stop_gradient(x @ W)  # after a kernel of its own
    outs = [h * x + 1.0, s, sg.stop_gradient(s).sum(), h]
    args = [RNG.standard_normal(5), RNG.standard_normal((5, 3))]
    want = [np.tanh(args[0]) * args[0] + 1.0, args[0] @ args[1], (args[0] @ args[1]).sum(),
            np.tanh(args[0])]
    return [x, W], outs, args, want


def test_numpy_and_numba_run_it_as_the_identity(unoptimized):
    inputs, outs, args, want = unoptimized
    assert sum(isinstance(n.op, StopGradient) for n in toposort(outs)) == 3
    for program in (NumpyProgram(inputs, outs), NumbaProgram(inputs, outs, cache=False)):
        for got, w in zip(program([a.copy() for a in args], {}), want):
            np.testing.assert_allclose(got, w, rtol=1e-13)


def test_lowering_it_costs_no_loop_or_statement():
    x = sg.vector("x", 5)
    plain = lower([x], [sg.tanh(x) * x + 1.0]).program
    stopped = lower([x], [sg.stop_gradient(sg.tanh(x)) * x + 1.0]).program
    assert len(stopped.statements) == len(plain.statements)
    assert sum(isinstance(s, Loop) for s in stopped.statements) == 1


def test_prints_as_stop_gradient_and_sympy_differentiates_it_as_zero():
    a, b = sg.scalar("a"), sg.scalar("b")
    e = a * sg.stop_gradient(a * b)
    A, B = sympy.symbols("a b", real=True)
    form = e.to_sympy()
    assert str(form) == "a*stop_gradient(a*b)"
    assert sympy.diff(form, A) == sg.grad(e, a).to_sympy() == form / A
    assert form.subs({A: 2, B: 3}) == 12  # a number passes through
    assert sg.pretty(e) == "a⋅stop_gradient(a⋅b)"
    assert sg.latex(e) == r"a \operatorname{stop\_gradient}{\left(a b \right)}"
    assert sg.debugprint(e).splitlines()[2].startswith("└─ stop_gradient  float64 ()")
    W, v = sg.matrix("W", "m", "n"), sg.vector("v", "n")
    assert sg.pretty(sg.stop_gradient(W @ v)) == "stop_gradient(W⋅v)"
    assert sg.latex(sg.stop_gradient(W @ v)) == r"\operatorname{stop\_gradient}{\left(W v \right)}"
    x = sg.tensor("x", (2, 3, 4))
    assert str(sg.stop_gradient(x).to_sympy()) == "Lambda((i, j, k), stop_gradient(x[i, j, k]))"


def test_local_gradient_says_no_gradient_flows_through_it():
    a = sg.scalar("a")
    node = sg.stop_gradient(a * a)
    view = sg.local_gradient(node * a, node, values={"a": 2.0})
    assert view.local == [0]
    assert str(view).splitlines()[-1].endswith(": no gradient flows (stop_gradient)")


# ---------------------------------------------------------------- the max shift of softmax & co.

def _softmax(S):
    e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numbers(e, arrays):
    """``e`` with every ``name[k, ...]`` of integer indices replaced by ``arrays[name][k, ...]``."""
    return e.xreplace({ix: sympy.sympify(arrays[ix.base.label.name][
        tuple(int(k) for k in ix.indices)].item()) for ix in e.atoms(sympy.Indexed)
        if all(k.is_Integer for k in ix.indices)})


def _plain_max_shift_cross_entropy(S, y):
    """The loss as it was built before the shift was stopped (the max differentiated)."""
    m = S.max(axis=1, keepdims=True)
    log_p = S - (sg.log(sg.exp(S - m).sum(axis=1, keepdims=True)) + m)
    return -sg.pick(log_p, y).mean()


def test_cross_entropy_gradient_prints_as_softmax_minus_one_hot_over_the_batch():
    S, y = sg.matrix("S", "batch", 3), sg.vector("y", "batch", dtype="int64")
    g = sg.grad(sg.nn.softmax_cross_entropy(S, y), S)
    text, form = sg.pretty(g), g.to_sympy()
    assert "argmax" not in text and not any(f.func.__name__ == "argmax"
                                            for f in form.atoms(sympy.Function))
    # with the shift differentiated, the arg-max term is there: the check can fail
    old = sg.grad(_plain_max_shift_cross_entropy(S, y), S)
    assert "argmax" in sg.pretty(old) and "argmax" in str(old.to_sympy())
    # the form is -δ(j, y[i]) / batch + softmax(S)[i, j] * (sum_k δ(k, y[i]) / batch)
    i, j = form.variables
    delta = [t for t in sympy.Add.make_args(form.expr) if t.has(sympy.KroneckerDelta)
             and not t.has(sympy.Sum)]
    assert len(delta) == 1 and str(delta[0]) == "-KroneckerDelta(j, y[i])/batch"
    # and its numbers are (softmax - one-hot) / batch
    Sv, yv = RNG.standard_normal((2, 3)), np.array([2, 0])
    batch = next(s for s in form.free_symbols if getattr(s, "name", "") == "batch")
    want = (_softmax(Sv) - np.eye(3)[yv]) / 2
    for a in range(2):
        for b in range(3):
            e = _numbers(form(a, b).xreplace({batch: 2}), {"S": Sv, "y": yv})
            for _ in range(3):  # sums, then the reads they expose, then the max
                e = _numbers(e.doit(), {"S": Sv, "y": yv})
            assert float(e) == pytest.approx(want[a, b], rel=1e-12)


def test_cross_entropy_gradient_computes_less():
    S, y = sg.matrix("S", "batch", 10), sg.vector("y", "batch", dtype="int64")

    def lowered(loss):
        graph = optimize([loss, sg.grad(loss, S)])
        return toposort(graph), lower([S, y], graph).program.statements

    nodes, statements = lowered(sg.nn.softmax_cross_entropy(S, y))
    old_nodes, old_statements = lowered(_plain_max_shift_cross_entropy(S, y))
    assert not any(isinstance(n.op, ArgOneHot) for n in nodes)
    assert any(isinstance(n.op, ArgOneHot) for n in old_nodes)
    assert len(nodes) < len(old_nodes) and len(statements) < len(old_statements)
    assert sum(isinstance(s, Loop) for s in statements) < sum(
        isinstance(s, Loop) for s in old_statements)


@pytest.fixture(scope="module")
def cross_entropy():
    S, y, V = sg.matrix("S", "batch", 4), sg.vector("y", "batch", dtype="int64"), \
        sg.matrix("V", "batch", 4)
    loss = sg.nn.softmax_cross_entropy(S, y)
    g = sg.grad(loss, S)
    return sg.function([S, y, V], [loss, g, sg.hvp(loss, S, V)], backend="numpy")


def test_cross_entropy_values_and_derivatives_against_formulas_and_differences(cross_entropy):
    Sv, yv, Vv = RNG.standard_normal((5, 4)) * 3, np.array([0, 3, 3, 1, 2]), \
        RNG.standard_normal((5, 4))
    loss, g, hv = cross_entropy(Sv, yv, Vv)
    log_p = np.log(_softmax(Sv))
    np.testing.assert_allclose(loss, -log_p[np.arange(5), yv].mean(), rtol=1e-13)
    np.testing.assert_allclose(g, (_softmax(Sv) - np.eye(4)[yv]) / 5, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_fd(lambda s: cross_entropy(s, yv, Vv)[0], Sv, Vv),
                               np.sum(g * Vv), rtol=1e-7)
    np.testing.assert_allclose(_fd(lambda s: cross_entropy(s, yv, Vv)[1], Sv, Vv), hv,
                               rtol=1e-6, atol=1e-9)


def test_cross_entropy_is_exact_for_huge_logits(cross_entropy):
    Sv = np.array([[1e300, 0.0, -1e300, 1.0], [-1e300, -1e300, -1e300, -1e300],
                   [1e300, 1e300, 0.0, -1e300]])
    yv = np.array([1, 2, 0])
    loss, g, hv = cross_entropy(Sv, yv, np.ones_like(Sv))
    p = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(loss, (1e300 + np.log(4) + np.log(2)) / 3, rtol=1e-14)
    np.testing.assert_allclose(g, (p - np.eye(4)[yv]) / 3, rtol=1e-14)
    assert np.all(np.isfinite(hv))


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_composites_against_numpy_and_differences(name):
    x, u, v = sg.matrix("x", 3, 4), sg.matrix("u", 3, 4), sg.matrix("v", 3, 4)
    build = {"logsumexp": lambda t: sg.logsumexp(t, axis=1),
             "softmax": lambda t: sg.softmax(t, axis=1),
             "log_softmax": lambda t: sg.log_softmax(t, axis=1)}[name]
    ref = {"logsumexp": lambda t: np.log(np.exp(t).sum(axis=1)),
           "softmax": _softmax, "log_softmax": lambda t: np.log(_softmax(t))}[name]
    out = build(x)
    weights = u[:, 0] if out.ndim == 1 else u
    cost = (weights * out * out).sum()
    g = sg.grad(cost, x)
    f = sg.function([x, u, v], [out, cost, g, sg.hvp(cost, x, v)], backend="numpy")
    xs, us, vs = RNG.standard_normal((3, 4)), RNG.uniform(0.5, 1.5, (3, 4)), \
        RNG.standard_normal((3, 4))
    value, c, gv, hv = f(xs, us, vs)
    np.testing.assert_allclose(value, ref(xs), rtol=1e-13)
    np.testing.assert_allclose(_fd(lambda t: f(t, us, vs)[1], xs, vs), np.sum(gv * vs), rtol=1e-7)
    np.testing.assert_allclose(_fd(lambda t: f(t, us, vs)[2], xs, vs), hv, rtol=1e-6, atol=1e-8)
    huge = np.array([[1e300, -1e300, 0.0, 1e300]] * 3)
    assert np.all(np.isfinite(f(huge, us, vs)[2]))
