"""Helpers that generated kernels call.

``select`` is a branch-free choice, emitted as one LLVM ``select``
instruction. A conditional expression written in the kernel itself becomes
basic blocks in Numba's IR, and many of them make Numba's compile time grow
faster than linearly (a 300-op gradient: 5 s with conditionals, 1.6 s with a
jitted ``select`` function, 1.2 s with this intrinsic) and keep LLVM from
vectorising.
"""
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

from . import arrays
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



_BLOCK_MACS = 1 << 21  # at least this many multiply-adds a block


def _block_rows(m, k, n, threads):
    """Rows per block of an (m, k) @ (k, n) product spread over ``threads``:
    one block per thread, each of at least ``_BLOCK_MACS`` multiply-adds and 8
    rows, or all m rows in one block. Smaller blocks lose BLAS speed:
    (128, 784) @ (784, 256) on one thread took 0.87 ms whole, 0.91 ms in 2
    blocks of 64 rows, 0.98 ms in 4 of 32. The blocks depend on the sizes and
    on ``threads`` (the threads Numba started), not on how many are in use.

    >>> _block_rows(128, 784, 256, 2), _block_rows(128, 784, 256, 1), _block_rows(16, 16, 16, 2)
    (64, 128, 16)
    """
    blocks = min(threads, m * k * n // _BLOCK_MACS, m // 8)
    return -(-m // blocks) if blocks > 1 else max(m, 1)


block_rows = helper(_block_rows)



@helper(parallel=True)
def matmul_blocks(a, b, transpose_a, transpose_b, threads):
    """``a' @ b'`` (``a' = a.T`` when ``transpose_a``, ``b'`` likewise) with the
    product's rows in blocks (``_block_rows``), one BLAS call a block, the
    blocks spread over Numba's threads. The blocks do not depend on the
    thread count in use, so neither do the bits (as long as each BLAS call
    runs on one thread, see ``symgrad.threads``). One function for every
    layout, compiled once per machine and dtype and cached: a parallel loop
    costs ~0.5 s to compile. A block of rows of ``a.T`` (columns of ``a``) is
    copied first, since BLAS takes a block only from contiguous memory.

    >>> a, b = np.arange(12.0).reshape(4, 3), np.ones((2, 3))
    >>> matmul_blocks(a, b, False, True, 2)
    array([[ 3.,  3.],
           [12., 12.],
           [21., 21.],
           [30., 30.]])
    >>> np.array_equal(matmul_blocks(a, np.ones((4, 2)), True, False, 2), a.T @ np.ones((4, 2)))
    True
    """
    k, m = (a.shape[0], a.shape[1]) if transpose_a else (a.shape[1], a.shape[0])
    n = b.shape[0] if transpose_b else b.shape[1]
    out = arrays.empty((m, n), a.dtype)
    rows = block_rows(m, k, n, threads)
    # Numba's BLAS wrapper looks gemm's address up at its first call in a
    # process, taking the GIL: from a worker thread, while this thread holds
    # the GIL and waits for the workers, that deadlocks or crashes (seen as a
    # segfault in a new process loading a cached kernel). A 1 x 1 product
    # here makes that first call from this thread; it costs about 1 us.
    arrays.matmul_into(arrays.full((1, 1), 0, a.dtype), arrays.full((1, 1), 0, a.dtype),
                       arrays.empty((1, 1), a.dtype))
    for block in prange((m + rows - 1) // rows):
        lo = block * rows
        hi = lo + rows
        if hi > m:
            hi = m
        if transpose_a:
            columns = arrays.empty((k, hi - lo), a.dtype)
            for i in range(k):
                for j in range(hi - lo):
                    columns[i, j] = a[i, lo + j]
            if transpose_b:
                arrays.matmul_into(columns.T, b.T, out[lo:hi])
            else:
                arrays.matmul_into(columns.T, b, out[lo:hi])
        elif transpose_b:
            arrays.matmul_into(a[lo:hi], b.T, out[lo:hi])
        else:
            arrays.matmul_into(a[lo:hi], b, out[lo:hi])
    return out
