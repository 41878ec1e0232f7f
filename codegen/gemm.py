"""Matrix products by symgrad's own kernel, for CPUs with 512-bit vectors.

``gemm(a, b, transpose_a, transpose_b)`` is ``a' @ b'`` (``a' = a.T`` when
``transpose_a``, ``b'`` likewise) for float32 and float64 matrices of any
strides. ``_tile`` computes a ``ROWS`` x (``VECTORS`` vectors) block of the
product with its sums held in vector registers: LLVM IR written here, one
fused multiply-add (``llvm.fma``) per vector and term, so neither Numba nor
LLVM has to find the vectorisation. ``gemm_c`` packs the operands into the
order ``_tile`` reads (rows of ``a'`` in groups of ``ROWS``, columns of
``b'`` in groups of ``VECTORS`` vectors, zero-padded; whole groups of a
contiguous row of ``b'`` are read in place) ``DEPTH`` terms at a time.

Kernels call it through ``gemm_into`` (one thread) or ``gemm_blocks`` (rows
in blocks over Numba's threads), which call ``gemm_c`` by its C entry point
(``register``): linked into every kernel, its code would be optimised again
in each (0.6 s more for a 10-step LSTM's cold compile); called by name it is
compiled once per machine (about 0.4 s) and cached in the cache folder.

Why: BLAS libraries choose their kernels when they load, and may choose
kernels for older CPUs (OpenBLAS takes ``$OPENBLAS_CORETYPE``, and on a CPU it
does not know, falls back to an older family). On this project's AMD Zen 5
machines, where ``OPENBLAS_CORETYPE=Haswell`` is set, W3's (128, 784) @ (784,
256) runs at 61 GFLOP/s through OpenBLAS and 120 here; OpenBLAS's own
AVX-512 kernels take 100. ``in_use`` says where kernels use it, ``wide``
which products.

Every element is the same chain of operations whatever rows are computed
together: per panel of ``DEPTH`` terms a fused multiply-add chain from zero
in term order, and the panels added in order. So a product split into blocks
of rows (over threads) has the same bits as the whole product, and the
padding never touches a result.

>>> a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
>>> gemm(a, b)
array([[20., 23., 26., 29.],
       [56., 68., 80., 92.]])
>>> np.array_equal(gemm(b, a, transpose_a=True, transpose_b=True), (a @ b).T)
True
"""

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

from . import arrays, numba_internals
from .numba_internals import helper
from .runtime import block_rows

ROWS = 6  # rows of a block; ROWS * VECTORS sums + VECTORS terms of b fit 32 registers
VECTORS = 4  # 512-bit vectors of columns a block (32 float64, 64 float32)
DEPTH = 256  # terms a panel: a group's columns of b' (64 KB in float64) stay in L2


def in_use():
    """Whether kernels compute products with ``gemm`` rather than BLAS alone:
    on CPUs with AVX-512 (Numba compiling for this machine's CPU), where
    ``_tile``'s vectors are registers. Elsewhere they would be split in two
    or four, and BLAS is the faster choice. Needs the ``c_entry_points``
    feature of ``codegen.numba_internals``.

    >>> in_use() in (True, False)
    True
    """
    return numba.config.CPU_NAME is None and numba_internals.uses("c_entry_points") and \
        _host_avx512()


@functools.cache
def _host_avx512():
    from llvmlite import binding
    return bool(binding.get_host_cpu_features().get("avx512f", False))


@intrinsic
def _tile(typingctx, like, a, b, b_stride, out, out_stride, terms, add):
    """The ROWS x (VECTORS vectors) block ``sum(a[p * ROWS + r] * b[p * b_stride +
    c] for p in range(terms))`` stored (or, when ``add``, added) at ``out[r *
    out_stride + c]``. ``a``, ``b`` and ``out`` are addresses of floats of
    ``like``'s type (a float scalar); callable from ``@njit`` code only.
    Each sum is a chain of fused multiply-adds from zero, in term order."""
    if like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        _, a, b, b_stride, out, out_stride, terms, add = args
        scalar, size = (ir.DoubleType(), 8) if like == types.float64 else (ir.FloatType(), 4)
        width = 64 // size
        vector = ir.VectorType(scalar, width)
        index = ir.IntType(64)
        a, b, out = (builder.inttoptr(x, scalar.as_pointer()) for x in (a, b, out))
        name = f"llvm.fma.v{width}f{8 * size}"
        fma = builder.module.globals.get(name) or ir.Function(
            builder.module, ir.FunctionType(vector, [vector] * 3), name)

        def at(pointer, offset):
            return builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())

        zero = ir.Constant(vector, [0.0] * width)
        start = builder.block
        loop = builder.append_basic_block("tile.loop")
        done = builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", terms, index(0)), loop, done)

        builder.position_at_end(loop)
        p = builder.phi(index)
        sums = [[builder.phi(vector) for _ in range(VECTORS)] for _ in range(ROWS)]
        row_of_b = builder.mul(p, b_stride)
        terms_of_b = [builder.load(at(b, builder.add(row_of_b, index(v * width))), align=size)
                      for v in range(VECTORS)]
        column_of_a = builder.mul(p, index(ROWS))
        added = []
        for r in range(ROWS):
            term = builder.load(builder.gep(a, [builder.add(column_of_a, index(r))]))
            broadcast = builder.shuffle_vector(
                builder.insert_element(ir.Constant(vector, ir.Undefined), term, ir.IntType(32)(0)),
                ir.Constant(vector, ir.Undefined),
                ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))
            added.append([builder.call(fma, [broadcast, terms_of_b[v], sums[r][v]])
                          for v in range(VECTORS)])
        following = builder.add(p, index(1))
        p.add_incoming(index(0), start)
        p.add_incoming(following, loop)
        for r in range(ROWS):
            for v in range(VECTORS):
                sums[r][v].add_incoming(zero, start)
                sums[r][v].add_incoming(added[r][v], loop)
        builder.cbranch(builder.icmp_signed("<", following, terms), loop, done)

        builder.position_at_end(done)
        results = [[builder.phi(vector) for _ in range(VECTORS)] for _ in range(ROWS)]
        for r in range(ROWS):
            for v in range(VECTORS):
                results[r][v].add_incoming(zero, start)
                results[r][v].add_incoming(added[r][v], loop)
        for r in range(ROWS):
            for v in range(VECTORS):
                target = at(out, builder.add(builder.mul(index(r), out_stride), index(v * width)))
                value = results[r][v]
                with builder.if_then(add):
                    total = builder.fadd(builder.load(target, align=size), value)
                    builder.store(total, target, align=size)
                with builder.if_then(builder.not_(add)):
                    builder.store(value, target, align=size)
        return context.get_dummy_value()

    return types.none(like, types.intp, types.intp, types.intp, types.intp, types.intp,
                      types.intp, types.boolean), codegen


@intrinsic
def _load(typingctx, like, address):
    """The float of ``like``'s type at ``address``; callable from ``@njit`` code only."""
    if like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[1], context.get_value_type(like).as_pointer())
        return builder.load(pointer)

    return like(like, types.intp), codegen


@intrinsic
def _store(typingctx, value, address):
    """``value`` (a float) written at ``address``; callable from ``@njit`` code only."""
    if value not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        builder.store(args[0], builder.inttoptr(args[1], args[0].type.as_pointer()))
        return context.get_dummy_value()

    return types.none(value, types.intp), codegen


@intrinsic
def _itemsize(typingctx, like):
    """Bytes of a float of ``like``'s type, a constant; callable from ``@njit`` code only."""
    if like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        return ir.IntType(64)(like.bitwidth // 8)

    return types.intp(like), codegen


@intrinsic
def _zero(typingctx, array):
    """0 of the float array ``array``'s dtype; callable from ``@njit`` code only."""
    if not (isinstance(array, types.Array) and array.dtype in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        return context.get_constant(array.dtype, 0)

    return array.dtype(array), codegen


@helper
def gemm_c(zero, a, a_row, a_col, b, b_row, b_col, out, out_row, k, n, rows,
           panel_a, panel_b, block):
    """``rows`` rows of ``a' @ b'`` into ``out``, block by block with ``_tile``:
    ``a'[i, p]`` is the float of ``zero``'s type at address ``a + i * a_row +
    p * a_col``, ``b'[p, j]`` at ``b + p * b_row + j * b_col`` and ``out[i, j]``
    at ``out + i * out_row + j * itemsize``. ``panel_a``, ``panel_b`` and
    ``block`` are addresses of scratch space (see ``gemm_into``). A function
    of numbers only, called through its C entry point (``register``): a
    kernel calling it links none of its code.

    The columns of ``b'`` are read in place where they are whole groups of a
    contiguous row, else packed (zero-padded), ``DEPTH`` terms at a time; the
    rows of ``a'``, ``ROWS`` at a time, are packed; a block that is not whole
    is computed into ``block`` and the part inside the product copied.

    >>> a, b, out = np.ones((2, 3)), np.ones((3, 32)), np.empty((2, 32))
    >>> scratch = [np.empty(n) for n in (DEPTH * ROWS, DEPTH * 32, ROWS * 32)]
    >>> gemm_c(0.0, a.ctypes.data, 24, 8, b.ctypes.data, 256, 8, out.ctypes.data, 256,
    ...        3, 32, 2, *(s.ctypes.data for s in scratch))
    >>> out[:, :3]
    array([[3., 3., 3.],
           [3., 3., 3.]])
    """
    size = _itemsize(zero)
    columns = (64 // size) * VECTORS
    groups = (n + columns - 1) // columns
    in_place = b_col == size and b_row % size == 0
    for i in range(rows if k == 0 else 0):
        for j in range(n):
            _store(zero, out + i * out_row + j * size)
    for p0 in range(0, k, DEPTH):
        terms = min(DEPTH, k - p0)
        for g in range(groups):  # b' columns g*columns.. for terms p0.., zero-padded
            whole = min(columns, n - g * columns)
            if not (in_place and whole == columns):
                for p in range(terms):
                    for c in range(columns):
                        value = _load(zero, b + (p0 + p) * b_row + (g * columns + c) * b_col) \
                            if c < whole else zero
                        _store(value, panel_b + ((g * terms + p) * columns + c) * size)
        for i0 in range(0, rows, ROWS):
            height = min(ROWS, rows - i0)
            for p in range(terms):  # a' rows i0.. for terms p0.., zero-padded
                for r in range(ROWS):
                    value = _load(zero, a + (i0 + r) * a_row + (p0 + p) * a_col) \
                        if r < height else zero
                    _store(value, panel_a + (p * ROWS + r) * size)
            for g in range(groups):
                whole = min(columns, n - g * columns)
                if in_place and whole == columns:
                    source, stride = b + p0 * b_row + g * columns * size, b_row // size
                else:
                    source, stride = panel_b + g * terms * columns * size, columns
                whole_block = height == ROWS and whole == columns
                if whole_block:  # straight into the product
                    target, target_stride = out + i0 * out_row + g * columns * size, out_row // size
                else:  # into the buffer, then the part inside the product
                    target, target_stride = block, columns
                _tile(zero, panel_a, source, stride, target, target_stride, terms,
                      whole_block and p0 > 0)
                if not whole_block:
                    for r in range(height):
                        for c in range(whole):
                            at = out + (i0 + r) * out_row + (g * columns + c) * size
                            total = _load(zero, block + (r * columns + c) * size)
                            if p0 > 0:
                                total += _load(zero, at)
                            _store(total, at)


_C_SIGNATURE = (types.intp,) * 14  # gemm_c's arguments after zero


def _symbol(dtype):
    return f"symgrad_gemm_{dtype}"


_registered = set()


def register(dtype):
    """Make ``gemm_c``'s C entry point for ``dtype`` (float32 or float64) known
    to LLVM as ``symgrad_gemm_<dtype>``, compiling or loading it first. Needed
    before code calling ``gemm_into`` or ``gemm_blocks`` of that dtype is
    compiled or loaded (``_call_gemm_c`` when it compiles, the disk cache's
    ``before_load`` before it loads: ``_register_for``, ``codegen.compiler``);
    once per process, in the thread that compiles. No lock of its own: it
    may run inside a compile, which holds Numba's lock, and two threads
    registering at once register the same function.

    >>> register("float64")
    >>> gemm_into(np.ones((1, 2)), np.ones((2, 32)), np.False_, np.False_, np.empty((1, 32)), 0, 1)
    """
    if dtype not in _registered:
        from llvmlite import binding
        signature = (numba.from_dtype(np.dtype(dtype)), *_C_SIGNATURE)
        binding.add_symbol(_symbol(dtype), numba_internals.c_address(gemm_c, signature))
        _registered.add(dtype)


@intrinsic
def _call_gemm_c(typingctx, zero, a, a_row, a_col, b, b_row, b_col, out, out_row, k, n, rows,
                 panel_a, panel_b, block):
    """A call of ``gemm_c``'s C entry point for ``zero``'s type, registered when
    the call is compiled (``register``)."""
    if zero not in (types.float32, types.float64):
        return None
    arguments = (zero,) + (types.intp,) * 14

    def codegen(context, builder, signature, args):
        register(str(zero))  # known before the code calling it is loaded
        function_type = ir.FunctionType(ir.VoidType(),
                                        [context.get_value_type(t) for t in arguments])
        name = _symbol(str(zero))
        function = builder.module.globals.get(name) or ir.Function(builder.module,
                                                                   function_type, name)
        builder.call(function, args)
        return context.get_dummy_value()

    return types.none(*arguments), codegen


def float_dtypes(signature):
    """The float32 / float64 dtypes of the arrays in the Numba ``signature``.

    >>> float_dtypes((types.float32[:, ::1], types.int64[:], types.float64))
    ['float32']
    """
    return sorted({str(t.dtype) for t in signature
                   if isinstance(t, types.Array) and str(t.dtype) in ("float32", "float64")})


def _register_for(signature):
    """``register`` the float dtypes of the arrays in ``signature``: a cached
    ``gemm_into`` or ``gemm_blocks`` calls ``gemm_c`` by name."""
    for dtype in float_dtypes(signature):
        register(dtype)


@helper(before_load=_register_for)
def gemm_into(a, b, transpose_a, transpose_b, out, lo, hi):
    """Rows ``lo:hi`` of ``a' @ b'`` (``a' = a.T`` when ``transpose_a``, ``b'``
    likewise) into ``out[lo:hi]`` (sizes the caller's responsibility; ``out``
    C-contiguous), by ``gemm_c`` (``register`` its dtype first).

    >>> register("float64")
    >>> a, b = np.arange(12.0).reshape(4, 3), np.ones((3, 32))
    >>> out = np.zeros((4, 32))
    >>> gemm_into(a, b, np.False_, np.False_, out, 1, 3)
    >>> out[:, :2]
    array([[ 0.,  0.],
           [12., 12.],
           [21., 21.],
           [ 0.,  0.]])
    """
    a = a.T if transpose_a else a  # views: a' (m, k), b' (k, n)
    b = b.T if transpose_b else b
    k, n = b.shape
    columns = (64 // out.itemsize) * VECTORS
    terms = min(k, DEPTH)
    panel_b = arrays.empty(((n + columns - 1) // columns * terms * columns,), out.dtype)
    panel_a = arrays.empty((DEPTH * ROWS,), out.dtype)
    block = arrays.empty((ROWS * columns,), out.dtype)
    _call_gemm_c(_zero(out), a.ctypes.data + lo * a.strides[0], a.strides[0], a.strides[1],
                 b.ctypes.data, b.strides[0], b.strides[1],
                 out.ctypes.data + lo * out.strides[0], out.strides[0], k, n, hi - lo,
                 panel_a.ctypes.data, panel_b.ctypes.data, block.ctypes.data)


def gemm(a, b, transpose_a=False, transpose_b=False):
    """``a' @ b'`` (``a' = a.T`` when ``transpose_a``, ``b'`` likewise) of two
    float32 or float64 matrices by ``gemm_into``, a new C-contiguous array;
    called from Python (kernels call ``gemm_into`` or ``gemm_blocks``).

    >>> gemm(np.arange(6.0).reshape(3, 2), np.ones((3, 1)), transpose_a=True)
    array([[6.],
           [9.]])
    >>> gemm(np.ones((2, 3)), np.ones((4, 5)))
    Traceback (most recent call last):
    ValueError: gemm: a' is (2, 3) and b' is (4, 5): their inner sizes differ
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype not in (np.float32, np.float64) or b.dtype != a.dtype or a.ndim != 2 or b.ndim != 2:
        raise TypeError(f"gemm takes two matrices of one dtype, float32 or float64, not "
                        f"{a.ndim}-d {a.dtype} and {b.ndim}-d {b.dtype}: convert them first")
    a_, b_ = (a.T if transpose_a else a), (b.T if transpose_b else b)
    if a_.shape[1] != b_.shape[0]:
        raise ValueError(f"gemm: a' is {a_.shape} and b' is {b_.shape}: their inner sizes differ")
    register(str(a.dtype))
    m, n = a_.shape[0], b_.shape[1]
    out = np.empty((m, n), a.dtype)
    gemm_into(a, b, np.bool_(transpose_a), np.bool_(transpose_b), out, 0, m)
    return out


@helper(parallel=True, before_load=_register_for)
def gemm_blocks(a, b, transpose_a, transpose_b, threads):
    """``gemm`` with the product's rows in blocks (``runtime.block_rows``) spread
    over Numba's threads. The bits do not depend on the blocks (see the module's
    doc), so neither on the thread count.

    >>> register("float64")
    >>> a = np.arange(64.0).reshape(16, 4)
    >>> np.array_equal(gemm_blocks(a, a, np.False_, np.True_, 2), a @ a.T)
    True
    """
    m = a.shape[1] if transpose_a else a.shape[0]
    n = b.shape[0] if transpose_b else b.shape[1]
    k = b.shape[1] if transpose_b else b.shape[0]
    out = arrays.empty((m, n), a.dtype)
    rows = block_rows(m, k, n, threads)
    for block in prange((m + rows - 1) // rows):
        lo = block * rows
        gemm_into(a, b, transpose_a, transpose_b, out, lo, min(lo + rows, m))
    return out


WIDE = 32  # columns a product needs for gemm: narrower ones are mostly padding


def wide(sizes):
    """Whether an (m, k) @ (k, n) product of ``sizes`` (None or SymPy sizes when
    named) has ``WIDE`` columns or more, or a number of columns unknown when
    compiling. Narrower products are mostly padding in ``gemm_c``: BLAS took
    20 us for (128, 256) @ (256, 10) and 104 us for (1024, 200) @ (200, 3),
    gemm_into 27 and 154 us; at 32 columns gemm_into is ahead ((32, 64) @
    (64, 32): 1.8 against 3.1 us).

    >>> wide((128, 784, 256)), wide((128, 256, 10)), wide(None)
    (True, False, True)
    """
    return sizes is None or not str(sizes[2]).isdigit() or int(sizes[2]) >= WIDE
