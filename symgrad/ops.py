"""The closed set of primitive ops (DESIGN.md "The graph").

1. ``Elemwise``: a SymPy ``Lambda`` applied with NumPy broadcasting.
2. ``Contract``: an einsum (matmul, dot, outer, sums over axes).
3. ``Reduce``: max / min over axes, and ``ArgOneHot``, the first arg-max mask.
4. Structural, all linear: ``Reshape``, ``Transpose``, ``Broadcast``,
   ``Gather`` / ``ScatterAdd``, ``TakeAlong`` / ``PutAlong``, ``Concatenate``,
   ``Slice`` / ``SliceAdd``.

Leaves: ``Input`` (a variable), ``Constant`` and ``DimSize`` (the size of a
named dimension, known at call time). Everything in the public API is built
from these; their derivatives live in ``autodiff.py``, their NumPy meaning in
``numpy_backend.py``.
"""
from dataclasses import dataclass

import numpy as np
import sympy

from .graph import Op, toposort


@dataclass(frozen=True)
class Input(Op):
    name: str
    uid: int

    @property
    def label(self):
        return self.name


def free_inputs(outputs):
    """The input variables that ``outputs`` depend on, in graph order."""
    return [n for n in toposort(outputs) if isinstance(n.op, Input)]


class Constant(Op):
    """A fixed array; equal constants are one op (hashed by dtype, shape, bytes)."""

    label = "constant"

    def __init__(self, value):
        value = np.array(value, copy=True)
        value.flags.writeable = False
        self.value = value
        self._key = (value.dtype.str, value.shape, value.tobytes())

    def __eq__(self, other):
        return isinstance(other, Constant) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"Constant({self.value!r})"


@dataclass(frozen=True)
class DimSize(Op):
    dim: sympy.Symbol

    @property
    def label(self):
        return f"size({self.dim})"


@dataclass(frozen=True)
class Elemwise(Op):
    formula: sympy.Lambda
    fname: str
    dtype: str

    @property
    def label(self):
        return self.fname


@dataclass(frozen=True)
class Contract(Op):
    spec: str  # explicit einsum spec, e.g. "ab,bc->ac"; no letter twice in one operand
    label = "einsum"

    @property
    def operands_and_output(self):
        ins, out = self.spec.split("->")
        return ins.split(","), out


@dataclass(frozen=True)
class Reduce(Op):
    kind: str  # "max" or "min"
    axes: tuple

    @property
    def label(self):
        return self.kind


@dataclass(frozen=True)
class ArgOneHot(Op):
    """1.0 at the first arg-max (arg-min) over ``axes``, 0.0 elsewhere."""
    kind: str
    axes: tuple
    label = "argonehot"


@dataclass(frozen=True)
class Reshape(Op):
    shape: tuple
    label = "reshape"


@dataclass(frozen=True)
class Transpose(Op):
    perm: tuple
    label = "transpose"


@dataclass(frozen=True)
class Broadcast(Op):
    shape: tuple
    label = "broadcast"


@dataclass(frozen=True)
class Gather(Op):
    """``x[idx]`` along axis 0: inputs (x, idx)."""
    label = "gather"


@dataclass(frozen=True)
class ScatterAdd(Op):
    """zeros((rows,) + g.shape[idx.ndim:]) with g's rows added at idx: inputs (g, idx)."""
    rows: object
    label = "scatter_add"


@dataclass(frozen=True)
class TakeAlong(Op):
    """``x[..., idx[...]]``: inputs (x, idx) with x.shape = idx.shape + (C,)."""
    label = "pick"


@dataclass(frozen=True)
class PutAlong(Op):
    """zeros(g.shape + (size,)) with g added at [..., idx[...]]: inputs (g, idx)."""
    size: object
    label = "put_along"


@dataclass(frozen=True)
class Concatenate(Op):
    axis: int
    label = "concatenate"


@dataclass(frozen=True)
class Slice(Op):
    """Static basic indexing; ``index`` has one entry per input axis: an int
    (the axis is dropped) or a ``(start, stop, step)`` triple of resolved bounds."""
    index: tuple
    label = "slice"


@dataclass(frozen=True)
class SliceAdd(Op):
    """zeros(shape) with g written at ``index`` (the transpose of Slice)."""
    shape: tuple
    index: tuple
    label = "slice_add"
