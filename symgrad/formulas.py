"""What an elementwise formula may contain: SymPy's arithmetic, choices and
the functions every backend prints (checked by class identity), and the
canonical parameters t0, t1, ... of formulas."""
import math

import numpy as np
import sympy
from sympy.codegen.cfunctions import exp2, expm1, hypot, isnan, log1p, log2, log10



# Functions SymPy lacks (or has only with a complex or unevaluated meaning). Each
# evaluates at numbers (so constant arguments fold), and each backend prints it
# by its class name: ``codegen.printer.NumbaPrinter._print_<name>`` and the NumPy
# function of that name in ``ops.elementwise._UFUNCS``.

class rint(sympy.Function):
    """x rounded to the nearest integer, halves to even (NumPy's rint); a step
    function, so its derivative is 0 (as PyTorch's round)."""
    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Integer:
            return x
        if x.is_Number:
            return sympy.Float(float(np.rint(float(x))))
        return None

    def fdiff(self, argindex=1):
        return sympy.S.Zero


class cbrt(sympy.Function):
    """The real cube root (NumPy's cbrt: cbrt(-8) = -2; SymPy's cbrt is the
    principal, complex root); d/dx = 1 / (3 cbrt(x)**2)."""
    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sympy.Float(float(np.cbrt(float(x))))
        return None

    def fdiff(self, argindex=1):
        return 1 / (3 * self ** 2)


class mod(sympy.Function):
    """NumPy's mod (remainder): x - y floor(x / y), with the divisor's sign.
    SymPy's Mod does not differentiate; this does: 1 and -floor(x / y)."""
    nargs = 2

    @classmethod
    def eval(cls, x, y):
        if x.is_Number and y.is_Number:
            with np.errstate(all="ignore"):
                return sympy.Float(float(np.mod(float(x), float(y))))
        return None

    def fdiff(self, argindex=1):
        x, y = self.args
        return sympy.S.One if argindex == 1 else -sympy.floor(x / y)


class isfinite(sympy.logic.boolalg.BooleanFunction):
    """True where x is neither inf nor nan: a condition for Piecewise. (SymPy's
    isinf is false for every real symbol, which SymPy takes to be finite.)"""
    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sympy.true if math.isfinite(float(x)) else sympy.false
        return None

    def _numpycode(self, printer):  # SymPy's code printers would recurse on it
        return f"numpy.isfinite({printer._print(self.args[0])})"


_PARAMS = [sympy.Symbol(f"t{i}", real=True) for i in range(64)]

# SymPy's own functions a formula may use: the ones every backend prints. Checked
# by class identity, never by name: a Function subclass or an undefined Function
# called "exp" would print itself into the generated code.
SUPPORTED_FUNCTIONS = frozenset({
    sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.asin, sympy.acos, sympy.atan,
    sympy.sinh, sympy.cosh, sympy.tanh, sympy.asinh, sympy.acosh, sympy.atanh, sympy.Abs,
    sympy.sign, sympy.Piecewise, sympy.Heaviside, sympy.Max, sympy.Min, sympy.floor,
    sympy.ceiling, sympy.erf, sympy.erfc, log1p, expm1, sympy.atan2,
    exp2, log2, log10, hypot, isnan, isfinite, rint, cbrt, mod, sympy.erfinv,
})
# the other SymPy classes a formula is made of: arithmetic, choices, conditions
_STRUCTURE = frozenset({
    sympy.Add, sympy.Mul, sympy.Pow, sympy.core.containers.Tuple, sympy.functions.elementary.
    piecewise.ExprCondPair, sympy.Eq, sympy.Ne, sympy.Lt, sympy.Le, sympy.Gt, sympy.Ge,
    sympy.And, sympy.Or, sympy.Not, sympy.Xor,
})
_ATOMS = (sympy.Number, sympy.NumberSymbol, sympy.logic.boolalg.BooleanAtom)
_FLOAT64_MAX = sympy.Float(np.finfo(np.float64).max)


def params(n):
    """The canonical formula parameters t0 ... t(n-1) (real symbols)."""
    if n > len(_PARAMS):
        _PARAMS.extend(sympy.Symbol(f"t{i}", real=True) for i in range(len(_PARAMS), n))
    return tuple(_PARAMS[:n])


def _unsupported(node, ps):
    """Why ``node`` (one node of a formula) cannot be compiled, or None."""
    kind = type(node)
    if isinstance(node, sympy.Symbol):
        return None if node in ps else f"the symbol {node} (symbols that are not its arguments cannot be compiled)"
    if kind in SUPPORTED_FUNCTIONS or kind in _STRUCTURE:
        return None
    if node is sympy.zoo:
        return "zoo (complex infinity, e.g. from a division by zero)"
    if isinstance(node, _ATOMS) and (kind.__module__ or "").startswith("sympy."):
        if node.is_finite and abs(node) > _FLOAT64_MAX:
            return f"the constant {node}, which is beyond float64's range"
        return None
    if isinstance(node, sympy.core.function.Application):
        supported = sorted(f.__name__ for f in SUPPORTED_FUNCTIONS)
        if kind.__name__ in supported:
            return (f"a function called {kind.__name__!r} that is not SymPy's own {kind.__name__} "
                    "(a subclass or an undefined Function)")
        return f"the SymPy function {kind.__name__!r}; supported: {', '.join(supported)}"
    return f"{kind.__name__} ({node})"


def check_formula(body, ps, name):
    """Raise ValueError naming anything in ``body`` that symgrad cannot compile.

    A formula may use its parameters ``ps``, finite float64 numbers, SymPy's
    arithmetic, comparisons and choices, and the SymPy functions in
    ``SUPPORTED_FUNCTIONS`` (SymPy's own classes, by identity).

    >>> t = sympy.Symbol("t0", real=True)
    >>> check_formula(sympy.Function("exp")(t), (t,), "f")
    Traceback (most recent call last):
    ...
    ValueError: elementwise op 'f' uses a function called 'exp' that is not SymPy's own exp (a subclass or an undefined Function); symgrad cannot compile it
    """
    for node in sympy.preorder_traversal(body):
        problem = _unsupported(node, ps)
        if problem is not None:
            if isinstance(node, sympy.Symbol):
                problem += "; make it an argument of the function"
            raise ValueError(f"elementwise op {name!r} uses {problem}; symgrad cannot compile it")
