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
becomes a :class:`GuardedProduct`, whose derivative is that of the plain
product ``g*d`` with the guard kept on the term that multiplies by g.
"""
import functools

import sympy

from .formulas import check_formula, params


class GuardedProduct(sympy.Function):
    """``g * d``, exactly 0 where g == 0 even when d is inf or nan.

    Its derivative is the product rule, with the guard kept where g still
    multiplies: d/ds (g d) = g' d + GuardedProduct(g, d').

    >>> g, t = sympy.symbols("g t", real=True)
    >>> sympy.diff(GuardedProduct(g, sympy.sin(t)), g)
    sin(t)
    >>> sympy.diff(GuardedProduct(g, sympy.sin(t)), t)
    GuardedProduct(g, cos(t))
    """

    @classmethod
    def eval(cls, g, d):
        if g == 0 or d == 0:
            return sympy.S.Zero
        pieces = d.args if isinstance(d, sympy.Piecewise) else ((d, True),)
        if g.is_number or all(piece.is_number for piece, _ in pieces):
            return sympy.piecewise_fold(g * d)   # nothing to guard against
        return None

    def _eval_derivative(self, s):
        g, d = self.args
        return sympy.diff(g, s) * d + GuardedProduct(g, sympy.diff(d, s))

    def as_piecewise(self):
        """The evaluation form: Piecewise((0, Eq(g, 0)), (g*d, True)). An inner
        guard in d is not folded into this one (that would merge their conditions
        and hide which factor each one guards)."""
        g, d = self.args
        inner_guard = any(_is_guard(a) for a in sympy.preorder_traversal(d))
        product = g * d if inner_guard else sympy.piecewise_fold(g * d)
        return sympy.Piecewise((0, sympy.Eq(g, 0)), (product, True))


def _guarded(g, d):
    """The guarded product g*d as formula text (Piecewise), or None when d is 0."""
    product = GuardedProduct(g, d)
    if product == 0:
        return None
    return _as_piecewise(product)


def _as_piecewise(e):
    return e.replace(lambda a: isinstance(a, GuardedProduct), lambda a: a.as_piecewise())


def _is_guard(e):
    return (isinstance(e, sympy.Piecewise) and len(e.args) == 2 and e.args[0].expr == 0
            and isinstance(e.args[0].cond, sympy.Eq) and e.args[0].cond.rhs == 0
            and e.args[1].cond is sympy.true)


def _as_guarded_product(e):
    """Piecewise((0, Eq(g, 0)), (p, True)) -> GuardedProduct(g, p / g)."""
    g, p = e.args[0].cond.lhs, e.args[1].expr
    return GuardedProduct(g, _divide(p, g))


def _divide(p, g):
    """``p / g`` for a ``p`` built as g times something: g taken out of each
    product, sum and choice where it stands, so that no 1/g is left (it would
    be 0/0 at g = 0 once the guard is differentiated)."""
    if p == g:
        return sympy.S.One
    if p == 0:
        return sympy.S.Zero
    if isinstance(p, GuardedProduct):  # an inner guard the outer factor was folded into
        return GuardedProduct(p.args[0], _divide(p.args[1], g))
    if isinstance(p, sympy.Piecewise):
        return sympy.Piecewise(*((_divide(piece, g), cond) for piece, cond in p.args))
    if p.is_Add:
        return sympy.Add(*(_divide(term, g) for term in p.args))
    if p.is_Mul:
        for k, factor in enumerate(p.args):
            if factor == g:
                return sympy.Mul(*p.args[:k], *p.args[k + 1:])
        for k, factor in enumerate(p.args):
            if factor.is_Pow and factor.base == g and factor.exp.is_Integer and factor.exp > 1:
                return sympy.Mul(*p.args[:k], g ** (factor.exp - 1), *p.args[k + 1:])
        for k, factor in enumerate(p.args):
            if factor.has(g) and (factor.is_Add or isinstance(factor, sympy.Piecewise)):
                return sympy.Mul(*p.args[:k], _divide(factor, g), *p.args[k + 1:])
    return sympy.cancel(p / g)


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
    expr = expr.replace(_is_guard, _as_guarded_product)
    # a number's power (0**t) with a symbol for the base, so that its log stays a factor
    bases = {}
    expr = expr.replace(lambda a: a.is_Pow and a.base.is_number and not a.exp.is_number,
                        lambda a: bases.setdefault(a.base, sympy.Dummy(positive=a.base > 0)) ** a.exp)
    d = _almost_everywhere(sympy.diff(expr, s)).doit()
    for rule in (_merge_powers, _power_times_log):
        d = d.replace(lambda a: a.is_Mul and rule(a) is not None, rule)
    d = _as_piecewise(d).xreplace({x: b for b, x in bases.items()})
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


@functools.cache
def elemwise_vjp(formula, k):
    """(``Lambda``, uses_output) for the VJP of ``formula`` w.r.t. argument k.

    The Lambda's parameters are (g, *args) or, when uses_output, (g, y).
    Returns (None, False) when the derivative is identically zero.

    >>> import sympy
    >>> t = sympy.Symbol("t0", real=True)
    >>> elemwise_vjp(sympy.Lambda((t,), 1 / (1 + sympy.exp(-t))), 0)
    (Lambda((t0, t1), Piecewise((0, Eq(t0, 0)), (t0*t1*(1 - t1), True))), True)
    """
    ps = formula.variables
    d = _derivative(formula.expr, ps[k])
    n = len(ps)
    g, *args = params(n + 1)
    if n == 1:
        y = args[0]
        dy = _in_terms_of_output(formula.expr, d, ps[0], y)
        if dy is not None:
            body = _guarded(g, dy)
            if body is None:
                return None, False
            check_formula(body, (g, y), f"the derivative of {formula.expr}")
            return sympy.Lambda((g, y), body), True
    d = d.xreplace(dict(zip(ps, args)))
    body = _guarded(g, d)
    if body is None:
        return None, False
    check_formula(body, (g, *args), f"the derivative of {formula.expr} for {ps[k]}")
    return sympy.Lambda((g, *args), body), False
