"""Shared variables: symbolic variables that own an array (Theano's ``shared``).

A compiled function reads every shared variable of its graph from the
variable's own array, without it being passed, and ``updates=`` (see
``sg.function``) write new values into those arrays in place. The array
is the variable's: ``get_value`` and ``set_value`` copy out and in, with
the shape and dtype checked, so no caller's array is ever written.
"""
import numpy as np

from .constructors import variable_shape
from .errors import ShapeError
from .graph import Expr, fresh_uid
from .ops import Shared, Storage, free_inputs
from .ops.leaves import constant, is_weak, weak_to
from .types import as_dtype, shape_str

_names = iter(range(1, 2**62))


def shared(value, name=None, shape=None, dtype=None):
    """A variable that owns a copy of ``value`` (an array or a number).

    Its dtype is the array's (or ``dtype``), its shape the array's; ``shape``
    may name dimensions (``("vocab", 50)``), which then take the array's sizes
    at each call and may change with ``set_value``. Use it anywhere a
    variable is used: compiled functions read its array themselves, and
    ``sg.function(..., updates=[(var, new_value)])`` writes it in place.

    >>> import numpy as np, symgrad as sg
    >>> W = sg.shared(np.ones((2, 3)), name="W")
    >>> x = sg.vector("x", 3)
    >>> f = sg.function([x], W @ x, backend="numpy")
    >>> f([1.0, 2.0, 3.0])
    array([6., 6.])
    >>> W.set_value(np.zeros((2, 3))); f([1.0, 2.0, 3.0])
    array([0., 0.])
    >>> W.get_value().shape, W.dtype, W
    ((2, 3), 'float64', <Expr W: float64[2, 3]>)
    """
    if isinstance(value, Expr):
        raise TypeError(f"sg.shared needs a value (an array or a number), got the expression "
                        f"{value.describe()}; a shared variable holds data, not a formula")
    if name is None:
        name = f"shared{next(_names)}"
    if not isinstance(name, str) or not name:
        raise TypeError(f"a shared variable's name must be a non-empty str, got {name!r}")
    array = np.array(value, dtype=None if dtype is None else as_dtype(dtype), order="C")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"sg.shared({name!r}): values of dtype {array.dtype} are not supported; "
                        "pass floats or integers")
    array = array.astype(as_dtype(str(array.dtype)), copy=False)
    given = array.shape if shape is None else shape
    dims = variable_shape(given, array.dtype.name, f"shared variable {name!r}")
    storage = Storage(None)
    var = Expr(Shared(name, fresh_uid(), storage), (), array.dtype.name, dims)
    storage.array = _checked(var, array)
    return var


def _storage(var, what):
    if not (isinstance(var, Expr) and isinstance(var.op, Shared)):
        label = var.describe() if isinstance(var, Expr) else repr(var)
        raise TypeError(f"{what}: {label} is not a shared variable; sg.shared(value) makes one")
    return var.op.storage


def _checked(var, array):
    """``array`` as ``var``'s value: its dtype without loss, its shape."""
    if not np.can_cast(array.dtype, var.dtype, casting="same_kind") or (
            array.dtype.kind == "f" and np.dtype(var.dtype).itemsize < array.dtype.itemsize):
        raise TypeError(f"a value of dtype {array.dtype} for {var.describe()} would lose "
                        f"precision; pass an array of {var.dtype}")
    if array.ndim != var.ndim or any(isinstance(d, int) and d != n
                                     for d, n in zip(var.shape, array.shape)):
        raise ShapeError(f"a value of shape {shape_str(array.shape)} for {var.describe()}; "
                         f"it must have shape {shape_str(var.shape)}")
    return np.array(array, dtype=var.dtype, order="C")  # a copy: the variable's own


def get_value(var):
    """A copy of the shared variable's array.

    >>> import symgrad as sg
    >>> sg.shared([1.0, 2.0], name="v").get_value()
    array([1., 2.])
    """
    return _storage(var, "get_value").array.copy()


def set_value(var, value):
    """Copy ``value`` into the shared variable (shape and dtype checked).

    >>> import symgrad as sg
    >>> v = sg.shared([1.0, 2.0], name="v")
    >>> v.set_value([3.0, 4.0]); v.get_value()
    array([3., 4.])
    >>> v.set_value([1.0])
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: a value of shape (1,) for 'v' (float64, shape (2,)); it must have shape (2,)
    """
    storage = _storage(var, "set_value")
    storage.array = _checked(var, np.asarray(value))


def array_of(var):
    """The shared variable's own array (not a copy): what compiled functions read
    and their updates write."""
    return var.op.storage.array


def is_shared(node):
    """Whether ``node`` is a shared variable."""
    return isinstance(node, Expr) and isinstance(node.op, Shared)


def implicit_shared(inputs, exprs, updates):
    """The shared variables that ``exprs`` read or ``updates`` write, in graph
    order: a compiled function's implicit inputs. ValueError for one listed in
    ``inputs`` (its value comes from its array, not from the caller)."""
    for x in inputs:
        if is_shared(x):
            raise ValueError(f"{x.describe()} is a shared variable: a function reads it from "
                             "its own array, so leave it out of `inputs` (a variable passed at "
                             "each call is made with sg.tensor/matrix/vector/scalar)")
    found = [x for x in free_inputs(exprs) if is_shared(x)]
    found += [t for t, _ in updates if t not in set(found)]
    return found


def as_updates(updates):
    """``updates`` (pairs ``(shared variable, new value)`` or a dict) as a list of
    pairs, checked: each target a shared variable, updated once, its new value an
    expression of its dtype and shape (a number or an array becomes a constant)."""
    if updates is None:
        return []
    if isinstance(updates, dict):
        pairs = list(updates.items())
    elif isinstance(updates, (list, tuple)):
        pairs = list(updates)
    else:
        raise TypeError(f"updates must be a list of pairs (shared variable, new value) or a "
                        f"dict, got {type(updates).__name__}")
    checked, seen = [], set()
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"each update is a pair (shared variable, new value), got {pair!r}")
        target, new = pair
        _storage(target, "updates")
        if target in seen:
            raise ValueError(f"updates write {target.describe()} twice; give each shared "
                             "variable one new value")
        seen.add(target)
        checked.append((target, _new_value(target, new)))
    return checked


def _new_value(target, new):
    """``new`` as an expression of ``target``'s dtype and shape, or a clear error."""
    if not isinstance(new, Expr):
        value = np.asarray(new)
        if value.dtype.kind not in "iuf" or not np.can_cast(value, target.dtype, "same_kind"):
            raise TypeError(f"the new value {new!r} for {target.describe()} is not a number or "
                            f"array of its dtype")
        new = constant(value.astype(target.dtype))
    elif new.dtype != target.dtype and is_weak(new):
        new = weak_to(new, target.dtype)
    if new.dtype != target.dtype:
        raise TypeError(f"the new value {new.describe()} for {target.describe()} has another "
                        f"dtype; convert it with sg.cast(new, {target.dtype!r})")
    if tuple(new.shape) != tuple(target.shape):
        raise ShapeError(f"the new value {new.describe()} for {target.describe()} has another "
                         f"shape; it must have shape {shape_str(target.shape)}")
    return new
