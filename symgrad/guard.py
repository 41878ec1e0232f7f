"""The zero-upstream guard of derived gradients: built, recognised and stripped here only.

The vector-Jacobian product of an elementwise formula multiplies the upstream
gradient g by the local derivative d. Where g == 0 the product must be exactly
0 even where d is inf or nan (the untaken branch of a ``where``), so it is
written with a guard::

    Piecewise((0, Eq(g, 0)), (g*d, True))

Three places need to know that shape, and they all ask this module:

* the derivatives (``derivatives.py``) build guards with :func:`guarded`, and
  before differentiating a formula again turn each guard back into a
  :class:`GuardedProduct` (:func:`as_products`), whose derivative is the product
  rule with the guard kept where g still multiplies;
* the printers drop guards (:func:`strip_guards`): a guard changes no value where
  the product is finite;
* :func:`is_guard` is the one recogniser both use.

A guard is recognised by its shape, ``Piecewise((0, Eq(g, 0)), (p, True))``, and,
when g is a symbol (the upstream gradient of a VJP always is), by what makes it a
guard: p vanishes where g does. So a user's own choice that only looks like a
guard (``Piecewise((0, Eq(t, 0)), (1, True))``, the indicator of t != 0) is
neither printed as ``1`` nor differentiated as a product.
"""
import sympy

__all__ = ["GuardedProduct", "guarded", "as_piecewise", "is_guard", "guard_parts",
           "as_products", "strip_guards"]


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
        inner_guard = any(is_guard(a) for a in sympy.preorder_traversal(d))
        product = g * d if inner_guard else sympy.piecewise_fold(g * d)
        return sympy.Piecewise((0, sympy.Eq(g, 0)), (product, True))


def guarded(g, d):
    """``g * d`` as formula text: the guard ``Piecewise((0, Eq(g, 0)), (g*d, True))``,
    the plain product where there is nothing to guard against (d a number), 0 where d is 0.

    >>> g, t = sympy.symbols("t0 t1", real=True)
    >>> guarded(g, sympy.cos(t))
    Piecewise((0, Eq(t0, 0)), (t0*cos(t1), True))
    >>> guarded(g, 2), guarded(g, 0)
    (2*t0, 0)
    """
    return as_piecewise(GuardedProduct(g, d))


def as_piecewise(e):
    """``e`` with every :class:`GuardedProduct` in its evaluation form (a guard)."""
    return e.replace(lambda a: isinstance(a, GuardedProduct), lambda a: a.as_piecewise())


def guard_parts(e):
    """(g, p) of a guard ``Piecewise((0, Eq(g, 0)), (p, True))``, or None when ``e`` is none."""
    if not (isinstance(e, sympy.Piecewise) and len(e.args) == 2):
        return None
    (zero, cond), (p, otherwise) = e.args
    if not (zero == 0 and isinstance(cond, sympy.Eq) and cond.rhs == 0 and otherwise is sympy.true):
        return None
    g = cond.lhs
    if isinstance(g, sympy.Symbol) and not p.has(sympy.nan) and p.xreplace({g: 0}) != 0:
        return None  # p is not g times something: a choice of the formula's own
    return g, p


def is_guard(e):
    """True when ``e`` is a guard ``Piecewise((0, Eq(g, 0)), (g*d, True))``.

    >>> t, u = sympy.symbols("t0 t1", real=True)
    >>> is_guard(guarded(t, sympy.log(u))), is_guard(sympy.Piecewise((0, sympy.Eq(t, 0)), (1, True)))
    (True, False)
    """
    return guard_parts(e) is not None


def as_products(e):
    """``e`` with every guard written as a :class:`GuardedProduct` (to differentiate it)."""
    return e.replace(is_guard, _as_guarded_product)


def _as_guarded_product(e):
    """Piecewise((0, Eq(g, 0)), (p, True)) -> GuardedProduct(g, p / g)."""
    g, p = guard_parts(e)
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


def strip_guards(e):
    """``e`` with each guard replaced by its product, for reading: a guard changes
    no value where the product is finite. A guard whose product is nan is kept
    (there the guard gives the value: 0 where g == 0).

    >>> t, u = sympy.symbols("t0 t1", real=True)
    >>> strip_guards(guarded(t, sympy.cos(u)) + 1)
    t0*cos(t1) + 1
    >>> strip_guards(sympy.Piecewise((0, sympy.Eq(t, 0)), (sympy.nan, True)))
    Piecewise((0, Eq(t0, 0)), (nan, True))
    """
    return e.replace(lambda a: is_guard(a) and not a.args[1].expr.has(sympy.nan),
                     lambda a: a.args[1].expr)
