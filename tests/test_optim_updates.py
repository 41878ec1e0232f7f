"""opt.updates(params, grads): every optimiser's update as expressions compiled
into sg.function(..., updates=...), against the same optimiser's .step on NumPy
arrays (itself tested against torch.optim's formulas in test_optim*.py) over
50 steps: dense gradients (with rows of zeros), sparse (index, rows) gradients
with repeated rows, one state for both paths (state_dict after compiled steps
resumes bit-identically), the learning rate read at each call, the sparse
update writing rows in place (no vocabulary-sized buffer), and the messages."""
import numpy as np
import pytest

import symgrad as sg
from symgrad_codegen import Alloc, Loop, Store
from symgrad.lowering import lower
from symgrad.optimize import optimize
from symgrad.optim import SparseRows
from symgrad.shared import is_shared

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - backends chosen here

STEPS = 50
DENSE = [
    lambda: sg.optim.SGD(lr=0.1),
    lambda: sg.optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.01),
    lambda: sg.optim.Adagrad(lr=0.2, eps=0.0),
    lambda: sg.optim.Adagrad(lr=0.2, weight_decay=0.05),
    lambda: sg.optim.RMSprop(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
    lambda: sg.optim.Adam(lr=0.02, betas=(0.8, 0.99), weight_decay=0.01),
    lambda: sg.optim.Adam(lr=0.003),
    lambda: sg.optim.SparseAdam(lr=0.03, betas=(0.7, 0.9)),
]


def _agree(got, want, backend):
    """Numba computes the same operations in the same order as .step: the same
    bits. NumPy's pow (SIMD) differs from C's in the last bit for some b**t, so
    Adam's bias corrections may differ there (measured: <= 1e-13 after 50 steps)."""
    if backend == "numba":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def _dense_grads(rng):
    gW, gb = rng.normal(size=(6, 3)), rng.normal(size=4)
    gW[rng.integers(6)] = 0.0  # a row without gradient (row-wise optimisers leave it)
    return gW, gb


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("make", DENSE, ids=[repr(m()) for m in DENSE])
def test_dense_updates_equal_step(make, backend):
    rng = np.random.default_rng(0)
    W0, b0 = rng.normal(size=(6, 3)), rng.normal(size=4)
    W, b = sg.shared(W0, name="W"), sg.shared(b0, name="b")
    GW, Gb = sg.matrix("GW", 6, 3), sg.vector("Gb", 4)
    opt = make()
    f = sg.function([GW, Gb], [], updates=opt.updates([W, b], [GW, Gb]), backend=backend)
    ref, p = make(), {"W": W0.copy(), "b": b0.copy()}
    for _ in range(STEPS):
        gW, gb = _dense_grads(rng)
        f(gW, gb)
        ref.step(p, {"W": gW, "b": gb})
    _agree(W.get_value(), p["W"], backend)
    _agree(b.get_value(), p["b"], backend)
    assert not np.allclose(p["W"], W0)
    for name, state in ref.state.items():  # the optimiser's state too
        for key, value in state.items():
            _agree(opt.state[name][key], value, backend)


def _window_cost(E):
    """An embedding gathered in three places per example and once more: rows repeat."""
    idx, y = sg.matrix("idx", "batch", 3, dtype="int64"), sg.vector("y", "batch")
    h = sg.tanh(E[idx].sum(axis=1))
    cost = sg.mean(((h * E[idx[:, 0]]).sum(axis=1) - y) ** 2)
    return idx, y, cost


SPARSE = [lambda: sg.optim.SparseAdam(lr=0.03, betas=(0.7, 0.9)),
          lambda: sg.optim.SGD(lr=0.1), lambda: sg.optim.Adagrad(lr=0.2),
          lambda: sg.optim.Adam(lr=0.01)]  # Adam adds the rows into a dense gradient


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("make", SPARSE, ids=[repr(m()) for m in SPARSE])
def test_sparse_updates_equal_step_with_sparse_rows(make, backend):
    vocab, dim = 40, 4
    rng = np.random.default_rng(1)
    E0 = rng.normal(size=(vocab, dim))
    E = sg.shared(E0, name="E")
    idx, y, cost = _window_cost(E)
    index, rows = sg.optim.sparse_grad(cost, E)
    opt = make()
    f = sg.function([idx, y], [index, rows], updates=opt.updates([E], [(index, rows)]),
                    backend=backend)
    ref, p = make(), {"E": E0.copy()}
    for _ in range(STEPS):
        ix, rw = f(rng.integers(0, vocab // 2, size=(8, 3)), rng.normal(size=8))
        assert len(np.unique(ix)) < len(ix)  # repeated rows in every batch
        ref.step(p, {"E": SparseRows(ix, rw, (vocab, dim))})
    _agree(E.get_value(), p["E"], backend)
    np.testing.assert_array_equal(E.get_value()[vocab // 2:], E0[vocab // 2:])  # never gathered
    for key, value in ref.state["E"].items():
        _agree(opt.state["E"][key], value, backend)


def test_a_sparse_update_writes_the_gathered_rows_in_place():
    vocab, dim = 997, 5
    E = sg.shared(np.full((vocab, dim), 0.1), name="E")
    idx, y, cost = _window_cost(E)
    index, rows = sg.optim.sparse_grad(cost, E)
    opt = sg.optim.SparseAdam()
    updates = opt.updates([E], [(index, rows)])
    targets = [t for t, _ in updates]
    graph = optimize([cost] + [new for _, new in updates])
    inputs = [idx, y] + [x for x in sg.graph.toposort(graph) if is_shared(x)]
    program = lower(inputs, graph[:1], list(zip(targets, graph[1:]))).program
    allocs = [s.shape for s in program.statements if isinstance(s, Alloc)]
    assert all(vocab not in shape for shape in allocs), allocs
    names = {t: f"x{inputs.index(t)}" for t in targets if t.ndim}
    written = {s.array for loop in program.statements if isinstance(loop, Loop)
               for s in loop.body if isinstance(s, Store)}
    assert set(names.values()) <= written  # E and its moments, written by the row loops
    # the compiled source has no table-sized buffer either
    f = sg.function([idx, y], cost, updates=updates)
    f(np.array([[1, 2, 1], [996, 1, 1]]), np.array([0.5, -0.5]))
    assert not [line for line in f.source.splitlines()
                if "arrays." in line and "997" in line]
    moved = np.flatnonzero((E.get_value() != 0.1).any(axis=1))
    np.testing.assert_array_equal(moved, [1, 2, 996])
    assert int(opt.state["E"]["step"]) == 1


def test_dense_adam_updates_moments_and_parameter_in_one_loop():
    W = sg.shared(np.ones((50, 20)), name="W")
    X = sg.matrix("X", "batch", 50)
    cost = sg.mean((X @ W) ** 2)
    updates = sg.optim.Adam().updates([W], [sg.grad(cost, W)])
    graph = optimize([new for _, new in updates])
    inputs = [X] + [x for x in sg.graph.toposort(graph) if is_shared(x)]
    program = lower(inputs, [], list(zip([t for t, _ in updates], graph))).program
    full = [s for s in program.statements if isinstance(s, Loop) and s.shape == (50, 20)]
    assert len(full) == 1, full
    stores = {s.array for s in full[0].body if isinstance(s, Store)}
    assert {f"x{inputs.index(t)}" for t, _ in updates if t.ndim} == stores  # in place
    assert not [s for s in program.statements if isinstance(s, Alloc) and s.shape == (50, 20)]


@pytest.mark.parametrize("make", [lambda: sg.optim.Adam(lr=0.05, weight_decay=0.01),
                                  lambda: sg.optim.SGD(lr=0.1, momentum=0.9),
                                  lambda: sg.optim.SparseAdam(lr=0.05)],
                         ids=["Adam", "SGD", "SparseAdam"])
def test_one_state_for_compiled_steps_step_and_state_dict(make):
    rng = np.random.default_rng(2)
    W0 = rng.normal(size=(5, 3))
    grads = [rng.normal(size=(5, 3)) for _ in range(12)]

    def compiled(opt, start):
        W, G = sg.shared(start, name="W"), sg.matrix("G", 5, 3)
        return W, sg.function([G], [], updates=opt.updates([W], [G]), backend="numpy")

    opt = make()
    W, f = compiled(opt, W0)
    for g in grads[:4]:
        f(g)
    saved, W_saved = opt.state_dict(), W.get_value()    # taken after compiled steps
    for g in grads[4:]:
        f(g)

    resumed = make()
    resumed.load_state_dict(saved)                      # a fresh optimiser, compiled afresh
    W2, f2 = compiled(resumed, W_saved)
    for g in grads[4:]:
        f2(g)
    np.testing.assert_array_equal(W2.get_value(), W.get_value())

    mixed = make()                                      # .step and compiled steps share a state
    mixed.load_state_dict(saved)
    p = {"W": W_saved.copy()}
    for g in grads[4:8]:
        mixed.step(p, {"W": g})
    W3, f3 = compiled(mixed, p["W"])
    for g in grads[8:]:
        f3(g)
    _agree(W3.get_value(), W.get_value(), "numpy")
    straight = make()
    for g in grads[8:]:
        straight.step({"W": np.zeros((5, 3))}, {"W": g})
    assert mixed.state_dict()["state"]["W"].keys() == straight.state_dict()["state"]["W"].keys()


def test_load_state_dict_into_a_compiled_optimiser_reaches_its_function():
    opt = sg.optim.Adam(lr=0.1)
    W = sg.shared(np.zeros(3), name="W")
    G = sg.vector("G", 3)
    f = sg.function([G], [], updates=opt.updates(W, G), backend="numpy")
    f(np.ones(3))
    saved = opt.state_dict()
    f(np.ones(3))
    assert int(opt.state["W"]["step"]) == 2
    opt.load_state_dict(saved)
    assert int(opt.state["W"]["step"]) == 1
    W.set_value(np.zeros(3))
    f(np.ones(3))                                 # reads the loaded state: step 2 again
    other = sg.optim.Adam(lr=0.1)
    p = {"W": np.zeros(3)}
    other.step(p, {"W": np.ones(3)})
    other.step(p, {"W": np.ones(3)})
    np.testing.assert_array_equal(opt.state["W"]["exp_avg"], other.state["W"]["exp_avg"])
    assert int(opt.state["W"]["step"]) == 2
    with pytest.raises(ValueError, match=r"exp_avg of 'W' has shape \(4,\)"):
        opt.load_state_dict({"optimizer": "Adam", "param_groups": saved["param_groups"],
                             "state": {"W": {"step": 1, "exp_avg": np.zeros(4),
                                             "exp_avg_sq": np.zeros(4)}}})
    assert sg.optim.Adam().state_dict()["state"] == {}
    fresh = sg.optim.Adam()
    fresh.updates(W, G)
    assert fresh.state_dict()["state"] == {}      # no entry before a first step (step >= 1)


def test_the_learning_rate_is_read_at_each_call():
    opt = sg.optim.SGD(lr=0.5)
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    g = sg.vector("g", 2)
    f = sg.function([g], [], updates=opt.updates(w, g), backend="numba")
    f(np.array([1.0, 1.0]))
    source = f.source
    opt.lr = 0.25                                 # as a schedule does
    f(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(w.get_value(), [1.0 - 0.5 - 0.25, 2.0 - 0.5 - 0.25])
    assert f.source == source and opt.lr == 0.25 and repr(opt).startswith("SGD(lr=0.25,")
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        opt.lr = -1.0


def test_float32_parameters_stay_float32():
    rng = np.random.default_rng(3)
    W0 = rng.normal(size=(4, 3)).astype(np.float32)
    W, G = sg.shared(W0, name="W"), sg.matrix("G", 4, 3, dtype="float32")
    opt, ref, p = sg.optim.Adam(lr=0.01), sg.optim.Adam(lr=0.01), {"W": W0.copy()}
    f = sg.function([G], [], updates=opt.updates(W, G), backend="numpy")
    for _ in range(10):
        g = rng.normal(size=(4, 3)).astype(np.float32)
        f(g)
        ref.step(p, {"W": g})
    assert W.get_value().dtype == np.float32 and opt.state["W"]["exp_avg"].dtype == np.float32
    np.testing.assert_allclose(W.get_value(), p["W"], rtol=1e-6)


def test_updates_messages():
    opt = sg.optim.Adam()
    W, b = sg.shared(np.zeros((2, 3)), name="W"), sg.shared(np.zeros(3), name="b")
    x = sg.matrix("x", 2, 3)
    with pytest.raises(TypeError, match=r"'x' .* is not one \(make parameters with sg.shared"):
        opt.updates([x], [x])
    with pytest.raises(ValueError, match="2 parameters and 1 gradients"):
        opt.updates([W, b], [x])
    with pytest.raises(sg.ShapeError, match=r"must have shape \(3,\)"):
        opt.updates([b], [x])
    with pytest.raises(TypeError, match=r"sg.cast\(g, 'float64'\)"):
        opt.updates([W], [sg.cast(x, "float32")])
    with pytest.raises(ValueError, match="two parameters are named 'W'"):
        opt.updates([W, sg.shared(np.zeros(2), name="W")], [x, sg.vector("g", 2)])
    with pytest.raises(sg.ShapeError, match="a 1-d integer index and rows of shape"):
        sg.optim.SparseAdam().updates(W, (sg.vector("i", 2, dtype="int64"), b))
    with pytest.raises(TypeError, match="must be an expression"):
        opt.updates(W, np.zeros((2, 3)))


# ------------------------------------------------------------ torch.optim, directly

TORCH_CASES = [
    ("SGD", dict(lr=0.03, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.02)),
]


@pytest.mark.parametrize("name, hyper", TORCH_CASES, ids=[n for n, _ in TORCH_CASES])
def test_compiled_training_steps_match_torch_optim(name, hyper):
    """100 compiled steps (cost, gradient and update in one Numba kernel) of
    sum(scale (p - 1)^2 + noise_t p) against torch's autograd + torch.optim."""
    torch = pytest.importorskip("torch", reason="torch is not installed: no torch comparison")
    rng = np.random.default_rng(5)
    W0, noise = rng.normal(size=(5, 3)), rng.normal(scale=0.3, size=(100, 5, 3))
    scale = np.linspace(0.5, 2.0, 15).reshape(5, 3)
    W, N = sg.shared(W0, name="W"), sg.matrix("N", 5, 3)
    cost = (sg.constant(scale) * (W - 1.0) ** 2 + N * W).sum()
    opt = getattr(sg.optim, name)(**hyper)
    step = sg.function([N], cost, updates=opt.updates([W], sg.grad(cost, [W])), backend="numba")
    tW = torch.tensor(W0, requires_grad=True)
    topt = getattr(torch.optim, name)([tW], **hyper)
    for t in range(100):
        ours = step(noise[t])
        topt.zero_grad()
        theirs = (torch.tensor(scale) * (tW - 1.0) ** 2 + torch.tensor(noise[t]) * tW).sum()
        theirs.backward()
        topt.step()
        np.testing.assert_allclose(ours, theirs.item(), rtol=1e-10)
    np.testing.assert_allclose(W.get_value(), tW.detach().numpy(), rtol=1e-10, atol=0)


def test_compiled_sparse_adam_steps_match_torch_sparse_embedding():
    """A table gathered twice per example: symgrad's compiled SparseAdam step on
    sparse_grad's rows against torch's nn.Embedding(sparse=True) + SparseAdam."""
    torch = pytest.importorskip("torch", reason="torch is not installed: no torch comparison")
    rng = np.random.default_rng(2)
    E0, w0 = rng.normal(size=(30, 4)), rng.normal(size=4)
    E = sg.shared(E0, name="E")
    idx, y = sg.matrix("idx", "batch", 2, dtype="int64"), sg.vector("y", "batch")
    w = sg.constant(w0)
    cost = sg.mean((sg.tanh(E[idx].sum(axis=1)) @ w - y) ** 2)
    opt = sg.optim.SparseAdam(lr=0.05, betas=(0.8, 0.95))
    step = sg.function([idx, y], cost, backend="numba",
                       updates=opt.updates([E], [sg.optim.sparse_grad(cost, E)]))
    emb = torch.nn.Embedding(30, 4, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(E0))
    topt = torch.optim.SparseAdam(emb.parameters(), lr=0.05, betas=(0.8, 0.95))
    for _ in range(50):
        iv = rng.integers(0, 25, size=(8, 2))  # rows repeat; rows 25..29 never move
        yv = rng.normal(size=8)
        ours = step(iv, yv)
        topt.zero_grad()
        theirs = ((torch.tanh(emb(torch.tensor(iv)).sum(dim=1)) @ torch.tensor(w0)
                   - torch.tensor(yv)) ** 2).mean()
        theirs.backward()
        topt.step()
        np.testing.assert_allclose(ours, theirs.item(), rtol=1e-10)
    np.testing.assert_allclose(E.get_value(), emb.weight.detach().numpy(), rtol=1e-10, atol=0)
    np.testing.assert_array_equal(E.get_value()[25:], E0[25:])
