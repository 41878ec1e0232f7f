"""Views: ``Reshape`` and ``Transpose`` move no data (lowering reads through
them; a reshape is a view of a contiguous buffer). Each one's adjoint is the
inverse view. (``Broadcast`` is with the contractions: its adjoint is a sum.)"""
from dataclasses import dataclass

import numpy as np
from sympy import MatrixExpr, OneMatrix

from symgrad_codegen import Index
from symgrad_codegen import Reshape as ReshapeStatement

from ..sympy_algebra import (NoMatrixForm, as_scalar, flatten_index, mat_mul, matrix_shape,
                             transpose_of, unflatten)
from ..types import resolve_dim
from .base import Primitive


@dataclass(frozen=True)
class Reshape(Primitive):
    shape: tuple
    label = "reshape"
    fusion = "view"

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, self.shape

    def vjp(self, node, k, g):
        return reshape_to(g, node.inputs[0].shape)

    def evaluate(self, node, args, bindings):
        return args[0].reshape(tuple(resolve_dim(d, bindings) for d in self.shape))

    def view_index(self, node, index):
        """Where the reshape only adds or drops axes of size 1, the input's
        subscripts; else None (read from the reshaped buffer)."""
        x = node.inputs[0]
        if not _size_one_axes_only(node.shape, x.shape):
            return None
        kept = iter(e for e, d in zip(index, node.shape) if d != 1)
        return tuple(Index(None) if d == 1 else next(kept) for d in x.shape)

    def lower(self, node, low, loop):
        name = low.name("r")
        low.emit(ReshapeStatement(name, low.value(node.inputs[0]), low.sizes(node.shape)))
        return name

    def index_form(self, node, reader, idx):
        x = node.inputs[0]
        if _size_one_axes_only(node.shape, x.shape):
            kept = iter(i for i, d in zip(idx, node.shape) if d != 1)
            return reader.at(x, tuple(0 if d == 1 else next(kept) for d in x.shape))
        return reader.at(x, unflatten(flatten_index(idx, node.shape), x.shape))

    def matrix_form(self, node, forms):
        form, shape = forms[node.inputs[0]], matrix_shape(node.shape)
        if shape is None:
            return as_scalar(form) if isinstance(form, MatrixExpr) else form
        if not isinstance(form, MatrixExpr):
            return mat_mul(form, OneMatrix(*shape))
        if form.shape == shape:
            return form
        if form.shape[::-1] == shape and 1 in shape:
            return transpose_of(form)
        raise NoMatrixForm(f"no matrix form for {node.describe()}")


def _size_one_axes_only(shape, other):
    """Whether ``shape`` is ``other`` with axes of size 1 added or dropped."""
    return [d for d in shape if d != 1] == [d for d in other if d != 1]


def reshape_to(x, shape):
    """``x`` viewed with ``shape`` (of equal size, checked by the caller)."""
    return x if tuple(x.shape) == tuple(shape) else Reshape(tuple(shape))(x)


@dataclass(frozen=True)
class Transpose(Primitive):
    perm: tuple
    label = "transpose"
    fusion = "view"

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, tuple(x.shape[a] for a in self.perm)

    def vjp(self, node, k, g):
        return permute(g, tuple(np.argsort(self.perm).tolist()))

    def evaluate(self, node, args, bindings):
        return np.transpose(args[0], self.perm)

    def view_index(self, node, index):
        inner = [None] * node.ndim
        for a, p in enumerate(self.perm):
            inner[p] = index[a]
        return tuple(inner)

    def lower(self, node, low, loop):
        return low.materialise(node)

    def index_form(self, node, reader, idx):
        return reader.at(node.inputs[0], self.view_index(node, idx))

    def matrix_form(self, node, forms):
        return transpose_of(forms[node.inputs[0]])


def permute(x, perm):
    """``x`` with its axes permuted (``x`` itself for the identity)."""
    return x if tuple(perm) == tuple(range(x.ndim)) else Transpose(tuple(perm))(x)
