"""Max and min over axes (``Reduce``) and ``ArgOneHot``, the mask of the
first arg-max (arg-min) that routes a max's gradient. (Sums are einsums:
see ``contraction.py``.) A reduction shares the loop nest of its operand's
producer."""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import ArgOneHot as ArgOneHotStatement, Index

from ..errors import ShapeError
from ..sympy_algebra import REDUCTIONS
from ..types import FLOAT_DTYPES, is_float
from .base import Primitive
from .contraction import product_formula
from .elementwise import apply
from .views import reshape_to


def _reduced_element(node, reader, idx, kept):
    """The reduction of ``node``'s operand over its axes at ``idx``: the chosen
    element (kind "max"/"min") or the chosen position ("argmax"/"argmin");
    ``kept`` gives the operand's other indices."""
    x, op = node.inputs[0], node.op
    red = reader.indices.fresh(len(op.axes))
    full = iter(red)
    inner = tuple(next(full) if a in op.axes else next(kept) for a in range(x.ndim))
    limits = reader.limits(red, [x.shape[a] for a in op.axes])
    return x, inner, [sympy.Tuple(*lim) for lim in limits]


@dataclass(frozen=True)
class Reduce(Primitive):
    kind: str  # "max" or "min"
    axes: tuple
    fusion = "reduction"

    @property
    def label(self):
        return self.kind

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, tuple(d for a, d in enumerate(x.shape) if a not in self.axes)

    def vjp(self, node, k, g):
        x = node.inputs[0]
        kept = reshape_to(g, tuple(1 if a in self.axes else d for a, d in enumerate(x.shape)))
        return apply(product_formula(2), [arg_one_hot(x, self.kind, self.axes), kept], "mul")

    def evaluate(self, node, args, bindings):
        x = args[0]
        empty = [a for a in self.axes if x.shape[a] == 0]
        if empty:
            raise ShapeError(f"{self.kind} over the empty axis {empty[0]} of "
                             f"{node.inputs[0].describe()}: the axis has size 0 in this call, "
                             f"and {self.kind} has no value over nothing; pass a non-empty array")
        return getattr(np, self.kind)(x, axis=self.axes)

    def lower(self, node, low, loop):
        kept = [a for a in range(node.inputs[0].ndim) if a not in self.axes]
        if node.dtype in FLOAT_DTYPES:
            fill = -np.inf if self.kind == "max" else np.inf
        else:
            info = np.iinfo(node.dtype)
            fill = int(info.min if self.kind == "max" else info.max)
        low.reduce_into(loop, node, tuple(Index(a) for a in kept), self.kind, fill)

    def named_axes(self, node):
        """(axis, size) of the reduced named dimensions: a call where one is 0 has no value."""
        x = node.inputs[0]
        return [(a, x.shape[a]) for a in self.axes if not isinstance(x.shape[a], int)]

    def index_form(self, node, reader, idx):
        x, inner, limits = _reduced_element(node, reader, idx, iter(idx))
        return REDUCTIONS[self.kind](reader.at(x, inner), *limits)


@dataclass(frozen=True)
class ArgOneHot(Primitive):
    """1.0 at the first arg-max (arg-min) over ``axes``, 0.0 elsewhere."""
    kind: str
    axes: tuple
    label = "argonehot"

    def type(self, inputs):
        (x,) = inputs
        return (x.dtype if is_float(x.dtype) else "float64"), x.shape

    def vjp(self, node, k, g):
        return None  # piecewise constant: no gradient flows

    named_axes = Reduce.named_axes  # an empty named axis has no arg-max (sg.argmax raises)

    def evaluate(self, node, args, bindings):
        x, axes = args[0], self.axes
        rest = [a for a in range(x.ndim) if a not in axes]
        moved = np.transpose(x, rest + list(axes))
        flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
        pick = np.argmax(flat, -1) if self.kind == "max" else np.argmin(flat, -1)
        onehot = np.zeros(flat.shape, dtype=node.dtype)
        np.put_along_axis(onehot, pick[..., None], 1, axis=-1)
        return np.transpose(onehot.reshape(moved.shape), np.argsort(rest + list(axes)))

    def lower(self, node, low, loop):
        name = low.name("b")
        low.emit(ArgOneHotStatement(name, low.value(node.inputs[0]), node.ndim, self.axes,
                                    self.kind, node.dtype))
        low.fresh.add(name)
        return name

    def index_form(self, node, reader, idx):
        kept = iter(i for a, i in enumerate(idx) if a not in self.axes)
        x, inner, limits = _reduced_element(node, reader, idx, kept)
        chosen = REDUCTIONS["arg" + self.kind](reader.at(x, inner), *limits)
        target = [idx[a] for a in self.axes]
        return sympy.Piecewise((1, sympy.Eq(target[0] if len(target) == 1 else
                                            sympy.Tuple(*target), chosen)), (0, True))


def arg_one_hot(x, kind, axes):
    """1.0 at the first arg-max (``kind="max"``) / arg-min over ``axes``, else 0.0."""
    return ArgOneHot(kind, axes)(x)
