"""Optimiser state: state_dict/load_state_dict round trips (bit-identical resume,
also through pickle), optimisers that pickle, the checks on loading; sparse
optimisers given dense gradients with all-zero rows (against a NumPy reference
of torch.optim.SparseAdam); and the messages for common mistakes."""
import copy
import math
import pickle

import numpy as np
import pytest

import symgrad as sg
from symgrad.optim import SparseRows

W, b = sg.matrix("W", 6, 3), sg.vector("b", 4)
VOCAB, DIM = 12, 3


def dense_grads(t, seed=0):
    rng = np.random.default_rng([seed, t])
    return {W: rng.normal(size=(6, 3)), b: rng.normal(size=4)}


def sparse_grads(t, seed=0):
    rng = np.random.default_rng([seed, t])
    idx = rng.integers(0, VOCAB - 3, size=5)          # rows VOCAB-3.. never get a gradient
    return {"E": SparseRows(idx, rng.normal(size=(5, DIM)), (VOCAB, DIM))}


def zero_row_grads(t, seed=0):
    """Dense embedding gradients, zero outside a few looked-up rows (and row 0 at times)."""
    g = sparse_grads(t, seed)["E"].to_dense()
    g[0] = 0.0 if t % 2 else g[0]
    return {"E": g}


def start_params(make_grads):
    rng = np.random.default_rng(42)
    return {k: rng.normal(size=np.shape(g)) for k, g in make_grads(0).items()}


def run(opt, params, make_grads, steps, first=0):
    for t in range(first, first + steps):
        opt.step(params, make_grads(t))


CASES = [
    (lambda: sg.optim.SGD(lr=0.1), dense_grads),
    (lambda: sg.optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.01), dense_grads),
    (lambda: sg.optim.Adagrad(lr=0.2, weight_decay=0.05), dense_grads),
    (lambda: sg.optim.RMSprop(lr=0.01, alpha=0.9, eps=1e-6), dense_grads),
    (lambda: sg.optim.Adam(lr=0.02, betas=(0.8, 0.99), weight_decay=0.01), dense_grads),
    (lambda: sg.optim.SparseAdam(lr=0.03, betas=(0.7, 0.9)), dense_grads),
    (lambda: sg.optim.SGD(lr=0.1), sparse_grads),
    (lambda: sg.optim.Adagrad(lr=0.2), sparse_grads),
    (lambda: sg.optim.SparseAdam(lr=0.03, betas=(0.7, 0.9)), sparse_grads),
    (lambda: sg.optim.Adagrad(lr=0.2), zero_row_grads),
    (lambda: sg.optim.SparseAdam(lr=0.03), zero_row_grads),
]
IDS = [f"{make()!r}-{grads.__name__}" for make, grads in CASES]


@pytest.mark.parametrize("make, make_grads", CASES, ids=IDS)
@pytest.mark.parametrize("via", ["dict", "pickle"])
def test_resume_is_bit_identical(make, make_grads, via):
    p0 = start_params(make_grads)
    straight = {k: v.copy() for k, v in p0.items()}
    run(make(), straight, make_grads, 10)

    first = {k: v.copy() for k, v in p0.items()}
    opt = make()
    run(opt, first, make_grads, 5)
    saved = opt.state_dict()
    if via == "pickle":
        saved = pickle.loads(pickle.dumps(saved))
    resumed = sg.optim.SGD(lr=123.0) if isinstance(opt, sg.optim.SGD) else type(opt)()
    resumed.load_state_dict(saved)
    # keyed by variable before saving, by name after: state is kept by name
    second = {(k.name if isinstance(k, sg.Expr) else k): v for k, v in first.items()}
    run(resumed, second, lambda t: {(k.name if isinstance(k, sg.Expr) else k): g
                                    for k, g in make_grads(t).items()}, 5, first=5)
    assert repr(resumed) == repr(opt)                    # hyper-parameters came with the state
    for k, v in straight.items():
        name = k.name if isinstance(k, sg.Expr) else k
        assert np.array_equal(second[name], v), name
        assert not np.array_equal(v, p0[k]), "the parameters did not move"


def test_state_dict_is_a_deep_copy_of_plain_data_with_torch_names():
    opt, p = sg.optim.Adam(lr=0.1, betas=(0.8, 0.9)), {W: np.zeros((6, 3)), "b": np.zeros(4)}
    opt.step(p, {W: np.ones((6, 3)), "b": np.full(4, 2.0)})
    d = opt.state_dict()
    assert d["optimizer"] == "Adam"
    assert d["param_groups"] == [{"lr": 0.1, "betas": (0.8, 0.9), "eps": 1e-8,
                                  "weight_decay": 0.0}]
    assert set(d["state"]) == {"W", "b"} and d["state"]["W"]["step"] == 1
    np.testing.assert_allclose(d["state"]["b"]["exp_avg"], 0.2 * 2.0)      # (1 - 0.8) g
    np.testing.assert_allclose(d["state"]["b"]["exp_avg_sq"], 0.1 * 4.0)   # (1 - 0.9) g**2

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return all(plain(v) for v in x)
        return type(x) in (int, float, str, np.ndarray)
    assert plain(d)
    np.savez(__import__("io").BytesIO(), **d["state"]["W"])       # arrays and numbers only

    before = copy.deepcopy(d)
    opt.step(p, {W: np.ones((6, 3)), "b": np.full(4, 2.0)})      # later steps leave d alone
    assert d["state"]["W"]["step"] == 1
    np.testing.assert_array_equal(d["state"]["W"]["exp_avg"], before["state"]["W"]["exp_avg"])

    other = sg.optim.Adam()
    other.load_state_dict(d)
    d["state"]["W"]["exp_avg"][:] = 99.0                          # loading copied it in
    d["param_groups"][0]["lr"] = 5.0
    assert other.lr == 0.1 and not (other.state["W"]["exp_avg"] == 99.0).any()


def test_states_of_every_class_and_empty_state():
    p = {"w": np.ones(2)}
    expected = {"SGD": ["momentum_buffer"], "Adagrad": ["sum"], "RMSprop": ["square_avg"],
                "Adam": ["step", "exp_avg", "exp_avg_sq"],
                "SparseAdam": ["step", "exp_avg", "exp_avg_sq"]}
    for opt in (sg.optim.SGD(0.1, momentum=0.5), sg.optim.Adagrad(), sg.optim.RMSprop(),
                sg.optim.Adam(), sg.optim.SparseAdam()):
        assert opt.state_dict()["state"] == {}
        opt.step(p, {"w": np.ones(2)})
        assert sorted(opt.state_dict()["state"]["w"]) == sorted(expected[type(opt).__name__])
    plain = sg.optim.SGD(0.1)                  # no momentum: no state to save
    plain.step(p, {"w": np.ones(2)})
    assert plain.state_dict()["state"] == {}


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_optimisers_pickle_and_deepcopy(how):
    for make, make_grads in CASES[1:6]:
        opt, params = make(), start_params(make_grads)
        run(opt, params, make_grads, 3)
        clone = pickle.loads(pickle.dumps(opt)) if how == "pickle" else copy.deepcopy(opt)
        twin = {k: v.copy() for k, v in params.items()}
        run(opt, params, make_grads, 3, first=3)
        run(clone, twin, make_grads, 3, first=3)
        for k in params:
            assert np.array_equal(params[k], twin[k]), (opt, k)


def adam_dict():
    opt = sg.optim.Adam(lr=0.1)
    opt.step({"w": np.zeros((2, 3))}, {"w": np.ones((2, 3))})
    return opt.state_dict()


@pytest.mark.parametrize("edit, error, match", [
    (lambda d: d.pop("param_groups"), ValueError, r"missing keys \['param_groups'\]"),
    (lambda d: d.update(extra=1), ValueError, r"unknown keys \['extra'\]"),
    (lambda d: d.update(optimizer="SGD"), ValueError, r"saved by sg.optim.SGD.*not into Adam"),
    (lambda d: d["param_groups"][0].update(momentum=0.9), ValueError,
     r"unknown keys \['momentum'\]"),
    (lambda d: d["param_groups"].append({}), ValueError, "list of one dict"),
    (lambda d: d["param_groups"][0].update(betas=0.9), TypeError, r"betas=\(0.9, 0.999\)"),
    (lambda d: d["param_groups"][0].update(lr=-1.0), ValueError, "lr must be"),
    (lambda d: d["state"]["w"].pop("step"), ValueError,
     r"state of 'w' has missing keys \['step'\]"),
    (lambda d: d["state"]["w"].update(sum=np.zeros((2, 3))), ValueError, r"unknown keys \['sum'\]"),
    (lambda d: d["state"]["w"].update(step=0), ValueError, "step of 'w' must be an int >= 1"),
    (lambda d: d["state"]["w"].update(step=1.5), ValueError, "step of 'w' must be an int"),
    (lambda d: d["state"]["w"].update(exp_avg=[[0.0] * 3] * 2), ValueError,
     "exp_avg of 'w' must be a float NumPy array, got list"),
    (lambda d: d["state"]["w"].update(exp_avg=np.zeros((3, 2))), ValueError,
     r"'w' must have one shape.*\(3, 2\).*\(2, 3\)"),
    (lambda d: d["state"].update({1: {}}), ValueError, "keyed by parameter name"),
])
def test_load_rejects_bad_dicts_and_changes_nothing(edit, error, match):
    d = adam_dict()
    edit(d)
    opt = sg.optim.Adam(lr=0.5)
    opt.step({"v": np.zeros(1)}, {"v": np.ones(1)})
    before = opt.state_dict()
    with pytest.raises(error, match=match):
        opt.load_state_dict(d)
    after = opt.state_dict()
    assert repr(opt) == "Adam(lr=0.5, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
    assert list(after["state"]) == ["v"] and after["state"]["v"]["step"] == 1
    np.testing.assert_array_equal(after["state"]["v"]["exp_avg"], before["state"]["v"]["exp_avg"])


def test_state_shaped_unlike_the_parameter_raises_at_step_before_any_update():
    opt = sg.optim.Adam()
    opt.load_state_dict(adam_dict())                         # state of 'w' is (2, 3)
    params = {"a": np.zeros(2), "w": np.zeros((3, 2))}
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 'w' has shape \(2, 3\), "
                                         r"the parameter \(3, 2\)"):
        opt.step(params, {"a": np.ones(2), "w": np.ones((3, 2))})
    np.testing.assert_array_equal(params["a"], 0.0)          # nothing half-applied
    assert "step" not in opt.state.get("a", {})


def test_loaded_state_is_cast_to_the_parameter_dtype():
    opt = sg.optim.Adam()
    opt.load_state_dict(adam_dict())                         # float64 state
    p = {"w": np.zeros((2, 3), dtype=np.float32)}
    opt.step(p, {"w": np.ones((2, 3), dtype=np.float32)})
    assert opt.state["w"]["exp_avg"].dtype == np.float32 and p["w"].dtype == np.float32


@pytest.mark.parametrize("name, hyper", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)), ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9)), ("Adam", dict(lr=0.01, betas=(0.8, 0.9)))])
def test_state_matches_torch(name, hyper):
    torch = pytest.importorskip("torch", reason="torch is not installed: no torch comparison")
    params = start_params(dense_grads)
    ours = getattr(sg.optim, name)(**hyper)
    tp = {k.name: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    theirs = getattr(torch.optim, name)(list(tp.values()), **hyper)
    for t in range(4):
        grads = dense_grads(t)
        ours.step(params, grads)
        for k, g in grads.items():
            tp[k.name].grad = torch.tensor(g)
        theirs.step()
    mine, torch_state = ours.state_dict(), theirs.state_dict()
    for i, key in enumerate(tp):
        for entry, value in mine["state"][key].items():
            expected = torch_state["state"][i][entry]
            np.testing.assert_allclose(np.asarray(value), np.asarray(expected), rtol=1e-12)
    for hyper_name, value in mine["param_groups"][0].items():
        assert torch_state["param_groups"][0][hyper_name] == pytest.approx(value)


# ------------------------------------------------------------ dense gradients, sparse optimisers

def ref_torch_sparse_adam(E, grads, lr, betas, eps):
    """torch.optim.SparseAdam on the sparse form of each dense gradient: only rows
    with a nonzero entry are present; the step count is the parameter's, one per
    step (torch's state['step']), and sets both bias corrections."""
    E, m, v = E.copy(), np.zeros_like(E), np.zeros_like(E)
    for t, g in enumerate(grads, start=1):
        for r in range(len(E)):
            if not any(x != 0 for x in g[r]):
                continue
            m[r] = m[r] + (1 - betas[0]) * (g[r] - m[r])
            v[r] = v[r] + (1 - betas[1]) * (g[r] ** 2 - v[r])
            size = lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t)
            E[r] = E[r] - size * m[r] / (np.sqrt(v[r]) + eps)
    return E


def dense_with_zero_rows(steps=30):
    rng = np.random.default_rng(7)
    grads = []
    for t in range(steps):
        g = np.zeros((VOCAB, DIM))
        rows = rng.choice(VOCAB - 3, size=4, replace=False)
        g[rows] = rng.normal(size=(4, DIM))
        g[rows[0], 0] = 0.0                     # a partly zero row is present
        grads.append(g if t != 3 else np.zeros((VOCAB, DIM)))   # an all-zero step
    return grads


def test_sparse_adam_dense_gradient_matches_torch_semantics():
    E0, grads = np.random.default_rng(8).normal(size=(VOCAB, DIM)), dense_with_zero_rows()
    p, opt = {"E": E0.copy()}, sg.optim.SparseAdam(lr=0.05, betas=(0.8, 0.95), eps=1e-6)
    for t, g in enumerate(grads, start=1):
        moments = opt.state["E"]["exp_avg"].copy() if t > 1 else np.zeros_like(E0)
        opt.step(p, {"E": g})
        absent = ~g.any(axis=1)
        np.testing.assert_array_equal(opt.state["E"]["exp_avg"][absent], moments[absent])
        assert opt.state["E"]["step"] == t          # an all-zero gradient still counts a step
    expected = ref_torch_sparse_adam(E0, grads, lr=0.05, betas=(0.8, 0.95), eps=1e-6)
    np.testing.assert_allclose(p["E"], expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(p["E"][-3:], E0[-3:])


@pytest.mark.parametrize("make", [lambda: sg.optim.SparseAdam(lr=0.05),
                                  lambda: sg.optim.SGD(lr=0.1),
                                  lambda: sg.optim.Adagrad(lr=0.1)],
                         ids=["SparseAdam", "SGD", "Adagrad"])
def test_dense_zero_rows_equal_the_sparse_rows_gradient(make):
    E0, grads = np.random.default_rng(9).normal(size=(VOCAB, DIM)), dense_with_zero_rows()
    dense, sparse = {"E": E0.copy()}, {"E": E0.copy()}
    opt_dense, opt_sparse = make(), make()
    for g in grads:
        opt_dense.step(dense, {"E": g})
        rows = np.flatnonzero(g.any(axis=1))
        opt_sparse.step(sparse, {"E": SparseRows(rows, g[rows], g.shape)})
    assert np.array_equal(dense["E"], sparse["E"])
    assert opt_dense.state_dict()["state"].keys() == opt_sparse.state_dict()["state"].keys()
    for key, value in opt_dense.state_dict()["state"].get("E", {}).items():
        assert np.array_equal(value, opt_sparse.state["E"][key]), key


def test_adagrad_without_eps_leaves_rows_without_gradient_alone():
    # dense, these rows would be updated by 0 / (sqrt(0) + 0) = nan
    p, opt = {"E": np.ones((3, 2))}, sg.optim.Adagrad(lr=0.5, eps=0.0)
    opt.step(p, {"E": np.array([[0.0, 0.0], [3.0, -4.0], [0.0, 0.0]])})
    np.testing.assert_array_equal(p["E"], [[1.0, 1.0], [0.5, 1.5], [1.0, 1.0]])


def test_sparse_rows_of_zeros_are_present():
    # a SparseRows row is present even if its values are zero, as in torch: its moments decay
    opt, p = sg.optim.SparseAdam(lr=0.1, betas=(0.5, 0.5)), {"E": np.zeros((3, 1))}
    opt.step(p, {"E": SparseRows([1], [[2.0]], (3, 1))})
    opt.step(p, {"E": SparseRows([1], [[0.0]], (3, 1))})
    assert opt.state["E"]["exp_avg"][1, 0] == pytest.approx(0.5)       # 0.5 * 1.0
    opt.step(p, {"E": np.zeros((3, 1))})                                # dense zeros: absent
    assert opt.state["E"]["exp_avg"][1, 0] == pytest.approx(0.5) and opt.state["E"]["step"] == 3


# ------------------------------------------------------------ messages

def test_step_with_lists_says_to_pass_dicts():
    opt = sg.optim.SGD(lr=0.1)
    with pytest.raises(TypeError, match=r"two dicts keyed alike.*opt.step\(\{W: W0\}, \{W: gW\}\)"
                                        r".*got list and list"):
        opt.step([np.zeros(2)], [np.zeros(2)])
    with pytest.raises(TypeError, match="keyed by variable or by name"):
        opt.step({0: np.zeros(2)}, {0: np.zeros(2)})
    with pytest.raises(ValueError, match="two parameters are named 'W'"):
        opt.step({W: np.zeros((6, 3)), "W": np.zeros((6, 3))},
                 {W: np.zeros((6, 3)), "W": np.zeros((6, 3))})


@pytest.mark.parametrize("make, error, match", [
    (lambda: sg.optim.Adam(betas=0.9), TypeError,
     r"betas is a pair.*betas=\(0.9, 0.999\).*got 0.9"),
    (lambda: sg.optim.SparseAdam(betas=0.9), TypeError, r"betas is a pair.*betas=\(0.9, 0.999\)"),
    (lambda: sg.optim.Adam(betas=(0.9, 0.99, 0.9)), TypeError, "betas is a pair"),
    (lambda: sg.optim.Adam(betas=("0.9", 0.999)), TypeError, "betas is a pair"),
    (lambda: sg.optim.Adam(betas=(0.9, 1.0)), ValueError, r"in \[0, 1\).*got \(0.9, 1.0\)"),
    (lambda: sg.optim.SGD("0.1"), TypeError, "lr must be a number >= 0, e.g. lr=0.01; got '0.1'"),
    (lambda: sg.optim.SGD(float("nan")), ValueError, "lr must be a finite number"),
    (lambda: sg.optim.Adam(eps=-1e-8), ValueError,
     "eps must be a finite number >= 0, e.g. eps=1e-8"),
    (lambda: sg.optim.RMSprop(alpha=2.0), ValueError, r"alpha must .*in \[0, 1\], e.g. alpha=0.99"),
    (lambda: sg.optim.SGD(0.1, momentum=True), TypeError, "momentum must be a number"),
    (lambda: sg.optim.Adagrad(weight_decay=None), TypeError, "weight_decay must be a number"),
])
def test_hyper_parameter_mistakes_say_how_to_fix_them(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_numpy_numbers_are_fine_hyper_parameters():
    opt = sg.optim.Adam(lr=np.float32(0.5), betas=np.array([0.5, 0.75]), eps=np.int64(0))
    assert (opt.lr, opt.betas, opt.eps) == (0.5, (0.5, 0.75), 0.0)
