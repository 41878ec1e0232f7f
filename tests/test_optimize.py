"""The rewrite stage (symgrad/optimize.py): each rewrite keeps the values
(checked against NumPy) and does what it says to the graph."""
import numpy as np

import symgrad as sg
from symgrad.graph import toposort
from symgrad.ops import Constant, Contract, Elemwise
from symgrad.optimize import optimize


def _ops(outputs, kind):
    return [n for n in toposort(outputs) if isinstance(n.op, kind)]


def test_a_gradient_wrt_a_node_a_graph_rule_would_skip_still_finds_it():
    x = sg.vector("x", 3)
    h = sg.sigmoid(x)
    cost = sg.log(h).sum()
    v = np.array([0.0, 1.0, -1.0])
    np.testing.assert_allclose(sg.grad(cost, h).eval({x: v}), 1 + np.exp(-v), rtol=1e-14)
    # with respect to x the rule applies: log(sigmoid) is -softplus(-x), finite at ±1000
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: [-1000.0, 0.0, 1000.0]}),
                               [1.0, 0.5, 0.0], atol=1e-300)


def test_three_operand_einsums_become_products_only_where_cheaper():
    rng = np.random.default_rng(3)
    A, B, C = sg.matrix("A", 20, 30), sg.matrix("B", 30, 40), sg.matrix("C", 40, 50)
    chain = sg.einsum("ij,jk,kl->il", A, B, C)
    (split,) = optimize([chain], for_backend=False)
    assert [len(n.inputs) for n in _ops([split], Contract)] == [2, 2]
    a, b, c = rng.standard_normal((20, 30)), rng.standard_normal((30, 40)), \
        rng.standard_normal((40, 50))
    np.testing.assert_allclose(split.eval({A: a, B: b, C: c}), a @ b @ c, rtol=1e-12)
    x = sg.vector("x", 5)
    cubes = sg.einsum("i,i,i->", x, x, x)  # pairwise is no cheaper: one loop
    (same,) = optimize([cubes], for_backend=False)
    assert same is cubes


def test_small_constants_fold_and_broadcasts_stay_views():
    c = sg.constant([1.0, 2.0, 3.0])
    (folded,) = optimize([sg.exp(c) * 2.0], for_backend=False)
    assert isinstance(folded.op, Constant)
    np.testing.assert_allclose(folded.op.value, np.exp([1.0, 2.0, 3.0]) * 2.0, rtol=1e-15)
    wide = sg.broadcast_to(sg.constant(1.0), (100, 100))
    (kept,) = optimize([wide], for_backend=False)
    assert kept is wide


def test_elementwise_chains_compose_for_a_backend_and_keep_their_values():
    x = sg.vector("x", 4)
    y = sg.exp(sg.tanh(sg.sin(x)) + x)
    (composed,) = optimize([y])
    assert len(_ops([composed], Elemwise)) == 1
    xv = np.array([-2.0, -0.5, 0.5, 3.0])
    want = np.exp(np.tanh(np.sin(xv)) + xv)
    np.testing.assert_allclose(sg.function([x], y, backend="numpy")(xv), want, rtol=1e-14)
    np.testing.assert_allclose(sg.function([x], y, backend="numba")(xv), want, rtol=1e-14)


def test_a_rebuilt_node_keeps_the_users_name():
    x = sg.vector("x", 3)
    h = sg.tanh(sg.log(sg.exp(x)))  # log(exp(x)) -> x, so h is rebuilt on x
    h.name = "h"
    (out,) = optimize([h * 2.0], for_backend=False)
    (rebuilt,) = [n for n in toposort([out]) if n._name == "h"]
    assert rebuilt.inputs == (x,)


def test_gradients_of_slices_that_tile_an_axis_become_one_concatenation():
    """z split into gates along axis 1: the gradient is the gates' gradients side
    by side (one concatenation), not one zero-filled array per gate, added."""
    from symgrad.ops.slicing import Concatenate, SliceAdd
    z = sg.matrix("z", 3, 8)
    a, b, c = z[:, :2], z[:, 2:5], z[:, 5:]
    cost = (sg.tanh(a).sum() * 2 + (sg.sigmoid(b) ** 2).sum() + (c * c * c).sum())
    (g,) = optimize([sg.grad(cost, z)])
    kinds = [type(n.op) for n in toposort([g])]
    assert isinstance(g.op, Concatenate) and SliceAdd not in kinds
    zv = np.random.default_rng(3).normal(size=(3, 8))
    s = 1 / (1 + np.exp(-zv[:, 2:5]))
    expected = np.concatenate([2 * (1 - np.tanh(zv[:, :2]) ** 2), 2 * s * s * (1 - s),
                               3 * zv[:, 5:] ** 2], axis=1)
    for backend in ("numpy", "numba"):
        np.testing.assert_allclose(sg.function([z], sg.grad(cost, z), backend=backend)(zv),
                                   expected, rtol=1e-12)
    # pieces that leave a gap stay slice_adds (zeros where no piece is)
    gap = (sg.tanh(z[:, :2]).sum() + sg.tanh(z[:, 4:]).sum())
    (g,) = optimize([sg.grad(gap, z)])
    assert not isinstance(g.op, Concatenate)
    t = np.tanh(zv)
    expected = np.concatenate([1 - t[:, :2] ** 2, np.zeros((3, 2)), 1 - t[:, 4:] ** 2], axis=1)
    np.testing.assert_allclose(sg.function([z], sg.grad(gap, z), backend="numpy")(zv),
                               expected, rtol=1e-12)
