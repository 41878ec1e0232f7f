"""The built-in elementwise ops: arithmetic, math functions and nonlinearities.

Each is a SymPy formula turned into an op by :func:`elementwise`; the
formulas at kinks are written so that ``sympy.diff`` yields API.md's
conventions.
"""
import numpy as np
import sympy
from sympy import Piecewise

from .elementwise import elementwise


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
