"""A kernel program as Python source: one function, loops written out.

Loop nests are printed as explicit ``for`` loops with scalar bodies (Numba
compiles these much faster than array expressions, and runs them faster);
each body statement is placed at the outermost loop level where all its
operands are known, so loads and formulas of broadcast operands are hoisted
out of inner loops. The innermost loop uses codegen.vmath's vectorisable
math and, where it has full reductions or vsin / vcos, runs in blocks (see
``_blocks``); loop indices are unsigned (``nonneg``) so that LLVM sees plain
strided accesses and can vectorise.
Arrays are allocated, reshaped and multiplied through ``codegen.arrays``
(intrinsics, where ``np.empty``, ``.reshape`` and ``np.dot`` would each
compile helper functions per signature: most of a cold compile's time).
"""
import functools

import sympy

from .printer import VECTOR_MATH, NumbaPrinter, formula_lines, instantiate, math_calls
from .program import Alloc, ArgOneHot, ByValue, CheckBounds, Compute, Copy, Item, Load, Loop, \
    MatMul, Reshape, Store
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

    def add(self, indent, text):
        self.lines.append("    " * indent + text)


def _loop(w, indent, loop, dtypes):
    """Print a loop nest; ``dtypes`` maps array names to dtypes (for accumulators)."""
    n = len(loop.shape)
    depth, levels, accumulators = {}, [[] for _ in range(n + 1)], []
    for st in loop.body:
        if isinstance(st, Load):
            d = _index_depth(st.index, depth)
        elif isinstance(st, Compute):
            d = max((depth.get(a, 0) for a in st.args), default=0)
        elif isinstance(st, CheckBounds):
            d = depth.get(st.sym, 0)
        elif st.mode != "=" and all(not isinstance(e, ByValue) and e.var is None
                                    for e in st.index):
            accumulators.append(st)
            d = n
        elif st.mode != "=":
            d = n
        else:
            d = max(_index_depth(st.index, depth), depth.get(st.sym, 0))
        if hasattr(st, "sym") and not isinstance(st, (Store, CheckBounds)):
            depth[st.sym] = d
        levels[d].append(st)
    # a 0-d "loop" is scalar code: nothing to vectorise or block
    vector_math = n > 0 and _vector_math(loop.body, levels[n], accumulators)
    blocked = n > 0 and (bool(accumulators) or vector_math and _reduces(levels[n]))
    accs = {}
    for k, st in enumerate(accumulators):
        accs[st] = f"acc{k}_{st.array}"
        w.add(indent, f"{accs[st]} = {_subscript(st.array, st.index, depth)}")
        if blocked:
            w.add(indent, f"{accs[st]}_block = empty(({_BLOCK},), np.{dtypes[st.array]})")
    for level in range(n):
        for st in levels[level]:  # hoisted, scalar code: libm is as fast and exact
            _statement(w, indent + level, st, accs, False)
        if level < n - 1 or not blocked:
            w.add(indent + level, f"for i{level} in range({size(loop.shape[level])}):")
    if blocked:
        _blocks(w, indent + n - 1, n - 1, loop.shape[n - 1], levels[n], accs, vector_math)
    else:
        for st in levels[n]:
            _statement(w, indent + n, st, accs, vector_math)
    for st in accumulators:
        w.add(indent, f"{_subscript(st.array, st.index, depth)} = {accs[st]}")


_BLOCK = 512  # elements per block of a blocked innermost loop (see _blocks)
# Vectorisable math inlines ~40 instructions per call where libm is one call,
# and LLVM's time grows faster than linearly in the size of one loop body
# (W5 chains: 80 calls 1.0 s in LLVM, 240 calls 26 s; with libm 1.4 s): a
# loop with more calls than this keeps libm
_VECTOR_MATH_BUDGET = 64


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


def _reduces(statements):
    """Whether vector math would print a vsin / vcos in ``statements``."""
    return any(_printed(st, True)[2] for st in statements if isinstance(st, Compute))


def _printed(st, vector_math):
    return _formula_lines(st.formula, st.dtype, vector_math)


def _blocks(w, indent, var, extent, body, accs, vector_math):
    """The innermost loop (over ``i<var>``) in blocks of ``_BLOCK`` elements.

    Full reductions: the body stores a block's values in a small buffer, then
    a second loop accumulates them in order. Accumulating in the body itself
    would chain every iteration to the previous one (floating-point addition
    is not reassociated without fastmath), which keeps LLVM from vectorising
    the body.

    vsin / vcos reduce their argument exactly below SIN_COS_LIMIT only: the body
    notes any larger argument, and such a block is computed again with libm."""
    i, start, stop, end = f"i{var}", f"start{var}", f"stop{var}", size(extent)
    huge = f"huge{var}"
    reduced = vector_math and _reduces(body)
    w.add(indent, f"for {start} in range(0, {end}, {_BLOCK}):")
    w.add(indent + 1, f"{stop} = {start} + {_BLOCK}")  # min() would compile a helper
    w.add(indent + 1, f"if {stop} > {end}:")
    w.add(indent + 2, f"{stop} = {end}")
    if reduced:
        w.add(indent + 1, f"{huge} = False")
    w.add(indent + 1, f"for {i} in range({start}, {stop}):")
    _block_body(w, indent + 2, i, start, body, accs, vector_math, huge if reduced else None)
    if reduced:
        w.add(indent + 1, f"if {huge}:")
        w.add(indent + 2, f"for {i} in range({start}, {stop}):")
        _block_body(w, indent + 3, i, start, body, accs, False, None)
    if accs:
        w.add(indent + 1, f"for {i} in range({stop} - {start}):")
    for st, acc in accs.items():
        w.add(indent + 2, f"{st.sym} = {acc}_block[nonneg({i})]")
        _store(w, indent + 2, acc, st.sym, st.mode)


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
        w.add(indent + 1, f"raise IndexError({st.code}, {st.sym}, {size(st.limit)})")
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
    w.add(indent, f"{st.name} = full({st.source}.shape, 0, np.{st.dtype})")
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


def program_source(program):
    """The Python source of ``program``: imports and one function named ``kernel``."""
    w = _Writer()
    w.add(0, "import math")
    w.add(0, "import numpy as np")
    w.add(0, "from codegen.arrays import empty, full, matmul, view")
    w.add(0, "from codegen.runtime import nonneg, select")
    w.add(0, f"from codegen.vmath import {', '.join('v' + name for name in VECTOR_MATH)}")
    w.add(0, "")
    w.add(0, "")
    w.add(0, f"def {ENTRY}({', '.join(program.params)}):")
    dtypes = {}
    for st in program.statements:
        if isinstance(st, Alloc):
            dtypes[st.name] = st.dtype
            fill = _fill(st.dtype, st.fill)
            if fill is None:
                w.add(1, f"{st.name} = empty({_shape(st.shape)}, np.{st.dtype})")
            else:
                w.add(1, f"{st.name} = full({_shape(st.shape)}, {fill}, np.{st.dtype})")
        elif isinstance(st, Reshape):
            w.add(1, f"{st.name} = view({st.source}, {_shape(st.shape)})")
        elif isinstance(st, Item):
            w.add(1, f"{st.name} = {st.source}[0]")
        elif isinstance(st, Copy):
            w.add(1, f"{st.name} = {st.source}.copy()")
        elif isinstance(st, MatMul):
            a = st.a + (".T" if st.transpose_a else "")
            b = st.b + (".T" if st.transpose_b else "")
            w.add(1, f"{st.name} = matmul({a}, {b})")
        elif isinstance(st, ArgOneHot):
            _arg_one_hot(w, 1, st)
        elif isinstance(st, Loop):
            _loop(w, 1, st, dtypes)
        else:
            raise TypeError(f"unknown kernel statement {st!r}")
    w.add(1, f"return ({''.join(r + ', ' for r in program.results)})")
    return "\n".join(w.lines) + "\n"
