"""A kernel program as Python source: loops written out, in an entry point
and the functions it calls (repeated loops and runs of statements, see
``codegen.outline``).

Loop nests are printed as explicit ``for`` loops with scalar bodies (Numba
compiles these much faster than array expressions, and runs them faster);
each body statement is placed at the outermost loop level where all its
operands are known, so loads and formulas of broadcast operands are hoisted
out of inner loops. The innermost loop uses codegen.vmath's vectorisable
math and, where it has full reductions or vsin / vcos, runs in blocks (see
``_blocks``); with more calls than LLVM can inline, its formulas run in
blocks in codegen.rows' interpreter (see ``_interpreted``); loop indices are unsigned (``nonneg``) so that LLVM sees plain
strided accesses and can vectorise. Sums into float32 (int32) arrays
accumulate in float64 (int64) and round once (see ``_loop``).
Arrays are allocated, reshaped and multiplied through ``codegen.arrays``
(``arrays.empty(...)``: intrinsics, where ``np.empty``, ``.reshape`` and
``np.dot`` would each compile helper functions per signature, most of a cold
compile's time; an attribute of the module, chosen when Numba types the
kernel, see ``codegen.arrays``).
"""
import collections
import dataclasses
import functools

import numba
import sympy

from . import gemm
from .outline import Outliner
from .printer import VECTOR_MATH, NumbaPrinter, formula_lines, instantiate, math_calls
from .program import Alloc, ArgOneHot, Argsort, ByValue, CheckBounds, Compute, Copy, Index, Load, \
    Loop, MatMul, Reshape, Store, Subarray
from .rows import RowsProgram, Unsupported
from .runtime import block_rows
from .vmath import SIN_COS_LIMIT

ENTRY = "kernel"
# SymPy's cse and printing once per distinct formula, not once per node (a
# 300-op chain repeats a dozen formulas: 0.35 s printing them each time)
_formula_lines = functools.lru_cache(maxsize=8192)(formula_lines)
_INDEX_PRINTER = NumbaPrinter("int64")


def size(expr):
    """A size expression (int or SymPy) as integer Python source."""
    return _INDEX_PRINTER.doprint(sympy.sympify(expr))


def _shape(shape):
    return "(" + "".join(f"{size(d)}, " for d in shape) + ")" if shape else "(1,)"


def _subscript(array, index, syms):
    parts = []
    for entry in index:
        if isinstance(entry, ByValue):
            parts.append(entry.sym)
        elif entry.var is None:
            parts.append(size(entry.offset))
        else:
            var = f"i{entry.var}"
            if entry.step != 1:
                var = f"{size(entry.step)}*{var}"
            parts.append(f"nonneg({var if entry.offset == 0 else f'{size(entry.offset)} + {var}'})")
    return f"{array}[{', '.join(parts) or '0'}]"


def _fill(dtype, fill):
    if fill is None:
        return None
    return NumbaPrinter(dtype).doprint(sympy.sympify(fill))


def _index_depth(index, depth):
    d = 0
    for entry in index:
        if isinstance(entry, ByValue):
            d = max(d, depth.get(entry.sym, 0))
        elif entry.var is not None:
            d = max(d, entry.var + 1)
    return d


class _Writer:
    def __init__(self):
        self.lines = []
        self.definitions = {}  # module-level name: the codegen.rows.RowsProgram it defines
        # a chunked loop's: the lines of one chunk (a function of its own, called
        # where the lines say CHUNK_CALL), and the names they take from the loop
        self.chunk, self.given = None, ()

    def add(self, indent, text):
        self.lines.append("    " * indent + text)


# A sum into a float32 (int32) array accumulates in float64 (int64) and rounds
# once at the end (NumPy sums int32 in int64, and float32 pairwise): one
# float32 running sum over n values errs by up to ~n * 6e-8 (a mean of 4e6
# squares: 3e-3 relative)
_PACKAGE = __name__.rpartition(".")[0]  # the generated modules import from this package

_WIDE = {"float32": "float64", "int32": "int64"}


def _sums_over(st, n):
    """Whether the Store ``st`` sums values from several iterations of an
    ``n``-deep loop into one element (a reduction or a contraction: its
    subscript leaves out a loop variable), not a scatter (a subscript read
    from data) or a one-to-one add."""
    return st.mode == "+=" and not any(isinstance(e, ByValue) for e in st.index) and \
        {e.var for e in st.index if e.var is not None} != set(range(n))


def _accumulated_at(st, n, dtypes):
    """The loop level at which the Store ``st`` of an ``n``-deep loop is
    accumulated in a scalar (see ``_loop``), or None."""
    if st.mode == "=" or any(isinstance(e, ByValue) for e in st.index):
        return None
    level = max((e.var + 1 for e in st.index if e.var is not None), default=0)
    if level == 0:
        return 0  # a full reduction
    if st.mode == "+=" and dtypes.get(st.array) == "float32" and level < n:
        return level  # a float32 sum over the innermost loop
    return None


def _convert(w, indent, target, source, shape, dtype):
    """``target[...] = dtype(source[...])`` over every element of ``shape``."""
    for a, d in enumerate(shape):
        w.add(indent + a, f"for i{a} in range({size(d)}):")
    index = ", ".join(f"nonneg(i{a})" for a in range(len(shape))) or "0"
    w.add(indent + len(shape), f"{target}[{index}] = np.{dtype}({source}[{index}])")


def _loop(w, indent, loop, arrays, zeroed=frozenset()):
    """Print a loop nest; ``arrays`` maps array names to (dtype, shape), ``zeroed``
    holds the arrays still as allocated filled with 0.

    An update of one element by every iteration of the loops from some level
    on is accumulated in a scalar from that level: full reductions (all the
    loops; the innermost loop then runs in blocks, see ``_blocks``) and
    float32 sums over at least the innermost loop (in float64). Other float32
    sums (over outer loops only) go to a float64 copy of their array, rounded
    back after the loop."""
    n = len(loop.shape)
    dtypes = {name: dtype for name, (dtype, _) in arrays.items()}
    wide = {}
    for st in loop.body:
        if isinstance(st, Store) and _sums_over(st, n) and dtypes.get(st.array) == "float32" \
                and _accumulated_at(st, n, dtypes) is None:
            wide.setdefault(st.array, f"wide_{st.array}")
    for array, copy in wide.items():
        shape = arrays[array][1]
        if array in zeroed:
            w.add(indent, f"{copy} = arrays.full({_shape(shape)}, 0.0, np.float64)")
        else:
            w.add(indent, f"{copy} = arrays.empty({_shape(shape)}, np.float64)")
            _convert(w, indent, copy, array, shape, "float64")
    body = tuple(dataclasses.replace(st, array=wide[st.array])
                 if isinstance(st, Store) and st.array in wide else st for st in loop.body)
    depth, levels, accumulators = {}, [[] for _ in range(n + 1)], {}
    for st in body:
        if isinstance(st, Load):
            d = _index_depth(st.index, depth)
        elif isinstance(st, Compute):
            d = max((depth.get(a, 0) for a in st.args), default=0)
        elif isinstance(st, CheckBounds):
            d = depth.get(st.sym, 0)
        elif st.mode != "=":
            level = _accumulated_at(st, n, dtypes)
            if level is not None:
                accumulators[st] = level
            d = n
        else:
            d = max(_index_depth(st.index, depth), depth.get(st.sym, 0))
        if hasattr(st, "sym") and not isinstance(st, (Store, CheckBounds)):
            depth[st.sym] = d
        levels[d].append(st)
    # a 0-d "loop" is scalar code: nothing to vectorise or block
    vector_math = n > 0 and _vector_math(body, levels[n], accumulators)
    rows = n > 0 and not vector_math and _interpreted(body, levels[n])
    # blocks for full reductions only: a row sum over a few elements per row
    # would pay more for them than it saves (a (5e5, 2) sum over axis 1: 10x)
    blocked = n > 0 and (0 in accumulators.values() or vector_math and _reduces(levels[n])
                         or rows)
    chunk = not wide and _chunk_rows(loop, body, accumulators, dtypes)
    accs, widened, lanes = {}, {}, set()
    for k, st in enumerate(accumulators):
        accs[st] = f"acc{k}_{st.array}"
        if st.mode == "+=" and dtypes.get(st.array) in _WIDE:
            widened[st] = dtypes[st.array]
    reductions = [st for st in accumulators if accumulators[st] == 0]
    outer, loop_writer = indent, w
    if chunk:  # the loop over the chunks in w, one chunk's code in a writer of its own
        _chunk_header(w, indent, loop.shape[0], chunk, reductions, accs, widened, dtypes)
        w, indent = _Writer(), 1
        w.add(indent, "chunk_lo = chunk * chunk_rows")
        w.add(indent, "chunk_hi = chunk_lo + chunk_rows")
        w.add(indent, f"if chunk_hi > {size(loop.shape[0])}:")
        w.add(indent + 1, f"chunk_hi = {size(loop.shape[0])}")
    for st in accumulators:
        acc = accs[st]
        if blocked:
            w.add(indent, f"{acc}_block = arrays.empty(({_BLOCK},), np.{dtypes[st.array]})")
        if blocked and widened.get(st) == "float32" and accumulators[st] == 0:
            # a float64 sum per position in the block, each value added to
            # its lane in a vectorised loop: no chain of dependent adds (the
            # order changes, invisibly once rounded to float32)
            lanes.add(st)
            w.add(indent, f"{acc}_used = {size(loop.shape[n - 1])}")
            w.add(indent, f"if {acc}_used > {_BLOCK}:")
            w.add(indent + 1, f"{acc}_used = {_BLOCK}")
            w.add(indent, f"{acc}_lanes = arrays.empty(({_BLOCK},), np.float64)")

    def start(st):
        at = indent + accumulators[st]
        value = _subscript(st.array, st.index, None)
        if chunk and st in reductions and st.mode == "+=":
            value = "0"  # a chunk's partial sum: the array's own value is added once, after
        w.add(at, f"{accs[st]} = np.{_WIDE[widened[st]]}({value})" if st in widened
              else f"{accs[st]} = np.{dtypes[st.array]}({value})" if value == "0"
              else f"{accs[st]} = {value}")
        if st in lanes:
            w.add(at, f"for i{n - 1} in range({accs[st]}_used):")
            w.add(at + 1, f"{accs[st]}_lanes[nonneg(i{n - 1})] = 0.0")

    for level in range(n):
        for st in levels[level]:  # hoisted, scalar code: libm is as fast and exact
            _statement(w, indent + level, st, accs, False)
        for st in accumulators:
            if accumulators[st] == level:
                start(st)
        if level < n - 1 or not blocked:
            extent = "chunk_lo, chunk_hi" if chunk and level == 0 else size(loop.shape[level])
            w.add(indent + level, f"for i{level} in range({extent}):")
    if n == 0:
        for st in accumulators:
            start(st)
    if blocked:
        if rows:
            _allocate_rows(w, indent, n - 1, rows)
        _blocks(w, indent + n - 1, n - 1, ("chunk_lo", "chunk_hi") if chunk and n == 1
                else ("0", size(loop.shape[n - 1])), levels[n], accs, lanes, vector_math, rows)
    else:
        for st in levels[n]:
            _statement(w, indent + n, st, accs, vector_math)
    for st in sorted(accumulators, key=accumulators.get, reverse=True):  # innermost first
        at, acc = indent + accumulators[st], accs[st]
        if st in lanes:
            w.add(at, f"for i{n - 1} in range({acc}_used):")
            w.add(at + 1, f"{acc} += {acc}_lanes[nonneg(i{n - 1})]")
        if chunk and st in reductions:
            w.add(at, f"{acc}_partial[chunk] = {acc}")
            continue
        value = f"np.{widened[st]}({acc})" if st in widened else acc
        w.add(at, f"{_subscript(st.array, st.index, None)} = {value}")
    if chunk:
        loop_writer.definitions.update(w.definitions)
        loop_writer.chunk, w = w.lines, loop_writer
        _combine_chunks(w, outer, reductions, accs, widened)
    for array, copy in wide.items():
        _convert(w, outer, array, copy, arrays[array][1], "float32")


# A loop nest doing at least this much work (elements times (1 + math calls))
# runs in chunks on all threads. Numba's parallel compile of the chunks' loop
# costs 0.4-0.8 s a loop here (its gufunc is compiled and linked anew), so
# only loops whose work pays for that are chunked: W4's (10^6 elements), not
# a W2 layer's (5e4-1.3e5) nor a 300-op W5 chain's (1000 elements, 1.8e5;
# chunked, it took 2.3 s more to compile). Loops over
# a size unknown when compiling (a named dimension) stay serial: the kernel is
# compiled once for every size, and small sizes would pay the compile for
# nothing.
_PARALLEL_WORK = 1 << 18


def _chunk_rows(loop, body, accumulators, dtypes):
    """The number of iterations of the outermost loop per chunk, as source, when
    the loop is big enough and its chunks can run in any order on any thread;
    else None.

    Chunks can when every store of one iteration of the outermost loop writes
    elements that no other iteration reads or writes (its subscript steps with
    the outermost loop variable, as every other store into the array and every
    load from it), or is a full reduction (each chunk sums into a partial of
    its own; the partials are added in order after the chunks, see
    ``_combine_chunks``, so the result does not depend on how chunks are spread
    over threads). Scatters (subscripts read from data) stay serial, as do
    full reductions into float32 arrays (sums in per-lane float64, max, min).
    Where Numba started one thread (``NUMBA_NUM_THREADS=1``), the chunks run
    one after the other (``_chunk_header``). A chunk is a function of its own: a failed bounds check returns from its
    chunk and sets the kernel's flag, while other chunks run on (the caller
    raises and discards every result; where two checks fail, either may be
    the one reported)."""
    calls = sum(math_calls(st.formula) for st in body if isinstance(st, Compute))
    work = sympy.Mul(*loop.shape) * (1 + calls)
    if not loop.shape or not work.is_number or work < _PARALLEL_WORK:
        return None
    reduced, subscripts = set(), collections.defaultdict(set)
    for st in body:
        if isinstance(st, Store) and accumulators.get(st) == 0:
            if dtypes.get(st.array) == "float32":
                return None
            reduced.add(st.array)
        elif isinstance(st, Store):
            if not any(isinstance(e, Index) and e.var == 0 and sympy.sympify(e.step).is_zero
                       is False for e in st.index) or any(isinstance(e, ByValue) for e in st.index):
                return None
            subscripts[st.array].add(st.index)
    for st in body:
        if isinstance(st, Load) and st.array in subscripts:
            subscripts[st.array].add(st.index)
    if any(len(indices) > 1 for indices in subscripts.values()) or any(
            isinstance(st, Load) and st.array in reduced for st in body):
        return None
    if len(loop.shape) == 1:
        return str(_BLOCK)
    # about a block's worth of elements per chunk, at least one row
    return f"{_BLOCK} // ({size(sympy.Mul(*loop.shape[1:]))} + 1) + 1"


CHUNK_CALL = "<chunk>"  # in a chunked loop's lines: where the chunk function is called


def _chunk_header(w, indent, extent, rows, reductions, accs, widened, dtypes):
    """A chunked loop: one partial array per full reduction, and ``for chunk in
    prange(...)`` calling the chunk's function (which computes rows
    ``chunk_lo`` to ``chunk_hi`` of the outermost loop). The chunk is a plain
    function, so a failed bounds check returns from it as from a serial loop
    (a prange body allows no return); Numba's parallel compile costs about
    the same either way (W4: +0.75-0.86 s, the chunk's code inside the
    prange loop: +0.75 s)."""
    w.add(indent, f"chunk_rows = {rows}")
    w.add(indent, f"chunk_count = ({size(extent)} + chunk_rows - 1) // chunk_rows")
    for st in reductions:
        dtype = _WIDE[widened[st]] if st in widened else dtypes[st.array]
        w.add(indent, f"{accs[st]}_partial = arrays.empty((chunk_count,), np.{dtype})")
    # one Numba thread: the same chunks in a plain loop (the same bits, no
    # parallel compile)
    loop = "prange" if numba.config.NUMBA_NUM_THREADS > 1 else "range"
    w.add(indent, f"for chunk in {loop}(chunk_count):")
    w.add(indent + 1, CHUNK_CALL)
    w.given = ("chunk", "chunk_rows", *(f"{accs[st]}_partial" for st in reductions))


def _combine_chunks(w, indent, reductions, accs, widened):
    """After the chunks: each full reduction's array element updated by its
    chunks' partials, in chunk order."""
    for st in reductions:
        acc, target = accs[st], _subscript(st.array, st.index, None)
        w.add(indent, f"{acc} = np.{_WIDE[widened[st]]}({target})" if st in widened
              else f"{acc} = {target}")
        w.add(indent, "for chunk in range(chunk_count):")
        _store(w, indent + 1, acc, f"{acc}_partial[chunk]", st.mode)
        w.add(indent, f"{target} = np.{widened[st]}({acc})" if st in widened
              else f"{target} = {acc}")


_BLOCK = 512  # elements per block of a blocked innermost loop (see _blocks)
# Vectorisable math inlines ~40 instructions per call where libm is one call,
# and LLVM's time grows faster than linearly in the size of one loop body
# (W5 chains: 80 calls 1.0 s in LLVM, 240 calls 26 s; with libm 1.4 s): a
# loop with more calls than this runs its formulas in codegen.rows' block
# interpreter (a 300-op W5 chain: 0.2x of NumPy where libm gives 1.0x), or,
# where that cannot compute them, keeps libm
_VECTOR_MATH_BUDGET = 64
# ... but only with at least this many calls: the interpreter's helpers cost
# ~1.5 s to compile the first time a machine uses them (then they are cached),
# while libm's compile stays short below it (a 100-op W5 chain, 80 calls:
# 0.9 s with libm, 2.4 s with the interpreter's first compile)
_INTERPRETER_CALLS = 160


def _vector_math(body, innermost, accumulators):
    """Whether the loop's innermost body uses codegen.vmath: within the compile
    budget, and, where vsin / vcos may need a block recomputed with libm, only
    if the block can be computed twice with the same result: its only updates
    are stores and block buffers, and it stores into no array it loads (a
    loop may write its result over an input it has read)."""
    calls = sum(math_calls(st.formula) for st in body if isinstance(st, Compute))
    if calls > _VECTOR_MATH_BUDGET:
        return False
    if not _reduces(innermost):
        return True
    loaded = {st.array for st in body if isinstance(st, Load)}
    stores = [st for st in innermost if isinstance(st, Store)]
    return all(st.array not in loaded and (st.mode == "=" or st in accumulators)
               for st in stores)


def _interpreted(body, innermost):
    """A codegen.rows.RowsProgram computing the formulas of the innermost loop
    body a block at a time, where they make more vmath calls than the budget
    (and can be: float64 formulas of float64 values, loads indexed by loaded
    values only, no store into an array the loop loads, since the stores run
    after the formulas and the loads before); else None."""
    computes = [st for st in innermost if isinstance(st, Compute)]
    if sum(math_calls(st.formula) for st in computes) < _INTERPRETER_CALLS:
        return None
    loads = {st.sym: st for st in innermost if isinstance(st, Load)}
    loaded = {st.array for st in body if isinstance(st, Load)}
    if any(st.dtype != "float64" or st.cast for st in computes) or any(
            isinstance(st, Store) and st.array in loaded for st in body) or any(
            isinstance(e, ByValue) and e.sym not in loads for st in loads.values()
            for e in st.index) or any(
            isinstance(st, CheckBounds) and st.sym not in loads for st in innermost):
        return None
    inputs = list(dict.fromkeys(a for st in computes for a in st.args if a in loads))
    computed = {st.sym for st in computes}
    outputs = list(dict.fromkeys(st.sym for st in innermost
                                 if isinstance(st, Store) and st.sym in computed))
    lines = []
    for st in computes:
        printed, result, _ = _printed(st, True)
        lines += [instantiate(line, st.args, st.sym).split(" = ", 1) for line in printed]
        lines.append((st.sym, instantiate(result, st.args, st.sym)))
    try:
        return RowsProgram(lines, inputs, outputs, _BLOCK)
    except Unsupported:
        return None


def _allocate_rows(w, indent, var, rows):
    """The interpreter's stage and constants for the loop over ``i<var>``, and
    its instruction table (module-level)."""
    w.definitions[rows.name] = rows
    w.add(indent, f"stage{var} = arrays.empty(({rows.rows * _BLOCK},), np.float64)")
    w.add(indent, f"rows_constants{var} = arrays.empty(({max(len(rows.constants), 1)},), "
                  f"np.float64)")


def _interpreted_block(w, indent, var, body, accs, rows):
    """One block of an innermost loop whose formulas ``rows`` computes: a loop
    of the loads (and bounds checks) storing the formulas' inputs into their
    rows, the interpreter, then a loop of the stores, reading the formulas'
    results from their rows (and loading again what they store as loaded)."""
    i, start, stop = f"i{var}", f"start{var}", f"stop{var}"

    def row(name):
        return f"stage{var}[nonneg({i} - {start} + {rows.offset[name]})]"

    loads = {st.sym: st for st in body if isinstance(st, Load)}
    w.add(indent, f"for {i} in range({start}, {stop}):")
    for st in body:
        if isinstance(st, (Load, CheckBounds)):
            _statement(w, indent + 1, st, accs, False)
        if isinstance(st, Load) and st.sym in rows.offset:
            w.add(indent + 1, f"{row(st.sym)} = {st.sym}")
    for line in rows.dispatch(f"stage{var}", f"rows_constants{var}", f"{stop} - {start}"):
        w.add(indent, line)
    stores = [st for st in body if isinstance(st, Store)]
    needed = {st.sym for st in stores if st.sym in loads}
    for st in reversed(list(loads.values())):  # and the loads their indices come from
        if st.sym in needed:
            needed |= {e.sym for e in st.index if isinstance(e, ByValue)}
    w.add(indent, f"for {i} in range({start}, {stop}):")
    for st in body:
        if isinstance(st, Load) and st.sym in needed:
            _statement(w, indent + 1, st, accs, False)
    for name in rows.outputs:
        w.add(indent + 1, f"{name} = {row(name)}")
    for st in stores:
        if st in accs:
            w.add(indent + 1, f"{accs[st]}_block[nonneg({i} - {start})] = {st.sym}")
        else:
            _statement(w, indent + 1, st, accs, False)


def _reduces(statements):
    """Whether vector math would print a vsin / vcos in ``statements``."""
    return any(_printed(st, True)[2] for st in statements if isinstance(st, Compute))


def _printed(st, vector_math):
    return _formula_lines(st.formula, st.dtype, vector_math)


def _blocks(w, indent, var, bounds, body, accs, lanes, vector_math, rows=None):
    """The innermost loop (over ``i<var>``) in blocks of ``_BLOCK`` elements.

    Full reductions: the body stores a block's values in a small buffer, then
    a second loop accumulates them in order. Accumulating in the body itself
    would chain every iteration to the previous one (floating-point addition
    is not reassociated without fastmath), which keeps LLVM from vectorising
    the body. A float32 sum (``lanes``) instead adds the block into float64
    sums per position in the block (see ``_loop``), vectorised too.

    vsin / vcos reduce their argument exactly below SIN_COS_LIMIT only: the body
    notes any larger argument, and such a block is computed again with libm.
    With ``rows`` (a codegen.rows.RowsProgram), the body's formulas run in the
    interpreter instead (see ``_interpreted_block``). The loop runs from
    ``bounds[0]`` to ``bounds[1]`` (source)."""
    i, start, stop, (begin, end) = f"i{var}", f"start{var}", f"stop{var}", bounds
    huge = f"huge{var}"
    reduced = vector_math and _reduces(body)
    if rows:
        for k, constant in enumerate(rows.constants):  # known before the loop
            w.add(indent, f"rows_constants{var}[{k}] = {constant}")
    w.add(indent, f"for {start} in range({begin}, {end}, {_BLOCK}):")
    w.add(indent + 1, f"{stop} = {start} + {_BLOCK}")  # min() would compile a helper
    w.add(indent + 1, f"if {stop} > {end}:")
    w.add(indent + 2, f"{stop} = {end}")
    if rows:
        _interpreted_block(w, indent + 1, var, body, accs, rows)
    else:
        if reduced:
            w.add(indent + 1, f"{huge} = False")
        w.add(indent + 1, f"for {i} in range({start}, {stop}):")
        _block_body(w, indent + 2, i, start, body, accs, vector_math,
                    huge if reduced else None)
    if reduced:
        w.add(indent + 1, f"if {huge}:")
        w.add(indent + 2, f"for {i} in range({start}, {stop}):")
        _block_body(w, indent + 3, i, start, body, accs, False, None)
    if accs:
        w.add(indent + 1, f"for {i} in range({stop} - {start}):")
    for st, acc in accs.items():
        w.add(indent + 2, f"{st.sym} = {acc}_block[nonneg({i})]")
        _store(w, indent + 2, f"{acc}_lanes[nonneg({i})]" if st in lanes else acc, st.sym,
               st.mode)


def _block_body(w, indent, i, start, body, accs, vector_math, huge):
    noted = set()
    for st in body:
        if st in accs:
            w.add(indent, f"{accs[st]}_block[nonneg({i} - {start})] = {st.sym}")
            continue
        _statement(w, indent, st, accs, vector_math)
        if huge and isinstance(st, Compute):
            for arg in _printed(st, True)[2]:
                arg = instantiate(arg, st.args, st.sym)
                if arg not in noted:
                    noted.add(arg)
                    w.add(indent, f"{huge} |= abs({arg}) >= {SIN_COS_LIMIT!r}")


def _statement(w, indent, st, accs, vector_math):
    if isinstance(st, Load):
        w.add(indent, f"{st.sym} = {_subscript(st.array, st.index, None)}")
    elif isinstance(st, Compute):
        lines, result, _ = _printed(st, vector_math)
        for line in lines:
            w.add(indent, instantiate(line, st.args, st.sym))
        value = instantiate(result, st.args, st.sym)
        w.add(indent, f"{st.sym} = np.{st.dtype}({value})" if st.cast else f"{st.sym} = {value}")
    elif isinstance(st, CheckBounds):
        w.add(indent, f"if ({st.sym} < 0) | ({st.sym} >= {size(st.limit)}):")
        w.add(indent + 1, f"{st.flag}[0] = {st.code}")
        w.add(indent + 1, "return")
    else:
        _store(w, indent, accs.get(st) or _subscript(st.array, st.index, None), st.sym, st.mode)


def _store(w, indent, target, value, mode):
    if mode in ("=", "+="):
        w.add(indent, f"{target} {mode} {value}")
    else:
        op = ">" if mode == "max" else "<"
        w.add(indent, f"{target} = select(({value} {op} {target}) | ({value} != {value}), "
                      f"{value}, {target})")


def _arg_one_hot(w, indent, st):
    """First arg-max/min over ``axes`` (a nan counts as the extremum, as np.argmax)."""
    rest = [a for a in range(st.ndim) if a not in st.axes]
    w.add(indent, f"{st.name} = arrays.full({st.source}.shape, 0, np.{st.dtype})")
    for k, a in enumerate(rest):
        w.add(indent + k, f"for i{a} in range({st.source}.shape[{a}]):")
    inner = indent + len(rest)
    found, best, value = f"{st.name}_found", f"{st.name}_best", f"{st.name}_v"
    w.add(inner, f"{found} = False")
    w.add(inner, f"{best} = {st.source}.dtype.type(0)")
    for a in st.axes:
        w.add(inner, f"{st.name}_b{a} = 0")
    for k, a in enumerate(st.axes):
        w.add(inner + k, f"for i{a} in range({st.source}.shape[{a}]):")
    body = inner + len(st.axes)
    op = ">" if st.kind == "max" else "<"
    w.add(body, f"{value} = {st.source}[{', '.join(f'i{a}' for a in range(st.ndim))}]")
    take = f"{st.name}_take"
    w.add(body, f"{take} = (not {found}) | ({value} {op} {best}) | (({value} != {value}) & "
                f"({best} == {best}))")
    w.add(body, f"{found} = True")
    w.add(body, f"{best} = select({take}, {value}, {best})")
    for a in st.axes:
        w.add(body, f"{st.name}_b{a} = select({take}, i{a}, {st.name}_b{a})")
    index = ", ".join(f"{st.name}_b{a}" if a in st.axes else f"i{a}" for a in range(st.ndim))
    w.add(inner, f"if {found}:")
    w.add(inner + 1, f"{st.name}[{index}] = 1")


def _argsort(w, indent, st):
    """A stable argsort of each row along the last axis, by codegen.runtime's
    ``argsort_rows`` on 2-D views."""
    rows = _shape((sympy.Mul(*st.shape[:-1]), st.shape[-1]))
    w.add(indent, f"{st.name} = arrays.empty({_shape(st.shape)}, np.int64)")
    w.add(indent, f"argsort_rows(arrays.reshape({st.source}, {rows}), "
                  f"arrays.reshape({st.name}, {rows}))")


@dataclasses.dataclass
class _Step:
    """One statement of the entry point: its ``lines`` inline, or the ``body`` of
    a function returning ``result`` (a loop: None) that can run it instead;
    ``outlined`` when it must be a function (its bounds checks return)."""
    lines: list
    body: list = None
    result: str = None
    outlined: bool = False
    chunk: list = None  # a chunked loop's chunk (see _chunk_header)
    given: tuple = ()


def _steps(program, definitions):
    """The entry point's statements as _Steps; module-level definitions they
    use are added to ``definitions``."""
    steps = []
    arrays, zeroed = {}, set()  # (dtype, shape) by name; arrays as allocated with 0
    for st in program.statements:
        w = _Writer()
        if isinstance(st, Alloc):
            arrays[st.name] = (st.dtype, st.shape)
            if st.fill is not None and sympy.sympify(st.fill) == 0:
                zeroed.add(st.name)
            fill = _fill(st.dtype, st.fill)
            if fill is None:
                w.add(1, f"{st.name} = arrays.empty({_shape(st.shape)}, np.{st.dtype})")
            else:
                w.add(1, f"{st.name} = arrays.full({_shape(st.shape)}, {fill}, np.{st.dtype})")
        elif isinstance(st, Reshape):
            if st.source in arrays:
                arrays[st.name] = (arrays[st.source][0], st.shape)
            zeroed.discard(st.source)  # written through the view, maybe
            w.add(1, f"{st.name} = arrays.reshape({st.source}, {_shape(st.shape)})")
        elif isinstance(st, Subarray):
            w.add(1, f"{st.name} = {st.source}[{', '.join(map(size, st.index))}]")
        elif isinstance(st, Copy):
            w.add(1, f"{st.name} = {st.source}.copy()")
        elif isinstance(st, MatMul):
            steps.append(_product(st))
            continue
        elif isinstance(st, ArgOneHot):
            _arg_one_hot(w, 1, st)
        elif isinstance(st, Argsort):
            _argsort(w, 1, st)
        elif isinstance(st, Loop):
            _loop(w, 1, st, arrays, zeroed)
            definitions.update(w.definitions)
            zeroed -= {s.array for s in st.body if isinstance(s, Store)}
            # a 0-d loop is a few scalar lines: never worth a call of its own, unless
            # it checks bounds; a chunked loop runs in a function Numba compiles
            # for threads
            checks = any(isinstance(s, CheckBounds) for s in st.body)
            steps.append(_Step(w.lines, w.lines if st.shape or checks else None,
                               outlined=checks or w.chunk is not None, chunk=w.chunk,
                               given=w.given))
            continue
        else:
            raise TypeError(f"unknown kernel statement {st!r}")
        steps.append(_Step(w.lines))
    return steps


def _product(st):
    """The _Step of the MatMul ``st``: BLAS, or symgrad's kernel (``_own``), in
    blocks of rows on Numba's threads when big (``_in_blocks``)."""
    # np.bool_: a literal True / False would compile a helper once per value
    flags = f"np.bool_({st.transpose_a}), np.bool_({st.transpose_b})"
    threads = numba.config.NUMBA_NUM_THREADS
    own, blocks = _own(st), _in_blocks(st)
    if own and not blocks:
        # gemm_into, called here: a function allocating the product would cost a compile
        m = f"{st.a}.shape[{int(st.transpose_a)}]"
        n = f"{st.b}.shape[{1 - int(st.transpose_b)}]"

        def into(name):
            return [f"    {name} = arrays.empty(({m}, {n}), {st.a}.dtype)",
                    f"    gemm_into({st.a}, {st.b}, {flags}, {name}, np.int64(0), {m})"]
        return _Step(into(st.name), [*into("product"), "    return product"], st.name)
    if own:
        product = f"gemm_blocks({st.a}, {st.b}, {flags}, {threads})"
    elif blocks:
        product = f"matmul_blocks({st.a}, {st.b}, {flags}, {threads})"
    else:
        product = (f"arrays.matmul({st.a + ('.T' if st.transpose_a else '')}, "
                   f"{st.b + ('.T' if st.transpose_b else '')})")
    return _Step([f"    {st.name} = {product}"], [f"    return {product}"], st.name)


def _own(st):
    """Whether the MatMul ``st`` runs on symgrad's kernel (``codegen.gemm``)
    rather than BLAS."""
    return gemm.in_use() and gemm.wide(st.sizes)


def gemm_dtypes(program):
    """The dtypes of ``program``'s products that run on ``codegen.gemm``: each
    must be ``gemm.register``ed before the kernel is compiled or loaded."""
    return sorted({st.dtype for st in program.statements if isinstance(st, MatMul) and _own(st)})


def _in_blocks(st):
    """Whether the MatMul ``st`` runs in blocks of rows on Numba's threads
    (codegen.runtime.matmul_blocks): where Numba started several and the
    product is big enough, or of a size unknown when compiling (the helper
    then decides from the sizes of each call)."""
    threads = numba.config.NUMBA_NUM_THREADS
    if threads == 1:
        return False
    if st.sizes is None or not all(sympy.sympify(d).is_number for d in st.sizes):
        return True
    m, k, n = (int(d) for d in st.sizes)
    return block_rows.py_func(m, k, n, threads) < m


def program_source(program, roll=True):
    """The Python source of ``program``: imports, one function per repeated loop
    nest or product, and the entry point ``kernel``, which calls them."""
    # argsort_rows only where used: every other kernel's source stays as it was
    runtime = ["nonneg", "select"] + (["argsort_rows"] if any(
        isinstance(st, Argsort) for st in program.statements) else [])
    definitions = {}
    steps = _steps(program, definitions)
    runtime += ["matmul_blocks"] * any("matmul_blocks(" in line for step in steps
                                       for line in step.lines)
    products = [name for name in ("gemm_blocks", "gemm_into")
                if any(f"{name}(" in line for step in steps for line in step.lines)]
    helpers = sorted({name for rows in definitions.values() for name in rows.helpers()})
    imported = {"math", "np", "prange", "arrays", *runtime, *products,
                *("v" + name for name in VECTOR_MATH), *definitions, *helpers}
    header = ["import math", "import numpy as np", "from numba import prange",
              f"from {_PACKAGE} import arrays",
              f"from {_PACKAGE}.runtime import {', '.join(runtime)}",
              f"from {_PACKAGE}.vmath import {', '.join('v' + name for name in VECTOR_MATH)}"]
    if products:  # symgrad's products only where used: other kernels' source stays as it was
        header.append(f"from {_PACKAGE}.gemm import {', '.join(products)}")
    if definitions:  # the interpreter only where used: other kernels' source stays as it was
        header += [f"from {_PACKAGE}.rows import {', '.join(helpers)}",
                   *(rows.definition() for rows in definitions.values())]
    outer = set(program.params) | {getattr(st, "name", None) for st in program.statements}
    outliner = Outliner(outer, imported)
    for step in steps:
        if step.chunk:
            text, params, _ = outliner.canonical(step.chunk, given=step.given)
            call = outliner.call(text, params).strip()
            step.lines = step.body = [line.replace(CHUNK_CALL, call) for line in step.lines]
    forms = [outliner.canonical(step.body)[:2] if step.body else None for step in steps]
    repeats = collections.Counter(text for text, _ in filter(None, forms))
    groups = [[outliner.call(*form, step.result)] if form and (step.outlined or repeats[form[0]] > 1)
              else step.lines for step, form in zip(steps, forms)]
    groups.append([f"    return ({''.join(r + ', ' for r in program.results)})"])
    defines = [getattr(st, "name", None) for st in program.statements] + [None]
    # the caller's arrays come read-only; typed writable (the kernel never writes
    # them), a loop function sees one type for them and its own buffers
    lines = [f"def {ENTRY}({', '.join(p + '_' for p in program.params)}):",
             *(f"    {p} = arrays.writable({p}_)" for p in program.params),
             *outliner.blocks(groups, defines, roll)]
    return "\n".join([*header, "", "", *outliner.definitions(), *lines]) + "\n"
