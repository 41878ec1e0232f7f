"""Leaves of a graph: variables (with fixed or named dimensions) and constants."""
import sympy

from .graph import Expr, fresh_uid
from .ops import DimSize, Input
from .ops.elementwise import apply
from .ops.leaves import constant  # noqa: F401 - public here (sg.constant)
from .types import as_dim, as_dtype, as_shape, check_size


def tensor(name, shape, dtype="float64"):
    """An input variable of any rank; ``shape`` holds ints and dimension names.

    A named dimension ("batch") is bound when the compiled function is called;
    every use of one name in a function must get the same size. A fixed size is
    an int from 0 to 2**63 - 1, and the fixed sizes together must not make an
    array larger than NumPy allows (2**63 - 1 bytes); else ``sg.ShapeError``.

    >>> import symgrad as sg
    >>> sg.tensor("X", ("batch", 5, 50)).shape
    (batch, 5, 50)
    >>> sg.vector("x", 2**70)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: variable 'x': dimension 1180591620717411303424 is larger than ...
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a variable's name must be a non-empty str, got {name!r}")
    dtype = as_dtype(dtype)
    return Expr(Input(name, fresh_uid()), (), dtype,
                variable_shape(shape, dtype, f"variable {name!r}"))


def variable_shape(shape, dtype, owner):
    """``shape`` checked as a variable's (ints and dimension names; not too large)."""
    shape = as_shape(shape, owner)
    check_size(shape, dtype, owner)
    return shape


def scalar(name, dtype="float64"):
    """A 0-d input variable.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> x.shape, x.dtype
    ((), 'float64')
    """
    return tensor(name, (), dtype)


def vector(name, n, dtype="float64"):
    """A 1-d input variable of length ``n`` (an int or a dimension name).

    >>> import symgrad as sg
    >>> sg.vector("labels", "batch", dtype="int64").shape
    (batch,)
    """
    return tensor(name, (n,), dtype)


def matrix(name, m, n, dtype="float64"):
    """A 2-d input variable.

    >>> import symgrad as sg
    >>> sg.matrix("W", 100, 250).shape
    (100, 250)
    """
    return tensor(name, (m, n), dtype)


def dim_size(d):
    """The size of dimension ``d`` as a 0-d int64 expression (a number for a fixed one).

    A size computed from named dimensions (``m*n`` after a reshape) is that
    formula of the named sizes: a ``DimSize`` leaf is always one named dimension.

    >>> import symgrad as sg
    >>> M = sg.matrix("M", "m", "n")
    >>> int(sg.function([M], sg.dim_size(M.reshape((-1,)).shape[0]), backend="numpy")(
    ...     [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    6
    """
    d = as_dim(d)
    if isinstance(d, int):
        return constant(d)
    if isinstance(d, sympy.Symbol):
        return Expr(DimSize(d), (), "int64", ())
    named = sorted(d.free_symbols, key=str)
    formula = sympy.Lambda(tuple(named), d)
    return apply(formula, [dim_size(s) for s in named], f"size({d})", dtype="int64")
