"""prod, cumprod, var, std, norm and logsumexp over several axes (symgrad/reductions.py),
and the Scan primitive under them (symgrad/ops/scan.py).

One table of cases checked against NumPy (values, gradients and Hessian-vector
products against finite differences, see tests/op_checks.py), then the
zero-safety of products against the hand-derived product-of-the-others
formulas (first and second derivatives), and build-time errors.
"""
import re

import numpy as np
import pytest

import symgrad as sg
from symgrad.ops import Scan

from op_checks import Case, check_cases

RNG = np.random.default_rng(14)


def _normal(*shape):
    return RNG.standard_normal(shape)


def _away_from_zero(*shape):
    """Entries of size 0.5..1.5 with random signs (smooth for |x|**p, ties unlikely)."""
    return RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


def _scan_reference(a, b, axis, reverse):
    """y[0] = b[0], y[i] = a[i] y[i-1] + b[i]; reversed: y[i] = a[i+1] y[i+1] + b[i]."""
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    y = np.zeros_like(b)
    n = len(b)
    order = range(n - 1, -1, -1) if reverse else range(n)
    for i in order:
        y[i] = b[i]
        if reverse and i + 1 < n:
            y[i] += a[i + 1] * y[i + 1]
        if not reverse and i > 0:
            y[i] += a[i] * y[i - 1]
    return np.moveaxis(y, 0, axis)


def _quiet(f, *args, **kw):
    with np.errstate(invalid="ignore"):  # inf * 0 is nan, on purpose
        return f(*args, **kw)


def _with_zeros(shape, where):
    x = _away_from_zero(*shape)
    x[where] = 0.0
    return x


def _logsumexp(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# Three tables, one compiled function each. Second derivatives are checked
# where they say something new (zeros in products, both scan directions, var,
# std, p-norms); elsewhere first order only (smooth=False), which keeps the
# Numba compiles small.

def _product_cases():
    two_zeros = _with_zeros((5,), [1, 3])
    z = _with_zeros((3, 4), ([0, 1, 1], [2, 0, 3]))  # rows with one and two zeros
    return [
        Case("prod two zeros", lambda x: sg.prod(x), [two_zeros], np.prod),
        Case("prod axis=(2, 0) keepdims, zeros", lambda x: sg.prod(x, axis=(2, 0), keepdims=True),
             [_with_zeros((2, 3, 2), ([0, 1], [1, 1], [1, 0]))],
             lambda x: np.prod(x, axis=(2, 0), keepdims=True)),
        Case("prod axis=-1 named other", lambda x: sg.prod(x, axis=-1), [z],
             lambda x: np.prod(x, axis=-1), dims={0: ("n", 4)}, smooth=False),
        Case("prod named axis", lambda x: sg.prod(x, axis=0, keepdims=True), [z],
             lambda x: np.prod(x, axis=0, keepdims=True), dims={0: ("n", 4)}, smooth=False),
        Case("prod int32 in int64", lambda i: sg.prod(i), [np.array([2**20, 2**20, 3], np.int32)],
             lambda i: np.prod(i, dtype=np.int64)),
        Case("prod inf and zero", lambda x: sg.prod(x, axis=1), [np.array(
            [[np.inf, 2.0], [np.inf, 0.0], [-np.inf, np.inf]])], lambda x: _quiet(np.prod, x, axis=1),
            wrt=()),
        Case("cumprod two zeros", lambda x: sg.cumprod(x), [two_zeros], np.cumprod),
        Case("cumprod flattened", lambda x: sg.cumprod(x), [z], np.cumprod, smooth=False),
        Case("cumprod axis=-2 of 3-d", lambda x: sg.cumprod(x, axis=-2),
             [_away_from_zero(2, 3, 2)], lambda x: np.cumprod(x, axis=-2), smooth=False),
        Case("cumprod named axis", lambda x: sg.cumprod(x, axis=0), [z],
             lambda x: np.cumprod(x, axis=0), dims={0: ("n", 4)}, smooth=False),
        Case("cumprod inf first", lambda x: sg.cumprod(x), [np.array([np.inf, 2.0, 0.0, 1.0])],
             lambda x: _quiet(np.cumprod, x), wrt=()),
        Case("float32 prod", lambda x: sg.prod(x, axis=0),
             [_with_zeros((4, 3), (1, 2)).astype(np.float32)],
             lambda x: np.prod(x, axis=0), wrt=(), rtol=1e-6),
        Case("float32 cumprod", lambda x: sg.cumprod(x, axis=1),
             [_away_from_zero(3, 5).astype(np.float32)],
             lambda x: np.cumprod(x.astype(np.float64), axis=1), wrt=(), rtol=1e-6),
        # the primitive itself: both inputs, both directions
        Case("scan", lambda a, b: Scan(1)(a, b), [_normal(3, 5), _normal(3, 5)],
             lambda a, b: _scan_reference(a, b, 1, False)),
        Case("scan reversed", lambda a, b: Scan(1, True)(a, b),
             [_normal(3, 5), _normal(3, 5)], lambda a, b: _scan_reference(a, b, 1, True)),
        Case("scan reversed, axis 0 named", lambda a, b: Scan(0, True)(a, b),
             [_normal(4, 2), _normal(4, 2)], lambda a, b: _scan_reference(a, b, 0, True),
             dims={0: ("s", 2), 1: ("s", 2)}, smooth=False),
    ]


def _moment_cases():
    m, t = _normal(3, 4), _normal(2, 3, 4)
    return [
        Case("var", lambda x: sg.var(x), [m], np.var),
        Case("var axis=(0, 2) ddof=2 keepdims",
             lambda x: sg.var(x, axis=(0, 2), ddof=2, keepdims=True), [t],
             lambda x: np.var(x, axis=(0, 2), ddof=2, keepdims=True), smooth=False),
        Case("var named axis ddof=1", lambda x: sg.var(x, axis=0, ddof=1), [m],
             lambda x: np.var(x, axis=0, ddof=1), dims={0: ("n", 4)}, smooth=False),
        Case("var named, all axes", lambda x: sg.var(x, ddof=1), [m],
             lambda x: np.var(x, ddof=1), dims={0: ("n", 4)}, smooth=False),
        Case("var int64", lambda i: sg.var(i), [np.array([1, 5, 2, 8])], np.var),
        Case("std axis=1 ddof=1", lambda x: sg.std(x, axis=1, ddof=1), [m],
             lambda x: np.std(x, axis=1, ddof=1)),
        Case("std axis=-1 keepdims", lambda x: sg.std(x, axis=-1, keepdims=True), [t],
             lambda x: np.std(x, axis=-1, keepdims=True), smooth=False),
        Case("std named axis", lambda x: sg.std(x, axis=0), [m],
             lambda x: np.std(x, axis=0), dims={0: ("n", 4)}, smooth=False),
        Case("float32 var", lambda x: sg.var(x, axis=0, ddof=1), [m.astype(np.float32)],
             lambda x: np.var(x.astype(np.float64), axis=0, ddof=1), wrt=(), rtol=1e-5),
        Case("float32 std", lambda x: sg.std(x, axis=1), [m.astype(np.float32)],
             lambda x: np.std(x.astype(np.float64), axis=1), wrt=(), rtol=1e-5),
        # logsumexp over several axes
        Case("logsumexp axis=(0, 2)", lambda x: sg.logsumexp(x, axis=(0, 2)), [t],
             lambda x: _logsumexp(x, (0, 2)), smooth=False),
        Case("logsumexp axis=(0, 2) keepdims",
             lambda x: sg.logsumexp(x, axis=(0, 2), keepdims=True), [t],
             lambda x: _logsumexp(x, (0, 2), keepdims=True)),
        Case("logsumexp axis=(-1, 0) named", lambda x: sg.logsumexp(x, axis=(-1, 0)), [t],
             lambda x: _logsumexp(x, (0, 2)), dims={0: (2, "n", 4)}, smooth=False),
    ]


def _norm_cases():
    v, m, t = _away_from_zero(5), _away_from_zero(3, 4), _away_from_zero(2, 3, 4)
    second = (None, 3, 0.5)
    cases = [Case(f"norm vector ord={o}", lambda x, o=o: sg.norm(x, o), [v],
                  lambda x, o=o: np.linalg.norm(x, o), smooth=o in second,
                  wrt=() if o == 0 else None)  # a count: no gradient
             for o in (None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, 1.5)]
    cases += [
        Case("norm axis=1 ord=3", lambda x: sg.norm(x, 3, axis=1), [m],
             lambda x: np.linalg.norm(x, 3, axis=1), smooth=False),
        Case("norm axis=0 keepdims", lambda x: sg.norm(x, axis=0, keepdims=True), [m],
             lambda x: np.linalg.norm(x, axis=0, keepdims=True), smooth=False),
        Case("norm 3-d flattened keepdims", lambda x: sg.norm(x, keepdims=True), [t],
             lambda x: np.linalg.norm(x, keepdims=True), smooth=False),
        Case("norm named axis", lambda x: sg.norm(x, np.inf, axis=0), [m],
             lambda x: np.linalg.norm(x, np.inf, axis=0), dims={0: ("n", 4)}, smooth=False),
        Case("float32 norm", lambda x: sg.norm(x, 3, axis=1), [m.astype(np.float32)],
             lambda x: np.linalg.norm(x.astype(np.float64), 3, axis=1), wrt=(), rtol=1e-5),
    ]
    cases += [Case(f"norm matrix ord={o}", lambda x, o=o: sg.norm(x, o), [m],
                   lambda x, o=o: np.linalg.norm(x, o), smooth=False)
              for o in ("fro", 1, -1, np.inf, -np.inf)]
    cases += [Case(f"norm axis=(2, 0) ord={o} keepdims",
                   lambda x, o=o: sg.norm(x, o, axis=(2, 0), keepdims=True), [t],
                   lambda x, o=o: np.linalg.norm(x, o, axis=(2, 0), keepdims=True), smooth=False)
              for o in (1, np.inf)]
    cases.append(Case("norm matrix named", lambda x: sg.norm(x, 1, axis=(0, 1)), [m],
                      lambda x: np.linalg.norm(x, 1, axis=(0, 1)), dims={0: ("m", 4)},
                      smooth=False))
    return cases


def test_products_match_numpy_to_second_order():
    check_cases(_product_cases())


def test_moments_match_numpy_to_second_order():
    check_cases(_moment_cases())


def test_norms_match_numpy_to_second_order():
    check_cases(_norm_cases())


def _others(x):
    """d prod / d x_i = the product of the other entries (no division)."""
    return np.array([np.prod(np.delete(x, i)) for i in range(len(x))])


def _others2(x):
    """d² prod / d x_i d x_j = the product of the entries but i and j (0 on the diagonal)."""
    n = len(x)
    return np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(n)]
                     for i in range(n)])


def _cumprod_jacobian(x):
    """d cumprod(x)_i / d x_j = the product of x_0..x_i but x_j, for j <= i."""
    n = len(x)
    return np.array([[np.prod(np.delete(x[:i + 1], j)) if j <= i else 0.0 for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("zeros", [[], [2], [1, 3], [0, 4], [0, 1, 2, 3, 4]],
                         ids=["none", "one", "two", "ends", "all"])
def test_product_derivatives_with_zeros_are_the_products_of_the_others(zeros, compiled=[]):
    if not compiled:  # one compile for every parametrisation
        x = sg.vector("x", 5)
        w = sg.vector("w", 5)
        p, c = sg.prod(x), sg.cumprod(x)
        jac = sg.stack([sg.grad(c[i], x) for i in range(5)])
        hess_c = sg.grad((sg.grad((w * c).sum(), x) * w).sum(), x)  # H(w.c) w
        compiled.append(sg.function([x, w], [p, sg.grad(p, x), sg.hessian(p, x), c, jac, hess_c],
                                    backend="numpy"))
    f = compiled[0]
    x = np.array([1.5, -2.0, 0.5, 3.0, -1.25])
    x[zeros] = 0.0
    w = np.array([0.3, -1.0, 2.0, 0.7, 1.1])
    p, g, h, c, jac, hess_c = f(x, w)
    assert p == np.prod(x)
    np.testing.assert_allclose(g, _others(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(h, _others2(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(c, np.cumprod(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(jac, _cumprod_jacobian(x), rtol=1e-14, atol=0)
    # H(w.c)[j, k] = sum_i w_i * (product of x_0..x_i but x_j and x_k), j != k <= i
    n = len(x)
    want = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            for k in range(i + 1):
                if j != k:
                    want[j, k] += w[i] * np.prod(np.delete(x[:i + 1], [j, k]))
    np.testing.assert_allclose(hess_c, want @ w, rtol=1e-13, atol=1e-15)
    assert not np.isnan(g).any() and not np.isnan(h).any() and not np.isnan(jac).any()


def test_edges_empty_named_axes_and_norms_at_zero():
    """Products over a named axis bound to 0 (the empty product, in range reads),
    and the gradient of norms at the origin (PyTorch's 0)."""
    e = sg.matrix("e", "k", 3)
    x = sg.vector("x", 4)
    outs = [sg.prod(e, axis=0), sg.cumprod(e, axis=0), sg.prod(e),
            sg.grad(sg.prod(e, axis=0).sum(), e),
            sg.grad(sg.norm(x), x), sg.grad(sg.norm(x, 3), x), sg.grad(sg.norm(x, 1), x),
            sg.grad(sg.norm(x, 0.5), x)]
    f = sg.function([e, x], outs, backend="numpy")
    got = f(np.zeros((0, 3)), np.zeros(4))
    np.testing.assert_array_equal(got[0], np.ones(3))
    assert got[1].shape == (0, 3) and got[3].shape == (0, 3)
    assert got[2] == 1.0
    for g in got[4:]:
        np.testing.assert_array_equal(g, np.zeros(4))
    got = f(np.arange(1.0, 7.0).reshape(2, 3), np.array([0.0, 3.0, 0.0, -4.0]))
    np.testing.assert_array_equal(got[0], [4.0, 10.0, 18.0])
    np.testing.assert_array_equal(got[1], np.cumprod(np.arange(1.0, 7.0).reshape(2, 3), axis=0))
    assert got[2] == 720.0
    np.testing.assert_array_equal(got[3], [[4.0, 5.0, 6.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(got[4], [0.0, 0.6, 0.0, -0.8], rtol=1e-15)
    np.testing.assert_array_equal(got[6], [0.0, 1.0, 0.0, -1.0])  # |x|'(0) = 0


def test_static_sizes_of_zero():
    x = sg.matrix("x", 0, 3)
    np.testing.assert_array_equal(sg.prod(x, axis=0).eval({x: np.zeros((0, 3))}), np.ones(3))
    assert sg.cumprod(x, axis=0).shape == (0, 3)
    assert sg.prod(sg.vector("v", 3), axis=()).shape == (3,)


def test_build_time_errors_name_the_expression():
    x, M, T = sg.vector("x", 3), sg.matrix("M", 2, 3), sg.tensor("T", (2, 3, 4))
    with pytest.raises(ValueError, match=r"var of 'x'.*ddof=3"):
        sg.var(x, ddof=3)
    with pytest.raises(ValueError, match=r"M.*singular values"):
        sg.norm(M, 2)
    with pytest.raises(ValueError, match=r"M.*singular values"):
        sg.norm(M, "nuc")
    with pytest.raises(ValueError, match=r"x.*'fro' is for matrices"):
        sg.norm(x, "fro")
    with pytest.raises(ValueError, match=r"invalid norm order 3 .*M"):
        sg.norm(M, 3)
    with pytest.raises(ValueError, match=r"x.*ord=-1 < 0"):
        sg.norm(x, -1)
    with pytest.raises(sg.ShapeError, match=r"T.*pass axis"):
        sg.norm(T, 1)
    with pytest.raises(sg.ShapeError, match=r"T.*3 axes"):
        sg.norm(T, axis=(0, 1, 2))
    with pytest.raises(sg.ShapeError, match="out of range"):
        sg.prod(M, axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        sg.var(M, axis=(0, 0))
    with pytest.raises(sg.ShapeError, match=r"scan.*a.*b"):
        Scan(0)(sg.vector("a", 3), sg.vector("b", 4))


def test_scan_prints_and_shows_its_direction():
    a, b = sg.vector("a", "n"), sg.vector("b", "n")
    assert str(Scan(0)(a, b).to_sympy()) == \
        "Lambda(i, Sum(b[j]*Product(a[k], (k, j + 1, i)), (j, 0, i)))"
    assert str(Scan(0, True)(a, b).to_sympy()) == \
        "Lambda(i, Sum(b[j]*Product(a[k], (k, i + 1, j)), (j, i, n - 1)))"
    assert sg.debugprint(Scan(0, True)(a, b)).startswith("scan axis=0 reversed")
