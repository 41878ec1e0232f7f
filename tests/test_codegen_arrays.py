"""codegen.arrays, the intrinsics kernels allocate, reshape and multiply with,
against NumPy: np.dot on every operand layout and the empty cases, np.empty /
np.full shapes, dtypes and fills, and reshape views that share their data."""
import numba
import numpy as np
import pytest

from symgrad_codegen.arrays import empty, full, matmul, view
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

RNG = np.random.default_rng(7)


@numba.njit
def _products(a, b):
    # the four layout pairs gemm sees: a, a.T (F) times b, b.T (F)
    return matmul(a, b), matmul(a.T.T, b.T.T), matmul(b.T, a.T), matmul(a, b.T.T)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_matmul_matches_np_dot_on_c_and_f_operands(dtype, rtol):
    a, b = RNG.normal(size=(5, 4)).astype(dtype), RNG.normal(size=(4, 3)).astype(dtype)
    a.flags.writeable = False  # kernels receive read-only inputs
    got = _products(a, b)
    want = [a @ b, a @ b, b.T @ a.T, a @ b]
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.flags.c_contiguous
        np.testing.assert_allclose(g, w, rtol=rtol)
    fortran = np.asfortranarray(b)
    np.testing.assert_allclose(numba.njit(lambda x, y: matmul(x, y))(a, fortran), a @ b,
                               rtol=rtol)


@pytest.mark.parametrize("m, k, n", [(3, 0, 2), (0, 4, 2), (3, 4, 0), (1, 4, 1), (1, 1, 1)])
def test_matmul_of_empty_and_thin_matrices(m, k, n):
    a, b = RNG.normal(size=(m, k)), RNG.normal(size=(k, n))
    got = numba.njit(lambda x, y: matmul(x, y))(a, b)
    assert got.shape == (m, n)
    np.testing.assert_allclose(got, np.dot(a, b), rtol=1e-13, atol=0)


def test_matmul_keeps_ieee_special_values():
    a = np.array([[np.inf, 1.0], [np.nan, 0.0]])
    b = np.array([[0.0, 1.0], [2.0, 3.0]])
    got = numba.njit(lambda x, y: matmul(x, y))(a, b)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, a @ b)  # inf * 0 is nan, as in NumPy


@numba.njit
def _allocations(n):
    return (empty((n, 3), np.float64), full((n,), -np.inf, np.float64),
            full((2, n), 0, np.int64), full((n, 1, 2), True, np.bool_),
            full((n,), 1.5, np.float32))


def test_empty_and_full_give_numpy_shapes_dtypes_and_fills():
    for n in (0, 4):
        e, inf, zeros, flags, f32 = _allocations(n)
        assert e.shape == (n, 3) and e.dtype == np.float64 and e.flags.c_contiguous
        np.testing.assert_array_equal(inf, np.full(n, -np.inf))
        assert zeros.dtype == np.int64 and zeros.shape == (2, n) and not zeros.any()
        assert flags.dtype == np.bool_ and flags.shape == (n, 1, 2) and flags.all()
        assert f32.dtype == np.float32
        np.testing.assert_array_equal(f32, np.full(n, 1.5, np.float32))


def test_an_allocation_too_big_for_memory_addresses_raises():
    with pytest.raises(ValueError, match="too big"):
        numba.njit(lambda n: empty((n, n, n), np.float64))(2 ** 22)


def test_view_reshapes_without_copying():
    @numba.njit
    def reshaped(a):
        v = view(a, (2, 3))
        v[1, 0] = -1.0
        return v, view(a, (6, 1)), view(a.reshape((3, 2)), (6,))
    a = np.arange(6.0)
    v, column, flat = reshaped(a)
    want = np.arange(6.0).reshape(2, 3)
    want[1, 0] = -1.0
    np.testing.assert_array_equal(v, want)
    assert a[3] == -1.0  # written through the view
    assert v.strides == (24, 8) and column.strides == (8, 8)
    np.testing.assert_array_equal(flat, a)
    readonly = np.arange(4.0)
    readonly.flags.writeable = False
    assert not numba.njit(lambda a: view(a, (2, 2)))(readonly).flags.writeable
