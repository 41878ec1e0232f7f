"""Call-time bounds of static indices on named dimensions.

``x[k]`` on a fixed-size axis is checked when it is built. On a named axis
("n") the size is known only at call time, and a compiled kernel reads
``x[k]`` unchecked, so a function collects every such index once, when it is
made, and checks it against the bound sizes before any backend runs: an index
out of range raises IndexError, as NumPy does, instead of reading or writing
outside the array.
"""
from dataclasses import dataclass

import sympy

from .graph import toposort
from .ops import Slice, SliceAdd


@dataclass(frozen=True)
class IndexBound:
    """The static index ``index`` on axis ``axis`` (size ``size``, symbolic) of ``what``."""
    what: str
    axis: int
    size: sympy.Expr
    index: object          # an int, or a (start, stop, step) slice of symbolic bounds

    def violated(self, bindings):
        """The error message when the bound sizes put the index out of range, else None."""
        n = int(self.size.xreplace(bindings))  # bindings: {Symbol: Integer}
        if isinstance(self.index, int):
            if -n <= self.index < n:
                return None
            shown = self.index
        else:
            start, stop, step = (sympy.sympify(b).xreplace(bindings) for b in self.index)
            if step > 0 and 0 <= start <= stop <= n or step < 0 and -1 <= stop <= start < n:
                return None
            shown = f"{start}:{stop}:{step}"
        return (f"index {shown} is out of bounds for axis {self.axis} of {self.what} "
                f"with size {n} (named dimension {self.size})")


def index_bounds(outputs):
    """The IndexBound of every static index into a named axis in the graph of ``outputs``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> [b.index for b in index_bounds([x[-1] + x[2]])]
    [-1, 2]
    """
    bounds = []
    for node in toposort(outputs):
        if isinstance(node.op, Slice):
            shape, what = node.inputs[0].shape, node.inputs[0].describe()
        elif isinstance(node.op, SliceAdd):
            shape, what = node.op.shape, f"the gradient {node.describe()}"
        else:
            continue
        for axis, (k, d) in enumerate(zip(node.op.index, shape)):
            if not isinstance(d, int) and k != (0, d, 1):
                bounds.append(IndexBound(what, axis, sympy.sympify(d), k))
    return bounds


def check_index_bounds(bounds, bindings):
    """Raise IndexError for the first bound the named-dimension sizes ``bindings`` break."""
    bindings = {d: sympy.Integer(n) for d, n in bindings.items()}
    for bound in bounds:
        message = bound.violated(bindings)
        if message is not None:
            raise IndexError(message)
