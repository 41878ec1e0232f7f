"""The training loop: it learns, freezes, uses sparse rows, schedules, stops on nan."""
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.graph import toposort
from symgrad.ops import ScatterAdd
from symgrad.optim import schedules


@pytest.fixture
def backend(request):
    """The backend under test: ``pytest --backend=numba`` (tests/conftest.py) runs
    the training loop on the Numba backend too."""
    return request.config.getoption("--backend", default="numpy")


def blobs(n=200, seed=0):
    """Two linearly separable classes in 2-d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)
    return X, y.astype(np.int64)


def classifier():
    X, y = sg.matrix("X", "batch", 2), sg.vector("y", "batch", dtype="int64")
    W, b = sg.matrix("W", 2, 2), sg.vector("b", 2)
    logits = X @ W + b
    return X, y, W, b, logits, sg.nn.softmax_cross_entropy(logits, y)


def test_loss_goes_down_on_a_separable_problem(backend):
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs()
    params = {W: np.zeros((2, 2)), b: np.zeros(2)}
    history = sg.train(cost, params, {X: Xv, y: yv}, sg.optim.SGD(lr=0.5), epochs=5,
                       batch_size=16, rng=0, progress=False, backend=backend)
    assert history["epoch"] == [0, 1, 2, 3, 4]
    assert history["loss"][0] > history["loss"][-1]
    assert history["loss"][-1] < 0.05 < np.log(2) - 0.1
    assert len(history["step_loss"]) == 5 * 13      # ceil(200 / 16) steps per epoch
    pred = np.argmax(Xv @ params[W] + params[b], axis=1)
    assert (pred == yv).mean() == 1.0


def test_every_example_once_per_epoch(backend):
    # a linear cost: each step moves w by -lr * mean of the batch, so one epoch
    # moves it by -lr * (sum of the batch means); batches of 8 out of 40 examples
    x, w = sg.vector("x", "batch"), sg.scalar("w")
    xv = np.random.default_rng(1).normal(size=40)
    params = {w: np.array(0.0)}
    trainer = sg.Trainer(sg.mean(x * w), params, sg.optim.SGD(lr=1.0), backend=backend)
    trainer.fit({x: xv}, epochs=1, batch_size=8, rng=3, progress=False)
    assert float(params[w]) == pytest.approx(-5 * xv.mean(), rel=1e-12)


def test_schedule_validation_and_resumed_history():
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs()
    params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}      # keyed by name
    opt = sg.optim.Adam(lr=1.0)
    trainer = sg.Trainer(cost, params, opt)
    sched = schedules.step_decay(0.1, factor=0.5, every=2)
    seen = []

    def validate(p):          # sees the live parameters after each epoch
        seen.append(p["W"].copy())
        return float(np.abs(p["W"]).sum())
    trainer.fit({"X": Xv, "y": yv}, epochs=3, schedule=sched, validate=validate, rng=0,
                progress=False)
    np.testing.assert_array_equal(seen[-1], params["W"])
    h = trainer.fit({X: Xv, y: yv}, epochs=2, schedule=sched, rng=0, progress=False)
    assert h["epoch"] == [0, 1, 2, 3, 4]
    assert h["lr"] == [0.1, 0.1, 0.05, 0.05, 0.025] and opt.lr == 0.025
    assert h["validation"] == [float(np.abs(w).sum()) for w in seen] + [None, None]
    assert not np.array_equal(seen[0], seen[2])
    assert len(h["seconds"]) == 5 and all(s > 0 for s in h["seconds"])


def embedding_model(vocab=50, dim=4):
    idx = sg.matrix("idx", "batch", 3, dtype="int64")
    y = sg.vector("y", "batch", dtype="int64")
    E, W = sg.matrix("E", vocab, dim), sg.matrix("W", 3 * dim, 2)
    logits = E[idx].reshape(("batch", 3 * dim)) @ W
    return idx, y, E, W, sg.nn.softmax_cross_entropy(logits, y)


def embedding_data(vocab=50, n=64, seed=0):
    rng = np.random.default_rng(seed)
    idxv = rng.integers(0, vocab - 10, size=(n, 3))           # the last 10 words never occur
    return idxv, (idxv[:, 1] % 2).astype(np.int64), rng


def test_frozen_parameters_unchanged_and_absent_from_gradient_graph(backend):
    idx, y, E, W, cost = embedding_model()
    idxv, yv, rng = embedding_data()
    E0, W0 = rng.normal(size=(50, 4)), rng.normal(size=(12, 2)) * 0.1
    both = sg.Trainer(cost, {E: E0.copy(), W: W0.copy()}, sg.optim.Adam(lr=0.01),
                      backend=backend)
    params = {E: E0.copy(), W: W0.copy()}
    frozen = sg.Trainer(cost, params, sg.optim.Adam(lr=0.01), frozen=[E], backend=backend)
    assert frozen.wrt == [W] and set(both.wrt) == {E, W}
    # the frozen graph is exactly the cost and dcost/dW: no gradient for E at all
    assert len(toposort(frozen.outputs)) == len(toposort([cost, sg.grad(cost, W)]))
    assert len(toposort(frozen.outputs)) < len(toposort(both.outputs))
    assert any(isinstance(n.op, ScatterAdd) for n in toposort(both.outputs))
    assert not any(isinstance(n.op, ScatterAdd) for n in toposort(frozen.outputs))
    frozen.fit({idx: idxv, y: yv}, epochs=3, batch_size=16, rng=0, progress=False)
    np.testing.assert_array_equal(params[E], E0)
    assert not np.array_equal(params[W], W0)


def test_sparse_rows_path_equals_dense_gradient_step(backend):
    idx, y, E, W, cost = embedding_model()
    idxv, yv, rng = embedding_data(n=16)
    E0, W0 = rng.normal(size=(50, 4)), rng.normal(size=(12, 2))
    params = {E: E0.copy(), W: W0.copy()}
    trainer = sg.Trainer(cost, params, sg.optim.SGD(lr=0.3), backend=backend)
    assert trainer.sparse == [E] and trainer.dense == [W]
    assert not any(isinstance(n.op, ScatterAdd) for n in toposort(trainer.outputs))
    loss = trainer.step({idx: idxv, y: yv})
    vg = sg.value_and_grad(cost, [E, W], inputs=[idx, y, E, W], backend="numpy")
    loss_ref, (gE, gW) = vg(idxv, yv, E0, W0)
    assert loss == pytest.approx(float(loss_ref), rel=1e-14)
    np.testing.assert_allclose(params[E], E0 - 0.3 * gE, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(params[W], W0 - 0.3 * gW, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(params[E][-10:], E0[-10:])


def test_non_finite_gradient_stops_naming_the_parameter(backend):
    X, w, v = sg.matrix("X", "batch", 2), sg.vector("w", 2), sg.vector("v", 2)
    cost = sg.mean(X @ sg.sqrt(w)) + sg.sum(v * v)
    params = {v: np.ones(2), w: np.array([1.0, 4.0])}
    trainer = sg.Trainer(cost, params, sg.optim.SGD(lr=1.0), backend=backend)
    Xv = np.abs(np.random.default_rng(0).normal(size=(32, 2))) + 1.0
    with pytest.raises(FloatingPointError, match=r"gradient of 'w' has \d non-finite") as e:
        trainer.fit({X: Xv}, epochs=50, batch_size=8, rng=0, progress=False)
    assert "epoch 0" in str(e.value) and "lr 1" in str(e.value)
    # the step that would have applied the nan was not taken
    assert np.isfinite(params[w]).all() and np.isfinite(params[v]).all()
    assert len(trainer.history["step_loss"]) == trainer.steps >= 1


def test_progress_bar_shows_loss_and_lr(capsys):
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs(n=40)
    sg.train(cost, {W: np.zeros((2, 2)), b: np.zeros(2)}, {X: Xv, y: yv},
             sg.optim.SGD(lr=0.1), epochs=2, rng=0, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "lr=0.1" in err and "4/4" in err


def test_bad_arguments():
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs(n=20)
    params = {W: np.zeros((2, 2)), b: np.zeros(2)}
    with pytest.raises(ValueError, match="frozen parameter 'Q'"):
        sg.Trainer(cost, params, sg.optim.SGD(0.1), frozen=["Q"])
    with pytest.raises(ValueError, match="frozen parameter must also be in params"):
        sg.Trainer(cost, {W: np.zeros((2, 2))}, sg.optim.SGD(0.1), frozen=[b])
    with pytest.raises(ValueError, match="0-d cost"):
        sg.Trainer(logits, params, sg.optim.SGD(0.1))
    with pytest.raises(TypeError, match="'b' must be a writeable float NumPy array"):
        sg.Trainer(cost, {W: np.zeros((2, 2)), b: [0.0, 0.0]}, sg.optim.SGD(0.1))
    with pytest.raises(TypeError, match="sg.optim optimiser"):
        sg.Trainer(cost, params, "adam")
    trainer = sg.Trainer(cost, params, sg.optim.SGD(0.1))
    with pytest.raises(ValueError, match="no data given for 'y'"):
        trainer.fit({X: Xv}, progress=False)
    with pytest.raises(ValueError, match="same number of examples"):
        trainer.fit({X: Xv, y: yv[:-1]}, progress=False)
    with pytest.raises(ValueError, match="data 'Z' is not an input"):
        trainer.fit({X: Xv, y: yv, "Z": yv}, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        trainer.fit({X: Xv, y: yv}, batch_size=0, progress=False)
    np.testing.assert_array_equal(params[W], 0.0)


def test_weight_decay_option_equals_l2_term_in_the_cost():
    # d/dW (lam / 2) * l2(W) = lam * W, which is what weight_decay=lam adds
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs(n=64)
    W0 = np.random.default_rng(2).normal(size=(2, 2))
    lam = 0.3
    with_term = {W: W0.copy(), b: np.zeros(2)}
    sg.Trainer(cost + 0.5 * lam * sg.nn.l2(W), with_term, sg.optim.SGD(lr=0.1),
               frozen=[b]).fit({X: Xv, y: yv}, epochs=3, batch_size=16, rng=4, progress=False)
    with_option = {W: W0.copy(), b: np.zeros(2)}
    sg.Trainer(cost, with_option, sg.optim.SGD(lr=0.1, weight_decay=lam),
               frozen=[b]).fit({X: Xv, y: yv}, epochs=3, batch_size=16, rng=4, progress=False)
    np.testing.assert_allclose(with_option[W], with_term[W], rtol=1e-12)
    plain = {W: W0.copy(), b: np.zeros(2)}
    sg.Trainer(cost, plain, sg.optim.SGD(lr=0.1), frozen=[b]).fit(
        {X: Xv, y: yv}, epochs=3, batch_size=16, rng=4, progress=False)
    assert np.abs(plain[W]).sum() > np.abs(with_option[W]).sum()


def test_progress_bar_shows_the_validation_value(capsys):
    X, y, W, b, logits, cost = classifier()
    Xv, yv = blobs(n=40)
    scores = iter([0.625, 0.875])
    sg.train(cost, {W: np.zeros((2, 2)), b: np.zeros(2)}, {X: Xv, y: yv}, sg.optim.SGD(lr=0.1),
             epochs=2, rng=0, progress=True, validate=lambda p: next(scores))
    err = capsys.readouterr().err
    assert "val=0.625" in err and "val=0.875" in err


def test_the_first_epoch_is_timed_after_the_compile():
    # a model of its own, uncached: the first fit compiles a kernel, which takes
    # well over a second; the epoch itself (40 examples) takes milliseconds
    x, w = sg.vector("x", "batch"), sg.vector("w", 3)
    cost = sg.mean(sg.tanh(x * w[0] + w[1]) ** 2) + sg.sum(w * w) * 0.017
    trainer = sg.Trainer(cost, {w: np.ones(3)}, sg.optim.SGD(lr=0.1), backend="numba",
                         cache=False)
    assert not trainer.function.compiled
    start = time.perf_counter()
    history = trainer.fit({x: np.linspace(-1, 1, 40)}, epochs=1, batch_size=8, progress=False)
    wall = time.perf_counter() - start
    assert trainer.function.compiled
    assert history["seconds"][0] < 0.1 * wall, (history["seconds"], wall)
