"""Numerical-stability rewrites, kept as data: pattern -> replacement.

Two tables:

* ``FORMULA_RULES`` rewrite SymPy formulas just before they are evaluated
  (forward formulas and derived derivatives alike, built-in or a user's own),
  e.g. log(1 + e^w) -> softplus without overflow, e^(m w) / (1 + e^w)^n ->
  the same ratio divided through by e^(n w) where w > 0, log(1 + x) -> log1p(x),
  e^x - 1 -> expm1(x). They only change how a value is computed, never what
  is differentiated, so they cannot add a kink to a derivative.
* ``graph_rules()`` rewrite elementwise graph patterns while a graph is
  built, before anything is differentiated: log(exp(z)) -> z (so
  log(softmax(x)) becomes log_softmax(x)), log(sigmoid(x)) -> -softplus(-x).
"""
import functools

import sympy
from sympy import Piecewise, exp, log
from sympy.codegen.cfunctions import expm1, log1p


def _one_plus_exp(b):
    """w when ``b`` is 1 + exp(w), else None."""
    if b.is_Add and len(b.args) == 2 and sympy.S.One in b.args:
        other = b.args[0] if b.args[1] == 1 else b.args[1]
        if isinstance(other, exp):
            return other.args[0]
    return None


def _stable_softplus(w):
    return Piecewise((w + log1p(exp(-w)), w > 0), (log1p(exp(w)), True))


def log_one_plus_exp(e):
    """log((1 + e^w)^k) -> k * softplus(w), evaluated without overflow."""
    if not isinstance(e, log):
        return None
    arg, k = e.args[0], sympy.S.One
    if arg.is_Pow and arg.exp.is_number:
        arg, k = arg.base, arg.exp
    w = _one_plus_exp(arg)
    return None if w is None else k * _stable_softplus(w)


def exp_ratio(e):
    """e^(m w) / (1 + e^w)^n with 0 < m <= n -> divided through by e^(n w) for w > 0."""
    if not e.is_Mul:
        return None
    for den in e.args:
        if not (den.is_Pow and den.exp.is_number and den.exp < 0):
            continue
        w = _one_plus_exp(den.base)
        if w is None:
            continue
        n, m, rest = -den.exp, 0, []
        for f in e.args:
            ratio = f.args[0] / w if isinstance(f, exp) else None
            if f is not den and ratio is not None and ratio.is_number and 0 < ratio <= n and m == 0:
                m = ratio
            elif f is not den:
                rest.append(f)
        if m:
            divided = sympy.Mul(*rest) * exp((m - n) * w) * (1 + exp(-w)) ** (-n)
            return Piecewise((divided, w > 0), (e, True))
    return None


def log_one_plus(e):
    """log(1 + x) -> log1p(x)."""
    if isinstance(e, log) and e.args[0].is_Add and sympy.S.One in e.args[0].args:
        return log1p(e.args[0] - 1)
    return None


def exp_minus_one(e):
    """... + e^x - 1 -> ... + expm1(x)."""
    if e.is_Add and sympy.S.NegativeOne in e.args:
        for f in e.args:
            if isinstance(f, exp):
                return e - f + 1 + expm1(f.args[0])
    return None


FORMULA_RULES = (log_one_plus_exp, exp_ratio, log_one_plus, exp_minus_one)


def stabilise(expr):
    """``expr`` with FORMULA_RULES applied bottom-up (each node once).

    >>> import sympy
    >>> t = sympy.Symbol("t", real=True)
    >>> stabilise(sympy.log(1 + t**2))
    log1p(t**2)
    """
    if expr.is_Atom:
        return expr
    args = [stabilise(a) for a in expr.args]
    if any(a is not b for a, b in zip(args, expr.args)):
        expr = expr.func(*args)
    for rule in FORMULA_RULES:
        out = rule(expr)
        if out is not None:
            return out
    return expr


@functools.cache
def graph_rules():
    """{(outer formula, inner formula): replacement(x)} for outer(inner(x))."""
    from . import elementwise_ops as ew
    return {
        (ew._log.formula, ew._exp.formula): lambda x: x,
        (ew._log.formula, ew._sigmoid.formula): lambda x: -ew.softplus(-x),
    }


def rewrite_graph(node):
    """Apply ``graph_rules()`` to a freshly built unary elementwise node."""
    from .elementwise import cast
    from .ops import Elemwise
    if len(node.inputs) != 1 or not isinstance(node.inputs[0].op, Elemwise):
        return node
    inner = node.inputs[0]
    if len(inner.inputs) != 1:
        return node
    rule = graph_rules().get((node.op.formula, inner.op.formula))
    return node if rule is None else cast(rule(inner.inputs[0]), node.dtype)
