"""Indexing by data: ``Gather`` (``x[idx]`` along axis 0) and its transpose
``ScatterAdd``; ``TakeAlong`` (``x[..., idx[...]]``, sg.pick) and its
transpose ``PutAlong``. Indices are checked against their axis at call time
(an IndexError naming the expression), on both backends."""
from dataclasses import dataclass

import numpy as np
import sympy

from ..types import resolve_dim
from .base import Primitive


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
    """zeros((rows,) + g.shape[idx.ndim:]) with g's rows added at idx: inputs (g, idx)."""
    rows: object
    label = "scatter_add"

    def type(self, inputs):
        g, idx = inputs
        return g.dtype, (self.rows,) + g.shape[idx.ndim:]

    def vjp(self, node, k, g):
        return Gather()(g, node.inputs[1])

    def evaluate(self, node, args, bindings):
        g, idx = args
        rows = resolve_dim(self.rows, bindings)
        _check_indices(idx, rows, node)
        out = np.zeros((rows,) + g.shape[idx.ndim:], dtype=node.dtype)
        np.add.at(out, idx, g)
        return out

    def lower(self, node, low, loop):
        g, idx = node.inputs
        k = idx.ndim
        name = low.alloc(node, fill=0)
        low.copy_loop(node, g.shape, g, low.axes(0, g.ndim), name,
                      (low.AT,) + low.axes(k, g.ndim), "+=", index=(idx, low.axes(0, k), self.rows))
        return name

    def index_form(self, node, reader, idx):
        g, ix = node.inputs
        pos = reader.indices.fresh(ix.ndim)
        body = reader.at(g, pos + idx[1:]) * sympy.KroneckerDelta(reader.at(ix, pos), idx[0])
        return sympy.Sum(body, *reader.limits(pos, ix.shape))


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
    """zeros(g.shape + (size,)) with g added at [..., idx[...]]: inputs (g, idx)."""
    size: object
    label = "put_along"

    def type(self, inputs):
        g, idx = inputs
        return g.dtype, g.shape + (self.size,)

    def vjp(self, node, k, g):
        return TakeAlong()(g, node.inputs[1])

    def evaluate(self, node, args, bindings):
        g, idx = args
        size = resolve_dim(self.size, bindings)
        _check_indices(idx, size, node)
        out = np.zeros(g.shape + (size,), dtype=node.dtype)
        np.put_along_axis(out, idx[..., None], g[..., None], axis=-1)
        return out

    def lower(self, node, low, loop):
        g, idx = node.inputs
        every = low.axes(0, g.ndim)
        name = low.alloc(node, fill=0)
        low.copy_loop(node, g.shape, g, every, name, every + (low.AT,),
                      index=(idx, every, self.size))
        return name

    def index_form(self, node, reader, idx):
        g, ix = node.inputs
        return reader.at(g, idx[:-1]) * sympy.KroneckerDelta(reader.at(ix, idx[:-1]), idx[-1])
