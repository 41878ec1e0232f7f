"""codegen on its own (no symgrad): the printer's scalar semantics against
NumPy, and the compiler's module file and in-process reuse."""
import math
import os

import numpy as np
import pytest
import sympy

from symgrad_codegen import (Alloc, Compute, Index, Load, Loop, NumbaPrinter, Program, Store,
                     compile_program)

t0, t1 = sympy.symbols("t0 t1", real=True)
n = sympy.Symbol("n0", integer=True)
POINTS = np.array([-2.5, -1.0, -0.0, 0.0, 0.5, 3.0, np.inf, -np.inf, np.nan])

# (formula, NumPy reference): functions the printer writes itself
FORMULAS = [
    (sympy.Heaviside(t0, 0), lambda x: np.heaviside(x, 0.0)),
    (sympy.Heaviside(t0), lambda x: np.heaviside(x, 0.5)),
    (sympy.Max(t0, 0.5), lambda x: np.maximum(x, 0.5)),
    (sympy.Min(t0, 0.5, -t0), lambda x: np.minimum(np.minimum(x, 0.5), -x)),
    (sympy.sign(t0), np.sign),
    (sympy.Piecewise((t0 ** 2, t0 < 0), (sympy.exp(t0), True)),
     lambda x: np.where(x < 0, x ** 2, np.exp(x))),
    (sympy.Piecewise((0, sympy.Eq(t0, 0)), (t0 * sympy.log(abs(t0)), True)),
     lambda x: np.where(x == 0, 0.0, x * np.log(np.abs(x)))),
    (sympy.floor(t0) + sympy.ceiling(t0 / 2), lambda x: np.floor(x) + np.ceil(x / 2)),
    (t0 ** 3 - 1 / t0 ** 2 + sympy.sqrt(abs(t0)), lambda x: x ** 3 - 1 / x ** 2 + np.sqrt(np.abs(x))),
]


def _elementwise(formula, dtype):
    body = (Load("a", "x0", (Index(0),)), Compute("b", sympy.Lambda((t0,), formula), ("a",), dtype),
            Store("y", (Index(0),), "b"))
    program = Program(("x0", "n0"), (Alloc("y", dtype, (n,)), Loop((n,), body)), ("y",))
    return compile_program(program).function


@pytest.mark.parametrize("formula, reference", FORMULAS, ids=[str(f) for f, _ in FORMULAS])
def test_printed_formulas_match_numpy_including_inf_nan_and_signed_zero(formula, reference):
    (got,) = _elementwise(formula, "float64")(POINTS, len(POINTS))
    with np.errstate(all="ignore"):
        want = reference(POINTS)
    np.testing.assert_array_equal(got, want)


def test_float32_literals_keep_float32():
    printed = NumbaPrinter("float32").doprint(t0 * sympy.Float(0.1) + sympy.Rational(1, 3))
    assert printed == "np.float32(0.1)*t0 + np.float32(0.3333333333333333)"
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    (got,) = _elementwise(t0 * sympy.Float(0.1) + sympy.Rational(1, 3), "float32")(x, 7)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x * np.float32(0.1) + np.float32(1 / 3))


def test_expensive_choices_branch_and_cheap_ones_select():
    printer = NumbaPrinter("float64")
    lazy = printer.doprint(sympy.Piecewise((sympy.erf(t0), t0 > 0), (sympy.gamma(t1), True)))
    # a nan t0 makes the comparison false; it must still reach the result
    assert lazy == "(math.erf(t0) if (t0 > 0.0) else select((t0 != t0), np.nan, math.gamma(t1)))"
    eager = printer.doprint(sympy.Piecewise((0, sympy.Eq(t0, 0)), (t0 * sympy.erf(t1), True)))
    assert eager == "select((t0 == 0.0), 0.0, t0*math.erf(t1))"
    # vectorisable math is cheap and branch-free: both pieces are computed, one is picked
    both = printer.doprint(sympy.Piecewise((sympy.exp(t0), t0 > 0), (sympy.log(t1), True)))
    assert both == "select((t0 > 0.0), vexp(t0), select((t0 != t0), np.nan, vlog(t1)))"
    libm = NumbaPrinter("float64", vector_math=False).doprint(
        sympy.Piecewise((sympy.exp(t0), t0 > 0), (sympy.log(t1), True)))
    assert libm == "(math.exp(t0) if (t0 > 0.0) else select((t0 != t0), np.nan, math.log(t1)))"


def test_module_is_written_once_to_the_cache_folder_and_reused(tmp_path):
    body = (Load("a", "x0", (Index(0),)), Store("y", (Index(None),), "a", "+="))
    program = Program(("x0", "n0"), (Alloc("y", "float64", (1,), 0), Loop((n,), body)), ("y",))
    first = compile_program(program, str(tmp_path), salt="test")
    assert first.path == os.path.join(str(tmp_path), f"kernel_{first.key}.py")
    with open(first.path) as f:
        assert f.read() == first.source
    assert compile_program(program, str(tmp_path), salt="test") is first
    assert compile_program(program, str(tmp_path), salt="other").key != first.key
    (total,) = first.function(np.arange(5.0), 5)
    assert total[0] == 10.0
    assert math.isnan(first.function(np.array([1.0, np.nan]), 2)[0][0])
