"""Loading a cached kernel in a new process (codegen.compiler's loader, which
skips Numba's target refresh): the loaded code must compute what NumPy
computes, for a kernel that allocates, reshapes, multiplies with BLAS and
raises, and a compile after the load must still work."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json
import numpy as np
import symgrad as sg
X, W, y = sg.matrix("X", 6, 4), sg.matrix("W", 4, 3), sg.vector("y", 6, dtype="int64")
cost = sg.nn.softmax_cross_entropy(sg.relu(X @ W), y)
vg = sg.value_and_grad(cost, [W], inputs=[X, W, y])
X0 = np.linspace(-1.0, 1.0, 24).reshape(6, 4)
W0 = np.cos(np.arange(12.0)).reshape(4, 3)
value, (dW,) = vg(X0, W0, np.array([0, 1, 2, 0, 1, 2]))
try:
    vg(X0, W0, np.array([0, 1, 2, 0, 1, 3]))
    error = None
except IndexError as e:
    error = str(e)
stats = vg._function._program.function.stats
x = sg.vector("x", 3)  # a new graph: compiled in the process that loaded the first
other = sg.function([x], (x @ W0[:3]).sum())(np.ones(3))
print(json.dumps([sum(stats.cache_hits.values()), float(value), dW.tolist(), error,
                  float(other)]))
"""


def _expected():
    X = np.linspace(-1.0, 1.0, 24).reshape(6, 4)
    W = np.cos(np.arange(12.0)).reshape(4, 3)
    y = np.array([0, 1, 2, 0, 1, 2])
    a = X @ W
    h = np.maximum(a, 0.0)
    p = np.exp(h - h.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cost = -np.mean(np.log(p[np.arange(6), y]))
    d = p.copy()
    d[np.arange(6), y] -= 1.0
    return cost, X.T @ (d / 6 * (a > 0)), W[:3].sum()


def test_a_loaded_kernel_computes_what_numpy_computes_and_compiling_still_works(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    cost, dW, other = _expected()
    assert [r[0] for r in runs] == [0, 1]  # compiled, then loaded
    for _, value, grad, error, total in runs:
        np.testing.assert_allclose(value, cost, rtol=1e-13)
        np.testing.assert_allclose(grad, dW, rtol=1e-12, atol=1e-15)
        assert "index 3 is out of range [0, 3)" in error
        np.testing.assert_allclose(total, other, rtol=1e-13)
