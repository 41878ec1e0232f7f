"""Array operations for kernels, emitted in place as Numba intrinsics.

``np.dot``, ``np.empty`` / ``np.zeros`` / ``np.full`` and ``.reshape`` under
``@njit`` each compile helper functions the first time a process meets an
argument signature (operand layouts, read-only flags, tuple lengths):
0.05-0.4 s apiece, most of a small network's cold compile time. The kernels
only need simple cases (contiguous operands, sizes already checked by the
caller), which these intrinsics write directly as LLVM IR: nothing extra to
compile. ``matmul`` calls the BLAS gemm Numba's ``np.dot`` calls, so products
round as ``np.dot``'s do. All are callable from ``@njit`` code only.

Numba's array and BLAS lowering modules are imported when a kernel is
compiled, not with this module: importing them costs 45 ms, and a process
that only loads cached kernels never needs them.
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed, impl_ret_new_ref
from numba.extending import intrinsic

_INT_MAX = 2 ** 31 - 1  # BLAS takes C int sizes


def _sizes(context, builder, shape_type, shape):
    """The entries of a tuple of integers as intp values."""
    return [context.cast(builder, v, t, types.intp)
            for v, t in zip(cgutils.unpack_tuple(builder, shape), shape_type)]


def _c_strides(builder, itemsize, sizes):
    strides = [itemsize]
    for size in reversed(sizes[1:]):
        strides.append(builder.mul(strides[-1], size))
    return strides[::-1]


def _allocate(context, builder, array_type, sizes):
    """A new C-contiguous array of ``array_type`` with ``sizes`` (uninitialised)."""
    from numba.np.arrayobj import make_array, populate_array
    array = make_array(array_type)(context, builder)
    itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
        context.get_data_type(array_type.dtype)))
    nbytes, overflow = itemsize, cgutils.false_bit
    for size in sizes:
        product = builder.smul_with_overflow(nbytes, size)
        nbytes = builder.extract_value(product, 0)
        overflow = builder.or_(overflow, builder.extract_value(product, 1))
    with builder.if_then(overflow, likely=False):
        context.call_conv.return_user_exc(builder, ValueError, ("array is too big",))
    meminfo = context.nrt.meminfo_alloc_aligned(
        builder, size=nbytes, align=context.get_preferred_array_alignment(array_type.dtype))
    data = context.nrt.meminfo_data(builder, meminfo)
    populate_array(array, data=builder.bitcast(data, array.data.type), shape=sizes,
                   strides=_c_strides(builder, itemsize, sizes), itemsize=itemsize,
                   meminfo=meminfo)
    return array


def _shape_and_dtype(shape, dtype):
    if not (isinstance(shape, types.BaseTuple) and len(shape) > 0
            and all(isinstance(t, types.Integer) for t in shape)):
        return None
    if isinstance(dtype, types.NumberClass):
        return types.Array(dtype.instance_type, len(shape), "C")
    if isinstance(dtype, types.DType):
        return types.Array(dtype.dtype, len(shape), "C")
    return None


@intrinsic
def empty(typingctx, shape, dtype):
    """``np.empty(shape, dtype)`` for a non-empty tuple ``shape``.

    >>> import numba, numpy as np
    >>> numba.njit(lambda n: empty((n, 2), np.float32))(3).shape
    (3, 2)
    """
    result = _shape_and_dtype(shape, dtype)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, result, _sizes(context, builder, shape, args[0]))
        return impl_ret_new_ref(context, builder, result, array._getvalue())

    return result(shape, dtype), codegen


@intrinsic
def full(typingctx, shape, value, dtype):
    """``np.full(shape, value, dtype)`` for a non-empty tuple ``shape``.

    >>> import numba, numpy as np
    >>> numba.njit(lambda n: full((n,), 0, np.float64))(3)
    array([0., 0., 0.])
    """
    result = _shape_and_dtype(shape, dtype)
    if result is None or not isinstance(value, (types.Number, types.Boolean)):
        return None

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, result, _sizes(context, builder, shape, args[0]))
        item = context.cast(builder, args[1], value, result.dtype)
        with cgutils.for_range(builder, array.nitems) as loop:
            context.pack_value(builder, result.dtype, item, builder.gep(array.data, [loop.index]))
        return impl_ret_new_ref(context, builder, result, array._getvalue())

    return result(shape, value, dtype), codegen


@intrinsic
def view(typingctx, array, shape):
    """``array.reshape(shape)`` for a C-contiguous ``array`` whose size is the
    product of ``shape`` (the caller's responsibility): shares its data.

    >>> import numba, numpy as np
    >>> numba.njit(lambda a: view(a, (2, 3)))(np.arange(6.0))
    array([[0., 1., 2.],
           [3., 4., 5.]])
    """
    if not (isinstance(array, types.Array) and array.layout == "C"
            and _shape_and_dtype(shape, types.DType(array.dtype)) is not None):
        return None
    result = array.copy(ndim=len(shape), layout="C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array, populate_array
        source = make_array(array)(context, builder, args[0])
        sizes = _sizes(context, builder, shape, args[1])
        out = make_array(result)(context, builder)
        populate_array(out, data=source.data, shape=sizes,
                       strides=_c_strides(builder, source.itemsize, sizes),
                       itemsize=source.itemsize, meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, result, out._getvalue())

    return result(array, shape), codegen


def _matrix(t, dtype):
    return isinstance(t, types.Array) and t.ndim == 2 and t.layout in "CF" and t.dtype == dtype


@intrinsic
def matmul(typingctx, a, b):
    """``np.dot(a, b)`` for C- or F-contiguous matrices of one float dtype whose
    inner sizes agree (the caller's responsibility); a new C-contiguous array.

    >>> import numba, numpy as np
    >>> product = numba.njit(lambda a, b: matmul(a, b.T))
    >>> product(np.arange(6.0).reshape(2, 3), np.ones((2, 3)))
    array([[ 3.,  3.],
           [12., 12.]])
    """
    dtype = getattr(a, "dtype", None)
    if dtype not in (types.float32, types.float64) or not (_matrix(a, dtype) and _matrix(b, dtype)):
        return None
    result = types.Array(dtype, 2, "C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array
        from numba.np.linalg import call_xxgemm, ensure_blas
        ensure_blas()
        x, y = (make_array(t)(context, builder, v) for t, v in zip(signature.args, args))
        (m, k), (_, n) = (cgutils.unpack_tuple(builder, v.shape) for v in (x, y))
        too_big = cgutils.false_bit
        for size in (m, k, n):
            too_big = builder.or_(too_big, builder.icmp_signed(">", size, size.type(_INT_MAX)))
        with builder.if_then(too_big, likely=False):
            context.call_conv.return_user_exc(
                builder, OverflowError, ("array size too large to fit in C int",))
        out = _allocate(context, builder, result, (m, n))
        zero = m.type(0)
        empty = builder.or_(builder.icmp_signed("==", k, zero), builder.or_(
            builder.icmp_signed("==", m, zero), builder.icmp_signed("==", n, zero)))
        with builder.if_else(empty, likely=False) as (no_terms, terms):
            with no_terms:  # gemm rejects zero leading dimensions; the product is zeros
                cgutils.memset(builder, out.data, builder.mul(out.itemsize, out.nitems), 0)
            with terms:
                call_xxgemm(context, builder, signature.args[0], (m, k), x.data,
                            signature.args[1], (k, n), y.data, result, (m, n), out.data)
        return impl_ret_new_ref(context, builder, result, out._getvalue())

    return result(a, b), codegen
