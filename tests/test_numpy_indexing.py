"""x[key] with NumPy's meaning: gathers along any axis, advanced indexing with
broadcast index arrays and NumPy's placement of the advanced axes, NumPy bool
masks, negative indices (also on named dimensions), checked against NumPy for
values, gradients and second derivatives (tests/op_checks.py), and the errors."""
import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases

RNG = np.random.default_rng(14)
A = RNG.normal(size=(4, 3, 5))
M = RNG.normal(size=(5, 4))
V = RNG.normal(size=6)
I3 = np.array([2, 0, 2])               # repeated: gradients accumulate
J3 = np.array([4, 1, 0])
ROWS = np.array([[3], [0]])            # (2, 1) broadcasts with COLS (3,)
COLS = np.array([1, 3, 3])
Y = np.array([3, 0, 1, 1, 2])
MASK2 = RNG.uniform(size=(3, 5)) > 0.5
MASK1 = np.array([True, False, True, True])


# Keys checked against NumPy with the reference interpreter (values and gradients);
# the table below compiles one representative of each path on the backend under test.
STATIC_KEYS = [
    ("columns M[:, list]", M, (slice(None), [3, 0, 3])),
    ("last axis x[..., list]", A, (Ellipsis, [4, 0, 2])),
    ("int then list x[1, list]", A, (1, [2, 2, 0])),
    ("int, slice, list: not adjacent, to the front", A, (1, slice(None), [4, 1])),
    ("slice, int, list: adjacent, in place", A, (slice(None), 1, [4, 1])),
    ("pairs x[list, list]", A, ([3, 0, 1], [2, 2, 0])),
    ("pairs around a slice: to the front", A, ([3, 0], slice(None), [1, 4])),
    ("new axis between: to the front", A, ([3, 0], None, [1, 2])),
    ("new axis before", A, (None, [3, 0], slice(None), [1, 4])),
    ("new axis after", A, (slice(None), [1, 2], [3, 0], None)),
    ("slices and a reversed axis", A, (slice(1, None), [2, 0], slice(None, None, -2))),
    ("broadcast (2,1) with (3,)", M, (ROWS, COLS)),
    ("2-d index array", V, (np.array([[5, 0], [1, 5]]),)),
    ("negative ints and arrays", A, (-1, [-1, 0], slice(-4, None))),
    ("negative array only", M, ([-1, -5, 2],)),
    ("range", M, (range(1, 4), [0, 1, 3])),
    ("bool mask over two axes", A, (slice(None), MASK2)),
    ("bool mask on axis 0", A, (MASK1,)),
    ("int and a bool mask", A, (2, MASK2)),
    ("bool mask with a list", M, (MASK1.tolist() + [False], [0, 3, 1])),
    ("full bool mask", M, (M > 0,)),
    ("0-d array index", A, (np.array(2), slice(None), [0, 4])),
    ("int32 index array", A, (slice(None), np.array([2, 0], dtype=np.int32))),
    ("empty list", M, ([],)),
    ("basic only", A, (slice(None, None, 2), None, -1)),
]


@pytest.mark.parametrize("x, key", [c[1:] for c in STATIC_KEYS], ids=[c[0] for c in STATIC_KEYS])
def test_static_keys_match_numpy(x, key):
    X = sg.tensor("X", x.shape)
    out = X[key]
    want = x[key]
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.eval({X: x}), want)
    w = RNG.normal(size=want.shape)
    grad = sg.grad((out * w).sum(), X).eval({X: x})
    expected = np.zeros_like(x)
    np.add.at(expected, key, w)  # repeated positions accumulate
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def _joined(*keys):
    """x[key] for each static key, raveled and joined: one case (one set of derivative
    outputs in the compiled function) for several paths on one argument."""
    return (lambda x: sg.concatenate([x[k].ravel() for k in keys]),
            lambda x: np.concatenate([x[k].ravel() for k in keys]))


def _cases():
    """Each path of getitem with gradients and second order; paths on one argument
    are joined (Numba compile time grows with the number of cases)."""
    static, reference = _joined((slice(None), [2, 0, 2]), (1, slice(None), [4, 1]),
                                (None, [3, 0], slice(1, None), [1, 4]),
                                (slice(None, None, -1), MASK2))
    return [
        Case("gather along axis 1 (repeated), to the front (int, slice, list), pairs "
             "flattened (new axis, slice), bool mask with a reversed slice",
             static, [A], reference),
        Case("symbolic pairs x[i, j] and a symbolic 0-d index on axis 1",
             lambda x, i, j, k: sg.concatenate([x[i, j].ravel(), x[:, k].ravel()]),
             [A, I3, np.array([1, 0, 1]), np.array(2)],
             lambda x, i, j, k: np.concatenate([x[i, j].ravel(), x[:, k].ravel()])),
        Case("symbolic rows/cols broadcast", lambda x, r, c: x[r, c], [M, ROWS, COLS],
             lambda x, r, c: x[r, c]),
        Case("M[arange(r), y], named r: a pick", lambda x, y: x[sg.arange("r"), y], [M, Y],
             lambda x, y: x[np.arange(5), y], dims={0: ("r", 4), 1: ("r",)}),
        Case("named: negative ints and arrays",
             lambda x: sg.concatenate([x[[-1, 0], ..., -2].ravel(), x[-1].ravel()]), [A],
             lambda x: np.concatenate([x[[-1, 0], ..., -2].ravel(), x[-1].ravel()]),
             dims={0: ("n", 3, 5)}),
        Case("named: pairs x[i, :, j] around a slice", lambda x, i, j: x[i, :, j], [A, I3, J3],
             lambda x, i, j: x[i, :, j], dims={0: ("n", 3, "m")}),
    ]


def test_indexing_table_values_gradients_and_second_order():
    check_cases(_cases())


# ---------------------------------------------------------------- errors

def _raises(exc, build, *fragments):
    with pytest.raises(exc) as e:
        build()
    for f in fragments:
        assert f in str(e.value), str(e.value)
    return str(e.value)


def test_symbolic_mask_is_a_type_error_pointing_at_where():
    x = sg.vector("x", "n")
    i = sg.vector("i", 3, dtype="int64")
    _raises(TypeError, lambda: x[x > 0], "sg.where", "'x'")
    # an integer comparison is int64: without the check it would gather positions 0 and 1
    _raises(TypeError, lambda: x[i > 0], "sg.where")
    _raises(TypeError, lambda: x[sg.eq(i, 2)], "sg.where")


def test_float_and_unknown_indices_are_type_errors():
    m = sg.matrix("m", 4, 3)
    _raises(TypeError, lambda: m[:, sg.vector("f", 2)], "'f'", "integer")
    _raises(TypeError, lambda: m[np.array([0.5])], "float64")
    _raises(TypeError, lambda: m["a"], "'a'")
    _raises(TypeError, lambda: m[1.5])
    _raises(TypeError, lambda: m[True])
    _raises(TypeError, lambda: m[[sg.scalar("s", dtype="int64")]])


def test_bool_mask_errors_name_the_shapes():
    a = sg.tensor("a", (4, 3, 5))
    _raises(IndexError, lambda: a[:, np.ones((3, 4), bool)], "(3, 4)", "(3, 5)", "'a'")
    _raises(IndexError, lambda: a[np.ones((4, 3, 5, 1), bool)], "too many")
    _raises(IndexError, lambda: sg.matrix("nm", "n", 3)[np.ones(4, bool)], "named", "sg.where")


def test_static_indices_out_of_range():
    a = sg.tensor("a", (4, 3, 5))
    _raises(IndexError, lambda: a[:, [0, 3]], "3", "axis 1", "'a'")
    _raises(IndexError, lambda: a[[-5]], "-5", "axis 0")
    _raises(IndexError, lambda: a[0, 0, 0, 0], "too many")
    _raises(IndexError, lambda: a[..., [1], ...], "ellipsis")


def test_index_arrays_that_do_not_broadcast_point_at_pick():
    s = sg.matrix("s", "batch", 5)
    y = sg.vector("y", "labels", dtype="int64")
    _raises(sg.ShapeError, lambda: s[sg.arange("batch"), y], "sg.pick", "'s'", "labels")
    _raises(sg.ShapeError, lambda: sg.matrix("m", 4, 3)[[0, 1, 2], [0, 1]], "(3,)", "(2,)",
            "sg.pick")


def test_row_wise_pattern_is_a_pick():
    s = sg.matrix("s", "batch", 5)
    y = sg.vector("y", "batch", dtype="int64")
    assert s[sg.arange("batch"), y].op.label == "pick"
    assert sg.matrix("f", 3, 5)[np.arange(3), [0, 4, 4]].op.label == "pick"
    assert s[:, y].shape == (s.shape[0], s.shape[0])  # NumPy's meaning: every row, every label


def test_expression_indices_are_checked_per_axis_at_call_time():
    # x[i, :, j] reads a flat index i*5 + j: j = 5 with i = 0 would land inside the
    # flattened array, so each index is checked against its own axis.
    a = sg.tensor("a", (4, 3, 5))
    i, j = sg.vector("i", 2, dtype="int64"), sg.vector("j", 2, dtype="int64")
    f = sg.function([a, i, j], a[i, :, j], backend="numpy")
    np.testing.assert_array_equal(f(A, np.array([0, 3]), np.array([4, 0])), A[[0, 3], :, [4, 0]])
    for bad_i, bad_j in [([0, 1], [5, 0]), ([0, 4], [0, 0]), ([0, -1], [0, 0])]:
        with pytest.raises(IndexError):
            f(A, np.array(bad_i), np.array(bad_j))
