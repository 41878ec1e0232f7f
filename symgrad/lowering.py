"""Lowering: a symgrad graph -> a codegen kernel program.

The driver: fused loops come from ``fusion.plan`` and buffers' lifetimes from
:func:`plan_memory`; each op writes its own part of the program (its
``lower`` facet, in ``symgrad/ops``) with the builders here: loop nests,
loads through views (a transpose, broadcast or slice is folded into the
subscripts of the loops that read it), stores, bounds checks on indices read from data,
one copy-loop builder for the gather/scatter/slice family, and reductions
fused into their producer's loop. A fused loop stores an output into the
buffer of an input that no later step reads, instead of a fresh one.

Updates (``sg.function(..., updates=...)``) write a shared variable's new
value into the variable's own array, which is an input of the program: in
the fused loop that computes it, when nothing after that loop reads the old
value and the loop reads it only at the element it writes (``in_place``);
else into a buffer copied into the array at the end, after every read. 0-d
new values are returned after the outputs (the caller writes them).

Inputs, constants and named dimension sizes are the program's parameters
(``x<k>``, ``c<k>``, ``n<k>``), so constants are never baked into the source
and every generated name is deterministic. 0-d inputs and constants are
passed as scalars and 0-d outputs returned as scalars (cheaper to box than
arrays: this is most of a small function's call overhead).
"""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import (Alloc, ByValue, CheckBounds, Compute, Copy, Index, Load, Loop, Program,
                     Reshape, Store, Subarray)

from .fusion import FusedLoop, plan
from .graph import toposort
from .ops import Constant, DimSize
from .ops.contraction import product_formula

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
    when that dimension is 0; ``returned_updates`` the 0-d shared variables
    whose new values the program returns after the outputs."""
    program: Program
    constants: list
    dims: list
    scalar_outputs: list
    index_errors: list
    empty_reductions: list
    returned_updates: list


@dataclass
class MemoryPlan:
    """When each node's buffer is live: ``step_of[node]`` is the plan step that
    computes it, ``read_at[node]`` the last step that reads it (for a view, its
    readers' last; past the end for an output)."""
    step_of: dict
    read_at: dict


def plan_memory(order, steps, outputs, users):
    """The :class:`MemoryPlan` of the fusion plan ``steps`` over ``order``.

    >>> import symgrad as sg
    >>> from symgrad.fusion import plan
    >>> x = sg.vector("x", 3)
    >>> y = sg.exp(x) @ x
    >>> order = toposort([y])
    >>> users = {}
    >>> for n in order:
    ...     for i in n.inputs:
    ...         users.setdefault(i, []).append(n)
    >>> memory = plan_memory(order, plan(order).steps, [y], users)
    >>> memory.read_at[x], memory.read_at[y]
    (1, 2)
    """
    step_of = {}
    for k, step in enumerate(steps):
        for node in step.members if isinstance(step, FusedLoop) else [step]:
            step_of[node] = k
    read_at, output_set = {}, set(outputs)
    for node in reversed(order):
        uses = [step_of[u] if u in step_of else read_at[u] for u in users.get(node, ())]
        read_at[node] = len(steps) if node in output_set else max(uses, default=-1)
    return MemoryPlan(step_of, read_at)


class LoopBuilder:
    """The body of one loop nest over ``shape``: loads memoised per (node,
    subscript), the scalars computed for fused nodes, and the buffers of dead
    inputs its outputs reuse (``taken``)."""

    def __init__(self, shape):
        self.shape, self.body, self.loads, self.scalars = shape, [], {}, {}
        self.taken = set()

    def identity(self):
        return tuple(Index(a) for a in range(len(self.shape)))


class Lowering:
    """Builds the kernel program of one graph; ops call the builders below."""

    AT = object()
    """In :meth:`copy_loop` subscripts: the position read from the index array."""

    def __init__(self, inputs, outputs, updates=()):
        self.updates = list(updates)  # (shared input, its new value)
        self.targets_of = {}
        for target, new in self.updates:
            self.targets_of.setdefault(new, []).append(target)
        self.written = set()  # the shared inputs written in place
        # a new value is read at the end, as an output is
        every = outputs + [new for _, new in self.updates]
        self.outputs, self.output_set = outputs, set(every)
        self.order = toposort(every)
        self.users = {}
        for node in self.order:
            for i in node.inputs:
                self.users.setdefault(i, []).append(node)
        symbols = set()
        for node in self.order:
            for d in node.shape:
                if isinstance(d, sympy.Basic):
                    symbols |= d.free_symbols
            if isinstance(node.op, DimSize):
                symbols.add(node.op.dim)
        self.dims = sorted(symbols, key=lambda s: s.name)
        self.dim_params = {s: sympy.Symbol(f"n{k}", integer=True)
                           for k, s in enumerate(self.dims)}
        self.params, self.constants, self.values, self.scalar_params = [], [], {}, {}
        for k, x in enumerate(inputs):
            self.param(x, f"x{k}")
        for node in self.order:
            if isinstance(node.op, Constant):
                self.param(node, f"c{len(self.constants)}")
                value = node.op.value
                self.constants.append(value[()] if value.ndim == 0 else
                                      np.ascontiguousarray(value))
        self.float_params = {}  # a formula's float -> its parameter's name
        self.statements, self.fresh, self.index_errors = [], set(), []
        self.plan = plan(self.order)
        self.memory = plan_memory(self.order, self.plan.steps, every, self.users)
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

    def emit(self, statement):
        self.statements.append(statement)

    def alloc(self, node, fill=None):
        name = self.name("b")
        self.emit(Alloc(name, node.dtype, self.sizes(node.shape), fill))
        self.fresh.add(name)
        return name

    def value(self, node):
        """The name of an array holding ``node``'s value (materialising views)."""
        if node in self.values:
            return self.values[node]
        if isinstance(node.op, DimSize):
            name = self.name("b")
            self.emit(Alloc(name, node.dtype, (), self.size(node.op.dim)))
        elif node in self.scalar_params:
            name = self.name("b")
            self.emit(Alloc(name, node.dtype, (), sympy.Symbol(self.scalar_params[node])))
        else:
            name = node.op.lower(node, self, None)
        self.values[node] = name
        return name

    def materialise(self, node):
        """A fresh array holding the view ``node`` (a transpose or broadcast)."""
        name = self.alloc(node)
        loop = self.loop(node.shape)
        self.store(loop, name, loop.identity(), self.access(loop, node, loop.identity()))
        self.emit_loop(loop)
        return name

    def matrix(self, x, shape):
        """``x``'s buffer viewed as a matrix of ``shape`` (sizes)."""
        source = self.value(x)
        if x.ndim == 2 and self.sizes(x.shape) == tuple(shape):
            return source
        name = self.name("r")
        self.emit(Reshape(name, source, tuple(shape)))
        return name

    # -- loop bodies -------------------------------------------------------------

    def loop(self, shape):
        return LoopBuilder(shape)

    @staticmethod
    def axes(start, stop):
        """The subscripts ``i<start>, ..., i<stop-1>``."""
        return tuple(Index(a) for a in range(start, stop))

    def access(self, loop, node, index):
        """A scalar symbol holding ``node`` at subscript ``index`` inside ``loop``."""
        if node in loop.scalars and index == loop.identity():
            return loop.scalars[node]
        if node in self.scalar_params:
            return self.scalar_params[node]
        if node.op.fusion == "view" and node not in self.values:
            inner = node.op.view_index(node, index)
            if inner is not None:
                return self.access(loop, node.inputs[0], tuple(map(self.subscript, inner)))
        key = (node, index)
        if key not in loop.loads:
            sym = self.name("v")
            if isinstance(node.op, DimSize):
                loop.body.append(Compute(sym, sympy.Lambda((), self.size(node.op.dim)), (),
                                         "int64"))
            else:
                loop.body.append(Load(sym, self.value(node), index))
            loop.loads[key] = sym
        return loop.loads[key]

    def subscript(self, entry):
        """``entry`` (an Index or ByValue) with its sizes in the program's parameters."""
        if isinstance(entry, ByValue):
            return entry
        return Index(entry.var, self.size(entry.offset), self.size(entry.step))

    def read(self, loop, x):
        """``x`` at the loop's position, broadcast against the loop's shape."""
        if x.shape == loop.shape:
            return self.access(loop, x, loop.identity())
        lead = len(loop.shape) - x.ndim
        return self.access(loop, x, tuple(Index(None) if d == 1 else Index(lead + a)
                                          for a, d in enumerate(x.shape)))

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
        self.emit(Loop(self.sizes(loop.shape), tuple(loop.body)))

    def copy_loop(self, node, shape, source, read, target, write, mode="=", index=None):
        """One loop nest over ``shape``: ``target[write] (mode) source[read]``.
        With ``index = (idx, at, limit)`` the subscript :attr:`AT` in ``read``
        or ``write`` is ``idx[at]``, checked to lie in [0, limit)."""
        loop = self.loop(shape)
        if index is not None:
            idx, at, limit = index
            j = self.access(loop, idx, at)
            self.check(loop, j, node, limit)
            read, write = (tuple(ByValue(j) if s is self.AT else s for s in subscripts)
                           for subscripts in (read, write))
        self.store(loop, target, write, self.access(loop, source, read), mode)
        self.emit_loop(loop)

    def reduce_into(self, loop, node, index, mode, fill):
        """Inside ``loop`` (over the operand's shape): the node's buffer, filled
        with ``fill``, combined (``mode``) at ``index`` with the operand."""
        operand = node.inputs[0]
        sym = self.access(loop, operand, loop.identity())
        if operand.dtype != node.dtype:
            sym = self.compute(loop, product_formula(1), [sym], node.dtype)
        self.values[node] = self.alloc(node, fill=fill)
        self.store(loop, self.values[node], index, sym, mode)

    # -- fused loops ----------------------------------------------------------------

    def needs_array(self, node):
        loop_of = self.plan.loop_of
        return node in self.output_set or any(loop_of.get(u) is not loop_of.get(node)
                                              for u in self.users.get(node, ()))

    def fused_loop(self, step):
        loop = self.loop(step.shape)
        new_values = []  # stored last, after every load of the loop's body
        for node in step.members:
            node.op.lower(node, self, loop)
            if node in loop.scalars and self.needs_array(node):
                if node in self.targets_of:
                    new_values.append(node)
                    continue
                self.values[node] = self.reusable(loop, node) or self.alloc(node)
                self.store(loop, self.values[node], loop.identity(), loop.scalars[node])
        for node in new_values:
            self.values[node] = (self.in_place(node, loop) or self.reusable(loop, node)
                                 or self.alloc(node))
            self.store(loop, self.values[node], loop.identity(), loop.scalars[node])
        self.emit_loop(loop)

    def in_place(self, node, loop=None):
        """The array of a shared input whose new value ``node`` is, to write
        ``node`` into directly (a fused ``loop`` stores it after all its loads);
        else None. Safe when no later step reads the old value (it is not an
        output, nor another update's new value) and ``loop`` reads it only at
        the element it writes; without a loop (an op writing rows of it, say),
        only ``node`` itself may read it in this step."""
        step_of, read_at = self.memory.step_of, self.memory.read_at
        here = step_of[node]
        for target in self.targets_of.get(node, ()):
            if (target in self.written or target in self.output_set or target.ndim == 0
                    or target.shape != node.shape or target.dtype != node.dtype):
                continue
            if loop is not None and (loop.shape != target.shape or any(
                    x == target and index != loop.identity() for x, index in loop.loads)):
                continue
            if loop is None:
                ok = all(u is node or (step_of[u] < here if u in step_of else read_at[u] < here)
                         for u in self.users.get(target, ()))
            else:
                ok = all(step_of[u] <= here if u in step_of else read_at[u] <= here
                         for u in self.users.get(target, ()))
            if ok:
                self.written.add(target)
                return self.values[target]
        return None

    def write_updates(self):
        """Copy the new values not written in place into their variables' arrays,
        after every read of the old values (a new value that is itself an input's
        array is copied first: updates may swap two variables)."""
        pending = [(t, n) for t, n in self.updates if t not in self.written and t.ndim]
        sources = []
        for target, new in pending:
            name = self.value(new)
            if name not in self.fresh:
                copy = self.name("b")
                self.emit(Copy(copy, name))
                name = copy
            sources.append(name)
        for (target, _), name in zip(pending, sources):
            loop = self.loop(target.shape)
            sym = self.name("v")
            loop.body.append(Load(sym, name, loop.identity()))
            self.store(loop, self.values[target], loop.identity(), sym)
            self.emit_loop(loop)

    def reusable(self, loop, node):
        """The buffer of an input of this loop that no later step reads, to store
        ``node`` into in place (fewer fresh buffers, less memory traffic); else
        None. Safe because this loop reads that input only at its own subscript
        (every view of it is done with), and loaded it before this store."""
        step_of, read_at = self.memory.step_of, self.memory.read_at
        here = step_of[node]
        for x, index in loop.loads:
            name = self.values.get(x)
            if (index == loop.identity() and name in self.fresh and name not in loop.taken
                    and x.dtype == node.dtype and x not in self.output_set
                    and all(step_of[u] <= here if u in step_of else read_at[u] < here
                            for u in self.users[x])):
                loop.taken.add(name)
                return name
        return None

    # -- the whole program ---------------------------------------------------------------

    def lower(self):
        for step in self.plan.steps:
            if isinstance(step, FusedLoop):
                self.fused_loop(step)
            else:
                name = step.op.lower(step, self, None)
                if name is not None:
                    self.values[step] = name
        returned_updates = [t for t, _ in self.updates if t.ndim == 0]
        results, returned = [], set()
        for node in self.outputs + [n for t, n in self.updates if t.ndim == 0]:
            if node in self.scalar_params:
                results.append(self.scalar_params[node])
                continue
            name = self.value(node)
            if node.ndim == 0:
                results.append(self.name("s"))
                self.emit(Subarray(results[-1], name))
                continue
            if name not in self.fresh or name in returned:
                copy = self.name("b")
                self.emit(Copy(copy, name))
                name = copy
            returned.add(name)
            results.append(name)
        self.write_updates()
        flag = [FLAG] if self.index_errors else []
        program = Program((*self.params, *flag, *(str(self.dim_params[s]) for s in self.dims)),
                          tuple(self.statements), tuple(results))
        empty_reductions = [(node, a, size) for node in self.order
                            for a, size in node.op.named_axes(node)]
        return Lowered(program, self.constants, self.dims,
                       [np.dtype(o.dtype).type if o.ndim == 0 else None for o in self.outputs]
                       + [np.dtype(t.dtype).type for t in returned_updates],
                       self.index_errors, empty_reductions, returned_updates)


def lower(inputs, outputs, updates=()):
    """Lower the graph computing ``outputs`` from ``inputs`` to a kernel program.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> lowered = lower([x], [sg.exp(x).sum()])
    >>> lowered.program.params, len(lowered.program.statements)
    (('x0', 'n0'), 3)
    """
    return Lowering(list(inputs), list(outputs), updates).lower()
