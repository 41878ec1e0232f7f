"""``expr.to_sympy()`` for 0-d elementwise graphs: a plain SymPy formula.

Inputs become real SymPy symbols named after the variables; each elementwise
node substitutes its arguments into its formula. The zero-upstream guard of
derived gradients (derivatives.py) is dropped: it changes no value where the
formula is finite. Tensor graphs get matrix forms with the inspection issue.
"""
import sympy

from .graph import toposort
from .ops import Constant, Elemwise, Input


def _unguard(e):
    """Piecewise((0, Eq(g, 0)), (p, True)) -> p."""
    return e.replace(
        lambda a: (isinstance(a, sympy.Piecewise) and len(a.args) == 2 and a.args[0].expr == 0
                   and isinstance(a.args[0].cond, sympy.Eq) and a.args[1].cond == True),  # noqa: E712
        lambda a: a.args[1].expr)


def to_sympy(expr):
    """A SymPy expression equal to the 0-d graph ``expr``.

    >>> import symgrad as sg
    >>> x, y = sg.scalar("x"), sg.scalar("y")
    >>> sg.grad(x * sg.sin(y), y).to_sympy()
    x*cos(y)
    """
    if expr.ndim != 0:
        raise NotImplementedError(f"to_sympy of the tensor graph {expr.describe()} is not "
                                  "supported yet; 0-d elementwise graphs are")
    forms = {}
    for node in toposort([expr]):
        if isinstance(node.op, Input):
            forms[node] = sympy.Symbol(node.name, real=True)
        elif isinstance(node.op, Constant) and node.ndim == 0:
            value = node.op.value.item()
            forms[node] = sympy.Integer(int(value)) if float(value).is_integer() else \
                sympy.Float(value)
        elif isinstance(node.op, Elemwise) and node.ndim == 0:
            forms[node] = _unguard(node.op.formula(*(forms[i] for i in node.inputs)))
        else:
            raise NotImplementedError(f"to_sympy: {node.describe()} is not a 0-d "
                                      "elementwise node")
    return forms[expr]
