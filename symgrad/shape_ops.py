"""Shape ops of NumPy's surface, as compositions of the primitives: splits,
stacks, pads, flips, rolls, tiles, repeats, squeezes.

Every op here is a composition (static slices ``x[...]``, reshape, transpose,
broadcast, concatenate, and a gather along a moved axis where positions are
read out of order), so each one's gradient is the transpose the primitives
already define. Named dimensions are kept wherever the op does not need the
size at build time; where it does (splitting, reflecting, a sequence of
repeats), the error names the axis and the dimension.
"""
import numpy as np
import sympy

from .constructors import dim_size
from .creation import arange
from .elementwise import cast, elementwise
from .errors import ShapeError
from .graph import Expr
from .ops.slicing import slice_axis
from .tensor_ops import _as_expr, broadcast_to, concatenate, gather, reshape, transpose
from .types import broadcast_shapes, normalize_axes

__all__ = ["split", "array_split", "vstack", "hstack", "column_stack", "dstack", "ravel",
           "moveaxis", "swapaxes", "diff", "pad", "flip", "roll", "tile", "repeat", "squeeze",
           "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays"]

# a - b*floor(a/b): Python's (and NumPy's) modulo, for positions along a named axis
_floor_mod = elementwise(lambda a, b: a - b * sympy.floor(a / b), name="floor_mod")


# ---------------------------------------------------------------- helpers

def _axis(a, axis):
    (axis,) = normalize_axes(axis, a.ndim, a.describe())
    return axis


def _axis_list(axis, ndim, what, argument="axis"):
    """``axis`` (int or sequence) normalised against ``ndim``, in the given order."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = [normalize_axes(int(a), ndim, what)[0] for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in `{argument}` {axis!r} for {what}")
    return out


def _fixed(a, axis, op, why):
    """The int size of ``a``'s ``axis``; ShapeError naming a named dimension there."""
    d = a.shape[axis]
    if not isinstance(d, int):
        raise ShapeError(f"{op} of {a.describe()}: axis {axis} is the named dimension {d}, "
                         f"whose size is only known at call time, but {why} needs it when "
                         f"the graph is built; give axis {axis} a fixed size (an int)")
    return d


def _static_int(v, op, what):
    if isinstance(v, Expr) or isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {what} must be a Python int (static), got {v!r}")
    return int(v)


def _slice(a, axis, start=None, stop=None, step=None):
    """``a[..., start:stop:step, ...]`` on ``axis``, NumPy's slice semantics."""
    return a[(slice(None),) * axis + (slice(start, stop, step),)]


def _take(a, axis, index):
    """``a`` read at the int64 positions ``index`` (1-d) along ``axis``: a gather of
    the axis moved to the front."""
    return moveaxis(gather(moveaxis(a, axis, 0), index), 0, axis)


def _positions_mod(d, shift):
    """``(arange(d) - shift) mod d`` as int64, for the named dimension ``d``."""
    return cast(_floor_mod(arange(d) - shift, dim_size(d)), "int64")


def _arrays(tup, op):
    if isinstance(tup, Expr) or not isinstance(tup, (list, tuple)):
        raise TypeError(f"{op} takes a list or tuple of arrays, got {tup!r}")
    if not tup:
        raise ValueError(f"{op} needs at least one array")
    return [_as_expr(x) for x in tup]


def _one_or_tuple(res):
    return res[0] if len(res) == 1 else tuple(res)


# ---------------------------------------------------------------- splitting

def _split(ary, indices_or_sections, axis, op, equal):
    a = _as_expr(ary)
    axis = _axis(a, axis)
    n = _fixed(a, axis, op, "splitting it")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
            indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{op} of {a.describe()}: the number of sections must be larger "
                             f"than 0, got {sections}")
        if equal and n % sections:
            raise ValueError(f"split of {a.describe()}: axis {axis} of size {n} does not "
                             f"divide into {sections} equal sections; array_split allows "
                             "unequal ones")
        each, extra = divmod(n, sections)
        bounds = np.cumsum([0] + [each + 1] * extra + [each] * (sections - extra)).tolist()
    else:
        if isinstance(indices_or_sections, Expr):
            raise TypeError(f"{op} of {a.describe()}: indices_or_sections must be an int or "
                            "a static sequence of ints, not an expression")
        bounds = [0] + [_static_int(i, op, "each index") for i in indices_or_sections] + [n]
    return [_slice(a, axis, start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def split(ary, indices_or_sections, axis=0):
    """Split ``ary`` into equal sections (an int) or at the given indices along
    ``axis``, as ``numpy.split``; the axis needs a fixed size.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", "batch", 6)
    >>> [p.shape for p in sg.split(x, 3, axis=1)]
    [(batch, 2), (batch, 2), (batch, 2)]
    >>> [p.shape for p in sg.split(x, [1, 4], axis=-1)]
    [(batch, 1), (batch, 3), (batch, 2)]
    """
    return _split(ary, indices_or_sections, axis, "split", equal=True)


def array_split(ary, indices_or_sections, axis=0):
    """``split`` that allows sections of unequal size (the first ones one larger),
    as ``numpy.array_split``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 7)
    >>> [p.shape for p in sg.array_split(x, 3)]
    [(3,), (2,), (2,)]
    """
    return _split(ary, indices_or_sections, axis, "array_split", equal=False)


# ---------------------------------------------------------------- joining

def atleast_1d(*arys):
    """Each argument with at least one axis (0-d becomes shape (1,)); one result for
    one argument, else a tuple, as ``numpy.atleast_1d``.

    >>> import symgrad as sg
    >>> sg.atleast_1d(sg.scalar("s")).shape
    (1,)
    """
    out = [_as_expr(a) for a in arys]
    return _one_or_tuple([reshape(a, (1,)) if a.ndim == 0 else a for a in out])


def atleast_2d(*arys):
    """Each argument with at least two axes (shape (n,) becomes (1, n)), as
    ``numpy.atleast_2d``.

    >>> import symgrad as sg
    >>> [a.shape for a in sg.atleast_2d(sg.scalar("s"), sg.vector("v", "n"))]
    [(1, 1), (1, n)]
    """
    out = [_as_expr(a) for a in arys]
    return _one_or_tuple([reshape(a, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a
                          for a in out])


def atleast_3d(*arys):
    """Each argument with at least three axes, as ``numpy.atleast_3d``: (n,) becomes
    (1, n, 1) and (m, n) becomes (m, n, 1).

    >>> import symgrad as sg
    >>> sg.atleast_3d(sg.vector("v", 4)).shape
    (1, 4, 1)
    """
    out = []
    for a in map(_as_expr, arys):
        if a.ndim == 0:
            a = reshape(a, (1, 1, 1))
        elif a.ndim == 1:
            a = reshape(a, (1,) + a.shape + (1,))
        elif a.ndim == 2:
            a = reshape(a, a.shape + (1,))
        out.append(a)
    return _one_or_tuple(out)


def vstack(tup):
    """Stack arrays row-wise: ``concatenate`` along axis 0 after ``atleast_2d``, as
    ``numpy.vstack``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 3), sg.vector("b", 3)
    >>> sg.vstack([a, b]).eval({a: [1.0, 2.0, 3.0], b: [4.0, 5.0, 6.0]})
    array([[1., 2., 3.],
           [4., 5., 6.]])
    """
    return concatenate([atleast_2d(a) for a in _arrays(tup, "vstack")], axis=0)


def hstack(tup):
    """Stack arrays column-wise: along axis 0 for 1-d arrays, else axis 1, as
    ``numpy.hstack``.

    >>> import symgrad as sg
    >>> a, b = sg.matrix("a", "n", 2), sg.matrix("b", "n", 3)
    >>> sg.hstack([a, b]).shape
    (n, 5)
    """
    arrs = [atleast_1d(a) for a in _arrays(tup, "hstack")]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1)


def column_stack(tup):
    """1-d arrays as the columns of a 2-d array (2-d arrays as they are), as
    ``numpy.column_stack``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 2), sg.vector("b", 2)
    >>> sg.column_stack([a, b]).eval({a: [1.0, 2.0], b: [3.0, 4.0]})
    array([[1., 3.],
           [2., 4.]])
    """
    arrs = []
    for a in _arrays(tup, "column_stack"):
        if a.ndim < 2:
            a = reshape(a, (a.shape[0] if a.ndim else 1, 1))
        arrs.append(a)
    return concatenate(arrs, axis=1)


def dstack(tup):
    """Stack arrays depth-wise: along axis 2 after ``atleast_3d``, as
    ``numpy.dstack``.

    >>> import symgrad as sg
    >>> sg.dstack([sg.matrix("a", 2, 3), sg.matrix("b", 2, 3)]).shape
    (2, 3, 2)
    """
    return concatenate([atleast_3d(a) for a in _arrays(tup, "dstack")], axis=2)


# ---------------------------------------------------------------- axes

def ravel(a, order="C"):
    """``a`` as a 1-d array, in row-major (``order="C"``, also "A" and "K") or
    column-major (``"F"``) order, as ``numpy.ravel``.

    >>> import symgrad as sg
    >>> X = sg.matrix("X", 2, 2)
    >>> values = {X: [[1.0, 2.0], [3.0, 4.0]]}
    >>> sg.ravel(X).eval(values), sg.ravel(X, "F").eval(values)
    (array([1., 2., 3., 4.]), array([1., 3., 2., 4.]))
    """
    a = _as_expr(a)
    if order not in ("C", "F", "A", "K"):
        raise ValueError(f"ravel of {a.describe()}: order must be 'C', 'F', 'A' or 'K', "
                         f"got {order!r}")
    return reshape(transpose(a) if order == "F" else a, (-1,))


def moveaxis(a, source, destination):
    """``a`` with the axes ``source`` moved to positions ``destination`` (ints or
    sequences), the others in their order, as ``numpy.moveaxis``.

    >>> import symgrad as sg
    >>> x = sg.tensor("x", ("batch", 3, 4))
    >>> sg.moveaxis(x, 0, -1).shape, sg.moveaxis(x, [0, 1], [-1, -2]).shape
    ((3, 4, batch), (4, 3, batch))
    """
    a = _as_expr(a)
    source = _axis_list(source, a.ndim, a.describe(), "source")
    destination = _axis_list(destination, a.ndim, a.describe(), "destination")
    if len(source) != len(destination):
        raise ValueError(f"moveaxis of {a.describe()}: `source` {source} and `destination` "
                         f"{destination} must have the same number of elements")
    order = [k for k in range(a.ndim) if k not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, order)


def swapaxes(a, axis1, axis2):
    """``a`` with two axes interchanged, as ``numpy.swapaxes``.

    >>> import symgrad as sg
    >>> sg.swapaxes(sg.tensor("x", (2, "n", 4)), 0, 2).shape
    (4, n, 2)
    """
    a = _as_expr(a)
    axis1, axis2 = _axis(a, axis1), _axis(a, axis2)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = axis2, axis1
    return transpose(a, perm)


def squeeze(a, axis=None):
    """``a`` without axes of size 1 (all of them for ``axis=None``, which keeps
    named dimensions: their size is unknown until call time), as ``numpy.squeeze``.

    >>> import symgrad as sg
    >>> x = sg.tensor("x", (1, "n", 1))
    >>> sg.squeeze(x).shape, sg.squeeze(x, axis=-1).shape
    ((n,), (1, n))
    """
    a = _as_expr(a)
    if axis is None:
        drop = [k for k, d in enumerate(a.shape) if d == 1]
    else:
        drop = normalize_axes(axis, a.ndim, a.describe())
        for k in drop:
            d = a.shape[k]
            if d != 1:
                which = "the named dimension" if not isinstance(d, int) else "of size"
                raise ShapeError(f"squeeze of {a.describe()}: axis {k} is {which} {d}; only "
                                 "an axis of fixed size 1 can be squeezed out")
    return reshape(a, tuple(d for k, d in enumerate(a.shape) if k not in drop))


def expand_dims(a, axis):
    """``a`` with new axes of size 1 at positions ``axis`` (an int or a tuple) of
    the result, as ``numpy.expand_dims``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> sg.expand_dims(x, 0).shape, sg.expand_dims(x, (0, -1)).shape
    ((1, n), (1, n, 1))
    """
    a = _as_expr(a)
    n_new = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
    new = _axis_list(axis, a.ndim + n_new, f"expand_dims of {a.describe()}")
    dims = iter(a.shape)
    return reshape(a, tuple(1 if k in new else next(dims) for k in range(a.ndim + n_new)))


def broadcast_arrays(*args):
    """The arguments broadcast to one shape under NumPy's rules, as a tuple, as
    ``numpy.broadcast_arrays``.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 3), sg.matrix("b", "n", 1)
    >>> [x.shape for x in sg.broadcast_arrays(a, b)]
    [(n, 3), (n, 3)]
    """
    xs = [_as_expr(x) for x in args]
    shape = broadcast_shapes([x.shape for x in xs], [x.name for x in xs])
    return tuple(broadcast_to(x, shape) for x in xs)


# ---------------------------------------------------------------- differences

def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th discrete difference along ``axis`` (``a[1:] - a[:-1]`` repeated),
    as ``numpy.diff``; ``prepend``/``append`` (arrays or scalars; None for none)
    are joined to ``a`` first. A named axis of size ``n`` gives ``n - 1``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> d = sg.diff(x)
    >>> d.shape, d.eval({x: [1.0, 4.0, 9.0, 16.0]})
    ((n - 1,), array([3., 5., 7.]))
    """
    a = _as_expr(a)
    n = _static_int(n, "diff", "n")
    if n < 0:
        raise ValueError(f"diff of {a.describe()}: order n must be non-negative, got {n}")
    if a.ndim == 0:
        raise ShapeError(f"diff of {a.describe()}: needs an array of at least one dimension")
    axis = _axis(a, axis)
    if n == 0:
        return a
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        extra = _as_expr(extra)
        if extra.ndim == 0:
            extra = broadcast_to(extra, a.shape[:axis] + (1,) + a.shape[axis + 1:])
        parts.append(extra)
    a = concatenate(parts, axis)
    for _ in range(n):
        size = a.shape[axis]
        if isinstance(size, int):
            a = _slice(a, axis, 1) - _slice(a, axis, None, -1)
        else:
            a = slice_axis(a, axis, 1, size) - slice_axis(a, axis, 0, size - 1)
    return a


# ---------------------------------------------------------------- padding

_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _as_pairs(x, ndim, what, as_index):
    """NumPy's ``_as_pairs``: one (before, after) pair per axis from a scalar, a pair,
    or one pair per axis."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf" and arr.dtype != bool:
        raise TypeError(f"pad: {what} must be numbers, got {x!r}")
    if as_index:
        arr = np.round(arr).astype(np.int64)
        if arr.size and arr.min() < 0:
            raise ValueError(f"pad: {what} {x!r} can't contain negative values")
    if arr.ndim < 3:
        if arr.size == 1:
            return [(arr.ravel()[0].item(),) * 2] * ndim
        if arr.size == 2 and arr.shape != (2, 1):
            return [tuple(arr.ravel().tolist())] * ndim
    try:
        return [tuple(p) for p in np.broadcast_to(arr, (ndim, 2)).tolist()]
    except ValueError:
        raise ValueError(f"pad: {what} of shape {arr.shape} does not give one (before, after) "
                         f"pair for each of {ndim} axes") from None


def _pad_positions(mode, n, before, after):
    """Positions of the padded axis in the input for the reflecting modes."""
    i = np.arange(-before, n + after)
    if mode == "wrap":
        return i % n
    if mode == "symmetric":
        j = i % (2 * n)
        return np.where(j >= n, 2 * n - 1 - j, j)
    if n == 1:  # "reflect" of one element repeats it
        return np.zeros_like(i)
    j = i % (2 * (n - 1))
    return np.where(j >= n, 2 * (n - 1) - j, j)


def pad(array, pad_width, mode="constant", constant_values=0):
    """``array`` padded, as ``numpy.pad``: ``pad_width`` is an int, a ``(before,
    after)`` pair, or one pair per axis; ``mode`` is "constant" (with
    ``constant_values``, numbers in the same forms or a 0-d expression), "edge",
    "reflect", "symmetric" or "wrap". Named dimensions are kept in "constant" and
    "edge"; the other modes need the padded axis's size.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.pad(x, (1, 2)).eval({x: [1.0, 2.0, 3.0]})
    array([0., 1., 2., 3., 0., 0.])
    >>> sg.pad(x, 2, mode="reflect").eval({x: [1.0, 2.0, 3.0]})
    array([3., 2., 1., 2., 3., 2., 1.])
    >>> sg.pad(sg.matrix("X", "batch", 4), ((0, 0), (1, 1)), mode="edge").shape
    (batch, 6)
    """
    a = _as_expr(array)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad of {a.describe()}: mode {mode!r} is not supported; use one of "
                         + ", ".join(map(repr, _PAD_MODES)))
    if isinstance(pad_width, Expr):
        raise TypeError(f"pad of {a.describe()}: pad_width must be static ints, not an "
                        "expression")
    widths = _as_pairs(pad_width, a.ndim, "pad_width", as_index=True)
    if mode == "constant":
        if isinstance(constant_values, Expr):
            if constant_values.ndim:
                raise ShapeError(f"pad of {a.describe()}: an expression as constant_values "
                                 f"must be 0-d, got {constant_values.describe()}")
            values = [(cast(constant_values, a.dtype),) * 2] * a.ndim
        else:
            values = [tuple(_as_expr(np.asarray(v, dtype=a.dtype)) for v in pair)
                      for pair in _as_pairs(constant_values, a.ndim, "constant_values", False)]
    for axis, (before, after) in enumerate(widths):
        if before == 0 and after == 0:
            continue
        n = a.shape[axis]
        if mode != "constant" and n == 0:
            raise ShapeError(f"pad of {a.describe()}: can't extend the empty axis {axis} "
                             f"with mode {mode!r}; only 'constant' pads an empty axis")
        if mode in ("constant", "edge"):
            if mode == "constant":
                ends = values[axis]
            else:
                ends = (slice_axis(a, axis, 0, 1), slice_axis(a, axis, n - 1, n))
            blocks = [broadcast_to(v, a.shape[:axis] + (w,) + a.shape[axis + 1:])
                      for v, w in zip(ends, (before, after))]
            pieces = [blocks[0]] * bool(before) + [a] + [blocks[1]] * bool(after)
            a = concatenate(pieces, axis)
        else:
            n = _fixed(a, axis, "pad", f"mode {mode!r}")
            a = _take(a, axis, _pad_positions(mode, n, before, after))
    return a


# ---------------------------------------------------------------- reordering

def flip(m, axis=None):
    """``m`` with the order of elements reversed along ``axis`` (None: every axis;
    an int or a tuple), as ``numpy.flip``. A named axis is read backwards by a gather.

    >>> import symgrad as sg
    >>> X = sg.matrix("X", 2, 2)
    >>> sg.flip(X, 1).eval({X: [[1.0, 2.0], [3.0, 4.0]]})
    array([[2., 1.],
           [4., 3.]])
    """
    m = _as_expr(m)
    axes = normalize_axes(axis, m.ndim, m.describe())
    fixed = [k for k in axes if isinstance(m.shape[k], int)]
    if fixed:
        m = m[tuple(slice(None, None, -1) if k in fixed else slice(None) for k in range(m.ndim))]
    for k in axes:
        d = m.shape[k]
        if not isinstance(d, int):
            m = _take(m, k, (dim_size(d) - 1) - arange(d))
    return m


def roll(a, shift, axis=None):
    """``a`` with elements shifted by ``shift`` along ``axis`` (None: over the
    flattened array), those past the end re-entering at the front, as
    ``numpy.roll``; ``shift`` and ``axis`` may be matching sequences.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 5)
    >>> sg.roll(x, 2).eval({x: [0.0, 1.0, 2.0, 3.0, 4.0]})
    array([3., 4., 0., 1., 2.])
    """
    a = _as_expr(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    if isinstance(shift, Expr) or isinstance(axis, Expr):
        raise TypeError(f"roll of {a.describe()}: shift and axis must be static ints")
    try:
        pairs = np.broadcast(np.asarray(shift), np.asarray(axis))
    except ValueError:
        raise ValueError(f"roll of {a.describe()}: shift {shift!r} and axis {axis!r} do not "
                         "broadcast together") from None
    if pairs.ndim > 1:
        raise ValueError(f"roll of {a.describe()}: 'shift' and 'axis' should be scalars or "
                         "1-d sequences")
    totals = {}
    for s, k in pairs:
        k = _axis(a, _static_int(k.item() if hasattr(k, "item") else k, "roll", "axis"))
        totals[k] = totals.get(k, 0) + _static_int(
            s.item() if hasattr(s, "item") else s, "roll", "shift")
    for k, s in totals.items():
        d = a.shape[k]
        if isinstance(d, int):
            s = s % d if d else 0
            if s:
                a = concatenate([_slice(a, k, d - s), _slice(a, k, None, d - s)], k)
        elif s:
            a = _take(a, k, _positions_mod(d, s))
    return a


# ---------------------------------------------------------------- repeating

def tile(A, reps):
    """``A`` repeated ``reps`` times along each axis (``reps`` an int or a tuple;
    the shorter of the two is padded with leading ones), as ``numpy.tile``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.tile(x, 2).eval({x: [1.0, 2.0]})
    array([1., 2., 1., 2.])
    >>> sg.tile(sg.matrix("X", "n", 3), (2, 1, 2)).shape
    (2, n, 6)
    """
    A = _as_expr(A)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    reps = tuple(_static_int(r, "tile", "each of reps") for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile of {A.describe()}: reps {reps} must be >= 0")
    ndim = max(len(reps), A.ndim)
    reps = (1,) * (ndim - len(reps)) + reps
    A = reshape(A, (1,) * (ndim - A.ndim) + A.shape)
    if all(r == 1 for r in reps):
        return A
    # each repeated axis s becomes (r, s), broadcast along r, then merged into r*s
    split_shape = sum(((r, d) if r != 1 else (d,) for r, d in zip(reps, A.shape)), ())
    ones = sum(((1, d) if r != 1 else (d,) for r, d in zip(reps, A.shape)), ())
    out = broadcast_to(reshape(A, ones), split_shape)
    return reshape(out, tuple(r * d for r, d in zip(reps, A.shape)))


def repeat(a, repeats, axis=None):
    """Each element of ``a`` repeated ``repeats`` times along ``axis`` (None: over
    the flattened array), as ``numpy.repeat``; ``repeats`` is an int or a static
    sequence with one count per element of the axis (which then needs a fixed size).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.repeat(x, 2).eval({x: [1.0, 2.0, 3.0]})
    array([1., 1., 2., 2., 3., 3.])
    >>> sg.repeat(x, [0, 1, 2]).eval({x: [1.0, 2.0, 3.0]})
    array([2., 3., 3.])
    """
    a = _as_expr(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(a, axis)
    if isinstance(repeats, Expr):
        raise TypeError(f"repeat of {a.describe()}: repeats must be a static int or sequence "
                        "of ints, not an expression")
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise TypeError(f"repeat of {a.describe()}: repeats must be an int or a 1-d sequence "
                        f"of ints, got {repeats!r}")
    if counts.size and counts.min() < 0:
        raise ValueError(f"repeat of {a.describe()}: repeats {repeats!r} must be >= 0")
    if counts.size == 1:
        r = int(counts.ravel()[0])
        if r == 1:
            return a
        before, d, after = a.shape[:axis], a.shape[axis], a.shape[axis + 1:]
        out = broadcast_to(reshape(a, before + (d, 1) + after), before + (d, r) + after)
        return reshape(out, before + (d * r,) + after)
    n = _fixed(a, axis, "repeat", "a sequence of repeats")
    if counts.size != n:
        raise ShapeError(f"repeat of {a.describe()}: {counts.size} repeats for axis {axis} of "
                         f"size {n}; give one count per element (or a single int)")
    return _take(a, axis, np.repeat(np.arange(n, dtype=np.int64), counts))
