"""Arrays made from a shape and a value: ``zeros``, ``ones``, ``full`` and their
``_like`` forms, ``arange``, ``eye``, and ``one_hot``; NumPy's names, argument
names and defaults.

With ``dtype=None`` they are *weakly typed* (``ops/leaves.py``): float64 (or
int64) alone, but a float32 model that uses them stays float32, as NumPy 2
treats Python scalars and JAX its weak types; an explicit ``dtype`` is
strong and promotes as NumPy does. A shape may hold named dimensions: the
value is one number broadcast to it (a view), never a big constant.
"""
import numbers

import numpy as np
import sympy

from .elementwise_ops import eq, where
from .errors import ShapeError
from .graph import Expr
from .ops import Broadcast, Cumsum, Reshape
from .ops.elementwise import cast
from .ops.leaves import constant, is_weak, weak_constant
from .types import as_dim, as_dtype, as_shape, check_size, is_float, same_dim, shape_str

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "eye",
           "one_hot"]

_EYE_CONSTANT_LIMIT = 1 << 16
"""Up to this many entries a fixed-size ``eye`` is a constant; beyond, a
comparison of two ``arange`` (no N*M array passed to the compiled code)."""


def _spread(value, shape, what):
    """``value`` (an expression) broadcast to ``shape`` under NumPy's rules."""
    lead = len(shape) - value.ndim
    if lead < 0 or any(d != 1 and not same_dim(d, t) for d, t in zip(value.shape, shape[lead:])):
        raise ShapeError(f"{what}: the fill value {value.describe()} does not broadcast to "
                         f"shape {shape_str(shape)}")
    check_size(shape, value.dtype, what)
    return Broadcast(shape)(value) if shape != value.shape else value


def _fill(fill_value, dtype, what):
    """The fill value as an expression of ``dtype`` (None: its own; weak for a Python number)."""
    if isinstance(fill_value, Expr):
        return fill_value if dtype is None else cast(fill_value, dtype)
    if not isinstance(fill_value, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        raise TypeError(f"{what}: the fill value must be a number, an array or an expression, "
                        f"got {type(fill_value).__name__} {fill_value!r}")
    return constant(fill_value, dtype=dtype)


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` (ints and dimension names) filled with ``fill_value``
    (a number, an array or an expression broadcast to it), as ``numpy.full``.

    A Python number without ``dtype`` is weak: the result takes the dtype of
    the float32 (or float64) expressions it is combined with.

    >>> import symgrad as sg
    >>> sg.full((2, 3), 7.0).eval({})
    array([[7., 7., 7.],
           [7., 7., 7.]])
    >>> x = sg.vector("x", "n", dtype="float32")
    >>> y = x + sg.full("n", 0.5)
    >>> y.dtype, y.eval({x: np.ones(2, np.float32)})
    ('float32', array([1.5, 1.5], dtype=float32))
    """
    shape = as_shape(shape, "full")
    return _spread(_fill(fill_value, dtype, "sg.full"), shape, "sg.full")


def zeros(shape, dtype=None):
    """An array of zeros, as ``numpy.zeros`` (float64 by default, weakly typed).

    >>> import symgrad as sg
    >>> sg.zeros(3).eval({})
    array([0., 0., 0.])
    >>> x = sg.matrix("x", "batch", 2, dtype="float32")
    >>> sg.concatenate([x, sg.zeros(("batch", 1))], axis=1).dtype
    'float32'
    """
    return full(shape, 0.0 if dtype is None else 0, dtype)


def ones(shape, dtype=None):
    """An array of ones, as ``numpy.ones`` (float64 by default, weakly typed).

    >>> import symgrad as sg
    >>> sg.ones((2,), dtype="int32").eval({})
    array([1, 1], dtype=int32)
    >>> (sg.vector("x", 3, dtype="float32") * sg.ones(3)).dtype
    'float32'
    """
    return full(shape, 1.0 if dtype is None else 1, dtype)


def full_like(a, fill_value, dtype=None, shape=None):
    """An array shaped and typed like ``a`` (an expression or array) filled with
    ``fill_value``, as ``numpy.full_like`` (the value is cast to a's dtype).
    ``shape`` overrides a's shape. It is weak when ``a`` is and ``dtype`` is None.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n", dtype="float32")
    >>> c = sg.full_like(x, 2)
    >>> c.shape, c.dtype, c.eval({x: np.zeros(3, np.float32)})
    ((n,), 'float32', array([2., 2., 2.], dtype=float32))
    """
    if not isinstance(a, Expr):
        a = constant(a)
    shape = a.shape if shape is None else as_shape(shape, "full_like")
    dtype = a.dtype if dtype is None else as_dtype(dtype)
    if isinstance(fill_value, Expr):
        value = cast(fill_value, dtype)
    else:
        value = _fill(fill_value, dtype, "sg.full_like")  # strong, of dtype
        if dtype == a.dtype and is_weak(a):
            value = weak_constant(value.op.value, dtype)
    return _spread(value, shape, "sg.full_like")


def zeros_like(a, dtype=None, shape=None):
    """Zeros shaped and typed like ``a``, as ``numpy.zeros_like``.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", "m", 2, dtype="float32")
    >>> z = sg.zeros_like(x)
    >>> z.shape, z.dtype
    ((m, 2), 'float32')
    """
    return full_like(a, 0, dtype, shape)


def ones_like(a, dtype=None, shape=None):
    """Ones shaped and typed like ``a``, as ``numpy.ones_like``.

    >>> import symgrad as sg
    >>> sg.ones_like(sg.vector("i", 2, dtype="int64")).eval({})
    array([1, 1])
    """
    return full_like(a, 1, dtype, shape)


def _is_named(v):
    return isinstance(v, str) or (isinstance(v, sympy.Basic) and not v.is_Integer)


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)``, as ``numpy.arange([start,] stop[, step])``:
    int64 for integer arguments, float64 for floats (weakly typed unless ``dtype``).

    ``arange(n)`` for a named dimension ``n`` is ``0, 1, ..., n - 1``, its size
    known at call time.

    >>> import symgrad as sg
    >>> sg.arange(4).eval({})
    array([0, 1, 2, 3])
    >>> sg.arange(1, 2, 0.25).eval({})
    array([1.  , 1.25, 1.5 , 1.75])
    >>> x = sg.vector("x", "n")
    >>> (x * sg.arange("n")).eval({x: [5.0, 6.0, 7.0]})
    array([ 0.,  6., 14.])
    """
    if stop is None:
        start, stop = 0, start
    start, stop, step = (int(v) if isinstance(v, sympy.Integer) else v for v in (start, stop, step))
    if any(_is_named(v) for v in (start, step)):
        raise ValueError(f"arange({start!r}, {stop!r}, {step!r}): only the stop may be a "
                         "named dimension")
    if _is_named(stop):
        if start != 0 or step not in (None, 1):
            raise ValueError(f"arange with the named dimension {stop} as stop counts from 0 "
                             f"by 1, got start={start!r}, step={step!r}; use "
                             f"sg.arange({stop!r}) * step + start")
        d = as_dim(stop, "arange")
        # the size is only known at call time: the running count of ones, minus one
        return Cumsum(0)(Broadcast((d,))(constant(1, dtype=dtype))) - 1
    if step == 0:
        raise ValueError("arange: step must not be zero")
    step = 1 if step is None else step
    values = np.arange(start, stop, step)
    if dtype is not None:
        return constant(np.arange(start, stop, step, dtype=as_dtype(dtype)))
    return weak_constant(values, "float64" if values.dtype.kind == "f" else "int64")


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - NumPy's argument names
    """An ``N`` x ``M`` matrix with ones on the ``k``-th diagonal, as ``numpy.eye``
    (float64 by default, weakly typed); named sizes work.

    >>> import symgrad as sg
    >>> sg.eye(2, 3, k=1).eval({})
    array([[0., 1., 0.],
           [0., 0., 1.]])
    >>> x = sg.vector("x", 3, dtype="float32")
    >>> (x @ sg.eye(3)).dtype
    'float32'
    """
    N = as_dim(N, "eye")
    M = N if M is None else as_dim(M, "eye")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"eye: the diagonal k must be an int, got {k!r}")
    if isinstance(N, int) and isinstance(M, int) and N * M <= _EYE_CONSTANT_LIMIT:
        value = np.eye(N, M, int(k))
        return weak_constant(value, "float64") if dtype is None else constant(value, dtype=dtype)
    rows = Reshape((N, 1))(arange(N))
    cols = Reshape((1, M))(arange(M))
    one, zero = (1.0, 0.0) if dtype is None else (constant(1, dtype), constant(0, dtype))
    return where(eq(rows + int(k), cols), one, zero)


def one_hot(labels, num_classes):
    """A float mask with a new last axis of ``num_classes``: 1 where the index
    equals the label, as PyTorch's ``F.one_hot`` (but float, weakly typed, so a
    float32 model stays float32). ``num_classes`` may be a named dimension; a
    label outside ``[0, num_classes)`` gives a row of zeros.

    >>> import symgrad as sg
    >>> y = sg.vector("y", "batch", dtype="int64")
    >>> sg.one_hot(y, 3).eval({y: [2, 0]})
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    if not isinstance(labels, Expr):
        labels = constant(np.asarray(labels))
    if is_float(labels.dtype):
        raise TypeError(f"one_hot: the labels {labels.describe()} must have an integer dtype; "
                        "cast them with sg.cast(labels, 'int64')")
    classes = as_dim(num_classes, "one_hot")
    column = Reshape(labels.shape + (1,))(labels)
    return where(eq(column, arange(classes)), 1.0, 0.0)
