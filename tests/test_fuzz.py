"""Property tests: random well-typed graphs, three independent answers.

Hypothesis builds random graphs from every primitive and public op (elementwise
ops and user formulas, broadcasting, named dimensions, reductions, softmax
family, contractions, reshapes, slices, concatenation, gathers, picks, the
losses), with repeated subexpressions, and checks

* the NumPy backend's gradients against two-sided finite differences of its
  own forward values (the differences never touch symgrad's autodiff),
* second derivatives (gradients of <grad, r>) against finite differences of
  the first derivatives,
* the Numba backend against the NumPy backend on values, gradients and
  second derivatives.

Budget: ``SYMGRAD_FUZZ_EXAMPLES`` random graphs for the NumPy checks (default
150, about 15 s) and a fifth of that for Numba (each graph costs a compile
of ~0.5-2 s; about 35 s). CI runs the default, derandomized so that a run is
reproducible; set the variable for a longer, random run, e.g.
``SYMGRAD_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py``.

Finite differences are only trusted where they are: an element is compared
when central differences at two step sizes agree and the one-sided slopes
agree, i.e. where the graph is smooth (random points are almost never on a
kink, but they can lie within a step of one, or exactly on one after
shrinking). The Numba checks also draw inputs up to ±1500, where the two
backends must agree on every nan and inf.
"""
import importlib
import os

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from symgrad.errors import ShapeError
from symgrad.graph import free_inputs

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend

_LONG = "SYMGRAD_FUZZ_EXAMPLES" in os.environ
NUMPY_EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", 150))
NUMBA_EXAMPLES = max(3, NUMPY_EXAMPLES // 5)
FUZZ = dict(deadline=None, derandomize=not _LONG, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much])

swish = sg.elementwise(lambda t, beta: t / (1 + sympy.exp(-beta * t)), name="swish")
odd = sg.elementwise(lambda t: sympy.atan(t) + sympy.erf(t) / 2 + sympy.sinh(t / 3), name="odd")


# ------------------------------------------------------------------ graph generator

def _inputs():
    """The variables every random graph may use; sizes come from the draw."""
    return {
        "s": sg.scalar("s"),
        "v": sg.vector("v", "n"),
        "u": sg.vector("u", 3),
        "M": sg.matrix("M", "m", "n"),
        "A": sg.tensor("A", (2, "n")),
        "T": sg.tensor("T", ("m", 1, "n")),
        "idx": sg.vector("idx", "k", dtype="int64"),
        "lab": sg.vector("lab", "m", dtype="int64"),
    }


def _unary(draw, a):
    kind = draw(st.sampled_from([
        "neg", "exp", "gauss", "log", "log1p", "logsig", "log1msig", "sin", "cos", "tanh",
        "sigmoid", "softplus", "sqrt", "abs", "relu", "hardtanh", "leaky", "square", "cube",
        "powpos", "scale", "shift", "rdiv", "odd", "swish", "reuse"]))
    return {
        "neg": lambda: -a,
        "exp": lambda: sg.exp(sg.sin(a)),
        "gauss": lambda: sg.exp(-a * a),
        "log": lambda: sg.log(a * a + 0.5),
        "log1p": lambda: sg.log(1 + a * a),
        "logsig": lambda: sg.log(sg.sigmoid(a)),
        "log1msig": lambda: sg.log(1 - sg.sigmoid(a)),
        "sin": lambda: sg.sin(a),
        "cos": lambda: sg.cos(a),
        "tanh": lambda: sg.tanh(a),
        "sigmoid": lambda: sg.sigmoid(a),
        "softplus": lambda: sg.softplus(a),
        "sqrt": lambda: sg.sqrt(a * a + 0.25),
        "abs": lambda: sg.abs(a),
        "relu": lambda: sg.relu(a),
        "hardtanh": lambda: sg.hardtanh(a),
        "leaky": lambda: sg.leaky_relu(a, 0.1),
        "square": lambda: a ** 2,
        "cube": lambda: a ** 3,
        "powpos": lambda: (a * a + 1) ** 0.7,
        "scale": lambda: a * 1.7,
        "shift": lambda: 0.3 - a,
        "rdiv": lambda: 1 / (a * a + 1),
        "odd": lambda: odd(a),
        "swish": lambda: swish(a, 1.5),
        "reuse": lambda: a * sg.tanh(a) + a,
    }[kind]()


def _binary(draw, a, b):
    kind = draw(st.sampled_from([
        "add", "sub", "mul", "div", "maximum", "minimum", "prelu", "where", "lt", "pow",
        "swish"]))
    return {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / (b * b + 1),
        "maximum": lambda: sg.maximum(a, b),
        "minimum": lambda: sg.minimum(a, b),
        "prelu": lambda: sg.prelu(a, b),
        "where": lambda: sg.where(a > b, a * b, a - b),
        "lt": lambda: (a < b) * a + b,
        "pow": lambda: (a * a + 0.5) ** sg.sin(b),
        "swish": lambda: swish(a, b),
    }[kind]()


def _axis(draw, x):
    if x.ndim == 0:
        return None
    return draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))


def _tensor(draw, a, b, env):
    kind = draw(st.sampled_from([
        "sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax", "logsoftmax_rw",
        "transpose", "flatten", "unsqueeze", "matmul", "dot", "einsum_outer", "concatenate",
        "stack", "gather", "gather_const", "gather_2d", "pick", "slice", "reverse", "first",
        "last", "newaxis", "permute", "broadcast", "xent", "mse", "l2", "margin"]))
    m, n = env["sizes"]["m"], env["sizes"]["n"]
    if kind in ("sum", "mean", "max", "min", "logsumexp"):
        if a.ndim == 0:
            return None
        op = {"sum": sg.sum, "mean": sg.mean, "max": sg.max, "min": sg.min,
              "logsumexp": sg.logsumexp}[kind]
        return op(a, _axis(draw, a), keepdims=draw(st.booleans()))
    if kind in ("softmax", "log_softmax", "logsoftmax_rw"):
        if a.ndim == 0:
            return None
        axis = draw(st.integers(-a.ndim, a.ndim - 1))
        if kind == "logsoftmax_rw":
            return sg.log(sg.softmax(a, axis))  # rewritten to log_softmax while building
        return (sg.softmax if kind == "softmax" else sg.log_softmax)(a, axis)
    if kind == "transpose":
        return a.T if a.ndim >= 2 else None
    if kind == "flatten":
        return a.reshape((-1,))
    if kind == "unsqueeze":
        return a[None]
    if kind == "matmul":
        return a @ b
    if kind == "dot":
        return sg.dot(a, b)
    if kind == "einsum_outer":
        if a.ndim > 2 or b.ndim > 2:
            return None
        la, lb = "ab"[:a.ndim], "cd"[:b.ndim]
        return sg.einsum(f"{la},{lb}->{lb}{la}", a, b)
    if kind == "concatenate":
        return sg.concatenate([a, b, a], axis=_axis(draw, a) or 0)
    if kind == "stack":
        return sg.stack([a, b], axis=draw(st.integers(0, a.ndim)))
    if kind == "gather":
        return a[env["vars"]["idx"]] if a.ndim and a.shape[0] == env["vars"]["M"].shape[0] \
            else None
    if kind == "gather_const":
        if a.ndim == 0 or a.shape[0] not in (env["vars"]["M"].shape[0], 2, 3):
            return None
        rows = {2: 2, 3: 3}.get(a.shape[0], m)
        picks = draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=4))
        return a[np.array(picks, dtype=np.int64)]
    if kind == "pick":
        M = env["vars"]["M"]
        return sg.pick(a, env["vars"]["lab"]) if a.shape == M.shape else None
    if kind == "slice":
        if a.ndim == 0 or not isinstance(a.shape[0], int) or a.shape[0] < 2:
            return None
        return a[1:]
    if kind == "reverse":
        if a.ndim == 0 or not isinstance(a.shape[-1], int):
            return None
        return a[..., ::-1]
    if kind == "first":
        return a[0] if a.ndim and (not isinstance(a.shape[0], int) or a.shape[0] > 0) else None
    if kind == "gather_2d":
        return a[env["vars"]["idx"].reshape((1, -1))] if a.ndim and \
            a.shape[0] == env["vars"]["M"].shape[0] else None
    if kind == "last":
        return a[-1] if a.ndim and isinstance(a.shape[0], int) and a.shape[0] > 0 else None
    if kind == "newaxis":
        return a[..., None] if a.ndim else None
    if kind == "permute":
        if a.ndim < 2:
            return None
        return sg.transpose(a, draw(st.permutations(range(a.ndim))))
    if kind == "broadcast":
        return sg.broadcast_to(a, (2,) + a.shape)
    if kind == "xent":
        M = env["vars"]["M"]
        return sg.nn.softmax_cross_entropy(a, env["vars"]["lab"]) if a.shape == M.shape \
            else None
    if kind == "mse":
        return sg.nn.mse(a, b)
    if kind == "l2":
        return sg.nn.l2(a, b)
    return sg.nn.max_margin(a, b, margin=0.5)


@st.composite
def graphs(draw, max_ops=8, scales=(1.0,)):
    """(variables, built nodes, cost, values, scale): a random graph and its arguments,
    drawn in [-1.5 scale, 1.5 scale]."""
    sizes = {d: draw(st.integers(1, 3)) for d in "mnk"}
    variables = _inputs()
    env = {"sizes": sizes, "vars": variables}
    floats = [x for x in variables.values() if x.dtype == "float64"]
    pool = list(floats)
    for _ in range(draw(st.integers(1, max_ops))):
        # mostly build on the newest nodes: deep compositions and shared subexpressions
        a = pool[-1 - draw(st.integers(0, len(pool) - 1)) // draw(st.sampled_from([1, 4]))]
        b = pool[draw(st.integers(0, len(pool) - 1))]
        family = draw(st.sampled_from(["unary", "binary", "tensor", "tensor"]))
        try:
            out = {"unary": lambda: _unary(draw, a), "binary": lambda: _binary(draw, a, b),
                   "tensor": lambda: _tensor(draw, a, b, env)}[family]()
        except ShapeError:
            out = None  # ill-typed choice (the builder said so at once): draw another op
        if out is not None:
            pool.append(out)
    built = pool[len(floats):] or [sg.tanh(pool[-1])]
    # every built node feeds the cost, with upstream gradients that are not 1
    cost = sum(sg.sum(sg.sin(x * (1.3 + 0.1 * i) + 0.4)) for i, x in enumerate(built))
    m, n, k = sizes["m"], sizes["n"], sizes["k"]
    shapes = {"s": (), "v": (n,), "u": (3,), "M": (m, n), "A": (2, n), "T": (m, 1, n)}
    scale = draw(st.sampled_from(scales))  # large values: backends must agree on inf/nan too
    elements = st.builds(lambda t, sign: sign * t * scale, st.floats(0.05, 1.5),
                         st.sampled_from([-1.0, 1.0]))
    # distinct irrational offsets: shrunk draws (all 0.5, say) must not tie by coincidence
    jitter = iter(np.sqrt(np.arange(2.0, 200.0)) % 1 * 1e-2)
    values = {name: np.array([t + next(jitter) for t in draw(st.lists(
        elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))],
        dtype=np.float64).reshape(shape) for name, shape in shapes.items()}
    values["idx"] = np.array(draw(st.lists(st.integers(0, m - 1), min_size=k, max_size=k)),
                             dtype=np.int64)
    values["lab"] = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)),
                             dtype=np.int64)
    return variables, built, cost, values, scale


# ------------------------------------------------------------------ checks

def _wrt(variables, cost):
    used = set(free_inputs([cost]))
    return [x for x in variables.values() if x.dtype == "float64" and x in used]


def _differences(f, values, name, h):
    """Central, forward and backward differences of f along each element of values[name]."""
    base, f0 = values[name], f(values)
    central, forward, backward = (np.zeros(base.shape) for _ in range(3))
    for i in np.ndindex(base.shape):
        up, down = dict(values), dict(values)
        up[name], down[name] = base.copy(), base.copy()
        up[name][i] += h
        down[name][i] -= h
        fu, fd = f(up), f(down)
        central[i], forward[i], backward[i] = (fu - fd) / (2 * h), (fu - f0) / h, (f0 - fd) / h
    return central, forward, backward


def _assert_matches_differences(f, values, name, derivative, scale, what):
    """``derivative`` == d f / d values[name] wherever the differences are trustworthy:
    central differences at two steps agree (no kink within a step) and the one-sided
    slopes agree (not exactly on a kink, where every central difference averages them)."""
    wide, _, _ = _differences(f, values, name, 1e-4)
    narrow, forward, backward = _differences(f, values, name, 1e-5)
    tol = 1e-6 * scale + 1e-5 * np.abs(narrow)
    smooth = (np.abs(wide - narrow) <= tol) & (
        np.abs(forward - backward) <= 1e-3 * (scale + np.abs(narrow)))
    bad = smooth & (np.abs(derivative - narrow) > 10 * tol)
    assert not bad.any(), (f"{what} wrt {name}: derivative {derivative[bad]} but finite "
                           f"differences {narrow[bad]} at {np.argwhere(bad).tolist()}")


def _program(variables, built, cost, wrt, r_vars, backend):
    """One function: built nodes, cost, gradients, and the gradient of <grad wrt[0], r>."""
    grads = sg.grad(cost, wrt)
    second = sg.grad(sg.sum(grads[0] * r_vars[wrt[0].name]), wrt, disconnected="zero")
    inputs = list(variables.values()) + list(r_vars.values())
    return Function(inputs, built + [cost] + grads + second, backend=backend)


def _call(f, inputs, values):
    return f(**{x.name: values[x.name] for x in inputs})


def _assert_backends_agree(got, expected, scale):
    """Equal dtypes, shapes, nan and inf; equal values to 1e-9 when the inputs are
    small. At large inputs a 1-ulp difference (libm vs NumPy's exp, pow) is
    amplified without bound by sin(1e9 x) and friends: only the special values
    must agree there (no nan or inf in one backend only)."""
    for k, (a, b) in enumerate(zip(got, expected)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape)
        for special in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(special(a), special(b),
                                          err_msg=f"output {k}: {special.__name__} differs")
        if scale == 1.0:
            magnitude = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * magnitude,
                                       err_msg=f"numba output {k} differs from numpy")


def _check_graph(variables, built, cost, values, scale, backend):
    wrt = _wrt(variables, cost)
    assume(wrt)  # a graph can fold to a constant (x - x): nothing to differentiate
    x0 = wrt[0]
    r_vars = {x0.name: sg.tensor("r_" + x0.name, x0.shape)}
    rng = np.random.default_rng(len(built))
    values = {**values, "r_" + x0.name: rng.uniform(-1, 1, values[x0.name].shape)}
    reference = _program(variables, built, cost, wrt, r_vars, "numpy")
    expected = _call(reference, reference.inputs, values)
    nb, ng = len(built), len(wrt)
    if backend == "numba":
        compiled = _program(variables, built, cost, wrt, r_vars, "numba")
        _assert_backends_agree(_call(compiled, compiled.inputs, values), expected, scale)
        return
    cost_v, grads, second = expected[nb], expected[nb + 1:nb + 1 + ng], expected[nb + 1 + ng:]
    for k, v in enumerate(expected[:nb + 1]):
        assert np.all(np.isfinite(v)), f"node {k} is not finite: {v}"

    def cost_at(vals):
        return float(_call(reference, reference.inputs, vals)[nb])

    def first_dot_r(vals):
        g0 = _call(reference, reference.inputs, vals)[nb + 1]
        return float(np.sum(g0 * vals["r_" + x0.name]))

    scale = max(1.0, abs(float(cost_v)))
    for x, g in zip(wrt, grads):
        _assert_matches_differences(cost_at, values, x.name, np.asarray(g), scale, "gradient")
    scale2 = max(1.0, float(np.max(np.abs(grads[0]), initial=0.0)))
    for x, h in zip(wrt, second):
        _assert_matches_differences(first_dot_r, values, x.name, np.asarray(h), scale2,
                                    "second derivative")


@settings(max_examples=NUMPY_EXAMPLES, **FUZZ)
@given(graphs())
def test_numpy_gradients_and_second_derivatives_match_finite_differences(case):
    _check_graph(*case, backend="numpy")


@settings(max_examples=NUMBA_EXAMPLES, **FUZZ)
@given(graphs(max_ops=6, scales=(1.0, 1.0, 30.0, 1000.0)))
def test_numba_matches_numpy_on_values_gradients_and_second_derivatives(case):
    _check_graph(*case, backend="numba")


# ------------------------------------------------------------------ regressions the fuzzer found

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_mean_over_a_flattened_or_concatenated_named_dimension(backend):
    # found by the fuzzer: mean over an axis of size m*n made a DimSize leaf of
    # the compound size m*n, which no input binds ("uses the named dimension m*n")
    M = sg.matrix("M", "m", "n")
    X = np.arange(6.0).reshape(2, 3) ** 2
    flat = M.reshape((-1,)).mean()
    twice = sg.concatenate([M, M], axis=0).mean(axis=0)
    f = Function([M], [flat, sg.grad(flat, M), twice], backend=backend)
    value, g, rows = f(X)
    np.testing.assert_allclose(value, X.mean(), rtol=1e-15)
    np.testing.assert_allclose(g, np.full((2, 3), 1 / 6), rtol=1e-15)
    np.testing.assert_allclose(rows, np.concatenate([X, X]).mean(axis=0), rtol=1e-15)


def test_ties_at_a_kink_are_not_mistaken_for_gradient_bugs():
    # found by the fuzzer (a test bug, not a symgrad one): maximum(T, s) with T == s
    # exactly; every central difference there is the average slope 1/2, while
    # the gradient follows API.md's tie rule (all to the first argument)
    T, s = sg.tensor("T", (1, 1, 1)), sg.scalar("s")
    cost = sg.sum(sg.sin(sg.maximum(T, s) * 1.3 + 0.4))
    f = Function([T, s], [cost] + sg.grad(cost, [T, s]), backend="numpy")
    values = {"T": np.full((1, 1, 1), -0.5), "s": np.array(-0.5)}
    _, gT, gs = f(values["T"], values["s"])
    assert gT.item() == pytest.approx(1.3 * np.cos(1.3 * -0.5 + 0.4)) and gs == 0

    def cost_at(vals):
        return float(f(vals["T"], vals["s"])[0])
    central, forward, backward = _differences(cost_at, values, "T", 1e-5)
    assert central.item() == pytest.approx(gT.item() / 2, rel=1e-4)  # the averaged slope
    assert forward.item() != pytest.approx(backward.item(), rel=1e-3)  # seen as a kink
    _assert_matches_differences(cost_at, values, "T", gT, 1.0, "gradient")  # hence skipped
