"""Creation ops (zeros, ones, full, *_like, arange, eye, one_hot) and weak types:
a constant from a Python number, and a creation op without ``dtype``, takes
the dtype of the model it is used in (float32 stays float32), while arrays
and explicit dtypes promote as NumPy does.

Numba compiles added by this file (each sg.function / check_cases call that
the ``--backend=numba`` pass reroutes): 4.
"""
import numpy as np
import pytest

import symgrad as sg
from symgrad.ops.leaves import is_weak
from op_checks import Case, check_cases

rng = np.random.default_rng(7)
X3 = rng.standard_normal(3)
X4 = rng.standard_normal(4)
M = rng.standard_normal((4, 3))
Y = np.array([2, 0, 1, 2])


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _one_hot(y, c):
    return (y[..., None] == np.arange(c)).astype(np.float64)


# ---------------------------------------------------------------- values and derivatives

CASES = [
    Case("x * ones(3)", lambda x: x * sg.ones(3), [X3], lambda x: x * np.ones(3)),
    Case("x * full((4, 3), 2.5)", lambda x: x * sg.full((4, 3), 2.5), [X3],
         lambda x: x * np.full((4, 3), 2.5)),
    Case("x ** 2 * full_like(x, 3) + zeros_like(x)",
         lambda x: x ** 2 * sg.full_like(x, 3) + sg.zeros_like(x), [M],
         lambda x: x ** 2 * np.full_like(x, 3) + np.zeros_like(x)),
    Case("named full, 2-d", lambda x: sg.full(("n", 3), -1.5) * x, [M],
         lambda x: np.full((4, 3), -1.5) * x, dims={0: ("n", 3)}),
    Case("x @ eye(3, 5, k=1)", lambda x: x @ sg.eye(3, 5, k=1), [M],
         lambda x: x @ np.eye(3, 5, k=1)),
    Case("x @ eye(n, 3, k=-1)", lambda x: x @ sg.eye("n", 3, k=-1), [X4],
         lambda x: x @ np.eye(4, 3, k=-1), dims={0: ("n",)}),
    Case("arange(1, 11, 3) * x", lambda x: sg.arange(1, 11, 3) * x, [X4],
         lambda x: np.arange(1, 11, 3) * x),
    Case("arange(n) * x", lambda x: sg.arange("n") * x, [X4], lambda x: np.arange(4) * x,
         dims={0: ("n",)}),
    Case("concatenate with zeros", lambda x: sg.concatenate([x, sg.zeros(2)]), [X3],
         lambda x: np.concatenate([x, np.zeros(2)])),
    Case("stack with ones(n)", lambda x: sg.stack([x, sg.ones("n")], axis=1), [X4],
         lambda x: np.stack([x, np.ones(4)], axis=1), dims={0: ("n",)}),
    Case("where(x > 0, x * x, zeros)", lambda x: sg.where(x > 0, x * x, sg.zeros(3)), [X3],
         lambda x: np.where(x > 0, x * x, 0.0), smooth=False),
]

ONE_HOT_CASES = [
    Case("one_hot loss", lambda z, y: -(sg.one_hot(y, 3) * sg.log_softmax(z)).sum(axis=-1),
         [M, Y], lambda z, y: -(_one_hot(y, 3) * _log_softmax(z)).sum(axis=-1)),
    Case("one_hot, named classes and batch",
         lambda z, y: (sg.one_hot(y, "c") * z).sum(axis=-1) + sg.one_hot(y, "c").sum(axis=-1),
         [M, Y], lambda z, y: (_one_hot(y, 3) * z).sum(axis=-1) + 1.0,
         dims={0: ("n", "c"), 1: ("n",)}),
    Case("one_hot of a matrix of labels", lambda y: sg.one_hot(y, 4), [np.array([[0, 3], [5, 1]])],
         lambda y: _one_hot(y, 4)),
    Case("eye(n, k=1) value", lambda y: sg.eye("n", k=1) + sg.cast(y, "float64"), [Y],
         lambda y: np.eye(4, k=1) + y, dims={0: ("n",)}),
    Case("arange(n) value", lambda y: sg.arange("n") + y, [Y], lambda y: np.arange(4) + y,
         dims={0: ("n",)}),
]


def test_creation_ops_match_numpy_with_derivatives():
    check_cases(CASES, backend="numpy")


def test_one_hot_matches_numpy_and_its_loss_differentiates():
    check_cases(ONE_HOT_CASES, backend="numpy")


# ---------------------------------------------------------------- float32 models stay float32

def test_float32_model_stays_float32_end_to_end():
    x = sg.vector("x", "n", dtype="float32")
    c = sg.vector("c", "n", dtype="float32")
    W = sg.matrix("W", 3, 3, dtype="float32")
    y = sg.vector("y", "n", dtype="int64")
    outs = {
        "x * ones(n)": x * sg.ones("n"),
        "x @ eye(n)": x @ sg.eye("n"),
        "W @ eye(3)": W @ sg.eye(3),
        "concatenate zeros": sg.concatenate([x, sg.zeros(2)]),
        "stack ones": sg.stack([x, sg.ones("n")]),
        "where(c, x, 0.0)": sg.where(c > 0, x, 0.0),
        "where(c, x, zeros)": sg.where(c > 0, x, sg.zeros("n")),
        "x + constant(0.5)": x + sg.constant(0.5),
        "x * arange(n)": x * sg.arange("n"),
        "x * full(n, 3)": x * sg.full("n", 3),
        "x + zeros_like(x)": x + sg.zeros_like(x),
        "one_hot": sg.one_hot(y, 3) * x[:, None],
        "einsum with eye": sg.einsum("ij,jk->ik", W, sg.eye(3, k=1)),
    }
    for name, e in outs.items():
        assert e.dtype == "float32", (name, e.dtype)
    loss = sum((e * e).sum() for e in outs.values())
    assert loss.dtype == "float32"
    grads = sg.grad(loss, [x, W])
    assert [g.dtype for g in grads] == ["float32", "float32"]
    f = sg.function([x, c, W, y], [*outs.values(), loss, *grads], backend="numpy")
    xv = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    cv = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    Wv = rng.standard_normal((3, 3)).astype(np.float32)
    yv = np.array([0, 2, 1, 1])
    got = f(xv, cv, Wv, yv)
    for v in got:
        assert np.asarray(v).dtype == np.float32, np.asarray(v).dtype
    want = [xv * np.float32(1), xv, Wv, np.concatenate([xv, np.zeros(2, np.float32)]),
            np.stack([xv, np.ones(4, np.float32)]), np.where(cv > 0, xv, np.float32(0)),
            np.where(cv > 0, xv, np.float32(0)), xv + np.float32(0.5),
            xv * np.arange(4, dtype=np.float32), xv * np.float32(3), xv,
            (yv[:, None] == np.arange(3)).astype(np.float32) * xv[:, None],
            Wv @ np.eye(3, k=1, dtype=np.float32)]
    for name, a, b in zip(outs, got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(got[len(want)], sum(float((w.astype(np.float64) ** 2).sum())
                                                   for w in want), rtol=1e-5)


def test_float64_arrays_and_explicit_dtypes_still_promote():
    x = sg.vector("x", 3, dtype="float32")
    assert (x + np.ones(3)).dtype == "float64"  # a float64 array is strong, as in NumPy
    assert (x + sg.constant(np.ones(3))).dtype == "float64"
    assert (x + sg.constant(np.float64(1.0))).dtype == "float64"
    assert (x * sg.ones(3, dtype="float64")).dtype == "float64"
    assert (x @ sg.eye(3, dtype="float64")).dtype == "float64"
    assert (x @ np.eye(3)).dtype == "float64"
    assert sg.concatenate([x, sg.zeros(2, dtype="float64")]).dtype == "float64"
    assert (x * sg.arange(3, dtype="float64")).dtype == "float64"
    assert (sg.vector("v", "n", dtype="float32") * sg.arange("n", dtype="float64")).dtype \
        == "float64"
    assert (sg.vector("z", "n", dtype="float32") @ sg.eye("n", dtype="float64")).dtype == "float64"
    assert (x + sg.constant(0.5, dtype="float64")).dtype == "float64"
    # float32 arrays and explicit float32 stay float32 with float32 models
    assert (x * sg.ones(3, dtype="float32")).dtype == "float32"
    assert (x + np.ones(3, np.float32)).dtype == "float32"
    # a float64 model with weak constants is float64, and ints with a weak float give float64
    assert (sg.vector("v", 3) * sg.ones(3)).dtype == "float64"
    i = sg.vector("i", 3, dtype="int32")
    assert (i * sg.ones(3)).dtype == "float64"
    assert (i + sg.arange(3)).dtype == "int32"  # the strong int decides, as NumPy 2's int scalars
    assert (i + sg.arange(3, dtype="int64")).dtype == "int64"


def test_weakness_of_creation_results():
    x = sg.vector("x", 3, dtype="float32")
    weak = [sg.zeros(3), sg.ones(("n", 2)), sg.full(3, 2), sg.arange(3), sg.arange("n"),
            sg.eye(3), sg.eye("n"), sg.constant(1.5), sg.constant(2),
            sg.one_hot(sg.vector("y", 3, dtype="int64"), 4), sg.zeros(3) + 1.0,
            sg.zeros_like(sg.zeros(2))]
    strong = [sg.zeros(3, dtype="float64"), sg.eye("n", dtype="float64"), sg.constant([1.0]),
              sg.constant(np.float64(1.0)), sg.arange("n", dtype="int64"), x,
              sg.zeros_like(x), sg.cast(sg.zeros(3), "float32"), x * sg.ones(3)]
    assert all(is_weak(e) for e in weak)
    assert not any(is_weak(e) for e in strong)
    assert [e.dtype for e in weak[:4]] == ["float64", "float64", "int64", "int64"]
    assert sg.full(2, 7).eval({}).dtype == np.int64  # as np.full(2, 7)
    assert sg.full(2, np.float32(1.5)).dtype == "float32"


def test_weak_constants_stay_distinct_nodes_and_print():
    assert sg.zeros(3) == sg.zeros(3)
    assert sg.constant(0.0) != sg.constant(np.float64(0.0))  # weak and strong: two structures
    assert sg.constant(0.0) != sg.constant(0.0, dtype="float64")
    assert sg.eye(3) != sg.eye(3, dtype="float64")
    x = sg.vector("x", 3, dtype="float32")
    e = x @ sg.eye(3) + sg.constant(0.5)
    text = sg.debugprint(e)
    assert "float32" in text and "constant" in text
    assert "float64" not in text
    assert str(sg.grad((x * sg.full(3, 2.0)).sum(), x).to_sympy()) != ""
    assert sg.pretty(x + sg.zeros(3))
    # a weak constant in a formula is the number, exactly as a Python number
    assert x * sg.constant(2.0) == x * 2.0
    assert x * sg.full(3, 2.0) == x * 2.0


def test_eval_values_against_numpy():
    cases = [
        (sg.zeros((2, 3)), np.zeros((2, 3))), (sg.ones(4, dtype="int32"), np.ones(4, np.int32)),
        (sg.full((2, 2), 3.5, dtype="float32"), np.full((2, 2), 3.5, np.float32)),
        (sg.arange(5), np.arange(5)), (sg.arange(2, 9, 2), np.arange(2, 9, 2)),
        (sg.arange(3, 0, -1), np.arange(3, 0, -1)), (sg.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25)),
        (sg.arange(4, dtype="float32"), np.arange(4, dtype=np.float32)),
        (sg.eye(3), np.eye(3)), (sg.eye(2, 4, k=2), np.eye(2, 4, k=2)),
        (sg.eye(3, k=-5), np.eye(3, k=-5)), (sg.eye(3, dtype="int64"), np.eye(3, dtype=np.int64)),
        (sg.one_hot([1, 0, 3], 3), _one_hot(np.array([1, 0, 3]), 3)),
        (sg.zeros(()), np.zeros(())),
        (sg.full((2, 3), [1.0, 2.0, 3.0]), np.full((2, 3), [1.0, 2.0, 3.0])),
    ]
    for e, want in cases:
        got = e.eval({})
        assert got.dtype == want.dtype, (e, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)


def test_named_shapes_bind_at_call_time():
    x = sg.matrix("x", "batch", "k")
    outs = [sg.zeros(("batch", "k")) + x, sg.eye("k", "batch", dtype="float32"),
            sg.arange("batch", dtype="int32"), sg.ones_like(x, dtype="int64"),
            sg.full(("k",), 2.0, dtype="float32")]
    f = sg.function([x], outs, backend="numpy")
    for b, k in [(2, 3), (5, 1)]:
        xv = rng.standard_normal((b, k))
        got = f(xv)
        want = [xv, np.eye(k, b, dtype=np.float32), np.arange(b, dtype=np.int32),
                np.ones((b, k), np.int64), np.full(k, 2.0, np.float32)]
        for a, w in zip(got, want):
            assert a.dtype == w.dtype
            np.testing.assert_array_equal(a, w)


def test_build_time_errors():
    with pytest.raises(ValueError, match="named dimension n"):
        sg.arange(1, "n")
    with pytest.raises(ValueError, match="only the stop"):
        sg.arange("n", 5)
    with pytest.raises(ValueError, match="step"):
        sg.arange(0, 5, 0)
    with pytest.raises(TypeError, match="'y'.*integer dtype"):
        sg.one_hot(sg.vector("y", 3), 4)
    with pytest.raises(TypeError, match="unsupported dtype"):
        sg.zeros(3, dtype="complex128")
    with pytest.raises(TypeError, match="diagonal k"):
        sg.eye(3, k=1.5)
    with pytest.raises(sg.ShapeError, match=r"does not broadcast to shape \(2, 3\)"):
        sg.full((2, 3), [1.0, 2.0])
    with pytest.raises(sg.ShapeError, match="'x'"):
        sg.full((2, 3), sg.vector("x", 4))
    with pytest.raises(sg.ShapeError):
        sg.zeros((2, -1))
    with pytest.raises(TypeError, match="fill value"):
        sg.full(3, "a")


def test_weakness_of_a_deep_graph_needs_no_recursion():
    from symgrad.ops import Reshape
    weak, strong = sg.arange(4), sg.vector("v", 4, dtype="int64")
    for _ in range(5000):  # built without apply, so nothing asked is_weak on the way
        weak = Reshape((4,))(Reshape((2, 2))(weak))
        strong = Reshape((4,))(Reshape((2, 2))(strong))
    assert is_weak(weak) and not is_weak(strong)
    assert (sg.vector("x", 4, dtype="float32") * weak).dtype == "float32"


def test_a_deep_weak_float_graph_converts_without_recursion():
    from symgrad.ops import Reshape
    weak = sg.arange(0.5, 4.0)
    for _ in range(5000):
        weak = Reshape((4,))(Reshape((2, 2))(weak))
    x = sg.vector("x", 4, dtype="float32")
    y = x * weak
    assert y.dtype == "float32" and y.inputs[1].dtype == "float32"
    np.testing.assert_array_equal(y.eval({x: np.ones(4, np.float32)}), np.arange(0.5, 4.0))
