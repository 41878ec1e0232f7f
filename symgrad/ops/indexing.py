"""Indexing by data: ``Gather`` (``x[idx]`` along axis 0) and its transpose
``ScatterAdd``; ``TakeAlong`` (``x[..., idx[...]]``, sg.pick) and its
transpose ``PutAlong``. Indices are checked against their axis at call time
(an IndexError naming the expression), on both backends.

The sparse ops (``ScatterAdd``, ``PutAlong`` and ``slicing.SliceAdd``) add
their operand into zeros, or, given one more input, into that *base*: the
optimize stage turns a sum of several of them (the gradient of a table
gathered in several places) into one chain, each adding its rows into the
previous one's buffer in place (:func:`accumulator`), so the sum costs one
table-sized buffer instead of one per term.
"""
from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import ShapeError
from ..types import resolve_dim, same_dim
from .base import Primitive


def with_base(dtype, shape, op, inputs, arity):
    """``(dtype, shape)`` of a sparse op, after checking its optional base
    (``inputs[arity]``) has exactly that type."""
    if len(inputs) > arity:
        base = inputs[arity]
        if (base.dtype != dtype or base.ndim != len(shape)
                or not all(map(same_dim, base.shape, shape))):
            raise ShapeError(f"{op.label}: the base {base.describe()} must have the "
                             f"result's dtype {dtype} and shape {shape}")
    return dtype, shape


def base_value(node, args, arity, bindings):
    """A fresh array to add a sparse op's operand into: a copy of its base, else zeros."""
    if len(args) > arity:
        return np.array(args[arity], dtype=node.dtype)
    return np.zeros(tuple(resolve_dim(d, bindings) for d in node.shape), dtype=node.dtype)


def accumulator(node, low, arity):
    """The buffer a sparse op adds its operand into: zeros without a base;
    with one (``node.inputs[arity]``), a shared variable's array when ``node``
    is its update, else the base's own buffer when nothing reads the base
    after this step (a whole chain of sparse terms then fills one buffer),
    else a fresh copy of it."""
    if len(node.inputs) == arity:
        return low.alloc(node, fill=0)
    base = node.inputs[arity]
    source = low.value(base)
    name = low.in_place(node) or (source if _dead_after(node, base, low) else low.alloc(node))
    if name != source:
        every = low.axes(0, node.ndim)
        low.copy_loop(node, node.shape, base, every, name, every)
    return name


def _dead_after(node, base, low):
    """Whether ``base``'s buffer is the program's own and only ``node`` reads it
    from ``node``'s step on (so ``node`` may write into it)."""
    step_of, read_at = low.memory.step_of, low.memory.read_at
    here = step_of.get(node)
    return (here is not None and low.values.get(base) in low.fresh
            and base not in low.output_set
            and all(u is node or (step_of[u] < here if u in step_of else read_at[u] < here)
                    for u in low.users[base]))


def base_form(node, reader, idx, arity, form):
    """The element ``form`` of a sparse op's operand, plus its base's if it has one."""
    return form + reader.at(node.inputs[arity], idx) if len(node.inputs) > arity else form


def _check_indices(idx, limit, node):
    if idx.size and (idx.min() < 0 or idx.max() >= limit):
        bad = idx[(idx < 0) | (idx >= limit)].flat[0]
        raise IndexError(f"index {bad} is out of range [0, {limit}) in {node.describe()}; "
                         f"indices come from {node.inputs[1].name!r}")


@dataclass(frozen=True)
class Gather(Primitive):
    """``x[idx]`` along axis 0: inputs (x, idx)."""
    label = "gather"

    def type(self, inputs):
        x, idx = inputs
        return x.dtype, idx.shape + x.shape[1:]

    def vjp(self, node, k, g):
        x, idx = node.inputs
        return ScatterAdd(x.shape[0])(g, idx)

    def evaluate(self, node, args, bindings):
        x, idx = args
        _check_indices(idx, x.shape[0], node)
        return x[idx]

    def lower(self, node, low, loop):
        x, idx = node.inputs
        k = idx.ndim
        name = low.alloc(node)
        low.copy_loop(node, node.shape, x, (low.AT,) + low.axes(k, node.ndim), name,
                      low.axes(0, node.ndim), index=(idx, low.axes(0, k), x.shape[0]))
        return name

    def index_form(self, node, reader, idx):
        x, ix = node.inputs
        return reader.at(x, (reader.at(ix, idx[:ix.ndim]),) + idx[ix.ndim:])


@dataclass(frozen=True)
class ScatterAdd(Primitive):
    """zeros((rows,) + g.shape[idx.ndim:]) with g's rows added at idx: inputs (g, idx),
    or (g, idx, base) to add them to ``base`` instead of zeros."""
    rows: object
    label = "scatter_add"

    def type(self, inputs):
        g, idx = inputs[:2]
        return with_base(g.dtype, (self.rows,) + g.shape[idx.ndim:], self, inputs, 2)

    def vjp(self, node, k, g):
        return Gather()(g, node.inputs[1]) if k == 0 else g  # k == 2: the base

    def evaluate(self, node, args, bindings):
        g, idx = args[:2]
        _check_indices(idx, resolve_dim(self.rows, bindings), node)
        out = base_value(node, args, 2, bindings)
        np.add.at(out, idx, g)
        return out

    def lower(self, node, low, loop):
        g, idx = node.inputs[:2]
        k = idx.ndim
        name = accumulator(node, low, 2)
        low.copy_loop(node, g.shape, g, low.axes(0, g.ndim), name,
                      (low.AT,) + low.axes(k, g.ndim), "+=", index=(idx, low.axes(0, k), self.rows))
        return name

    def index_form(self, node, reader, idx):
        g, ix = node.inputs[:2]
        pos = reader.indices.fresh(ix.ndim)
        body = reader.at(g, pos + idx[1:]) * sympy.KroneckerDelta(reader.at(ix, pos), idx[0])
        return base_form(node, reader, idx, 2, sympy.Sum(body, *reader.limits(pos, ix.shape)))


@dataclass(frozen=True)
class TakeAlong(Primitive):
    """``x[..., idx[...]]``: inputs (x, idx) with x.shape = idx.shape + (C,)."""
    label = "pick"

    def type(self, inputs):
        x, idx = inputs
        return x.dtype, idx.shape

    def vjp(self, node, k, g):
        x, idx = node.inputs
        return PutAlong(x.shape[-1])(g, idx)

    def evaluate(self, node, args, bindings):
        x, idx = args
        _check_indices(idx, x.shape[-1], node)
        return np.take_along_axis(x, idx[..., None], axis=-1)[..., 0]

    def lower(self, node, low, loop):
        x, idx = node.inputs
        every = low.axes(0, idx.ndim)
        name = low.alloc(node)
        low.copy_loop(node, idx.shape, x, every + (low.AT,), name, every,
                      index=(idx, every, x.shape[-1]))
        return name

    def index_form(self, node, reader, idx):
        x, ix = node.inputs
        return reader.at(x, idx + (reader.at(ix, idx),))


@dataclass(frozen=True)
class PutAlong(Primitive):
    """zeros(g.shape + (size,)) with g added at [..., idx[...]]: inputs (g, idx),
    or (g, idx, base) to add g to ``base`` instead of zeros."""
    size: object
    label = "put_along"

    def type(self, inputs):
        g, idx = inputs[:2]
        return with_base(g.dtype, g.shape + (self.size,), self, inputs, 2)

    def vjp(self, node, k, g):
        return TakeAlong()(g, node.inputs[1]) if k == 0 else g  # k == 2: the base

    def evaluate(self, node, args, bindings):
        g, idx = args[:2]
        _check_indices(idx, resolve_dim(self.size, bindings), node)
        out, at = base_value(node, args, 2, bindings), idx[..., None]
        if len(args) > 2:
            g = np.take_along_axis(out, at, axis=-1)[..., 0] + g
        np.put_along_axis(out, at, g[..., None], axis=-1)
        return out

    def lower(self, node, low, loop):
        g, idx = node.inputs[:2]
        every = low.axes(0, g.ndim)
        name = accumulator(node, low, 2)
        mode = "+=" if len(node.inputs) > 2 else "="  # zeros need no read
        low.copy_loop(node, g.shape, g, every, name, every + (low.AT,), mode,
                      index=(idx, every, self.size))
        return name

    def index_form(self, node, reader, idx):
        g, ix = node.inputs[:2]
        form = reader.at(g, idx[:-1]) * sympy.KroneckerDelta(reader.at(ix, idx[:-1]), idx[-1])
        return base_form(node, reader, idx, 2, form)
