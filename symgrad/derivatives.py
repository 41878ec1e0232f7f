"""Local derivatives of elementwise formulas, derived by ``sympy.diff`` only.

The vector-Jacobian product of ``f(t0, ..., tn)`` for argument k is the
elementwise formula ``g * df/dtk``; it always multiplies by the upstream
gradient ``g``. Where the derivative of a one-argument formula can be written
as a polynomial in the formula's own value y (sigmoid' = y (1 - y),
tanh' = 1 - y**2, exp' = y) that form is used: shorter, it reuses the forward
value, and it is stable.

A non-constant derivative is guarded, ``Piecewise((0, Eq(g, 0)), (g*d, True))``,
so that a zero upstream gradient gives an exact zero even where d is inf or nan
(the untaken branch of a ``where``). The guard is a numerical device, not
mathematics: differentiated as written it would have derivative 0 with respect
to g at g = 0, and second derivatives would vanish wherever a first-order
upstream gradient does. So before ``sympy.diff`` sees a formula, each guard
becomes a ``GuardedProduct``, whose derivative is that of the plain product
``g*d`` with the guard kept on the term that multiplies by g. ``guard.py`` owns
the guard: it builds, recognises and (for printing) strips it.

Derived formulas pass the same check as a user's formula
(``check_formula``): a derivative that leaves the functions symgrad
can compile (``Abs(asin(t))`` has ``re`` and ``im`` in its derivative) is a
ValueError when the gradient is built, naming the op, the argument and the
function.
"""
import functools

import sympy

from .formulas import check_formula, params
from .guard import GuardedProduct, as_piecewise, as_products, guarded


def _power_times_log(e):
    """x**a * log(x)**k * rest -> GuardedProduct(x**a, log(x)**k * rest), or None.

    Where x**a is 0 (x -> 0 with a > 0) the product's limit is 0: the power
    wins over the logarithm. So d(x**y)/dy = x**y log(x) is 0 at x = 0, y > 0
    (as autograd and PyTorch give), not 0 * -inf = nan.
    """
    if not e.is_Mul:
        return None
    logs = {f.base.args[0] if f.is_Pow else f.args[0] for f in e.args
            if isinstance(f.base if f.is_Pow else f, sympy.log)}
    for f in e.args:
        if f.is_Pow and f.base in logs and not f.exp.is_negative:
            return GuardedProduct(f, e / f)
    return None


def _merge_powers(e):
    """y * x**y / x -> y * x**(y - 1), or None: SymPy's d(x**y)/dx, which is
    0/0 = nan at x = 0 for y > 1 where the derivative is 0."""
    if not e.is_Mul:
        return None
    powers = {}
    for f in e.args:
        base, exponent = f.as_base_exp()
        powers.setdefault(base, []).append(exponent)
    merged = {b: es for b, es in powers.items()
              if len(es) > 1 and any(not x.is_number for x in es)}
    if not merged:
        return None
    return sympy.Mul(*(f for f in e.args if f.as_base_exp()[0] not in merged),
                     *(b ** sympy.Add(*es) for b, es in merged.items()))


def _derivative(expr, s):
    """``d expr / ds`` as formula text that every backend prints.

    Guards are differentiated as products, derivatives of step functions are
    zero almost everywhere, ``Subs`` and other unevaluated objects SymPy leaves
    are evaluated, and x**a log(x) products get their limit at x = 0.
    """
    expr = as_products(expr)
    # a number's power (0**t) with a symbol for the base, so that its log stays a factor
    bases = {}
    expr = expr.replace(lambda a: a.is_Pow and a.base.is_number and not a.exp.is_number,
                        lambda a: bases.setdefault(a.base, sympy.Dummy(positive=a.base > 0)) ** a.exp)
    d = _almost_everywhere(sympy.diff(expr, s)).doit()
    for rule in (_merge_powers, _power_times_log):
        d = d.replace(lambda a: a.is_Mul and rule(a) is not None, rule)
    d = as_piecewise(d).xreplace({x: b for b, x in bases.items()})
    return d.xreplace({sympy.zoo: sympy.nan})


def _in_terms_of_output(f, d, t, y):
    """``d`` as a polynomial in y = f(t), or None when there is no such form."""
    kernels = {a for a in f.atoms(sympy.Function) if t in a.free_symbols}
    if len(kernels) != 1 or f.has(sympy.Piecewise):
        return None
    (kernel,) = kernels
    a = sympy.Dummy("a")
    f_a, d_a = f.subs(kernel, a), d.subs(kernel, a)
    if t in f_a.free_symbols or t in d_a.free_symbols:
        return None
    try:
        solutions = sympy.solve(sympy.Eq(y, f_a), a)
    except (NotImplementedError, ValueError):
        return None
    if len(solutions) != 1:
        return None
    dy = sympy.factor(sympy.cancel(d_a.subs(a, solutions[0])))
    if t in dy.free_symbols or not dy.is_polynomial(y):
        return None
    if dy.as_coeff_Mul()[1].is_Add:  # a (e^t - 1): a (y/a + 1) cancels where y ~ -a
        return None                   # (t < -37); SymPy's a e^t does not
    return _positive_leading(dy)


def _positive_leading(e):
    """-y*(y - 1) -> y*(1 - y): same value, but no -0.0 where a factor vanishes."""
    coeff, rest = e.as_coeff_Mul()
    if coeff == -1 and rest.is_Mul:
        factors = list(rest.args)
        for i, f in enumerate(factors):
            if f.is_Add and f.as_coeff_Add()[0] < 0:
                factors[i] = -f
                return sympy.Mul(*factors)
    return e


_STEP_FUNCTIONS = (sympy.sign, sympy.Heaviside, sympy.floor, sympy.ceiling)


def _almost_everywhere(d):
    """The derivative away from jumps: SymPy's DiracDelta (from sign, Heaviside)
    and unevaluated derivatives of floor / ceiling are zero wherever they are finite."""
    return d.replace(lambda e: isinstance(e, sympy.DiracDelta) or (
        isinstance(e, sympy.Derivative) and isinstance(e.expr, _STEP_FUNCTIONS)),
        lambda e: sympy.S.Zero)


def elemwise_vjp(formula, k, name=None):
    """(``Lambda``, uses_output) for the VJP of ``formula`` w.r.t. argument k.

    The Lambda's parameters are (g, *args) or, when uses_output, (g, y).
    Returns (None, False) when the derivative is identically zero. A derivative
    symgrad cannot compile is a ValueError naming the op (``name``, the op's
    name, else its formula), the argument and what the derivative uses.

    >>> import sympy
    >>> t = sympy.Symbol("t0", real=True)
    >>> elemwise_vjp(sympy.Lambda((t,), 1 / (1 + sympy.exp(-t))), 0)
    (Lambda((t0, t1), Piecewise((0, Eq(t0, 0)), (t0*t1*(1 - t1), True))), True)
    >>> elemwise_vjp(sympy.Lambda((t,), sympy.Abs(sympy.asin(t))), 0, "absasin")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot differentiate elementwise op 'absasin' (Abs(asin(t0))) with respect to its argument 1 of 1 (t0): its derivative uses the SymPy function 're'; ...
    """
    try:
        return _elemwise_vjp(formula, k)
    except _NotCompilable as err:
        op = f"elementwise op {name!r} ({formula.expr})" if name else \
            f"the elementwise formula {formula.expr}"
        raise ValueError(f"cannot differentiate {op} with respect to its argument {k + 1} of "
                         f"{len(formula.variables)} ({formula.variables[k]}): its derivative "
                         f"{err.why}") from None


class _NotCompilable(Exception):
    def __init__(self, why):
        super().__init__(why)
        self.why = why


@functools.cache
def _elemwise_vjp(formula, k):
    ps = formula.variables
    d = _derivative(formula.expr, ps[k])
    n = len(ps)
    g, *args = params(n + 1)
    if n == 1:
        y = args[0]
        dy = _in_terms_of_output(formula.expr, d, ps[0], y)
        if dy is not None:
            body = guarded(g, dy)
            if body == 0:
                return None, False
            _check_derivative(body, (g, y))
            return sympy.Lambda((g, y), body), True
    d = d.xreplace(dict(zip(ps, args)))
    body = guarded(g, d)
    if body == 0:
        return None, False
    _check_derivative(body, (g, *args))
    return sympy.Lambda((g, *args), body), False


def _check_derivative(body, ps):
    """``check_formula`` for a derived VJP, the same check as a user's formula
    gets; raises _NotCompilable with what the derivative uses that symgrad
    cannot compile ("uses the SymPy function 're'; supported: ...")."""
    label = "<derivative>"
    try:
        check_formula(body, ps, label)
    except ValueError as err:
        raise _NotCompilable(str(err).replace(f"elementwise op {label!r} ", "", 1)) from None
