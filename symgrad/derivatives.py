"""Local derivatives of elementwise formulas, derived by ``sympy.diff`` only.

The vector-Jacobian product of ``f(t0, ..., tn)`` for argument k is the
elementwise formula ``g * df/dtk``; it always multiplies by the upstream
gradient ``g``. Where the derivative of a one-argument formula can be written
as a polynomial in the formula's own value y (sigmoid' = y (1 - y),
tanh' = 1 - y**2, exp' = y) that form is used: shorter, it reuses the forward
value, and it is stable. A non-constant derivative is guarded so that a zero
upstream gradient gives an exact zero even where the derivative is inf or
nan (the untaken branch of a ``where``).
"""
import functools

import sympy

from .elementwise import params


def _guarded(g, d):
    if d == 0:
        return None
    pieces = d.args if isinstance(d, sympy.Piecewise) else ((d, True),)
    product = sympy.piecewise_fold(g * d)
    if all(piece.is_number for piece, _ in pieces):
        return product
    return sympy.Piecewise((0, sympy.Eq(g, 0)), (product, True))


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
    d = _almost_everywhere(sympy.diff(formula.expr, ps[k]))
    n = len(ps)
    g, *args = params(n + 1)
    if n == 1:
        y = args[0]
        dy = _in_terms_of_output(formula.expr, d, ps[0], y)
        if dy is not None:
            body = _guarded(g, dy)
            return (None, False) if body is None else (sympy.Lambda((g, y), body), True)
    d = d.xreplace(dict(zip(ps, args)))
    body = _guarded(g, d)
    return (None, False) if body is None else (sympy.Lambda((g, *args), body), False)
