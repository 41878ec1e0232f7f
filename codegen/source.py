"""A kernel program as Python source: one function, loops written out.

Loop nests are printed as explicit ``for`` loops with scalar bodies (Numba
compiles these much faster than array expressions, and runs them faster);
each body statement is placed at the outermost loop level where all its
operands are known, so loads and formulas of broadcast operands are hoisted
out of inner loops. Full reductions accumulate in a local variable.
Arrays are allocated, reshaped and multiplied through ``codegen.arrays``
(intrinsics, where ``np.empty``, ``.reshape`` and ``np.dot`` would each
compile helper functions per signature: most of a cold compile's time).
"""
import functools

import sympy

from .printer import NumbaPrinter, formula_lines, instantiate
from .program import Alloc, ArgOneHot, ByValue, CheckBounds, Compute, Copy, Item, Load, Loop, \
    MatMul, Reshape, Store

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
            parts.append(var if entry.offset == 0 else f"{size(entry.offset)} + {var}")
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
    accs = {}
    for k, st in enumerate(accumulators):
        accs[st] = f"acc{k}_{st.array}"
        w.add(indent, f"{accs[st]} = {_subscript(st.array, st.index, depth)}")
    for level in range(n + 1):
        for st in levels[level]:
            _statement(w, indent + level, st, accs)
        if level < n:
            w.add(indent + level, f"for i{level} in range({size(loop.shape[level])}):")
    for st in accumulators:
        w.add(indent, f"{_subscript(st.array, st.index, depth)} = {accs[st]}")


def _statement(w, indent, st, accs):
    if isinstance(st, Load):
        w.add(indent, f"{st.sym} = {_subscript(st.array, st.index, None)}")
    elif isinstance(st, Compute):
        lines, result = _formula_lines(st.formula, st.dtype)
        for line in lines:
            w.add(indent, instantiate(line, st.args, st.sym))
        value = instantiate(result, st.args, st.sym)
        w.add(indent, f"{st.sym} = np.{st.dtype}({value})" if st.cast else f"{st.sym} = {value}")
    elif isinstance(st, CheckBounds):
        w.add(indent, f"if ({st.sym} < 0) | ({st.sym} >= {size(st.limit)}):")
        w.add(indent + 1, f"raise IndexError({st.code}, {st.sym}, {size(st.limit)})")
    else:
        target = accs.get(st) or _subscript(st.array, st.index, None)
        if st.mode in ("=", "+="):
            w.add(indent, f"{target} {st.mode} {st.sym}")
        else:
            op = ">" if st.mode == "max" else "<"
            w.add(indent, f"{target} = select(({st.sym} {op} {target}) | ({st.sym} != {st.sym}), "
                          f"{st.sym}, {target})")


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
    w.add(0, "from codegen.runtime import select")
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
