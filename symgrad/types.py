"""Dtypes and shapes: a type is a dtype name plus a shape of ints and named dims.

A named dimension is a SymPy ``Symbol`` (integer, nonnegative), so shapes
computed by reshape, concatenate and friends stay symbolic until call time.
"""
import numpy as np
import sympy

from .errors import ShapeError

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int32", "int64")
DTYPES = FLOAT_DTYPES + INT_DTYPES


def as_dtype(dtype):
    """The canonical dtype name for ``dtype``, or TypeError for unsupported ones."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = repr(dtype)
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {name!r}: symgrad supports {', '.join(DTYPES)}")
    return name


def is_float(dtype):
    return dtype in FLOAT_DTYPES


def result_dtype(dtypes):
    """NumPy's promotion for our dtypes: the widest float, else the widest int."""
    floats = [d for d in dtypes if d in FLOAT_DTYPES]
    if floats:
        return "float64" if "float64" in floats else "float32"
    return "int64" if "int64" in dtypes or not dtypes else "int32"


MAX_SIZE = int(np.iinfo(np.intp).max)  # NumPy's limit on a dimension and on an array's bytes


def as_dim(d, owner=None):
    """An int in [0, 2**63 - 1] (NumPy's largest dimension) or a named dimension
    (str -> Symbol); ``owner`` names what the shape belongs to in messages.

    >>> as_dim(3), as_dim("batch")
    (3, batch)
    >>> as_dim(2**70, "variable 'x'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: variable 'x': dimension 1180591620717411303424 is larger than ...
    """
    if isinstance(d, sympy.Basic):
        return d
    if isinstance(d, str):
        if not d.isidentifier():
            raise ValueError(f"a named dimension must be an identifier, got {d!r}")
        return sympy.Symbol(d, integer=True, nonnegative=True)
    where = f"{owner}: " if owner else ""
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        if d > MAX_SIZE:  # it would reach Numba as an integer literal it cannot type
            raise ShapeError(f"{where}dimension {d} is larger than 2**63 - 1, the largest "
                             "size NumPy allows")
        if d >= 0:
            return int(d)
    raise ShapeError(f"{where}a dimension must be an int >= 0 or a name, got {d!r}")


def as_shape(shape, owner=None):
    if isinstance(shape, (int, str, np.integer)):
        shape = (shape,)
    return tuple(as_dim(d, owner) for d in shape)


def check_size(shape, dtype, owner):
    """ShapeError unless an array of ``shape`` (its fixed sizes; named ones may be
    anything) and ``dtype`` could exist: NumPy refuses more than 2**63 - 1 bytes.

    >>> check_size((2**40, "n", 2**40), "float64", "variable 'M'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: variable 'M': the fixed sizes of shape (1099511627776, n, ...
    """
    nbytes = np.dtype(dtype).itemsize
    for d in shape:
        if isinstance(d, int) and d:  # as in NumPy, an empty array's other sizes count too
            nbytes *= d
    if nbytes > MAX_SIZE:
        raise ShapeError(f"{owner}: the fixed sizes of shape {shape_str(shape)} make more "
                         f"than 2**63 - 1 bytes of {dtype}, more than NumPy allows in one array")


def shape_str(shape):
    """``(3, batch)`` for messages."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def same_dim(a, b):
    return a == b or (isinstance(a, sympy.Basic) and sympy.simplify(a - b) == 0)


def size_of(shape):
    return sympy.Mul(*shape) if shape else sympy.Integer(1)


def broadcast_shapes(shapes, names):
    """NumPy broadcasting of ``shapes``; a named dimension matches itself or 1.

    ``names`` label the operands in the error message.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            described = ", ".join(f"{n} {shape_str(s)}" for n, s in zip(names, shapes))
            raise ShapeError(f"shapes do not broadcast: {described}; sizes differ in axis "
                             f"{axis - ndim} ({', '.join(sorted(map(str, dims)))})")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axes(axis, ndim, what):
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for {what}, which has {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r} for {what}")
    return tuple(sorted(out))


def resolve_dim(d, bindings):
    """The int size of ``d`` given bindings {Symbol: int}."""
    if isinstance(d, int):
        return d
    return int(d.xreplace({s: sympy.Integer(bindings[s]) for s in d.free_symbols}))
