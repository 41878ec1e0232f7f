"""``expr.to_sympy()``: exact SymPy equality for scalar formulas and their
derivatives, the textbook matrix forms of the window model, and numeric checks
of matrix and indexed forms against NumPy formulas written by hand."""
import numpy as np
import pytest
import sympy
from sympy import HadamardPower, HadamardProduct, MatMul, MatrixSymbol, OneMatrix
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

import symgrad as sg

X, Y, Z = (sympy.Symbol(n, real=True) for n in "xyz")

# (name, symgrad builder, the same formula written directly in SymPy)
SCALAR_FORMULAS = [
    ("sin product", lambda x, y, z: sg.sin(x) * y, sympy.sin(X) * Y),
    ("exp ratio", lambda x, y, z: sg.exp(x) / (x + y * y), sympy.exp(X) / (X + Y ** 2)),
    ("tanh chain", lambda x, y, z: sg.tanh(x * y) + z, sympy.tanh(X * Y) + Z),
    ("sigmoid", lambda x, y, z: sg.sigmoid(x) * y - z, Y / (1 + sympy.exp(-X)) - Z),
    ("log of square", lambda x, y, z: sg.log(1 + x * x) * z, sympy.log(1 + X ** 2) * Z),
    ("power and sqrt", lambda x, y, z: x ** 3 / y + sg.sqrt(z * z + 1),
     X ** 3 / Y + sympy.sqrt(Z ** 2 + 1)),
    ("cos of sum", lambda x, y, z: sg.cos(x + 2 * y - z) * x, sympy.cos(X + 2 * Y - Z) * X),
    ("custom swish", lambda x, y, z: sg.elementwise(
        lambda t, b: t / (1 + sympy.exp(-b * t)), name="swish")(x, y) * z,
     X / (1 + sympy.exp(-Y * X)) * Z),
]


@pytest.fixture(scope="module")
def xyz():
    return sg.scalar("x"), sg.scalar("y"), sg.scalar("z")


@pytest.mark.parametrize("name,build,formula", SCALAR_FORMULAS, ids=[f[0] for f in SCALAR_FORMULAS])
def test_scalar_formula_and_gradients_equal_sympy_diff(xyz, name, build, formula):
    f = build(*xyz)
    assert sympy.simplify(f.to_sympy() - formula) == 0
    grads = sg.grad(f, list(xyz), disconnected="zero")
    for g, var in zip(grads, (X, Y, Z)):
        derived = g.to_sympy()
        assert not derived.has(sympy.Piecewise), derived  # the zero-upstream guard is gone
        assert sympy.simplify(derived - sympy.diff(formula, var)) == 0, (name, var, derived)


def test_second_derivative_equals_sympy_diff(xyz):
    x, y, _ = xyz
    f = sg.tanh(x) * sg.exp(x * y)
    h = sg.grad(sg.grad(f, x), x)
    assert sympy.simplify(h.to_sympy() - sympy.diff(sympy.tanh(X) * sympy.exp(X * Y), X, 2)) == 0


def test_kink_piecewise_matches_sympy_away_from_the_tie(xyz):
    x, y, z = xyz
    gy = sg.grad((x + y) * sg.maximum(y, z), y).to_sympy()
    reference = sympy.diff((X + Y) * sympy.Max(Y, Z), Y)
    for point in [(1, 2, 0), (1, -2, 3), (sympy.Rational(1, 3), 5, 4), (-2, -1, -7)]:
        at = dict(zip((X, Y, Z), point))
        assert gy.xreplace(at) == reference.xreplace(at)


def test_input_symbols_are_real_and_named(xyz):
    x, _, _ = xyz
    assert x.to_sympy() == X
    assert sg.vector("v", "n").to_sympy() == MatrixSymbol("v", sympy.Symbol("n", integer=True,
                                                                          nonnegative=True), 1)


# ---------------------------------------------------------------- numeric evaluation of forms

def _dims(dims):
    return {sympy.Symbol(k, integer=True, nonnegative=True): v for k, v in dims.items()}


def numeric_matrix(form, values, dims):
    """A matrix/scalar SymPy form evaluated with explicit matrices (vectors as columns)."""
    form = form.xreplace(_dims(dims))
    subs = {s: sympy.ImmutableMatrix(np.asarray(values[s.name], float).reshape(s.shape))
            for s in form.atoms(MatrixSymbol)}
    subs.update({s: sympy.Float(values[s.name]) for s in form.atoms(sympy.Symbol)
                 if s.name in values})
    out = form.xreplace(subs).doit()
    if hasattr(out, "as_explicit"):
        return np.array(out.as_explicit().tolist(), dtype=float)
    return float(out)


def numeric_indexed(form, values, dims, shape):
    """An indexed form ``Lambda(indices, element)`` evaluated element by element."""
    form = form.xreplace(_dims(dims))
    form = form.xreplace({s: sympy.ImmutableMatrix(np.asarray(values[s.name], float)
                                                   .reshape(s.shape))
                          for s in form.atoms(MatrixSymbol)})  # entries of matrix parts
    out = np.empty(shape)
    for idx in np.ndindex(*shape):
        e = form(*idx).doit() if idx else form.doit()
        while True:
            ready = [a for a in e.atoms(sympy.Indexed) if all(i.is_Integer for i in a.indices)]
            if not ready:
                break
            e = sympy.sympify(e.xreplace({a: sympy.sympify(
                np.asarray(values[a.base.name])[tuple(map(int, a.indices))].item())
                for a in ready})).doit()
        out[idx] = float(e)
    return out


@pytest.fixture(scope="module")
def window():
    """s = uᵀ tanh(W x + b) with named dimensions, its gradients and values."""
    W, x = sg.matrix("W", "m", "n"), sg.vector("x", "n")
    b, u = sg.vector("b", "m"), sg.vector("u", "m")
    s = sg.dot(u, sg.tanh(W @ x + b))
    gW, gx, gb, gu = sg.grad(s, [W, x, b, u])
    rng = np.random.default_rng(3)
    vals = {"W": rng.normal(size=(3, 4)), "x": rng.normal(size=4), "b": rng.normal(size=3),
            "u": rng.normal(size=3)}
    return dict(W=W, x=x, b=b, u=u, s=s, gW=gW, gx=gx, gb=gb, gu=gu, vals=vals)


def _window_symbols():
    m, n = (sympy.Symbol(d, integer=True, nonnegative=True) for d in "mn")
    return (MatrixSymbol("W", m, n), MatrixSymbol("x", n, 1), MatrixSymbol("b", m, 1),
            MatrixSymbol("u", m, 1), m)


def _hand(vals):
    h = np.tanh(vals["W"] @ vals["x"] + vals["b"])
    delta = vals["u"] * (1 - h ** 2)
    return h, delta


def test_window_gradient_wrt_W_is_outer_product_delta_xT(window):
    Wm, xm, bm, um, m = _window_symbols()
    form = window["gW"].to_sympy()
    assert isinstance(form, MatMul) and form.args[-1] == xm.T
    delta = form.args[0]
    assert isinstance(delta, HadamardProduct) and um in delta.args
    (rest,) = [a for a in delta.args if a != um]
    # rest = 1 - tanh(W x + b)∘2, written with a Hadamard power of an elementwise tanh
    power = rest.args[0] if rest.args[1] == OneMatrix(m, 1) else rest.args[1]
    assert OneMatrix(m, 1) in rest.args and power.could_extract_minus_sign() \
        if hasattr(power, "could_extract_minus_sign") else True
    powers = list(rest.atoms(HadamardPower)) or [a for a in sympy.preorder_traversal(rest)
                                                 if isinstance(a, HadamardPower)]
    assert len(powers) == 1 and powers[0].exp == 2
    tanh = powers[0].base
    assert isinstance(tanh, ElementwiseApplyFunction) and tanh.expr == Wm * xm + bm
    assert not form.has(sympy.Sum) and not form.has(sympy.Indexed)
    h, d = _hand(window["vals"])
    got = numeric_matrix(form, window["vals"], {"m": 3, "n": 4})
    np.testing.assert_allclose(got, np.outer(d, window["vals"]["x"]), rtol=1e-12)


def test_window_gradient_wrt_x_is_W_transpose_delta(window):
    Wm, xm, bm, um, m = _window_symbols()
    form = window["gx"].to_sympy()
    assert isinstance(form, MatMul) and form.args[0] == Wm.T and len(form.args) == 2
    delta = window["gb"].to_sympy()  # the same δ as ∂s/∂b (factor order aside)
    assert isinstance(delta, HadamardProduct) and set(form.args[1].args) == set(delta.args)
    _, d = _hand(window["vals"])
    got = numeric_matrix(form, window["vals"], {"m": 3, "n": 4})
    np.testing.assert_allclose(got.ravel(), window["vals"]["W"].T @ d, rtol=1e-12)


def test_window_cost_and_other_gradients_numerically(window):
    h, d = _hand(window["vals"])
    dims = {"m": 3, "n": 4}
    assert numeric_matrix(window["s"].to_sympy(), window["vals"], dims) == \
        pytest.approx(window["vals"]["u"] @ h, rel=1e-12)
    np.testing.assert_allclose(numeric_matrix(window["gb"].to_sympy(), window["vals"], dims)
                               .ravel(), d, rtol=1e-12)
    np.testing.assert_allclose(numeric_matrix(window["gu"].to_sympy(), window["vals"], dims)
                               .ravel(), h, rtol=1e-12)


MATRIX_CASES = [  # (name, builder(A, B, v, w), numpy reference)
    ("matmul", lambda A, B, v, w: A @ B, lambda A, B, v, w: A @ B),
    ("transpose product", lambda A, B, v, w: A.T @ A, lambda A, B, v, w: A.T @ A),
    ("vector @ matrix", lambda A, B, v, w: w @ A, lambda A, B, v, w: w @ A),
    ("dot", lambda A, B, v, w: sg.dot(v, v * 2.0), lambda A, B, v, w: 2 * v @ v),
    ("outer", lambda A, B, v, w: sg.einsum("i,j->ij", w, v), lambda A, B, v, w: np.outer(w, v)),
    ("sum of matrix", lambda A, B, v, w: A.sum(), lambda A, B, v, w: A.sum()),
    ("column sums", lambda A, B, v, w: A.sum(axis=0), lambda A, B, v, w: A.sum(axis=0)),
    ("row means", lambda A, B, v, w: A.mean(axis=1), lambda A, B, v, w: A.mean(axis=1)),
    ("broadcast add", lambda A, B, v, w: sg.exp(A + v), lambda A, B, v, w: np.exp(A + v)),
    ("row scaling", lambda A, B, v, w: A * w.reshape((2, 1)) - 1.5,
     lambda A, B, v, w: A * w[:, None] - 1.5),
    ("frobenius", lambda A, B, v, w: (A * A).sum(), lambda A, B, v, w: (A * A).sum()),
    ("gradient of a quadratic form", lambda A, B, v, w: sg.grad(sg.dot(w, A @ sg.sin(v)), v),
     lambda A, B, v, w: np.cos(v) * (A.T @ w)),
]


@pytest.mark.parametrize("name,build,ref", MATRIX_CASES, ids=[c[0] for c in MATRIX_CASES])
def test_matrix_forms_have_no_index_soup_and_the_right_value(name, build, ref):
    A, B = sg.matrix("A", 2, 3), sg.matrix("B", 3, 2)
    v, w = sg.vector("v", 3), sg.vector("w", 2)
    rng = np.random.default_rng(7)
    vals = {"A": rng.normal(size=(2, 3)), "B": rng.normal(size=(3, 2)),
            "v": rng.normal(size=3), "w": rng.normal(size=2)}
    form = build(A, B, v, w).to_sympy()
    assert not form.has(sympy.Sum) and not isinstance(form, sympy.Lambda), form
    got = np.asarray(numeric_matrix(form, vals, {}))
    want = np.asarray(ref(*(vals[k] for k in "ABvw")))
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-12)


def test_gradient_through_gather_and_reshape_is_a_correct_indexed_form():
    vocab, dim, window, hidden = 4, 2, 3, 2
    E, idx = sg.matrix("E", vocab, dim), sg.vector("idx", window, dtype="int64")
    W, u = sg.matrix("W", hidden, window * dim), sg.vector("u", hidden)
    x = E[idx].reshape((window * dim,))
    s = sg.dot(u, sg.tanh(W @ x))
    form = sg.grad(s, E).to_sympy()
    assert isinstance(form, sympy.Lambda) and form.has(sympy.Sum)
    rng = np.random.default_rng(1)
    vals = {"E": rng.normal(size=(vocab, dim)), "idx": np.array([3, 0, 3]),
            "W": rng.normal(size=(hidden, window * dim)), "u": rng.normal(size=hidden)}
    xv = vals["E"][vals["idx"]].reshape(-1)
    delta = vals["u"] * (1 - np.tanh(vals["W"] @ xv) ** 2)
    gx = (vals["W"].T @ delta).reshape(window, dim)
    want = np.zeros((vocab, dim))
    for k, row in enumerate(vals["idx"]):
        want[row] += gx[k]
    np.testing.assert_allclose(numeric_indexed(form, vals, {}, (vocab, dim)), want, rtol=1e-12)


def test_rank3_contraction_is_an_indexed_sum():
    T, v = sg.tensor("T", ("a", 2, 3)), sg.vector("v", 3)
    form = sg.einsum("abc,c->ab", T, v).to_sympy()
    assert isinstance(form, sympy.Lambda) and form.has(sympy.Sum)
    rng = np.random.default_rng(2)
    vals = {"T": rng.normal(size=(2, 2, 3)), "v": rng.normal(size=3)}
    np.testing.assert_allclose(numeric_indexed(form, vals, {"a": 2}, (2, 2)),
                               np.einsum("abc,c->ab", vals["T"], vals["v"]), rtol=1e-12)


def test_slices_and_concatenation_indexed():
    v, w = sg.vector("v", 4), sg.vector("w", 2)
    e = sg.concatenate([v[1:3] * 2.0, w], axis=0)
    g = sg.grad((e * e).sum(), v)
    rng = np.random.default_rng(4)
    vals = {"v": rng.normal(size=4), "w": rng.normal(size=2)}
    want_e = np.concatenate([vals["v"][1:3] * 2.0, vals["w"]])
    want_g = np.zeros(4)
    want_g[1:3] = 8.0 * vals["v"][1:3]
    np.testing.assert_allclose(numeric_indexed(e.to_sympy(), vals, {}, (4,)), want_e)
    np.testing.assert_allclose(numeric_indexed(g.to_sympy(), vals, {}, (4,)), want_g)


def test_max_reduction_prints_as_an_indexed_max():
    A = sg.matrix("A", "m", 3)
    form = A.max(axis=1).to_sympy()
    assert isinstance(form, sympy.Lambda) and "max(A[" in str(form)


def test_named_nodes_stay_symbols(window):
    W, x, b, u = (window[k] for k in "Wxbu")
    h = sg.tanh(W @ x + b)
    m = sympy.Symbol("m", integer=True, nonnegative=True)
    s = sg.dot(u, h)
    assert s.to_sympy(names={h: "h"}).has(MatrixSymbol("h", m, 1))
    assert not s.to_sympy(names={h: "h"}).has(ElementwiseApplyFunction)
    h.name = "h"
    try:
        assert s.to_sympy().has(MatrixSymbol("h", m, 1))
        assert not s.to_sympy(expand=True).has(MatrixSymbol("h", m, 1))
        assert s.to_sympy(expand=True).has(ElementwiseApplyFunction)
    finally:
        h.name = None


def test_name_attribute_is_settable():
    h = sg.tanh(sg.vector("v", 2))
    h.name = "h"
    assert h.name == "h"


def test_indexed_form_keeps_matrix_parts_as_entries():
    A, v = sg.matrix("A", 3, 2), sg.vector("v", 2)
    idx = sg.vector("idx", 4, dtype="int64")
    picked = sg.tanh(A @ v)[idx]  # a gather: no matrix form, but A v has one
    g = sg.grad((picked * picked).sum(), v)
    form = picked.to_sympy()
    assert isinstance(form, sympy.Lambda) and form.has(MatrixElement)
    rng = np.random.default_rng(8)
    vals = {"A": rng.normal(size=(3, 2)), "v": rng.normal(size=2), "idx": np.array([2, 0, 2, 1])}
    t = np.tanh(vals["A"] @ vals["v"])
    np.testing.assert_allclose(numeric_indexed(form, vals, {}, (4,)), t[vals["idx"]], rtol=1e-12)
    counts = np.bincount(vals["idx"], minlength=3)
    want = vals["A"].T @ (2 * counts * t * (1 - t ** 2))
    np.testing.assert_allclose(numeric_indexed(g.to_sympy(), vals, {}, (2,)), want, rtol=1e-12)


def test_softmax_cross_entropy_gradient_indexed_form_is_correct():
    Z, labels = sg.matrix("Z", 2, 3), sg.vector("labels", 2, dtype="int64")
    g = sg.grad(sg.nn.softmax_cross_entropy(Z, labels), Z)
    form = g.to_sympy()
    assert isinstance(form, sympy.Lambda) and "max(" in str(form)
    vals = {"Z": np.array([[0.5, -1.0, 2.0], [3.0, 3.0, -2.0]]), "labels": np.array([2, 0])}
    p = np.exp(vals["Z"] - vals["Z"].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    want = (p - np.eye(3)[vals["labels"]]) / 2
    np.testing.assert_allclose(numeric_indexed(form, vals, {}, (2, 3)), want, rtol=1e-12)


def test_piecewise_of_a_matrix_product_is_indexed_over_its_entries():
    A, v = sg.matrix("A", 2, 3), sg.vector("v", 3)
    form = sg.relu(A @ v).to_sympy()
    assert isinstance(form, sympy.Lambda) and form.has(MatrixElement) and not form.has(sympy.Sum)
    rng = np.random.default_rng(9)
    vals = {"A": rng.normal(size=(2, 3)), "v": rng.normal(size=3)}
    np.testing.assert_allclose(numeric_indexed(form, vals, {}, (2,)),
                               np.maximum(vals["A"] @ vals["v"], 0), rtol=1e-12)
