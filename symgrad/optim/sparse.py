"""Row-sparse gradients for parameters used only through gathers (embeddings).

The gradient of ``E[idx]`` with respect to ``E`` is a scatter-add of the
gathered rows' gradients into a vocabulary-sized array of zeros. Taking the
gradient with respect to the gathered rows instead, and keeping the indices
beside them, gives the same information without that array: a
:class:`SparseRows`, which optimisers apply row by row.
"""
import numpy as np

from ..autodiff import grad
from ..creation import arange
from ..elementwise_ops import maximum, neq, where
from ..errors import DisconnectedInputError
from ..graph import Expr, toposort
from ..ops import Argsort, Gather, Scan
from ..tensor_ops import broadcast_to, concatenate, reshape


class SparseRows:
    """A row-sparse gradient of a parameter of ``shape``: ``values[k]`` belongs to
    row ``indices[k]``, and repeated rows add up (a scatter-add not yet done).

    >>> import numpy as np
    >>> g = SparseRows([2, 0, 2], np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), (4, 2))
    >>> g.to_dense()
    array([[2., 2.],
           [0., 0.],
           [4., 4.],
           [0., 0.]])
    >>> g.coalesce().indices, g.coalesce().values
    (array([0, 2]), array([[2., 2.],
           [4., 4.]]))
    """

    __slots__ = ("indices", "values", "shape")

    def __init__(self, indices, values, shape):
        indices, values = np.asarray(indices), np.asarray(values)
        shape = tuple(int(d) for d in shape)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"SparseRows indices must be a 1-d integer array, got dtype "
                            f"{indices.dtype} and shape {indices.shape}")
        if not shape or values.shape != (len(indices),) + shape[1:]:
            raise ValueError(f"SparseRows values have shape {values.shape}; for "
                             f"{len(indices)} indices into shape {shape} they must have "
                             f"shape {(len(indices),) + shape[1:]}")
        if indices.size and (indices.min() < 0 or indices.max() >= shape[0]):
            bad = indices[(indices < 0) | (indices >= shape[0])][0]
            raise IndexError(f"SparseRows index {bad} is out of range [0, {shape[0]})")
        self.indices, self.values, self.shape = indices.astype(np.int64), values, shape

    def __repr__(self):
        return f"SparseRows({len(self.indices)} rows of shape {self.shape})"

    def coalesce(self):
        """The same gradient with each row once, rows sorted, repeats summed.

        >>> SparseRows([1, 1], [[1.0], [2.0]], (3, 1)).coalesce().values
        array([[3.]])
        """
        rows, where = np.unique(self.indices, return_inverse=True)
        summed = np.zeros((len(rows),) + self.values.shape[1:], dtype=self.values.dtype)
        np.add.at(summed, where.ravel(), self.values)
        return SparseRows(rows, summed, self.shape)

    def to_dense(self):
        """The dense gradient: zeros with every row's values added at its index.

        >>> SparseRows([2], [[1.0]], (3, 1)).to_dense().ravel()
        array([0., 0., 1.])
        """
        out = np.zeros(self.shape, dtype=self.values.dtype)
        np.add.at(out, self.indices, self.values)
        return out


def gathers_of(cost, param):
    """The gathers ``param[idx]`` through which ``cost`` uses ``param``, or None
    if ``cost`` also uses ``param`` some other way (then its gradient is dense).

    >>> import symgrad as sg
    >>> E, idx = sg.matrix("E", 100, 4), sg.vector("idx", 3, dtype="int64")
    >>> len(gathers_of(E[idx].sum() + E[idx[:1]].sum(), E))
    2
    >>> gathers_of(E[idx].sum() + sg.nn.l2(E), E) is None
    True
    """
    gathers = []
    for node in toposort([cost]):
        if param not in node.inputs:
            continue
        if not (isinstance(node.op, Gather) and node.inputs[0] is param):
            return None
        gathers.append(node)
    return gathers


def sparse_grad(cost, param):
    """The gradient of ``cost`` with respect to ``param`` as two expressions
    ``(index, rows)``: the gradient is ``rows[k]`` at row ``index[k]``, repeats
    adding up. ``param`` must be used only through gathers ``param[idx]``.

    Compile both (with the rest of a training step) and wrap their values in
    :class:`SparseRows`; no vocabulary-sized array is ever built.

    >>> import numpy as np, symgrad as sg
    >>> E, idx = sg.matrix("E", 1000, 2), sg.vector("idx", "n", dtype="int64")
    >>> index, rows = sg.optim.sparse_grad((E[idx] ** 2).sum(), E)
    >>> f = sg.function([E, idx], [index, rows], backend="numpy")
    >>> E0 = np.ones((1000, 2))
    >>> g = sg.optim.SparseRows(*f(E0, [7, 3, 7]), E0.shape)
    >>> g.coalesce().indices, g.coalesce().values
    (array([3, 7]), array([[2., 2.],
           [4., 4.]]))
    """
    if not isinstance(param, Expr):
        raise TypeError(f"sparse_grad needs a variable, got {type(param).__name__}")
    gathers = gathers_of(cost, param)
    if gathers is None:
        raise ValueError(f"cost {cost.name!r} uses {param.describe()} other than through "
                         "gathers param[idx], so its gradient is not row-sparse; use sg.grad")
    if not gathers:
        raise DisconnectedInputError(f"cost {cost.name!r} does not depend on "
                                     f"{param.describe()}")
    row_grads = grad(cost, gathers)
    index = concatenate([reshape(g.inputs[1], (-1,)) for g in gathers])
    rows = concatenate([reshape(r, (-1,) + param.shape[1:]) for r in row_grads])
    return index, rows


def coalesced(index, rows):
    """The symbolic form of :meth:`SparseRows.coalesce` for a compiled update,
    without a row per vocabulary entry: ``(order, sums)``, the indices sorted
    (stably) and, at each position, the sum of the rows of its index so far in
    that order. The last position of each index holds its whole gradient,
    summed in the order of the rows as ``coalesce`` sums them; writing rows at
    ``order`` with ``SetRows`` (the last write kept) applies each once.

    >>> import numpy as np, symgrad as sg
    >>> idx, rows = sg.vector("idx", "n", dtype="int64"), sg.matrix("rows", "n", 1)
    >>> order, sums = coalesced(idx, rows)
    >>> f = sg.function([idx, rows], [order, sums], backend="numpy")
    >>> o, s = f([7, 3, 7], [[1.0], [2.0], [4.0]]); o, s.ravel()
    (array([3, 7, 7]), array([2., 1., 5.]))
    """
    by_row = Argsort()(index)
    order, rows = Gather()(index, by_row), Gather()(rows, by_row)
    # a position starts its index's run when it differs from the one before
    # (position 0 compares with itself: Scan never reads its coefficient)
    before = Gather()(order, maximum(arange(order.shape[0]) - 1, 0))
    keep = where(neq(order, before), 0, 1)
    keep = broadcast_to(reshape(keep.astype(rows.dtype), (-1,) + (1,) * (rows.ndim - 1)),
                        rows.shape)
    # sums[j] = keep[j] * sums[j-1] + rows[j]: 0 * sums[j-1] restarts a run
    return order, Scan(0)(keep, rows)
