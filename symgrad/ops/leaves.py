"""Leaves of a graph: ``Input`` (a variable), ``Constant`` and ``DimSize``
(the size of a named dimension, known at call time)."""
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import OneMatrix

from ..graph import Expr, toposort
from ..types import as_dtype
from ..sympy_algebra import NoMatrixForm, mat_mul, matrix_shape, number, symbol_for
from .base import Leaf


@dataclass(frozen=True)
class Input(Leaf):
    name: str
    uid: int

    @property
    def label(self):
        return self.name

    def text(self):
        return f"input {self.name}"

    def graph_text(self):
        return self.name

    def evaluate(self, node, args, bindings):
        raise ValueError(f"input {node.describe()} has no value")

    def index_form(self, node, reader, idx):
        return symbol_for(self.name, node.shape, indexed=True)[idx] if idx else \
            symbol_for(self.name, ())

    def matrix_form(self, node, forms):
        return symbol_for(self.name, node.shape)


def free_inputs(outputs):
    """The input variables that ``outputs`` depend on, in graph order."""
    return [n for n in toposort(outputs) if isinstance(n.op, Input)]


class Constant(Leaf):
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

    def text(self):
        value = self.value
        return f"constant {value.item()!r}" if value.ndim == 0 else \
            f"constant {value.tolist()!r}" if value.size <= 6 else "constant array"

    def graph_text(self):
        return self.text().removeprefix("constant ")

    def evaluate(self, node, args, bindings):
        return self.value

    def index_form(self, node, reader, idx):
        value = self.value
        if value.size and (value == value.flat[0]).all():
            return number(value.flat[0])
        return sympy.Array(value.tolist())[idx]

    def matrix_form(self, node, forms):
        value = self.value
        if value.ndim == 0:
            return number(value)
        if value.ndim > 2:
            raise NoMatrixForm(f"constant of rank {value.ndim}")
        if value.size and (value == value.flat[0]).all():
            return mat_mul(number(value.flat[0]), OneMatrix(*matrix_shape(node.shape)))
        return sympy.ImmutableMatrix(value if value.ndim == 2 else value[:, None])


def constant(value, dtype=None):
    """A constant from a number or an array (copied; later changes to it are not seen).

    >>> import symgrad as sg
    >>> c = sg.constant([1.0, 2.0])
    >>> c.shape, c.dtype
    ((2,), 'float64')
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a constant must be numeric, got dtype {arr.dtype} from {value!r}")
    if dtype is None:
        dtype = "float64" if arr.dtype.kind == "f" else "int64"
        if arr.dtype.name in ("float32", "int32"):
            dtype = arr.dtype.name
    dtype = as_dtype(dtype)
    return Expr(Constant(arr.astype(dtype)), (), dtype, arr.shape)


@dataclass(frozen=True)
class DimSize(Leaf):
    dim: sympy.Symbol

    @property
    def label(self):
        return f"size({self.dim})"

    def text(self):
        return self.label

    def evaluate(self, node, args, bindings):
        return np.int64(bindings[self.dim])

    def index_form(self, node, reader, idx):
        return self.dim

    def matrix_form(self, node, forms):
        return self.dim
