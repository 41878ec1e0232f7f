"""The built-in elementwise ops: arithmetic, math functions and nonlinearities.

Each is a SymPy formula turned into an op by :func:`elementwise`; the
formulas at kinks are written so that ``sympy.diff`` yields API.md's
conventions.
"""
import builtins
import math
import numbers

import numpy as np
import sympy
from sympy import Piecewise
from sympy.codegen.cfunctions import exp2 as _exp2_fn, expm1 as _expm1_fn, hypot as _hypot_fn
from sympy.codegen.cfunctions import isnan as _isnan_fn, log1p as _log1p_fn
from sympy.codegen.cfunctions import log2 as _log2_fn, log10 as _log10_fn

from .elementwise import apply, cast, elementwise
from .formulas import cbrt as _cbrt_fn, isfinite as _isfinite_fn, mod as _mod_fn, rint as _rint_fn
from .graph import Expr
from .ops.leaves import constant
from .types import result_dtype


# arithmetic (used by the operators of Expr)
_add = elementwise(lambda a, b: a + b, name="add")
_sub = elementwise(lambda a, b: a - b, name="sub")
_mul = elementwise(lambda a, b: a * b, name="mul")
_div = elementwise(lambda a, b: a / b, name="div")
_pow = elementwise(lambda a, b: a ** b, name="pow")
_neg = elementwise(lambda a: -a, name="neg")
_lt = elementwise(lambda a, b: Piecewise((1, a < b), (0, True)), name="lt")
_le = elementwise(lambda a, b: Piecewise((1, a <= b), (0, True)), name="le")
_gt = elementwise(lambda a, b: Piecewise((1, a > b), (0, True)), name="gt")
_ge = elementwise(lambda a, b: Piecewise((1, a >= b), (0, True)), name="ge")
# not operators: Expr's == and != stay identity, so expressions remain dict keys
_eq = elementwise(lambda a, b: Piecewise((1, sympy.Eq(a, b)), (0, True)), name="eq")
_neq = elementwise(lambda a, b: Piecewise((1, sympy.Ne(a, b)), (0, True)), name="neq")

_exp = elementwise(lambda t: sympy.exp(t), name="exp")
_log = elementwise(lambda t: sympy.log(t), name="log")
_sin = elementwise(lambda t: sympy.sin(t), name="sin")
_cos = elementwise(lambda t: sympy.cos(t), name="cos")
_tanh = elementwise(lambda t: sympy.tanh(t), name="tanh")
_sqrt = elementwise(lambda t: sympy.sqrt(t), name="sqrt")
# the last piece is the one a nan takes (every comparison with nan is false): t itself,
# so nan propagates as in NumPy and PyTorch
_abs = elementwise(lambda t: Piecewise((-t, t < 0), (0, sympy.Eq(t, 0)), (t, True)), name="abs")
_sigmoid = elementwise(lambda t: 1 / (1 + sympy.exp(-t)), name="sigmoid")
_relu = elementwise(lambda t: Piecewise((0, t <= 0), (t, True)), name="relu")
_leaky_relu = elementwise(lambda t, a: Piecewise((t, t > 0), (a * t, True)), name="leaky_relu")
_prelu = elementwise(lambda t, a: Piecewise((t, t > 0), (a * t, True)), name="prelu")
_hardtanh = elementwise(lambda t: Piecewise((-1, t <= -1), (1, t >= 1), (t, True)),
                        name="hardtanh")
_softplus = elementwise(lambda t: sympy.log(1 + sympy.exp(t)), name="softplus")
_maximum = elementwise(lambda a, b: Piecewise((a, a >= b), (b, True)), name="maximum")
_minimum = elementwise(lambda a, b: Piecewise((a, a <= b), (b, True)), name="minimum")
_where = elementwise(lambda c, a, b: Piecewise((a, sympy.Ne(c, 0)), (b, True)), name="where")


def exp(x):
    """e**x, elementwise.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.exp(x).eval({x: [0.0, 1.0]})
    array([1.        , 2.71828183])
    """
    return _exp(x)


def log(x):
    """Natural logarithm, elementwise; ``log(sigmoid(x))`` and ``log(softmax(x))``
    are rewritten to their stable forms.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.log(x).eval({x: [1.0, 2.0]})
    array([0.        , 0.69314718])
    """
    return _log(x)


def sin(x):
    """Sine, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.sin(x), x).eval({x: 0.0}))
    1.0
    """
    return _sin(x)


def cos(x):
    """Cosine, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.cos(x).eval({x: 0.0}))
    1.0
    """
    return _cos(x)


def tanh(x):
    """Hyperbolic tangent, elementwise; its derivative is taken as 1 - y**2.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.grad(sg.tanh(x).sum(), x).eval({x: [0.0, 1000.0]})
    array([1., 0.])
    """
    return _tanh(x)


def sqrt(x):
    """Square root, elementwise.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.sqrt(x).eval({x: [4.0, 9.0]})
    array([2., 3.])
    """
    return _sqrt(x)


def abs(x):  # noqa: A001 - the public name API.md gives it
    """|x|, elementwise, with derivative 0 at 0.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.grad(sg.abs(x).sum(), x).eval({x: [-2.0, 0.0, 3.0]})
    array([-1.,  0.,  1.])
    """
    return _abs(x)


def sigmoid(x):
    """The logistic function 1 / (1 + e**-x); its derivative is taken as y (1 - y).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.grad(sg.sigmoid(x).sum(), x).eval({x: [-1000.0, 0.0, 1000.0]})
    array([0.  , 0.25, 0.  ])
    """
    return _sigmoid(x)


def relu(x):
    """max(x, 0), elementwise, with relu'(0) = 0.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.grad(sg.relu(x).sum(), x).eval({x: [-1.0, 0.0, 2.0]})
    array([0., 0., 1.])
    """
    return _relu(x)


def leaky_relu(x, alpha=0.01):
    """x for x > 0, else alpha * x; the slope at 0 is alpha (as PyTorch).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.leaky_relu(x, 0.1).eval({x: [-2.0, 3.0]})
    array([-0.2,  3. ])
    """
    return _leaky_relu(x, alpha)


def prelu(x, a):
    """Parametric ReLU: x for x > 0, else a * x, with ``a`` a learnable expression.

    >>> import symgrad as sg
    >>> x, a = sg.vector("x", 2), sg.scalar("a")
    >>> float(sg.grad(sg.prelu(x, a).sum(), a).eval({x: [-2.0, 3.0], a: 0.25}))
    -2.0
    """
    return _prelu(x, a)


def hardtanh(x):
    """x clipped to [-1, 1]; the derivative is 1 strictly inside, 0 at and beyond ±1.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> sg.grad(sg.hardtanh(x).sum(), x).eval({x: [-2.0, -1.0, 0.5, 1.0]})
    array([0., 0., 1., 0.])
    """
    return _hardtanh(x)


def softplus(x):
    """log(1 + e**x), evaluated stably for large |x|.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.softplus(x).eval({x: [-1000.0, 0.0, 1000.0]}).round(6).tolist()
    [0.0, 0.693147, 1000.0]
    """
    return _softplus(x)


def maximum(a, b):
    """Elementwise maximum; at ties the whole gradient goes to ``a``.

    >>> import symgrad as sg
    >>> a, b = sg.scalar("a"), sg.scalar("b")
    >>> [float(g) for g in sg.function([a, b], sg.grad(sg.maximum(a, b), [a, b]),
    ...                                backend="numpy")(1.0, 1.0)]
    [1.0, 0.0]
    """
    return _maximum(a, b)


def minimum(a, b):
    """Elementwise minimum; at ties the whole gradient goes to ``a``.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 2)
    >>> sg.minimum(a, 0.5).eval({a: [0.0, 1.0]})
    array([0. , 0.5])
    """
    return _minimum(a, b)


def eq(a, b):
    """1 where ``a == b`` else 0, elementwise with broadcasting; the gradient is zero.

    ``a == b`` on expressions is identity (they are dict keys), so this is
    the elementwise comparison; the result dtype is that of ``a < b``.

    >>> import symgrad as sg
    >>> y = sg.vector("y", 3, dtype="int64")
    >>> sg.where(sg.eq(y, 2), 1.0, 0.0).eval({y: [2, 0, 2]})
    array([1., 0., 1.])
    """
    return _eq(a, b)


def neq(a, b):
    """1 where ``a != b`` else 0 (also where either is nan, as NumPy; but
    ``neq(x, x)`` of one expression is 0), elementwise with broadcasting;
    the gradient is zero. ``!=`` on expressions is identity.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.neq(x, 0.5).eval({x: [0.5, 1.0, float("nan")]})
    array([0., 1., 1.])
    """
    return _neq(a, b)


equal = eq
not_equal = neq


def _check_condition(cond, where):
    """Refuse a Python or NumPy bool: most likely ``a == b`` on expressions,
    which is identity, not an elementwise comparison."""
    if isinstance(cond, (bool, np.bool_)):
        kind = "Python bool" if isinstance(cond, bool) else "NumPy bool"
        raise TypeError(f"{where}: the condition is the {kind} {bool(cond)}; `==` and `!=` "
                        "on expressions are identity, use sg.eq(a, b) / sg.neq(a, b) for an "
                        "elementwise comparison")


def where(cond, a, b):
    """``a`` where ``cond`` is nonzero, else ``b``, elementwise with broadcasting.

    The gradient of the branch not taken is exactly zero, even where that
    branch is inf or nan.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.where(x > 0, x, 0.1 * x).eval({x: [-1.0, 0.0, 2.0]})
    array([-0.1,  0. ,  2. ])

    A Python bool condition (what ``x == 0`` gives: identity) is a TypeError;
    compare elementwise with :func:`eq` / :func:`neq`.
    """
    _check_condition(cond, "sg.where")
    return _where(cond, a, b)


# ---------------------------------------------------------------- NumPy's spellings
# Each is a SymPy formula; sympy.diff derives its gradient. Where NumPy keeps an
# integer input integer (floor, round, sign, square, clip, mod, fmax) so do these.

def _sinc_formula(t):
    # sin(pi t)/(pi t), and near 0 its Taylor polynomial (to t**14: below 1e-19
    # relative for |t| < 0.1), so value and every derivative are right at 0
    z = t * t
    poly = sympy.S.Zero
    for k in reversed(range(8)):
        poly = sympy.Float((-1) ** k * math.pi ** (2 * k) / math.factorial(2 * k + 1)) + z * poly
    return Piecewise((poly, sympy.Abs(t) < sympy.Rational(1, 10)),  # a literal, not a parameter
                     (sympy.sin(sympy.pi * t) / (sympy.pi * t), True))


_tan = elementwise(lambda t: sympy.tan(t), name="tan")
_arcsin = elementwise(lambda t: sympy.asin(t), name="arcsin")
_arccos = elementwise(lambda t: sympy.acos(t), name="arccos")
_arctan = elementwise(lambda t: sympy.atan(t), name="arctan")
_sinh = elementwise(lambda t: sympy.sinh(t), name="sinh")
_cosh = elementwise(lambda t: sympy.cosh(t), name="cosh")
_arcsinh = elementwise(lambda t: sympy.asinh(t), name="arcsinh")
_arccosh = elementwise(lambda t: sympy.acosh(t), name="arccosh")
_arctanh = elementwise(lambda t: sympy.atanh(t), name="arctanh")
_log2 = elementwise(lambda t: _log2_fn(t), name="log2")
_log10 = elementwise(lambda t: _log10_fn(t), name="log10")
_exp2 = elementwise(lambda t: _exp2_fn(t), name="exp2")
_cbrt = elementwise(lambda t: _cbrt_fn(t), name="cbrt")
_square = elementwise(lambda t: t ** 2, name="square")
_reciprocal = elementwise(lambda t: 1 / t, name="reciprocal")
_rsqrt = elementwise(lambda t: 1 / sympy.sqrt(t), name="rsqrt")
# as abs: the last piece is the one a nan takes, t itself
_sign = elementwise(lambda t: Piecewise((1, t > 0), (-1, t < 0), (0, sympy.Eq(t, 0)), (t, True)),
                    name="sign")
_floor = elementwise(lambda t: sympy.floor(t), name="floor")
_ceil = elementwise(lambda t: sympy.ceiling(t), name="ceil")
_trunc = elementwise(lambda t: Piecewise((sympy.ceiling(t), t < 0), (sympy.floor(t), True)),
                     name="trunc")
_rint = elementwise(lambda t: _rint_fn(t), name="round")
_hypot = elementwise(lambda a, b: _hypot_fn(a, b), name="hypot")
_arctan2 = elementwise(lambda y, x: sympy.atan2(y, x), name="arctan2")
# max + log1p(e**(min - max)): both pieces are the one analytic function, so no
# kink at a = b. e**u is written exp2(u log2(e)): SymPy's exp would split a
# number out of its argument (exp(1000.0 - t) -> 1.97e434 * exp(-t), beyond
# float64) when a number argument is folded in; exp2 keeps it whole. (The
# rounding of u log2(e) costs |u| ulp of e**u: below 1e-16 of the result.)
# Equal infinities give a (as NumPy; inf - inf would be nan).
_LOG2_E = sympy.Float(1 / math.log(2), 17)
_logaddexp = elementwise(lambda a, b: Piecewise(
    (a, sympy.Eq(a, b) & ~_isfinite_fn(a)),
    (a + _log1p_fn(_exp2_fn(_LOG2_E * (b - a))), a >= b),
    (b + _log1p_fn(_exp2_fn(_LOG2_E * (a - b))), True)), name="logaddexp")
_sinc = elementwise(_sinc_formula, name="sinc")
_erf = elementwise(lambda t: sympy.erf(t), name="erf")
_erfc = elementwise(lambda t: sympy.erfc(t), name="erfc")
_erfinv = elementwise(lambda t: sympy.erfinv(t), name="erfinv")
_log1p = elementwise(lambda t: _log1p_fn(t), name="log1p")
_expm1 = elementwise(lambda t: _expm1_fn(t), name="expm1")
# a nan loses unless both are nan; ties go to a, as in maximum
_fmax = elementwise(lambda a, b: Piecewise(
    (a, _isnan_fn(b)), (b, (b > a) | _isnan_fn(a)), (a, True)), name="fmax")
_fmin = elementwise(lambda a, b: Piecewise(
    (a, _isnan_fn(b)), (b, (b < a) | _isnan_fn(a)), (a, True)), name="fmin")
_mod = elementwise(lambda a, b: _mod_fn(a, b), name="mod")
_isnan = elementwise(lambda t: Piecewise((1, _isnan_fn(t)), (0, True)), name="isnan")
_isfinite = elementwise(lambda t: Piecewise((1, _isfinite_fn(t)), (0, True)), name="isfinite")
_isinf = elementwise(lambda t: Piecewise((0, _isnan_fn(t) | _isfinite_fn(t)), (1, True)),
                     name="isinf")


def _is_integer(x):
    """Whether ``x`` (an expression, number or array) has an integer dtype."""
    if isinstance(x, Expr):
        return not x.dtype.startswith("float")
    if isinstance(x, (bool, numbers.Integral)):
        return True
    return isinstance(x, (np.ndarray, list, tuple)) and np.asarray(x).dtype.kind in "iub"


def _integer_dtype(*xs):
    """The integer result dtype when every argument is an integer, else None."""
    if not builtins.all(_is_integer(x) for x in xs):
        return None
    return result_dtype([x.dtype for x in xs if isinstance(x, Expr)])


def tan(x):
    """Tangent, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.tan(x), x).eval({x: 0.0}))
    1.0
    """
    return _tan(x)


def arcsin(x):
    """Inverse sine, elementwise (nan outside [-1, 1]); also ``sg.asin``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.arcsin(x).eval({x: [0.0, 1.0]}).round(6)
    array([0.      , 1.570796])
    """
    return _arcsin(x)


def arccos(x):
    """Inverse cosine, elementwise; also ``sg.acos``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.arccos(x), x).eval({x: 0.0}))
    -1.0
    """
    return _arccos(x)


def arctan(x):
    """Inverse tangent, elementwise; also ``sg.atan``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.arctan(x), x).eval({x: 1.0}))
    0.5
    """
    return _arctan(x)


def sinh(x):
    """Hyperbolic sine, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.sinh(x), x).eval({x: 0.0}))
    1.0
    """
    return _sinh(x)


def cosh(x):
    """Hyperbolic cosine, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.cosh(x).eval({x: 0.0}))
    1.0
    """
    return _cosh(x)


def arcsinh(x):
    """Inverse hyperbolic sine, elementwise; also ``sg.asinh``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.arcsinh(x), x).eval({x: 0.0}))
    1.0
    """
    return _arcsinh(x)


def arccosh(x):
    """Inverse hyperbolic cosine, elementwise (nan below 1); also ``sg.acosh``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.arccosh(x).eval({x: 1.0}))
    0.0
    """
    return _arccosh(x)


def arctanh(x):
    """Inverse hyperbolic tangent, elementwise; also ``sg.atanh``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> float(sg.grad(sg.arctanh(x), x).eval({x: 0.5}))
    1.3333333333333333
    """
    return _arctanh(x)


asin, acos, atan = arcsin, arccos, arctan
asinh, acosh, atanh = arcsinh, arccosh, arctanh


def log2(x):
    """Base-2 logarithm, elementwise (exact at powers of 2, as NumPy's).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.log2(x).eval({x: [8.0, 0.5]})
    array([ 3., -1.])
    """
    return _log2(x)


def log10(x):
    """Base-10 logarithm, elementwise.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.log10(x).eval({x: [1000.0, 0.1]})
    array([ 3., -1.])
    """
    return _log10(x)


def exp2(x):
    """2**x, elementwise; its derivative is taken as y ln 2.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.exp2(x).eval({x: [3.0, -1.0]})
    array([8. , 0.5])
    """
    return _exp2(x)


def cbrt(x):
    """The real cube root, elementwise: cbrt(-8) = -2 (as NumPy).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.cbrt(x).eval({x: [-8.0, 27.0]})
    array([-2.,  3.])
    """
    return _cbrt(x)


def square(x):
    """x * x, elementwise (an integer input stays integer, as NumPy).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.grad(sg.square(x).sum(), x).eval({x: [1.0, -3.0]})
    array([ 2., -6.])
    """
    return _square(x)


def reciprocal(x):
    """1 / x, elementwise. An integer input gives floats (as PyTorch; NumPy's
    integer reciprocal truncates, 1 // x).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.reciprocal(x).eval({x: [2.0, -0.5]})
    array([ 0.5, -2. ])
    """
    return _reciprocal(x)


def rsqrt(x):
    """1 / sqrt(x), elementwise (PyTorch's rsqrt).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.rsqrt(x).eval({x: [4.0, 0.25]})
    array([0.5, 2. ])
    """
    return _rsqrt(x)


def sign(x):
    """-1, 0 or 1 by the sign of x (nan stays nan), elementwise; the derivative is 0.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.sign(x).eval({x: [-2.0, 0.0, 3.0]})
    array([-1.,  0.,  1.])
    """
    return _sign(x)


def floor(x):
    """The largest integer <= x, elementwise; the derivative is 0. An integer
    input is returned as it is (as NumPy 2).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.floor(x).eval({x: [-1.5, 2.5]})
    array([-2.,  2.])
    """
    return x if _is_integer(x) else _floor(x)


def ceil(x):
    """The smallest integer >= x, elementwise; the derivative is 0. An integer
    input is returned as it is (as NumPy 2).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.ceil(x).eval({x: [-1.5, 2.5]})
    array([-1.,  3.])
    """
    return x if _is_integer(x) else _ceil(x)


def trunc(x):
    """x rounded toward zero, elementwise; the derivative is 0.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.trunc(x).eval({x: [-1.5, 2.5]})
    array([-1.,  2.])
    """
    return x if _is_integer(x) else _trunc(x)


def round(a, decimals=0):  # noqa: A001 - NumPy's name
    """``a`` rounded to ``decimals`` decimal places, halves to even (NumPy's round:
    ``rint(a * 10**decimals) / 10**decimals``); the derivative is 0.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> sg.round(x).eval({x: [0.5, 1.5, 2.5, -0.5]})
    array([ 0.,  2.,  2., -0.])
    >>> sg.round(x, 1).eval({x: [0.25, 1.04, 2.0, -0.35]})
    array([ 0.2,  1. ,  2. , -0.4])
    """
    if not isinstance(decimals, numbers.Integral):
        raise TypeError(f"sg.round: decimals must be an int, got {decimals!r}")
    decimals = int(decimals)
    if _is_integer(a):
        if decimals >= 0:
            return a
        return cast(round(cast(a, "float64"), decimals), a.dtype) if isinstance(a, Expr) \
            else round(np.asarray(a, dtype=np.float64), decimals)
    if decimals == 0:
        return _rint(a)
    # a constant node, not a number: SymPy would make x / 100.0 into x * 0.01,
    # which is not NumPy's correctly rounded division (0.57 * 100 / 100 != 0.57 * 100 * 0.01)
    f = constant(10.0 ** builtins.abs(decimals), dtype=getattr(a, "dtype", "float64"))
    return _rint(a * f) / f if decimals > 0 else _rint(a / f) * f


def hypot(x1, x2):
    """sqrt(x1**2 + x2**2) without overflow or underflow, elementwise (NumPy's
    hypot). The gradient is (x1, x2) / hypot: nan at (0, 0), as PyTorch's.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 2)
    >>> sg.hypot(a, 4.0).eval({a: [3.0, 1e200]})
    array([5.e+000, 1.e+200])
    """
    return _hypot(x1, x2)


def arctan2(x1, x2):
    """The angle of the point (x2, x1), in (-pi, pi], elementwise (NumPy's
    arctan2(y, x)); also ``sg.atan2``.

    >>> import symgrad as sg
    >>> y = sg.vector("y", 2)
    >>> sg.arctan2(y, -1.0).eval({y: [0.0, -1.0]}).round(6)
    array([ 3.141593, -2.356194])
    """
    return _arctan2(x1, x2)


atan2 = arctan2


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)), elementwise, without overflow or underflow at large
    magnitude (as NumPy's); the gradient is softmax-like, also at ±1000.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 3)
    >>> sg.logaddexp(a, 1000.0).eval({a: [1000.0, -1000.0, 0.0]}).round(6)
    array([1000.693147, 1000.      , 1000.      ])
    """
    return _logaddexp(x1, x2)


def sinc(x):
    """NumPy's normalised sinc, sin(pi x) / (pi x), with sinc(0) = 1; its
    derivatives are right at 0 too (sinc'(0) = 0, sinc''(0) = -pi**2 / 3).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.sinc(x).eval({x: [0.0, 0.5, 1.0]}).round(6)
    array([1.     , 0.63662, 0.     ])
    """
    return _sinc(x)


def erf(x):
    """The error function, elementwise.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> sg.grad(sg.erf(x), x).eval({x: 0.0}).round(6)
    np.float64(1.128379)
    """
    return _erf(x)


def erfc(x):
    """The complementary error function 1 - erf(x), elementwise, accurate where
    erf(x) is close to 1.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.erfc(x).eval({x: [0.0, 10.0]})
    array([1.00000000e+00, 2.08848758e-45])
    """
    return _erfc(x)


def erfinv(x):
    """The inverse error function, elementwise (SciPy's erfinv): ±inf at ±1, nan
    beyond; its derivative is sqrt(pi) / 2 * exp(erfinv(x)**2).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.erfinv(x).eval({x: [0.0, 0.5, -1.0]}).round(6)
    array([0.      , 0.476936,     -inf])
    """
    return _erfinv(x)


def log1p(x):
    """log(1 + x), elementwise, accurate for small x.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.log1p(x).eval({x: [1e-20, 0.0]})
    array([1.e-20, 0.e+00])
    """
    return _log1p(x)


def expm1(x):
    """exp(x) - 1, elementwise, accurate for small x.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.expm1(x).eval({x: [1e-20, 0.0]})
    array([1.e-20, 0.e+00])
    """
    return _expm1(x)


def fmax(x1, x2):
    """Elementwise maximum that ignores nan (NumPy's fmax: nan only where both are
    nan); at ties the whole gradient goes to ``x1``, as :func:`maximum`.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 3)
    >>> sg.fmax(a, [1.0, float("nan"), float("nan")]).eval({a: [float("nan"), 2.0, float("nan")]})
    array([ 1.,  2., nan])
    """
    return _fmax(x1, x2)


def fmin(x1, x2):
    """Elementwise minimum that ignores nan (NumPy's fmin); ties go to ``x1``.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 2)
    >>> sg.fmin(a, 1.0).eval({a: [float("nan"), 2.0]})
    array([1., 1.])
    """
    return _fmin(x1, x2)


def mod(x1, x2):
    """The remainder of x1 / x2 with the sign of the divisor x2 (NumPy's mod,
    Python's %); also ``sg.remainder``. The gradient is 1 for x1 and
    -floor(x1 / x2) for x2; integers stay integers.

    >>> import symgrad as sg
    >>> a = sg.vector("a", 3)
    >>> sg.mod(a, 3.0).eval({a: [7.0, -1.0, 4.5]})
    array([1. , 2. , 1.5])
    >>> sg.mod(a, -3.0).eval({a: [7.0, -1.0, 4.5]})
    array([-2. , -1. , -1.5])
    """
    return apply(_mod.formula, (x1, x2), "mod", dtype=_integer_dtype(x1, x2))


remainder = mod


def clip(a, a_min=None, a_max=None):
    """``a`` limited to [a_min, a_max] elementwise (None: that side is open), with
    NumPy's argument names; where a_min > a_max the result is a_max, as NumPy's.
    The gradient passes to ``a`` inside and at the bounds, and to a bound where it
    clips (as ``torch.clamp``).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> sg.clip(x, 0.0, 1.0).eval({x: [-1.0, 0.0, 0.5, 2.0]})
    array([0. , 0. , 0.5, 1. ])
    >>> sg.grad(sg.clip(x, 0.0, 1.0).sum(), x).eval({x: [-1.0, 0.0, 0.5, 2.0]})
    array([0., 1., 1., 0.])
    """
    if a_min is None and a_max is None:
        return a
    t, lo, hi = sympy.symbols("t lo hi", real=True)
    if a_max is None:
        body, args = Piecewise((lo, t < lo), (t, True)), (t, lo)
    elif a_min is None:
        body, args = Piecewise((hi, t > hi), (t, True)), (t, hi)
    else:
        body, args = Piecewise((hi, (t > hi) | (lo > hi)), (lo, t < lo), (t, True)), (t, lo, hi)
    values = {t: a, lo: a_min, hi: a_max}
    return apply(sympy.Lambda(args, body), [values[s] for s in args], "clip")


def isnan(x):
    """1 where x is nan else 0, in x's float dtype (a mask, like :func:`eq`);
    no gradient flows through it.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.isnan(x).eval({x: [1.0, float("nan"), float("inf")]})
    array([0., 1., 0.])
    """
    return _isnan(x)


def isfinite(x):
    """1 where x is neither inf nor nan else 0, in x's float dtype; no gradient.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.isfinite(x).eval({x: [1.0, float("nan"), float("-inf")]})
    array([1., 0., 0.])
    """
    return _isfinite(x)


def isinf(x):
    """1 where x is inf or -inf else 0, in x's float dtype; no gradient.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.isinf(x).eval({x: [1.0, float("nan"), float("-inf")]})
    array([0., 0., 1.])
    """
    return _isinf(x)
