"""NumPy's ufuncs and functions on expressions build symgrad ops (issue 15, item 3).

Most cases are one lambda written with ``np.``: called on expressions it builds a
graph (through ``Expr.__array_ufunc__`` / ``__array_function__``), called on the
arrays it is NumPy's own computation, the independent reference for the values
and, by two-sided finite differences, for the gradients.
"""
import math
import re
from math import exp as math_exp

import numpy as np
import pytest

import symgrad as sg
from symgrad.numpy_interop import table

RNG = np.random.default_rng(15)
X = sg.matrix("X", 2, 3)
Y = sg.matrix("Y", 2, 3)
V = sg.vector("v", 3)
XV = np.array([[0.25, 0.5, 0.75], [0.4, 0.3, 0.9]])
YV = np.array([[0.25, 1.5, 0.6], [0.4, 0.2, 2.0]])  # ties with XV at [0, 0] and [1, 0]
VV = np.array([0.3, -0.7, 1.1])
VALUES = {X: XV, Y: YV, V: VV}


def evaluate(e):
    return np.asarray(sg.evaluate(e, VALUES), dtype=float)


UFUNCS = sorted((u for u in table() if isinstance(u, np.ufunc) and u is not np.matmul),
                key=lambda u: u.__name__)
SHIFT = {np.arccosh: 1.0}  # into the domain where NumPy's value is finite


@pytest.mark.parametrize("ufunc", UFUNCS, ids=lambda u: u.__name__)
def test_every_mapped_ufunc_builds_the_op_numpy_computes(ufunc):
    shift = SHIFT.get(ufunc, 0.0)
    exprs, arrays = [X + shift, Y][:ufunc.nin], [XV + shift, YV][:ufunc.nin]
    built = ufunc(*exprs)
    assert isinstance(built, sg.Expr), type(built)
    with np.errstate(all="ignore"):
        expected = ufunc(*arrays).astype(float)
    np.testing.assert_allclose(evaluate(built), expected, rtol=1e-12, atol=1e-15)
    fn, _ = table()[ufunc]
    assert built == fn(*exprs)  # the very node symgrad's own op builds


# every NumPy function symgrad has under the same name, written once for both worlds
FUNCTIONS = {
    "sum": lambda x, y, v: np.sum(x, axis=0), "mean": lambda x, y, v: np.mean(x, axis=1),
    "max": lambda x, y, v: np.max(x, axis=1), "min": lambda x, y, v: np.min(x),
    "amax": lambda x, y, v: np.amax(x, 0), "amin": lambda x, y, v: np.amin(x, axis=1),
    "prod": lambda x, y, v: np.prod(x, axis=1, keepdims=True),
    "cumsum": lambda x, y, v: np.cumsum(x, axis=1), "cumprod": lambda x, y, v: np.cumprod(x, 0),
    "var": lambda x, y, v: np.var(x, axis=1, ddof=1), "std": lambda x, y, v: np.std(x),
    "norm": lambda x, y, v: np.linalg.norm(v), "argmax": lambda x, y, v: np.argmax(x, axis=1),
    "argmin": lambda x, y, v: np.argmin(y, axis=0), "sort": lambda x, y, v: np.sort(v),
    "argsort": lambda x, y, v: np.argsort(v),
    "take_along_axis": lambda x, y, v: np.take_along_axis(x, np.array([[2], [0]]), axis=1),
    "dot": lambda x, y, v: np.dot(x, v), "einsum": lambda x, y, v: np.einsum("ij,j->i", x, v),
    "tensordot": lambda x, y, v: np.tensordot(x, y, axes=([1], [1])),
    "outer": lambda x, y, v: np.outer(v, v), "inner": lambda x, y, v: np.inner(x, y),
    "kron": lambda x, y, v: np.kron(v, v), "cross": lambda x, y, v: np.cross(x, y),
    "diagonal": lambda x, y, v: np.diagonal(x), "trace": lambda x, y, v: np.trace(x, offset=1),
    "diag": lambda x, y, v: np.diag(v), "triu": lambda x, y, v: np.triu(x),
    "tril": lambda x, y, v: np.tril(x, -1),
    "where": lambda x, y, v: np.where(x > y, x, 0.0), "clip": lambda x, y, v: np.clip(x, 0.3, 0.6),
    "round": lambda x, y, v: np.round(x, 1), "around": lambda x, y, v: np.around(v),
    "sinc": lambda x, y, v: np.sinc(v),
    "concatenate": lambda x, y, v: np.concatenate([x, np.ones((1, 3))]),
    "concat": lambda x, y, v: np.concat([x, y], axis=1),
    "stack": lambda x, y, v: np.stack([x, y], axis=-1),
    "vstack": lambda x, y, v: np.vstack([x, v]), "hstack": lambda x, y, v: np.hstack([x, y]),
    "column_stack": lambda x, y, v: np.column_stack([v, v]),
    "dstack": lambda x, y, v: np.dstack([x, y]),
    "split": lambda x, y, v: np.split(x, 3, axis=1),
    "array_split": lambda x, y, v: np.array_split(v, 2),
    "reshape": lambda x, y, v: np.reshape(x, (3, 2)), "ravel": lambda x, y, v: np.ravel(x),
    "transpose": lambda x, y, v: np.transpose(x),
    "permute_dims": lambda x, y, v: np.permute_dims(x, (1, 0)),
    "broadcast_to": lambda x, y, v: np.broadcast_to(v, (4, 3)),
    "broadcast_arrays": lambda x, y, v: np.broadcast_arrays(x, v),
    "moveaxis": lambda x, y, v: np.moveaxis(x, 0, 1), "swapaxes": lambda x, y, v: np.swapaxes(x, 0, 1),
    "diff": lambda x, y, v: np.diff(x, axis=1), "pad": lambda x, y, v: np.pad(v, (1, 2)),
    "flip": lambda x, y, v: np.flip(x, axis=1), "roll": lambda x, y, v: np.roll(v, 1),
    "tile": lambda x, y, v: np.tile(v, 2), "repeat": lambda x, y, v: np.repeat(v, 2),
    "squeeze": lambda x, y, v: np.squeeze(np.expand_dims(x, 0)),
    "expand_dims": lambda x, y, v: np.expand_dims(v, 1),
    "atleast_1d": lambda x, y, v: np.atleast_1d(v), "atleast_2d": lambda x, y, v: np.atleast_2d(v),
    "atleast_3d": lambda x, y, v: np.atleast_3d(x),
    "zeros_like": lambda x, y, v: np.zeros_like(x) + x,
    "ones_like": lambda x, y, v: np.ones_like(v) * v,
    "full_like": lambda x, y, v: np.full_like(x, 2.5) - y,
    "matmul": lambda x, y, v: np.matmul(x, v), "at": lambda x, y, v: np.ones((4, 2)) @ x,
}


def _as_list(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


@pytest.mark.parametrize("case", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_numpy_functions_build_symgrad_ops(case):
    built, expected = _as_list(case(X, Y, V)), _as_list(case(XV, YV, VV))
    assert len(built) == len(expected)
    for b, e in zip(built, expected):
        assert isinstance(b, sg.Expr), type(b)
        assert b.shape == e.shape
        np.testing.assert_allclose(evaluate(b), e, rtol=1e-12, atol=1e-15)


def test_every_mapped_numpy_function_is_tested_above():
    """The table is derived from symgrad's names: a name added there must get a case."""
    covered = {getattr(np, name, None) for name in FUNCTIONS} | {np.linalg.norm}
    not_on_arrays = {np.zeros, np.ones, np.full, np.arange, np.eye}  # NumPy never dispatches them
    functions = {f for f in table() if not isinstance(f, np.ufunc)}
    untested = sorted(f.__name__ for f in functions - covered - not_on_arrays)
    assert not untested


def test_the_table_maps_numpy_names_to_the_same_symgrad_names():
    for numpy_name in ("exp", "tanh", "sum", "dot", "where", "concatenate", "einsum", "equal"):
        fn, spelling = table()[getattr(np, numpy_name)]
        assert fn is getattr(sg, numpy_name) and spelling == f"sg.{numpy_name}"
    assert np.exp(X) == sg.exp(X) and np.sum(X, axis=0) == sg.sum(X, axis=0)


@pytest.mark.parametrize("method", [
    lambda x: np.add.reduce(x), lambda x: np.add.reduce(x, axis=1, keepdims=True),
    lambda x: np.multiply.reduce(x, axis=None), lambda x: np.maximum.reduce(x, axis=1),
    lambda x: np.minimum.reduce(x), lambda x: np.logaddexp.reduce(x, axis=1),
    lambda x: np.add.accumulate(x), lambda x: np.multiply.accumulate(x, axis=1),
], ids=["add.reduce", "add.reduce keepdims", "multiply.reduce all", "maximum.reduce",
        "minimum.reduce", "logaddexp.reduce", "add.accumulate", "multiply.accumulate"])
def test_ufunc_reduce_and_accumulate_build_reductions(method):
    built, expected = method(X), method(XV)
    assert built.shape == expected.shape
    np.testing.assert_allclose(evaluate(built), expected, rtol=1e-12)


# ------------------------------------------------ arrays and NumPy scalars on the left

def test_arrays_and_numpy_scalars_on_the_left_give_expressions():
    a = RNG.normal(size=3)
    M = RNG.normal(size=(4, 3))
    cases = [(a + V, a + VV), (a * V, a * VV), (a - V, a - VV), (a / (V + 2), a / (VV + 2)),
             (M @ V, M @ VV), (np.float64(2.0) * V, 2.0 * VV), (np.array(2.0) * V, 2.0 * VV),
             (np.ones(3) + V, 1.0 + VV), (np.int64(3) - V, 3 - VV), (a ** 2 * V, a ** 2 * VV),
             (a < V, (a < VV).astype(float)), (a >= V, (a >= VV).astype(float))]
    for built, expected in cases:
        assert isinstance(built, sg.Expr), type(built)
        np.testing.assert_allclose(evaluate(built), expected, rtol=1e-14)


@pytest.mark.parametrize("left, dtype", [
    (np.float64(2.0), "float32"),  # a scalar folds into the formula, as x * np.float64(2) does
    (np.float32(2.0), "float32"), (2.0, "float32"),
    (np.array(2.0), "float64"),  # an array is a strong constant
    (np.ones(3), "float64"), (np.ones(3, dtype=np.float32), "float32"),
])
def test_operands_from_the_left_keep_symgrad_dtype_rules(left, dtype):
    x = sg.vector("x", 3, dtype="float32")
    assert (left * x).dtype == dtype
    assert (left * x).dtype == (x * left).dtype  # the same either way round
    assert (left + x) == x.__radd__(left)  # the node the reflected operator builds


def test_equality_stays_identity_on_expressions():
    a = np.array([0.3, 0.0, 1.1])
    assert (V == V) is True and (np.exp(V) == sg.exp(V)) is True and (V == X) is False
    assert (V == a) is False and (V != a) is True
    assert {np.exp(V): 1}[sg.exp(V)] == 1
    # NumPy reads arr == x as np.equal: the elementwise sg.eq, whose truth value is refused
    built = a == V
    np.testing.assert_array_equal(evaluate(built), [1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="truth value"):
        bool(built)
    np.testing.assert_array_equal(evaluate(np.equal(V, 0.3)), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(evaluate(np.not_equal(V, a)), [0.0, 1.0, 0.0])


def test_a_graph_built_with_numpy_compiles():
    a = RNG.normal(size=3)
    f = sg.function([V], np.sum(np.exp(V) * a + np.maximum(V, 0)), backend="numpy")
    assert float(f(VV)) == pytest.approx(np.sum(np.exp(VV) * a + np.maximum(VV, 0)), rel=1e-13)


# ------------------------------------------------------------ gradients

def _finite_differences(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        g[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return g


W = sg.matrix("W", 2, 3)
WV = RNG.normal(size=(2, 3))
COSTS = {
    "exp tanh sum": lambda w, v: np.sum(np.tanh(np.dot(w, v)) * np.exp(0.5 * w[:, 0])),
    "maximum where": lambda w, v: np.mean(np.maximum(w, 0.1) * np.where(w > 0, w, -2 * w)),
    "concatenate logaddexp": lambda w, v: np.max(np.logaddexp.reduce(
        np.concatenate([w, np.sin(w)], axis=1), axis=1)),
    "einsum sqrt": lambda w, v: np.einsum("ij,ij->", w, w) + np.sum(np.sqrt(np.square(w) + 1)),
}


@pytest.mark.parametrize("cost", COSTS.values(), ids=COSTS.keys())
def test_gradients_flow_through_numpy_built_graphs(cost):
    g = sg.grad(cost(W, V), W)
    expected = _finite_differences(lambda w: cost(w, VV), WV)
    np.testing.assert_allclose(sg.evaluate(g, {W: WV, V: VV}), expected, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------ what is refused, and how

@pytest.mark.parametrize("call, message", [
    (lambda: np.fmod(V, 2.0), r"numpy\.fmod has no symgrad counterpart \(called on 'v'"),
    (lambda: np.median(V), r"numpy\.median has no symgrad counterpart"),
    (lambda: np.linalg.inv(X), r"numpy\.linalg\.inv has no symgrad counterpart"),
    (lambda: np.exp(V, out=np.zeros(3)), r"out=.*cannot be written into an array"),
    (lambda: np.exp(V, dtype=np.float32), r"builds sg\.exp, which takes no keyword dtype.*sg\.cast"),
    (lambda: np.add(V, 1.0, where=np.ones(3, bool)), r"builds a \+ b, which takes no keyword where"),
    (lambda: np.add.outer(V, V), r"numpy\.add\.outer .*no symgrad counterpart.*numpy\.add\.reduce"),
    (lambda: np.add.reduce(V, dtype=np.float32), r"builds sg\.sum, which takes no dtype"),
    (lambda: np.sum(V, dtype=np.float32), r"numpy\.sum on 'v' .* builds sg\.sum, whose arguments "
                                          r"are \(x, axis=None, keepdims=False\).*dtype"),
    (lambda: np.where(V), r"numpy\.where on 'v' .* builds sg\.where"),
    (lambda: np.asarray(V), r"'v' \(float64, shape \(3,\)\) is symbolic.*expr\.eval"),
    (lambda: np.array([V, V]), r"is symbolic.*sg\.function"),
])
def test_unsupported_calls_say_what_to_use(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_in_place_operators_on_arrays_refuse_and_leave_the_array_alone():
    a = np.arange(3.0)
    with pytest.raises(TypeError, match=r"y = a \+ x rather than a \+= x"):
        a += V
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])


def test_another_array_library_gets_its_turn():
    class Other:
        def __array_function__(self, func, types, args, kwargs):
            return "other's"

    assert np.concatenate([V, Other()]) == "other's"


# ------------------------------------- NumPy or math functions inside sg.elementwise formulas

def _swish_with_numpy(t, beta):
    return t / (1 + np.exp(-beta * t))


@pytest.mark.parametrize("formula, called, use", [
    (lambda t: np.exp(t), "np.exp", "sympy.exp"),
    (lambda t: math.exp(t), "math.exp", "sympy.exp"),
    (lambda t: 1 + np.tanh(2 * t), "np.tanh", "sympy.tanh"),
    (lambda t: math.log(t), "math.log", "sympy.log"),
    (lambda t: np.maximum(t, 0), "np.maximum", "sympy.Max"),
    (lambda t: np.arcsin(t), "np.arcsin", "sympy.asin"),
    (lambda t: np.log1p(t), "np.log1p", "sympy.codegen.cfunctions.log1p"),
    (lambda t: math_exp(t), r"math_exp \(math.exp\)", "sympy.exp"),
    (_swish_with_numpy, "np.exp", "sympy.exp"),
])
def test_numpy_and_math_in_a_formula_say_use_sympy(formula, called, use):
    with pytest.raises(TypeError, match=rf"elementwise op 'f': the formula calls {called} on its "
                                        rf"SymPy arguments.* use {re.escape(use)} \(formulas are "
                                        r"SymPy expressions\)"):
        sg.elementwise(formula, name="f")


def test_formula_without_readable_source_still_gets_the_fix():
    namespace = {"np": np, "math": math}
    exec("numpy_formula = lambda t: np.exp(t)\nmath_formula = lambda t: math.exp(t)", namespace)
    with pytest.raises(TypeError, match=r"calls numpy\.exp .* use sympy\.exp"):
        sg.elementwise(namespace["numpy_formula"], name="f")
    with pytest.raises(TypeError, match=r"turns its SymPy arguments into numbers.*sympy\.exp"):
        sg.elementwise(namespace["math_formula"], name="f")


def test_other_errors_in_a_formula_are_left_alone():
    with pytest.raises(AttributeError, match="has no attribute 'foo'"):
        sg.elementwise(lambda t: t.foo, name="f")
    with pytest.raises(ZeroDivisionError):
        sg.elementwise(lambda t: 1 / 0, name="f")
