"""``SetRows``: ``x`` with rows replaced, ``out = x; out[idx[j]] = rows[j]`` for
j in order, so where an index repeats the last of its rows is the one kept
(NumPy leaves the winner of ``x[idx] = rows`` unspecified; here it is fixed).

Optimisers write the rows of an embedding a batch touched with it; lowered as
the new value of a shared variable's update, it writes those rows straight into
the variable's array, with no table-sized copy (``Lowering.in_place``).

Its vjp is structure: the set is linear in ``x`` and in ``rows``; ``x`` gets
the upstream gradient with the replaced rows zeroed (the same op, setting
zeros), and occurrence j of ``rows`` gets row ``idx[j]`` of it if j is the last
write to that row, else zero.
"""
import math
from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import ShapeError
from ..types import same_dim
from .base import Primitive
from .contraction import broadcast_to_shape
from .cumulative import Cumsum
from .indexing import Gather, _check_indices
from .leaves import constant
from .views import reshape_to


@dataclass(frozen=True)
class SetRows(Primitive):
    """``x`` with ``x[idx[j]] = rows[j]`` along axis 0, the last write to a row
    kept: inputs (x, idx, rows) with ``rows.shape == idx.shape + x.shape[1:]``."""
    label = "set_rows"

    def type(self, inputs):
        x, idx, rows = inputs
        want = idx.shape + x.shape[1:]
        if (x.ndim == 0 or rows.dtype != x.dtype or rows.ndim != len(want)
                or not all(map(same_dim, rows.shape, want))):
            raise ShapeError(f"set_rows of {x.describe()} at {idx.describe()} needs rows of "
                             f"dtype {x.dtype} and shape idx.shape + x.shape[1:] = {want}, got "
                             f"{rows.describe()}")
        return x.dtype, x.shape

    def vjp(self, node, k, g):
        from ..elementwise_ops import eq, where  # they build on the ops package

        x, idx, rows = node.inputs
        if k == 1:
            return None  # integer positions
        zeros = broadcast_to_shape(constant(np.zeros((), g.dtype)), rows.shape)
        if k == 0:
            return SetRows()(g, idx, zeros)
        # occurrence j wins row idx[j] when the last position written there is j
        flat = reshape_to(idx, (math.prod(idx.shape),))
        ones = broadcast_to_shape(constant(np.ones((), "float64")), flat.shape)
        position = Cumsum(0)(ones)  # j + 1, exact as a float
        last = SetRows()(broadcast_to_shape(constant(np.zeros((), "float64")),
                                            (x.shape[0],)), flat, position)
        won = reshape_to(eq(Gather()(last, flat), position),
                         idx.shape + (1,) * (rows.ndim - idx.ndim))
        return where(won, Gather()(g, idx), zeros)

    def evaluate(self, node, args, bindings):
        x, idx, rows = args
        _check_indices(idx, x.shape[0], node)
        flat = idx.reshape(-1)
        # the last occurrence of each index, written once
        _, first_from_end = np.unique(flat[::-1], return_index=True)
        last = len(flat) - 1 - first_from_end
        out = np.array(x, dtype=node.dtype)
        out[flat[last]] = rows.reshape((len(flat),) + x.shape[1:])[last]
        return out

    def lower(self, node, low, loop):
        x, idx, rows = node.inputs
        source = low.value(x)
        name = low.in_place(node)
        if name is None:
            name = low.alloc(node)
        if name != source:  # the rows not set keep x's values
            low.copy_loop(node, node.shape, x, low.axes(0, node.ndim), name,
                          low.axes(0, node.ndim))
        k = idx.ndim
        # rows in order: a repeated index keeps the last row written
        low.copy_loop(node, rows.shape, rows, low.axes(0, rows.ndim), name,
                      (low.AT,) + low.axes(k, rows.ndim), index=(idx, low.axes(0, k),
                                                                 x.shape[0]))
        return name

    def index_form(self, node, reader, idx):
        x, ix, rows = node.inputs
        pos = reader.indices.fresh(ix.ndim)
        entry = sympy.Lambda(pos, sympy.Tuple(reader.at(ix, pos), reader.at(rows, pos + idx[1:])))
        return set_rows(reader.at(x, idx), entry, sympy.Tuple(*ix.shape), idx[0])


class set_rows(sympy.Function):  # noqa: N801 - printed as the function's name
    """``set_rows(x_i, Lambda(j, (idx_j, rows_j)), sizes, i)``: ``rows_j`` for the
    last ``j`` (row-major over ``sizes``) with ``idx_j == i``; ``x_i`` if none."""
