"""sg.jacobian / sg.hessian for any shapes, sg.jvp (J·v) and sg.hvp (H·v) (API.md §3, §9):
shapes, values against hand-written NumPy derivatives and finite differences,
jvp / hvp against the full Jacobian / Hessian contracted with v, their own
derivatives (third order) via tests/op_checks.py, the dummy of the double-reverse
jvp never left in the graph, and build-time errors.

Three compiled functions in all.
"""
import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases
from reference import assert_close
from symgrad.ops import free_inputs

_rng = np.random.default_rng(3)
A = _rng.standard_normal((3, 2))
C = _rng.standard_normal((3, 3))


def fd_jacobian(f, x, h=1e-6):
    """Two-sided differences: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for j in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    y_shape = np.shape(f(x))
    return np.stack(cols, axis=-1).reshape(y_shape + x.shape)


# forward functions in NumPy, and their gradients by hand where a Hessian needs one

def np_tanh_layer(x):  # (2, 3) -> (2, 2)
    return np.tanh(x @ A)


def np_outer_rows(x):  # (2, 3) -> (2, 2, 2)
    return x[:, :2, None] * np.sin(x)[:, None, 1:]


def np_softmax_of_column_sums(x):  # (2, 3) -> (3,)
    s = x.sum(axis=0)
    e = np.exp(s - s.max())
    return e / e.sum()


def np_cost_2d(x):  # (2, 3) -> (), sum(exp(x) * (x @ C))
    return np.sum(np.exp(x) * (x @ C))


def np_grad_cost_2d(x):
    return np.exp(x) * (x @ C) + (np.exp(x)) @ C.T


def np_cost_3d(x):  # (2, 1, 2) -> (), sum(sin(x)) * sum(x ** 2)
    return np.sum(np.sin(x)) * np.sum(x ** 2)


def np_grad_cost_3d(x):
    return np.cos(x) * np.sum(x ** 2) + np.sum(np.sin(x)) * 2 * x


def np_softmax_rows(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_jacobian_and_hessian_of_any_shape():
    x = sg.matrix("x", 2, 3)
    x3 = sg.tensor("x3", (2, 1, 2))
    z, labels = sg.matrix("z", 2, 3), sg.vector("labels", 2, dtype="int64")
    outputs = {
        "tanh layer": (sg.jacobian(sg.tanh(x @ sg.constant(A)), x), (2, 2, 2, 3)),
        "3-d y": (sg.jacobian(x[:, :2, None] * sg.sin(x)[:, None, 1:], x), (2, 2, 2, 2, 3)),
        "1-d y, 2-d x": (sg.jacobian(sg.softmax(x.sum(axis=0)), x), (3, 2, 3)),
        "0-d y": (sg.jacobian((x * x).sum(), x), (2, 3)),
        "hessian 2-d": (sg.hessian((sg.exp(x) * (x @ sg.constant(C))).sum(), x), (2, 3, 2, 3)),
        "hessian 3-d": (sg.hessian(sg.sin(x3).sum() * (x3 ** 2).sum(), x3), (2, 1, 2) * 2),
        "hessian softmax CE": (sg.hessian(sg.nn.softmax_cross_entropy(z, labels), z), (2, 3, 2, 3)),
    }
    for name, (e, shape) in outputs.items():
        assert e.shape == shape, name
    f = sg.function([x, x3, z, labels], [e for e, _ in outputs.values()], backend="numpy")
    xv, x3v, zv, lv = _rng.standard_normal((2, 3)), _rng.standard_normal((2, 1, 2)), \
        _rng.standard_normal((2, 3)), np.array([2, 0])
    got = dict(zip(outputs, f(xv, x3v, zv, lv)))

    # hand formulas where they are short
    t = np.tanh(xv @ A)
    want = np.einsum("ik,ij,lk->ikjl", 1 - t ** 2, np.eye(2), A)  # d y[i,k] / d x[j,l]
    assert_close(got["tanh layer"], want, rtol=1e-10, atol=1e-12)
    assert_close(got["0-d y"], 2 * xv, rtol=1e-12, atol=0)
    p = np_softmax_rows(zv)
    want = np.zeros((2, 3, 2, 3))
    for i in range(2):  # mean over the batch of 2: each block (diag(p) - p pᵀ) / 2
        want[i, :, i, :] = (np.diag(p[i]) - np.outer(p[i], p[i])) / 2
    assert_close(got["hessian softmax CE"], want, rtol=1e-10, atol=1e-12)
    # and every one against finite differences of NumPy code
    checks = {"tanh layer": (np_tanh_layer, xv), "3-d y": (np_outer_rows, xv),
              "1-d y, 2-d x": (np_softmax_of_column_sums, xv), "0-d y": (lambda a: np.sum(a * a), xv),
              "hessian 2-d": (np_grad_cost_2d, xv), "hessian 3-d": (np_grad_cost_3d, x3v),
              "hessian softmax CE": (lambda a: (np_softmax_rows(a) - np.eye(3)[lv]) / 2, zv)}
    for name, (fn, at) in checks.items():
        assert_close(got[name], fd_jacobian(fn, at), rtol=1e-6, atol=1e-8)
    # Hessians are symmetric
    for name, n in (("hessian 2-d", 6), ("hessian 3-d", 4)):
        H = got[name].reshape(n, n)
        assert_close(H, H.T, rtol=1e-12, atol=1e-12)


def test_jvp_and_hvp_match_the_full_jacobian_and_hessian():
    x, v = sg.matrix("x", 2, 3), sg.matrix("v", 2, 3)
    x3, v3 = sg.tensor("x3", (2, 1, 2)), sg.tensor("v3", (2, 1, 2))
    y3 = x[:, :2, None] * sg.sin(x)[:, None, 1:]
    cost2 = (sg.exp(x) * (x @ sg.constant(C))).sum()
    cost3 = sg.sin(x3).sum() * (x3 ** 2).sum()
    # named batch dimension: y (batch, 4) from X (batch, 3) and a fixed-size W (3, 4)
    X, VX = sg.matrix("X", "batch", 3), sg.matrix("VX", "batch", 3)
    W, VW = sg.matrix("W", 3, 4), sg.matrix("VW", 3, 4)
    yb = sg.tanh(X @ W)
    outs = [
        sg.jvp(y3, x, v), sg.jacobian(y3, x),
        sg.hvp(cost2, x, v), sg.hessian(cost2, x),
        sg.hvp(cost3, x3, v3), sg.hessian(cost3, x3),
        sg.jvp(sg.grad(cost2, x), x, v),             # the jvp of a gradient is the hvp
        sg.jvp(yb, [X, W], [VX, VW]),                 # lists: the sum of the products
        sg.jvp(yb, W, VW),
        *sg.hvp((yb ** 2).sum(), [X, W], [VX, VW]),
        sg.jvp((x ** 3).sum(), x, v),                 # 0-d y: a 0-d result
    ]
    assert outs[0].shape == (2, 2, 2) and outs[2].shape == (2, 3) and outs[4].shape == (2, 1, 2)
    assert outs[-1].shape == () and outs[9].shape == X.shape and outs[10].shape == (3, 4)
    assert [str(d) for d in outs[7].shape] == ["batch", "4"]
    f = sg.function([x, v, x3, v3, X, VX, W, VW], outs, backend="numpy")
    xv, vv = _rng.standard_normal((2, 3)), _rng.standard_normal((2, 3))
    x3v, v3v = _rng.standard_normal((2, 1, 2)), _rng.standard_normal((2, 1, 2))
    Xv, VXv, Wv, VWv = (_rng.standard_normal(s) for s in [(5, 3), (5, 3), (3, 4), (3, 4)])
    (jv3, J3, hv2, H2, hv3, H3, jvg, jvb, jvw, hvX, hvW, jv0) = f(xv, vv, x3v, v3v, Xv, VXv, Wv, VWv)

    assert_close(jv3, np.einsum("abcij,ij->abc", J3, vv), rtol=1e-10, atol=1e-12)
    assert_close(hv2, np.einsum("abij,ij->ab", H2, vv), rtol=1e-10, atol=1e-12)
    assert_close(hv3, np.einsum("abcijk,ijk->abc", H3, v3v), rtol=1e-10, atol=1e-12)
    assert_close(jvg, hv2, rtol=1e-10, atol=1e-12)

    def along(fn, at, d, h=1e-6):
        return (fn(at + h * d) - fn(at - h * d)) / (2 * h)
    assert_close(jv3, along(np_outer_rows, xv, vv), rtol=1e-6, atol=1e-8)
    assert_close(hv2, along(np_grad_cost_2d, xv, vv), rtol=1e-6, atol=1e-8)
    assert_close(hv3, along(np_grad_cost_3d, x3v, v3v), rtol=1e-6, atol=1e-8)
    assert_close(jv0, np.sum(3 * xv ** 2 * vv), rtol=1e-12, atol=1e-12)
    t = np.tanh(Xv @ Wv)
    assert_close(jvb, (1 - t ** 2) * (VXv @ Wv + Xv @ VWv), rtol=1e-10, atol=1e-12)
    assert_close(jvw, (1 - t ** 2) * (Xv @ VWv), rtol=1e-10, atol=1e-12)

    def grads(Xa, Wa):  # of sum(tanh(X W)^2), by hand
        t = np.tanh(Xa @ Wa)
        g = 2 * t * (1 - t ** 2)
        return g @ Wa.T, Xa.T @ g
    h = 1e-6
    up, down = grads(Xv + h * VXv, Wv + h * VWv), grads(Xv - h * VXv, Wv - h * VWv)
    assert_close(hvX, (up[0] - down[0]) / (2 * h), rtol=1e-6, atol=1e-8)
    assert_close(hvW, (up[1] - down[1]) / (2 * h), rtol=1e-6, atol=1e-8)


# jvp and hvp as ops: their values against hand formulas, and their own first and
# (where smooth) second derivatives against finite differences: third and fourth
# derivatives of the function
CASES = [
    Case("jvp tanh(x @ A)", lambda x, v: sg.jvp(sg.tanh(x @ sg.constant(A)), x, v),
         [_rng.standard_normal((2, 3)), _rng.standard_normal((2, 3))],
         lambda x, v: (1 - np.tanh(x @ A) ** 2) * (v @ A)),
    Case("jvp softmax rows", lambda z, v: sg.jvp(sg.softmax(z), z, v),
         [_rng.standard_normal((2, 3)), _rng.standard_normal((2, 3))],
         lambda z, v: np_softmax_rows(z) * (v - (np_softmax_rows(z) * v).sum(-1, keepdims=True))),
    Case("hvp exp(x) * (x @ C)", lambda x, v: sg.hvp((sg.exp(x) * (x @ sg.constant(C))).sum(), x, v),
         [_rng.standard_normal((2, 3)), _rng.standard_normal((2, 3))],
         lambda x, v: np.exp(x) * v * (x @ C) + np.exp(x) * (v @ C) + (np.exp(x) * v) @ C.T,
         smooth=False),
    Case("hvp logsumexp", lambda x, v: sg.hvp(sg.logsumexp(x), x, v),
         [_rng.standard_normal(4), _rng.standard_normal(4)],
         lambda x, v: (lambda p: p * v - p * np.dot(p, v))(np.exp(x) / np.exp(x).sum())),
    Case("jvp named batch", lambda x, v: sg.jvp(sg.sin(x) * x.sum(axis=1, keepdims=True), x, v),
         [_rng.standard_normal((4, 2)), _rng.standard_normal((4, 2))],
         lambda x, v: np.cos(x) * v * x.sum(1, keepdims=True) + np.sin(x) * v.sum(1, keepdims=True),
         dims={0: ("jb", 2), 1: ("jb", 2)}, smooth=False),
]


def test_jvp_and_hvp_derivatives():
    check_cases(CASES, backend="numpy")


def test_the_jvp_dummy_never_remains_an_input():
    x, v = sg.matrix("x", 2, 3), sg.matrix("v", 2, 3)
    W = sg.matrix("W", 3, 4)
    ys = [sg.tanh(x @ W), sg.softmax(x), sg.max(x, axis=1), sg.where(x > 0, x, 2 * x),
          sg.logsumexp(x, axis=0), x[:, 1:] * x[:, :2], sg.concatenate([x, x ** 2], axis=1),
          sg.cumsum(x, axis=1), sg.maximum(x, 0.5) * sg.abs(x)]
    for y in ys:
        names = {e.name for e in free_inputs([sg.jvp(y, x, v)])}
        assert not any(n.startswith("jvp_u") for n in names), (y.describe(), names)
        assert "v" in names
    # and if one ever survived, it would be replaced by zeros (the result does not depend on it)
    from symgrad.autodiff import _without
    u = sg.matrix("u", 2, 3)
    e = x * 2.0 + u * 0.0
    cleaned = _without(e, u)
    assert u not in free_inputs([cleaned])
    assert_close(cleaned.eval({x: np.ones((2, 3))}), np.full((2, 3), 2.0))


def test_disconnected_and_linear():
    x, c, v = sg.vector("x", 2), sg.vector("c", 2), sg.vector("v", 2)
    with pytest.raises(sg.DisconnectedInputError, match="x"):
        sg.jvp(c * 2.0, x, v)
    zero = sg.jvp(c * 2.0, x, v, disconnected="zero")
    assert zero.shape == (2,)
    assert_close(zero.eval({v: np.ones(2), c: np.ones(2)}), np.zeros(2))
    # a linear cost: grad is constant, so H·v = 0 (no error)
    hv = sg.hvp((c * x).sum(), x, v)
    assert_close(hv.eval({c: [1.0, 2.0], v: [3.0, 4.0], x: [0.0, 0.0]}), np.zeros(2))
    with pytest.raises(sg.DisconnectedInputError):
        sg.hvp(c.sum(), x, v)


def test_errors():
    x, M = sg.vector("x", 2), sg.matrix("M", "batch", 2)
    with pytest.raises(sg.ShapeError, match="batch.*jvp"):
        sg.jacobian(M * x, x)
    with pytest.raises(sg.ShapeError, match="batch.*hvp"):
        sg.hessian((M ** 2).sum(), M)
    with pytest.raises(sg.ShapeError, match="direction v must have x's shape"):
        sg.jvp(x * x, x, sg.vector("v3", 3))
    with pytest.raises(sg.ShapeError, match="M"):
        sg.hvp((M ** 2).sum(), M, sg.matrix("V", "other", 2))
    with pytest.raises(ValueError, match="one direction per x"):
        sg.jvp(x * x, [x], [x, x])
    with pytest.raises(TypeError, match="list"):
        sg.hvp((x * x).sum(), [x], x)
    with pytest.raises(ValueError, match="0-d"):
        sg.hvp(x * x, x, x)
    with pytest.raises(TypeError, match="floating-point"):
        sg.jvp(sg.vector("i", 2, dtype="int64"), x, x)
    with pytest.raises(TypeError, match="floating-point"):
        sg.jacobian(x, sg.vector("i", 2, dtype="int64"))
    with pytest.raises(TypeError, match="expression"):
        sg.hessian((x * x).sum(), np.ones(2))
    # the 1-d behaviour is unchanged, and named dimensions of x are fine in a jacobian
    assert sg.jacobian(x * x, x).shape == (2, 2)
    assert [str(d) for d in sg.jacobian((M * x).sum(), M).shape] == ["batch", "2"]
    assert [str(d) for d in sg.jacobian((M * x).sum(axis=0), M).shape] == ["2", "batch", "2"]
