"""Numerical-stability rewrites, kept as data: pattern -> replacement.

Formula rules, kept as data:

* ``FORMULA_RULES`` rewrite SymPy formulas just before they are evaluated
  (forward formulas and derived derivatives alike, built-in or a user's own).
  They only change how a value is computed, never what is differentiated (the
  graph keeps the formula as written and ``sympy.diff`` sees only that), so a
  form with |x| or a branch in it cannot add a kink to a derivative. The
  rules come in named sets, each applied bottom-up over the whole formula:

  - ``cancellations``: exact rearrangements that undo what SymPy's own
    arithmetic did and expose the patterns below: 1 - 1/(1 + e^-z) ->
    e^-z/(1 + e^-z), log(P) - log(Q) -> log(P/Q), sinh(x)/cosh(x) -> tanh(x),
    1 - tanh(x)^2 -> 1/cosh(x)^2.
  - ``logarithms``: log(e^c (e^a + e^b)^k) -> a shifted log1p (softplus,
    log-sigmoid, logaddexp), log(cosh x) and log(sinh x) without overflow,
    log(1 + x) -> log1p(x). They must see their arguments before the next
    set rewrites them.
  - ``quotients and differences``: e^c / (e^a + e^b)^n divided through by
    its largest term, k e^x - k -> k expm1(x).

* graph patterns (log(sigmoid(x)) -> -softplus(-x), ...) are rewritten in the
  optimize stage: see ``optimize.graph_rules``.
"""
from itertools import combinations

import sympy
from sympy import Abs, Piecewise, cosh, exp, log, sinh, tanh
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


def _exp_sum_power(f):
    """(B, k) when ``f`` is B^k, B = e^a + e^b + ... and k a number, else None."""
    base, k = f.as_base_exp()
    return (base, k) if k.is_number and _exp_terms(base) is not None else None


def _is_exp_monomial(f):
    """True for a number times powers of e: 2, -e^x, 3 e^(a - b)."""
    return all(a.is_Number or isinstance(a, exp) for a in sympy.Mul.make_args(f))


def _is_exp_product(f):
    """True for a positive number times e^a's and powers of (e^a + e^b + ...)."""
    return all((a.is_Number and a > 0) or isinstance(a, exp) or _exp_sum_power(a)
               for a in sympy.Mul.make_args(f))


def _largest_first(exponents, branch):
    """Piecewise over which exponent is largest: branch(a_max, others)."""
    pieces = []
    for i, a in enumerate(exponents):
        others = exponents[:i] + exponents[i + 1:]
        cond = sympy.And(*(a >= b for b in others)) if i < len(exponents) - 1 else True
        pieces.append((branch(a, others), cond))
    return Piecewise(*pieces)


def _sum_exp_shifted(others, m):
    return sympy.Add(*(exp(b - m) for b in others))


# ---------------------------------------------------------------- cancellations

def common_exp_denominator(e):
    """c - q/B^k + ... -> (c B^k - q + ...)/B^k, B = e^a + e^b + ..., when the
    numerator cancels: 1 - 1/(1 + e^-z) -> e^-z/(1 + e^-z), not 1 - 1 = 0 at z = 40.

    Terms over a power of B join, and so do terms that are numbers times e^a's.
    """
    if not e.is_Add:
        return None
    over = {}  # term -> (B, k) for the terms with a factor B^k, k < 0
    for term in e.args:
        for f in sympy.Mul.make_args(term):
            bk = _exp_sum_power(f) if f.is_Pow else None
            if bk and bk[1].is_Integer and bk[1] < 0:
                over[term] = bk
    if not over:
        return None
    B = next(iter(over.values()))[0]
    group = [t for t in e.args if (over[t][0] == B if t in over else _is_exp_monomial(t))]
    K = max(-over[t][1] for t in group if t in over)
    if K > 4 or len(group) < 2:
        return None
    parts = [sympy.expand(t * B ** K, power_exp=False, power_base=False, log=False)
             for t in group]
    numerator = sympy.Add(*parts)
    if len(sympy.Add.make_args(numerator)) >= sum(len(sympy.Add.make_args(p)) for p in parts):
        return None
    return sympy.Add(*(t for t in e.args if t not in group)) + numerator * B ** -K


def log_quotient(e):
    """c log(P) - c log(Q) -> c log(P/Q) when P/Q cancels, P and Q products of
    e^a's and powers of e^a + e^b + ...: log(e^-z/(1 + e^-z)) - log(1/(1 + e^-z))
    -> -z, not the difference of two large logarithms."""
    if not e.is_Add:
        return None
    logs = []
    for term in e.args:
        c, f = term.as_coeff_Mul()
        if isinstance(f, log) and _is_exp_product(f.args[0]):
            logs.append((term, c, f.args[0]))
    for (t1, c1, p), (t2, c2, q) in combinations(logs, 2):
        ratio = p / q
        n = len(sympy.Mul.make_args(p)) + len(sympy.Mul.make_args(q))
        if c1 == -c2 and len(sympy.Mul.make_args(ratio)) < n:
            return sympy.Add(*(t for t in e.args if t is not t1 and t is not t2)) + c1 * log(ratio)
    return None


def hyperbolic_ratio(e):
    """sinh(x)^a cosh(x)^b, a and b of opposite signs -> tanh(x)^p sinh(x)^(a - p)
    cosh(x)^(b + p), p = a or -b, whichever is smaller: sinh(x)/cosh(x) -> tanh(x)
    and cosh(x)/sinh(x) -> 1/tanh(x), not inf/inf past x = 710."""
    if not e.is_Mul:
        return None
    powers = e.as_powers_dict()
    for base, a in powers.items():
        if isinstance(base, sinh):
            x = base.args[0]
            b = powers.get(cosh(x), sympy.S.Zero)
            if a.is_number and b.is_number and a * b < 0:
                p = a if abs(a) <= abs(b) else -b
                return e * tanh(x) ** p * sinh(x) ** -p * cosh(x) ** p
    return None


def one_minus_tanh_squared(e):
    """c - c tanh(x)^2 -> c/cosh(x)^2 and c - c/tanh(x)^2 -> -c/sinh(x)^2: the
    second derivatives of log cosh and log sinh without 1 - 1 where tanh rounds to 1."""
    if not e.is_Add:
        return None
    for term in e.args:
        k, f = term.as_coeff_Mul()
        if f.is_Pow and isinstance(f.base, tanh) and f.exp in (2, -2) and -k in e.args:
            x = f.base.args[0]
            rest = sympy.Add(*(t for t in e.args if t is not term and t != -k))
            return rest + (-k / cosh(x) ** 2 if f.exp == 2 else k / sinh(x) ** 2)
    return None


# ---------------------------------------------------------------- logarithms

def log_exp_ratio(e):
    """log(e^c (e^a + e^b + ...)^k r) -> c + k m + k log1p(sum e^(others - m)) + log(r),
    m the largest exponent: log(1 + e^w) is softplus, log(1/(1 + e^-z)) is
    -softplus(-z), log(e^-z/(1 + e^-z)) is -softplus(z), log(e^a + e^b) is logaddexp."""
    if not isinstance(e, log):
        return None
    factors = sympy.Mul.make_args(e.args[0])
    sums = [f for f in factors if _exp_sum_power(f)]
    if not sums:
        return None
    (B, k), f = _exp_sum_power(sums[0]), sums[0]
    c = sympy.Add(*(a.args[0] for a in factors if isinstance(a, exp)))
    rest = sympy.Mul(*(a for a in factors if a is not f and not isinstance(a, exp)))
    return _largest_first(_exp_terms(B), lambda m, others: (
        c + k * m + k * log1p(_sum_exp_shifted(others, m)))) + log(rest)


def log_cosh(e):
    """log(cosh x) -> |x| + log1p(e^(-2|x|)) - log 2, finite past |x| = 710;
    log1p(2 sinh(x/2)^2) below |x| = 1, where that form would cancel."""
    if not (isinstance(e, log) and isinstance(e.args[0], cosh)):
        return None
    x = e.args[0].args[0]
    a = Abs(x)
    return Piecewise((log1p(2 * sinh(x / 2) ** 2), a < 1),
                     (a + log1p(exp(-2 * a)) - log(2), True))


def log_sinh(e):
    """log(sinh x) -> x - log 2 + log1p(-e^(-2x)) above x = 1, finite past x = 710."""
    if not (isinstance(e, log) and isinstance(e.args[0], sinh)):
        return None
    x = e.args[0].args[0]
    return Piecewise((x - log(2) + log1p(-exp(-2 * x)), x > 1), (e, True))


def log_one_plus(e):
    """log(1 + x) -> log1p(x)."""
    if isinstance(e, log) and e.args[0].is_Add and sympy.S.One in e.args[0].args:
        return log1p(e.args[0] - 1)
    return None


# ---------------------------------------------------------------- quotients and differences

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
            1 + _sum_exp_shifted(others, m)) ** (-n))
    return None


def exp_minus_one(e):
    """k r e^x - k r + ... -> k r expm1(x) + ...: e^x - 1, and a (e^x - 1) after
    SymPy has distributed it into a e^x - a."""
    if not e.is_Add:
        return None
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        for f in sympy.Mul.make_args(rest):
            if isinstance(f, exp):
                r = rest / f
                partner = -k * r
                if partner in e.args:
                    others = (t for t in e.args if t is not term and t != partner)
                    return sympy.Add(*others) + k * r * expm1(f.args[0])
    return None


FORMULA_RULES = {
    "cancellations": (common_exp_denominator, log_quotient, hyperbolic_ratio,
                      one_minus_tanh_squared),
    "logarithms": (log_exp_ratio, log_cosh, log_sinh, log_one_plus),
    "quotients and differences": (exp_ratio, exp_minus_one),
}


def _bottom_up(expr, rules):
    """``expr`` with the first matching rule applied at each node, children first."""
    if expr.is_Atom:
        return expr
    args = [_bottom_up(a, rules) for a in expr.args]
    if any(a is not b for a, b in zip(args, expr.args)):
        expr = expr.func(*args)
    for rule in rules:
        out = rule(expr)
        if out is not None:
            return out
    return expr


def stabilise(expr):
    """``expr`` with each set of FORMULA_RULES applied in turn, bottom-up.

    >>> import sympy
    >>> t = sympy.Symbol("t", real=True)
    >>> stabilise(sympy.log(1 + t**2))
    log1p(t**2)
    >>> stabilise(1.5 * (sympy.exp(t) - 1))
    1.5*expm1(t)
    >>> stabilise(sympy.sinh(t) / sympy.cosh(t))
    tanh(t)
    >>> stabilise(sympy.log(1 - 1 / (1 + sympy.exp(-t))))
    Piecewise((-t - log1p(exp(-t)), t >= 0), (-log1p(exp(t)), True))
    """
    for rules in FORMULA_RULES.values():
        expr = _bottom_up(expr, rules)
    return expr
