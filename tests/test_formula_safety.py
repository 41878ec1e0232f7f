"""Formulas are compiled from SymPy objects: only SymPy's own classes may reach a backend.

A SymPy object prints itself (``_numpycode``, ``_pythoncode``, ``_print_*``),
so a Function subclass or an undefined Function that is merely *called* like a
supported one would put its own text into the generated module (issue 19,
item 3). Objects no backend can evaluate the same way (zoo, Subs, Sum,
constants beyond float64) are refused when the op is made, naming them.
"""
import os

import numpy as np
import pytest
import sympy

import symgrad as sg


class exp(sympy.Function):  # noqa: N801 - the point is the borrowed name
    """Prints code that leaves a mark if it ever runs."""

    def _numpycode(self, printer):
        return f"__import__('pathlib').Path({MARK!r}).touch()"

    _pythoncode = _numpycode

    def _print_NumbaPrinter(self, printer):
        return self._numpycode(printer)


class Max(sympy.Max):
    pass


MARK = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"symgrad-formula-mark-{os.getpid()}")

IMPOSTORS = [
    pytest.param(lambda t: exp(t), id="Function subclass called exp"),
    pytest.param(lambda t: sympy.Function("exp")(t), id="undefined Function exp"),
    pytest.param(lambda t: sympy.Function("Piecewise")(t), id="undefined Function Piecewise"),
    pytest.param(lambda t: Max(t, 0), id="subclass of Max"),
]


@pytest.mark.parametrize("formula", IMPOSTORS)
def test_a_function_is_accepted_by_identity_not_by_name(formula):
    with pytest.raises(ValueError, match="not SymPy's own|cannot compile"):
        sg.elementwise(formula)
    assert not os.path.exists(MARK)


UNCOMPILABLE = [
    pytest.param(lambda t: t * sympy.zoo, "zoo", id="zoo"),
    pytest.param(lambda t: sympy.Subs(t ** 2, t, 2 * t), "Subs", id="Subs"),
    pytest.param(lambda t: sympy.Sum(t, (sympy.Symbol("k"), 1, 3)), "Sum", id="Sum"),
    pytest.param(lambda t: sympy.Derivative(sympy.Function("f")(t), t), "Derivative|'f'", id="Derivative"),
    pytest.param(lambda t: t * sympy.Integer(10) ** 400, "beyond float64", id="huge integer"),
    pytest.param(lambda t: t + sympy.Float("-1e400"), "beyond float64", id="huge float"),
]


@pytest.mark.parametrize("formula, named", UNCOMPILABLE)
def test_objects_no_backend_evaluates_alike_are_refused_when_the_op_is_made(formula, named):
    with pytest.raises(ValueError, match=named):
        sg.elementwise(formula)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_infinities_and_tiny_constants_agree_with_numpy(backend):
    op = sg.elementwise(lambda t: sympy.Piecewise((sympy.oo, t > 0), (t * sympy.Float("1e-400"), True)))
    x = sg.vector("x", 3)
    got = sg.function([x], op(x), backend=backend)(np.array([1.0, -2.0, 0.0]))
    np.testing.assert_array_equal(got, [np.inf, -0.0, 0.0])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_number_that_folds_into_a_pole_divides_at_run_time(backend):
    x = sg.vector("x", 3)
    got = sg.function([x], x / 0.0, backend=backend)(np.array([1.0, -1.0, 0.0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got, np.array([1.0, -1.0, 0.0]) / 0.0)
