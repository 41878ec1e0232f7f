"""Dtype handling of generated Numba kernels, against NumPy.

* float32 sums accumulate in float64 and round once: full sums, means, sums
  over an axis (the innermost loop, an outer loop), einsum contractions
  printed as loops, and gradients summed back over a broadcast, checked
  against float64 NumPy at 4e6 and 1.6e7 elements (one float32 running sum
  errs by 3e-3 and 2e-2 relative there).
* Choices in integer formulas (where, maximum, minimum, abs, relu, ...)
  compile: the nan check of float choices has no meaning (and no name) in an
  integer kernel.

Every function here is compiled with ``backend="numba"`` explicitly, once
per module (module-scoped fixtures).
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad_codegen import Alloc, Index, Load, Loop, Program, Reshape, Store, compile_program
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

SIZES = (4_000_000, 16_000_000)
RTOL = 1e-6


def _numba(inputs, outputs):
    return sg.function(inputs, outputs, backend="numba")


def _relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.abs(want)))


@pytest.fixture(scope="module")
def data():
    """Positive float32 values (no cancellation: the sums are well conditioned)."""
    rng = np.random.default_rng(20240611)
    return rng.random(SIZES[-1], dtype=np.float32) + np.float32(0.5)


# -- float32 reductions ------------------------------------------------------------

# one function per input shape (compiling is most of the time): each output
# is one kind of reduction
VECTOR_REDUCTIONS = ("sum", "mean", "plain_sum", "einsum3", "grad_scalar")


@pytest.fixture(scope="module")
def vector_reductions():
    x = sg.vector("x", "n", dtype="float32")
    b = sg.scalar("b", dtype="float32")
    outputs = {
        "sum": (x * x).sum(),
        "mean": (x * x).mean(),
        "plain_sum": x.sum(),
        "einsum3": sg.einsum("i,i,i->", x, x, x),  # three operands: a loop, not BLAS
        "grad_scalar": sg.grad((x * b).sum(), b),  # the broadcast b summed back
    }
    f = _numba([x, b], [outputs[name] for name in VECTOR_REDUCTIONS])
    return lambda x, b=np.float32(1.5): dict(zip(VECTOR_REDUCTIONS, f(x, b)))


@pytest.mark.parametrize("n", SIZES)
def test_float32_full_reductions_accumulate_in_float64(vector_reductions, data, n):
    x = data[:n]
    x64 = x.astype(np.float64)
    want = {"sum": (x64 * x64).sum(), "mean": (x64 * x64).mean(), "plain_sum": x64.sum(),
            "einsum3": (x64 ** 3).sum(), "grad_scalar": x64.sum()}
    for name, got in vector_reductions(x).items():
        assert np.asarray(got).dtype == np.float32, name
        assert _relative_error(got, want[name]) < RTOL, (name, float(got), want[name])


AXIS_REDUCTIONS = ("axis0", "axis1", "mean0", "mean1", "einsum0", "einsum1", "grad0", "grad1")


@pytest.fixture(scope="module")
def axis_reductions():
    X = sg.matrix("X", "m", "k", dtype="float32")
    Y = sg.matrix("Y", "m", "k", dtype="float32")
    c = sg.vector("c", "k", dtype="float32")
    r = sg.vector("r", "m", dtype="float32")
    outputs = {
        "axis0": X.sum(axis=0),
        "axis1": X.sum(axis=1),
        "mean0": X.mean(axis=0),
        "mean1": X.mean(axis=1),
        "einsum0": sg.einsum("ij,ij->j", X, Y),  # elementwise operands: loops, not BLAS
        "einsum1": sg.einsum("ij,ij->i", X, Y),
        # gradients of broadcast operands: summed over the rows / over the columns
        "grad0": sg.grad((X * c).sum(), c),
        "grad1": sg.grad((X.T * r).sum(), r),
    }
    f = _numba([X, Y, c, r], [outputs[name] for name in AXIS_REDUCTIONS])

    def call(X, Y):
        c, r = np.ones(X.shape[1], np.float32), np.ones(X.shape[0], np.float32)
        return dict(zip(AXIS_REDUCTIONS, f(X, Y, c, r)))
    return call


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("long_axis", [0, 1])
def test_float32_axis_reductions_accumulate_in_float64(axis_reductions, data, n, long_axis):
    # 2 sums of n/2 values each, over the outer (axis 0) or the innermost loop
    shape = (n // 2, 2) if long_axis == 0 else (2, n // 2)
    X = data[:n].reshape(shape)
    Y = data[::-1][:n].reshape(shape)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    a = long_axis
    want = {f"axis{a}": X64.sum(axis=a), f"mean{a}": X64.mean(axis=a),
            f"einsum{a}": (X64 * Y64).sum(axis=a), f"grad{a}": X64.sum(axis=a)}
    got = axis_reductions(X, Y)
    for name in want:
        assert got[name].dtype == np.float32, name
        assert got[name].shape == want[name].shape, name
        assert _relative_error(got[name], want[name]) < RTOL, (name, got[name], want[name])
    # the short sums (2 values each) round to float32 as well
    b = 1 - a
    np.testing.assert_array_equal(got[f"axis{b}"], X64.sum(axis=b).astype(np.float32))


def test_float32_reductions_of_few_values_round_once(axis_reductions, vector_reductions):
    X = np.array([[1.0, 2.0 ** -30, 3.0], [0.1, 0.2, 0.3]], np.float32)
    got = axis_reductions(X, X)
    for axis in (0, 1):
        assert got[f"axis{axis}"].dtype == np.float32
        np.testing.assert_array_equal(got[f"axis{axis}"],
                                      X.astype(np.float64).sum(axis=axis).astype(np.float32))
    # 1 + 2**-30 - 1: 0 in float32 arithmetic, exact in float64
    assert vector_reductions(np.array([1.0, 2.0 ** -30, -1.0], np.float32))["plain_sum"] == \
        np.float32(2.0 ** -30)
    assert vector_reductions(np.zeros(0, np.float32))["plain_sum"] == 0.0
    assert axis_reductions(np.zeros((3, 0), np.float32),
                           np.zeros((3, 0), np.float32))["axis1"].tolist() == [0.0, 0.0, 0.0]


def test_float32_sum_in_a_sin_loop(data):
    # a loop with vsin runs in blocks that may be recomputed with libm: the
    # float64 lanes must add each block once
    x = sg.vector("x", "n", dtype="float32")
    f = _numba([x], (sg.sin(x) * sg.sin(x)).sum())
    values = data[:100_000].copy()
    values[70_000] = np.float32(3e15)  # beyond vsin's exact range: that block is recomputed
    want = (np.sin(values.astype(np.float64)) ** 2).sum()
    assert _relative_error(f(values), want) < RTOL


def test_float32_sums_into_arrays_holding_values():
    # codegen alone: sums into arrays filled with 1 (not 0), one through a
    # reshaped view; 1 + 1024 * 2**-25 is 1 when accumulated in float32
    n = sympy.Symbol("n0", integer=True)
    columns = Loop((n, 2), (Load("a", "x0", (Index(0), Index(1))),
                            Store("y", (Index(1),), "a", "+="),
                            Store("zv", (Index(1), Index(None)), "a", "+="),
                            Store("s", (), "a", "+=")))
    rows = Loop((2, n), (Load("b", "x1", (Index(0), Index(1))),
                         Store("r", (Index(0),), "b", "+=")))
    program = Program(("x0", "x1", "n0"), (
        Alloc("y", "float32", (2,), 1), Alloc("z", "float32", (2,), 1),
        Reshape("zv", "z", (2, 1)), Alloc("s", "float32", (), 1), Alloc("r", "float32", (2,), 1),
        columns, rows), ("y", "z", "s", "r"))
    kernel = compile_program(program).function
    x = np.full((1024, 2), 2.0 ** -25, np.float32)
    y, z, total, r = kernel(x, np.ascontiguousarray(x.T), 1024)
    for got, want in ((y, [1 + 2.0 ** -15] * 2), (z, [1 + 2.0 ** -15] * 2),
                      (total, [1 + 2.0 ** -14]), (r, [1 + 2.0 ** -15] * 2)):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.array(want, np.float32))


# -- integer sums ------------------------------------------------------------------------

def test_int32_sums_and_means_accumulate_in_int64_like_numpy():
    # np.sum of int32 is an int64 sum: no wrap-around at 2**31
    i = sg.vector("i", "n", dtype="int32")
    I = sg.matrix("I", "m", "k", dtype="int32")
    f = _numba([i, I], [i.sum(), I.sum(axis=0), I.sum(axis=1), i.mean()])
    iv = np.array([2 ** 31 - 1, 2 ** 31 - 1, 5], np.int32)
    Iv = np.full((3, 4), 2 ** 31 - 1, np.int32)
    total, cols, rows, mean = f(iv, Iv)
    assert total == iv.sum() and total.dtype == np.int64
    np.testing.assert_array_equal(cols, Iv.sum(axis=0))
    np.testing.assert_array_equal(rows, Iv.sum(axis=1))
    assert mean == pytest.approx(iv.mean(), rel=1e-12)


# -- choices in integer kernels -------------------------------------------------------------

_sign = sg.elementwise(lambda t: sympy.sign(t), name="sign_formula")
_heaviside = sg.elementwise(lambda t: sympy.Heaviside(t, 1), name="heaviside_formula")
_max_formula = sg.elementwise(lambda a, b: sympy.Max(a, b), name="max_formula")
_min_formula = sg.elementwise(lambda a, b: sympy.Min(a, b), name="min_formula")

INT_CASES = {  # name: (expression of i and j, NumPy reference)
    "where": (lambda i, j: sg.where(i < 0, i + 5, i), lambda i, j: np.where(i < 0, i + 5, i)),
    "where_eq": (lambda i, j: sg.where(sg.eq(i, j), i, j), lambda i, j: np.where(i == j, i, j)),
    "maximum": (lambda i, j: sg.maximum(i, j), np.maximum),
    "minimum": (lambda i, j: sg.minimum(i, j), np.minimum),
    "maximum_0": (lambda i, j: sg.maximum(i, 0), lambda i, j: np.maximum(i, 0)),
    "minimum_3": (lambda i, j: sg.minimum(i, 3), lambda i, j: np.minimum(i, 3)),
    "abs": (lambda i, j: sg.abs(i), lambda i, j: np.abs(i)),
    "relu": (lambda i, j: sg.relu(i), lambda i, j: np.maximum(i, 0)),
    "hardtanh": (lambda i, j: sg.hardtanh(i), lambda i, j: np.clip(i, -1, 1)),
    "max_reduce": (lambda i, j: i.max(), lambda i, j: i.max()),
    "sign": (lambda i, j: _sign(i), lambda i, j: np.sign(i)),
    "heaviside": (lambda i, j: _heaviside(i), lambda i, j: np.heaviside(i, 1)),
    "Max": (lambda i, j: _max_formula(i, j), np.maximum),
    "Min": (lambda i, j: _min_formula(i, j), np.minimum),
}


@pytest.fixture(scope="module", params=["int64", "int32"])
def int_kernels(request):
    dtype = request.param
    i = sg.vector("i", "n", dtype=dtype)
    j = sg.vector("j", "n", dtype=dtype)
    names = list(INT_CASES)
    f = _numba([i, j], [INT_CASES[name][0](i, j) for name in names])
    return dtype, names, f


def test_integer_choices_compile_and_agree_with_numpy(int_kernels):
    dtype, names, f = int_kernels
    info = np.iinfo(dtype)
    i = np.array([-1, 0, 2, -7, 5, info.min, info.max, 1, -1], dtype)
    j = np.array([3, 0, -2, -9, 5, info.max, info.min, 1, 0], dtype)
    for name, got in zip(names, f(i, j)):
        want = INT_CASES[name][1](i, j)
        if name not in ("sign", "heaviside", "Max", "Min"):  # SymPy functions: float results
            assert np.asarray(got).dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_where_on_int64_vector():
    i = sg.vector("i", "n", dtype="int64")
    f = _numba([i], sg.where(i < 0, i + 5, i))
    got = f(np.array([-1, 0, 2], np.int64))
    assert got.dtype == np.int64
    assert got.tolist() == [4, 0, 2]
    assert "nan" not in f.source


def test_float_choices_still_propagate_nan():
    x = sg.vector("x", "n", dtype="float32")
    y = sg.vector("y", "n")
    f = _numba([x, y], [sg.maximum(x, np.float32(1.0)), sg.relu(y), sg.minimum(y, 2.0)])
    xs = np.array([np.nan, 0.5, 3.0], np.float32)
    ys = np.array([np.nan, -1.0, 3.0])
    got_max, got_relu, got_min = f(xs, ys)
    np.testing.assert_array_equal(got_max, np.maximum(xs, np.float32(1.0)))
    np.testing.assert_array_equal(got_relu, np.where(ys > 0, ys, np.where(np.isnan(ys), ys, 0)))
    np.testing.assert_array_equal(got_min, np.minimum(ys, 2.0))
