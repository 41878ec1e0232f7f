"""Linear-algebra forms of NumPy's surface, as compositions: diagonals, traces, triangles, tensordot, outer, kron, inner, cross.

Nothing here is a primitive, and no derivative is written here:

* a diagonal is a pick (``x[..., i, idx[i]]`` with ``idx = arange``) after moving
  the two axes last and slicing an offset diagonal's square block, so its
  gradient is pick's adjoint (put-along); a trace is the diagonal's sum;
* ``diag`` of a vector and the triangles are ``where`` over a mask built from
  ``arange`` comparisons (the gradient of the branch not taken is zero);
* tensordot, outer, kron and inner are einsums (kron: then a reshape), with
  einsum's generic adjoint;
* cross is products of static slices, stacked.

Named dimensions work where the size of the result is known symbolically:
the diagonal and trace of an ``(n, n)`` matrix, triangles, ``diag`` of an
``(n,)`` vector, and every einsum form.
"""
import builtins
import string

import numpy as np

from . import elementwise_ops as ew
from . import tensor_ops as T
from .creation import arange
from .errors import ShapeError
from .ops.elementwise import cast
from .ops.leaves import constant
from .types import broadcast_shapes, normalize_axes, same_dim, shape_str

__all__ = ["diagonal", "trace", "diag", "triu", "tril", "tensordot", "outer", "kron", "inner",
           "cross"]


def _axis(axis, ndim, x, what):
    (a,) = normalize_axes(axis, ndim, f"{what} of {x.describe()}")
    return a


def _zero(dtype):
    return constant(np.zeros((), dtype=dtype))


def _masked(keep, x):
    """``x`` where ``keep`` (an int64 mask) is nonzero, else 0, in x's dtype
    (where's result dtype counts the mask's: int32 would become int64)."""
    return cast(ew.where(keep, x, _zero(x.dtype)), x.dtype)


# ---------------------------------------------------------------- diagonals

def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal ``a[..., i, i + offset]`` of the 2-d sub-arrays spanned by
    ``axis1`` and ``axis2``, as ``numpy.diagonal``: those axes are removed and
    the diagonal becomes the last axis.

    >>> import symgrad as sg
    >>> A = sg.matrix("A", 3, 4)
    >>> sg.diagonal(A, offset=1).eval({A: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]})
    array([ 1.,  6., 11.])
    >>> sg.diagonal(sg.tensor("T", ("n", 2, "n")), axis1=0, axis2=2).shape
    (2, n)

    An ``(n, n)`` block with named ``n`` has the main diagonal only (``offset=0``).
    """
    a = T._as_expr(a)
    if a.ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 dimensions, got {a.describe()}; "
                         "use sg.diag(v) to make a matrix from a vector")
    ax1 = _axis(axis1, a.ndim, a, "axis1 of diagonal")
    ax2 = _axis(axis2, a.ndim, a, "axis2 of diagonal")
    if ax1 == ax2:
        raise ValueError(f"diagonal of {a.describe()}: axis1 and axis2 are both axis {ax1}; "
                         "they must differ")
    offset = int(offset)
    x = T.transpose(a, [i for i in range(a.ndim) if i not in (ax1, ax2)] + [ax1, ax2])
    n, m = x.shape[-2:]
    if isinstance(n, int) and isinstance(m, int):
        length = builtins.max(0, builtins.min(n, m - offset) if offset >= 0
                              else builtins.min(n + offset, m))
        r, c = builtins.max(0, -offset), builtins.max(0, offset)
        x = x[..., r:r + length, c:c + length]
    elif not (offset == 0 and same_dim(n, m)):
        raise ShapeError(f"diagonal {offset} of {a.describe()} along axes {ax1} and {ax2} "
                         f"(sizes {n} and {m}): with a named dimension only offset 0 of a "
                         "square block is supported, whose length is known; "
                         "give the axes one name (e.g. ('n', 'n')) and offset 0")
    return T.diagonal_of_last(x)


def trace(a, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal ``a[..., i, i + offset]``, as ``numpy.trace``: the
    sum of :func:`diagonal` over its last axis.

    >>> import symgrad as sg
    >>> A = sg.matrix("A", "n", "n")
    >>> float(sg.trace(A).eval({A: [[1.0, 2.0], [3.0, 4.0]]}))
    5.0
    >>> sg.grad(sg.trace(A), A).eval({A: [[1.0, 2.0], [3.0, 4.0]]})
    array([[1., 0.],
           [0., 1.]])
    """
    return T.sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    """As ``numpy.diag``: a 1-d ``v`` becomes a square matrix with ``v`` on its
    ``k``-th diagonal (size ``len(v) + abs(k)``); a 2-d ``v`` gives its
    ``k``-th diagonal (see :func:`diagonal`).

    >>> import symgrad as sg
    >>> v = sg.vector("v", 2)
    >>> sg.diag(v, k=1).eval({v: [1.0, 2.0]})
    array([[0., 1., 0.],
           [0., 0., 2.],
           [0., 0., 0.]])
    >>> sg.diag(sg.matrix("M", "n", "n")).shape
    (n,)
    """
    v = T._as_expr(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag needs a 1-d or 2-d array, got {v.describe()}; use "
                         "sg.diagonal(a, offset, axis1, axis2) for the diagonals of more axes")
    k = int(k)
    if k:
        # v padded to the matrix size; the mask picks row i's entry for k > 0, column j's for k < 0
        v = T.concatenate([v, T.broadcast_to(_zero(v.dtype), (abs(k),))])
    i = arange(v.shape[0])
    on_diagonal = ew.eq(T.reshape(i, (-1, 1)) + k, T.reshape(i, (1, -1)))
    return _masked(on_diagonal, T.reshape(v, (-1, 1) if k > 0 else (1, -1)))


def _triangle(m, keep, name):
    m = T._as_expr(m)
    if m.ndim == 0:
        raise ShapeError(f"{name} needs at least 1 dimension, got {m.describe()}")
    rows, cols = m.shape[-2:] if m.ndim >= 2 else m.shape * 2  # as NumPy: 1-d rows repeated
    i = T.reshape(arange(rows), (-1, 1))
    j = T.reshape(arange(cols), (1, -1))
    return _masked(keep(i, j), m)


def triu(m, k=0):
    """``m`` with the entries below the ``k``-th diagonal zeroed (``j - i < k``),
    over the last two axes, as ``numpy.triu``; a 1-d ``m`` gives a square matrix.

    >>> import symgrad as sg
    >>> M = sg.matrix("M", "n", "n")
    >>> sg.triu(M).eval({M: [[1.0, 2.0], [3.0, 4.0]]})
    array([[1., 2.],
           [0., 4.]])
    """
    return _triangle(m, lambda i, j: i + int(k) <= j, "triu")


def tril(m, k=0):
    """``m`` with the entries above the ``k``-th diagonal zeroed (``j - i > k``),
    over the last two axes, as ``numpy.tril``; a 1-d ``m`` gives a square matrix.

    >>> import symgrad as sg
    >>> M = sg.matrix("M", 2, 3)
    >>> sg.tril(M, k=1).eval({M: [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})
    array([[1., 2., 0.],
           [4., 5., 6.]])
    """
    return _triangle(m, lambda i, j: j <= i + int(k), "tril")


# ---------------------------------------------------------------- products

def _as_axes(axes):
    return [int(axes)] if isinstance(axes, (int, np.integer)) else [int(a) for a in axes]


def tensordot(a, b, axes=2):
    """Sum of products over ``axes``, as ``numpy.tensordot``: an int ``N`` pairs
    the last ``N`` axes of ``a`` with the first ``N`` of ``b``; a pair
    ``(axes_a, axes_b)`` names them. The result has ``a``'s remaining axes,
    then ``b``'s.

    >>> import symgrad as sg
    >>> a, b = sg.tensor("a", (2, 3, 4)), sg.tensor("b", (3, 4, 5))
    >>> sg.tensordot(a, b).shape, sg.tensordot(a, b, axes=([1], [0])).shape
    ((2, 5), (2, 4, 4, 5))
    """
    a, b = T._as_expr(a), T._as_expr(b)
    try:
        iter(axes)
    except TypeError:
        n = int(axes)
        if not 0 <= n <= builtins.min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot of {a.describe()} and {b.describe()}: axes={n} must be "
                             f"in [0, {builtins.min(a.ndim, b.ndim)}]") from None
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if len(axes) != 2:
            raise ValueError(f"tensordot: axes must be an int or a pair (axes_a, axes_b), "
                             f"got {axes!r}")
        axes_a, axes_b = _as_axes(axes[0]), _as_axes(axes[1])
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot of {a.describe()} and {b.describe()}: {len(axes_a)} axes "
                         f"of a ({axes_a}) but {len(axes_b)} of b ({axes_b})")
    axes_a = [_axis(i, a.ndim, a, "tensordot") for i in axes_a]
    axes_b = [_axis(i, b.ndim, b, "tensordot") for i in axes_b]
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError(f"tensordot of {a.describe()} and {b.describe()}: repeated axis in "
                         f"{axes_a} / {axes_b}")
    for i, j in zip(axes_a, axes_b):
        if not same_dim(a.shape[i], b.shape[j]):
            raise ShapeError(f"tensordot: axis {i} of {a.describe()} has size {a.shape[i]} but "
                             f"axis {j} of {b.describe()} has size {b.shape[j]}; summed axes "
                             "must have equal sizes")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in axes_a] + \
          [c for j, c in enumerate(sb) if j not in axes_b]
    return T.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def outer(a, b):
    """``out[i, j] = a[i] * b[j]`` over the flattened inputs, as ``numpy.outer``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 2), sg.matrix("b", 2, "n")
    >>> sg.outer(a, b).shape
    (2, 2*n)
    """
    a, b = T._as_expr(a), T._as_expr(b)
    return T.einsum("i,j->ij", T.reshape(a, (-1,)), T.reshape(b, (-1,)))


def inner(a, b):
    """Sum of products over the last axes, as ``numpy.inner``: the result has
    ``a.shape[:-1] + b.shape[:-1]``; a 0-d operand multiplies.

    >>> import symgrad as sg
    >>> a, b = sg.matrix("a", 2, 3), sg.matrix("b", 4, 3)
    >>> sg.inner(a, b).shape
    (2, 4)
    """
    a, b = T._as_expr(a), T._as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if not same_dim(a.shape[-1], b.shape[-1]):
        raise ShapeError(f"inner: the last axes differ, {a.shape[-1]} in {a.describe()} and "
                         f"{b.shape[-1]} in {b.describe()}")
    letters = string.ascii_letters
    la, lb = letters[:a.ndim - 1], letters[a.ndim - 1:a.ndim + b.ndim - 2]
    return T.einsum(f"{la}Z,{lb}Z->{la}{lb}", a, b)


def kron(a, b):
    """Kronecker product, as ``numpy.kron``: blocks ``a[i, j] * b``; the
    operand with fewer axes gets leading axes of size 1, and each axis of the
    result has size ``a.shape[k] * b.shape[k]``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 2), sg.vector("b", 2)
    >>> sg.kron(a, b).eval({a: [1.0, 10.0], b: [1.0, 2.0]})
    array([ 1.,  2., 10., 20.])
    >>> sg.kron(sg.matrix("A", "n", 2), sg.matrix("B", 3, 3)).shape
    (3*n, 6)
    """
    a, b = T._as_expr(a), T._as_expr(b)
    nd = builtins.max(a.ndim, b.ndim)
    if nd == 0:
        return a * b
    a = T.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = T.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    la, lb = string.ascii_letters[:nd], string.ascii_letters[nd:2 * nd]
    blocks = T.einsum(f"{la},{lb}->{''.join(p + q for p, q in zip(la, lb))}", a, b)
    return T.reshape(blocks, tuple(p * q for p, q in zip(a.shape, b.shape)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors along ``axisa`` of ``a`` and ``axisb`` of ``b``
    (``axis`` sets all three), as ``numpy.cross``: the other axes broadcast,
    and the result's vectors lie along ``axisc``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 3), sg.matrix("b", "n", 3)
    >>> sg.cross(a, b).eval({a: [1.0, 0.0, 0.0], b: [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]})
    array([[ 0.,  0.,  1.],
           [ 0., -1.,  0.]])
    """
    a, b = T._as_expr(a), T._as_expr(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    vectors = []
    for x, ax, name in ((a, axisa, "axisa"), (b, axisb, "axisb")):
        if x.ndim == 0:
            raise ShapeError(f"cross needs arrays of 3-vectors, got the 0-d {x.describe()}")
        ax = _axis(ax, x.ndim, x, f"{name} of cross")
        if x.shape[ax] != 3:
            raise ShapeError(f"cross: axis {ax} ({name}) of {x.describe()} has size "
                             f"{x.shape[ax]}; symgrad's cross takes 3-vectors only (NumPy "
                             "deprecates 2-vectors: write a[..., 0] * b[..., 1] - "
                             "a[..., 1] * b[..., 0] for that)")
        x = T.transpose(x, [i for i in range(x.ndim) if i != ax] + [ax])
        vectors.append([x[..., k] for k in range(3)])
    (a0, a1, a2), (b0, b1, b2) = vectors
    try:
        broadcast_shapes([a0.shape, b0.shape], [a.name, b.name])
    except ShapeError:
        raise ShapeError(f"cross of {a.describe()} and {b.describe()}: the axes other than the "
                         f"vectors' ({shape_str(a0.shape)} and {shape_str(b0.shape)}) do not "
                         "broadcast") from None
    parts = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0]
    (axisc,) = normalize_axes(axisc, parts[0].ndim + 1, "axisc of the cross product of "
                              f"{a.describe()} and {b.describe()}")
    return T.stack(parts, axis=axisc)
