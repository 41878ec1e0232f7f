"""Lowering: a symgrad graph -> a codegen kernel program.

Fused loops come from ``fusion.plan``; each other op becomes one kernel:
contractions that are matrix products become one BLAS call on 2-D views
(choosing the product form that needs no copy), other contractions, gathers,
scatter-adds, slices and concatenations become explicit loops, with bounds
checks on every index read from data. Transposes and broadcasts are folded
into the subscripts of the loops that read them; reshapes are views; a
product read only transposed is computed transposed. A fused loop stores an
output into the buffer of an input that no later step reads, instead of a
fresh one.
Elementwise formulas get the same stability rewrites as the NumPy backend.

Inputs, constants and named dimension sizes are the program's parameters
(``x<k>``, ``c<k>``, ``n<k>``), so constants are never baked into the source
and every generated name is deterministic. 0-d inputs and constants are
passed as scalars and 0-d outputs returned as scalars (cheaper to box than
arrays: this is most of a small function's call overhead).
"""
import functools
from dataclasses import dataclass

import numpy as np
import sympy

from codegen import (Alloc, ArgOneHot, ByValue, CheckBounds, Compute, Copy, Index, Item, Load,
                     Loop, MatMul, Program, Reshape, Store)

from .fusion import FusedLoop, is_pointwise, is_reduction, plan
from .graph import toposort
from . import ops
from .rewrites import stabilise
from .types import FLOAT_DTYPES


@functools.lru_cache(maxsize=8192)
def stabilised(formula):
    """``formula`` with the stability rewrites applied (as numpy_backend does)."""
    return sympy.Lambda(formula.variables, stabilise(formula.expr))


@functools.lru_cache(maxsize=64)
def _product(n):
    ts = [sympy.Symbol(f"t{k}", real=True) for k in range(n)]
    return sympy.Lambda(tuple(ts), sympy.Mul(*ts))


_IDENTITY = _product(1)


FLAG = "e0"  # the program's parameter for the code of an out-of-range index


@dataclass
class Lowered:
    """A lowered graph: the ``program``, the ``constants`` and named ``dims``
    to pass after the inputs (0-d inputs and constants as scalars), which
    outputs are 0-d (returned as scalars), and the messages for out-of-range
    indices (``index_errors[code] = (node, limit)``; when there are any, an
    int64 array ``[-1]`` is passed between the constants and the dims, and
    holds the code of an index found out of range); ``empty_reductions`` lists
    (node, axis, size) for max/min over a named dimension, which has no value
    when that dimension is 0."""
    program: Program
    constants: list
    dims: list
    scalar_outputs: list
    index_errors: list
    empty_reductions: list


class _LoopBuilder:
    """The body of one loop nest: loads memoised per (node, subscript)."""

    def __init__(self, shape):
        self.shape, self.body, self.loads, self.scalars = shape, [], {}, {}
        self.taken = set()  # buffers of dead inputs reused by this loop's outputs

    def identity(self):
        return tuple(Index(a) for a in range(len(self.shape)))


def _broadcast_index(shape, loop_shape):
    """Subscripts reading an array of ``shape`` broadcast against ``loop_shape``."""
    lead = len(loop_shape) - len(shape)
    return tuple(Index(None) if d == 1 else Index(lead + a) for a, d in enumerate(shape))


class Lowering:
    def __init__(self, inputs, outputs):
        self.outputs = outputs
        self.order = toposort(outputs)
        self.users = {}
        for node in self.order:
            for i in node.inputs:
                self.users.setdefault(i, []).append(node)
        symbols = set()
        for node in self.order:
            for d in node.shape:
                if isinstance(d, sympy.Basic):
                    symbols |= d.free_symbols
            if isinstance(node.op, ops.DimSize):
                symbols.add(node.op.dim)
        self.dims = sorted(symbols, key=lambda s: s.name)
        self.dim_params = {s: sympy.Symbol(f"n{k}", integer=True)
                           for k, s in enumerate(self.dims)}
        self.params, self.constants, self.values, self.scalar_params = [], [], {}, {}
        for k, x in enumerate(inputs):
            self.param(x, f"x{k}")
        for node in self.order:
            if isinstance(node.op, ops.Constant):
                self.param(node, f"c{len(self.constants)}")
                value = node.op.value
                self.constants.append(value[()] if value.ndim == 0 else
                                      np.ascontiguousarray(value))
        self.float_params = {}  # a formula's float -> its parameter's name
        self.statements, self.fresh, self.index_errors = [], set(), []
        self._count = 0

    # -- names, sizes, buffers ------------------------------------------------

    def param(self, node, name):
        self.params.append(name)
        if node.ndim == 0:
            self.scalar_params[node] = name
        else:
            self.values[node] = name

    def float_param(self, value):
        """The parameter holding ``value`` (a NumPy float; one per distinct value and type)."""
        key = (value, type(value))
        if key not in self.float_params:
            self.float_params[key] = f"c{len(self.constants)}"
            self.params.append(self.float_params[key])
            self.constants.append(value)
        return self.float_params[key]

    def name(self, prefix):
        self._count += 1
        return f"{prefix}{self._count}"

    def size(self, d):
        return sympy.sympify(d).xreplace(self.dim_params)

    def sizes(self, shape):
        return tuple(self.size(d) for d in shape)

    def alloc(self, node, fill=None, shape=None):
        name = self.name("b")
        self.statements.append(Alloc(name, node.dtype, self.sizes(node.shape if shape is None
                                                                   else shape), fill))
        self.fresh.add(name)
        return name

    def value(self, node):
        """The name of an array holding ``node``'s value (materialising views)."""
        if node in self.values:
            return self.values[node]
        op = node.op
        if isinstance(op, ops.Reshape):
            source = self.value(node.inputs[0])
            name = self.name("r")
            self.statements.append(Reshape(name, source, self.sizes(node.shape)))
        elif isinstance(op, ops.DimSize):
            name = self.alloc(node, fill=self.size(op.dim))
        elif node in self.scalar_params:
            name = self.alloc(node, fill=sympy.Symbol(self.scalar_params[node]))
        else:  # a transpose or broadcast needed as a whole array: copy it
            name = self.alloc(node)
            loop = _LoopBuilder(node.shape)
            self.store(loop, name, loop.identity(), self.access(loop, node, loop.identity()))
            self.statements.append(Loop(self.sizes(node.shape), tuple(loop.body)))
        self.values[node] = name
        return name

    # -- loop bodies -------------------------------------------------------------

    def access(self, loop, node, index):
        """A scalar symbol holding ``node`` at subscript ``index`` inside ``loop``."""
        if node in loop.scalars and index == loop.identity():
            return loop.scalars[node]
        if node in self.scalar_params:
            return self.scalar_params[node]
        op = node.op
        if isinstance(op, ops.Broadcast):
            base = node.inputs[0]
            lead = node.ndim - base.ndim
            return self.access(loop, base, tuple(Index(None) if d == 1 else index[lead + a]
                                                  for a, d in enumerate(base.shape)))
        if isinstance(op, ops.Transpose) and node not in self.values:
            inner = [None] * node.ndim
            for a, p in enumerate(op.perm):
                inner[p] = index[a]
            return self.access(loop, node.inputs[0], tuple(inner))
        key = (node, index)
        if key not in loop.loads:
            sym = self.name("v")
            if isinstance(op, ops.DimSize):
                loop.body.append(Compute(sym, sympy.Lambda((), self.size(op.dim)), (), "int64"))
            else:
                loop.body.append(Load(sym, self.value(node), index))
            loop.loads[key] = sym
        return loop.loads[key]

    def compute(self, loop, formula, args, dtype, arg_dtypes=()):
        """A Compute; its result needs a cast unless all arguments have ``dtype``.

        The formula's floats become parameters of the program, passed with the
        constants: a graph that differs only in a float (a hyper-parameter
        swept over values) prints the same source, compiled and cached once.
        """
        floats = [f for f in sympy.preorder_traversal(formula.expr) if isinstance(f, sympy.Float)]
        if floats:
            # in the formula's own float type (a float32 loop stays float32)
            float_type = np.dtype(dtype if dtype in ("float32", "float64") else "float64").type
            names = [self.float_param(float_type(f)) for f in dict.fromkeys(floats)]
            symbols = [sympy.Symbol(name, real=True) for name in names]
            formula = sympy.Lambda((*formula.variables, *symbols), formula.expr.xreplace(
                dict(zip(dict.fromkeys(floats), symbols))))
            args = (*args, *names)
            arg_dtypes = (*arg_dtypes, *[float_type.__name__] * len(names)) if arg_dtypes else ()
        sym = self.name("v")
        cast = not arg_dtypes or any(d != dtype for d in arg_dtypes)
        loop.body.append(Compute(sym, formula, tuple(args), dtype, cast))
        return sym

    def store(self, loop, array, index, sym, mode="="):
        loop.body.append(Store(array, index, sym, mode))

    def check(self, loop, sym, node, limit):
        loop.body.append(CheckBounds(sym, self.size(limit), len(self.index_errors), FLAG))
        self.index_errors.append((node, limit))

    def emit_loop(self, loop):
        self.statements.append(Loop(self.sizes(loop.shape), tuple(loop.body)))

    # -- fused elementwise loops ----------------------------------------------------

    def needs_array(self, node, fused):
        return node in self.output_set or any(fused.get(u) is not fused.get(node)
                                              for u in self.users.get(node, ()))

    def fused_loop(self, step, fused):
        loop = _LoopBuilder(step.shape)
        for node in step.members:
            if is_pointwise(node):
                formula = stabilised(node.op.formula)
                used = [p in formula.expr.free_symbols for p in formula.variables]
                args = [self.access(loop, i, loop.identity() if i.shape == step.shape
                                    else _broadcast_index(i.shape, step.shape)) if u else ""
                        for i, u in zip(node.inputs, used)]
                sym = self.compute(loop, formula, args, node.dtype,
                                   [i.dtype for i, u in zip(node.inputs, used) if u])
                loop.scalars[node] = sym
                if self.needs_array(node, fused):
                    self.values[node] = self.reusable(loop, node) or self.alloc(node)
                    self.store(loop, self.values[node], loop.identity(), sym)
            else:
                self.reduction(loop, node)
        self.emit_loop(loop)

    def reusable(self, loop, node):
        """The buffer of an input of this loop that no later step reads, to store
        ``node`` into in place (fewer fresh buffers, less memory traffic); else
        None. Safe because this loop reads that input only at its own subscript
        (every view of it is done with), and loaded it before this store."""
        here = self.step_of[node]
        for x, index in loop.loads:
            name = self.values.get(x)
            if (index == loop.identity() and name in self.fresh and name not in loop.taken
                    and x.dtype == node.dtype and x not in self.output_set
                    and all(self.step_of[u] <= here if u in self.step_of else
                            self.read_at[u] < here for u in self.users[x])):
                loop.taken.add(name)
                return name
        return None

    def reduction(self, loop, node):
        operand = node.inputs[0]
        sym = self.access(loop, operand, loop.identity())
        if operand.dtype != node.dtype:
            sym = self.compute(loop, _IDENTITY, [sym], node.dtype)
        if isinstance(node.op, ops.Reduce):
            kept = [a for a in range(operand.ndim) if a not in node.op.axes]
            index, mode = tuple(Index(a) for a in kept), node.op.kind
            if node.dtype in FLOAT_DTYPES:
                fill = -np.inf if mode == "max" else np.inf
            else:
                info = np.iinfo(node.dtype)
                fill = int(info.min if mode == "max" else info.max)
        else:
            (letters,), out = node.op.operands_and_output
            index = tuple(Index(letters.index(c)) for c in out)
            mode, fill = ("=", None) if len(out) == len(letters) else ("+=", 0)
        self.values[node] = self.alloc(node, fill=fill)
        self.store(loop, self.values[node], index, sym, mode)

    # -- other kernels -------------------------------------------------------------------

    def kernel(self, node):
        op = node.op
        if isinstance(op, ops.Contract):
            users = self.users.get(node, ())
            if node not in self.output_set and users and all(
                    isinstance(u.op, ops.Transpose) and u.op.perm == (1, 0) for u in users):
                # only read transposed (a gradient wrt a matrix used as W.T):
                # compute the transposed product instead of copying a transpose
                transposed = self.matmul(node, node.op.operands_and_output[1][::-1])
                if transposed is not None:
                    for u in users:
                        self.values[u] = transposed
                    return
            self.values[node] = self.matmul(node) or self.contraction(node)
            return
        if isinstance(op, ops.ArgOneHot):
            source = self.value(node.inputs[0])
            name = self.name("b")
            self.statements.append(ArgOneHot(name, source, node.ndim, op.axes, op.kind,
                                             node.dtype))
            self.fresh.add(name)
            self.values[node] = name
            return
        lowerings = {ops.Gather: self.gather, ops.ScatterAdd: self.scatter_add,
                     ops.TakeAlong: self.take_along, ops.PutAlong: self.put_along,
                     ops.Concatenate: self.concatenate, ops.Slice: self.slice,
                     ops.SliceAdd: self.slice_add}
        lower = lowerings.get(type(op))
        if lower is None:
            raise NotImplementedError(f"the numba backend cannot lower op {op.label!r} "
                                      f"in {node.describe()}")
        self.values[node] = lower(node)

    def matmul(self, node, out=None):
        """One ``np.dot`` on 2-D views when the einsum is a matrix product whose
        operands reshape to matrices without a copy; else None. ``out`` (the
        output letters) may permute the einsum's."""
        subs, spec_out = node.op.operands_and_output
        out = out or spec_out
        shape = tuple(node.shape[spec_out.index(c)] for c in out)
        if len(subs) != 2 or node.dtype not in FLOAT_DTYPES or \
                any(x.dtype != node.dtype for x in node.inputs):
            return None
        operands = []
        for letters, x in zip(subs, node.inputs):
            while isinstance(x.op, ops.Transpose) and x not in self.values:  # read its source
                letters = "".join(letters[x.op.perm.index(a)] for a in range(x.ndim))
                x = x.inputs[0]
            if isinstance(x.op, ops.Broadcast):
                return None
            operands.append((letters, x))
        (sa, _), (sb, _) = operands
        if any(c in sb for c in sa if c in out) or any(
                c not in out and c not in other for s, other in ((sa, sb), (sb, sa)) for c in s):
            return None
        dims = {c: d for letters, x in operands for c, d in zip(letters, x.shape)}
        count = lambda cs: sympy.Mul(*[self.size(dims[c]) for c in cs])  # noqa: E731
        for (sa, a), (sb, b) in (operands, operands[::-1]):
            left, right = [c for c in sa if c in out], [c for c in sb if c in out]
            k = [c for c in sa if c not in out]
            if out != "".join(left + right) or k != [c for c in sb if c not in out]:
                continue
            forms = []
            for letters, x, free, free_first in ((sa, a, left, True), (sb, b, right, False)):
                if letters == "".join(free + k) if free_first else letters == "".join(k + free):
                    transpose = False
                elif letters == "".join(k + free) if free_first else letters == "".join(free + k):
                    transpose = True
                else:
                    break
                rows, cols = (count(free), count(k)) if free_first != transpose else \
                    (count(k), count(free))
                forms.append((self.matrix(x, (rows, cols)), transpose))
            if len(forms) < 2:
                continue
            (ma, ta), (mb, tb) = forms
            name = self.name("b")
            self.statements.append(MatMul(name, ma, mb, ta, tb))
            self.fresh.add(name)
            if len(shape) == 2 and len(left) == 1 and len(right) == 1:
                return name
            view = self.name("r")
            self.statements.append(Reshape(view, name, self.sizes(shape)))
            return view
        return None

    def matrix(self, x, shape):
        source = self.value(x)
        if x.ndim == 2 and self.sizes(x.shape) == tuple(shape):
            return source
        name = self.name("r")
        self.statements.append(Reshape(name, source, tuple(shape)))
        return name

    def contraction(self, node):
        """A general einsum as one loop nest accumulating products."""
        subs, out = node.op.operands_and_output
        letters = list(out) + [c for s in subs for c in s if c not in out]
        letters = list(dict.fromkeys(letters))
        dims = {c: d for s, x in zip(subs, node.inputs) for c, d in zip(s, x.shape)}
        loop = _LoopBuilder(tuple(dims[c] for c in letters))
        syms = []
        for s, x in zip(subs, node.inputs):
            syms.append(self.access(loop, x, tuple(Index(letters.index(c)) for c in s)))
        product = self.compute(loop, _product(len(syms)), syms, node.dtype,
                               [x.dtype for x in node.inputs])
        name = self.alloc(node, fill=0)
        self.store(loop, name, tuple(Index(letters.index(c)) for c in out), product, "+=")
        self.emit_loop(loop)
        return name

    def gather(self, node):
        x, idx = node.inputs
        name = self.alloc(node)
        loop = _LoopBuilder(node.shape)
        k = idx.ndim
        j = self.access(loop, idx, tuple(Index(a) for a in range(k)))
        self.check(loop, j, node, x.shape[0])
        v = self.access(loop, x, (ByValue(j),) + tuple(Index(k + a) for a in range(x.ndim - 1)))
        self.store(loop, name, loop.identity(), v)
        self.emit_loop(loop)
        return name

    def scatter_add(self, node):
        g, idx = node.inputs
        name = self.alloc(node, fill=0)
        loop = _LoopBuilder(g.shape)
        k = idx.ndim
        j = self.access(loop, idx, tuple(Index(a) for a in range(k)))
        self.check(loop, j, node, node.op.rows)
        v = self.access(loop, g, loop.identity())
        self.store(loop, name, (ByValue(j),) + tuple(Index(a) for a in range(k, g.ndim)), v, "+=")
        self.emit_loop(loop)
        return name

    def take_along(self, node):
        x, idx = node.inputs
        name = self.alloc(node)
        loop = _LoopBuilder(idx.shape)
        j = self.access(loop, idx, loop.identity())
        self.check(loop, j, node, x.shape[-1])
        v = self.access(loop, x, loop.identity() + (ByValue(j),))
        self.store(loop, name, loop.identity(), v)
        self.emit_loop(loop)
        return name

    def put_along(self, node):
        g, idx = node.inputs
        name = self.alloc(node, fill=0)
        loop = _LoopBuilder(g.shape)
        j = self.access(loop, idx, loop.identity())
        self.check(loop, j, node, node.op.size)
        v = self.access(loop, g, loop.identity())
        self.store(loop, name, loop.identity() + (ByValue(j),), v)
        self.emit_loop(loop)
        return name

    def concatenate(self, node):
        name = self.alloc(node)
        axis, offset = node.op.axis, sympy.Integer(0)
        for x in node.inputs:
            loop = _LoopBuilder(x.shape)
            v = self.access(loop, x, loop.identity())
            index = tuple(Index(a, self.size(offset)) if a == axis else Index(a)
                          for a in range(x.ndim))
            self.store(loop, name, index, v)
            self.emit_loop(loop)
            offset = offset + x.shape[axis]
        return name

    def _sliced(self, index):
        """Subscripts of the sliced array for the loop over the slice's shape."""
        out, axis = [], 0
        for k in index:
            if isinstance(k, int):
                out.append(Index(None, k))
            else:
                start, _, step = k
                out.append(Index(axis, self.size(start), self.size(step)))
                axis += 1
        return tuple(out)

    def slice(self, node):
        name = self.alloc(node)
        loop = _LoopBuilder(node.shape)
        v = self.access(loop, node.inputs[0], self._sliced(node.op.index))
        self.store(loop, name, loop.identity(), v)
        self.emit_loop(loop)
        return name

    def slice_add(self, node):
        (g,) = node.inputs
        name = self.alloc(node, fill=0)
        loop = _LoopBuilder(g.shape)
        v = self.access(loop, g, loop.identity())
        self.store(loop, name, self._sliced(node.op.index), v)
        self.emit_loop(loop)
        return name

    # -- the whole program ---------------------------------------------------------------

    def schedule(self, the_plan):
        """``step_of``: the plan step computing each node; ``read_at``: the last
        step reading a node's value (for a view, its readers'; past the end for
        an output)."""
        self.step_of = {}
        for k, step in enumerate(the_plan.steps):
            for node in step.members if isinstance(step, FusedLoop) else [step]:
                self.step_of[node] = k
        self.read_at = {}
        for node in reversed(self.order):
            uses = [self.step_of[u] if u in self.step_of else self.read_at[u]
                    for u in self.users.get(node, ())]
            self.read_at[node] = len(the_plan.steps) if node in self.output_set else \
                max(uses, default=-1)

    def lower(self):
        self.output_set = set(self.outputs)
        the_plan = plan(self.order)
        self.schedule(the_plan)
        for step in the_plan.steps:
            if isinstance(step, FusedLoop):
                self.fused_loop(step, the_plan.loop_of)
            else:
                self.kernel(step)
        results, returned = [], set()
        for node in self.outputs:
            if node in self.scalar_params:
                results.append(self.scalar_params[node])
                continue
            name = self.value(node)
            if node.ndim == 0:
                results.append(self.name("s"))
                self.statements.append(Item(results[-1], name))
                continue
            if name not in self.fresh or name in returned:
                copy = self.name("b")
                self.statements.append(Copy(copy, name))
                name = copy
            returned.add(name)
            results.append(name)
        flag = [FLAG] if self.index_errors else []
        program = Program((*self.params, *flag, *(str(self.dim_params[s]) for s in self.dims)),
                          tuple(self.statements), tuple(results))
        empty_reductions = [(node, a, node.inputs[0].shape[a]) for node in self.order
                            if isinstance(node.op, ops.Reduce) for a in node.op.axes
                            if not isinstance(node.inputs[0].shape[a], int)]
        return Lowered(program, self.constants, self.dims,
                       [np.dtype(o.dtype).type if o.ndim == 0 else None for o in self.outputs],
                       self.index_errors, empty_reductions)


def lower(inputs, outputs):
    """Lower the graph computing ``outputs`` from ``inputs`` to a kernel program.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> lowered = lower([x], [sg.exp(x).sum()])
    >>> lowered.program.params, len(lowered.program.statements)
    (('x0', 'n0'), 3)
    """
    return Lowering(list(inputs), list(outputs)).lower()
