"""Compiled functions (API.md §5): sg.function and sg.value_and_grad with the
NumPy reference backend — calling conventions, results, argument checking,
and never touching the caller's arrays. References are hand-written NumPy."""
import numpy as np
import pytest

import symgrad as sg
from reference import assert_close


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture(scope="module")
def layer():
    """y = tanh(W x + b) and its sum, with a named dimension n."""
    x, W, b = sg.vector("x", "n"), sg.matrix("W", 2, "n"), sg.vector("b", 2)
    y = sg.tanh(W @ x + b)
    f = sg.function([x, W, b], [y, y.sum()], backend="numpy")
    return x, W, b, y, f


def _layer_ref(xv, Wv, bv):
    y = np.tanh(Wv @ xv + bv)
    return y, y.sum()


def _layer_args(rng, n=3):
    return rng.normal(size=n), rng.normal(size=(2, n)), rng.normal(size=2)


# ------------------------------------------------------------------ calling

def test_positional_keyword_and_mixed_calls_agree_with_numpy(layer, rng):
    *_, f = layer
    xv, Wv, bv = _layer_args(rng)
    y_ref, s_ref = _layer_ref(xv, Wv, bv)
    for out in (f(xv, Wv, bv), f(x=xv, W=Wv, b=bv), f(b=bv, x=xv, W=Wv), f(xv, b=bv, W=Wv)):
        assert isinstance(out, list) and len(out) == 2
        assert_close(out[0], y_ref)
        assert_close(out[1], s_ref)


def test_named_dimension_is_bound_per_call(layer, rng):
    *_, f = layer
    for n in (1, 4, 9):
        args = _layer_args(rng, n)
        assert_close(f(*args)[0], _layer_ref(*args)[0])


def test_single_output_returns_one_array_and_list_returns_list(rng):
    x = sg.vector("x", 3)
    xv = rng.normal(size=3)
    one = sg.function([x], sg.exp(x), backend="numpy")(xv)
    assert isinstance(one, np.ndarray)
    assert_close(one, np.exp(xv))
    listed = sg.function([x], [sg.exp(x)], backend="numpy")(xv)
    assert isinstance(listed, list) and len(listed) == 1
    assert_close(listed[0], np.exp(xv))


def test_0d_output_is_a_numpy_scalar_or_0d_array(rng):
    x = sg.vector("x", 3)
    xv = rng.normal(size=3)
    s = sg.function([x], (x * x).sum(), backend="numpy")(xv)
    assert isinstance(s, (np.generic, np.ndarray)) and np.ndim(s) == 0
    assert s.dtype == np.float64
    assert_close(s, np.dot(xv, xv))
    s, v = sg.function([x], [(x * x).sum(), x * 2], backend="numpy")(xv)
    assert isinstance(s, (np.generic, np.ndarray)) and np.ndim(s) == 0


def test_float32_graph_returns_float32(rng):
    x = sg.vector("x", 3, dtype="float32")
    xv = rng.normal(size=3).astype(np.float32)
    out = sg.function([x], [sg.sin(x), sg.sin(x).sum()], backend="numpy")(xv)
    assert out[0].dtype == np.float32 and out[1].dtype == np.float32
    assert_close(out[0], np.sin(xv.astype(np.float64)), rtol=1e-6)


def test_value_and_grad_returns_value_and_gradients_in_wrt_order(rng):
    X, y = sg.matrix("X", "batch", 3), sg.vector("y", "batch")
    W, b = sg.vector("W", 3), sg.scalar("b")
    loss = sg.nn.mse(X @ W + b, y)
    Xv, yv, Wv, bv = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3), 0.3
    r = Xv @ Wv + bv - yv
    gW_ref, gb_ref = 2 * Xv.T @ r / 5, 2 * r.sum() / 5

    vg = sg.value_and_grad(loss, wrt=[W, b], inputs=[X, y, W, b], backend="numpy")
    value, grads = vg(Xv, yv, Wv, bv)
    assert isinstance(grads, list) and len(grads) == 2
    assert_close(value, np.mean(r ** 2))
    assert_close(grads[0], gW_ref)
    assert_close(grads[1], gb_ref)
    assert np.ndim(grads[1]) == 0

    value, (gb, gW) = sg.value_and_grad(loss, wrt=[b, W], inputs=[X, y, W, b],
                                        backend="numpy")(X=Xv, y=yv, W=Wv, b=bv)
    assert_close(gb, gb_ref)
    assert_close(gW, gW_ref)


# ------------------------------------------------------------------ argument count and names

def test_too_many_arguments(layer, rng):
    *_, f = layer
    with pytest.raises(TypeError):
        f(*_layer_args(rng), np.zeros(2))


def test_missing_argument_names_it(layer, rng):
    *_, f = layer
    xv, Wv, _ = _layer_args(rng)
    with pytest.raises(TypeError, match="b"):
        f(xv, Wv)
    with pytest.raises(TypeError, match="W"):
        f(x=xv, b=np.zeros(2))


def test_unknown_keyword_names_it(layer, rng):
    *_, f = layer
    xv, Wv, bv = _layer_args(rng)
    with pytest.raises(TypeError, match="bias"):
        f(x=xv, W=Wv, bias=bv)


def test_argument_given_twice(layer, rng):
    *_, f = layer
    xv, Wv, bv = _layer_args(rng)
    with pytest.raises(TypeError):
        f(xv, Wv, bv, x=xv)


# ------------------------------------------------------------------ dtypes

@pytest.fixture(scope="module")
def lookup():
    """rows = E[idx] * s with an int64 index vector."""
    E, idx, s = sg.matrix("E", 6, 2), sg.vector("idx", "k", dtype="int64"), sg.scalar("s")
    return E, idx, s, sg.function([E, idx, s], E[idx] * s, backend="numpy")


@pytest.mark.parametrize("bad_idx", [
    np.array([0.0, 1.0]),                     # float for int64
    np.array([1 + 0j, 2 + 0j]),               # complex
    np.array(["0", "1"]),                     # strings
    np.array([0, 1], dtype=object),           # object
    np.array([True, False]),                  # bool
    np.array([0, 1], dtype=np.uint64),        # no lossless cast to int64
])
def test_wrong_index_dtype_is_a_type_error(lookup, bad_idx):
    *_, f = lookup
    with pytest.raises(TypeError, match="idx"):
        f(np.ones((6, 2)), bad_idx, 1.0)


@pytest.mark.parametrize("bad_E", [
    np.ones((6, 2), dtype=np.complex128),
    np.full((6, 2), "a"),
    np.ones((6, 2), dtype=object),
    np.ones((6, 2), dtype=bool),
])
def test_wrong_float_dtype_is_a_type_error(lookup, bad_E):
    *_, f = lookup
    with pytest.raises(TypeError, match="E"):
        f(bad_E, np.array([0, 1]), 1.0)


def test_lossy_cast_to_float32_is_a_type_error():
    x = sg.vector("x32", 2, dtype="float32")
    f = sg.function([x], x * 2, backend="numpy")
    with pytest.raises(TypeError, match="x32"):
        f(np.array([1.0, 2.0], dtype=np.float64))
    with pytest.raises(TypeError, match="x32"):
        f(np.array([1, 2], dtype=np.int64))


def test_lossless_casts_are_allowed(lookup, rng):
    *_, f = lookup
    Ev = rng.normal(size=(6, 2))
    expected = Ev[[4, 0, 4]] * 3.0
    assert_close(f(Ev, np.array([4, 0, 4], dtype=np.int32), 3.0), expected)     # int32 -> int64
    assert_close(f(Ev, [4, 0, 4], 3), expected)                                 # Python ints
    assert_close(f(Ev.astype(np.float32), [4, 0, 4], np.float32(3.0)),         # float32 -> 64
                 Ev.astype(np.float32).astype(np.float64)[[4, 0, 4]] * 3.0)
    assert_close(f(np.arange(12, dtype=np.int32).reshape(6, 2), [1], 2.0),      # int32 -> float64
                 [[4.0, 6.0]])


# ------------------------------------------------------------------ shapes

def test_wrong_rank_is_a_shape_error(layer, rng):
    *_, f = layer
    xv, Wv, bv = _layer_args(rng)
    with pytest.raises(sg.ShapeError, match="x"):
        f(xv[None, :], Wv, bv)
    with pytest.raises(sg.ShapeError, match="b"):
        f(xv, Wv, 0.5)


def test_wrong_fixed_size_is_a_shape_error(layer, rng):
    *_, f = layer
    xv, Wv, _ = _layer_args(rng)
    with pytest.raises(sg.ShapeError) as err:
        f(xv, Wv, np.zeros(5))
    assert "b" in str(err.value) and "5" in str(err.value) and "2" in str(err.value)
    with pytest.raises(sg.ShapeError, match="W"):
        f(xv, np.zeros((3, 3)), np.zeros(2))


def test_inconsistent_named_dimension_names_dimension_arrays_and_sizes(layer):
    *_, f = layer
    with pytest.raises(sg.ShapeError) as err:
        f(np.zeros(3), np.zeros((2, 4)), np.zeros(2))
    message = str(err.value)
    for part in ("n", "'x'", "'W'", "3", "4"):
        assert part in message, (part, message)


def test_named_dimension_shared_by_a_gather_index(rng):
    E, idx = sg.matrix("E", 5, 2), sg.vector("idx", "batch", dtype="int64")
    w = sg.vector("w", "batch")
    f = sg.function([E, idx, w], (E[idx] * sg.reshape(w, ("batch", 1))).sum(), backend="numpy")
    Ev = rng.normal(size=(5, 2))
    assert_close(f(Ev, [1, 3], [2.0, -1.0]), 2 * Ev[1].sum() - Ev[3].sum())
    with pytest.raises(sg.ShapeError, match="batch"):
        f(Ev, [1, 3], [2.0, -1.0, 0.5])


# ------------------------------------------------------------------ out-of-range gathers

@pytest.mark.parametrize("bad", [[0, 6], [6], [100], [-1], [2, -3]])
def test_out_of_range_or_negative_gather_index_is_an_index_error(lookup, bad):
    *_, f = lookup
    with pytest.raises(IndexError):
        f(np.ones((6, 2)), np.array(bad), 1.0)


@pytest.mark.parametrize("bad", [[0, 6], [-1]])
def test_out_of_range_index_in_the_gradient_is_an_index_error(bad):
    E, idx = sg.matrix("E", 6, 2), sg.vector("idx", "k", dtype="int64")
    gE = sg.grad(E[idx].sum(), E)  # a scatter-add of ones: no forward gather left
    f = sg.function([E, idx], gE, backend="numpy")
    expected = np.zeros((6, 2))
    np.add.at(expected, [0, 3, 3], 1.0)
    assert_close(f(np.ones((6, 2)), [0, 3, 3]), expected)
    with pytest.raises(IndexError):
        f(np.ones((6, 2)), np.array(bad))


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0]])
def test_out_of_range_label_is_an_index_error(bad):
    S, y = sg.matrix("S", "batch", 3), sg.vector("y", "batch", dtype="int64")
    loss = sg.nn.softmax_cross_entropy(S, y)
    f = sg.function([S, y], [loss, sg.grad(loss, S)], backend="numpy")
    with pytest.raises(IndexError):
        f(np.zeros((2, 3)), np.array(bad))


# ------------------------------------------------------------------ caller's arrays

def test_caller_arrays_are_not_modified(rng):
    E, idx, W = sg.matrix("E", 6, 3), sg.vector("idx", 4, dtype="int64"), sg.matrix("W", 3, 3)
    h = sg.tanh(E[idx] @ W)
    loss = (h * h).sum()
    f = sg.function([E, idx, W], [loss, *sg.grad(loss, [E, W]), h], backend="numpy")
    Ev, idxv, Wv = rng.normal(size=(6, 3)), np.array([5, 0, 5, 2]), rng.normal(size=(3, 3))
    copies = [a.copy() for a in (Ev, idxv, Wv)]
    out = f(Ev, idxv, Wv)
    for a, c in zip((Ev, idxv, Wv), copies):
        assert np.array_equal(a, c)
    hv = np.tanh(Ev[idxv] @ Wv)
    assert_close(out[0], (hv * hv).sum())
    assert_close(out[3], hv)


def test_read_only_and_non_contiguous_inputs_work_and_are_untouched(rng):
    A, x = sg.matrix("A", 3, 4), sg.vector("x", 4)
    loss = (sg.exp(A @ x) + A.sum(axis=0).sum()).sum()  # = sum(exp(A x)) + 3 sum(A)
    f = sg.function([A, x], [loss, *sg.grad(loss, [A, x])], backend="numpy")
    base = rng.normal(size=(6, 6))
    A_view = base[::2, 1:5]                  # strided, not contiguous
    x_view = rng.normal(size=(4, 3)).T[1]    # stride 3 * 8 bytes
    assert not A_view.flags.c_contiguous and not x_view.flags.c_contiguous
    frozen = rng.normal(size=(3, 4))
    frozen.flags.writeable = False
    for Av in (A_view, frozen, np.asfortranarray(frozen)):
        before_A, before_x, before_base = Av.copy(), x_view.copy(), base.copy()
        loss_v, gA, gx = f(Av, x_view)
        e = np.exp(Av @ x_view)
        assert_close(loss_v, e.sum() + 3 * Av.sum())
        assert_close(gA, np.outer(e, x_view) + 3)
        assert_close(gx, Av.T @ e)
        assert np.array_equal(Av, before_A) and np.array_equal(x_view, before_x)
        assert np.array_equal(base, before_base)


@pytest.mark.parametrize("make", [
    lambda x: x,
    lambda x: x.reshape((2, 3)),
    lambda x: x[1:4],
    lambda x: sg.reshape(x, (3, 2)).T,
    lambda x: x * 1.0,
])
def test_outputs_are_not_aliases_of_inputs(make):
    x = sg.vector("x", 6)
    f = sg.function([x], make(x), backend="numpy")
    xv = np.arange(6.0)
    out = f(xv)
    assert not np.shares_memory(out, xv)
    out[...] = -1.0  # returned arrays are the caller's to modify
    assert np.array_equal(xv, np.arange(6.0))
    assert np.all(np.asarray(f(xv)) >= 0)


def test_modifying_an_output_does_not_change_later_calls():
    x = sg.vector("x", 2)
    f = sg.function([x], [sg.constant([1.0, 2.0]), x + sg.constant([1.0, 2.0])],
                    backend="numpy")
    c, s = f(np.zeros(2))
    c[...] = 100.0
    s[...] = 100.0
    c, s = f(np.zeros(2))
    assert_close(c, [1.0, 2.0])
    assert_close(s, [1.0, 2.0])


def test_output_with_a_dimension_no_input_binds_is_a_clear_error():
    x, unused = sg.vector("x", 3), sg.matrix("unused", 2, "k")
    zeros = sg.grad((x * x).sum(), unused, disconnected="zero")
    with pytest.raises((ValueError, TypeError), match="k"):
        sg.function([x], zeros, backend="numpy")(np.ones(3))
