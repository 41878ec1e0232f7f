"""Helpers that generated kernels call.

``select`` is a branch-free choice, emitted as one LLVM ``select``
instruction. A conditional expression written in the kernel itself becomes
basic blocks in Numba's IR, and many of them make Numba's compile time grow
faster than linearly (a 300-op gradient: 5 s with conditionals, 1.6 s with a
jitted ``select`` function, 1.2 s with this intrinsic) and keep LLVM from
vectorising.
"""
import numpy as np
from numba import types
from numba.extending import intrinsic

from .numba_internals import helper


@intrinsic
def select(typingctx, condition, if_true, if_false):
    """``if_true`` when ``condition`` else ``if_false`` (both already evaluated);
    callable from ``@njit`` code only.

    >>> import numba
    >>> pick = numba.njit(lambda c: select(c, 1.0, 2))
    >>> pick(True), pick(False)
    (1.0, 2.0)
    """
    result = typingctx.unify_types(if_true, if_false)
    if result is None or not isinstance(condition, types.Boolean):
        return None

    def codegen(context, builder, signature, args):
        cond, a, b = args
        a = context.cast(builder, a, signature.args[1], signature.return_type)
        b = context.cast(builder, b, signature.args[2], signature.return_type)
        return builder.select(cond, a, b)

    return result(condition, if_true, if_false), codegen


@intrinsic
def nonneg(typingctx, index):
    """``index`` (an int64 known to be in range) as an unsigned integer, so that
    Numba indexes with it without the wraparound for negative indices: the
    select that wraparound adds can hide the loop's access pattern from LLVM
    and keep it from vectorising the loop.

    >>> import numba, numpy as np
    >>> numba.njit(lambda a: a[nonneg(1)])(np.arange(3.0))
    1.0
    """
    if not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[0], index, types.uintp)

    return types.uintp(index), codegen


@helper
def argsort_rows(source, out):
    """``out[r] = np.argsort(source[r], kind="stable")`` for each row of the 2-D
    ``source`` (nan last, as NumPy). A function of its own, compiled once and
    cached on disk (in the cache folder, see ``numba_internals.helper``): Numba's sort written into a kernel costs about 0.5 s of
    compile time per call site, a call to this costs next to nothing.

    >>> out = np.empty((1, 4), np.int64)
    >>> argsort_rows(np.array([[2.0, np.nan, 1.0, 2.0]]), out)
    >>> out
    array([[2, 0, 3, 1]])
    """
    for r in range(source.shape[0]):
        order = np.argsort(source[r], kind="mergesort")  # mergesort is stable
        for k in range(order.shape[0]):
            out[r, k] = order[k]
