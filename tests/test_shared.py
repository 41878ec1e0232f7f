"""sg.shared and sg.function(..., updates=...): variables that own their arrays,
read by compiled functions without being passed and updated in place, every new
value computed from the values before the call. Checked against NumPy formulas
on both backends; the in-place writes are checked in the lowered program."""
import pickle

import numpy as np
import pytest

import symgrad as sg
from symgrad.lowering import lower
from symgrad_codegen import Copy, Loop, Store

BACKENDS = ["numpy", "numba"]


def test_shared_owns_a_copy_and_copies_out():
    a = np.arange(6.0).reshape(2, 3)
    W = sg.shared(a, name="W")
    a[0, 0] = 100.0
    assert W.get_value()[0, 0] == 0.0  # copied in
    out = W.get_value()
    out[0, 1] = -5.0
    assert W.get_value()[0, 1] == 1.0  # copied out
    assert (W.dtype, W.shape, W.name) == ("float64", (2, 3), "W")


def test_set_value_checks_shape_and_dtype():
    W = sg.shared(np.zeros((2, 3), np.float32), name="W")
    W.set_value(np.ones((2, 3), np.float32))
    W.set_value(np.ones((2, 3), np.int16))  # lossless
    np.testing.assert_array_equal(W.get_value(), np.ones((2, 3), np.float32))
    with pytest.raises(sg.ShapeError, match=r"shape \(3, 2\).*must have shape \(2, 3\)"):
        W.set_value(np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="float64.*lose precision"):
        W.set_value(np.ones((2, 3)))


def test_named_dimensions_take_the_arrays_size():
    E = sg.shared(np.ones((5, 2)), name="E", shape=("vocab", 2))
    idx = sg.vector("idx", "n", dtype="int64")
    f = sg.function([idx], E[idx].sum(), backend="numpy")
    assert f([0, 4]) == 4.0
    E.set_value(np.full((7, 2), 2.0))  # another vocabulary size: allowed by the name
    assert f([6]) == 4.0


def test_get_value_of_a_plain_variable_says_what_to_use():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match=r"not a shared variable; sg.shared\(value\) makes one"):
        x.get_value()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_function_reads_shared_variables_without_them_being_passed(backend):
    W = sg.shared(np.arange(6.0).reshape(2, 3), name="W")
    x = sg.vector("x", 3)
    f = sg.function([x], W @ x, backend=backend, cache=False)
    np.testing.assert_array_equal(f([1.0, 0.0, 0.0]), [0.0, 3.0])
    W.set_value(np.ones((2, 3)))
    np.testing.assert_array_equal(f([1.0, 2.0, 3.0]), [6.0, 6.0])


@pytest.fixture(scope="module", params=BACKENDS)
def sgd_step(request):
    """One SGD step of least squares on shared W, b, with a step counter."""
    W = sg.shared(np.zeros((2, 3)), name="W")
    b = sg.shared(np.zeros(2), name="b")
    t = sg.shared(np.array(0, np.int64), name="t")
    X, Y = sg.matrix("X", "batch", 3), sg.matrix("Y", "batch", 2)
    loss = sg.mean(((X @ W.T + b) - Y) ** 2)
    gW, gb = sg.grad(loss, [W, b])
    f = sg.function([X, Y], [loss, W], backend=request.param, cache=False,
                    updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb), (t, t + 1)])
    return f, W, b, t


def test_updates_apply_sgd_in_place(sgd_step):
    f, W, b, t = sgd_step
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    W0, b0 = rng.normal(size=(2, 3)), rng.normal(size=2)
    W.set_value(W0), b.set_value(b0), t.set_value(0)
    Wv, bv = W0.copy(), b0.copy()
    for step in range(3):
        r = X @ Wv.T + bv - Y
        want_loss = np.mean(r ** 2)
        gW, gb = 2 * r.T @ X / r.size, 2 * r.sum(axis=0) / r.size
        loss, W_out = f(X, Y)
        np.testing.assert_allclose(loss, want_loss, rtol=1e-13)
        np.testing.assert_allclose(W_out, Wv, rtol=1e-13)  # the value before the update
        Wv, bv = Wv - 0.1 * gW, bv - 0.1 * gb
        np.testing.assert_allclose(W.get_value(), Wv, rtol=1e-12)
        np.testing.assert_allclose(b.get_value(), bv, rtol=1e-12)
        assert t.get_value() == step + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_new_value_is_computed_from_the_values_before_the_call(backend):
    A, B = sg.shared([1.0, 2.0], name="A"), sg.shared([10.0, 20.0], name="B")
    c = sg.shared(np.array(3.0), name="c")
    f = sg.function([], [A + B, c], backend=backend, cache=False,
                    updates={A: B, B: A * c, c: c + A.sum()})
    total, c_before = f()
    np.testing.assert_array_equal(total, [11.0, 22.0])
    assert c_before == 3.0
    np.testing.assert_array_equal(A.get_value(), [10.0, 20.0])
    np.testing.assert_array_equal(B.get_value(), [3.0, 6.0])
    assert c.get_value() == 6.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_transposed_read_of_the_updated_variable_sees_the_old_values(backend):
    M = sg.shared(np.arange(9.0).reshape(3, 3), name="M")
    f = sg.function([], [], backend=backend, cache=False, updates=[(M, M + M.T)])
    M0 = M.get_value()
    f()
    np.testing.assert_array_equal(M.get_value(), M0 + M0.T)


def _statements(updates, outputs=()):
    inputs = sorted({t for t, _ in updates}, key=lambda v: v.name)
    return inputs, lower(inputs, list(outputs), updates).program.statements


def test_an_elementwise_update_is_stored_in_place_in_its_loop():
    W, m = sg.shared(np.zeros((4, 3)), name="W"), sg.shared(np.zeros((4, 3)), name="m")
    m_new = 0.9 * m + W
    inputs, statements = _statements([(m, m_new), (W, W - 0.1 * m_new)])
    loops = [s for s in statements if isinstance(s, Loop)]
    assert len(loops) == 1 and not any(isinstance(s, Copy) for s in statements)
    stores = [s.array for s in loops[0].body if isinstance(s, Store)]
    assert sorted(stores) == ["x0", "x1"]  # W and m, in the loop computing them


def test_an_update_read_later_is_copied_in_at_the_end():
    W = sg.shared(np.zeros((4, 3)), name="W")
    new = W * 2.0
    inputs, statements = _statements([(W, new)], outputs=[(new @ W.T).sum()])
    last = statements[-1]  # after the product read the old W (and the new)
    assert isinstance(last, Loop) and isinstance(last.body[-1], Store)
    assert last.body[-1].array == "x0"
    assert sum(isinstance(s, Store) and s.array == "x0"
               for loop in statements if isinstance(loop, Loop) for s in loop.body) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_errors_at_build_time(backend):
    W = sg.shared(np.zeros((2, 3), np.float32), name="W")
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match=r"'x' \(float64, shape \(3,\)\) is not a shared"):
        sg.function([x], x.sum(), updates=[(x, x * 2)], backend=backend)
    with pytest.raises(TypeError, match=r"sg.cast\(new, 'float32'\)"):
        sg.function([], W.sum(), updates=[(W, sg.cast(W, "float64"))], backend=backend)
    with pytest.raises(sg.ShapeError, match=r"must have shape \(2, 3\)"):
        sg.function([], W.sum(), updates=[(W, W.T)], backend=backend)
    with pytest.raises(ValueError, match="twice"):
        sg.function([], W.sum(), updates=[(W, W * 2), (W, W * 3)], backend=backend)
    with pytest.raises(ValueError, match="leave it out of `inputs`"):
        sg.function([W], W.sum(), backend=backend)
    with pytest.raises(TypeError, match="pair"):
        sg.function([], W.sum(), updates=[W], backend=backend)
    f = sg.function([], W.sum(), updates=[(W, W * 2.0)], backend=backend, cache=False)
    f()  # a Python float stays float32 (weak)
    assert W.get_value().dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_out_of_range_raises_before_any_update(backend):
    E = sg.shared(np.ones((4, 2)), name="E")
    idx = sg.vector("idx", "n", dtype="int64")
    cost = E[idx].sum()
    f = sg.function([idx], cost, updates=[(E, E - 0.5 * sg.grad(cost, E))],
                    backend=backend, cache=False)
    f([0, 0])
    np.testing.assert_array_equal(E.get_value()[:, 0], [0.0, 1.0, 1.0, 1.0])
    with pytest.raises(IndexError, match="out of range"):
        f([1, 9])
    np.testing.assert_array_equal(E.get_value()[:, 0], [0.0, 1.0, 1.0, 1.0])


def test_a_pickled_function_updates_its_own_copy_of_the_shared_arrays():
    w = sg.shared([1.0, 2.0], name="w")
    f = sg.function([], w.sum(), updates=[(w, w * 2.0)], backend="numpy")
    g = pickle.loads(pickle.dumps(f))
    assert g() == 3.0 and g() == 6.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])  # the original's is untouched
    assert f() == 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_and_grad_takes_updates(backend):
    w = sg.shared([1.0, -2.0], name="w")
    x = sg.vector("x", 2)
    cost = ((w * x).sum() - 1.0) ** 2
    vg = sg.value_and_grad(cost, [w], inputs=[x], backend=backend, cache=False,
                           updates=[(w, w - 0.1 * sg.grad(cost, w))])
    xv = np.array([0.5, 1.0])
    value, (g,) = vg(xv)
    r = np.dot([1.0, -2.0], xv) - 1.0
    assert value == r ** 2
    np.testing.assert_allclose(g, 2 * r * xv, rtol=1e-15)
    np.testing.assert_allclose(w.get_value(), np.array([1.0, -2.0]) - 0.1 * 2 * r * xv,
                               rtol=1e-15)
