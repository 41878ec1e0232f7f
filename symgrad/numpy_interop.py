"""NumPy's functions on expressions: ``np.exp(x)``, ``np.maximum(x, 0)``,
``np.sum(x, axis=0)``, ``np.dot(a, x)``, ``arr @ x`` ... build symgrad's op.

NumPy hands every ufunc call that involves an ``Expr`` (including the
operators of arrays and NumPy scalars: ``arr + x``, ``np.float64(2) * x``)
to ``Expr.__array_ufunc__``, and every other NumPy function to
``Expr.__array_function__``. Both look the NumPy callable up in one table,
derived from symgrad's public names: ``np.<name>`` maps to ``sg.<name>``
whenever symgrad exports ``name``. ``_ALIASES`` lists only the spellings
that differ (``np.add`` is ``+``, ``np.amax`` is ``sg.max``, ...). The
operands keep symgrad's dtype rules: Python and NumPy scalars fold into the
formula, arrays are strong constants.

Comparisons follow the side NumPy reads them from: ``arr < x`` is the
0/1 float expression ``x > arr`` is, and ``arr == x`` is NumPy's
``np.equal``, so it builds ``sg.eq``; ``x == anything`` stays identity
(Python asks ``x`` first), so expressions remain dict keys.

Ufunc methods: ``np.add.reduce`` / ``np.multiply.reduce`` /
``np.maximum.reduce`` / ``np.minimum.reduce`` / ``np.logaddexp.reduce``
are ``sg.sum`` / ``sg.prod`` / ``sg.max`` / ``sg.min`` / ``sg.logsumexp``
over NumPy's default ``axis=0``, ``np.add.accumulate`` and
``np.multiply.accumulate`` are ``sg.cumsum`` and ``sg.cumprod``. Anything
else (``out=``, another keyword, a ufunc or function symgrad lacks) raises
TypeError naming the symgrad function to use, or saying there is none.
"""
import functools
import inspect
import operator

import numpy as np

from .graph import Expr

_PUBLIC = []  # symgrad's public namespace, once symgrad/__init__.py has defined it


def register(namespace):
    """Map NumPy's names onto ``namespace`` (the ``symgrad`` module, which calls
    this once its ``__all__`` is complete). Handed in rather than imported, so
    that this module, which ``Expr``'s methods use, does not import the package
    that imports it.

    >>> import symgrad as sg
    >>> _public() is sg
    True
    """
    _PUBLIC[:] = [namespace]


def _public():
    if not _PUBLIC:
        raise RuntimeError("symgrad's NumPy interop is used before `import symgrad` finished")
    return _PUBLIC[0]


@functools.cache
def _aliases():
    """NumPy callables whose symgrad counterpart has another name:
    {NumPy callable: (symgrad callable, how to write it)}."""
    sg = _public()
    from . import elementwise_ops as ew

    return {
        np.add: (ew._add, "a + b"), np.subtract: (ew._sub, "a - b"),
        np.multiply: (ew._mul, "a * b"), np.divide: (ew._div, "a / b"),
        np.power: (ew._pow, "a ** b"), np.negative: (ew._neg, "-a"),
        np.positive: (operator.pos, "+a"),
        np.less: (ew._lt, "a < b"), np.less_equal: (ew._le, "a <= b"),
        np.greater: (ew._gt, "a > b"), np.greater_equal: (ew._ge, "a >= b"),
        np.fabs: (sg.abs, "sg.abs"), np.rint: (sg.round, "sg.round"),
        np.amax: (sg.max, "sg.max"), np.amin: (sg.min, "sg.min"),
        np.around: (sg.round, "sg.round"), np.linalg.norm: (sg.norm, "sg.norm"),
    }


@functools.cache
def table():
    """{NumPy ufunc or function: (symgrad callable, its spelling)}: ``np.<name>``
    for every public symgrad ``name`` NumPy also has, and ``_aliases()``.

    >>> import numpy as np
    >>> table()[np.exp][1], table()[np.sum][1], table()[np.add][1]
    ('sg.exp', 'sg.sum', 'a + b')
    """
    sg = _public()

    found = {}
    for name in sg.__all__:
        numpy_obj = getattr(np, name, None)
        if callable(numpy_obj) and not isinstance(numpy_obj, type):  # not np.matrix
            found[numpy_obj] = (getattr(sg, name), f"sg.{name}")
    found.update(_aliases())
    return found


@functools.cache
def _ufunc_methods():
    """{(ufunc, method): (symgrad function, its spelling, method keywords it takes)}."""
    sg = _public()

    return {
        (np.add, "reduce"): (sg.sum, "sg.sum", ("axis", "keepdims")),
        (np.multiply, "reduce"): (sg.prod, "sg.prod", ("axis", "keepdims")),
        (np.maximum, "reduce"): (sg.max, "sg.max", ("axis", "keepdims")),
        (np.minimum, "reduce"): (sg.min, "sg.min", ("axis", "keepdims")),
        (np.logaddexp, "reduce"): (sg.logsumexp, "sg.logsumexp", ("axis", "keepdims")),
        (np.add, "accumulate"): (sg.cumsum, "sg.cumsum", ("axis",)),
        (np.multiply, "accumulate"): (sg.cumprod, "sg.cumprod", ("axis",)),
    }


def _numpy_name(obj):
    module = getattr(obj, "__module__", None) or "numpy"
    return f"{module}.{obj.__name__}"


def _operands(args):
    """The expressions among ``args`` (one level into lists and tuples), described."""
    flat = [b for a in args for b in (a if isinstance(a, (list, tuple)) else (a,))]
    return ", ".join(x.describe() for x in flat if isinstance(x, Expr)) or "expressions"


def _no_counterpart(obj, args):
    return TypeError(
        f"{_numpy_name(obj)} has no symgrad counterpart (called on {_operands(args)}): "
        "build the formula from symgrad's ops (the names in sg.__all__; sg.elementwise "
        "makes a new elementwise op from a SymPy formula), or evaluate the expression "
        "first (sg.function or expr.eval) and use NumPy on the values")


def _given(kwargs):
    """The keywords actually given: NumPy passes some of its defaults as None
    (``axis=None`` is a choice, though: all axes)."""
    return {k: v for k, v in kwargs.items() if v is not None or k == "axis"}


def _call(fn, spelling, numpy_name, args, kwargs):
    """``fn(*args, **kwargs)``, after checking the arguments fit ``fn``'s
    signature, so that a NumPy-only argument is named in the error."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{numpy_name} on {_operands(args)} builds {spelling}, "
                        f"whose arguments are {inspect.signature(fn)}: {err}") from None
    except ValueError:  # a builtin without a signature: let the call check
        pass
    return fn(*args, **kwargs)


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``Expr.__array_ufunc__``: a NumPy ufunc (or an array's operator) on
    expressions builds symgrad's op; the operands keep symgrad's dtype rules.

    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> np.exp(x).eval({x: [0.0, 1.0]})
    array([1.        , 2.71828183])
    >>> (np.array([1.0, 2.0]) * x).eval({x: [3.0, 4.0]})
    array([3., 8.])
    >>> float(np.add.reduce(x).eval({x: [3.0, 4.0]}))
    7.0
    """
    kwargs = _given(kwargs)
    where = f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
    if "out" in kwargs:
        raise TypeError(f"{where}(..., out=...) on {_operands(inputs)}: a symbolic result cannot "
                        "be written into an array; assign the expression instead "
                        "(y = a + x rather than a += x with a NumPy array a)")
    if method != "__call__":
        if (ufunc, method) not in _ufunc_methods():
            supported = ", ".join(f"numpy.{u.__name__}.{m}" for u, m in _ufunc_methods())
            raise TypeError(f"{where} on {_operands(inputs)} has no symgrad counterpart; "
                            f"supported ufunc methods: {supported}")
        fn, spelling, allowed = _ufunc_methods()[ufunc, method]
        extra = sorted(set(kwargs) - set(allowed))
        if extra:
            raise TypeError(f"{where} on {_operands(inputs)} builds {spelling}, which takes no "
                            f"{', '.join(extra)}; supported: {', '.join(allowed)}")
        kwargs.setdefault("axis", 0)  # NumPy's default for ufunc methods, unlike sg.sum's
        return _call(fn, spelling, where, inputs, kwargs)
    if ufunc not in table():
        raise _no_counterpart(ufunc, inputs)
    fn, spelling = table()[ufunc]
    if kwargs:
        hint = f"; write sg.cast({spelling}(...), dtype)" if "dtype" in kwargs else ""
        raise TypeError(f"{where} on {_operands(inputs)} builds {spelling}, which takes no "
                        f"keyword {', '.join(sorted(kwargs))}{hint}")
    return _call(fn, spelling, where, inputs, {})


def array_function(self, func, types, args, kwargs):
    """``Expr.__array_function__``: a NumPy function (``np.sum``, ``np.dot``,
    ``np.where``, ``np.concatenate``, ...) on expressions builds the symgrad
    function of the same name.

    >>> import numpy as np, symgrad as sg
    >>> X = sg.matrix("X", 2, 3)
    >>> np.sum(X, axis=0).eval({X: np.arange(6.0).reshape(2, 3)})
    array([3., 5., 7.])
    >>> np.concatenate([X, np.ones((1, 3))]).shape
    (3, 3)
    """
    if not all(issubclass(t, (Expr, np.ndarray)) for t in types):
        return NotImplemented  # another library's array: let it (or NumPy) decide
    if func not in table():
        raise _no_counterpart(func, args)
    fn, spelling = table()[func]
    return _call(fn, spelling, _numpy_name(func), args, kwargs)


def no_array(self, dtype=None, copy=None):
    """``Expr.__array__``: an expression has no values until it is evaluated,
    so ``np.asarray(x)`` raises instead of making an object array.

    >>> import numpy as np, symgrad as sg
    >>> np.asarray(sg.vector("x", 2))
    Traceback (most recent call last):
    ...
    TypeError: 'x' (float64, shape (2,)) is symbolic: NumPy cannot turn it into an array. Evaluate it with expr.eval({input: value, ...}) or sg.function(inputs, expr); NumPy's functions on it (np.exp(x), np.sum(x)) build symgrad ops
    """
    raise TypeError(f"{self.describe()} is symbolic: NumPy cannot turn it into an array. "
                    "Evaluate it with expr.eval({input: value, ...}) or sg.function(inputs, "
                    "expr); NumPy's functions on it (np.exp(x), np.sum(x)) build symgrad ops")
