"""Tensor ops: contractions, reductions, softmax family, structural ops, slicing,
gathers and the losses of ``sg.nn``: values against NumPy, gradients against
finite differences (and scatter-add written out by hand), and build-time errors.

Each case is one row: a symgrad builder, a NumPy reference and the input
shapes; ``check`` (shared with test_elementwise_ops) compares the value and
the gradient of sum(w * out) with random weights w.
"""
import zlib

import numpy as np
import pytest

import symgrad as sg
from reference import assert_close
from test_elementwise_ops import check, weights


def _lse(x, axis=None, keepdims=False):
    """A stable NumPy logsumexp, written out."""
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    return x - _lse(x, axis=axis, keepdims=True)


# (id, builder, NumPy reference, input shapes)
CASES = [
    # dot
    ("dot-1d-1d", sg.dot, np.dot, [(4,), (4,)]),
    ("dot-2d-1d", sg.dot, np.dot, [(3, 4), (4,)]),
    ("dot-1d-2d", sg.dot, np.dot, [(3,), (3, 4)]),
    ("dot-2d-2d", sg.dot, np.dot, [(2, 3), (3, 4)]),
    ("dot-3d-2d", sg.dot, np.dot, [(2, 3, 4), (4, 5)]),
    ("dot-3d-1d", sg.dot, np.dot, [(2, 3, 4), (4,)]),
    ("dot-scalar", sg.dot, np.dot, [(), (3, 2)]),
    # matmul and @
    ("matmul-1d-1d", sg.matmul, np.matmul, [(4,), (4,)]),
    ("matmul-1d-2d", sg.matmul, np.matmul, [(3,), (3, 4)]),
    ("matmul-2d-1d", sg.matmul, np.matmul, [(3, 4), (4,)]),
    ("matmul-2d-2d", lambda a, b: a @ b, np.matmul, [(2, 3), (3, 4)]),
    ("matmul-batched", sg.matmul, np.matmul, [(2, 3, 4), (2, 4, 5)]),
    ("matmul-batched-2d", sg.matmul, np.matmul, [(2, 3, 4), (4, 5)]),
    ("matmul-2d-batched", sg.matmul, np.matmul, [(3, 4), (2, 4, 5)]),
    ("matmul-broadcast-batch", sg.matmul, np.matmul, [(2, 1, 3, 4), (5, 4, 2)]),
    ("matmul-1d-batched", sg.matmul, np.matmul, [(4,), (2, 4, 3)]),
    ("matmul-batched-1d", lambda a, b: a @ b, np.matmul, [(2, 3, 4), (4,)]),
    ("matmul-array-right", lambda a: a @ np.arange(12.0).reshape(4, 3),
     lambda a: a @ np.arange(12.0).reshape(4, 3), [(2, 4)]),
    ("matmul-array-left", lambda b: np.arange(8.0).reshape(2, 4) @ b,
     lambda b: np.arange(8.0).reshape(2, 4) @ b, [(4, 3)]),
    # einsum
    ("einsum-matmul", lambda a, b: sg.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)]),
    ("einsum-outer", lambda a, b: sg.einsum("i,j->ij", a, b),
     lambda a, b: np.einsum("i,j->ij", a, b), [(3,), (4,)]),
    ("einsum-outer-3", lambda a, b, c: sg.einsum("i,j,k->ijk", a, b, c),
     lambda a, b, c: np.einsum("i,j,k->ijk", a, b, c), [(2,), (3,), (2,)]),
    ("einsum-outer-broadcast-dims", lambda a, b: sg.einsum("ij,k->ikj", a, b),
     lambda a, b: np.einsum("ij,k->ikj", a, b), [(2, 3), (4,)]),
    ("einsum-inner", lambda a, b: sg.einsum("i,i->", a, b),
     lambda a, b: np.einsum("i,i->", a, b), [(5,), (5,)]),
    ("einsum-frobenius", lambda a, b: sg.einsum("ij,ij->", a, b),
     lambda a, b: np.einsum("ij,ij->", a, b), [(3, 4), (3, 4)]),
    ("einsum-hadamard", lambda a, b: sg.einsum("ij,ij->ij", a, b),
     lambda a, b: np.einsum("ij,ij->ij", a, b), [(3, 4), (3, 4)]),
    ("einsum-batched", lambda a, b: sg.einsum("bij,bjk->bik", a, b),
     lambda a, b: np.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)]),
    ("einsum-chain-3", lambda a, b, c: sg.einsum("ij,jk,kl->il", a, b, c),
     lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c), [(2, 3), (3, 4), (4, 2)]),
    ("einsum-reduce-row", lambda a: sg.einsum("ij->j", a), lambda a: np.einsum("ij->j", a), [(3, 4)]),
    ("einsum-total", lambda a: sg.einsum("ijk->", a), lambda a: np.einsum("ijk->", a), [(2, 3, 4)]),
    ("einsum-permute", lambda a: sg.einsum("ijk->kij", a), lambda a: np.einsum("ijk->kij", a),
     [(2, 3, 4)]),
    ("einsum-implicit", lambda a, b: sg.einsum("ij,jk", a, b), lambda a, b: np.einsum("ij,jk", a, b),
     [(2, 3), (3, 4)]),
    ("einsum-implicit-sorted", lambda a, b: sg.einsum("ba,ca", a, b),
     lambda a, b: np.einsum("ba,ca", a, b), [(2, 3), (4, 3)]),
    ("einsum-implicit-transpose", lambda a: sg.einsum("ji", a), lambda a: np.einsum("ji", a),
     [(2, 3)]),
    ("einsum-ellipsis", lambda a, b: sg.einsum("...ij,...jk->...ik", a, b),
     lambda a, b: np.einsum("...ij,...jk->...ik", a, b), [(2, 3, 4), (2, 4, 5)]),
    ("einsum-ellipsis-sum", lambda a: sg.einsum("i...->...", a), lambda a: np.einsum("i...->...", a),
     [(3, 2, 4)]),
    ("einsum-ellipsis-implicit", lambda a, b: sg.einsum("...i,i", a, b),
     lambda a, b: np.einsum("...i,i", a, b), [(2, 3, 4), (4,)]),
    ("einsum-ellipsis-broadcast", lambda a, b: sg.einsum("...j,j...->...", a, b),
     lambda a, b: np.einsum("...j,j...->...", a, b), [(2, 3), (3, 2)]),
    ("einsum-spaces", lambda a, b: sg.einsum("ij, j -> i", a, b),
     lambda a, b: np.einsum("ij,j->i", a, b), [(3, 4), (4,)]),
    # reductions
    *[(f"{name}-axis{axis}-keep{keep}",
       (lambda f, axis, keep: lambda x: f(x, axis=axis, keepdims=keep))(f, axis, keep),
       (lambda r, axis, keep: lambda x: r(x, axis=axis, keepdims=keep))(r, axis, keep),
       [(2, 3, 4)])
      for name, f, r in [("sum", sg.sum, np.sum), ("mean", sg.mean, np.mean),
                         ("max", sg.max, np.max), ("min", sg.min, np.min),
                         ("logsumexp", sg.logsumexp, _lse)]
      for axis in [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]
      for keep in [False, True]],
    ("sum-method", lambda x: x.sum(), np.sum, [(3, 4)]),
    ("sum-method-axis", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [(3, 4)]),
    ("mean-method", lambda x: x.mean(0), lambda x: x.mean(0), [(3, 4)]),
    ("max-method", lambda x: x.max(axis=-1), lambda x: x.max(axis=-1), [(3, 4)]),
    ("min-method", lambda x: x.min(), lambda x: x.min(), [(3, 4)]),
    ("logsumexp-method", lambda x: x.logsumexp(1), lambda x: _lse(x, 1), [(3, 4)]),
    ("sum-vector", sg.sum, np.sum, [(5,)]),
    ("max-vector", sg.max, np.max, [(5,)]),
    ("sum-scalar", sg.sum, np.sum, [()]),
    # softmax family
    *[(f"{name}-axis{axis}", (lambda f, axis: lambda x: f(x, axis=axis))(f, axis),
       (lambda r, axis: lambda x: r(x, axis=axis))(r, axis), [(2, 3, 4)])
      for name, f, r in [("softmax", sg.softmax, _softmax),
                         ("log_softmax", sg.log_softmax, _log_softmax)]
      for axis in [-1, 0, 1, 2, -2]],
    ("softmax-default", sg.softmax, _softmax, [(3, 5)]),
    ("log_softmax-default", sg.log_softmax, _log_softmax, [(3, 5)]),
    ("softmax-vector", sg.softmax, _softmax, [(6,)]),
    # concatenate / stack
    ("concatenate-0", lambda a, b, c: sg.concatenate([a, b, c], axis=0),
     lambda a, b, c: np.concatenate([a, b, c], axis=0), [(2, 3), (1, 3), (4, 3)]),
    ("concatenate-1", lambda a, b: sg.concatenate([a, b], axis=1),
     lambda a, b: np.concatenate([a, b], axis=1), [(2, 3), (2, 5)]),
    ("concatenate-neg", lambda a, b: sg.concatenate([a, b], axis=-1),
     lambda a, b: np.concatenate([a, b], axis=-1), [(2, 3, 1), (2, 3, 2)]),
    ("concatenate-vectors", lambda a, b: sg.concatenate([a, b, a], 0),
     lambda a, b: np.concatenate([a, b, a], 0), [(3,), (2,)]),
    ("concatenate-default-axis", lambda a, b: sg.concatenate([a, b]),
     lambda a, b: np.concatenate([a, b]), [(1, 2), (3, 2)]),
    ("stack-0", lambda a, b, c: sg.stack([a, b, c]), lambda a, b, c: np.stack([a, b, c]),
     [(2, 3)] * 3),
    ("stack-1", lambda a, b: sg.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
     [(2, 3)] * 2),
    ("stack-neg", lambda a, b: sg.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
     [(2, 3)] * 2),
    ("stack-scalars", lambda a, b: sg.stack([a, b, a]), lambda a, b: np.stack([a, b, a]), [(), ()]),
    # reshape / transpose
    ("reshape", lambda x: sg.reshape(x, (6, 4)), lambda x: x.reshape(6, 4), [(2, 3, 4)]),
    ("reshape-flat", lambda x: sg.reshape(x, (-1,)), lambda x: x.reshape(-1), [(2, 3, 4)]),
    ("reshape-infer", lambda x: x.reshape((4, -1)), lambda x: x.reshape(4, -1), [(2, 3, 4)]),
    ("reshape-method-args", lambda x: x.reshape(3, 8), lambda x: x.reshape(3, 8), [(2, 3, 4)]),
    ("reshape-to-scalar", lambda x: x.reshape(()), lambda x: x.reshape(()), [(1, 1)]),
    ("reshape-add-axes", lambda x: x.reshape((1, 3, 1, 2)), lambda x: x.reshape(1, 3, 1, 2), [(6,)]),
    ("transpose", sg.transpose, np.transpose, [(2, 3, 4)]),
    ("transpose-axes", lambda x: sg.transpose(x, (1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)),
     [(2, 3, 4)]),
    ("transpose-negative-axes", lambda x: sg.transpose(x, (-1, 0, 1)),
     lambda x: np.transpose(x, (-1, 0, 1)), [(2, 3, 4)]),
    ("transpose-method", lambda x: x.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1), [(2, 3, 4)]),
    (".T", lambda x: x.T, lambda x: x.T, [(3, 4)]),
    (".T-vector", lambda x: x.T * 2.0, lambda x: x.T * 2.0, [(4,)]),
    (".T-then-matmul", lambda x, y: x.T @ y, lambda x, y: x.T @ y, [(3, 4), (3, 2)]),
    # static slicing
    ("slice-1:3", lambda x: x[1:3], lambda x: x[1:3], [(5,)]),
    ("slice-rows-1:3", lambda x: x[1:3], lambda x: x[1:3], [(4, 3)]),
    ("slice-column", lambda x: x[:, 0], lambda x: x[:, 0], [(4, 3)]),
    ("slice-reverse", lambda x: x[::-1], lambda x: x[::-1], [(5,)]),
    ("slice-reverse-rows", lambda x: x[::-1], lambda x: x[::-1], [(4, 3)]),
    ("slice-new-axis", lambda x: x[..., None], lambda x: x[..., None], [(4, 3)]),
    ("slice-none-first", lambda x: x[None], lambda x: x[None], [(4, 3)]),
    ("slice-int", lambda x: x[1], lambda x: x[1], [(4, 3)]),
    ("slice-negative-int", lambda x: x[-1], lambda x: x[-1], [(4, 3)]),
    ("slice-element", lambda x: x[2, 1], lambda x: x[2, 1], [(4, 3)]),
    ("slice-3d-mixed", lambda x: x[:, 1:3, ::2], lambda x: x[:, 1:3, ::2], [(2, 4, 5)]),
    ("slice-ellipsis-int", lambda x: x[..., 1], lambda x: x[..., 1], [(2, 4, 3)]),
    ("slice-negative-step", lambda x: x[4:0:-2], lambda x: x[4:0:-2], [(6,)]),
    ("slice-open-start", lambda x: x[:-2], lambda x: x[:-2], [(6,)]),
    ("slice-overlapping-uses", lambda x: x[1:] * x[:-1], lambda x: x[1:] * x[:-1], [(6,)]),
    ("slice-col-and-row", lambda x: x[0] + x[:, 1][:3], lambda x: x[0] + x[:, 1][:3], [(4, 3)]),
]


@pytest.mark.parametrize("name, build, ref, shapes", CASES, ids=[c[0] for c in CASES])
def test_tensor_op_value_and_gradient(name, build, ref, shapes):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [rng.normal(size=s) for s in shapes]
    _, grads = check(build, ref, arrays)
    assert [g.shape for g in grads] == [tuple(s) for s in shapes]


def test_result_shapes_match_numpy():
    for name, build, ref, shapes in CASES:
        xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
        expected = np.shape(ref(*[np.ones(s) for s in shapes]))
        assert build(*xs).shape == expected, name


# ---------------------------------------------------------------- named dimensions

def test_reshape_and_mean_with_named_dimensions():
    rng = np.random.default_rng(20)
    check(lambda E: sg.reshape(E, ("batch", 10)), lambda E: E.reshape(len(E), 10),
          [rng.normal(size=(3, 5, 2))], shapes=[("batch", 5, 2)])
    check(lambda E: E.reshape((-1,)), lambda E: E.reshape(-1),
          [rng.normal(size=(4, 5, 2))], shapes=[("batch", 5, 2)])
    check(lambda E: E.reshape(("batch", -1)) @ np.ones((10, 3)),
          lambda E: E.reshape(len(E), -1) @ np.ones((10, 3)),
          [rng.normal(size=(2, 5, 2))], shapes=[("batch", 5, 2)])
    check(lambda x: x.mean(), np.mean, [rng.normal(size=7)], shapes=[("n",)])
    check(lambda x: sg.mean(x, axis=0), lambda x: x.mean(axis=0), [rng.normal(size=(6, 3))],
          shapes=[("batch", 3)])


def test_one_graph_with_named_dimensions_serves_several_sizes():
    X, W = sg.matrix("X", "batch", 3), sg.matrix("W", 3, 2)
    loss = sg.mean(sg.logsumexp(X @ W, axis=1))
    gW = sg.grad(loss, W)
    f = sg.function([X, W], [loss, gW], backend="numpy")
    rng = np.random.default_rng(21)
    Wv = rng.normal(size=(3, 2))
    for batch in [1, 4, 9]:
        Xv = rng.normal(size=(batch, 3))
        value, g = f(Xv, Wv)
        assert_close(value, _lse(Xv @ Wv, axis=1).mean())
        assert_close(g, Xv.T @ _softmax(Xv @ Wv, axis=1) / batch)


def test_matmul_and_concatenate_with_named_dimensions():
    rng = np.random.default_rng(22)
    check(lambda a, b: sg.concatenate([a, b], axis=0) @ np.ones((3, 2)),
          lambda a, b: np.concatenate([a, b]) @ np.ones((3, 2)),
          [rng.normal(size=(2, 3)), rng.normal(size=(4, 3))], shapes=[("m", 3), ("n", 3)])


# ---------------------------------------------------------------- gathers

def scatter_add(w, idx, n):
    """zeros((n,) + w.shape[idx.ndim:]) with w's rows added at idx (by hand, np.add.at)."""
    out = np.zeros((n,) + w.shape[idx.ndim:])
    np.add.at(out, idx, w)
    return out


@pytest.mark.parametrize("E_shape, idx", [
    ((6, 3), np.array([2, 0, 2, 5, 2], dtype=np.int64)),             # repeated rows
    ((6, 3), np.array([[1, 4, 1], [4, 4, 0]], dtype=np.int64)),      # 2-d index array
    ((6, 3), np.array(3, dtype=np.int64)),                           # 0-d index
    ((6,), np.array([5, 5, 1, 0], dtype=np.int64)),                  # gather from a vector
    ((5, 2, 3), np.array([[0, 0], [4, 1]], dtype=np.int64)),         # rows that are matrices
    ((6, 3), np.array([1, 2], dtype=np.int32)),                      # int32 indices
    ((4, 3), np.array([], dtype=np.int64)),                          # nothing gathered
])
def test_gather_value_and_scatter_add_gradient(E_shape, idx):
    rng = np.random.default_rng(23)
    E = rng.normal(size=E_shape)
    out_shape = idx.shape + E_shape[1:]
    w = weights(np.random.default_rng(24), out_shape)
    Ev, iv = sg.tensor("E", E_shape), sg.tensor("idx", idx.shape, dtype=idx.dtype.name)
    out = Ev[iv]
    g = sg.grad(sg.sum(out * w), Ev)
    value, g_v = sg.function([Ev, iv], [out, g], backend="numpy")(E, idx)
    assert_close(value, E[idx])
    assert_close(g_v, scatter_add(w, idx, E_shape[0]))  # repeated indices accumulate
    # and a finite-difference check through the general helper
    check(lambda E, i: E[i], lambda E, i: E[i], [E, idx], wrt=[0])


def test_gather_with_constant_index_array_and_list():
    rng = np.random.default_rng(25)
    E = rng.normal(size=(5, 2))
    idx = np.array([[0, 4], [4, 4]])
    check(lambda E: E[idx], lambda E: E[idx], [E], derivs=None)
    check(lambda E: E[[3, 1, 3]], lambda E: E[[3, 1, 3]], [E])
    check(lambda E: sg.gather(E, np.array([2, 2])), lambda E: E[[2, 2]], [E])


def test_gather_with_named_dimensions_and_embedding_window():
    """x = concatenation of 5 word vectors: the window model's lookup."""
    rng = np.random.default_rng(26)
    E = rng.normal(size=(7, 3))
    idx = np.array([[1, 3, 1, 6, 1], [0, 0, 2, 3, 6]], dtype=np.int64)
    Ev, iv = sg.matrix("E", "vocab", 3), sg.matrix("idx", "batch", 5, dtype="int64")
    U = rng.normal(size=(15, 2))
    out = sg.reshape(Ev[iv], ("batch", 15)) @ U
    w, wv = weights(rng, (2, 2)), sg.matrix("w", "batch", 2)
    g = sg.grad(sg.sum(out * wv), Ev)
    value, g_v = sg.function([Ev, iv, wv], [out, g], backend="numpy")(E, idx, w)
    assert_close(value, E[idx].reshape(2, 15) @ U)
    assert_close(g_v, scatter_add((w @ U.T).reshape(2, 5, 3), idx, 7))


def test_gather_out_of_range_index_raises_index_error():
    E, i = sg.matrix("E", 4, 2), sg.vector("i", 3, dtype="int64")
    f = sg.function([E, i], E[i], backend="numpy")
    with pytest.raises(IndexError):
        f(np.zeros((4, 2)), np.array([0, 4, 1]))


@pytest.mark.parametrize("x_shape, idx", [
    ((4, 5), np.array([0, 4, 4, 2])),                       # repeated labels
    ((2, 3, 4), np.array([[3, 3, 0], [1, 2, 3]])),          # 2-d index
    ((5,), np.array(2)),                                    # 0-d index into a vector
])
def test_pick_value_and_gradient(x_shape, idx):
    rng = np.random.default_rng(27)
    x = rng.normal(size=x_shape)

    def ref(x, i):
        return np.take_along_axis(x, i[..., None], axis=-1)[..., 0]
    value, (g,) = check(sg.pick, ref, [x, idx], wrt=[0])
    # by hand: the weight lands on exactly the picked entry of each row
    xs, iv = sg.tensor("x", x_shape), sg.tensor("i", idx.shape, dtype="int64")
    w = weights(np.random.default_rng(28), idx.shape)
    g_v = sg.grad(sg.sum(sg.pick(xs, iv) * w), xs).eval({xs: x, iv: idx})
    expected = np.zeros(x_shape)
    np.put_along_axis(expected, idx[..., None], np.asarray(w)[..., None], axis=-1)
    assert_close(g_v, expected)


def test_gather_then_pick_shares_a_row():
    """A row gathered twice and picked: every path's gradient adds up."""
    rng = np.random.default_rng(29)
    E = rng.normal(size=(4, 3))
    idx, lab = np.array([2, 2, 0]), np.array([1, 1, 2])
    check(lambda E: sg.pick(E[idx], lab) * sg.sum(E[idx], axis=1),
          lambda E: E[idx][np.arange(3), lab] * E[idx].sum(axis=1), [E])


# ---------------------------------------------------------------- losses (sg.nn)

def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(30)
    S = rng.normal(size=(5, 4)) * 2
    y = np.array([0, 3, 3, 1, 2])
    Sv, yv = sg.matrix("S", "batch", 4), sg.vector("y", "batch", dtype="int64")
    loss = sg.nn.softmax_cross_entropy(Sv, yv)
    g = sg.grad(loss, Sv)
    value, g_v = sg.function([Sv, yv], [loss, g], backend="numpy")(S, y)
    assert_close(value, -np.mean(_log_softmax(S)[np.arange(5), y]))
    onehot = np.eye(4)[y]
    assert_close(g_v, (_softmax(S) - onehot) / 5)
    check(sg.nn.softmax_cross_entropy, lambda S, y: -np.mean(_log_softmax(S)[np.arange(len(y)), y]),
          [S, y], wrt=[0], shapes=[("batch", 4), ("batch",)])


def test_softmax_cross_entropy_needs_integer_labels():
    with pytest.raises(TypeError):
        sg.nn.softmax_cross_entropy(sg.matrix("S", 2, 3), sg.vector("y", 2))


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_max_margin_value_and_gradient(margin):
    s = np.array([2.0, 0.3, -1.0, 1.2, 0.0])
    sc = np.array([0.5, 0.6, -0.2, -0.3, 1.1])  # margin - s + sc stays away from 0
    st, sv = sg.vector("s", "batch"), sg.vector("sc", "batch")
    loss = sg.nn.max_margin(st, sv, margin=margin) if margin != 1.0 else sg.nn.max_margin(st, sv)
    gs, gc = sg.grad(loss, [st, sv])
    value, gs_v, gc_v = sg.function([st, sv], [loss, gs, gc], backend="numpy")(s, sc)
    z = margin - s + sc
    assert_close(value, np.mean(np.maximum(0, z)))
    assert_close(gs_v, -1.0 * (z > 0) / 5)
    assert_close(gc_v, (z > 0) / 5)
    check(lambda a, b: sg.nn.max_margin(a, b, margin),
          lambda a, b: np.mean(np.maximum(0, margin - a + b)), [s, sc])


def test_l2_value_and_gradient():
    rng = np.random.default_rng(31)
    W, b, c = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=())
    Wv, bv, cv = sg.matrix("W", 3, 4), sg.vector("b", 4), sg.scalar("c")
    loss = sg.nn.l2(Wv, bv, cv)
    grads = sg.grad(loss, [Wv, bv, cv])
    value, *g = sg.function([Wv, bv, cv], [loss] + grads, backend="numpy")(W, b, c)
    assert_close(value, np.sum(W ** 2) + np.sum(b ** 2) + c ** 2)
    for got, arr in zip(g, [W, b, c]):
        assert_close(got, 2 * arr)  # no 1/2 factor
    check(lambda W: sg.nn.l2(W), lambda W: np.sum(W ** 2), [W])


def test_l2_without_parameters_is_an_error():
    with pytest.raises(ValueError):
        sg.nn.l2()


def test_mse_value_and_gradient():
    rng = np.random.default_rng(32)
    p, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    pv, tv = sg.matrix("p", "batch", 3), sg.matrix("t", "batch", 3)
    loss = sg.nn.mse(pv, tv)
    gp, gt = sg.grad(loss, [pv, tv])
    value, gp_v, gt_v = sg.function([pv, tv], [loss, gp, gt], backend="numpy")(p, t)
    assert_close(value, np.mean((p - t) ** 2))
    assert_close(gp_v, 2 * (p - t) / p.size)
    assert_close(gt_v, -2 * (p - t) / p.size)
    check(sg.nn.mse, lambda p, t: np.mean((p - t) ** 2), [p, t[0]], shapes=[("batch", 3), (3,)])


# ---------------------------------------------------------------- build-time errors

def _raises(exc, build, *fragments):
    with pytest.raises(exc) as e:
        build()
    for f in fragments:
        assert f in str(e.value), f"{f!r} not in {str(e.value)!r}"


def test_matmul_inner_dimension_mismatch_names_both_shapes():
    A, B = sg.matrix("A", 2, 3), sg.matrix("B", 4, 5)
    _raises(sg.ShapeError, lambda: A @ B, "(2, 3)", "(4, 5)")
    _raises(sg.ShapeError, lambda: sg.matmul(A, sg.vector("v", 4)), "(2, 3)", "(4,)")
    _raises(sg.ShapeError, lambda: sg.matmul(sg.tensor("T", (2, 3, 4)), sg.tensor("U", (2, 3, 4))),
            "(2, 3, 4)")
    _raises(sg.ShapeError, lambda: sg.dot(sg.vector("u", 3), sg.vector("v", 4)), "(3,)", "(4,)")
    _raises(sg.ShapeError, lambda: A @ sg.scalar("s"))


def test_matmul_batch_dimensions_must_broadcast():
    _raises(sg.ShapeError, lambda: sg.tensor("T", (2, 3, 4)) @ sg.tensor("U", (3, 4, 5)),
            "(2, 3, 4)", "(3, 4, 5)")


def test_einsum_errors():
    A, B = sg.matrix("A", 2, 3), sg.matrix("B", 4, 5)
    _raises(sg.ShapeError, lambda: sg.einsum("ij,jk->ik", A, B), "(2, 3)", "(4, 5)")
    _raises(sg.ShapeError, lambda: sg.einsum("ijk->i", A), "(2, 3)")
    _raises(ValueError, lambda: sg.einsum("ij,jk->ik", A))
    _raises(ValueError, lambda: sg.einsum("ij->iz", A))


def test_float_gather_index_is_a_type_error():
    E = sg.matrix("E", 5, 3)
    _raises(TypeError, lambda: E[sg.vector("i", 2)], "i")
    _raises(TypeError, lambda: E[np.array([0.5, 1.0])])
    _raises(TypeError, lambda: sg.pick(E, sg.vector("y", 5)))
    _raises(TypeError, lambda: E[sg.vector("i", 2), 0], "i")  # a float index beside an int
    i = sg.vector("i", 2, dtype="int64")  # an integer one is NumPy's advanced indexing
    np.testing.assert_array_equal(E[i, 0].eval({E: np.arange(15.0).reshape(5, 3), i: [4, 1]}),
                                  [12.0, 3.0])


def test_bad_axis_raises():
    X = sg.tensor("X", (2, 3))
    for build in [lambda: X.sum(axis=2), lambda: sg.mean(X, axis=-3), lambda: sg.max(X, 5),
                  lambda: sg.softmax(X, axis=2), lambda: sg.logsumexp(X, axis=(0, 3)),
                  lambda: sg.concatenate([X, X], axis=2), lambda: sg.stack([X, X], axis=4),
                  lambda: sg.transpose(X, (0, 0)), lambda: sg.transpose(X, (0, 1, 2)),
                  lambda: X.sum(axis=(0, 0))]:
        with pytest.raises((ValueError, IndexError)) as e:
            build()
        assert "X" in str(e.value) or "axis" in str(e.value) or "axes" in str(e.value), str(e.value)


def test_structural_shape_errors_name_the_shapes():
    a, b = sg.matrix("a", 2, 3), sg.matrix("b", 2, 4)
    _raises(sg.ShapeError, lambda: sg.concatenate([a, b], axis=0), "(2, 3)", "(2, 4)")
    _raises(sg.ShapeError, lambda: sg.concatenate([a, sg.vector("v", 3)]), "(2, 3)", "(3,)")
    _raises(sg.ShapeError, lambda: sg.stack([a, b]), "(2, 3)", "(2, 4)")
    _raises(sg.ShapeError, lambda: sg.reshape(a, (4, 2)), "(2, 3)")
    _raises(sg.ShapeError, lambda: a.reshape((4, -1)), "(2, 3)")
    _raises(sg.ShapeError, lambda: a.reshape((-1, -1)))
    _raises(sg.ShapeError, lambda: sg.pick(a, sg.vector("y", 3, dtype="int64")), "(2, 3)", "(3,)")


def test_static_index_errors():
    x = sg.matrix("x", 4, 3)
    _raises(IndexError, lambda: x[4])
    _raises(IndexError, lambda: x[:, -4])
    _raises(IndexError, lambda: x[0, 0, 0])
    _raises(IndexError, lambda: x[..., ...])
    _raises(TypeError, lambda: x["a"])
    _raises(IndexError, lambda: sg.vector("n", "n")[1:3])
