"""Orderings: argmax/argmin, sort/argsort, take_along_axis, as NumPy's.

argmax is a composition: the first arg-max mask (``ArgOneHot``, the op that
routes a max's gradient) times the positions ``0..n-1``, summed over the
axis. argsort is the one primitive here (``ops.sorting.Argsort``: along the
last axis, stable, nan last; other axes are moved there and back). sort takes
the values at argsort's positions, a gather from the flattened array at
``row * n + position``: its adjoint (a scatter-add) carries the gradient, so
ties still get a valid gradient, each tied element its own share.
take_along_axis is that gather for any integer indices, checked per row. The
integer results (argmax, argmin, argsort) pass no gradient: autodiff stops at
integer nodes, so ``sg.cast(sg.argmax(x), "float64")`` is constant in ``x``.
"""
from .constructors import dim_size
from .creation import arange
from .elementwise_ops import where
from .errors import ShapeError
from .graph import Expr
from .ops import ArgOneHot, Argsort, Gather
from .ops.elementwise import cast
from .ops.leaves import constant
from .tensor_ops import broadcast_to, reshape, sum, transpose
from .types import broadcast_shapes, is_float, normalize_axes, size_of

__all__ = ["argmax", "argmin", "argsort", "sort", "take_along_axis"]

_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _as_expr(a):
    return a if isinstance(a, Expr) else constant(a)


def _one_axis(axis, x, what):
    """The int axis (NumPy takes one int here, not a tuple)."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{what} of {x.describe()}: axis must be an int or None, got {axis!r}")
    (a,) = normalize_axes(axis, x.ndim, x.describe())
    return a


def _arg(kind, a, axis, keepdims):
    x = _as_expr(a)
    what = f"arg{kind}"
    flat = axis is None
    ax = 0 if flat else _one_axis(axis, x, what)
    if flat:
        x = reshape(x, (-1,))
    n = x.shape[ax]
    if n == 0:
        raise ValueError(f"{what} of {x.describe()}: axis {ax} is empty (size 0), and an empty "
                         f"sequence has no {what}; pass a non-empty array")
    # the first arg-max as a 0/1 mask, times the positions along the axis, summed
    mask = cast(ArgOneHot(kind, (ax,))(x), "int64")
    positions = reshape(arange(n), (n,) + (1,) * (x.ndim - ax - 1))
    out = sum(mask * positions, axis=ax)
    if keepdims:
        a = _as_expr(a)
        kept = (1,) * a.ndim if flat else tuple(1 if b == ax else d for b, d in enumerate(x.shape))
        out = reshape(out, kept)
    return out


def argmax(a, axis=None, *, keepdims=False):
    """Indices (int64) of the maximum along ``axis`` (None: in the flattened
    array), as ``numpy.argmax``: the first one on ties, the first nan if there
    is one. No gradient flows through the result.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", 2, 3)
    >>> sg.argmax(x, axis=1).eval({x: [[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]]})
    array([1, 0])
    >>> int(sg.argmax(x).eval({x: [[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]]}))
    3
    >>> sg.argmax(x, axis=0, keepdims=True).shape
    (1, 3)
    """
    return _arg("max", a, axis, keepdims)


def argmin(a, axis=None, *, keepdims=False):
    """Indices (int64) of the minimum along ``axis`` (None: in the flattened
    array), as ``numpy.argmin``: the first one on ties, the first nan if there
    is one. No gradient flows through the result.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> int(sg.argmin(x).eval({x: [3.0, -1.0, 4.0, -1.0]}))
    1
    """
    return _arg("min", a, axis, keepdims)


def _check_kind(what, kind, order, stable):
    if kind not in _KINDS:
        raise ValueError(f"{what}: kind must be one of {', '.join(map(repr, _KINDS[1:]))} "
                         f"or None, got {kind!r}")
    if stable is not None and kind is not None:
        raise ValueError(f"{what}: pass kind or stable, not both")
    if order is not None:
        raise ValueError(f"{what}: order={order!r} names fields of a structured array; symgrad "
                         "arrays have none")


class _Moved:
    """Moves an axis last (``last``) and back to its place (``back``); ``perm``
    None: nothing to move."""

    def __init__(self, perm):
        self.perm = perm

    def last(self, y):
        return transpose(y, self.perm) if self.perm else y

    def back(self, y):
        return transpose(y, tuple(self.perm.index(b) for b in range(y.ndim))) if self.perm else y


def _to_last(a, axis, what):
    """``a`` with ``axis`` moved last (None: flattened), and how to move it back."""
    x = _as_expr(a)
    if axis is None:
        return reshape(x, (-1,)), _Moved(None)
    ax = _one_axis(axis, x, what)
    moved = _Moved(tuple(b for b in range(x.ndim) if b != ax) + (ax,))
    return moved.last(x), moved


def _take_along_last(x, idx):
    """``out[..., j] = x[..., idx[..., j]]`` for ``idx.shape == x.shape[:-1] + (m,)``,
    every index in [0, n): a gather from the flattened ``x`` at ``row * n + idx``
    (its adjoint is a scatter-add)."""
    rows, n = x.shape[:-1], x.shape[-1]
    if rows:
        offsets = arange(size_of(rows)) * (n if isinstance(n, int) else dim_size(n))
        idx = idx + reshape(offsets, rows + (1,))
        x = reshape(x, (-1,))
    return Gather()(x, idx)


def take_along_axis(arr, indices, axis=-1):
    """``arr``'s values at the integer ``indices`` along ``axis``, as
    ``numpy.take_along_axis``: ``out[..., j, ...] = arr[..., indices[..., j, ...], ...]``;
    ``arr`` and ``indices`` have the same number of dimensions and broadcast
    against each other on the other axes (``axis=None``: ``arr`` flattened,
    ``indices`` 1-D). Negative indices count from the end; an index out of
    range raises IndexError at call time. The gradient with respect to ``arr``
    is scattered back (repeated indices add up).

    >>> import symgrad as sg
    >>> x = sg.matrix("x", "batch", 3)
    >>> v = [[10.0, 30.0, 20.0], [5.0, 4.0, 6.0]]
    >>> sg.take_along_axis(x, sg.argsort(x), axis=1).eval({x: v})
    array([[10., 20., 30.],
           [ 4.,  5.,  6.]])
    >>> sg.take_along_axis(x, sg.constant([[-1, 0]]), axis=1).eval({x: v})
    array([[20., 10.],
           [ 6.,  5.]])
    """
    x, idx = _as_expr(arr), _as_expr(indices)
    if is_float(idx.dtype):
        raise TypeError(f"take_along_axis: the indices {idx.describe()} must have an integer "
                        f"dtype to index {x.describe()}")
    if axis is None:
        if idx.ndim != 1:
            raise ShapeError(f"take_along_axis with axis=None needs 1-d indices (arr is "
                             f"flattened), got {idx.describe()}")
        x = reshape(x, (-1,))
    elif idx.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: {idx.describe()} and {x.describe()} must have the "
                         f"same number of dimensions")
    x, moved = _to_last(x, axis, "take_along_axis")
    idx = moved.last(idx)
    rows = broadcast_shapes([x.shape[:-1], idx.shape[:-1]], [x.describe(), idx.describe()])
    x = broadcast_to(x, rows + x.shape[-1:])
    idx = broadcast_to(idx, rows + idx.shape[-1:])
    n = x.shape[-1]
    size = n if isinstance(n, int) else dim_size(n)
    idx = cast(idx, "int64")
    idx = where(idx < 0, idx + size, idx)  # negative indices count from the end, as NumPy's
    # a gather from 0..n-1 at idx is idx itself, checked against the row's length at call time
    # (the gather from the flattened arr only sees the whole array's)
    idx = Gather()(arange(n), idx)
    return moved.back(_take_along_last(x, idx))


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Indices (int64) that sort ``a`` along ``axis`` (None: the flattened
    array), as ``numpy.argsort``. The sort is always stable, whatever ``kind``
    says (tied elements keep their order: one of the orders NumPy's kinds may
    give, the same on both backends); nan sorts last, as in NumPy. No gradient
    flows through the result. ``order`` (fields of structured arrays) must be
    None.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", "batch", 4)
    >>> sg.argsort(x).eval({x: [[3.0, 1.0, 2.0, 1.0], [0.0, float("nan"), -1.0, 5.0]]})
    array([[1, 3, 2, 0],
           [2, 0, 3, 1]])
    >>> sg.argsort(x, axis=0).dtype
    'int64'
    """
    _check_kind("argsort", kind, order, stable)
    x, moved = _to_last(a, axis, "argsort")
    return moved.back(Argsort()(x))


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``a`` sorted along ``axis`` (None: the flattened array), as
    ``numpy.sort``; nan sorts last. The values are gathered at
    ``argsort(a, axis)``, and the gradient is scattered back through the same
    permutation: each element's gradient is the upstream gradient at the
    place it was sorted to (ties too: every tied element gets its own).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 4)
    >>> sg.sort(x).eval({x: [3.0, 1.0, 2.0, 0.5]})
    array([0.5, 1. , 2. , 3. ])
    >>> sg.grad((sg.sort(x) * [1.0, 2.0, 3.0, 4.0]).sum(), x).eval({x: [3.0, 1.0, 2.0, 0.5]})
    array([4., 2., 3., 1.])
    """
    _check_kind("sort", kind, order, stable)
    x, moved = _to_last(a, axis, "sort")
    return moved.back(_take_along_last(x, Argsort()(x)))
