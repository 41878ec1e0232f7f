"""The kernel program: what codegen compiles, as plain immutable data.

A ``Program`` is a straight-line list of statements over named arrays:
allocations, reshape views, BLAS products, and loop nests whose scalar
bodies are SymPy formulas. Sizes are SymPy expressions over the program's
integer size parameters. Everything is hashable and prints the same way
every time, so equal programs give equal source (and share a cache entry).

>>> import sympy
>>> n = sympy.Symbol("n0", integer=True)
>>> t = sympy.Symbol("t0", real=True)
>>> loop = Loop((n,), (Load("a", "x", (Index(0),)),
...                    Compute("b", sympy.Lambda((t,), 2 * t), ("a",), "float64"),
...                    Store("y", (Index(0),), "b")))
>>> prog = Program(("x", "n0"), (Alloc("y", "float64", (n,)), loop), ("y",))
>>> len(prog.statements)
2
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Index:
    """One subscript: ``offset + step * i<var>``, or the constant ``offset`` when var is None."""
    var: object = None
    offset: object = 0
    step: object = 1


@dataclass(frozen=True)
class ByValue:
    """A subscript read from the integer scalar ``sym`` (a gather or scatter index)."""
    sym: str


@dataclass(frozen=True)
class Load:
    """``sym = array[index]``."""
    sym: str
    array: str
    index: tuple


@dataclass(frozen=True)
class Compute:
    """``sym = formula(*args)`` computed in ``dtype``; ``cast`` converts the result
    to ``dtype`` (needed unless every argument already has it)."""
    sym: str
    formula: object  # sympy.Lambda
    args: tuple
    dtype: str
    cast: bool = True


@dataclass(frozen=True)
class CheckBounds:
    """Unless 0 <= sym < limit: ``flag[0] = code`` and return from the loop's
    function. The caller looks at ``flag`` after the kernel: raising inside a
    kernel would leak every array allocated before the raise."""
    sym: str
    limit: object
    code: int
    flag: str


@dataclass(frozen=True)
class Store:
    """``array[index] (mode) sym``; mode is "=", "+=", "max" or "min" (nan-propagating)."""
    array: str
    index: tuple
    sym: str
    mode: str = "="


@dataclass(frozen=True)
class Loop:
    """A loop nest over ``shape`` (loop var k runs over shape[k]); each body
    statement runs at the outermost level where its operands are known."""
    shape: tuple
    body: tuple


@dataclass(frozen=True)
class Alloc:
    """A new C-contiguous array; ``fill`` None leaves it uninitialised."""
    name: str
    dtype: str
    shape: tuple
    fill: object = None


@dataclass(frozen=True)
class Reshape:
    """``name = source.reshape(shape)``: a view of a contiguous array."""
    name: str
    source: str
    shape: tuple


@dataclass(frozen=True)
class Copy:
    """``name = source.copy()``."""
    name: str
    source: str


@dataclass(frozen=True)
class Subarray:
    """``name = source[index]`` for a tuple of int ``index``: the scalar in a
    one-element array (``index`` ``(0,)``), or, indexing fewer axes than
    ``source`` has, a C-contiguous view of the sub-array there."""
    name: str
    source: str
    index: tuple = (0,)


@dataclass(frozen=True)
class MatMul:
    """``name = a' @ b'`` with ``a' = a.T`` when ``transpose_a`` (2-D arrays of
    ``dtype``; BLAS or ``codegen.gemm``); ``sizes``, when known, are (m, k, n)
    for an (m, k) by (k, n) product: a big one runs in blocks of rows on all
    threads (see ``codegen.source``)."""
    name: str
    a: str
    b: str
    transpose_a: bool = False
    transpose_b: bool = False
    sizes: tuple = None
    dtype: str = "float64"


@dataclass(frozen=True)
class ArgOneHot:
    """``name``: 1 at the first arg-max (arg-min) of ``source`` over ``axes``, 0 elsewhere."""
    name: str
    source: str
    ndim: int
    axes: tuple
    kind: str
    dtype: str


@dataclass(frozen=True)
class Argsort:
    """``name``: the int64 positions that sort ``source`` (C-contiguous, of sizes
    ``shape``, at least 1-D) along its last axis, stably, nan last
    (``np.argsort(source, axis=-1, kind="stable")``)."""
    name: str
    source: str
    shape: tuple


@dataclass(frozen=True)
class Program:
    """``params`` (arrays and integer sizes, in call order), ``statements``, and
    the ``results`` returned as a tuple."""
    params: tuple
    statements: tuple
    results: tuple
