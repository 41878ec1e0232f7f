"""Lowering's buffer choices: a loop storing into the buffer of an input no
later step reads, and products read only transposed computed transposed.
Checked by the numbers (hand-written NumPy) and by the program's statements."""
import numpy as np

import symgrad as sg
from symgrad_codegen import Alloc, Copy, Loop, MatMul
from symgrad.lowering import lower

RNG = np.random.default_rng(7)


def _defined_by(program, name):
    return next(st for st in program.statements if getattr(st, "name", None) == name)


def _run(inputs, outputs, values):
    return sg.function(inputs, outputs, backend="numba")(*values)


def test_a_loop_stores_into_the_buffer_of_a_product_it_consumes():
    X, W, b = sg.matrix("X", 4, 3), sg.matrix("W", 3, 5), sg.vector("b", 5)
    out = sg.relu(X @ W + b)
    program = lower([X, W, b], [out]).program
    assert not [st for st in program.statements if isinstance(st, Alloc)]
    assert isinstance(_defined_by(program, program.results[0]), MatMul)
    x, w, bb = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 5)), RNG.normal(size=5)
    np.testing.assert_allclose(_run([X, W, b], out, [x, w, bb]), np.maximum(x @ w + bb, 0.0),
                               rtol=1e-13, atol=1e-15)


def test_a_buffer_read_later_through_a_view_is_not_overwritten():
    X, W = sg.matrix("X", 4, 4), sg.matrix("W", 4, 4)
    A = X @ W
    same_loop = sg.tanh(A) + A.T            # the transpose is read in the same loop
    later = sg.exp(A) @ A.T                 # ... and by a later product
    reshaped = sg.sin(A).sum() + sg.reshape(A, (2, 8))[1].sum()
    x, w = RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4))
    a = x @ w
    got = _run([X, W], [same_loop, later, reshaped], [x, w])
    np.testing.assert_allclose(got[0], np.tanh(a) + a.T, rtol=1e-13)
    np.testing.assert_allclose(got[1], np.exp(a) @ a.T, rtol=1e-13)
    np.testing.assert_allclose(got[2], np.sin(a).sum() + a.reshape(2, 8)[1].sum(), rtol=1e-13)


def test_an_input_read_after_the_store_in_the_same_loop_keeps_its_value():
    X, W = sg.matrix("X", 3, 2), sg.matrix("W", 2, 6)
    A = X @ W
    u = sg.exp(A)
    out = (u * A + sg.sqrt(A * A + 1.0)).sum(axis=0)  # A read again after u is stored
    x, w = RNG.normal(size=(3, 2)), RNG.normal(size=(2, 6))
    a = x @ w
    got = _run([X, W], [out, u], [x, w])
    np.testing.assert_allclose(got[0], (np.exp(a) * a + np.sqrt(a * a + 1.0)).sum(axis=0),
                               rtol=1e-13)
    np.testing.assert_allclose(got[1], np.exp(a), rtol=1e-13)


def test_callers_arrays_are_never_reused_as_buffers():
    X = sg.matrix("X", 3, 4)
    out = sg.exp(X) * 2.0
    x = RNG.normal(size=(3, 4))
    kept = x.copy()
    np.testing.assert_allclose(_run([X], out, [x]), np.exp(kept) * 2.0, rtol=1e-14)
    np.testing.assert_array_equal(x, kept)


def test_gradient_of_a_matrix_used_transposed_is_one_product_without_a_copy():
    X, W, b, C = (sg.matrix("X", 6, 4), sg.matrix("W", 3, 4), sg.vector("b", 3),
                  sg.matrix("C", 6, 3))
    cost = (sg.tanh(X @ W.T + b) * C).sum()
    (dW,) = sg.grad(cost, [W])
    program = lower([X, W, b, C], [cost, dW]).program
    assert isinstance(_defined_by(program, program.results[1]), MatMul)
    assert not [st for st in program.statements if isinstance(st, Copy)]
    # the forward, the cost and the gradient's elementwise part: one loop
    assert len([st for st in program.statements if isinstance(st, Loop)]) == 1
    x, w, bb, c = (RNG.normal(size=(6, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=3),
                   RNG.normal(size=(6, 3)))
    h = np.tanh(x @ w.T + bb)
    value, grad_w = sg.value_and_grad(cost, [W], inputs=[X, W, b, C], backend="numba")(x, w, bb, c)
    np.testing.assert_allclose(value, (h * c).sum(), rtol=1e-13)
    np.testing.assert_allclose(grad_w[0], ((1 - h * h) * c).T @ x, rtol=1e-12)
    assert grad_w[0].flags.c_contiguous
