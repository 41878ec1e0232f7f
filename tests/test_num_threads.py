"""sg.set_num_threads, big loops in chunks on every thread with the
same bits for any thread count, BLAS following the count, small loops serial."""
import json
import math
import os
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest

import symgrad as sg
from symgrad.threads import blas_threads
from symgrad_codegen import gemm


@pytest.fixture(scope="module", autouse=True)
def _once_per_numba_path(request):
    # the tests choose the Numba backend themselves: CI's --backend=numba pass
    # would repeat them, except on Numba's public API (codegen.numba_internals),
    # where the chunks and the products in blocks take the fallback path
    if request.config.getoption("--backend") == "numba" and \
            os.environ.get("SYMGRAD_NUMBA_PUBLIC_API") != "1":
        pytest.skip("chooses its backend itself; the default pass already ran it")


@pytest.fixture
def _subprocesses(request):
    # the tests that start new processes run in the default pass only: in the
    # public-API pass every process compiles everything again (CI's time)
    if request.config.getoption("--backend") == "numba":
        pytest.skip("starts new processes; the default pass ran it")


@pytest.fixture(autouse=True)
def _restore_thread_count():
    previous = sg.get_num_threads()
    yield
    sg.set_num_threads(previous)


_THREADED = numba.config.NUMBA_NUM_THREADS > 1  # else nothing runs in chunks


def _source(vg):
    return vg._function._program.source


def test_set_num_threads_returns_the_previous_count():
    sg.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert sg.set_num_threads(1) == numba.config.NUMBA_NUM_THREADS
    assert sg.get_num_threads() == 1
    assert sg.set_num_threads(np.int64(1)) == 1


def test_a_kernel_leaves_the_blas_thread_counts_as_they_were():
    before = blas_threads()
    a = sg.matrix("a", 256, 256)
    f = sg.function([a], sg.sum(a @ a), backend="numba")
    value = f(np.eye(256))
    assert value == 256.0
    assert blas_threads() == before


@pytest.mark.parametrize("bad, error, words", [
    (0, ValueError, "outside 1.."), (-2, ValueError, "outside 1.."),
    (numba.config.NUMBA_NUM_THREADS + 1, ValueError, "NUMBA_NUM_THREADS"),
    (1.5, TypeError, "positive int"), ("2", TypeError, "positive int"),
    (True, TypeError, "positive int")])
def test_a_bad_thread_count_is_refused_and_changes_nothing(bad, error, words):
    before = sg.get_num_threads()
    with pytest.raises(error, match=words):
        sg.set_num_threads(bad)
    assert sg.get_num_threads() == before


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, env={**os.environ, **env}, timeout=300)
    return result


@pytest.mark.usefixtures("_subprocesses")
def test_the_environment_variable_sets_the_count_at_import():
    ok = _python("import symgrad as sg; print(sg.get_num_threads())", SYMGRAD_NUM_THREADS="1")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "1"
    bad = _python("import symgrad", SYMGRAD_NUM_THREADS="many")
    assert bad.returncode != 0 and "SYMGRAD_NUM_THREADS" in bad.stderr and "'many'" in bad.stderr


@pytest.mark.usefixtures("_subprocesses")
def test_one_numba_thread_runs_the_same_chunks_in_a_plain_loop():
    code = """
        import numpy as np, symgrad as sg
        x, a = sg.vector("x", 1 << 20), sg.matrix("a", 512, 512)
        f = sg.function([x, a], [sg.sum(sg.exp(x)), a @ a], cache=False)
        s, p = f(np.linspace(-1, 1, 1 << 20), np.eye(512))
        blocks = "matmul_blocks(" in f._program.source or "gemm_blocks(" in f._program.source
        print("prange(" in f._program.source, blocks,
              f._program.source.count("def loop"), s.hex(), p[7, 7])
    """
    one = _python(code, NUMBA_NUM_THREADS="1")
    two = _python(code, NUMBA_NUM_THREADS="2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    one, two = one.stdout.split(), two.stdout.split()
    assert one[:2] == ["False", "False"] and two[:2] == ["True", "True"]
    assert one[2] == two[2] != "0"  # a chunk function and the loop over the chunks
    assert one[3] == two[3] and one[4] == two[4] == "1.0"  # the same chunked sum, bit for bit


# W2-W5-like graphs, at sizes where the big loops run in chunks (W4, W5) and
# where products run in BLAS (W2, W3); each prints its results' bytes as hex
# at 1, 2 and 3 threads, with NUMBA_NUM_THREADS=3 on any machine
_BITS = """
import hashlib, json, sys
import numpy as np
import symgrad as sg

rng = np.random.default_rng(0)
graphs = {}

x = sg.vector("x", 300000)
graphs["w4"] = (sg.sum(sg.log(1 + sg.exp(sg.sin(x) * sg.cos(x) ** 2)) * sg.tanh(x)
                       + sg.sqrt(x * x + 1)), [x], [rng.uniform(-3, 3, 300000)])
v = c = sg.vector("c", 1000)
for k in range(300):
    v = [sg.sin, sg.tanh, lambda t: t * 1.01, lambda t: sg.exp(-t * t), lambda t: t + 0.1][k % 5](v)
graphs["w5"] = (sg.sum(v), [c], [rng.uniform(-1, 1, 1000)])
X, W1, W2 = sg.matrix("X", 128, 784), sg.matrix("W1", 784, 256), sg.matrix("W2", 256, 10)
labels = sg.vector("labels", 128, dtype="int64")
h = sg.relu(X @ W1)
graphs["w3"] = (sg.nn.softmax_cross_entropy(h @ W2, labels), [W1, W2],
                [rng.uniform(0, 1, (128, 784)), rng.normal(0, 0.05, (784, 256)),
                 rng.normal(0, 0.1, (256, 10)), rng.integers(0, 10, 128)])
E, idx = sg.matrix("E", 20000, 50), sg.matrix("idx", 512, 5, dtype="int64")
W, U = sg.matrix("W", 100, 250), sg.matrix("U", 5, 100)
y = sg.vector("y", 512, dtype="int64")
hidden = sg.tanh(sg.reshape(E[idx], (512, 250)) @ W.T)
graphs["w2"] = (sg.nn.softmax_cross_entropy(hidden @ U.T, y), [E, W, U],
                [rng.normal(0, 0.1, (20000, 50)), rng.integers(0, 20000, (512, 5)),
                 rng.normal(0, 0.1, (100, 250)), rng.normal(0, 0.1, (5, 100)),
                 rng.integers(0, 5, 512)])
inputs = {"w4": [x], "w5": [c], "w3": [X, W1, W2, labels], "w2": [E, idx, W, U, y]}
out = {}
for name, (cost, wrt, values) in graphs.items():
    vg = sg.value_and_grad(cost, wrt, inputs[name], backend="numba")
    results = {}
    for n in (1, 2, 3):
        sg.set_num_threads(n)
        value, grads = vg(*values)
        digest = hashlib.sha256(np.float64(value).tobytes())
        for g in grads:
            digest.update(np.ascontiguousarray(g).tobytes())
        results[n] = digest.hexdigest()
    out[name] = {"bits": results, "chunked": "prange(" in vg._function._program.source,
                 "value": float(value)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bits(request):
    if request.config.getoption("--backend") == "numba":
        pytest.skip("starts a new process; the default pass ran it")
    result = _python(_BITS, NUMBA_NUM_THREADS="3")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["w2", "w3", "w4", "w5"])
def test_one_two_and_three_threads_give_the_same_bits(bits, name):
    assert len(set(bits[name]["bits"].values())) == 1, bits[name]["bits"]


def test_the_big_elementwise_loop_runs_in_chunks_and_the_value_is_right(bits):
    # W5's 1000-element loop stays serial: its parallel compile (+2.3 s cold)
    # would cost more than threads save
    assert bits["w4"]["chunked"] and not bits["w5"]["chunked"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 300000)
    expected = math.fsum(np.log1p(np.exp(np.sin(x) * np.cos(x) ** 2)) * np.tanh(x)
                         + np.sqrt(x * x + 1))
    assert bits["w4"]["value"] == pytest.approx(expected, rel=1e-13)


# a chunked loop, compiled once for the tests below: a full sum and a
# gradient over 2^18 + 3 elements (chunks of 512 and a short last one)
_N = (1 << 18) + 3


@pytest.fixture(scope="module")
def big():
    x, w = sg.vector("x", _N), sg.vector("w", _N)
    cost = sg.sum(sg.exp(sg.sin(x)) * w)
    vg = sg.value_and_grad(cost, [x, w], [x, w], backend="numba")
    assert ("prange(" in _source(vg)) == _THREADED
    return vg


def test_a_chunked_sum_and_gradient_match_numpy_at_every_thread_count(big):
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=_N), rng.normal(size=_N)
    x_before = x.copy()
    expected = math.fsum(np.exp(np.sin(x)) * w)
    results = []
    for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        sg.set_num_threads(n)
        value, (gx, gw) = big(x, w)
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(gx, np.exp(np.sin(x)) * np.cos(x) * w, rtol=1e-14)
        np.testing.assert_allclose(gw, np.exp(np.sin(x)), rtol=1e-14)
        results.append((value, gx.tobytes(), gw.tobytes()))
    assert all(r == results[0] for r in results)
    np.testing.assert_array_equal(x, x_before)  # the caller's array is untouched


def test_a_nan_in_one_chunk_reaches_the_sum(big):
    x, w = np.zeros(_N), np.ones(_N)
    w[_N - 2] = np.nan  # in the short last chunk
    value, _ = big(x, w)
    assert np.isnan(value)


def test_the_count_applies_in_every_thread_that_calls_a_kernel(big):
    sg.set_num_threads(1)
    seen = []

    def call():
        big(np.ones(_N), np.ones(_N))
        seen.append(numba.get_num_threads())
    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    assert seen == [1]


def test_a_chunked_gather_checks_its_indices_and_scatter_adds_lose_no_update():
    n, table = 300000, 1000
    E, idx = sg.vector("E", table), sg.vector("idx", n, dtype="int64")
    cost = sg.sum(sg.tanh(E[idx]) * sg.exp(E[idx]))
    vg = sg.value_and_grad(cost, [E], [E, idx], backend="numba")
    assert ("prange(" in _source(vg)) == _THREADED
    rng = np.random.default_rng(2)
    e, i = rng.normal(size=table), rng.integers(0, table, n)
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        sg.set_num_threads(threads)
        value, (grad,) = vg(e, i)
        local = (1 - np.tanh(e[i]) ** 2) * np.exp(e[i]) + np.tanh(e[i]) * np.exp(e[i])
        expected = np.zeros(table)
        np.add.at(expected, i, local)  # every repeat of an index accumulates
        np.testing.assert_allclose(grad, expected, rtol=1e-12)
        assert value == pytest.approx(math.fsum(np.tanh(e[i]) * np.exp(e[i])), rel=1e-12)
    bad = i.copy()
    bad[n - 7] = table  # one past the end, in the last chunk
    with pytest.raises(IndexError, match=str(table)):
        vg(e, bad)


def test_small_loops_and_named_sizes_stay_serial():
    x = sg.vector("x", 1000)
    small = sg.value_and_grad(sg.sum(sg.tanh(x)), [x], [x], backend="numba", cache=False)
    n = sg.vector("v", "n")
    named = sg.function([n], [sg.exp(n)], backend="numba", cache=False)
    assert "prange" not in small._function._program.source.split("import", 4)[-1]
    assert "prange(" not in small._function._program.source
    assert "prange(" not in named._program.source
    assert small(np.zeros(1000))[0] == 0.0


def test_a_forked_child_runs_a_parallel_kernel_its_parent_ran(big):
    # GNU OpenMP's threading layer kills such a child ("fork() called from a
    # process already using GNU OpenMP"); TBB's, which symgrad requires where
    # it has wheels, does not
    if not hasattr(os, "fork"):
        pytest.skip("no fork() on this platform")
    big(np.ones(_N), np.ones(_N))
    if numba.threading_layer() == "omp":
        pytest.skip("Numba runs on GNU OpenMP here (no TBB), which a forked child cannot use")
    import multiprocessing
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        value = pool.apply(_sum_of_exp_sin, (big,))
    assert value == pytest.approx(math.fsum(np.exp(np.sin(np.linspace(-1, 1, _N)))), rel=1e-12)


def _sum_of_exp_sin(vg):
    return float(vg(np.linspace(-1, 1, _N), np.ones(_N))[0])


@pytest.fixture(scope="module")
def reductions():
    x, i = sg.vector("x", _N), sg.vector("i", _N, dtype="int64")
    f = sg.function([x, i], [sg.max(x), sg.min(x), sg.sum(i), sg.sum(x * x)], backend="numba")
    assert ("prange(" in f._program.source) == _THREADED
    return f


def test_chunked_max_min_and_int_sums_match_numpy(reductions):
    rng = np.random.default_rng(3)
    x, i = rng.normal(size=_N), rng.integers(-10**12, 10**12, _N)
    x[_N - 1] = 9.0  # the extremes in the short last chunk
    x[_N - 2] = -9.0
    for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        sg.set_num_threads(n)
        top, bottom, total, squares = reductions(x, i)
        assert (top, bottom, total) == (9.0, -9.0, int(np.sum(i)))
        assert squares == pytest.approx(math.fsum(x * x), rel=1e-13)
    x[12345] = np.nan
    top, bottom, _, _ = reductions(x, i)
    assert np.isnan(top) and np.isnan(bottom)


@pytest.mark.parametrize("own", [False, True], ids=["BLAS", "codegen.gemm"])
def test_products_in_blocks_match_numpy_with_fixed_and_named_sizes(own, monkeypatch):
    if numba.config.NUMBA_NUM_THREADS == 1:
        pytest.skip("one Numba thread: products are one call")
    if own and not gemm.in_use():
        pytest.skip("codegen.gemm is not in use on this machine (no AVX-512)")
    monkeypatch.setattr(gemm, "in_use", lambda: own)
    helper = "gemm_blocks(" if own else "matmul_blocks("
    a, b, c = sg.matrix("a", 512, 256), sg.matrix("b", 256, 256), sg.matrix("c", 512, 64)
    fixed = sg.function([a, b, c], [a @ b, a.T @ c], backend="numba")
    X, W = sg.matrix("X", "batch", 300), sg.matrix("W", 300, 200)
    named = sg.function([X, W], X @ W, backend="numba")
    assert fixed._program.source.count(helper) == 2
    assert helper in named._program.source
    rng = np.random.default_rng(4)
    av, bv, cv = rng.normal(size=(512, 256)), rng.normal(size=(256, 256)), rng.normal(size=(512, 64))
    ab, atc = fixed(av, bv, cv)
    np.testing.assert_allclose(ab, av @ bv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(atc, av.T @ cv, rtol=1e-12, atol=1e-12)
    w = rng.normal(size=(300, 200))
    for batch in (3, 2048):  # one block, then blocks chosen at run time
        x = rng.normal(size=(batch, 300))
        np.testing.assert_allclose(named(x, w), x @ w, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("_subprocesses")
def test_threads_calling_parallel_kernels_at_once_do_not_kill_numbas_workqueue_layer():
    # Numba's workqueue layer (where there is neither TBB nor OpenMP) terminates
    # the process on a second parallel launch while one runs; symgrad.threads
    # runs one parallel kernel at a time there
    code = """
        import threading, numpy as np, numba, symgrad as sg
        x = sg.vector("x", 1 << 19)
        f = sg.function([x], sg.sum(sg.exp(x)), cache=False)
        v = np.zeros(1 << 19)
        results = []
        def run():
            results.extend(float(f(v)) for _ in range(50))
        workers = [threading.Thread(target=run) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(numba.threading_layer(), len(results), set(results))
    """
    done = _python(code, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.split(None, 2) == ["workqueue", "200", f"{{{float(1 << 19)}}}\n"]
