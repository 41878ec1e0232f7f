"""One compiled function called from 8 threads at once gives the serial results.

The threads start together (a barrier), each with its own arguments, and
the very first calls race too: Numba compiles a function lazily at its first
call, so 8 first calls compete for that compile.
"""
import importlib
import threading

import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend
THREADS, CALLS = 8, 15


def _model(backend):
    X = sg.matrix("X", "batch", 16)
    y = sg.vector("y", "batch", dtype="int64")
    W = sg.matrix("W", 16, 10)
    b = sg.vector("b", 10)
    h = sg.tanh(X @ W + b)
    loss = sg.nn.softmax_cross_entropy(h * 3.0, y) + 1e-3 * sg.nn.l2(W)
    # cache=False: a fresh, not yet compiled function, so the first calls race
    return Function([X, y, W, b], [loss, h] + sg.grad(loss, [W, b]), backend=backend,
                    cache=False)


def _arguments(seed):
    rng = np.random.default_rng(seed)
    batch = 40 + seed % 7  # different sizes per thread, too
    return [rng.normal(size=(batch, 16)), rng.integers(0, 10, batch),
            rng.normal(size=(16, 10)) * 0.3, rng.normal(size=10) * 0.1]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_eight_threads_at_once_match_serial_calls(backend):
    f = _model(backend)
    args = [[_arguments(t * CALLS + c) for c in range(CALLS)] for t in range(THREADS)]
    results = [[None] * CALLS for _ in range(THREADS)]
    errors = []
    start = threading.Barrier(THREADS)

    def work(t):
        try:
            start.wait()
            for c in range(CALLS):
                results[t][c] = f(*args[t][c])
        except Exception as e:  # reported below, with the thread
            errors.append((t, e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t in range(THREADS):
        for c in range(CALLS):
            serial = f(*args[t][c])
            for got, want in zip(results[t][c], serial):
                np.testing.assert_array_equal(got, want)  # bit for bit


def test_threaded_results_are_right_not_just_repeatable():
    # the serial reference above is symgrad itself; check one call against NumPy
    f = _model("numba")
    X, y, W, b = _arguments(3)
    loss, h, gW, gb = f(X, y, W, b)
    z = np.tanh(X @ W + b) * 3.0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = -np.log(p[np.arange(len(y)), y]).mean() + 1e-3 * (W ** 2).sum()
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    d = p.copy()
    d[np.arange(len(y)), y] -= 1
    d = d / len(y) * 3.0 * (1 - np.tanh(X @ W + b) ** 2)
    np.testing.assert_allclose(gW, X.T @ d + 2e-3 * W, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gb, d.sum(0), rtol=1e-10, atol=1e-14)
