"""The lecture's worked examples, against hand-written NumPy:

* f(x, y, z) = (x + y) max(y, z) at (1, 2, 0): value 6, gradient (2, 5, 0);
* the window model s = u^T tanh(W x + b), x = 5 word vectors E[idx] concatenated:
  dS/dW = delta x^T, delta = u * (1 - h^2), dS/db = delta, dS/dx = W^T delta,
  dS/dE = W^T delta split into the 5 words' rows (repeated words accumulate);
* a batched window classifier with a named "batch" dimension and softmax
  cross-entropy, against finite differences;
* ``python -m symgrad demo``.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import symgrad as sg
from reference import assert_close, numeric_grad

VOCAB, DIM, WINDOW, HIDDEN, CLASSES = 10, 4, 5, 6, 3


# ------------------------------------------------------------------ f = (x + y) max(y, z)

@pytest.fixture(scope="module")
def scalar_example():
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    f = (x + y) * sg.maximum(y, z)
    return (x, y, z), f


def test_scalar_example_value_and_gradient(scalar_example):
    (x, y, z), f = scalar_example
    run = sg.function([x, y, z], [f, *sg.grad(f, [x, y, z])], backend="numpy")
    value, *gradient = run(1.0, 2.0, 0.0)
    assert float(value) == 6.0
    assert [float(g) for g in gradient] == [2.0, 5.0, 0.0]

    vg = sg.value_and_grad(f, [x, y, z], inputs=[x, y, z], backend="numpy")
    value, gradient = vg(x=1, y=2, z=0)
    assert float(value) == 6.0 and [float(g) for g in gradient] == [2.0, 5.0, 0.0]


@pytest.mark.parametrize("point", [(1.0, 2.0, 0.0), (0.3, -1.0, 0.5), (-2.0, 1.5, 1.0)])
def test_scalar_example_hand_formula(scalar_example, point):
    (x, y, z), f = scalar_example
    xv, yv, zv = point
    gx, gy, gz = sg.evaluate(sg.grad(f, [x, y, z]), {x: xv, y: yv, z: zv})
    m = max(yv, zv)
    # d/dx = m; d/dy = m + (x + y) [y wins]; d/dz = (x + y) [z wins]
    assert_close(gx, m)
    assert_close(gy, m + (xv + yv) * (yv > zv))
    assert_close(gz, (xv + yv) * (zv > yv))


# ------------------------------------------------------------------ the window model

@pytest.fixture(scope="module")
def window_model():
    E = sg.matrix("E", VOCAB, DIM)
    idx = sg.vector("idx", WINDOW, dtype="int64")
    W, b, u = sg.matrix("W", HIDDEN, WINDOW * DIM), sg.vector("b", HIDDEN), sg.vector("u", HIDDEN)
    x = E[idx].reshape((WINDOW * DIM,))
    h = sg.tanh(W @ x + b)
    s = sg.dot(u, h)
    grads = sg.grad(s, [E, W, b, u, x])
    run = sg.function([E, idx, W, b, u], [s, *grads], backend="numpy")
    return run


@pytest.fixture(scope="module")
def window_values():
    rng = np.random.default_rng(3)
    return dict(E=rng.normal(size=(VOCAB, DIM)),
                idx=np.array([2, 7, 2, 0, 9]),  # word 2 appears twice
                W=rng.normal(size=(HIDDEN, WINDOW * DIM)) * 0.4,
                b=rng.normal(size=HIDDEN), u=rng.normal(size=HIDDEN))


def test_window_model_gradients_match_the_lecture(window_model, window_values):
    v = window_values
    s, gE, gW, gb, gu, gx = window_model(**v)

    x = v["E"][v["idx"]].reshape(-1)
    h = np.tanh(v["W"] @ x + v["b"])
    delta = v["u"] * (1 - h ** 2)
    assert_close(s, v["u"] @ h, what="s")
    assert_close(gW, np.outer(delta, x), what="dS/dW = delta x^T")
    assert_close(gb, delta, what="dS/db = delta")
    assert_close(gu, h, what="dS/du = h")
    pullback = v["W"].T @ delta
    assert_close(gx, pullback, what="dS/dx = W^T delta")

    expected_gE = np.zeros((VOCAB, DIM))
    for k, word in enumerate(v["idx"]):
        expected_gE[word] += pullback[k * DIM:(k + 1) * DIM]
    assert_close(gE, expected_gE, what="dS/dE")
    # word 2 (positions 0 and 2) receives the sum of its two slices
    assert_close(gE[2], pullback[0:DIM] + pullback[2 * DIM:3 * DIM])
    unused = sorted(set(range(VOCAB)) - set(v["idx"].tolist()))
    assert np.all(gE[unused] == 0)


def test_window_model_against_finite_differences(window_model, window_values):
    v = window_values

    def s_of(E, W, b, u):
        return u @ np.tanh(W @ E[v["idx"]].reshape(-1) + b)

    _, gE, gW, gb, gu, _ = window_model(**v)
    args = [v["E"], v["W"], v["b"], v["u"]]
    for k, got in enumerate([gE, gW, gb, gu]):
        assert_close(got, numeric_grad(s_of, args, k), rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ batched, named dimension

@pytest.fixture(scope="module")
def batched_model():
    E = sg.matrix("E", VOCAB, DIM)
    idx = sg.matrix("idx", "batch", WINDOW, dtype="int64")
    labels = sg.vector("labels", "batch", dtype="int64")
    W, b = sg.matrix("W", WINDOW * DIM, HIDDEN), sg.vector("b", HIDDEN)
    U = sg.matrix("U", HIDDEN, CLASSES)
    X = E[idx].reshape(("batch", WINDOW * DIM))
    logits = sg.tanh(X @ W + b) @ U
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    assert logits.shape[1] == CLASSES and str(logits.shape[0]) == "batch"
    return sg.value_and_grad(loss, [E, W, b, U], inputs=[E, idx, labels, W, b, U],
                             backend="numpy")


def _batched_loss(E, W, b, U, idx, labels):
    X = E[idx].reshape(len(idx), -1)
    logits = np.tanh(X @ W + b) @ U
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(idx)), labels].mean()


@pytest.mark.parametrize("batch", [1, 4])
def test_batched_window_classifier_against_finite_differences(batched_model, batch):
    rng = np.random.default_rng(batch)
    idx = rng.integers(0, VOCAB, size=(batch, WINDOW))
    idx[0, 1] = idx[0, 3]  # a repeated word
    labels = rng.integers(0, CLASSES, size=batch)
    params = [rng.normal(size=(VOCAB, DIM)), rng.normal(size=(WINDOW * DIM, HIDDEN)) * 0.3,
              rng.normal(size=HIDDEN), rng.normal(size=(HIDDEN, CLASSES))]
    E, W, b, U = params
    loss, grads = batched_model(E, idx, labels, W, b, U)
    assert len(grads) == 4

    def f(E, W, b, U):
        return _batched_loss(E, W, b, U, idx, labels)

    assert_close(loss, f(*params))
    for k, got in enumerate(grads):
        assert got.shape == params[k].shape
        assert_close(got, numeric_grad(f, params, k), rtol=1e-6, atol=1e-9, what=f"param {k}")


def test_batched_model_rejects_a_mismatched_batch(batched_model):
    rng = np.random.default_rng(0)
    E, W = rng.normal(size=(VOCAB, DIM)), rng.normal(size=(WINDOW * DIM, HIDDEN))
    b, U = rng.normal(size=HIDDEN), rng.normal(size=(HIDDEN, CLASSES))
    idx = np.zeros((3, WINDOW), dtype=np.int64)
    with pytest.raises(sg.ShapeError, match="batch"):
        batched_model(E, idx, np.zeros(2, dtype=np.int64), W, b, U)
    with pytest.raises(IndexError):
        batched_model(E, idx + VOCAB, np.zeros(3, dtype=np.int64), W, b, U)


# ------------------------------------------------------------------ the demo

def test_demo_command_runs_and_passes():
    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "symgrad", "demo"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
