"""codegen.gemm, symgrad's own matrix-product kernel, against NumPy: shapes with
and without whole blocks, transposes, strided and reversed views, float32,
empty products, nan and inf, the same bits in blocks of rows and on any number
of threads, and products in compiled graphs."""
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import symgrad as sg
from symgrad_codegen import gemm

SHAPES = [(128, 784, 256), (784, 128, 256), (1, 1, 1), (5, 3, 32), (6, 256, 32), (7, 300, 70),
          (13, 600, 65), (12, 513, 64), (37, 53, 29), (2, 1000, 33)]


def _operands(rng, m, k, n, transpose_a, transpose_b, dtype):
    a = rng.uniform(-1, 1, (k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.uniform(-1, 1, (n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


def _reference(a, b, transpose_a, transpose_b):
    """The product in float64 (longdouble would not be faster to check)."""
    a = (a.T if transpose_a else a).astype(np.float64)
    b = (b.T if transpose_b else b).astype(np.float64)
    return a @ b, np.abs(a) @ np.abs(b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False),
                                                      (False, True), (True, True)])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_products_match_numpy(m, k, n, transpose_a, transpose_b, dtype):
    rng = np.random.default_rng(m * 1000 + k + n)
    a, b = _operands(rng, m, k, n, transpose_a, transpose_b, dtype)
    a0, b0 = a.copy(), b.copy()
    got = gemm.gemm(a, b, transpose_a, transpose_b)
    exact, scale = _reference(a, b, transpose_a, transpose_b)
    assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
    # each element: k rounded multiply-adds, error below k * eps * sum |a_ip b_pj|
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(got - exact) <= (k + 2) * eps * scale + np.finfo(dtype).tiny)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("m, k, n", [(0, 4, 40), (3, 0, 40), (3, 4, 0), (0, 0, 0)])
def test_empty_products_are_empty_or_zero(m, k, n):
    got = gemm.gemm(np.ones((m, k)), np.ones((k, n)))
    assert got.shape == (m, n) and np.array_equal(got, np.zeros((m, n)))


def test_strided_and_reversed_views_are_read_where_they_lie():
    rng = np.random.default_rng(7)
    big = rng.uniform(-1, 1, (300, 400))
    views = [big[::2, ::3], big[::-1, 5:105], big[10:130, ::-2], big.T[::3, 50:250]]
    for a in views:
        for b in views:
            if a.shape[1] == b.shape[0]:
                exact, scale = _reference(a, b, False, False)
                got = gemm.gemm(a, b)
                assert np.all(np.abs(got - exact) <= (a.shape[1] + 2) * 2e-16 * scale)
    a, b = big[::-1, ::-1][:64, :96], big[::2][:96, ::-1][:, :48]
    np.testing.assert_allclose(gemm.gemm(a, b), a @ b, rtol=1e-13, atol=1e-13)


def test_rows_of_b_at_strides_not_a_multiple_of_the_itemsize_are_packed():
    from numpy.lib.stride_tricks import as_strided
    k, n = 3, 32
    memory = np.zeros(k * (n * 8 + 4) + 8, np.uint8)
    b = as_strided(memory[:8].view(np.float64), shape=(k, n), strides=(n * 8 + 4, 8))
    b[...] = np.arange(k * n).reshape(k, n)
    a = np.ones((2, k))
    np.testing.assert_array_equal(gemm.gemm(a, b), a @ b)


def test_bad_operands_raise_instead_of_reading_past_them():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(5, 32\).*inner sizes differ"):
        gemm.gemm(np.ones((2, 3)), np.ones((5, 32)))
    with pytest.raises(TypeError, match="float64 and 2-d float32"):
        gemm.gemm(np.ones((2, 3)), np.ones((3, 32), np.float32))
    with pytest.raises(TypeError, match="int64"):
        gemm.gemm(np.ones((2, 3), np.int64), np.ones((3, 32), np.int64))
    with pytest.raises(TypeError, match="1-d"):
        gemm.gemm(np.ones(3), np.ones((3, 32)))


def test_nan_and_inf_reach_the_elements_numpy_gives_them_to():
    a, b = np.ones((9, 40)), np.ones((40, 70))
    a[2, 5], a[7, 39], b[0, 33] = np.nan, np.inf, -np.inf
    with np.errstate(invalid="ignore"):  # inf - inf
        got, expected = gemm.gemm(a, b), a @ b
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    assert np.array_equal(got[finite], expected[finite])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_in_any_blocks_give_the_same_bits(dtype):
    rng = np.random.default_rng(3)
    a, b = _operands(rng, 53, 700, 100, True, False, dtype)
    whole = gemm.gemm(a, b, transpose_a=True)
    for rows in (1, 5, 6, 7, 26):
        out = np.full(whole.shape, np.nan, dtype)
        for lo in range(0, 53, rows):
            gemm.gemm_into(a, b, np.True_, np.False_, out, lo, min(lo + rows, 53))
        assert np.array_equal(out, whole), rows
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        sg.set_num_threads(threads)
        try:
            assert np.array_equal(gemm.gemm_blocks(a, b, np.True_, np.False_, 4), whole)
        finally:
            sg.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_each_element_is_a_fused_multiply_add_chain_per_panel_in_term_order():
    # what makes the bits independent of the blocks and threads: checked
    # against the same chains written with math.fma (Python 3.13+) or exact
    # rationals rounded once per step
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(6, 300)), rng.normal(size=(300, 32))
    got = gemm.gemm(a, b)
    for i, j in [(0, 0), (5, 31), (3, 17)]:
        total = _fma_chain(a[i, :256], b[:256, j])
        rest = _fma_chain(a[i, 256:], b[256:, j])
        assert got[i, j] == total + rest


def _fma_chain(x, y):
    """fma(x[-1], y[-1], ... fma(x[0], y[0], 0.0)): each step the exact x*y+s, rounded once."""
    from fractions import Fraction
    total = 0.0
    for u, v in zip(x, y):
        total = float(Fraction(u) * Fraction(v) + Fraction(total))
    return total


@pytest.mark.skipif(not gemm.in_use(), reason="kernels do not use codegen.gemm here (no AVX-512 "
                                              "host, or Numba's public API only)")
def test_compiled_graphs_use_it_for_wide_products_and_blas_for_narrow_ones():
    X, W1, W2 = sg.matrix("X", "batch", 784), sg.matrix("W1", 784, 256), sg.matrix("W2", 256, 10)
    y = sg.vector("y", "batch", dtype="int64")
    cost = sg.nn.softmax_cross_entropy(sg.relu(X @ W1) @ W2, y)
    f = sg.value_and_grad(cost, [W1, W2], inputs=[X, y, W1, W2], backend="numba")
    reference = sg.value_and_grad(cost, [W1, W2], inputs=[X, y, W1, W2], backend="numpy")
    rng = np.random.default_rng(5)
    for batch in (1, 7, 128):
        data = (rng.random((batch, 784)), rng.integers(0, 10, batch),
                rng.normal(0, 0.05, (784, 256)), rng.normal(0, 0.05, (256, 10)))
        (value, grads), (value0, grads0) = f(*data), reference(*data)
        assert value == pytest.approx(value0, rel=1e-13)
        for g, g0 in zip(grads, grads0):
            np.testing.assert_allclose(g, g0, rtol=1e-11, atol=1e-14)
    source = f._function._program.source
    assert "gemm_" in source  # X @ W1 and its gradients
    assert "arrays.matmul(" in source or "matmul_blocks(" in source  # h @ W2 (10 columns)


def test_a_new_process_loads_the_kernel_from_the_cache_folder(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, symgrad as sg
        from symgrad_codegen import gemm
        a = sg.matrix("a", 40, 64)
        f = sg.function([a], a.T @ a, backend="numba")
        v = np.arange(2560.0).reshape(40, 64) / 1000
        print(np.array_equal(f(v), gemm.gemm(v, v, transpose_a=True)) if gemm.in_use() else True,
              sum(gemm.gemm_c.stats.cache_misses.values()))
    """)
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.split() for run in runs)
    assert first[0] == second[0] == "True"
    assert second[1] == "0"  # loaded, not compiled again


def test_making_a_function_compiles_nothing_until_its_kernel_compiles_or_loads(tmp_path):
    # the entry point is registered (compiled or loaded: 0.4 s cold) in the thread
    # that compiles the kernel, not when sg.function builds it: a tiered first
    # call is answered while the kernel compiles in the background
    code = textwrap.dedent("""
        import numpy as np, symgrad as sg
        from symgrad_codegen import gemm
        a = sg.matrix("a", 40, 64)
        f = sg.function([a], a.T @ a, backend="numba", tiered=True)
        print(sorted(gemm._registered), end=" ")
        f(np.ones((40, 64)))
        f.wait_compiled()
        print(sorted(gemm._registered) == (["float64"] if gemm.in_use() else []))
    """)
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    for _ in range(2):  # compiled, then loaded from the cache folder
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["[]", "True"]


def test_one_kernel_module_called_with_float32_after_float64_from_the_cache(tmp_path):
    # the two functions' sources are the same (a program does not depend on its
    # inputs' dtypes), so they share one compiled module; loading its float32
    # code from the cache folder needs the float32 entry point registered too
    # (a process that had not crashed with a segmentation fault before the fix)
    code = textwrap.dedent("""
        import sys, numpy as np, symgrad as sg
        def make(dtype):
            a, w = sg.matrix("a", 6, 40, dtype=dtype), sg.matrix("w", 40, 64, dtype=dtype)
            return sg.function([a, w], a @ w, backend="numba", tiered=False)
        functions = {dtype: make(dtype) for dtype in sys.argv[1:]}
        for dtype, f in functions.items():
            print(dtype, f(np.ones((6, 40), dtype), np.ones((40, 64), dtype))[5, 63], end=" ")
    """)
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    for dtypes in (["float32"], ["float64", "float32"]):
        run = subprocess.run([sys.executable, "-c", code, *dtypes], capture_output=True,
                             text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == [word for d in dtypes for word in (d, "40.0")]
