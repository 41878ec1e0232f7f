"""Elementwise equality (``sg.eq`` / ``sg.neq`` and the aliases ``sg.equal`` /
``sg.not_equal``) and conditions that refuse Python bools.

``==`` and ``!=`` on expressions are identity (expressions are dict keys), so
``y == 2`` is the Python bool False; ``sg.where`` refuses it with a message
that points to ``sg.eq``. Every compiled check runs on both backends
explicitly.
"""
import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from reference import assert_close

BACKENDS = ["numpy", "numba"]

EQUALITIES = [
    ("eq", sg.eq, np.equal),
    ("neq", sg.neq, np.not_equal),
    ("equal", sg.equal, np.equal),
    ("not_equal", sg.not_equal, np.not_equal),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
@pytest.mark.parametrize("name, op, ref", EQUALITIES, ids=[e[0] for e in EQUALITIES])
def test_equality_values_and_dtype_like_the_other_comparisons(name, op, ref, dtype, backend):
    a = np.array([[1, 2, 3], [4, 5, 6]]).astype(dtype)
    b = np.array([[1, 0, 3], [0, 5, 7]]).astype(dtype)  # equal and unequal entries
    x, y = sg.matrix("x", "m", 3, dtype=dtype), sg.matrix("y", "m", 3, dtype=dtype)
    out = op(x, y)
    assert out.dtype == (x < y).dtype == dtype
    assert out.shape == x.shape
    value = sg.function([x, y], out, backend=backend)(a, b)
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(value, ref(a, b).astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x_dtype, y_dtype", [("int64", "float64"), ("float32", "int32"),
                                              ("int32", "int64")])
def test_equality_of_mixed_dtypes_promotes_like_lt(x_dtype, y_dtype, backend):
    x, y = sg.vector("x", 4, dtype=x_dtype), sg.vector("y", 4, dtype=y_dtype)
    a, b = np.array([0, 1, 2, 3], x_dtype), np.array([0, 2, 2, 5], y_dtype)
    eq, neq = sg.eq(x, y), sg.neq(x, y)
    assert eq.dtype == neq.dtype == (x < y).dtype
    eq_v, neq_v = sg.function([x, y], [eq, neq], backend=backend)(a, b)
    np.testing.assert_array_equal(eq_v, [1, 0, 1, 0])
    np.testing.assert_array_equal(neq_v, [0, 1, 0, 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_broadcasts_with_vectors_numbers_and_arrays(backend):
    M, v = sg.matrix("M", 2, 3), sg.vector("v", 3)
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([1.0, 2.0, 1.0])
    outs = [sg.eq(M, v), sg.neq(v, M), sg.eq(M, 2.0), sg.neq(2, M), sg.eq(M, np.array([3.0]))]
    values = sg.function([M, v], outs, backend=backend)(a, b)
    expected = [a == b, b != a, a == 2.0, 2 != a, a == np.array([3.0])]
    for got, want, e in zip(values, expected, outs):
        assert e.shape == (2, 3)
        np.testing.assert_array_equal(got, want.astype(float))


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_with_nan_is_numpys(backend):
    x = sg.vector("x", 3)
    a = np.array([np.nan, 1.0, 2.0])
    eq, neq = sg.function([x], [sg.eq(x, 1.0), sg.neq(x, 1.0)], backend=backend)(a)
    np.testing.assert_array_equal(eq, np.equal(a, 1.0).astype(float))       # nan == 1: 0
    np.testing.assert_array_equal(neq, np.not_equal(a, 1.0).astype(float))  # nan != 1: 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_where_of_eq_on_integer_labels(dtype, backend):
    """The report's case: a 0/1 target from int64 labels with a named batch dimension."""
    y = sg.vector("y", "n", dtype=dtype)
    target = sg.where(sg.eq(y, 2), 1.0, 0.0)
    other = sg.where(sg.neq(y, 2), 1.0, 0.0)
    labels = np.array([2, 0, 1, 2, -3], dtype=dtype)
    t, o = sg.function([y], [target, other], backend=backend)(labels)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t, (labels == 2).astype(float))
    np.testing.assert_array_equal(o, (labels != 2).astype(float))


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_has_a_zero_gradient_and_masks_in_where(backend):
    x, y, w = sg.vector("x", 4), sg.vector("y", 4), sg.vector("w", 4)
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, -2.0, 3.0, 0.5])
    wv = np.array([0.5, -1.5, 2.0, 0.75])
    cost = sg.sum(w * (sg.eq(x, y) + sg.neq(x, y) * 3.0) + x * y
                  + sg.where(sg.eq(x, y), x ** 2, 0.0))
    gx, gy = sg.grad(cost, [x, y])
    value, gx_v, gy_v = sg.function([x, y, w], [cost, gx, gy], backend=backend)(a, b, wv)
    same = a == b
    assert_close(value, np.sum(wv * np.where(same, 1.0, 3.0) + a * b + np.where(same, a ** 2, 0)))
    # the comparisons contribute nothing: only x * y and the taken where branch remain
    assert_close(gx_v, b + np.where(same, 2 * a, 0.0))
    assert_close(gy_v, a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_of_an_expression_with_itself(backend):
    x = sg.vector("x", 2)
    eq, neq = sg.function([x], [sg.eq(x, x), sg.neq(x, x)], backend=backend)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(eq, [1.0, 1.0])
    np.testing.assert_array_equal(neq, [0.0, 0.0])


def test_aliases_and_exports():
    assert sg.equal is sg.eq and sg.not_equal is sg.neq
    for name in ("eq", "neq", "equal", "not_equal"):
        assert name in sg.__all__
        assert ">>>" in getattr(sg, name).__doc__


# ------------------------------------------------ == stays identity; bools refused

def test_double_equals_on_expressions_stays_identity_and_hashable():
    x, y = sg.vector("x", 3), sg.vector("y", 3)
    assert (x == x) is True and (x == y) is False and (x != y) is True
    assert (x == 2) is False and (x != 2) is True
    table = {x: "x", y: "y", x + y: "sum"}
    assert table[x] == "x" and table[y] == "y" and table[x + y] == "sum"  # x + y is hash-consed
    assert len({x, y, x}) == 2


@pytest.mark.parametrize("cond", [
    pytest.param(lambda y: y == 2, id="expr==number"),
    pytest.param(lambda y: y != 2, id="expr!=number"),
    pytest.param(lambda y: y == y, id="expr==itself"),
    pytest.param(lambda y: True, id="True"),
    pytest.param(lambda y: False, id="False"),
    pytest.param(lambda y: np.bool_(True), id="numpy.bool_"),
    pytest.param(lambda y: np.float64(2.0) == np.float64(2.0), id="numpy-comparison"),
])
def test_where_refuses_a_bool_condition_and_names_eq(cond):
    y = sg.vector("y", 3, dtype="int64")
    c = cond(y)
    with pytest.raises(TypeError, match=r"sg\.where.*bool.*sg\.eq\(a, b\)") as info:
        sg.where(c, 1.0, 0.0)
    assert str(bool(c)) in str(info.value) and "sg.neq" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_still_takes_numbers_and_boolean_arrays(backend):
    x = sg.vector("x", 3)
    mask = np.array([True, False, True])
    outs = [sg.where(1, x, 0.0), sg.where(0.0, x, -1.0), sg.where(mask, x, 0.0)]
    values = sg.function([x], outs, backend=backend)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(values[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(values[1], [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(values[2], [1.0, 0.0, 3.0])
