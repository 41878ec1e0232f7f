"""Optimisers against hand-written update formulas (always) and torch.optim
(within 1e-10 relative over 100 steps, when torch is installed)."""
import math

import numpy as np
import pytest

import symgrad as sg
from symgrad.optim import SparseRows

SHAPES = {"W": (5, 3), "b": (4,)}


def quadratic_grads(params, t, noise):
    """A closed-loop gradient: of sum((p - 1)**2 * scale) plus per-step noise."""
    return {k: 2.0 * (p - 1.0) * np.linspace(0.5, 2.0, p.size).reshape(p.shape) + noise[k][t]
            for k, p in params.items()}


def make_problem(seed=0, steps=100):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    noise = {k: rng.normal(scale=0.3, size=(steps,) + s) for k, s in SHAPES.items()}
    return params, noise


def run_ours(opt, params, noise, steps):
    params = {k: v.copy() for k, v in params.items()}
    for t in range(steps):
        opt.step(params, quadratic_grads(params, t, noise))
    return params


# ------------------------------------------------------------ formula references
# Textbook forms, written independently of symgrad/optim (one array at a time).

def ref_sgd(p, g, st, lr, momentum=0.0, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum:
        st["b"] = g.copy() if "b" not in st else momentum * st["b"] + g
        g = st["b"]
    return p - lr * g


def ref_adagrad(p, g, st, lr, eps=1e-10, weight_decay=0.0):
    g = g + weight_decay * p
    st["G"] = st.get("G", 0.0) + g ** 2
    return p - lr * g / (np.sqrt(st["G"]) + eps)


def ref_rmsprop(p, g, st, lr, alpha=0.99, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * p
    st["v"] = alpha * st.get("v", 0.0) + (1 - alpha) * g ** 2
    return p - lr * g / (np.sqrt(st["v"]) + eps)


def ref_adam(p, g, st, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * p
    t = st["t"] = st.get("t", 0) + 1
    st["m"] = betas[0] * st.get("m", 0.0) + (1 - betas[0]) * g
    st["v"] = betas[1] * st.get("v", 0.0) + (1 - betas[1]) * g ** 2
    m_hat, v_hat = st["m"] / (1 - betas[0] ** t), st["v"] / (1 - betas[1] ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


CASES = [
    (sg.optim.SGD, ref_sgd, dict(lr=0.05)),
    (sg.optim.SGD, ref_sgd, dict(lr=0.03, momentum=0.9)),
    (sg.optim.SGD, ref_sgd, dict(lr=0.03, momentum=0.5, weight_decay=0.1)),
    (sg.optim.Adagrad, ref_adagrad, dict(lr=0.3)),
    (sg.optim.Adagrad, ref_adagrad, dict(lr=0.1, eps=1e-3, weight_decay=0.05)),
    (sg.optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    (sg.optim.RMSprop, ref_rmsprop, dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.01)),
    (sg.optim.Adam, ref_adam, dict(lr=0.01)),
    (sg.optim.Adam, ref_adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.02)),
]
IDS = [f"{cls.__name__}-{hyper}" for cls, _, hyper in CASES]


@pytest.mark.parametrize("cls, ref, hyper", CASES, ids=IDS)
def test_matches_formula(cls, ref, hyper):
    steps = 30
    params, noise = make_problem(steps=steps)
    ours = run_ours(cls(**hyper), params, noise, steps)
    expected = {k: v.copy() for k, v in params.items()}
    states = {k: {} for k in params}
    for t in range(steps):
        grads = quadratic_grads(expected, t, noise)
        expected = {k: ref(expected[k], grads[k], states[k], **hyper) for k in expected}
    for k in params:
        np.testing.assert_allclose(ours[k], expected[k], rtol=1e-12, atol=1e-13, err_msg=k)
        assert not np.allclose(ours[k], params[k]), "the parameters did not move"


def test_first_steps_by_hand():
    # Adam's first step is lr * sign(g) (eps = 0); its second with g2 = g1 / 2:
    # m = 0.1 * (0.9 * 1 + 0.5)... written out for one coordinate.
    p = {"w": np.array([1.0])}
    opt = sg.optim.Adam(lr=0.1, betas=(0.9, 0.999), eps=0.0)
    opt.step(p, {"w": np.array([2.0])})
    assert p["w"][0] == pytest.approx(0.9, abs=1e-15)
    opt.step(p, {"w": np.array([1.0])})
    m = 0.9 * 0.2 + 0.1 * 1.0
    v = 0.999 * 0.001 * 4 + 0.001 * 1.0
    expected = 0.9 - 0.1 * (m / (1 - 0.81)) / math.sqrt(v / (1 - 0.999 ** 2))
    assert p["w"][0] == pytest.approx(expected, rel=1e-14)


def test_keys_by_variable_or_name_and_partial_grads():
    W = sg.matrix("W", 2, 2)
    for key in (W, "W"):
        p = {key: np.ones((2, 2)), "other": np.ones(3)}
        sg.optim.SGD(lr=0.5).step(p, {key: np.full((2, 2), 2.0)})
        np.testing.assert_array_equal(p[key], np.zeros((2, 2)))
        np.testing.assert_array_equal(p["other"], np.ones(3))   # no gradient: untouched


def test_caller_gradients_are_not_modified():
    params, noise = make_problem(steps=3)
    for opt in (sg.optim.SGD(0.1, momentum=0.9), sg.optim.Adam(), sg.optim.RMSprop(),
                sg.optim.Adagrad(), sg.optim.SparseAdam()):
        p = {k: v.copy() for k, v in params.items()}
        for t in range(3):
            grads = quadratic_grads(p, t, noise)
            before = {k: g.copy() for k, g in grads.items()}
            opt.step(p, grads)
            for k in grads:
                np.testing.assert_array_equal(grads[k], before[k])


def test_bad_arguments():
    opt = sg.optim.SGD(lr=0.1)
    with pytest.raises(KeyError, match="'v'"):
        opt.step({"w": np.zeros(2)}, {"v": np.zeros(2)})
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        opt.step({"w": np.zeros(2)}, {"w": np.zeros(3)})
    with pytest.raises(TypeError, match="float NumPy array"):
        opt.step({"w": [0.0, 0.0]}, {"w": np.zeros(2)})
    with pytest.raises(TypeError, match="float NumPy array"):
        opt.step({"w": np.zeros(2, dtype=np.int64)}, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match="sparse gradient.*shape"):
        opt.step({"E": np.zeros((4, 2))}, {"E": SparseRows([0], np.ones((1, 2)), (5, 2))})
    for make in (lambda: sg.optim.SGD(lr=-1.0), lambda: sg.optim.Adam(betas=(0.9, 1.0)),
                 lambda: sg.optim.RMSprop(alpha=1.5), lambda: sg.optim.Adagrad(eps=-1.0),
                 lambda: sg.optim.SGD(0.1, momentum=-0.5)):
        with pytest.raises(ValueError):
            make()


# ------------------------------------------------------------ sparse gradients

def sparse_problem(seed=1, vocab=30, dim=3, steps=100, batch=6):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(vocab, dim))
    # rows 0..vocab-6 only: the last five rows never get a gradient
    idx = [rng.integers(0, vocab - 5, size=batch) for _ in range(steps)]
    vals = [rng.normal(size=(batch, dim)) for _ in range(steps)]
    return E, idx, vals


def test_sparse_rows_dense_and_coalesced_forms():
    g = SparseRows(np.array([4, 1, 4, 4]), np.arange(8.0).reshape(4, 2), (6, 2))
    dense = np.zeros((6, 2))
    for i, row in zip([4, 1, 4, 4], np.arange(8.0).reshape(4, 2)):
        dense[i] += row
    np.testing.assert_array_equal(g.to_dense(), dense)
    c = g.coalesce()
    np.testing.assert_array_equal(c.indices, [1, 4])
    np.testing.assert_array_equal(c.values, dense[[1, 4]])
    with pytest.raises(IndexError, match="6 is out of range"):
        SparseRows([6], np.zeros((1, 2)), (6, 2))
    with pytest.raises(ValueError, match="shape"):
        SparseRows([1], np.zeros((1, 3)), (6, 2))
    with pytest.raises(TypeError, match="integer"):
        SparseRows(np.array([1.0]), np.zeros((1, 2)), (6, 2))


@pytest.mark.parametrize("make", [lambda: sg.optim.SGD(lr=0.1),
                                  lambda: sg.optim.Adagrad(lr=0.1)], ids=["SGD", "Adagrad"])
def test_row_wise_sparse_equals_dense(make, monkeypatch):
    E, idx, vals = sparse_problem()
    dense = {"E": E.copy()}
    opt = make()
    for i, v in zip(idx, vals):
        opt.step(dense, {"E": SparseRows(i, v, E.shape).to_dense()})
    # the row-wise path never builds a vocabulary-sized gradient
    monkeypatch.setattr(SparseRows, "to_dense", lambda self: pytest.fail("densified"))
    sparse = {"E": E.copy()}
    opt = make()
    assert opt.row_wise
    for i, v in zip(idx, vals):
        opt.step(sparse, {"E": SparseRows(i, v, E.shape)})
    np.testing.assert_allclose(sparse["E"], dense["E"], rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(sparse["E"][-5:], E[-5:])


def ref_sparse_adam(E, idx, vals, lr, betas, eps):
    """SparseAdam written one row at a time: only present rows' moments move."""
    E, m, v = E.copy(), np.zeros_like(E), np.zeros_like(E)
    for t, (rows, values) in enumerate(zip(idx, vals), start=1):
        g = {}
        for r, val in zip(rows, values):
            g[r] = g.get(r, 0.0) + val
        for r, gr in g.items():
            m[r] = betas[0] * m[r] + (1 - betas[0]) * gr
            v[r] = betas[1] * v[r] + (1 - betas[1]) * gr ** 2
            E[r] -= lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t) * (
                m[r] / (np.sqrt(v[r]) + eps))
    return E


def test_sparse_adam_matches_formula_and_touches_only_present_rows(monkeypatch):
    monkeypatch.setattr(SparseRows, "to_dense", lambda self: pytest.fail("densified"))
    E, idx, vals = sparse_problem(steps=40)
    p, opt = {"E": E.copy()}, sg.optim.SparseAdam(lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    for i, v in zip(idx, vals):
        before = p["E"].copy()
        opt.step(p, {"E": SparseRows(i, v, E.shape)})
        untouched = np.setdiff1d(np.arange(len(E)), i)
        # rows with an earlier gradient (nonzero moments) stay put when absent now
        np.testing.assert_array_equal(p["E"][untouched], before[untouched])
    expected = ref_sparse_adam(E, idx, vals, lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    np.testing.assert_allclose(p["E"], expected, rtol=1e-12, atol=1e-13)


def test_dense_adam_keeps_moving_absent_rows():
    # the contrast with SparseAdam: Adam's momentum moves a row without a gradient
    p, opt = {"E": np.zeros((3, 1))}, sg.optim.Adam(lr=0.1)
    opt.step(p, {"E": np.array([[1.0], [0.0], [0.0]])})
    before = p["E"].copy()
    opt.step(p, {"E": SparseRows([1], np.ones((1, 1)), (3, 1))})
    assert p["E"][0, 0] != before[0, 0] and p["E"][2, 0] == 0.0


def test_sparse_adam_with_dense_gradient_counts_every_row():
    rng = np.random.default_rng(3)
    E, gs = rng.normal(size=(4, 2)), rng.normal(size=(5, 4, 2))
    a, b = {"E": E.copy()}, {"E": E.copy()}
    opt_a, opt_b = sg.optim.SparseAdam(lr=0.1), sg.optim.SparseAdam(lr=0.1)
    for g in gs:
        opt_a.step(a, {"E": g})
        opt_b.step(b, {"E": SparseRows(np.arange(4), g, (4, 2))})
    np.testing.assert_allclose(a["E"], b["E"], rtol=1e-14)


# ------------------------------------------------------------ torch.optim

def run_torch(torch_cls, hyper, params, noise, steps):
    torch = pytest.importorskip("torch")
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    opt = torch_cls(list(tp.values()), **hyper)
    for t in range(steps):
        grads = quadratic_grads({k: v.detach().numpy() for k, v in tp.items()}, t, noise)
        for k, v in tp.items():
            v.grad = torch.tensor(grads[k])
        opt.step()
    return {k: v.detach().numpy() for k, v in tp.items()}


@pytest.mark.parametrize("cls, ref, hyper", CASES, ids=IDS)
def test_matches_torch(cls, ref, hyper):
    torch = pytest.importorskip("torch")
    steps = 100
    params, noise = make_problem(seed=5, steps=steps)
    ours = run_ours(cls(**hyper), params, noise, steps)
    theirs = run_torch(getattr(torch.optim, cls.__name__), hyper, params, noise, steps)
    for k in params:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=0, err_msg=k)


@pytest.mark.parametrize("name, hyper", [
    ("SGD", dict(lr=0.1)), ("Adagrad", dict(lr=0.2)),
    ("SparseAdam", dict(lr=0.01)), ("SparseAdam", dict(lr=0.05, betas=(0.7, 0.9), eps=1e-4)),
])
def test_sparse_matches_torch(name, hyper):
    torch = pytest.importorskip("torch")
    E, idx, vals = sparse_problem(steps=100)
    ours, opt = {"E": E.copy()}, getattr(sg.optim, name)(**hyper)
    tE = torch.tensor(E, requires_grad=True)
    topt = getattr(torch.optim, name)([tE], **hyper)
    with torch.sparse.check_sparse_tensor_invariants():
        for i, v in zip(idx, vals):
            opt.step(ours, {"E": SparseRows(i, v, E.shape)})
            tE.grad = torch.sparse_coo_tensor(torch.tensor(i)[None], torch.tensor(v), E.shape)
            topt.step()
    theirs = tE.detach().numpy()
    np.testing.assert_allclose(ours["E"], theirs, rtol=1e-10, atol=0)
    np.testing.assert_array_equal(ours["E"][-5:], E[-5:])


def test_sparse_grad_equals_the_dense_gradient():
    E = sg.matrix("E", 40, 3)
    a, b = sg.matrix("a", "batch", 2, dtype="int64"), sg.vector("b", "n", dtype="int64")
    w = sg.vector("w", 6)
    cost = sg.sum(sg.tanh(E[a].reshape(("batch", 6)) @ w)) + sg.sum(E[b] ** 2)
    index, rows = sg.optim.sparse_grad(cost, E)
    f = sg.function([E, a, b, w], [index, rows, sg.grad(cost, E)], backend="numpy")
    rng = np.random.default_rng(0)
    Ev, wv = rng.normal(size=(40, 3)), rng.normal(size=6)
    av = rng.integers(0, 40, size=(7, 2))
    bv = np.array([3, 3, 39, av[0, 0]])            # repeats, within and across gathers
    iv, rv, dense = f(Ev, av, bv, wv)
    assert iv.shape == (18,) and rv.shape == (18, 3)
    np.testing.assert_allclose(SparseRows(iv, rv, Ev.shape).to_dense(), dense, rtol=1e-13,
                               atol=1e-15)
    with pytest.raises(ValueError, match="other than through gathers"):
        sg.optim.sparse_grad(cost + sg.nn.l2(E), E)
    with pytest.raises(sg.DisconnectedInputError):
        sg.optim.sparse_grad(sg.sum(w), E)


@pytest.mark.parametrize("make", [lambda: sg.optim.SGD(lr=0.1), lambda: sg.optim.Adagrad(),
                                  lambda: sg.optim.SparseAdam()],
                         ids=["SGD", "Adagrad", "SparseAdam"])
def test_row_wise_steps_allocate_nothing_vocabulary_sized(make):
    import tracemalloc
    rng = np.random.default_rng(0)
    p = {"E": np.zeros((20000, 50))}                       # 8 MB
    g = SparseRows(rng.integers(0, 20000, size=100), rng.normal(size=(100, 50)), (20000, 50))
    opt = make()
    opt.step(p, {"E": g})                                  # the first step creates the state
    tracemalloc.start()
    opt.step(p, {"E": g})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 500_000, f"a sparse step allocated {peak} bytes"
