"""sg.Trainer's compiled training step: one kernel computes the cost and the
gradients and applies the optimiser's updates in place (sg.function(...,
updates=opt.updates(...))). Checked against the .step path (an optimiser without
.updates), which applies NumPy updates after the gradients come back: same
parameters and optimiser state over several epochs, dense and sparse embeddings;
a schedule does not recompile; a non-finite step changes nothing."""
import numpy as np
import pytest

import symgrad as sg
from symgrad.ops import SetRows
from symgrad.optim import schedules


@pytest.fixture
def backend(request):
    """``pytest --backend=numba`` (tests/conftest.py) runs these on the Numba backend."""
    return request.config.getoption("--backend", default="numpy")


def step_only(optimizer):
    """A copy of ``optimizer`` as a user's subclass that redefines the NumPy update
    (``_update``) only, so its ``.updates`` would not be its step: the .step path."""
    cls = type(optimizer)

    def _update(self, *args):
        cls._update(self, *args)
    plain = type(f"StepOnly{cls.__name__}", (cls,), {"_update": _update})
    return plain(**optimizer.state_dict()["param_groups"][0])


def window_model(vocab=40, dim=3):
    """A small W2: word windows into an embedding, a tanh layer, 3 classes."""
    idx = sg.matrix("idx", "batch", 2, dtype="int64")
    y = sg.vector("y", "batch", dtype="int64")
    E, W, b = sg.matrix("E", vocab, dim), sg.matrix("W", 2 * dim, 3), sg.vector("b", 3)
    h = sg.tanh(E[idx].reshape(("batch", 2 * dim)) @ W + b)
    return idx, y, E, W, b, sg.nn.softmax_cross_entropy(h, y)


def window_data(vocab=40, n=48, seed=0):
    rng = np.random.default_rng(seed)
    idxv = rng.integers(0, vocab - 5, size=(n, 2))          # the last 5 words never occur
    params = {"E": rng.normal(size=(vocab, 3)), "W": rng.normal(size=(6, 3)) * 0.3,
              "b": np.zeros(3)}
    return idxv, (idxv.sum(axis=1) % 3).astype(np.int64), params


def assert_same_state(a, b, rtol):
    for key in a.params:
        np.testing.assert_allclose(a.params[key], b.params[key], rtol=rtol, atol=1e-14,
                                   err_msg=str(key))
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for name in sa:
        for key, value in sa[name].items():
            np.testing.assert_allclose(value, sb[name][key], rtol=rtol, atol=1e-14,
                                       err_msg=f"{name} {key}")


@pytest.mark.parametrize("optimizer", [
    sg.optim.Adam(lr=0.05), sg.optim.SparseAdam(lr=0.05), sg.optim.SGD(lr=0.2),
    sg.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01), sg.optim.Adagrad(lr=0.1)],
    ids=repr)
def test_the_compiled_step_equals_the_step_path(optimizer, backend):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    runs = []
    for opt in (optimizer, step_only(optimizer)):
        params = {k: v.copy() for k, v in init.items()}
        trainer = sg.Trainer(cost, params, opt, backend=backend, rng=3)
        trainer.fit({idx: idxv, y: yv}, epochs=3, batch_size=16, progress=False,
                    schedule=schedules.step_decay(opt.lr, factor=0.5, every=2))
        runs.append(trainer)
    compiled, stepped = runs
    assert compiled.compiled_step and not stepped.compiled_step
    assert compiled.sparse == stepped.sparse == (["E"] if optimizer.row_wise else [])
    assert_same_state(compiled, stepped, rtol=1e-12)
    assert compiled.history["step_loss"] == pytest.approx(stepped.history["step_loss"],
                                                          rel=1e-12)
    assert compiled.history["lr"] == stepped.history["lr"]
    # the parameters moved; rows never looked up only by weight decay
    assert not np.allclose(compiled.params["E"], init["E"])
    untouched = np.array_equal(compiled.params["E"][-5:], init["E"][-5:])
    assert untouched == (optimizer.weight_decay == 0)


def test_the_parameters_are_the_callers_arrays_updated_in_place(backend):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    params = {E: init["E"].copy(), W: init["W"].copy(), b: init["b"].copy()}
    arrays = dict(params)
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.1), backend=backend, rng=0)
    assert trainer.compiled_step and trainer.wrt == [E, W, b]
    trainer.step({idx: idxv, y: yv})
    assert all(params[k] is arrays[k] for k in params)
    assert not np.array_equal(params[W], init["W"])
    # a new array put in params is the one the next step reads and writes
    params[W] = np.zeros((6, 3))
    b_before = params[b].copy()
    loss = trainer.step({idx: idxv[:4], y: yv[:4]})
    h = np.tanh(np.zeros((4, 3)) + b_before)                 # x @ 0 + b
    assert loss == pytest.approx(float(np.mean(np.log(np.exp(h).sum(1)) - h[range(4), yv[:4]])),
                                 rel=1e-12)
    assert np.abs(params[W]).max() > 0          # updated in place
    params[W] = np.zeros((3, 6)).T
    with pytest.raises(TypeError, match="'W' must be a writeable C-contiguous float64 array"):
        trainer.step({idx: idxv, y: yv})


def test_an_array_the_kernel_cannot_own_falls_back_to_the_step_path(backend):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    params = {E: init["E"].copy(), W: np.asfortranarray(init["W"]), b: init["b"].copy()}
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.1), backend=backend, rng=0)
    assert not trainer.compiled_step
    trainer.fit({idx: idxv, y: yv}, epochs=1, batch_size=16, progress=False)
    assert not np.array_equal(params[W], init["W"])


def test_frozen_parameters_are_inputs_and_stay_as_they_are(backend):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    params = {E: init["E"].copy(), W: init["W"].copy(), b: init["b"].copy()}
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.1), frozen=[E], backend=backend)
    assert trainer.function.inputs == [idx, y, E] and trainer.wrt == [W, b]
    trainer.fit({idx: idxv, y: yv}, epochs=2, batch_size=16, progress=False)
    np.testing.assert_array_equal(params[E], init["E"])
    params[E][...] = 0.0          # a frozen array is read afresh at every step
    trainer.step({idx: idxv, y: yv})
    assert set(trainer.optimizer.state_dict()["state"]) == {"W", "b"}


def snapshot(trainer):
    return ({k: v.copy() for k, v in trainer.params.items()}, trainer.optimizer.state_dict())


def assert_unchanged(trainer, before):
    params, state = before
    for k in params:
        np.testing.assert_array_equal(trainer.params[k], params[k])
    after = trainer.optimizer.state_dict()["state"]
    for name in state["state"]:
        for key, value in state["state"][name].items():
            np.testing.assert_array_equal(after[name][key], value)


def test_a_non_finite_gradient_changes_no_parameter_and_no_state(backend):
    # sqrt(w) has a nan gradient once SGD with momentum pushes w below 0
    X, w, v = sg.matrix("X", "batch", 2), sg.vector("w", 2), sg.vector("v", 2)
    cost = sg.mean(X @ sg.sqrt(w)) + sg.sum(v * v)
    params = {v: np.ones(2), w: np.array([1.0, 4.0])}
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.7), backend=backend)
    assert trainer.compiled_step
    Xv = np.abs(np.random.default_rng(0).normal(size=(8, 2))) + 1.0
    before = snapshot(trainer)
    with pytest.raises(FloatingPointError, match=r"gradient of 'w' has 1 non-finite") as e:
        for _ in range(20):
            before = snapshot(trainer)
            trainer.step({X: Xv})
    assert f"step {trainer.steps}" in str(e.value)
    assert trainer.steps >= 1
    assert_unchanged(trainer, before)


def test_a_non_finite_cost_with_finite_gradients_changes_nothing(backend):
    x, w = sg.vector("x", "batch"), sg.vector("w", 2)
    cost = sg.sum(w * w) + sg.mean(sg.log(x))     # log 0 = -inf; the gradient is 2 w
    params = {w: np.array([1.0, -2.0])}
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.1), backend=backend)
    trainer.step({x: [1.0, 2.0]})
    before = snapshot(trainer)
    with pytest.raises(FloatingPointError, match=r"the cost .* is -inf at epoch 0, step 1"):
        trainer.step({x: [0.0, 2.0]})
    assert_unchanged(trainer, before)
    assert trainer.steps == 1


def test_a_non_finite_sparse_row_changes_nothing(backend):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    init["E"][7] = np.inf            # looked up in the batch: its rows' gradients are nan
    trainer = sg.Trainer(cost, init, sg.optim.SparseAdam(lr=0.1), backend=backend)
    assert trainer.sparse == ["E"]
    # the guarded row updates stay row updates: no table-sized where
    table_sized = [new for target, new in trainer.function.updates if target.shape == (40, 3)]
    assert len(table_sized) == 3 and all(isinstance(n.op, SetRows) for n in table_sized)
    before = snapshot(trainer)
    window = idxv[:4].copy()
    window[0, 0] = 7
    with pytest.raises(FloatingPointError, match=r"non-finite|the cost"):
        trainer.step({idx: window, y: yv[:4]})
    assert_unchanged(trainer, before)


def test_a_schedule_compiles_the_step_once():
    # the learning rate is the optimiser's shared variable, read by the kernel
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    opt = sg.optim.Adam(lr=0.1)
    trainer = sg.Trainer(cost, init, opt, backend="numba", rng=0)
    kernel = trainer.function._program.function
    trainer.fit({idx: idxv, y: yv}, epochs=4, batch_size=24, progress=False,
                schedule=schedules.step_decay(0.1, factor=0.1, every=1))
    assert trainer.history["lr"] == pytest.approx([0.1, 0.01, 1e-3, 1e-4])
    assert trainer.function._program.function is kernel and len(kernel.overloads) == 1
    # the last epoch's steps moved W by about lr = 1e-4 each (Adam's step is ~lr)
    before = init["W"].copy()
    trainer.step({idx: idxv[:24], y: yv[:24]})
    assert 0 < np.abs(init["W"] - before).max() < 5e-4


def test_save_and_load_resume_the_compiled_step_bit_for_bit(backend, tmp_path):
    idx, y, E, W, b, cost = window_model()
    idxv, yv, init = window_data()
    data = {idx: idxv, y: yv}

    def trainer():
        return sg.Trainer(cost, {k: v.copy() for k, v in init.items()},
                          sg.optim.SparseAdam(lr=0.05), backend=backend, rng=1)
    straight = trainer()
    straight.fit(data, epochs=4, batch_size=16, progress=False)
    half = trainer()
    half.fit(data, epochs=2, batch_size=16, progress=False)
    half.save(tmp_path / "half.ckpt")
    resumed = sg.Trainer.load(tmp_path / "half.ckpt")
    assert resumed.compiled_step
    resumed.fit({"idx": idxv, "y": yv}, epochs=2, batch_size=16, progress=False)
    for k in straight.params:
        assert np.array_equal(straight.params[k], resumed.params[k]), k
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for name in sa:
        for key, value in sa[name].items():
            assert np.array_equal(value, sb[name][key]), (name, key)
