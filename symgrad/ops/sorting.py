"""``Argsort``: the positions that sort an array along its last axis (stable,
nan last, as ``np.argsort(x, axis=-1, kind="stable")``). Its output is an
integer array, so no gradient flows through it: ``sg.sort`` takes the values
along the axis at these positions (a gather), and the gather's adjoint, a
scatter, carries the gradient (see ``symgrad/ordering.py``)."""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import Argsort as ArgsortStatement

from ..errors import ShapeError
from .base import Primitive


class argsort(sympy.Function):  # noqa: N801 - printed as the function's name
    """``argsort(body, (k, 0, n - 1), j)``: the ``k`` at which ``body`` takes its
    ``j``-th smallest value (ties in order of ``k``, nan last); ``.doit()``
    evaluates it once the limits, ``j`` and the body are numbers."""

    def doit(self, **hints):
        body, (k, lo, hi), j = self.args
        if not (lo.is_Integer and hi.is_Integer and j.is_Integer):
            return self
        values = [body.xreplace({k: i}).doit() for i in range(int(lo), int(hi) + 1)]
        if not all(v.is_number for v in values):
            return self
        order = np.argsort(np.array([float(v) for v in values]), kind="stable")
        return sympy.Integer(int(lo) + int(order[int(j)]))


@dataclass(frozen=True)
class Argsort(Primitive):
    """int64 positions sorting ``x`` along its last axis: ``x[..., out[..., j]]``
    is the ``j``-th smallest of its row (stable: ties keep their order; nan last)."""
    label = "argsort"

    def type(self, inputs):
        (x,) = inputs
        if x.ndim == 0:
            raise ShapeError(f"argsort along the last axis of the 0-d {x.describe()}: it has "
                             "no axis; reshape it to (1,) first")
        return "int64", x.shape

    def vjp(self, node, k, g):
        return None  # piecewise constant, and an integer: no gradient flows

    def evaluate(self, node, args, bindings):
        return np.argsort(args[0], axis=-1, kind="stable").astype(np.int64, copy=False)

    def lower(self, node, low, loop):
        name = low.name("b")
        x = node.inputs[0]
        low.emit(ArgsortStatement(name, low.value(x), low.sizes(x.shape)))
        low.fresh.add(name)
        return name

    def index_form(self, node, reader, idx):
        x = node.inputs[0]
        (k,) = reader.indices.fresh(1)
        ((_, lo, hi),) = reader.limits((k,), (x.shape[-1],))
        return argsort(reader.at(x, tuple(idx[:-1]) + (k,)), sympy.Tuple(k, lo, hi), idx[-1])
