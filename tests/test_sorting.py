"""argmax/argmin, sort/argsort, take_along_axis (symgrad/ordering.py, the Argsort primitive).

Values against NumPy on both backends (``pytest --backend=numba`` reroutes
the numpy backend to Numba): ties (first occurrence; stable order), nan as
NumPy orders it, named batch dimensions, integer and float32 inputs. sort's
gradient against finite differences to second order (tests/op_checks.py), its
gradient at ties against the permutation by hand, and no gradient through the
integer results. Two compiled functions in all (one check_cases table and one
function of gradients).
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.ops.sorting import argsort as argsort_form

from op_checks import Case, check_cases

RNG = np.random.default_rng(3)
NAN = np.nan


def _normal(*shape):
    return RNG.standard_normal(shape)


def _ties(*shape):
    """Small integers as floats: many ties."""
    return RNG.integers(0, 3, shape).astype(np.float64)


def _with_nans(*shape):
    a = _ties(*shape)
    a.flat[RNG.choice(a.size, a.size // 4, replace=False)] = NAN
    return a


def _stable_argsort(a, axis=-1):
    return np.argsort(a, axis=axis, kind="stable")


def _sort_grad_by_hand(x, w):
    """d/dx sum(w * sort(x)): w at each element's sorted place (stable ranks)."""
    g = np.empty_like(w)
    np.put_along_axis(g, _stable_argsort(x), w, axis=-1)
    return g


def _value_cases():
    """Integer results, ties and nan: values only."""
    ties, nans = _ties(4, 7), _with_nans(5, 6)
    nans[0, :4] = [np.inf, -np.inf, np.inf, NAN]
    a3 = _ties(3, 4, 5)
    cases = [
        Case("argmax ties", lambda x: sg.argmax(x), [ties], np.argmax),
        Case("argmax ties axis 0", lambda x: sg.argmax(x, axis=0), [ties],
             lambda a: np.argmax(a, axis=0)),
        Case("argmin ties axis -1", lambda x: sg.argmin(x, axis=-1), [ties],
             lambda a: np.argmin(a, axis=-1)),
        Case("argsort ties", lambda x: sg.argsort(x), [ties], _stable_argsort),
        Case("argsort ties axis 0", lambda x: sg.argsort(x, axis=0), [ties],
             lambda a: _stable_argsort(a, 0)),
        Case("sort ties flattened", lambda x: sg.sort(x, axis=None), [ties],
             lambda a: np.sort(a, axis=None)),
        Case("argmax nan axis 1", lambda x: sg.argmax(x, axis=1), [nans],
             lambda a: np.argmax(a, axis=1)),
        Case("argmin nan", lambda x: sg.argmin(x), [nans], np.argmin),
        Case("argsort nan", lambda x: sg.argsort(x), [nans], _stable_argsort),
        Case("sort nan axis 0", lambda x: sg.sort(x, axis=0), [nans],
             lambda a: np.sort(a, axis=0)),
        Case("argmax keepdims", lambda x: sg.argmax(x, axis=1, keepdims=True), [a3],
             lambda a: np.argmax(a, axis=1, keepdims=True)),
        Case("argmin keepdims None", lambda x: sg.argmin(x, keepdims=True), [a3],
             lambda a: np.argmin(a, keepdims=True)),
        Case("argmax 0-d", lambda x: sg.argmax(x), [np.array(2.5)], np.argmax),
        Case("argmax named batch", lambda x: sg.argmax(x, axis=1), [a3],
             lambda a: np.argmax(a, axis=1), dims={0: ("b", 4, 5)}),
        Case("argmin named axis", lambda x: sg.argmin(x, axis=0), [a3],
             lambda a: np.argmin(a, axis=0), dims={0: ("b", 4, 5)}),
        Case("argsort named batch", lambda x: sg.argsort(x), [a3],
             _stable_argsort, dims={0: ("b", 4, 5)}),
        Case("argsort named axis", lambda x: sg.argsort(x, axis=0), [a3],
             lambda a: _stable_argsort(a, 0), dims={0: ("b", 4, 5)}),
        Case("argsort int64 axis 1", lambda i: sg.argsort(i, axis=1),
             [RNG.integers(-3, 3, (3, 8, 2))], lambda i: _stable_argsort(i, 1)),
        Case("sort int32", lambda i: sg.sort(i, axis=0), [RNG.integers(-3, 3, (6, 2)).astype(
            np.int32)], lambda i: np.sort(i, axis=0)),
        Case("sort float32", lambda x: sg.sort(x), [_normal(3, 5).astype(np.float32)], np.sort),
        Case("argmax of a sum", lambda x, y: sg.argmax(x + y, axis=-1), [_ties(4, 6), _ties(6)],
             lambda a, b: np.argmax(a + b, axis=-1)),
        Case("take_along_axis broadcast", lambda x, i: sg.take_along_axis(x, i, axis=0),
             [_normal(4, 3), np.array([[3], [-4]], dtype=np.int32)],
             lambda a, i: np.take_along_axis(a, i, axis=0)),
        Case("take_along_axis flattened", lambda x, i: sg.take_along_axis(x, i, axis=None),
             [_normal(2, 3), np.array([5, 0, -1, 5])],
             lambda a, i: np.take_along_axis(a, i, axis=None)),
    ]
    for case in cases:
        case.wrt = ()
    return cases


def _gradient_cases():
    """sort's gradient and Hessian-vector product vs finite differences (no ties)."""
    return [
        Case("sort rows", lambda x: sg.sort(x), [_normal(4, 6)], np.sort),
        Case("sort named axis 0", lambda x: sg.sort(x, axis=0), [_normal(6, 2)],
             lambda a: np.sort(a, axis=0), dims={0: ("n", 2)}),
        Case("sort flattened", lambda x: sg.sort(sg.tanh(x) * x, axis=None), [_normal(3, 4)],
             lambda a: np.sort(np.tanh(a) * a, axis=None)),
        Case("sort named batch, middle axis", lambda x: sg.sort(x, axis=1), [_normal(2, 5, 3)],
             lambda a: np.sort(a, axis=1), dims={0: ("batch", 5, 3)}),
        Case("top-2 mean", lambda x: sg.sort(x)[:, -2:].mean(axis=1), [_normal(4, 5)],
             lambda a: np.sort(a)[:, -2:].mean(axis=1)),
        Case("take_along_axis repeated, negative, named", lambda x, i: sg.take_along_axis(
            x, i, axis=1), [_normal(3, 5), np.array([[0, -1, 2, 2], [4, 4, 0, -5], [1, 3, 3, 3]])],
             lambda a, i: np.take_along_axis(a, i, axis=1), dims={0: ("b", 5), 1: ("b", 4)}),
        Case("x times argmax", lambda x: x * sg.cast(sg.argmax(x, axis=1, keepdims=True),
                                                      "float64"),
             [_normal(3, 4)], lambda a: a * np.argmax(a, axis=1, keepdims=True)),
    ]


def test_values_and_gradients_match_numpy_and_finite_differences():
    check_cases(_value_cases() + _gradient_cases(), backend="numpy")


def test_gradients_at_ties_and_through_integer_results():
    x, w = sg.matrix("x", "b", 6), sg.matrix("w", "b", 6)
    y = sg.matrix("y", "b", 6)
    a = _ties(5, 6)
    a[0] = 1.0  # a row of one value: every element tied
    wv = _normal(5, 6)
    # sort at ties: each tied element gets the upstream gradient at its own place
    g_sort = sg.grad((w * sg.sort(x)).sum(), x)
    g_sort0 = sg.grad((w * sg.sort(x, axis=0)).sum(), x)
    # the integer results pass no gradient: only the float path counts
    g_arg = sg.grad((sg.cast(sg.argmax(x, axis=1), "float64")).sum(), x)
    g_mixed = sg.grad((sg.cast(sg.argsort(x), "float64") * x * y).sum()
                      + sg.cast(sg.argmin(x), "float64"), x)
    # an index out of its row's range raises, though it lies inside the flattened array
    idx = sg.matrix("idx", "b", 2, dtype="int64")
    taken = sg.take_along_axis(x, idx, axis=1)
    f = sg.function([x, w, y, idx], [g_sort, g_sort0, g_arg, g_mixed, taken], backend="numpy")
    yv, iv = _normal(5, 6), np.array([[0, -6]] * 5)
    got_sort, got_sort0, got_arg, got_mixed, got_taken = f(a, wv, yv, iv)
    np.testing.assert_array_equal(got_taken, np.take_along_axis(a, iv, axis=1))
    for bad, row in ((6, 0), (-7, 4)):  # inside the flattened x: 0 * 6 + 6, 4 * 6 - 1
        iv = np.zeros((5, 2), dtype=np.int64)
        iv[row, 1] = bad
        with pytest.raises(IndexError, match="out of range"):
            f(a, wv, yv, iv)
    np.testing.assert_array_equal(got_sort, _sort_grad_by_hand(a, wv))
    np.testing.assert_array_equal(got_sort0, _sort_grad_by_hand(a.T, wv.T).T)
    np.testing.assert_array_equal(got_sort[0], wv[0])  # all tied: the identity permutation
    np.testing.assert_array_equal(got_arg, np.zeros_like(a))
    np.testing.assert_allclose(got_mixed, _stable_argsort(a) * yv, rtol=1e-15)


def test_integer_results_build_no_gradient_into_their_input():
    x = sg.vector("x", 4)
    for out in (sg.argmax(x), sg.argmin(x, axis=0), sg.argsort(x)):
        assert out.dtype == "int64"
        assert sg.grad(sg.cast(out, "float64").sum(), x, disconnected="raise").op.__class__ \
            .__name__ in ("Broadcast", "Constant")  # zeros, nothing computed from x
    with pytest.raises(TypeError, match="integer"):
        sg.grad(sg.cast(sg.argmax(x), "float64"), sg.argmax(x))


def test_build_time_errors_name_the_expression():
    x = sg.matrix("x", 3, 4)
    with pytest.raises(sg.ShapeError, match="'x'.*2 dimension"):
        sg.argmax(x, axis=2)
    with pytest.raises(sg.ShapeError, match="out of range"):
        sg.sort(x, axis=-3)
    with pytest.raises(TypeError, match="axis must be an int or None"):
        sg.argmin(x, axis=(0, 1))
    with pytest.raises(ValueError, match="empty"):
        sg.argmax(sg.matrix("e", 2, 0), axis=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        sg.sort(x, kind="bogo")
    with pytest.raises(ValueError, match="structured"):
        sg.argsort(x, order="f")
    with pytest.raises(ValueError, match="not both"):
        sg.sort(x, kind="stable", stable=True)
    with pytest.raises(TypeError, match="integer dtype"):
        sg.take_along_axis(x, x, axis=0)
    with pytest.raises(sg.ShapeError, match="same number of dimensions"):
        sg.take_along_axis(x, sg.vector("i", 2, dtype="int64"), axis=0)
    with pytest.raises(sg.ShapeError, match="do not broadcast"):
        sg.take_along_axis(x, sg.matrix("i", 2, 2, dtype="int64"), axis=1)
    with pytest.raises(sg.ShapeError, match="1-d indices"):
        sg.take_along_axis(x, sg.matrix("i", 2, 2, dtype="int64"), axis=None)
    with pytest.raises(sg.ShapeError, match="out of range"):
        sg.sort(sg.scalar("s"))  # as NumPy: a 0-d array has no axis -1
    assert sg.sort(sg.scalar("s"), axis=None).shape == (1,)
    assert sg.sort(x, kind="quicksort", stable=None).shape == (3, 4)
    assert sg.argsort(sg.tensor("t", ("b", 2, 3)), axis=1).shape[1:] == (2, 3)


def test_kinds_and_stable_all_give_the_stable_order():
    x = sg.vector("x", 6)
    a = np.array([2.0, 1.0, 2.0, 1.0, NAN, 1.0])
    for kind in (None, "quicksort", "mergesort", "heapsort", "stable"):
        np.testing.assert_array_equal(sg.argsort(x, kind=kind).eval({x: a}), [1, 3, 5, 0, 2, 4])
    np.testing.assert_array_equal(sg.argsort(x, stable=False).eval({x: a}), [1, 3, 5, 0, 2, 4])


def test_argsort_prints_and_its_sympy_form_evaluates():
    v = sg.vector("v", 3)
    assert "argsort(v[j], (j, 0, 2), i)" in str(sg.sort(v).to_sympy())
    assert sg.debugprint(sg.argsort(v)).startswith("argsort  int64 (3,)")
    j = sympy.Symbol("j", integer=True)
    numbers = sympy.Piecewise((3, sympy.Eq(j, 0)), (1, sympy.Eq(j, 1)), (1, True))
    assert [argsort_form(numbers, sympy.Tuple(j, 0, 2), k).doit() for k in range(3)] == [1, 2, 0]
    symbolic = argsort_form(sympy.IndexedBase("v")[j], sympy.Tuple(j, 0, 2), 0)
    assert symbolic.doit() == symbolic  # not numbers: left as it is


def test_argmax_over_a_named_axis_that_is_empty_raises_on_both_backends():
    x = sg.matrix("x", 2, "n")
    f = sg.function([x], [sg.argmax(x, axis=1), sg.argmin(x, axis=1)], backend="numpy")
    got = f(np.array([[1.0, 3.0], [4.0, 2.0]]))
    assert [g.tolist() for g in got] == [[1, 0], [0, 1]]
    with pytest.raises(ValueError):  # sg.ShapeError on Numba, NumPy's ValueError on the interpreter
        f(np.zeros((2, 0)))
