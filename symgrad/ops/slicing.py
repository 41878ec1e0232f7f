"""Static slicing: ``Slice`` (basic indexing with ints and slices) and its
transpose ``SliceAdd``; ``Concatenate``, whose adjoint is one slice per input."""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import ByValue, Index, Subarray

from ..types import resolve_dim, result_dtype
from .base import Primitive
from .indexing import accumulator, base_form, base_value, with_base


def _numpy_index(index, bindings):
    return tuple(k if isinstance(k, int) else slice(*(resolve_dim(v, bindings) if
                                                       isinstance(v, sympy.Basic) else v
                                                       for v in k))
                 for k in index)


def _sliced(low, index):
    """Subscripts of the sliced array for the loop over the slice's shape."""
    out, axis = [], 0
    for k in index:
        if isinstance(k, int):
            out.append(Index(None, k))
        else:
            start, _, step = k
            out.append(Index(axis, low.size(start), low.size(step)))
            axis += 1
    return tuple(out)


@dataclass(frozen=True)
class Slice(Primitive):
    """Static basic indexing; ``index`` has one entry per input axis: an int
    (the axis is dropped) or a ``(start, stop, step)`` triple of resolved bounds."""
    index: tuple
    label = "slice"
    fusion = "view"

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, tuple(_length(k) for k in self.index if not isinstance(k, int))

    def view_index(self, node, index):
        """The input's subscripts for the slice's ``index`` (None where one is read
        from data: the slice is then copied first)."""
        inner, entries = [], iter(index)
        for k in self.index:
            if isinstance(k, int):
                inner.append(Index(None, k))
                continue
            start, _, step = k
            entry = next(entries)
            if isinstance(entry, ByValue):
                return None
            inner.append(Index(entry.var, start + step * entry.offset,
                               1 if entry.var is None else step * entry.step))
        return tuple(inner)

    def vjp(self, node, k, g):
        return SliceAdd(node.inputs[0].shape, self.index)(g)

    def evaluate(self, node, args, bindings):
        return args[0][_numpy_index(self.index, bindings)]

    def lower(self, node, low, loop):
        """Where an array is needed (a product's operand, an output): a view of the
        input's buffer when the slice is whole sub-arrays (``x[t]``), else a copy."""
        (x,) = node.inputs
        ints = [k for k in self.index if isinstance(k, int)]
        whole = self.index[len(ints):] == tuple((0, d, 1) for d in x.shape[len(ints):])
        if node.ndim and whole and all(k >= 0 for k in ints):
            name = low.name("r")
            low.emit(Subarray(name, low.value(x), tuple(ints)))
            return name
        return low.materialise(node)

    def index_form(self, node, reader, idx):
        out = iter(idx)
        inner = tuple(k if isinstance(k, int) else k[0] + k[2] * next(out) for k in self.index)
        return reader.at(node.inputs[0], inner)


@dataclass(frozen=True)
class SliceAdd(Primitive):
    """zeros(shape) with g written at ``index`` (the transpose of Slice): input (g,),
    or (g, base) to add g to ``base`` there instead."""
    shape: tuple
    index: tuple
    label = "slice_add"

    def type(self, inputs):
        return with_base(inputs[0].dtype, self.shape, self, inputs, 1)

    def vjp(self, node, k, g):
        return Slice(self.index)(g) if k == 0 else g  # k == 1: the base

    def evaluate(self, node, args, bindings):
        out, at = base_value(node, args, 1, bindings), _numpy_index(self.index, bindings)
        out[at] = out[at] + args[0] if len(args) > 1 else args[0]
        return out

    def lower(self, node, low, loop):
        g = node.inputs[0]
        name = accumulator(node, low, 1)
        mode = "+=" if len(node.inputs) > 1 else "="  # zeros need no read
        low.copy_loop(node, g.shape, g, low.axes(0, g.ndim), name, _sliced(low, self.index), mode)
        return name

    def index_form(self, node, reader, idx):
        conds, inner = [], []
        for i, k in zip(idx, self.index):
            if isinstance(k, int):
                conds.append(sympy.Eq(i, k))
                continue
            start, stop, step = k
            conds += [sympy.Ge(i, start), sympy.Lt(i, stop)]
            if step != 1:
                conds.append(sympy.Eq(sympy.Mod(i - start, step), 0))
            inner.append((i - start) / step if step != 1 else i - start)
        form = sympy.Piecewise((reader.at(node.inputs[0], tuple(inner)), sympy.And(*conds)),
                               (0, True))
        return base_form(node, reader, idx, 1, form)


@dataclass(frozen=True)
class Concatenate(Primitive):
    axis: int
    label = "concatenate"

    def type(self, inputs):
        size = sympy.Add(*[x.shape[self.axis] for x in inputs])
        size = int(size) if size.is_Integer else size
        first = inputs[0].shape
        return (result_dtype([x.dtype for x in inputs]),
                first[:self.axis] + (size,) + first[self.axis + 1:])

    def vjp(self, node, k, g):
        start = sympy.Add(*[x.shape[self.axis] for x in node.inputs[:k]])
        stop = start + node.inputs[k].shape[self.axis]
        return slice_axis(g, self.axis, _as_dim(start), _as_dim(stop))

    def evaluate(self, node, args, bindings):
        return np.concatenate(args, axis=self.axis)

    def lower(self, node, low, loop):
        name = low.alloc(node)
        offset = sympy.Integer(0)
        for x in node.inputs:
            at = tuple(Index(a, low.size(offset)) if a == self.axis else Index(a)
                       for a in range(x.ndim))
            low.copy_loop(node, x.shape, x, low.axes(0, x.ndim), name, at)
            offset = offset + x.shape[self.axis]
        return name

    def index_form(self, node, reader, idx):
        pieces, start, a = [], sympy.Integer(0), self.axis
        for x in node.inputs:
            shifted = idx[:a] + (idx[a] - start,) + idx[a + 1:]
            start = start + x.shape[a]
            pieces.append((reader.at(x, shifted), sympy.Lt(idx[a], start)))
        return sympy.Piecewise(*pieces[:-1], (pieces[-1][0], True))


def _length(bounds):
    """The length of the slice ``(start, stop, step)``; stop None runs to the front."""
    start, stop, step = bounds
    if all(isinstance(v, int) or v is None for v in bounds):
        return len(range(start, -1 if stop is None else stop, step))
    return _as_dim(sympy.sympify(stop - start))  # named bounds have step 1


def _as_dim(v):
    return int(v) if v.is_Integer else v


def slice_axis(x, axis, start, stop):
    """``x[..., start:stop, ...]`` on ``axis``, with possibly symbolic bounds."""
    index = tuple((start, stop, 1) if a == axis else (0, d, 1) for a, d in enumerate(x.shape))
    size = _as_dim(sympy.sympify(stop - start))
    if size == x.shape[axis]:
        return x
    return Slice(index)(x)
