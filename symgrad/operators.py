"""Python operators and methods of ``Expr``: ``+ - * / ** @ %``, comparisons,
``.T``, ``.sum()`` and friends, indexing and ``.eval()``, and the method
spellings NumPy and PyTorch users reach for (``x.transpose(0, 2)``,
``x.sum(dim=1, keepdim=True)``, ``x.view(-1)``, ``x.size()``, ...).

Attached here so that ``graph.py`` stays free of op knowledge. A method that
calls a function of another module looks it up when it is called (``_late``),
so each method is a one-line alias of the function that defines the op.

Where NumPy and PyTorch read one spelling differently, the method takes
NumPy's meaning unless the call can only be PyTorch's:

* ``x.transpose(a, b)`` swaps two axes when ``x.ndim != 2`` (NumPy would
  reject two axes there); ``x.transpose(0, 1)`` of a matrix, NumPy's identity
  but PyTorch's swap, is a ValueError; any other argument is NumPy's.
* ``x.size`` is NumPy's element count, an ``int`` that PyTorch code can call:
  ``x.size()`` is the shape and ``x.size(d)`` one dimension (:class:`Size`).
* ``x.flatten()`` is NumPy's; ``x.flatten(start_dim, end_dim)`` with ints is
  PyTorch's (NumPy's only argument is an order string).
* ``x.repeat(repeats, axis=None)`` is ``numpy.repeat`` (PyTorch's
  ``x.repeat(*sizes)`` is ``sg.tile``); ``x.var()``/``x.std()`` keep NumPy's
  ``ddof=0`` and refuse PyTorch's ``dim=`` (whose default is unbiased).
* ``x.max(dim=d)``/``x.min(dim=d)`` return PyTorch's ``(values, indices)``
  pair; ``x.max(axis=d)`` and ``x.max(d)`` are NumPy's reduction.
* ``x.sort()`` returns the sorted expression (expressions are immutable;
  NumPy's method sorts in place, PyTorch's returns values and indices).
"""
import collections

from . import composites, linalg_ops, numpy_interop, ordering, reductions, shape_ops
from . import elementwise_ops as ew
from . import tensor_ops as T
from .elementwise import cast
from .function import evaluate
from .graph import Expr, toposort
from .printing import repr_latex
from .shared import get_value, set_value
from .sympy_form import to_sympy
from .types import normalize_axes, size_of


def _binary(op, reflected=False):
    if reflected:
        return lambda self, other: op(other, self)
    return lambda self, other: op(self, other)


def _late(module, name):
    """A method calling ``module.name(self, ...)``, looked up at call time."""
    def method(self, *args, **kwargs):
        return getattr(module, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``{module.__name__.split('.')[-1]}.{name}(self, ...)``: see ``sg.{name}``."
    return method


_UNSET = object()


def _torch_names(module, name, keepdim_allowed=True):
    """A reduction method taking NumPy's ``axis=``/``keepdims=`` or PyTorch's
    ``dim=``/``keepdim=`` (one spelling per call)."""
    def method(self, *args, dim=_UNSET, keepdim=_UNSET, **kwargs):
        if dim is not _UNSET:
            if args or "axis" in kwargs:
                raise TypeError(f"{self.describe()}.{name}(): give axis= (NumPy's name) or "
                                "dim= (PyTorch's), not both")
            kwargs["axis"] = dim
        if keepdim is not _UNSET:
            if not keepdim_allowed:
                raise TypeError(f"{self.describe()}.{name}() takes no keepdim")
            if "keepdims" in kwargs or len(args) > 1:
                raise TypeError(f"{self.describe()}.{name}(): give keepdims= (NumPy's name) "
                                "or keepdim= (PyTorch's), not both")
            kwargs["keepdims"] = keepdim
        return getattr(module, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = (f"``sg.{name}(self, axis, ...)``; PyTorch's ``dim=``"
                      + (" and ``keepdim=``" if keepdim_allowed else "") + " are accepted too.")
    return method


MaxMin = collections.namedtuple("MaxMin", "values indices")
MaxMin.__doc__ = "``x.max(dim=d)`` / ``x.min(dim=d)``: PyTorch's pair of the extremes and their int64 indices."


def _extreme(kind, arg):
    """``x.max()``/``x.min()``: NumPy's reduction (``axis=``, ``keepdims=``); with
    PyTorch's ``dim=`` the pair ``(values, indices)`` torch returns, so that
    ``x.max(dim=1)[0]`` means the values in both libraries, never row 0."""
    numpy_style = _torch_names(T, kind)

    def method(self, *args, dim=_UNSET, keepdim=_UNSET, **kwargs):
        values = numpy_style(self, *args, dim=dim, keepdim=keepdim, **kwargs)
        if dim is _UNSET:
            return values
        keep = bool(keepdim) if keepdim is not _UNSET else False
        return MaxMin(values, getattr(ordering, arg)(self, axis=dim, keepdims=keep))
    method.__name__ = kind
    method.__doc__ = _extreme.__doc__.replace("``x.max()``/``x.min()``", f"``x.{kind}()``")
    return method


def _numpy_only(module, name):
    """A method with NumPy's defaults that refuses PyTorch's differing keywords."""
    def method(self, *args, **kwargs):
        torch = sorted({"dim", "keepdim", "unbiased", "correction"} & kwargs.keys())
        if torch:
            raise TypeError(f"{self.describe()}.{name}() takes NumPy's arguments (axis=, "
                            f"ddof=0, keepdims=), not PyTorch's {', '.join(torch)}: PyTorch's "
                            "default is unbiased (ddof=1); write axis= and ddof= explicitly")
        return getattr(module, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``sg.{name}(self, ...)`` with NumPy's defaults."
    return method


def _axes_args(args):
    """``f(1, 2)`` or ``f((1, 2))``: the tuple either way."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


class Size(int):
    """``x.size``: NumPy's element count (an ``int``) that PyTorch code can call:
    ``x.size()`` is the shape, ``x.size(d)`` the size of axis ``d``.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", 2, 3)
    >>> x.size, x.size(), x.size(-1), x.numel()
    (6, (2, 3), 3, 6)
    """

    def __new__(cls, count, shape, what):
        size = super().__new__(cls, count)
        size._shape, size._what = shape, what
        return size

    def __call__(self, dim=None):
        return _dims(self._shape, self._what, dim)

    def __reduce__(self):  # pickles and copies as the plain count
        return int, (int(self),)


class NamedSize:
    """``x.size`` when ``x`` has named dimensions: the count is a formula of them,
    known at call time (``.count``; ``sg.dim_size(x.size.count)`` is it as an
    expression). Calling it works as for :class:`Size`; using it as a number
    raises TypeError instead of guessing.

    >>> import symgrad as sg
    >>> x = sg.matrix("x", "n", 3)
    >>> x.size, x.size(), x.size(0)
    (3*n, (n, 3), n)
    """

    def __init__(self, count, shape, what):
        self.count, self._shape, self._what = count, shape, what

    def __call__(self, dim=None):
        return _dims(self._shape, self._what, dim)

    def __repr__(self):
        return str(self.count)

    def __eq__(self, other):
        return self.count == (other.count if isinstance(other, NamedSize) else other)

    def __hash__(self):
        return hash(self.count)

    def _unknown(self, *args):
        raise TypeError(f"the size of {self._what} is {self.count}, known only at call time; "
                        f"use sg.dim_size(x.size.count) for it as an expression")

    __int__ = __index__ = __float__ = __bool__ = _unknown
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unknown
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _unknown
    __lt__ = __le__ = __gt__ = __ge__ = _unknown


def _dims(shape, what, dim):
    if dim is None:
        return tuple(shape)
    (axis,) = normalize_axes(dim, len(shape), what)
    return shape[axis]


def _size(self):
    count = size_of(self.shape)
    if count.is_Integer:
        return Size(int(count), self.shape, self.describe())
    return NamedSize(count, self.shape, self.describe())


def _numel(self):
    """The element count: an int, or a SymPy formula of named dimensions."""
    count = size_of(self.shape)
    return int(count) if count.is_Integer else count


def _transpose(self, *axes):
    """``x.transpose()``: reversed axes; ``x.transpose(perm)`` or ``x.transpose(*perm)``:
    NumPy's permutation; ``x.transpose(a, b)`` for ``x.ndim != 2``: PyTorch's swap."""
    if len(axes) == 1 and axes[0] is None:
        axes = ()
    if len(axes) == 2 and all(isinstance(a, int) for a in axes):
        if self.ndim != 2:
            return shape_ops.swapaxes(self, *axes)
        if tuple(a % 2 for a in axes) == (0, 1):
            raise ValueError(f"{self.describe()}.transpose{axes} is ambiguous: NumPy reads the "
                             "identity permutation, PyTorch a swap of the two axes; write "
                             "x.T or x.swapaxes(0, 1) to swap, x to keep it")
    return T.transpose(self, _axes_args(axes) or None)


def _reshape(self, *shape):
    """``x.reshape(shape)`` or ``x.reshape(*shape)`` (also ``x.view``)."""
    return T.reshape(self, _axes_args(shape))


def _permute(self, *dims):
    """PyTorch's ``x.permute(*dims)``: NumPy's ``x.transpose(dims)``."""
    return T.transpose(self, _axes_args(dims))


def _flatten(self, *args, **kwargs):
    """NumPy's ``x.flatten(order="C")``, or PyTorch's ``x.flatten(start_dim=0, end_dim=-1)``
    (ints: the axes start_dim..end_dim merged into one)."""
    torch = kwargs.keys() & {"start_dim", "end_dim"}
    if not torch and all(isinstance(a, str) for a in args):
        return shape_ops.ravel(self, *args, **kwargs)
    names = ("start_dim", "end_dim")
    given = dict(zip(names, args), **kwargs)
    if len(args) > 2 or set(given) - set(names):
        raise TypeError(f"{self.describe()}.flatten() takes order (NumPy) or start_dim, "
                        f"end_dim (PyTorch), got {args!r} {kwargs!r}")
    if self.ndim == 0:
        return T.reshape(self, (1,))
    (start,), (end,) = (normalize_axes(given.get(n, d), self.ndim, self.describe())
                        for n, d in zip(names, (0, -1)))
    if start > end:
        raise ValueError(f"{self.describe()}.flatten: start_dim {start} is after end_dim {end}")
    merged = size_of(self.shape[start:end + 1])
    merged = int(merged) if merged.is_Integer else merged
    return T.reshape(self, self.shape[:start] + (merged,) + self.shape[end + 1:])


def _astype(self, dtype):
    """``x.astype(dtype)``: ``sg.cast`` (a dtype name, a NumPy dtype or type)."""
    import numpy as np
    return cast(self, np.dtype(dtype).name if not isinstance(dtype, str) else dtype)


def _clip(self, min=None, max=None):  # noqa: A002 - NumPy's and PyTorch's method arguments
    """``x.clip(min, max)``: ``sg.clip(x, min, max)`` (NumPy's method names, PyTorch's too)."""
    return ew.clip(self, min, max)


# str() must stay cheap (print, f-strings, logging call it): writing a graph as a
# formula grows faster than linearly, ~0.25 s at 50 nodes, 3.6 s at 200
_STR_MAX_NODES = 60


def _str(self):
    """``str(x)``: the formula, as SymPy writes ``x.to_sympy()`` (``2*x + 1``).
    A graph of more than 60 nodes, or one with no SymPy form, gives its name
    (``sg.pretty`` writes large graphs as a few definitions); ``repr`` stays
    ``<Expr ...>``.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> str(2 * x + 1), str(sg.grad(sg.sin(x) * x, x))
    ('2*x + 1', 'x*cos(x) + sin(x)')
    """
    try:
        if len(toposort([self])) > _STR_MAX_NODES:
            return self.name
        return str(to_sympy(self))
    except Exception:  # str() must work on every graph; the name always exists
        return self.name


_METHODS = {
    "__add__": _binary(ew._add), "__radd__": _binary(ew._add, True),
    "__sub__": _binary(ew._sub), "__rsub__": _binary(ew._sub, True),
    "__mul__": _binary(ew._mul), "__rmul__": _binary(ew._mul, True),
    "__truediv__": _binary(ew._div), "__rtruediv__": _binary(ew._div, True),
    "__pow__": _binary(ew._pow), "__rpow__": _binary(ew._pow, True),
    "__mod__": lambda self, other: ew.mod(self, other),
    "__rmod__": lambda self, other: ew.mod(other, self),
    "__matmul__": _binary(T.matmul), "__rmatmul__": _binary(T.matmul, True),
    "__lt__": _binary(ew._lt), "__le__": _binary(ew._le),
    "__gt__": _binary(ew._gt), "__ge__": _binary(ew._ge),
    "__neg__": lambda self: ew._neg(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: ew.abs(self),
    "__getitem__": T.getitem,
    "T": property(lambda self: T.transpose(self)),
    # reductions: NumPy's axis=/keepdims= or PyTorch's dim=/keepdim=
    "sum": _torch_names(T, "sum"), "mean": _torch_names(T, "mean"),
    "max": _extreme("max", "argmax"), "min": _extreme("min", "argmin"),
    "prod": _torch_names(reductions, "prod"),
    "argmax": _torch_names(ordering, "argmax"), "argmin": _torch_names(ordering, "argmin"),
    "cumsum": _torch_names(T, "cumsum", keepdim_allowed=False),
    "cumprod": _torch_names(reductions, "cumprod", keepdim_allowed=False),
    "var": _numpy_only(reductions, "var"), "std": _numpy_only(reductions, "std"),
    "sort": _late(ordering, "sort"), "argsort": _late(ordering, "argsort"),
    "logsumexp": composites.logsumexp,
    # shapes
    "reshape": _reshape, "view": _reshape,
    "transpose": _transpose, "permute": _permute,
    "swapaxes": _late(shape_ops, "swapaxes"),
    "squeeze": _torch_names(shape_ops, "squeeze", keepdim_allowed=False),
    "unsqueeze": _late(shape_ops, "expand_dims"),
    "flatten": _flatten, "ravel": _late(shape_ops, "ravel"),
    "repeat": _late(shape_ops, "repeat"),
    "size": property(_size), "numel": _numel, "dim": lambda self: self.ndim,
    # linear algebra
    "dot": _late(T, "dot"), "diagonal": _late(linalg_ops, "diagonal"),
    "trace": _late(linalg_ops, "trace"),
    # elementwise
    "exp": _late(ew, "exp"), "log": _late(ew, "log"), "tanh": _late(ew, "tanh"),
    "sigmoid": _late(ew, "sigmoid"), "relu": _late(ew, "relu"), "sqrt": _late(ew, "sqrt"),
    "abs": _late(ew, "abs"), "clip": _clip, "astype": _astype,
    "eval": evaluate,
    "get_value": get_value, "set_value": set_value,  # shared variables (sg.shared)
    "to_sympy": to_sympy,
    "_repr_latex_": repr_latex,
    "__str__": _str,
    # NumPy's functions on expressions build symgrad ops (numpy_interop.py)
    "__array_ufunc__": numpy_interop.array_ufunc,
    "__array_function__": numpy_interop.array_function,
    "__array__": numpy_interop.no_array,
}

for _name, _method in _METHODS.items():
    setattr(Expr, _name, _method)

