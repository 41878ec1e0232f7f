"""Numerical-stability rewrites, kept as data: pattern -> replacement.

Two tables:

* ``FORMULA_RULES`` rewrite SymPy formulas just before they are evaluated
  (forward formulas and derived derivatives alike, built-in or a user's own),
  e.g. log(1 + e^w) -> softplus and log(e^a + e^b) -> logaddexp without
  overflow, e^c / (e^a + e^b)^n -> the same ratio divided through by the
  largest e^(n a), log(1 + x) -> log1p(x), e^x - 1 -> expm1(x). They only change how a value is computed, never what
  is differentiated, so they cannot add a kink to a derivative.
* ``graph_rules()`` rewrite elementwise graph patterns while a graph is
  built, before anything is differentiated: log(exp(z)) -> z (so
  log(softmax(x)) becomes log_softmax(x)), log(sigmoid(x)) -> -softplus(-x),
  log(1 - sigmoid(x)) -> -softplus(x).
"""
import functools

import sympy
from sympy import Piecewise, exp, log
from sympy.codegen.cfunctions import expm1, log1p


def _exp_terms(b):
    """[a_1, ..., a_k] when ``b`` is e^a_1 + ... + e^a_k (a 1 counts as e^0), else None."""
    if not b.is_Add:
        return None
    exponents = []
    for term in b.args:
        if isinstance(term, exp):
            exponents.append(term.args[0])
        elif term == 1:
            exponents.append(sympy.S.Zero)
        else:
            return None
    return exponents if any(a != 0 for a in exponents) else None


def _largest_first(exponents, branch):
    """Piecewise over which exponent is largest: branch(a_max, others)."""
    pieces = []
    for i, a in enumerate(exponents):
        others = exponents[:i] + exponents[i + 1:]
        cond = sympy.And(*(a >= b for b in others)) if i < len(exponents) - 1 else True
        pieces.append((branch(a, others), cond))
    return Piecewise(*pieces)


def log_sum_exp(e):
    """log((e^a + e^b + ...)^k) -> k (m + log1p(sum e^(others - m))), m the largest
    exponent: log(1 + e^w) is softplus, log(e^a + e^b) is logaddexp."""
    if not isinstance(e, log):
        return None
    arg, k = e.args[0], sympy.S.One
    if arg.is_Pow and arg.exp.is_number:
        arg, k = arg.base, arg.exp
    exponents = _exp_terms(arg)
    if exponents is None:
        return None
    return k * _largest_first(
        exponents, lambda m, others: m + log1p(sympy.Add(*(exp(b - m) for b in others))))


def exp_ratio(e):
    """e^c / (e^a + e^b + ...)^n -> e^(c - n m) / (1 + sum e^(others - m))^n, m the
    largest exponent: sigmoid, softmax-like and swish-like ratios without inf / inf."""
    if not e.is_Mul:
        return None
    for den in e.args:
        if not (den.is_Pow and den.exp.is_number and den.exp < 0):
            continue
        exponents = _exp_terms(den.base)
        if exponents is None:
            continue
        n = -den.exp
        numerator = [f for f in e.args if isinstance(f, exp)]
        if not numerator:
            continue
        c = sympy.Add(*(f.args[0] for f in numerator))
        rest = sympy.Mul(*(f for f in e.args if f is not den and not isinstance(f, exp)))
        return rest * _largest_first(exponents, lambda m, others: exp(c - n * m) * (
            1 + sympy.Add(*(exp(b - m) for b in others))) ** (-n))
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


FORMULA_RULES = (log_sum_exp, exp_ratio, log_one_plus, exp_minus_one)


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


def _unary_inner(node, formula):
    """x when ``node`` is the unary elementwise op ``formula`` applied to x."""
    from .ops import Elemwise
    if (isinstance(node.op, Elemwise) and len(node.inputs) == 1
            and node.op.formula == formula):
        return node.inputs[0]
    return None


@functools.cache
def graph_rules():
    """{outer formula: [(inner formula, replacement(x))]} for outer(inner(x))."""
    from . import elementwise_ops as ew
    t = sympy.Symbol("t0", real=True)
    one_minus = sympy.Lambda((t,), 1 - t)
    return {ew._log.formula: [
        (ew._exp.formula, lambda x: x),
        (ew._sigmoid.formula, lambda x: -ew.softplus(-x)),
        (one_minus, lambda s: _one_minus_sigmoid(s, ew)),
    ]}


def _one_minus_sigmoid(s, ew):
    x = _unary_inner(s, ew._sigmoid.formula)
    return None if x is None else -ew.softplus(x)


def rewrite_graph(node):
    """Apply ``graph_rules()`` to a freshly built unary elementwise node."""
    from .elementwise import cast
    if len(node.inputs) != 1:
        return node
    for inner_formula, replace in graph_rules().get(node.op.formula, ()):
        x = _unary_inner(node.inputs[0], inner_formula)
        out = None if x is None else replace(x)
        if out is not None:
            return cast(out, node.dtype)
    return node
