"""Array operations for kernels: ``empty``, ``full``, ``reshape`` (a view),
``matmul``, ``matmul_into`` (into a given array) and ``writable`` (a read-only input typed as writable), callable
from ``@njit`` code only.

``np.dot``, ``np.empty`` / ``np.zeros`` / ``np.full`` and ``.reshape`` under
``@njit`` each compile helper functions the first time a process meets an
argument signature (operand layouts, read-only flags, tuple lengths):
0.05-0.4 s apiece, most of a small network's cold compile time. The kernels
only need simple cases (contiguous operands, sizes already checked by the
caller), which ``codegen.numba_internals`` writes directly as LLVM IR
(intrinsics: nothing extra to compile; ``matmul`` calls the BLAS gemm
Numba's ``np.dot`` calls, so products round as ``np.dot``'s do). Those use
Numba's private API; where it is missing, or ``$SYMGRAD_NUMBA_PUBLIC_API``
is 1, the public versions below (``np.empty``, ``np.full``, ``.reshape``,
``np.dot``) give the same arrays.

Kernels call these as attributes of this module (``arrays.empty(...)``), and
each attribute is chosen when it is looked up, that is when Numba types a
kernel: a process that only loads cached kernels never detects the private
features (which imports Numba's array lowering: 45 ms). ``view`` is
``reshape`` for code that imports it by name (``from codegen.arrays import
view``): a kernel cannot write ``arrays.view``, since Numba refuses any
``.view`` attribute that is not an array's.

>>> import numba, numpy as np
>>> from symgrad_codegen import arrays
>>> @numba.njit
... def row_sums(a):
...     return arrays.matmul(arrays.reshape(a, (2, 3)), arrays.full((3, 1), 1.0, np.float64))
>>> row_sums(np.arange(6.0))
array([[ 3.],
       [12.]])
"""
import numpy as np

from . import numba_internals


@numba_internals.helper
def _empty(shape, dtype):
    """``np.empty(shape, dtype)``."""
    return np.empty(shape, dtype)


@numba_internals.helper
def _full(shape, value, dtype):
    """``np.full(shape, value, dtype)``."""
    return np.full(shape, value, dtype)


@numba_internals.helper
def _reshape(array, shape):
    """``array.reshape(shape)``: shares the data of a C-contiguous ``array``."""
    return array.reshape(shape)


@numba_internals.helper
def _matmul(a, b):
    """``np.dot(a, b)`` of two matrices."""
    return np.dot(a, b)


@numba_internals.helper
def _matmul_into(a, b, out):
    """``np.dot(a, b, out)`` of two matrices into a C-contiguous one."""
    np.dot(a, b, out)


@numba_internals.helper
def _writable(value):
    """``value`` (an array stays read-only: loop functions compile once per mix
    of read-only flags; the intrinsic relabels it writable)."""
    return value


_PUBLIC = {"empty": _empty, "full": _full, "reshape": _reshape, "matmul": _matmul,
           "matmul_into": _matmul_into, "writable": _writable}


def __getattr__(name):
    """``empty``, ``full``, ``reshape`` (or ``view``), ``matmul``, ``matmul_into`` or
    ``writable``: the intrinsic from ``codegen.numba_internals`` when its
    features are in use, else the public version."""
    name = "reshape" if name == "view" else name
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return numba_internals.array_intrinsic(name) or _PUBLIC[name]
