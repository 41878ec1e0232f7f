"""The Numba backend against the NumPy reference backend (1e-12 on float64),
plus what only compiled code can get wrong: bounds checks, caller's arrays,
float32 arithmetic, the generated source and the disk cache across processes.

The rest of the suite runs on this backend with ``pytest --backend=numba``
(see conftest.py).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg

RNG = np.random.default_rng(0)


def _mlp():
    X, y = sg.matrix("X", "batch", 6), sg.vector("y", "batch", dtype="int64")
    W1, b1 = sg.matrix("W1", 6, 5), sg.vector("b1", 5)
    W2, b2 = sg.matrix("W2", 5, 3), sg.vector("b2", 3)
    h = sg.relu(X @ W1 + b1)
    cost = sg.nn.softmax_cross_entropy(h @ W2 + b2, y)
    values = {X: RNG.random((7, 6)), y: RNG.integers(0, 3, 7), W1: RNG.normal(size=(6, 5)),
              b1: RNG.normal(size=5), W2: RNG.normal(size=(5, 3)), b2: RNG.normal(size=3)}
    return cost, [W1, b1, W2, b2], values


def _window():
    idx, labels = sg.matrix("idx", 4, 3, dtype="int64"), sg.vector("labels", 4, dtype="int64")
    E, W, b = sg.matrix("E", 10, 2), sg.matrix("W", 5, 6), sg.vector("b", 5)
    x = sg.reshape(E[idx], (4, 6))
    cost = sg.nn.softmax_cross_entropy(sg.tanh(x @ W.T + b), labels)
    values = {idx: np.array([[1, 2, 1], [0, 9, 9], [3, 3, 3], [4, 5, 6]]),
              labels: np.array([0, 4, 2, 1]), E: RNG.normal(size=(10, 2)),
              W: RNG.normal(size=(5, 6)), b: RNG.normal(size=5)}
    return cost, [E, W, b], values


def _structural():
    a, b = sg.matrix("a", 3, 4), sg.matrix("b", 2, 4)
    c = sg.concatenate([a, b], axis=0)                      # (5, 4)
    s = sg.stack([a[1], b[0], a[2, ::-1]], axis=1)          # (4, 3)
    m = sg.max(c, axis=0) + sg.max(a * a)                   # ties broken by the first index
    cost = (sg.einsum("ij,jk->ik", c, s) ** 2).sum() + (m * sg.sum(c[1:4:2], axis=0)).sum()
    values = {a: np.round(RNG.normal(size=(3, 4)), 1), b: np.round(RNG.normal(size=(2, 4)), 1)}
    values[b][1] = values[a][0]                             # ties in the column max
    return cost, [a, b], values


def _elementwise_tree():
    x, y = sg.vector("x", 9), sg.matrix("y", 3, 9)
    u = sg.softplus(x) * sg.sigmoid(y) + sg.abs(y - x) / (1 + sg.exp(-x))
    v = sg.where(y > 0, sg.log(sg.abs(y) + 1e-3), sg.sqrt(sg.abs(y)))
    cost = (sg.hardtanh(u * v) + sg.leaky_relu(u - 1.0) + sg.minimum(u, v)).mean()
    values = {x: np.linspace(-3, 3, 9), y: RNG.normal(size=(3, 9)) * 3}
    values[y][0, 4] = 0.0                                   # a kink of where and abs
    return cost, [x, y], values


def _batched_and_broadcast():
    A, B, v = sg.tensor("A", (2, 3, 4)), sg.tensor("B", (2, 4, 5)), sg.vector("v", 5)
    P = sg.matmul(A, B) * v                                 # batched: a loop, not BLAS
    cost = sg.logsumexp(P, axis=2).sum() + sg.softmax(sg.transpose(P, (2, 0, 1)), axis=0)[1].sum()
    values = {A: RNG.normal(size=(2, 3, 4)), B: RNG.normal(size=(2, 4, 5)), v: RNG.normal(size=5)}
    return cost, [A, B, v], values


GRAPHS = {"mlp": _mlp, "window": _window, "structural": _structural,
          "elementwise-tree": _elementwise_tree, "batched-broadcast": _batched_and_broadcast}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_numba_matches_numpy_to_1e12(name):
    cost, wrt, values = GRAPHS[name]()
    inputs = list(values)
    args = [values[x] for x in inputs]
    got = sg.value_and_grad(cost, wrt, inputs=inputs, backend="numba")(*args)
    want = sg.value_and_grad(cost, wrt, inputs=inputs, backend="numpy")(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-14)
    for g, h, w in zip(got[1], want[1], wrt):
        assert g.shape == h.shape and g.dtype == h.dtype, w.name
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-14, err_msg=w.name)


def test_out_of_range_gather_raises_index_error_naming_the_gather():
    E, idx = sg.matrix("E", 5, 2), sg.vector("idx", 3, dtype="int64")
    f = sg.function([E, idx], sg.grad(E[idx].sum(), E), backend="numba")
    for bad in ([0, 5, 1], [0, -1, 1]):
        with pytest.raises(IndexError, match=r"out of range \[0, 5\).*idx"):
            f(np.ones((5, 2)), np.array(bad))
    rows = f(np.ones((5, 2)), np.array([4, 4, 0]))      # repeats accumulate
    np.testing.assert_array_equal(rows[:, 0], [1, 0, 0, 0, 2])


def test_caller_arrays_are_unchanged_and_outputs_are_fresh():
    x = sg.vector("x", 4)
    f = sg.function([x], [x, x * 1.0, sg.exp(x), x.reshape((2, 2))], backend="numba")
    a = np.array([1.0, -2.0, 3.0, 0.5])
    before = a.copy()
    outs = f(a)
    np.testing.assert_array_equal(a, before)
    assert not any(np.shares_memory(o, a) for o in outs)
    assert not np.shares_memory(outs[0], outs[1])
    outs[0][0] = 99.0
    np.testing.assert_array_equal(f(a)[0], before)


def test_float32_graphs_compute_and_return_float32():
    x, W = sg.vector("x", 6, dtype="float32"), sg.matrix("W", 3, 6, dtype="float32")
    cost = (sg.tanh(W @ x) * 0.5 + 1.25).sum()
    f = sg.value_and_grad(cost, [x, W], inputs=[x, W], backend="numba")
    xv, Wv = RNG.normal(size=6).astype(np.float32), RNG.normal(size=(3, 6)).astype(np.float32)
    value, (gx, gW) = f(xv, Wv)
    assert value.dtype == np.float32 and gx.dtype == np.float32 and gW.dtype == np.float32
    x64, W64 = xv.astype(np.float64), Wv.astype(np.float64)
    t = np.tanh(W64 @ x64)
    np.testing.assert_allclose(value, (t * 0.5 + 1.25).sum(), rtol=1e-6)
    np.testing.assert_allclose(gx, W64.T @ (0.5 * (1 - t ** 2)), rtol=1e-5, atol=1e-6)
    # the formula's floats are passed as float32 parameters: the loop stays in float32
    assert np.float32(0.5) in f._function._program.constants
    assert all(type(c) is np.float32 for c in f._function._program.constants if np.ndim(c) == 0)


def test_nan_propagates_and_untaken_branches_stay_quiet():
    x = sg.vector("x", 4)
    cost = (sg.where(x > 0, sg.log(x), 0.0) + sg.maximum(x, 0.5) + sg.exp(x) * x).sum()
    f = sg.value_and_grad(cost, x, inputs=[x], backend="numba")
    reference = sg.value_and_grad(cost, x, inputs=[x], backend="numpy")
    for a in ([2.0, -1.0, 0.0, 1.0], [np.nan, 1.0, -np.inf, np.inf]):
        a = np.array(a)
        value, g = f(a)
        want_value, want_g = reference(a)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(g, want_g, rtol=1e-12)
    assert np.isnan(f(np.array([np.nan, 1.0, 1.0, 1.0]))[1][0])


def test_source_is_deterministic_and_constants_are_arguments():
    x = sg.vector("x", 3)
    f1 = sg.function([x], (x * sg.constant([1.5, 2.5, 3.5])).sum(), backend="numba")
    f2 = sg.function([x], (x * sg.constant([7.25, 8.25, 9.25])).sum(), backend="numba")
    assert "def kernel(" in f1.source and f1.source == f2.source
    assert "7.25" not in f2.source
    assert f2([1.0, 1.0, 1.0]) == 7.25 + 8.25 + 9.25


def test_a_second_process_loads_the_compiled_code_from_the_disk_cache(tmp_path):
    script = textwrap.dedent("""
        import time, numpy as np, symgrad as sg
        X, W = sg.matrix("X", 8, 5), sg.matrix("W", 5, 3)
        cost = sg.nn.softmax_cross_entropy(sg.tanh(X @ W), sg.vector("y", 8, dtype="int64"))
        inputs = [X, W] + [v for v in sg.ops.free_inputs([cost]) if v.name == "y"]
        vg = sg.value_and_grad(cost, [W], inputs=inputs)
        vg(np.ones((8, 5)), np.ones((5, 3)), np.zeros(8, dtype=np.int64))
        stats = vg._function._program.function.stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    """)
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.dirname(sg.__file__)))
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout.split())
    assert runs[0] == ["0", "1"]      # compiled and saved
    assert runs[1] == ["1", "0"]      # loaded, not compiled
    assert [p.suffix for p in tmp_path.iterdir() if p.is_file()] == [".py"]
