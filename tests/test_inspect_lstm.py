"""Issue 13 (part 4): ``to_sympy`` of an unrolled LSTM's cost and gradients
takes time and space in proportion to the graph (it took 0.2 s at 1 step, 8 s
at 2 and 70 s at 3, and gradients 1.5 s at 1 step and 70-120 s at 2: nodes
that several others use were written out on every path); the nodes it writes
once (``Where``) keep the result equal to the graph."""
import time

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.sympy_algebra import Where, label_of
from symgrad.sympy_form import size
from models import lstm
from test_inspect_scaling import deadline


# ---------------------------------------------------------------- time and size

def _timed_forms(steps):
    """{label: (seconds, form)} for the cost and its gradient by each parameter."""
    cost, params, _ = lstm(steps, batch=32, hidden=64, inputs=64)
    out = {}
    for label, e in [("cost", cost)] + [(f"d/d{p.name}", sg.grad(cost, p)) for p in params]:
        start = time.perf_counter()
        with deadline(20, f"to_sympy of the {steps}-step LSTM's {label}"):
            form = e.to_sympy()
        out[label] = (time.perf_counter() - start, form)
    return out


def test_to_sympy_of_a_10_step_lstm_is_fast_and_grows_linearly():
    small, large = _timed_forms(5), _timed_forms(10)
    for label, (seconds, form) in large.items():
        assert isinstance(form, Where) and form.has(sympy.tanh), label
        assert seconds < 10, (label, seconds)  # about 1 s here; the deadline says 20
        # ten steps write about twice what five do (the number of paths grew 4**5 times)
        grew = size(form) / size(small[label][1])
        assert 1.5 < grew < 2.5, (label, size(small[label][1]), size(form))
        assert len(sympy.srepr(form)) < 2.5 * len(sympy.srepr(small[label][1])), label


# ---------------------------------------------------------------- equal to the graph

class _Value:
    """The value of an expression from to_sympy, given arrays for the inputs'
    names: Python numbers, element by element. A Where's definitions are
    worked out first (each from those before it), a Piecewise only where its
    condition holds (its other pieces may index past an edge), a matrix
    expression's entry through SymPy's own entry rule (``M[i, j]``)."""

    def __init__(self, values):
        self.values = dict(values)

    def array(self, form, shape):
        if isinstance(form, Where):
            for symbol, line in form.definitions:
                name = symbol.label.name if isinstance(symbol, sympy.IndexedBase) else symbol.name
                dims = () if isinstance(symbol, sympy.Symbol) else tuple(map(int, symbol.shape))
                if isinstance(line, sympy.Lambda) and len(line.variables) == 1:
                    dims = dims[:1]  # a vector, (n, 1) as a matrix symbol
                self.values[name] = self.array(line, dims)
            form = form.body
        out = np.empty(shape)
        for idx in np.ndindex(*shape):
            if isinstance(form, sympy.Lambda):
                out[idx] = self.of(form.expr, dict(zip(form.variables, idx)))
            else:  # a matrix expression (a vector is a column), or a scalar
                out[idx] = self.of(form[idx if len(idx) == 2 else idx + (0,)] if idx else form, {})
        return out

    def of(self, e, env):
        if isinstance(e, (sympy.Symbol, sympy.Dummy)):
            return env[e] if e in env else float(self.values[e.name])
        if isinstance(e, sympy.Indexed):
            return float(self.values[e.base.label.name][tuple(int(self.of(i, env))
                                                              for i in e.indices)])
        if isinstance(e, sympy.matrices.expressions.matexpr.MatrixElement):
            parent, i, j = e.args
            i, j = int(self.of(i, env)), int(self.of(j, env))
            if isinstance(parent, sympy.MatrixSymbol):
                value = np.asarray(self.values[parent.name])
                return float(value.reshape(len(value), -1)[i, j])
            return self.of(parent[i, j], env)
        if isinstance(e, sympy.Piecewise):
            return next(self.of(piece, env) for piece, cond in e.args if self.of(cond, env))
        if isinstance(e, sympy.Sum):
            (k, lo, hi), *rest = e.limits
            inner = sympy.Sum(e.function, *rest) if rest else e.function
            return sum(self.of(inner, {**env, k: n})
                       for n in range(int(self.of(lo, env)), int(self.of(hi, env)) + 1))
        if isinstance(e, (sympy.Trace, sympy.matrices.expressions.dotproduct.DotProduct)):
            return float(self.of(e.doit(deep=False) if isinstance(e, sympy.Trace) else
                                 sympy.MatMul(e.args[0].T, e.args[1])[0, 0], env))
        if not e.args:
            return e
        value = e.func(*[sympy.sympify(self.of(a, env)) for a in e.args])
        return bool(value) if isinstance(value, sympy.logic.boolalg.Boolean) else float(value)


@pytest.fixture(scope="module")
def small_lstm():
    """A 2-step LSTM of small sizes, its gradients and random values."""
    steps, batch, hidden, inputs = 2, 2, 2, 3
    cost, params, data = lstm(steps, batch, hidden, inputs)
    rng = np.random.default_rng(13)
    values = {v: rng.normal(0, 0.8, v.shape) for v in data + params}
    return cost, params, values


def _check(e, values):
    form = e.to_sympy()
    by_name = {v.name: value for v, value in values.items()}
    want = np.asarray(e.eval(values), float)
    got = _Value(by_name).array(form, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    return form


@pytest.mark.parametrize("target", ["cost", "Wx", "Wh", "b"])
def test_to_sympy_of_a_2_step_lstm_equals_the_graph(small_lstm, target):
    cost, params, values = small_lstm
    e = cost if target == "cost" else sg.grad(cost, next(p for p in params if p.name == target))
    form = _check(e, values)
    assert isinstance(form, Where) and form.definitions  # the shared nodes are written once


def _names(symbols):
    return {label_of(s) for s in symbols}


def test_where_written_out_equals_the_graph(small_lstm):
    """``Where.doit()`` writes the definitions out (into indexed elements,
    matrix symbols and, for an indexed definition read as a matrix, a
    FunctionMatrix): the same values. (The 2-step gradients written out have
    ~10**5 parts: the 1-step ones are checked.)"""
    cost, _, values = small_lstm
    one_step, params, data = lstm(1, 2, 2, 3)
    rng = np.random.default_rng(14)
    values_1 = {v: rng.normal(0, 0.8, v.shape) for v in data + params}
    for e, vals in [(cost, values), (sg.grad(one_step, params[1]), values_1)]:
        form = e.to_sympy()
        assert isinstance(form, Where)
        written = form.doit(deep=False)
        assert not written.has(Where)
        assert _names(written.free_symbols) == _names(form.free_symbols) == set(
            v.name for v in vals)
        if e is cost:
            assert written.has(sympy.FunctionMatrix)  # tanh.(v)[i, l] with v indexed
        want = np.asarray(e.eval(vals), float)
        got = _Value({v.name: value for v, value in vals.items()}).array(written, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
