"""The primitive registry, walked as a table (DESIGN.md "One op, one place").

Every registered primitive must define each facet itself (type, vjp,
evaluate, lower, index_form) and have a generated case here. For each case
the compiled (Numba) and reference (NumPy) backends agree on the value, the
gradient and a Hessian-vector product, and both derivatives match two-sided
finite differences of the level below (the cost weights the op's output
with random numbers and squares it, so linear ops have second derivatives).
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.ops import (FACETS, PRIMITIVES, ArgOneHot, Argsort, Broadcast, Concatenate,
                         Contract, Cumsum, Elemwise, Gather, PutAlong, Reduce, Reshape, Scan,
                         ScatterAdd, SetRows, Slice, SliceAdd, StopGradient, TakeAlong, Transpose)

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - skips the repeat

RNG = np.random.default_rng(7)


def _float(*shape):
    return RNG.standard_normal(shape)


def _cases():
    """{primitive class: [(name, float input, integer inputs {expr: array}, output builder)]}."""
    x = sg.matrix("x", 3, 4)
    n = sg.matrix("xn", "m", 4)  # a named dimension
    idx = sg.vector("idx", 5, dtype="int64")
    lab = sg.vector("lab", 3, dtype="int64")
    ints = {idx: np.array([2, 0, 2, 1, 2]), lab: np.array([3, 0, 1])}
    return {
        Elemwise: [("tanh*x", x, {}, sg.tanh(x) * x)],
        Contract: [("matmul", x, {}, x @ sg.constant(_float(4, 2))),
                   ("three operands", x, {}, sg.einsum("ij,jk,ik->i", x, sg.constant(
                       _float(4, 4)), x))],
        Broadcast: [("broadcast", x, {}, sg.broadcast_to(x[0], (2, 4)))],
        Reduce: [("max", x, {}, x.max(axis=1)), ("min named", n, {}, n.min(axis=0))],
        ArgOneHot: [("mask*x", x, {}, sg.ops.reduction.arg_one_hot(x, "max", (1,)) * x)],
        Reshape: [("reshape", x, {}, x.reshape((2, 6))), ("named", n, {}, n.reshape((-1,)))],
        Transpose: [("transpose", x, {}, x.T)],
        Gather: [("gather", x, ints, x[idx])],
        ScatterAdd: [("scatter", x, ints, ScatterAdd(6)(x[idx], idx))],
        TakeAlong: [("pick", x, ints, sg.pick(x, lab))],
        # idx repeats row 2 three times, each occurrence with other values: the last one wins
        SetRows: [("set_rows", x, ints, SetRows()(sg.tanh(x), idx, x[idx] * sg.constant(
            _float(5, 1)))),
                  ("2-d index", x, ints, SetRows()(x * 2.0, idx[:4].reshape((2, 2)),
                                                   sg.sin(x[idx[:4]]).reshape((2, 2, 4))))],
        PutAlong: [("put_along", x, ints, PutAlong(5)(x[:, 0], lab))],
        Concatenate: [("concatenate", x, {}, sg.concatenate([x, x[1:] * 2.0], axis=0))],
        Slice: [("slice", x, {}, x[1:, ::2]), ("reversed", x, {}, x[::-1, 2])],
        SliceAdd: [("slice_add", x, {}, SliceAdd((5, 4), ((1, 4, 1), (0, 4, 1)))(x))],
        Cumsum: [("axis 0", x, {}, sg.cumsum(x, axis=0)), ("axis 1", x, {}, sg.cumsum(x, 1)),
                 ("reversed", x, {}, Cumsum(1, reverse=True)(x)),
                 ("named", n, {}, sg.cumsum(n, axis=0))],
        # an integer output: its case is the float sort it drives (a gather at its positions)
        Argsort: [("sort", x, {}, sg.sort(x)), ("sort named axis", n, {}, sg.sort(n, axis=0))],
        Scan: [("axis 1", x, {}, Scan(1)(sg.tanh(x), x)),
               ("reversed", x, {}, Scan(1, reverse=True)(x, sg.tanh(x))),
               ("named reversed", n, {}, Scan(0, reverse=True)(n * 0.5, n))],
        # the shift of logsumexp/softmax: their value does not depend on it, so their
        # derivatives without it match finite differences (tests/test_stop_gradient.py
        # has the cases where they do not)
        StopGradient: [("logsumexp", x, {}, sg.logsumexp(x, axis=1)),
                       ("softmax named", n, {}, sg.softmax(n, axis=0))],
    }


CASES = _cases()


def test_every_primitive_defines_every_facet_and_has_a_case():
    missing = [(cls.__name__, facet) for cls in PRIMITIVES for facet in FACETS
               if not any(facet in k.__dict__ for k in cls.__mro__[:cls.__mro__.index(
                   sg.ops.Primitive)])]
    assert missing == []
    assert sorted(c.__name__ for c in PRIMITIVES) == sorted(c.__name__ for c in CASES)
    for cls in PRIMITIVES:
        assert isinstance(cls.label, str) or isinstance(cls.__dict__.get("label"), property)


def _problem(x, out):
    """cost = sum(w * out**2) (w random), its gradient wrt x, and the
    Hessian-vector product along v."""
    w = sg.tensor("w", out.shape, out.dtype)
    cost = (w * out * out).sum()
    g = sg.grad(cost, x)
    v = sg.tensor("v", x.shape)
    hv = sg.grad((g * v).sum(), x)
    return w, v, cost, g, hv


def _arrays(x, out, w, v, ints):
    """Random values: x (a named dimension bound to 3), w, v, and the integer inputs."""
    shape = tuple(d if isinstance(d, int) else 3 for d in x.shape)
    xs = _float(*shape)
    out_shape = np.shape(sg.function([x, *ints], out, backend="numpy")(xs, *ints.values()))
    return {x: xs, w: RNG.uniform(0.5, 1.5, size=out_shape), v: _float(*shape), **ints}


@pytest.mark.parametrize("cls,case", [(cls, c) for cls, cs in CASES.items() for c in cs],
                         ids=lambda p: p.__name__ if isinstance(p, type) else p[0])
def test_numpy_numba_and_finite_differences_agree(cls, case):
    name, x, ints, out = case
    assert any(type(n.op) is cls for n in sg.graph.toposort([out]))
    w, v, cost, g, hv = _problem(x, out)
    values = _arrays(x, out, w, v, ints)
    inputs = [x, w, v, *ints]
    arrays = [values[i] for i in inputs]
    ref = sg.function(inputs, [cost, g, hv], backend="numpy")(*arrays)
    got = sg.function(inputs, [cost, g, hv], backend="numba")(*arrays)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    # two-sided finite differences: the gradient along v, then the Hessian along v
    f = sg.function(inputs, [cost, g], backend="numpy")
    h = 1e-6
    plus = f(values[x] + h * values[v], *arrays[1:])
    minus = f(values[x] - h * values[v], *arrays[1:])
    np.testing.assert_allclose((plus[0] - minus[0]) / (2 * h), np.sum(ref[1] * values[v]),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose((plus[1] - minus[1]) / (2 * h), ref[2], rtol=1e-5, atol=1e-6)


def test_cumsum_matches_numpy_and_its_gradient_is_the_reversed_cumsum():
    x = sg.tensor("x", (2, "n", 3))
    a = _float(2, 5, 3)
    for axis in (0, 1, 2, -1, None):
        want = np.cumsum(a, axis=axis)
        for backend in ("numpy", "numba"):
            got = sg.function([x], sg.cumsum(x, axis=axis), backend=backend)(a)
            np.testing.assert_allclose(got, want, rtol=1e-13)
    g = _float(2, 5, 3)
    u = sg.tensor("u", (2, "n", 3))
    grad = sg.grad((sg.cumsum(x, axis=1) * u).sum(), x).eval({x: a, u: g})
    np.testing.assert_allclose(grad, np.flip(np.cumsum(np.flip(g, 1), axis=1), 1), rtol=1e-13)
    i32 = sg.vector("i", 4, dtype="int32")
    out = sg.cumsum(i32)
    assert out.dtype == "int64"
    big = np.full(4, 2**30, dtype=np.int32)
    assert sg.function([i32], out, backend="numba")(big).tolist() == np.cumsum(big).tolist()


def test_cumsum_prints_as_a_running_sum():
    x = sg.vector("x", "n")
    assert str(sg.cumsum(x).to_sympy()) == "Lambda(i, Sum(x[j], (j, 0, i)))"
    assert str(Cumsum(0, reverse=True)(x).to_sympy()) == "Lambda(i, Sum(x[j], (j, i, n - 1)))"
    assert sg.debugprint(sg.cumsum(x)).startswith("cumsum axis=0  float64 (n,)")
