"""Elementwise ops from SymPy formulas, with NumPy broadcasting.

Every built-in elementwise op (exp ... softplus, maximum, where) is a SymPy
formula made by :func:`elementwise`, exactly like a user's own; derivatives
come from ``sympy.diff`` (see ``derivatives.py``), never from a table.
Kink conventions (API.md): relu'(0) = 0, |x|'(0) = 0, hardtanh'(±1) = 0 and
ties of maximum/minimum go to the first argument; they are spelled out as
``Piecewise`` formulas whose pieces differentiate to exactly that.
"""
import inspect

import sympy

from .formulas import check_formula, params
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
    body = sympy.sympify(fn(*ps))
    if not isinstance(body, sympy.Expr) or body.has(sympy.I):
        raise TypeError(f"elementwise op {name!r}: the formula must be a real SymPy "
                        f"expression, got {body!r}")
    check_formula(body, ps, name)
    return ElementwiseFunction(sympy.Lambda(ps, body), name)
