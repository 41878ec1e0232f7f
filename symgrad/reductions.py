"""Reductions beyond sum/mean/max, as compositions: prod, cumprod, var, std, norm.

Products are running products, a linear recurrence (the ``Scan`` primitive,
``symgrad/ops/scan.py``): the gradient of a product with respect to one
factor is the product of the others, formed from the running products before
and after it, never by dividing by the factor, so zeros (one, two, ...) have
exact first and second derivatives. ``var`` is the two-pass form
``sum((x - mean)**2) / (N - ddof)``; ``norm`` is ``numpy.linalg.norm`` for
vectors and matrices, built from ``sum``, ``max``/``min`` and ``abs``.
"""
import numpy as np
import sympy

from . import elementwise_ops as ew
from . import tensor_ops as T
from .constructors import dim_size
from .elementwise import cast, elementwise
from .errors import ShapeError
from .ops import Broadcast, SliceAdd
from .ops.leaves import constant
from .ops.scan import Scan
from .ops.slicing import Concatenate, slice_axis
from .types import is_float, normalize_axes, size_of

__all__ = ["prod", "cumprod", "var", "std", "norm"]


# ---------------------------------------------------------------- products

def _full(shape, value, dtype):
    return Broadcast(shape)(constant(np.full((), value, dtype=dtype)))


def _dim(v):
    v = sympy.sympify(v)
    return int(v) if v.is_Integer else v


def _running_products(x, axis):
    """``r`` one longer than ``x`` along ``axis``: ``r[0] = 1``, ``r[i] = x[0] * ... * x[i-1]``.

    The scan y[i] = a[i] * y[i-1] + b[i] with a = [1, x...] and b = [1, 0, ...]:
    the leading 1 makes an empty axis (a named one bound to 0 too) give the
    empty product, and every read stays in range."""
    slab = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    a = Concatenate(axis)(_full(slab, 1, x.dtype), x)
    first = tuple((0, 1, 1) if k == axis else (0, d, 1) for k, d in enumerate(a.shape))
    b = SliceAdd(a.shape, first)(_full(slab, 1, x.dtype))
    return Scan(axis)(a, b)


def _integer_wide(x):
    """As NumPy: products of int32 (and bool-like small ints) accumulate in int64."""
    return cast(x, "int64") if x.dtype == "int32" else x


def prod(a, axis=None, keepdims=False):
    """Product of the elements over ``axis`` (None: all; an int or a tuple), as
    ``numpy.prod``; int32 multiplies in int64. Zero-safe: the gradient with
    respect to one entry is the product of the others (never a division), so
    inputs with one or more zeros have exact first and second derivatives.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> float(sg.prod(x).eval({x: [2.0, 3.0, 4.0]}))
    24.0
    >>> sg.grad(sg.prod(x), x).eval({x: [2.0, 0.0, 4.0]})
    array([0., 8., 0.])
    >>> M = sg.matrix("M", "m", 2)
    >>> sg.prod(M, axis=0).eval({M: [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]})
    array([15., 48.])
    """
    x = _integer_wide(T._as_expr(a))
    axes = normalize_axes(axis, x.ndim, x.describe())
    if not axes:
        return x
    others = [k for k in range(x.ndim) if k not in axes]
    rest = tuple(x.shape[k] for k in others)
    m = _dim(size_of([x.shape[k] for k in axes]))
    flat = T.reshape(T.transpose(x, others + list(axes)), rest + (m,))
    if m == 0:
        out = _full(rest, 1, x.dtype)
    else:
        last = len(rest)
        out = T.reshape(slice_axis(_running_products(flat, last), last, m, _dim(m + 1)), rest)
    return T._keep(x, out, axes, keepdims)


def cumprod(a, axis=None):
    """Cumulative product along ``axis`` (None: over the flattened array), as
    ``numpy.cumprod``; int32 multiplies in int64. Zero-safe like :func:`prod`:
    no division anywhere, so zeros get exact gradients.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> sg.cumprod(x).eval({x: [1.0, 2.0, 0.0, 3.0]})
    array([1., 2., 0., 0.])
    >>> sg.grad(sg.cumprod(x)[3], x).eval({x: [1.0, 2.0, 0.0, 3.0]})
    array([0., 0., 6., 0.])
    """
    x = _integer_wide(T._as_expr(a))
    if axis is None:
        x, axis = T.reshape(x, (-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim, x.describe())
    n = x.shape[axis]
    if n == 0:
        return x
    return slice_axis(_running_products(x, axis), axis, 1, _dim(sympy.sympify(n) + 1))


# ---------------------------------------------------------------- moments

def _as_float(x):
    return x if is_float(x.dtype) else cast(x, "float64")


def var(a, axis=None, ddof=0, keepdims=False):
    """Variance over ``axis``, as ``numpy.var``: ``sum((x - mean)**2) / (N - ddof)``
    with N the number of elements reduced (a named dimension's size is taken
    at call time). Integers give float64. A static ``N - ddof <= 0`` is a
    ValueError (NumPy would return inf or nan).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> float(sg.var(x).eval({x: [1.0, 2.0, 3.0, 4.0]}))
    1.25
    >>> float(sg.var(x, ddof=1).eval({x: [1.0, 2.0, 3.0, 4.0]}))
    1.6666666666666667
    """
    x = _as_float(T._as_expr(a))
    axes = normalize_axes(axis, x.ndim, x.describe())
    dims = [x.shape[k] for k in axes]
    count = _dim(size_of(dims))
    if isinstance(count, int) and count - ddof <= 0:
        raise ValueError(f"var of {x.describe()} over axes {axes}: {count} element(s) with "
                         f"ddof={ddof} leaves no degree of freedom; use a smaller ddof")
    d = x - T.mean(x, axes, keepdims=True)
    total = T.sum(d * d, axes, keepdims)
    if isinstance(count, int):
        # a divisor node, not a number in the formula (SymPy would make it * 1/N): NumPy divides
        return total / constant(np.array(count - ddof, dtype=x.dtype)) if count - ddof != 1 \
            else total
    return total / cast(dim_size(count) - ddof, x.dtype)


def std(a, axis=None, ddof=0, keepdims=False):
    """Standard deviation over ``axis``, as ``numpy.std``: ``sqrt(var(a, axis,
    ddof, keepdims))``. As in PyTorch, the gradient is undefined (nan) where the
    variance is 0 (all reduced entries equal).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> float(sg.std(x).eval({x: [1.0, 1.0, 3.0, 3.0]}))
    1.0
    """
    return ew.sqrt(var(a, axis, ddof, keepdims))


# ---------------------------------------------------------------- norms

def _root(p):
    """s ** (1/p) for s >= 0, with the derivative at s = 0 taken as 0 (PyTorch's
    convention for a norm at the origin; the true one is infinite)."""
    return elementwise(lambda s: sympy.Piecewise((s ** (1 / p), s > 0), (0, True)),
                       name=f"root{p}")


def _abs_pow(p):
    """|t| ** p; its derivative at t = 0 is taken as 0 (PyTorch's convention)."""
    return elementwise(lambda t: sympy.Piecewise((t ** p, t > 0), ((-t) ** p, t < 0), (0, True)),
                       name=f"abs_pow{p}")


def _number(p):
    p = sympy.nsimplify(p) if float(p) == int(p) else sympy.Float(p)
    return p


def _vector_norm(x, ord, axes, keepdims):
    if isinstance(ord, str):
        raise ValueError(f"norm of {x.describe()} over axis {axes[0]}: ord={ord!r} is for "
                         "matrices; a vector norm takes None, a number, inf or -inf")
    if ord is None or ord == 2:
        return _root(sympy.Integer(2))(T.sum(x * x, axes, keepdims))
    if ord == np.inf:
        return T.max(ew.abs(x), axes, keepdims)
    if ord == -np.inf:
        return T.min(ew.abs(x), axes, keepdims)
    if ord == 0:
        return T.sum(cast(ew.neq(x, 0.0), x.dtype), axes, keepdims)
    if ord == 1:
        return T.sum(ew.abs(x), axes, keepdims)
    if ord < 0:
        raise ValueError(f"norm of {x.describe()}: ord={ord!r} < 0 is not supported for "
                         "vectors (a zero entry makes it 0); use p > 0, inf or -inf")
    p = _number(ord)
    return _root(p)(T.sum(_abs_pow(p)(x), axes, keepdims))


def _matrix_norm(x, ord, axes, keepdims):
    row, col = axes
    if ord in ("fro", "f") or ord is None:
        out = _root(sympy.Integer(2))(T.sum(x * x, (row, col), keepdims=True))
    elif ord in (1, -1):
        sums = T.sum(ew.abs(x), row, keepdims=True)
        out = (T.max if ord == 1 else T.min)(sums, col, keepdims=True)
    elif ord in (np.inf, -np.inf):
        sums = T.sum(ew.abs(x), col, keepdims=True)
        out = (T.max if ord == np.inf else T.min)(sums, row, keepdims=True)
    elif ord in (2, -2, "nuc"):
        raise ValueError(f"norm of {x.describe()} with ord={ord!r} needs singular values, "
                         "which symgrad does not compute; use 'fro', 1, -1, inf or -inf")
    else:
        raise ValueError(f"invalid norm order {ord!r} for the matrix {x.describe()}; use "
                         "'fro', 1, -1, inf or -inf")
    if keepdims:
        return out
    return T.reshape(out, tuple(d for k, d in enumerate(x.shape) if k not in axes))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm, as ``numpy.linalg.norm``.

    ``axis`` None: the 2-norm of the flattened array when ``ord`` is None,
    else a vector norm of a 1-d or a matrix norm of a 2-d ``x``. An int
    ``axis``: vector norms along it; a pair: matrix norms over those axes.
    Vector ``ord``: None or 2, 1, inf (max |x|), -inf (min |x|), 0 (the number
    of nonzero entries; no gradient), or any other p > 0 (``sum(|x|**p)**(1/p)``;
    a negative p is a ValueError).
    Matrix ``ord``: 'fro' (or None), 1 / -1 (max / min column sum of |x|),
    inf / -inf (max / min row sum); 2, -2 and 'nuc' need singular values and
    raise ValueError. Integers give float64.

    Gradients follow PyTorch: at a zero norm (x = 0) the gradient is undefined
    and taken as 0; |x|'s derivative at 0 is 0; for inf / -inf the gradient
    goes to the first extreme entry (as ``sg.max``), not split among ties.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> float(sg.norm(x).eval({x: [3.0, 4.0]}))
    5.0
    >>> sg.grad(sg.norm(x), x).eval({x: [0.0, 0.0]})
    array([0., 0.])
    >>> M = sg.matrix("M", 2, 2)
    >>> float(sg.norm(M, 1).eval({M: [[1.0, -2.0], [3.0, 4.0]]}))
    6.0
    """
    x = _as_float(T._as_expr(x))
    if axis is None:
        if ord is None:
            axes = normalize_axes(None, x.ndim, x.describe())
            out = _vector_norm(x, None, axes, keepdims=False)
            return T.reshape(out, (1,) * x.ndim) if keepdims else out
        if x.ndim not in (1, 2):
            raise ShapeError(f"norm with ord={ord!r} of {x.describe()}: without an axis the "
                             "array must be 1-d or 2-d; pass axis (an int or a pair)")
        axis = tuple(range(x.ndim))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axis) == 1:
        axes = normalize_axes(axis, x.ndim, x.describe())
        return _vector_norm(x, ord, axes, keepdims)
    if len(axis) == 2:
        normalize_axes(axis, x.ndim, x.describe())  # range and repeats
        return _matrix_norm(x, ord, tuple(int(k) % x.ndim for k in axis), keepdims)
    raise ShapeError(f"norm of {x.describe()}: axis {axis!r} names {len(axis)} axes; "
                     "give one (vector norms) or two (matrix norms)")
