"""The gradient of a table used in several places (issue 17): every sparse
contribution to one node (scatter-adds, slice-adds, put-alongs) adds into a
single buffer, in place, whatever the shape of the sum that produced them.

References are NumPy: ``np.add.at`` in use order, slice assignment, and
two-sided finite differences for the sparse ops' base input. The sums'
values are compared to 1e-12 (accumulating in another order than the
reference rounds differently only in the last bits); the programs are
checked to allocate one table-sized buffer.
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad_codegen import Alloc
from symgrad.graph import toposort
from symgrad.lowering import lower
from symgrad.numpy_backend import NumpyProgram
from symgrad.ops import PutAlong, ScatterAdd, SliceAdd
from symgrad.optimize import optimize

from reference import numeric_grad

V, D = 12, 3
RNG = np.random.default_rng(17)
RANKS = [1, 2, 0, 3, 1, 2]  # the index rank of each use: mixed
SHAPES = {0: (), 1: (5,), 2: (3, 2), 3: (2, 2, 2)}


def _uses(n):
    """n index inputs of mixed ranks, and a weight per use (upstream gradients not 1)."""
    idx = [sg.tensor(f"i{k}", SHAPES[RANKS[k]], dtype="int64") for k in range(n)]
    w = [sg.tensor(f"w{k}", SHAPES[RANKS[k]] + (D,)) for k in range(n)]
    return idx, w


def _cost(E, idx, w, n):
    return sum((w[k] * sg.tanh(E[idx[k]])).sum() for k in range(n))


def _reference(E0, idx0, w0, n):
    """d cost / d E: each use's rows added with np.add.at, in use order."""
    out = np.zeros_like(E0)
    for k in range(n):
        np.add.at(out, idx0[k], w0[k] * (1 - np.tanh(E0[idx0[k]]) ** 2))
    return out


def _data(n):
    # indices in [0, 6): repeated within a use and across uses
    idx0 = [RNG.integers(0, 6, SHAPES[RANKS[k]]) for k in range(n)]
    w0 = [RNG.normal(size=SHAPES[RANKS[k]] + (D,)) for k in range(n)]
    return RNG.normal(size=(V, D)), idx0, w0


def _table_buffers(inputs, outputs, shape):
    """How many buffers of ``shape`` the lowered program of ``outputs`` allocates."""
    program = lower(inputs, optimize(outputs)).program
    return sum(1 for s in program.statements if isinstance(s, Alloc)
               and all(isinstance(d, (int, sympy.Integer)) for d in s.shape)
               and tuple(int(d) for d in s.shape) == shape)


def test_sums_of_two_to_six_scatter_adds_match_add_at_in_use_order():
    E = sg.matrix("E", V, D)
    idx, w = _uses(6)
    grads = [sg.grad(_cost(E, idx, w, n), E) for n in range(2, 7)]
    for n, g in zip(range(2, 7), optimize(grads)):  # a chain of scatter-adds, no dense sum
        table = [x for x in toposort([g]) if x.shape == (V, D) and x is not E]
        assert [type(x.op) for x in table] == [ScatterAdd] * n
    E0, idx0, w0 = _data(6)
    f = sg.function([E, *idx, *w], grads, backend="numpy")
    for n, got in zip(range(2, 7), f(E0, *idx0, *w0)):
        want = _reference(E0, idx0, w0, n)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.count_nonzero(want.any(axis=1)) >= 3  # rows really collide and differ


@pytest.mark.parametrize("n", [2, 5, 6])
def test_one_table_sized_buffer_for_any_number_of_uses(n):
    E = sg.matrix("E", V, D)
    idx, w = _uses(n)
    assert _table_buffers([E, *idx, *w], [sg.grad(_cost(E, idx, w, n), E)], (V, D)) == 1


def test_the_sums_shape_does_not_matter():
    """Nested binary adds, in any order and grouping, give the same one buffer and values."""
    E = sg.matrix("E", V, D)
    idx, w = _uses(4)
    a, b, c, d = (sg.grad((w[k] * sg.tanh(E[idx[k]])).sum(), E) for k in range(4))
    sums = [((a + b) + c) + d, a + (b + (c + d)), (d + b) + (c + a), (a + c) + (d + b)]
    for s in sums:
        assert _table_buffers([E, *idx, *w], [s], (V, D)) == 1
    E0, idx0, w0 = _data(4)
    got = sg.function([E, *idx, *w], sums, backend="numpy")(E0, *idx0, *w0)
    for g in got:
        np.testing.assert_allclose(g, _reference(E0, idx0, w0, 4), rtol=1e-12, atol=1e-12)


def test_a_dense_term_and_sparse_ones_share_one_buffer():
    E, lam = sg.matrix("E", V, D), sg.scalar("lam")
    idx, w = _uses(3)
    cost = _cost(E, idx, w, 3) + 0.5 * lam * (E * E).sum()
    g = sg.grad(cost, E)
    assert _table_buffers([E, lam, *idx, *w], [g], (V, D)) == 1
    E0, idx0, w0 = _data(3)
    got = sg.function([E, lam, *idx, *w], g, backend="numpy")(E0, 0.3, *idx0, *w0)
    np.testing.assert_allclose(got, 0.3 * E0 + _reference(E0, idx0, w0, 3),
                               rtol=1e-12, atol=1e-12)


def test_slice_adds_and_scatter_adds_accumulate_together():
    E = sg.matrix("E", V, D)
    i, u = sg.vector("i", 4, dtype="int64"), sg.matrix("u", V, D)
    cost = ((u[i] * sg.sin(E[i])).sum() + (u[2:5] * E[2:5] ** 2).sum()
            + (u[7] * sg.exp(E[7])).sum() + (u[::3] * E[::3]).sum())
    g = sg.grad(cost, E)
    assert _table_buffers([E, i, u], [g], (V, D)) == 1
    E0, u0, i0 = RNG.normal(size=(V, D)), RNG.normal(size=(V, D)), np.array([7, 2, 7, 11])
    want = np.zeros((V, D))
    np.add.at(want, i0, u0[i0] * np.cos(E0[i0]))
    want[2:5] += 2 * u0[2:5] * E0[2:5]
    want[7] += u0[7] * np.exp(E0[7])
    want[::3] += u0[::3]
    got = sg.function([E, i, u], g, backend="numpy")(E0, i0, u0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_put_alongs_accumulate_together():
    x = sg.matrix("x", "batch", 5)
    a, b = sg.vector("a", "batch", dtype="int64"), sg.vector("b", "batch", dtype="int64")
    cost = (sg.pick(x, a) * 2.0).sum() + sg.tanh(sg.pick(x, b)).sum() + sg.pick(x, a).sum()
    g = sg.grad(cost, x)
    kinds = [type(n.op) for n in toposort(optimize([g])) if n.ndim == 2]
    assert kinds.count(PutAlong) >= 2 and sg.ops.Elemwise not in kinds
    x0, a0, b0 = RNG.normal(size=(4, 5)), np.array([0, 4, 4, 1]), np.array([0, 4, 2, 1])
    want = np.zeros((4, 5))
    np.add.at(want, (np.arange(4), a0), 3.0)
    np.add.at(want, (np.arange(4), b0), 1 - np.tanh(x0[np.arange(4), b0]) ** 2)
    got = sg.function([x, a, b], g, backend="numpy")(x0, a0, b0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_term_read_elsewhere_is_not_overwritten():
    """Each use's gradient is an output of its own and read again by a later
    product, and either can start the chain of the sum: the chain copies it
    rather than adding into its buffer."""
    E = sg.matrix("E", V, D)
    idx, w = _uses(2)
    a, b = (sg.grad((w[k] * sg.tanh(E[idx[k]])).sum(), E) for k in range(2))
    outputs = [a + b, b + a, a, b, (a * b).sum(axis=1)]
    E0, idx0, w0 = _data(2)
    got = sg.function([E, *idx, *w], outputs, backend="numpy")(E0, *idx0, *w0)
    want_a = _reference(E0, idx0, w0, 1)
    want_b = _reference(E0, idx0[1:], w0[1:], 1)
    wants = [want_a + want_b, want_a + want_b, want_a, want_b, (want_a * want_b).sum(axis=1)]
    for g, want in zip(got, wants):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


def _with_base_cases():
    g4, idx = sg.matrix("g", 4, D), sg.vector("idx", 4, dtype="int64")
    lab, p = sg.vector("lab", 4, dtype="int64"), sg.vector("p", 4)
    base, base45 = sg.matrix("base", V, D), sg.matrix("base45", 4, 5)
    ints = {idx: np.array([3, 0, 3, 9]), lab: np.array([4, 0, 4, 2])}
    return [
        ("scatter", ScatterAdd(V)(g4, idx, base), [g4, base], ints,
         lambda g, b: _added_at(b, ints[idx], g)),
        ("put_along", PutAlong(5)(p, lab, base45), [p, base45], ints,
         lambda g, b: _added_at(b, (np.arange(4), ints[lab]), g)),
        ("slice", SliceAdd((V, D), ((2, 6, 1), (0, D, 1)))(g4, base), [g4, base], {},
         lambda g, b: b + np.pad(g, ((2, V - 6), (0, 0)))),
    ]


def _added_at(base, at, g):
    out = base.copy()
    np.add.at(out, at, g)
    return out


@pytest.mark.parametrize("case", _with_base_cases(), ids=lambda c: c[0])
def test_sparse_ops_add_into_a_base(case):
    """The base form of each sparse op: its value, and its gradients with respect to
    the operand and the base against finite differences (a cost that is not linear)."""
    _, out, (g, base), ints, numpy_value = case
    g0, b0 = RNG.normal(size=g.shape), RNG.normal(size=base.shape)
    inputs = [g, base, *ints]
    cost = (sg.tanh(out) * sg.constant(RNG.normal(size=out.shape))).sum()
    f = sg.function(inputs, [out, cost, *sg.grad(cost, [g, base])], backend="numpy")
    value, c, dg, db = f(g0, b0, *ints.values())
    np.testing.assert_allclose(value, numpy_value(g0, b0), rtol=1e-14)
    assert not np.shares_memory(value, b0)

    def forward(ga, ba):
        return f(ga, ba, *ints.values())[1]
    np.testing.assert_allclose(dg, numeric_grad(forward, [g0, b0], 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numeric_grad(forward, [g0, b0], 1), rtol=1e-6, atol=1e-8)


def test_a_base_of_another_shape_is_refused():
    g, idx = sg.matrix("g", 4, D), sg.vector("idx", 4, dtype="int64")
    with pytest.raises(sg.ShapeError, match="base 'b'.*shape"):
        ScatterAdd(V)(g, idx, sg.matrix("b", V + 1, D))
    with pytest.raises(sg.ShapeError, match="dtype float64"):
        SliceAdd((V, D), ((0, 4, 1), (0, D, 1)))(g, sg.matrix("b", V, D, dtype="float32"))


def test_the_base_prints_as_a_term():
    g, idx, b = sg.matrix("g", 4, D), sg.vector("idx", 4, dtype="int64"), sg.matrix("b", V, D)
    assert "b[i, j]" in str(ScatterAdd(V)(g, idx, b).to_sympy())


def test_the_lecture_window_and_sparse_grad_build_no_table_per_use():
    """W2c's form, x = concatenate of five lookups: its dense gradient has one
    table-sized buffer, and sg.optim.sparse_grad's rows none."""
    idx = sg.matrix("idx", "batch", 5, dtype="int64")
    E, W = sg.matrix("E", 200, 4), sg.matrix("W", 3, 20)
    x = sg.concatenate([E[idx[:, k]] for k in range(5)], axis=1)
    cost = sg.tanh(x @ W.T).sum()
    assert _table_buffers([idx, E, W], [sg.grad(cost, E)], (200, 4)) == 1
    index, rows = sg.optim.sparse_grad(cost, E)
    assert _table_buffers([idx, E, W], [index, rows], (200, 4)) == 0
    idx0, E0, W0 = RNG.integers(0, 200, (6, 5)), RNG.normal(size=(200, 4)), RNG.normal(size=(3, 20))
    idx0[1, 3] = idx0[0, 0]  # a word twice in a batch
    dx = (1 - np.tanh(E0[idx0].reshape(6, 20) @ W0.T) ** 2) @ W0
    want = np.zeros((200, 4))
    np.add.at(want, idx0, dx.reshape(6, 5, 4))
    f = sg.function([idx, E, W], [sg.grad(cost, E), index, rows], backend="numpy")
    g, ix, rw = f(idx0, E0, W0)
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sg.optim.SparseRows(ix, rw, E0.shape).to_dense(), want,
                               rtol=1e-12, atol=1e-12)


def test_rows_added_to_a_shared_table_are_written_into_its_array():
    """``E + rows at idx`` as E's update adds the rows into E's own array: no table copy."""
    E = sg.shared(np.zeros((V, D)), name="E")
    idx, rows = sg.vector("idx", 4, dtype="int64"), sg.matrix("rows", 4, D)
    new = ScatterAdd(V)(rows, idx, E)
    program = lower([idx, rows, E], [], [(E, new)]).program
    assert not [s for s in program.statements if isinstance(s, Alloc)]
    f = sg.function([idx, rows], [], updates=[(E, new)], backend="numpy")
    E0, i0, r0 = RNG.normal(size=(V, D)), np.array([1, 5, 1, 0]), RNG.normal(size=(4, D))
    E.set_value(E0)
    f(i0, r0)
    f(i0, r0)
    np.testing.assert_allclose(E.get_value(), _added_at(_added_at(E0, i0, r0), i0, r0),
                               rtol=1e-14)


@pytest.mark.parametrize("nesting", ["left", "right"])
def test_a_long_chain(nesting):
    """1200 rows scattered into one table, summed ((a + b) + c) + ... or
    a + (b + (c + ...)): a chain deeper than Python's recursion limit, each
    term added to the chain built so far (not the chain rebuilt per term).
    Evaluated by the NumPy reference (compiling 1200 loops is not the point)."""
    i, r = sg.vector("i", 1200, dtype="int64"), sg.matrix("r", 1200, D)
    terms = [ScatterAdd(V)(r[k], i[k]) for k in range(1200)]
    total = terms[0] if nesting == "left" else terms[-1]
    for t in terms[1:] if nesting == "left" else terms[-2::-1]:
        total = total + t if nesting == "left" else t + total
    (rewritten,) = optimize([total])
    table = [x for x in toposort([rewritten]) if x.shape == (V, D)]
    assert [type(x.op) for x in table] == [ScatterAdd] * 1200
    i0, r0 = RNG.integers(0, V, 1200), RNG.normal(size=(1200, D))
    (got,) = NumpyProgram([i, r], [rewritten])([i0, r0], {})
    np.testing.assert_allclose(got, _added_at(np.zeros((V, D)), i0, r0), rtol=1e-12, atol=1e-12)


def test_a_hand_built_dense_base_is_added_densely():
    """A sparse op whose base is dense, summed with another: the base is added
    densely, the rows of both into one chain."""
    g, idx, dense = sg.matrix("g", 4, D), sg.vector("idx", 4, dtype="int64"), sg.matrix("d", V, D)
    total = ScatterAdd(V)(g * 2.0, idx) + ScatterAdd(V)(g, idx, dense)
    (rewritten,) = optimize([total])
    assert isinstance(rewritten.op, ScatterAdd)
    g0, i4, d0 = RNG.normal(size=(4, D)), np.array([0, 3, 0, 11]), RNG.normal(size=(V, D))
    got = sg.function([g, idx, dense], total, backend="numpy")(g0, i4, d0)
    np.testing.assert_allclose(got, _added_at(d0, i4, 3.0 * g0), rtol=1e-14)


def test_concatenated_lookups_of_consecutive_positions_are_one_lookup():
    """concatenate([E[idx[:, k]] for k in ks], axis=1) is E[idx[:, ks]] reshaped when
    ks are consecutive: one gather (and one scatter-add in its gradient); other
    concatenations of lookups stay as written. Values against NumPy either way."""
    idx, E = sg.matrix("idx", "batch", 5, dtype="int64"), sg.matrix("E", V, D)
    T = sg.tensor("T", (V, 2, D))

    def window(table, ks, row=slice(None), axis=1):
        return sg.concatenate([table[idx[row, k]] for k in ks], axis=axis)
    one = [window(E, range(5)), window(E, [1, 2, 3]), window(T, [2, 3]),
           window(E, [0, 1], 2, axis=0)]
    kept = [window(E, [0, 2]), window(E, [1, 0]), sg.concatenate([E[idx[:, 0]], T[idx[:, 1]][:, 0]],
                                                                   axis=1)]
    for x in optimize(one):
        kinds = [type(n.op) for n in toposort([x])]
        assert kinds.count(sg.ops.Gather) == 1 and sg.ops.Concatenate not in kinds
    for x in optimize(kept):
        assert sg.ops.Concatenate in [type(n.op) for n in toposort([x])]
    idx0, E0, T0 = RNG.integers(0, V, (6, 5)), RNG.normal(size=(V, D)), RNG.normal(size=(V, 2, D))
    wants = [E0[idx0].reshape(6, 5 * D), E0[idx0[:, 1:4]].reshape(6, 3 * D),
             T0[idx0[:, 2:4]].reshape(6, 4, D), E0[idx0[2, :2]].reshape(2 * D),
             E0[idx0[:, [0, 2]]].reshape(6, 2 * D), E0[idx0[:, [1, 0]]].reshape(6, 2 * D),
             np.concatenate([E0[idx0[:, 0]], T0[idx0[:, 1]][:, 0]], axis=1)]
    got = sg.function([idx, E, T], one + kept, backend="numpy")(idx0, E0, T0)
    for g, want in zip(got, wants):
        np.testing.assert_array_equal(g, want)
