"""Elementwise ops from SymPy formulas, with NumPy broadcasting.

Every built-in elementwise op (exp ... softplus, maximum, where) is a SymPy
formula made by :func:`elementwise`, exactly like a user's own; derivatives
come from ``sympy.diff`` (see ``derivatives.py``), never from a table.
Kink conventions (API.md): relu'(0) = 0, |x|'(0) = 0, hardtanh'(±1) = 0 and
ties of maximum/minimum go to the first argument; they are spelled out as
``Piecewise`` formulas whose pieces differentiate to exactly that.
"""
import ast
import inspect
import linecache
import os
import re
import types

import numpy as np
import sympy

from .formulas import SUPPORTED_FUNCTIONS, check_formula, params
from .ops.elementwise import apply, cast  # noqa: F401 - cast is public here (sg.cast)


class ElementwiseFunction:
    """An elementwise op made from a SymPy formula; call it on expressions.

    Made by :func:`elementwise`. ``.formula`` is the ``sympy.Lambda``.
    """

    def __init__(self, formula, name):
        self.formula = formula
        self.name = name
        self.arity = len(formula.variables)

    def __call__(self, *args):
        if len(args) != self.arity:
            raise TypeError(f"{self.name} takes {self.arity} argument(s), got {len(args)}")
        return apply(self.formula, args, self.name)

    def __repr__(self):
        return f"<elementwise {self.name}: {self.formula}>"


def elementwise(fn, name=None):
    """Make an elementwise op from a scalar SymPy formula; its gradient is derived.

    ``fn`` takes one SymPy symbol per argument and returns a SymPy expression.
    The op broadcasts like NumPy, accepts expressions, numbers and arrays, and
    is differentiated by ``sympy.diff`` and compiled like any built-in op.

    >>> import sympy, symgrad as sg
    >>> swish = sg.elementwise(lambda t, beta: t / (1 + sympy.exp(-beta * t)), name="swish")
    >>> z = sg.vector("z", 2)
    >>> g = sg.grad(swish(z, 1.0).sum(), z)
    >>> g.eval({z: [0.0, 1.0]}).round(4)
    array([0.5   , 0.9277])
    """
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        raise TypeError(f"elementwise needs a function of scalar symbols, got {fn!r}") from None
    name = name or getattr(fn, "__name__", "elementwise")
    if name == "<lambda>":
        name = "elementwise"
    ps = params(n)
    body = sympy.sympify(_call_formula(fn, ps, name))
    if not isinstance(body, sympy.Expr) or body.has(sympy.I):
        raise TypeError(f"elementwise op {name!r}: the formula must be a real SymPy "
                        f"expression, got {body!r}")
    check_formula(body, ps, name)
    return ElementwiseFunction(sympy.Lambda(ps, body), name)


# ---------------------------------------------- NumPy or math functions in a formula

# NumPy's names whose SymPy spelling is not derived from SUPPORTED_FUNCTIONS' names
_SYMPY_SPELLINGS = {
    "sqrt": "sympy.sqrt", "square": "t**2", "power": "t**k", "pow": "t**k",
    "maximum": "sympy.Max", "fmax": "sympy.Max", "minimum": "sympy.Min", "fmin": "sympy.Min",
    "abs": "sympy.Abs", "absolute": "sympy.Abs", "fabs": "sympy.Abs", "ceil": "sympy.ceiling",
    "where": "sympy.Piecewise", "clip": "sympy.Min(sympy.Max(t, low), high)",
    "round": "symgrad.formulas.rint", "remainder": "symgrad.formulas.mod",
}
_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (np, sympy))


def _call_formula(fn, ps, name):
    """``fn(*ps)``; a NumPy or ``math`` function called on the SymPy symbols
    raises TypeError naming it and the SymPy function to use instead."""
    try:
        return fn(*ps)
    except (TypeError, AttributeError) as err:
        callee = _numeric_callee(err)
        if callee is None and "Cannot convert expression to float" in str(err):  # SymPy's words
            raise TypeError(f"elementwise op {name!r}: the formula turns its SymPy arguments "
                            "into numbers (math.exp(t), float(t), ...); use SymPy's functions "
                            "(sympy.exp, sympy.log, ...; formulas are SymPy expressions)") from err
        if callee is None:
            raise
        spelled, short = callee
        raise TypeError(f"elementwise op {name!r}: the formula calls {spelled} on its SymPy "
                        f"arguments, but NumPy's and math's functions need numbers; use "
                        f"{_sympy_spelling(short)} (formulas are SymPy expressions)") from err


def _sympy_spelling(numpy_name):
    """How to write NumPy's/math's ``numpy_name`` in a formula."""
    if numpy_name in _SYMPY_SPELLINGS:
        return _SYMPY_SPELLINGS[numpy_name]
    wanted = "a" + numpy_name[3:] if numpy_name.startswith("arc") else numpy_name  # arcsin: asin
    for f in SUPPORTED_FUNCTIONS:
        if f.__name__ == wanted:
            return f"sympy.{wanted}" if getattr(sympy, wanted, None) is f else f"{f.__module__}.{wanted}"
    return f"the SymPy function for {numpy_name} (sympy.exp, sympy.log, sympy.Max, ...)"


def _numeric_callee(err):
    """(``"np.exp"``, ``"exp"``) when ``err`` came from calling a NumPy or math
    function on SymPy objects in the formula's own code, else None."""
    call = _failed_call(err.__traceback__)
    if call is not None:
        return call
    # no source to read (e.g. a formula typed at ``python -c``): NumPy's message names its ufunc
    found = re.search(r"has no callable (\w+) method", str(err))
    return (f"numpy.{found.group(1)}", found.group(1)) if found else None


def _failed_call(tb):
    """The NumPy or math call at which the innermost frame outside NumPy and
    SymPy stopped: (its spelling in the source, the function's name), or None."""
    frame, lasti = None, -1
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            frame, lasti = tb.tb_frame, tb.tb_lasti
        tb = tb.tb_next
    if frame is None:
        return None
    try:
        line, end_line, col, end_col = list(frame.f_code.co_positions())[lasti // 2]
        lines = [linecache.getline(frame.f_code.co_filename, k).encode()
                 for k in range(line, end_line + 1)]
        lines[-1] = lines[-1][:end_col]
        lines[0] = lines[0][col:]
        node = ast.parse(b"".join(lines).decode().strip(), mode="eval").body
    except (AttributeError, TypeError, ValueError, IndexError, SyntaxError, UnicodeDecodeError):
        return None  # no co_positions (Python < 3.11), or no source to read
    if not isinstance(node, ast.Call):
        return None
    callee = _resolve(node.func, frame)
    module = (getattr(callee, "__module__", None) or "").partition(".")[0]
    if module not in ("numpy", "math", "cmath"):
        return None
    spelled = ast.unparse(node.func)
    if spelled.rpartition(".")[2] != callee.__name__:  # an alias: say what it is
        spelled += f" ({module}.{callee.__name__})"
    return spelled, callee.__name__


def _resolve(expr, frame):
    """The object a dotted name (``np.exp``, ``exp``) in ``frame`` stands for,
    looking only into modules (no attribute of other objects is evaluated)."""
    if isinstance(expr, ast.Name):
        scopes = (frame.f_locals, frame.f_globals, frame.f_builtins)
        return next((scope[expr.id] for scope in scopes if expr.id in scope), None)
    if isinstance(expr, ast.Attribute):
        owner = _resolve(expr.value, frame)
        if isinstance(owner, types.ModuleType):
            return getattr(owner, expr.attr, None)
    return None
