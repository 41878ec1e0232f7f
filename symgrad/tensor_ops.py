"""Contractions, reductions and structural ops: builders with build-time checks."""
import builtins
import string

import numpy as np
import sympy

from .constructors import dim_size
from .creation import arange
from .errors import ShapeError
from .graph import Expr
from .ops import (Broadcast, Concatenate, Cumsum, Gather, Reduce, Reshape, Slice, TakeAlong,
                  Transpose)
from .ops.contraction import contract, sum_axes
from .ops.elementwise import cast
from .ops.leaves import constant, result_type, weak_to
from .types import (as_dim, broadcast_shapes, is_float, normalize_axes, same_dim, shape_str,
                    size_of)


def _as_expr(x):
    return x if isinstance(x, Expr) else constant(x)


# ---------------------------------------------------------------- einsum

def _parse_spec(spec, xs):
    spec = spec.replace(" ", "")
    ins, arrow, out = spec.partition("->")
    subs = ins.split(",")
    if len(subs) != len(xs):
        raise ValueError(f"einsum {spec!r} names {len(subs)} operand(s) but got {len(xs)}")
    free = [c for c in string.ascii_letters if c not in spec]
    ell_ndim = builtins.max((x.ndim - len(s) + 3 for s, x in zip(subs, xs) if "..." in s), default=0)
    ell = "".join(free[:ell_ndim])
    subs = [s.replace("...", ell[ell_ndim - (x.ndim - len(s) + 3):]) for s, x in zip(subs, xs)]
    if not arrow:
        once = sorted(c for c in set("".join(subs)) if "".join(subs).count(c) == 1 and c not in ell)
        out = ell + "".join(once)
    out = out.replace("...", ell)
    return subs, out


def einsum(spec, *xs):
    """Einstein summation over expressions, as ``numpy.einsum`` (``...``, the
    implicit output, and an index repeated within one operand: its diagonal is
    taken first, as ``sg.diagonal``).

    >>> import symgrad as sg
    >>> A, B = sg.matrix("A", 2, 3), sg.matrix("B", 3, 4)
    >>> sg.einsum("ij,jk->ik", A, B).shape
    (2, 4)
    >>> S = sg.matrix("S", "n", "n")
    >>> float(sg.einsum("ii->", S).eval({S: [[1.0, 2.0], [3.0, 4.0]]}))
    5.0
    """
    xs = [_as_expr(x) for x in xs]
    subs, out = _parse_spec(spec, xs)
    dims = {}
    for k, (s, x) in enumerate(zip(subs, xs)):
        if not s.isalpha() and s:
            raise ValueError(f"einsum {spec!r}: operand {k} has an invalid subscript {s!r}")
        if len(s) != x.ndim:
            raise ShapeError(f"einsum {spec!r}: operand {k} {x.describe()} has {x.ndim} "
                             f"dimension(s) but subscript {s!r} names {len(s)}")
        for c, d in zip(s, x.shape):
            if c in dims and not same_dim(dims[c][0], d):
                other = xs[dims[c][1]]
                raise ShapeError(f"einsum {spec!r}: index {c!r} is {dims[c][0]} in "
                                 f"{other.describe()} but {d} in {x.describe()}")
            dims.setdefault(c, (d, k))
    if len(set(out)) != len(out) or any(c not in dims for c in out):
        raise ValueError(f"einsum {spec!r}: output {out!r} must name distinct input indices")
    if any(len(set(s)) != len(s) for s in subs):
        subs, xs = zip(*(_take_diagonals(s, x) for s, x in zip(subs, xs)))
    return contract(",".join(subs) + "->" + out, *xs)


def _take_diagonals(sub, x):
    """``(sub, x)`` with each index repeated within ``sub`` kept once, over the
    diagonal, as the last axis (``"iij"`` -> ``"ji"``); the sizes agree (checked)."""
    while len(set(sub)) != len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        p, q = sub.index(c), sub.index(c, sub.index(c) + 1)
        x = diagonal_of_last(transpose(x, [i for i in range(x.ndim) if i not in (p, q)] + [p, q]))
        sub = sub[:p] + sub[p + 1:q] + sub[q + 1:] + c
    return sub, x


def diagonal_of_last(x):
    """``x[..., i, i]`` for the last two axes (of one size): a pick of ``arange``,
    so the gradient is pick's adjoint. sg.diagonal and einsum's repeated indices."""
    return pick(x, broadcast_to(arange(x.shape[-1]), x.shape[:-1]))


# ---------------------------------------------------------------- reductions

def _keep(x, reduced, axes, keepdims):
    if not keepdims:
        return reduced
    return reshape(reduced, tuple(1 if a in axes else d for a, d in enumerate(x.shape)))


def sum(x, axis=None, keepdims=False):  # noqa: A001 - API name
    """Sum over ``axis`` (None: all axes; an int or a tuple).

    >>> import symgrad as sg
    >>> X = sg.matrix("X", 2, 3)
    >>> sg.sum(X, axis=0).shape, X.sum().shape
    ((3,), ())
    >>> sg.vector("i", 3, dtype="int32").sum().dtype   # as np.sum: no int32 overflow
    'int64'
    """
    x = _as_expr(x)
    axes = normalize_axes(axis, x.ndim, x.describe())
    if not axes:
        return x
    if x.dtype == "int32":  # as NumPy: int32 sums accumulate (and result) in int64
        x = cast(x, "int64")
    return _keep(x, sum_axes(x, axes), axes, keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``; a named dimension's size is taken at call time.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> float(x.mean().eval({x: [1.0, 2.0, 6.0]}))
    3.0
    """
    x = _as_expr(x)
    axes = normalize_axes(axis, x.ndim, x.describe())
    total = sum(x, axes, keepdims)
    count = size_of([x.shape[a] for a in axes])
    if count.is_Integer:
        if int(count) == 0:
            raise ShapeError(f"mean over an empty axis of {x.describe()}")
        return total * (1.0 / int(count)) if int(count) != 1 else total
    divisor = 1
    for d in (x.shape[a] for a in axes):
        divisor = divisor * (d if isinstance(d, int) else dim_size(d))
    return total / divisor


def _reduce(kind, x, axis, keepdims):
    x = _as_expr(x)
    axes = normalize_axes(axis, x.ndim, x.describe())
    if not axes:
        return x
    for a in axes:
        if x.shape[a] == 0:
            raise ShapeError(f"{kind} over the empty axis {a} of {x.describe()}")
    return _keep(x, Reduce(kind, axes)(x), axes, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - API name
    """Maximum over ``axis``; the gradient goes to the first maximal element only.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.grad(x.max(), x).eval({x: [2.0, 5.0, 5.0]})
    array([0., 1., 0.])
    """
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 - API name
    """Minimum over ``axis``; the gradient goes to the first minimal element only.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> float(sg.min(x).eval({x: [2.0, -1.0, 5.0]}))
    -1.0
    """
    return _reduce("min", x, axis, keepdims)


# ---------------------------------------------------------------- structural

def reshape(x, shape):
    """``x`` with a new shape of the same size; one entry may be -1.

    >>> import symgrad as sg
    >>> E = sg.tensor("E", ("batch", 5, 50))
    >>> sg.reshape(E, ("batch", 250)).shape, E.reshape((-1,)).shape
    ((batch, 250), (250*batch,))
    """
    x = _as_expr(x)
    if isinstance(shape, (int, str, np.integer)):
        shape = (shape,)
    shape = list(shape)
    total = size_of(x.shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape of {x.describe()} to {tuple(shape)}: at most one -1")
    if -1 in shape:
        known = size_of([as_dim(d) for d in shape if d != -1])
        missing = sympy.simplify(total / known) if known != 0 else None
        if missing is None or not (missing.is_Integer or missing.is_integer):
            raise ShapeError(f"cannot reshape {x.describe()} to {tuple(shape)}: "
                             f"size {total} is not a multiple of {known}")
        shape[shape.index(-1)] = int(missing) if missing.is_Integer else missing
    shape = tuple(as_dim(d) for d in shape)
    if sympy.simplify(size_of(shape) - total) != 0:
        raise ShapeError(f"cannot reshape {x.describe()} to {shape_str(shape)}: "
                         f"sizes {total} and {size_of(shape)} differ")
    if shape == x.shape:
        return x
    return Reshape(shape)(x)


def transpose(x, axes=None):
    """Permute axes (reverse them by default), as ``numpy.transpose``.

    >>> import symgrad as sg
    >>> sg.transpose(sg.tensor("T", (2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    x = _as_expr(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        a % x.ndim if -x.ndim <= a < x.ndim else a for a in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose of {x.describe()}: {axes!r} is not a permutation "
                         f"of its {x.ndim} axes")
    if perm == tuple(range(x.ndim)):
        return x
    return Transpose(perm)(x)


def broadcast_to(x, shape):
    """``x`` repeated to ``shape`` under NumPy's broadcasting rules.

    >>> import symgrad as sg
    >>> sg.broadcast_to(sg.vector("b", 3), (4, 3)).shape
    (4, 3)
    """
    x = _as_expr(x)
    shape = tuple(as_dim(d) for d in shape)
    lead = len(shape) - x.ndim
    if lead < 0 or any(d != 1 and not same_dim(d, t) for d, t in zip(x.shape, shape[lead:])):
        raise ShapeError(f"cannot broadcast {x.describe()} to {shape_str(shape)}")
    if shape == x.shape:
        return x
    return Broadcast(shape)(x)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (1-d operands, batch broadcasting).

    >>> import symgrad as sg
    >>> x, W = sg.matrix("x", 8, 4), sg.matrix("W", 4, 3)
    >>> (x @ W).shape
    (8, 3)
    """
    a, b = _as_expr(a), _as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs arrays of at least 1 dimension: {a.describe()} @ "
                         f"{b.describe()}; use * for scalars")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if not same_dim(ka, kb):
        raise ShapeError(f"matmul: inner dimensions differ, {ka} != {kb}, in "
                         f"{a.describe()} @ {b.describe()}")
    if a.ndim <= 2 and b.ndim <= 2:
        sa = "ij"[2 - a.ndim:]
        sb = "jk"[:b.ndim]
        out = sa[:-1] + sb[1:]
        return einsum(f"{sa},{sb}->{out}", a, b)
    a2 = a if a.ndim >= 2 else reshape(a, (1,) + a.shape)
    b2 = b if b.ndim >= 2 else reshape(b, b.shape + (1,))
    try:
        batch = broadcast_shapes([a2.shape[:-2], b2.shape[:-2]], [a.name, b.name])
    except ShapeError:
        raise ShapeError(f"matmul: batch dimensions do not broadcast in {a.describe()} @ "
                         f"{b.describe()}") from None
    a2 = broadcast_to(a2, batch + a2.shape[-2:])
    b2 = broadcast_to(b2, batch + b2.shape[-2:])
    lb = string.ascii_letters[3:3 + len(batch)]
    out = einsum(f"{lb}ij,{lb}jk->{lb}ik", a2, b2)
    if a.ndim == 1:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = reshape(out, out.shape[:-1])
    return out


def dot(a, b):
    """``numpy.dot``: products for 0-d, inner/matrix products for 1-d and 2-d, and
    a sum over a's last and b's second-to-last axis beyond.

    >>> import symgrad as sg
    >>> u, v = sg.vector("u", 3), sg.vector("v", 3)
    >>> float(sg.dot(u, v).eval({u: [1.0, 2.0, 3.0], v: [1.0, 1.0, 1.0]}))
    6.0
    """
    a, b = _as_expr(a), _as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    la = string.ascii_lowercase[:a.ndim - 1]
    lb = string.ascii_lowercase[a.ndim:a.ndim + b.ndim - 1]
    sb = lb[:-1] + "Z" + lb[-1:] if b.ndim >= 2 else "Z"
    return einsum(f"{la}Z,{sb}->{la}{lb}", a, b)


def concatenate(xs, axis=0):
    """Join expressions along an existing axis.

    >>> import symgrad as sg
    >>> a, b = sg.matrix("a", 2, 3), sg.matrix("b", 4, 3)
    >>> sg.concatenate([a, b], axis=0).shape
    (6, 3)
    """
    xs = [_as_expr(x) for x in xs]
    if not xs:
        raise ValueError("concatenate needs at least one expression")
    ndim = xs[0].ndim
    if ndim == 0 or any(x.ndim != ndim for x in xs):
        raise ShapeError("concatenate needs expressions of one rank >= 1, got "
                         + ", ".join(x.describe() for x in xs))
    (axis,) = normalize_axes(axis, ndim, xs[0].describe())
    for x in xs[1:]:
        if any(not same_dim(d, e) for a, (d, e) in enumerate(zip(x.shape, xs[0].shape))
               if a != axis):
            raise ShapeError(f"concatenate along axis {axis}: {xs[0].describe()} and "
                             f"{x.describe()} differ in another axis")
    if len(xs) == 1:
        return xs[0]
    dtype = result_type(xs)  # the strong operands decide; weak ones (sg.zeros(n)) follow
    return Concatenate(axis)(*(cast(weak_to(x, dtype), dtype) for x in xs))


def stack(xs, axis=0):
    """Join expressions of one shape along a new axis.

    >>> import symgrad as sg
    >>> a, b = sg.vector("a", 3), sg.vector("b", 3)
    >>> sg.stack([a, b], axis=1).shape
    (3, 2)
    """
    xs = [_as_expr(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one expression")
    ndim = xs[0].ndim + 1
    (axis,) = normalize_axes(axis, ndim, f"stack of rank-{ndim - 1} expressions")
    for x in xs[1:]:
        if len(x.shape) != len(xs[0].shape) or not all(map(same_dim, x.shape, xs[0].shape)):
            raise ShapeError(f"stack needs equal shapes: {xs[0].describe()} and {x.describe()}")
    return concatenate([reshape(x, x.shape[:axis] + (1,) + x.shape[axis:]) for x in xs], axis)


# ---------------------------------------------------------------- indexing

def _check_index_dtype(x, idx, what):
    if is_float(idx.dtype):
        raise TypeError(f"{what}: the index {idx.describe()} must have an integer dtype "
                        f"to index {x.describe()}")


def gather(x, idx):
    """Rows of ``x`` picked by the integer expression ``idx`` (``x[idx]``); the
    result has shape ``idx.shape + x.shape[1:]``. Out-of-range or negative
    indices raise IndexError at call time.

    >>> import symgrad as sg
    >>> E, idx = sg.matrix("E", 100, 50), sg.matrix("idx", "batch", 5, dtype="int64")
    >>> E[idx].shape
    (batch, 5, 50)
    """
    x, idx = _as_expr(x), _as_expr(idx)
    _check_index_dtype(x, idx, "gather")
    if x.ndim == 0:
        raise ShapeError(f"cannot index the 0-d {x.describe()}")
    return Gather()(x, idx)


def pick(x, idx):
    """``out[...] = x[..., idx[...]]``: one entry of x's last axis per position of
    ``idx`` (e.g. the score of each example's label).

    >>> import symgrad as sg
    >>> S, y = sg.matrix("S", "batch", 5), sg.vector("y", "batch", dtype="int64")
    >>> sg.pick(S, y).shape
    (batch,)
    """
    x, idx = _as_expr(x), _as_expr(idx)
    _check_index_dtype(x, idx, "pick")
    if x.ndim != idx.ndim + 1 or not all(map(same_dim, x.shape[:-1], idx.shape)):
        raise ShapeError(f"pick needs x.shape == idx.shape + (n,), got {x.describe()} "
                         f"and {idx.describe()}")
    return TakeAlong()(x, idx)


_MASK_MAKERS = frozenset({"lt", "le", "gt", "ge", "eq", "neq"})  # comparisons: 1/0 masks


def _width(k):
    """How many axes of the indexed array the index entry ``k`` consumes."""
    if k is None or k is Ellipsis:
        return 0
    if isinstance(k, (np.ndarray, list)) and np.asarray(k).dtype == bool:
        return np.ndim(k)
    return 1


def _slice_entry(x, axis, k):
    """The slice ``k`` of ``axis`` as a Slice op's (start, stop, step) and its length."""
    d = x.shape[axis]
    if isinstance(d, int):
        start, stop, step = k.indices(d)
        n = len(range(start, stop, step))
        stop = None if stop < 0 else stop  # a negative step runs to the front
        return (start, stop, step), n
    if k in (slice(None), slice(None, None, 1)):
        return (0, d, 1), d
    raise IndexError(f"axis {axis} of {x.describe()} is the named dimension {d}; "
                     "only ':' can slice it")


def _int_entry(x, axis, k):
    d = x.shape[axis]
    if not isinstance(d, int):
        return int(k)  # checked against the bound size at call time (index_bounds)
    if not -d <= k < d:
        raise IndexError(f"index {k} is out of range for axis {axis} of {x.describe()}")
    return int(k) % d


def _index_arrays(x, axis, k):
    """The array entry ``k`` of an index as ``[(axis, int expression, checked)]``: one
    for an integer array or expression, one per dimension of a NumPy bool mask.
    ``checked``: every value is known to be in range (a constant on a fixed axis)."""
    if isinstance(k, Expr):
        if getattr(k.op, "fname", None) in _MASK_MAKERS:
            raise TypeError(f"cannot index {x.describe()} with the comparison {k.describe()}: "
                            "a symbolic boolean mask selects a data-dependent number of "
                            "elements; keep the shape with sg.where(mask, x, 0) (and "
                            "sum/mean over it), or index with a NumPy bool array")
        _check_index_dtype(x, k, "indexing")
        return [(axis, k, False)]
    a = np.asarray(k)
    if a.dtype == bool:
        dims = x.shape[axis:axis + a.ndim]
        if a.ndim == 0:
            raise TypeError(f"cannot index {x.describe()} with the boolean {k!r}; "
                            "use a bool array as a mask")
        if any(not isinstance(d, int) for d in dims):
            raise IndexError(f"a NumPy bool mask of shape {a.shape} cannot index the named "
                             f"dimension(s) of {x.describe()} (axes {axis}..{axis + a.ndim - 1}): "
                             "its size is known only at call time; use sg.where(mask, x, 0)")
        if a.shape != tuple(dims):
            raise IndexError(f"boolean mask of shape {a.shape} does not match axes "
                             f"{axis}..{axis + a.ndim - 1} of {x.describe()} (sizes {tuple(dims)})")
        return [(axis + j, constant(nz.astype(np.int64)), True) for j, nz in enumerate(a.nonzero())]
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)  # [] selects nothing, as in NumPy
    if a.dtype.kind not in "iu":
        raise TypeError(f"cannot index {x.describe()} with an array of dtype {a.dtype}; "
                        "use an integer index array or a bool mask")
    a = a.astype(np.int64)
    d = x.shape[axis]
    if isinstance(d, int):
        if a.size and (a.min() < -d or a.max() >= d):
            bad = a[(a < -d) | (a >= d)].flat[0]
            raise IndexError(f"index {bad} is out of range for axis {axis} of {x.describe()} "
                             f"(size {d})")
        return [(axis, constant(a % d if d else a), True)]
    if (a < 0).any():  # counts from the end of a size known at call time
        return [(axis, constant(a) + constant((a < 0).astype(np.int64)) * dim_size(d), False)]
    return [(axis, constant(a), False)]


def _parse_index(x, key):
    """``key`` as entries in order: ("new",), ("int", k), ("slice", triple, length) or
    ("array", [(axis, int expression, checked), ...]) (ints and slices of one axis each)."""
    key = key if isinstance(key, tuple) else (key,)
    if builtins.sum(k is Ellipsis for k in key) > 1:
        raise IndexError(f"an index can only have one ellipsis: {key!r}")
    used = builtins.sum(_width(k) for k in key)
    if used > x.ndim:
        raise IndexError(f"too many indices for {x.describe()}: {key!r}")
    at = next((i for i, k in enumerate(key) if k is Ellipsis), None)
    if at is not None:
        key = key[:at] + (slice(None),) * (x.ndim - used) + key[at + 1:]
    else:
        key = key + (slice(None),) * (x.ndim - used)
    entries, axis = [], 0
    for k in key:
        if k is None:
            entries.append(("new",))
            continue
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            entries.append(("int", _int_entry(x, axis, k)))
        elif isinstance(k, slice):
            entries.append(("slice",) + _slice_entry(x, axis, k))
        elif isinstance(k, (Expr, np.ndarray, list, range)):
            entries.append(("array", _index_arrays(x, axis, k)))
        else:
            raise TypeError(f"cannot index {x.describe()} with {k!r}: use ints, slices, ..., "
                            "None, integer arrays or expressions, or NumPy bool masks")
        axis += _width(k)
    return entries


def _static_index(x, key):
    """Resolve basic indexing (ints, slices, ..., None) into a Slice op's index and
    the final shape (with the new axes of None)."""
    entries = _parse_index(x, key)
    if any(e[0] == "array" for e in entries):
        raise TypeError(f"{key!r} is not a basic index of {x.describe()}")
    index = tuple(e[1] for e in entries if e[0] in ("int", "slice"))
    final = tuple(1 if e[0] == "new" else e[2] for e in entries if e[0] != "int")
    return index, final


def _is_arange(idx, d):
    """Whether ``idx`` is ``0, 1, ..., d - 1`` (a constant, or sg.arange of a named d)."""
    if not idx.inputs and hasattr(idx.op, "value"):
        return isinstance(d, int) and np.array_equal(idx.op.value, np.arange(d))
    return idx == arange(d)  # equal structure


def _pick_pattern(x, entries):
    """``x[arange(n), y]`` for a matrix ``x`` of n rows: the row-wise pick's y, else None."""
    if x.ndim != 2 or [e[0] for e in entries] != ["array", "array"]:
        return None
    (_, rows, _), = entries[0][1]
    (_, y, _), = entries[1][1]
    if rows.shape != x.shape[:1] or y.shape != x.shape[:1]:
        return None
    return y if _is_arange(rows, x.shape[0]) else None


def _advanced(x, entries):
    """NumPy's advanced indexing as Slice, Transpose, Reshape and one Gather from the
    advanced axes flattened into one (flat index = row-major combination)."""
    y = _pick_pattern(x, entries)
    if y is not None:
        return pick(x, y)
    index, arrays, kept = [], [], []  # kept: the kind of each axis the slice leaves
    for e in entries:
        if e[0] in ("int", "slice"):
            index.append(e[1])
            kept += ["slice"] if e[0] == "slice" else []
        elif e[0] == "array":
            for axis, idx, checked in e[1]:
                index.append((0, x.shape[axis], 1))
                arrays.append((len(kept), idx, checked))
                kept.append("array")
    out = x
    if any(k != (0, d, 1) for k, d in zip(index, x.shape)):
        out = Slice(tuple(index))(x)
    idxs = [idx for _, idx, _ in arrays]
    try:
        batch = broadcast_shapes([i.shape for i in idxs], [i.name for i in idxs])
    except ShapeError as e:
        raise ShapeError(f"indexing {x.describe()}: the index arrays do not broadcast "
                         f"together ({e}); to take one entry per row, x[i, y[i]], use "
                         "sg.pick(x, y) or x[sg.arange(n), y] with y of length n") from None
    rest = [a for a, k in enumerate(kept) if k == "slice"]
    out = transpose(out, [a for a, _, _ in arrays] + rest)
    m = len(arrays)
    flat = idxs[0]
    if m > 1:  # a flat index checks only its total range: check each index on its own axis
        dims = out.shape[:m]
        flat = None
        for (_, idx, checked), d in zip(arrays, dims):
            idx = idx if checked else Gather()(arange(d), idx)
            flat = idx if flat is None else flat * (d if isinstance(d, int) else dim_size(d)) + idx
        total = size_of(dims)
        out = reshape(out, (int(total) if total.is_Integer else total,) + out.shape[m:])
        flat = broadcast_to(flat, batch) if flat.shape != batch else flat
    got = gather(out, flat)  # batch + rest axes
    # NumPy puts the advanced axes where the advanced entries are when they are adjacent
    # (ints count as advanced), else first.
    where = [i for i, e in enumerate(entries) if e[0] in ("int", "array")]
    adjacent = where == list(range(where[0], where[-1] + 1))
    slots, r = ([] if adjacent else ["batch"]), 0
    for i, e in enumerate(entries):
        if e[0] == "new":
            slots.append("new")
        elif e[0] == "slice":
            slots.append(len(batch) + r)
            r += 1
        elif adjacent and i == where[0]:
            slots.append("batch")
    perm, final = [], []
    for s in slots:
        if s == "batch":
            perm += range(len(batch))
            final += batch
        elif s == "new":
            final.append(1)
        else:
            perm.append(s)
            final.append(got.shape[s])
    return reshape(transpose(got, perm), tuple(final))


def getitem(x, key):
    """``x[key]`` with NumPy's meaning: ints (negative ones count from the end, also on
    a named dimension), slices, ``...`` and None; integer arrays or integer expressions
    along any axes (NumPy's advanced indexing: index arrays broadcast together, and
    their axes go where the advanced entries are when those are adjacent, else
    first); NumPy bool masks (a static shape). A symbolic mask (``x[x > 0]``) has a
    data-dependent shape: use ``sg.where(mask, x, 0)``. Index values of an expression
    out of range, or negative, raise IndexError at call time. ``M[:, y]`` is every
    row at every label (NumPy's meaning); one label per row is ``sg.pick(M, y)``,
    which ``M[sg.arange(n), y]`` builds.

    >>> import numpy as np
    >>> import symgrad as sg
    >>> M = sg.matrix("M", "batch", 4)
    >>> y = sg.vector("y", "batch", dtype="int64")
    >>> M[:, y].shape, M[..., -1].shape, M[sg.arange("batch"), y].shape
    ((batch, batch), (batch,), (batch,))
    >>> A = sg.tensor("A", (2, 3, 4))
    >>> A[1, :, [0, 2]].shape, A[:, [0, 2], [1, 3]].shape, A[np.array([True, False])].shape
    ((2, 3), (2, 2), (1, 3, 4))
    >>> A[[0, 1], [1, 2]].eval({A: np.arange(24.0).reshape(2, 3, 4)})
    array([[ 4.,  5.,  6.,  7.],
           [20., 21., 22., 23.]])
    """
    entries = _parse_index(x, key)
    if any(e[0] == "array" for e in entries):
        return _advanced(x, entries)
    index = tuple(e[1] for e in entries if e[0] in ("int", "slice"))
    final = tuple(1 if e[0] == "new" else e[2] for e in entries if e[0] != "int")
    out = x
    if any(k != (0, d, 1) for k, d in zip(index, x.shape)):
        out = Slice(index)(x)
    return reshape(out, final)


# ---------------------------------------------------------------- scans

def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (None: over the flattened array), as
    ``numpy.cumsum``; int32 sums in int64. Its gradient is the reversed
    cumulative sum of the upstream gradient.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.cumsum(x).eval({x: [1.0, 2.0, 3.0]})
    array([1., 3., 6.])
    >>> sg.grad((sg.cumsum(x) * [1.0, 0.0, 2.0]).sum(), x).eval({x: [0.0, 0.0, 0.0]})
    array([3., 2., 2.])
    """
    x = _as_expr(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim, x.describe())
    if x.dtype == "int32":  # as NumPy: int32 accumulates in int64
        x = cast(x, "int64")
    return Cumsum(axis)(x)
