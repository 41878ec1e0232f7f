"""Compiled functions: ``sg.function`` and ``sg.value_and_grad``.

The wrapper checks every argument (count, names, dtype, rank, sizes, named
dimensions) before any backend code runs, binds named dimensions, and never
modifies or returns the caller's arrays.
"""
import numpy as np

from .autodiff import grad
from .errors import ShapeError
from .graph import Expr, toposort
from .index_bounds import check_index_bounds, index_bounds
from .numpy_backend import NumpyProgram
from .optimize import optimize
from .ops import DimSize, Input, free_inputs
from .types import DTYPES, check_size, shape_str

BACKENDS = ("numba", "numpy")
FLOAT_TYPES = frozenset({float, np.float64})  # exact types: bool, int and subclasses are checked in full
# the dtypes the kernels take, in native byte order; compared as dtypes (``.name``
# would call big-endian ">f8" "float64" too, and it is slow)
NATIVE = {name: np.dtype(name) for name in DTYPES}
# every integer of at most this many bits is exact in the float dtype (its mantissa + 1)
EXACT_BITS = {"float32": 24, "float64": 53}


def _bind_argument(var, value, bindings, binders):
    """``value`` as an array of ``var``'s dtype; records named dimension sizes."""
    if type(value) is float and var.dtype == "float64" and not var.shape:
        return np.float64(value)  # the common scalar case, checked in full below
    if type(value) is np.ndarray and value.dtype == NATIVE[var.dtype]:
        arr = value  # already the right dtype and byte order: no conversion to check
    else:
        arr = _as_array(var, value)
    if arr.ndim != var.ndim:
        raise ShapeError(f"argument for {var.describe()} has {arr.ndim} dimension(s) "
                         f"(shape {shape_str(arr.shape)}); expected {var.ndim}")
    for axis, (d, n) in enumerate(zip(var.shape, arr.shape)):
        if isinstance(d, int):
            if d != n:
                raise ShapeError(f"argument for {var.describe()} has shape "
                                 f"{shape_str(arr.shape)}: axis {axis} must be {d}, got {n}")
        elif d in bindings and bindings[d] != n:
            first, first_axis = binders[d]
            raise ShapeError(f"named dimension {d} is {bindings[d]} in {first!r} (axis "
                             f"{first_axis}) but {n} in {var.name!r} (axis {axis}); every "
                             f"use of {d} in one call must have the same size")
        else:
            bindings.setdefault(d, n)
            binders.setdefault(d, (var.name, axis))
    view = arr.view()
    view.flags.writeable = False  # the backends must never write to a caller's array
    return view


def _as_array(var, value):
    """``value`` converted losslessly to ``var``'s dtype (a native-byte-order copy
    when it is not one already), or TypeError."""
    if isinstance(value, Expr):
        raise TypeError(f"argument for {var.describe()} is a symbolic expression; "
                        "pass a NumPy array or a number")
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would drop the mask silently
        raise TypeError(f"argument for {var.describe()} is a masked array, and symgrad has no "
                        "masks; pass value.filled(fill_value) to choose what the masked entries "
                        "hold, or value.data to use the stored values as they are")
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and objects NumPy refuses
        raise TypeError(f"argument for {var.describe()} is not an array: {e}") from None
    if arr.dtype.kind not in "iuf" or not np.can_cast(arr.dtype, var.dtype, casting="safe"):
        raise TypeError(f"argument for {var.describe()} has dtype {arr.dtype}, which does not "
                        f"convert to {var.dtype} without loss; pass an array of {var.dtype}")
    if arr.dtype.kind in "iu" and var.dtype in EXACT_BITS:
        _check_exact(var, arr)
    return arr.astype(var.dtype, copy=False)


def _check_exact(var, arr):
    """TypeError unless every integer in ``arr`` is exact in ``var``'s float dtype.

    NumPy calls int64 -> float64 a safe cast, but 2**53 + 1 becomes 2**53. Every
    integer up to 2**53 in magnitude (2**24 for float32) is exact, so that bound
    is checked (by the dtype when it cannot be exceeded, else by one min and one
    max); beyond it even the integers float64 does hold, like 2**60, are refused:
    one bound to document, checked without converting back and comparing.
    """
    bits = EXACT_BITS[var.dtype]
    if arr.dtype.itemsize * 8 - (arr.dtype.kind == "i") <= bits or arr.size == 0:
        return
    limit = 2 ** bits
    if -limit <= arr.min() and arr.max() <= limit:
        return
    at = tuple(int(i) for i in np.argwhere((arr < -limit) | (arr > limit))[0])
    where = "" if not at else f" at index {at[0]}" if len(at) == 1 else f" at index {at}"
    raise TypeError(f"argument for {var.describe()} has dtype {arr.dtype} and holds "
                    f"{arr[at]}{where}, beyond 2**{bits} in magnitude, where {var.dtype} no longer "
                    f"holds every integer exactly; convert it yourself, e.g. with "
                    f".astype({var.dtype!r}), if rounding is acceptable")


def _check_shapes(inputs, outputs):
    """Every named dimension the graph uses must come from an input's shape, and
    no node's fixed sizes may exceed what NumPy (and a kernel's int64) can hold."""
    bound = {d for x in inputs for d in x.shape if not isinstance(d, int)}
    bound = set().union(*(d.free_symbols for d in bound))
    for node in toposort(outputs):
        check_size(node.shape, node.dtype, f"expression {node.name!r}")
        used = set().union(*(d.free_symbols for d in node.shape if not isinstance(d, int)))
        if isinstance(node.op, DimSize):
            used.add(node.op.dim)
        unbound = used - bound
        if unbound:
            names = ", ".join(sorted(map(str, unbound)))
            raise ValueError(f"{node.describe()} uses the named dimension(s) {names}, which no "
                             f"input's shape has; add an input with that dimension to `inputs`")


class Function:
    """A callable made by :func:`function`: checks arguments, runs the backend.

    ``f(*args)`` takes arrays in ``inputs`` order or by variable name (any
    name, ``self`` included).
    """

    def __init__(self, inputs, outputs, backend="numba", cache=True):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        self.single = isinstance(outputs, Expr)
        self.outputs = [outputs] if self.single else list(outputs)
        self.inputs = list(inputs)
        self.backend, self.cache = backend, cache
        for x in self.inputs:
            if not isinstance(x, Expr) or not isinstance(x.op, Input):
                raise TypeError(f"function inputs must be variables made by sg.scalar/vector/"
                                f"matrix/tensor, got {getattr(x, 'name', x)!r}")
        for o in self.outputs:
            if not isinstance(o, Expr):
                raise TypeError(f"function outputs must be expressions, got {type(o).__name__}")
        names = [x.name for x in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"function inputs share the name(s) {dupes}; give each input "
                             "its own name")
        missing = [x for x in free_inputs(self.outputs) if x not in set(self.inputs)]
        if missing:
            raise ValueError("the outputs depend on inputs not listed in `inputs`: "
                             + ", ".join(x.describe() for x in missing))
        _check_shapes(self.inputs, self.outputs)
        graph = optimize(self.outputs)  # what both backends run
        self._index_bounds = index_bounds(graph)
        self._names = {x.name: i for i, x in enumerate(self.inputs)}
        # a scalar function called with one float per input passes every check
        # (count, dtype, rank 0; no sizes or named dimensions to bind) as it is
        self._floats_only = backend == "numba" and all(
            x.dtype == "float64" and not x.shape for x in self.inputs)
        if backend == "numba":
            from .numba_backend import NumbaProgram  # imports Numba only when needed
            self._program = NumbaProgram(self.inputs, graph, cache=cache)
        else:
            self._program = NumpyProgram(self.inputs, graph)

    @property
    def source(self):
        """The generated Python source that Numba compiled (None for the numpy backend)."""
        return getattr(self._program, "source", None)

    def _arguments(self, args, kwargs):
        """The checked arrays in ``inputs`` order, and the named dimensions' sizes."""
        if kwargs or len(args) != len(self.inputs):
            args = self._in_input_order(args, kwargs)
        bindings, binders = {}, {}
        arrays = [_bind_argument(x, v, bindings, binders) for x, v in zip(self.inputs, args)]
        if self._index_bounds:
            check_index_bounds(self._index_bounds, bindings)
        return arrays, bindings

    def _in_input_order(self, args, kwargs):
        if len(args) > len(self.inputs):
            raise TypeError(f"function takes {len(self.inputs)} argument(s) "
                            f"({', '.join(self._names)}), got {len(args)}")
        values = list(args) + [None] * (len(self.inputs) - len(args))
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            if name not in self._names:
                raise TypeError(f"unknown argument {name!r}; the inputs are "
                                f"{', '.join(self._names)}")
            i = self._names[name]
            if given[i]:
                raise TypeError(f"argument {name!r} given twice")
            values[i], given[i] = value, True
        if not all(given):
            absent = [x.name for x, ok in zip(self.inputs, given) if not ok]
            raise TypeError(f"missing argument(s): {', '.join(absent)}")
        return values

    def __call__(self, /, *args, **kwargs):  # positional-only: f(self=...) names an input
        if (self._floats_only and not kwargs and len(args) == len(self.inputs)
                and FLOAT_TYPES.issuperset(map(type, args))):
            outs = self._program.call_floats(args)
        else:
            arrays, bindings = self._arguments(args, kwargs)
            outs = self._program(arrays, bindings)
            if self.backend == "numpy":
                outs = [np.array(o) for o in outs]
                outs = [o[()] if o.ndim == 0 else o for o in outs]
        return outs[0] if self.single else outs


def function(inputs, outputs, backend="numba", cache=True):
    """Compile ``outputs`` (an expression or a list) as a function of ``inputs``.

    ``backend="numba"`` (the default) compiles one fused function per graph;
    ``backend="numpy"`` is the reference interpreter.

    The returned function takes the inputs positionally or by name. Each
    argument (an array, a nested list or a number) is checked before any compiled
    code runs, and converted only when no value can change:

    * float32 -> float64 and the integer dtypes NumPy casts safely (int32 ->
      int64, int32 -> float64, int16 -> float32, ...) are accepted;
    * int64 and uint64 (also Python ints) -> float64 are accepted when every
      value is at most 2**53 in magnitude, the range where every integer is
      exact; a larger value raises TypeError naming the input and the value;
    * everything else raises TypeError, whatever the values: float64 -> float32,
      int64 -> float32, int64 -> int32, uint64 -> int64, floats -> ints, bool,
      complex, object and masked arrays (pass ``.filled(value)`` or ``.data``);
    * a wrong rank or size, or a named dimension bound to two sizes, raises
      ``sg.ShapeError``.

    Big-endian, non-contiguous and read-only arrays are accepted (copied when
    the kernel needs it); the caller's arrays are never modified.

    >>> import symgrad as sg
    >>> x, W = sg.vector("x", 3), sg.matrix("W", 2, 3)
    >>> f = sg.function([x, W], W @ x, backend="numpy")
    >>> f([1.0, 2.0, 3.0], [[1, 0, 0], [0, 1, 1]])
    array([1., 5.])
    >>> f([2**53 + 1, 0, 0], W=[[1, 0, 0], [0, 1, 1]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: argument for 'x' (float64, shape (3,)) has dtype int64 and holds 9007199254740993 ...
    """
    return Function(inputs, outputs, backend=backend, cache=cache)


class ValueAndGrad:
    """A callable made by :func:`value_and_grad`: returns (cost, gradients)."""

    def __init__(self, cost, wrt, inputs, backend="numba", cache=True):
        self.single = isinstance(wrt, Expr)
        grads = grad(cost, wrt)
        grads = [grads] if self.single else grads
        self._function = Function(inputs, [cost] + grads, backend=backend, cache=cache)

    @property
    def source(self):
        """The generated Python source that Numba compiled (None for the numpy backend)."""
        return self._function.source

    def __call__(self, /, *args, **kwargs):
        outs = self._function(*args, **kwargs)
        return outs[0], (outs[1] if self.single else outs[1:])


def value_and_grad(cost, wrt, inputs, backend="numba", cache=True):
    """Compile the cost and its gradients with respect to ``wrt`` in one pass.

    >>> import symgrad as sg
    >>> w = sg.vector("w", 2)
    >>> vg = sg.value_and_grad((w ** 2).sum(), [w], inputs=[w], backend="numpy")
    >>> vg([1.0, 2.0])
    (np.float64(5.0), [array([2., 4.])])
    """
    return ValueAndGrad(cost, wrt, inputs, backend=backend, cache=cache)


def evaluate(expr, values=None, backend="numpy"):
    """Evaluate ``expr`` (or a list) with ``values`` mapping variables (or their
    names) to arrays; convenient at the prompt and in examples.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> (x * 3).eval({"x": [1.0, 2.0]})
    array([3., 6.])
    """
    values = dict(values or {})
    needed = free_inputs([expr] if isinstance(expr, Expr) else list(expr))
    # variables given but not needed still bind their named dimensions
    needed += [x for x in values if isinstance(x, Expr) and isinstance(x.op, Input)
               and x not in set(needed)]
    args = []
    for x in needed:
        if x not in values and x.name not in values:
            raise ValueError(f"no value given for {x.describe()}")
        args.append(values[x] if x in values else values[x.name])
    return Function(needed, expr, backend=backend)(*args)
