"""``Cumsum``: the running sum along one axis, forward or reversed. It is
linear, and its adjoint is the cumulative sum the other way round."""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import Alloc, Compute, Index, Load, Store

from .base import Primitive
from .contraction import product_formula


@dataclass(frozen=True)
class Cumsum(Primitive):
    """``out[..., i, ...] = x[..., 0, ...] + ... + x[..., i, ...]`` along ``axis``
    (``reverse``: ``x[..., i, ...] + ... + x[..., n-1, ...]``)."""
    axis: int
    reverse: bool = False
    label = "cumsum"

    def text(self):
        return f"cumsum axis={self.axis}" + (" reversed" if self.reverse else "")

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, x.shape

    def vjp(self, node, k, g):
        return Cumsum(self.axis, not self.reverse)(g)

    def evaluate(self, node, args, bindings):
        x = args[0]
        # float32 accumulates in float64 and rounds once, as the compiled kernel does
        wide = np.float64 if node.dtype == "float32" else None
        if self.reverse:
            x = np.flip(x, self.axis)
        out = np.cumsum(x, axis=self.axis, dtype=wide)
        if self.reverse:
            out = np.flip(out, self.axis)
        return out.astype(node.dtype, copy=False)

    def lower(self, node, low, loop):
        """One pass in loop order (the loop nest runs row-major, so the axis is
        walked in order): running sums go to a buffer one longer along the axis
        (its first, or last, entry 0), then the result is copied out of it."""
        (x,) = node.inputs
        a, n = self.axis, low.size(x.shape[self.axis])
        acc_dtype = "float64" if node.dtype == "float32" else node.dtype
        longer = tuple(n + 1 if b == a else low.size(d) for b, d in enumerate(x.shape))
        running = low.name("b")
        low.emit(Alloc(running, acc_dtype, longer, 0))
        at = low.axes(0, x.ndim)

        def along(offset, step):
            return at[:a] + (Index(a, offset, step),) + at[a + 1:]
        if self.reverse:  # running[n-1-i] = running[n-i] + x[n-1-i]
            read, write, source = along(n, -1), along(n - 1, -1), along(n - 1, -1)
        else:  # running[i+1] = running[i] + x[i]
            read, write, source = at, along(1, 1), at
        add = low.loop(x.shape)
        previous, value, total = low.name("v"), low.access(add, x, source), low.name("v")
        add.body += [Load(previous, running, read),
                     Compute(total, _SUM, (previous, value), acc_dtype, x.dtype != acc_dtype),
                     Store(running, write, total, "=")]
        low.emit_loop(add)
        out = low.alloc(node)
        copy = low.loop(x.shape)
        item, result = low.name("v"), low.name("v")
        copy.body += [Load(item, running, at if self.reverse else along(1, 1)),
                      Compute(result, product_formula(1), (item,), node.dtype,
                              acc_dtype != node.dtype),
                      Store(out, at, result, "=")]
        low.emit_loop(copy)
        return out

    def index_form(self, node, reader, idx):
        x = node.inputs[0]
        (k,) = reader.indices.fresh(1)
        i, n = idx[self.axis], x.shape[self.axis]
        lo, hi = (i, n - 1) if self.reverse else (0, i)
        term = reader.at(x, idx[:self.axis] + (k,) + idx[self.axis + 1:])
        return sympy.Sum(term, (k, lo, hi))


_T = sympy.symbols("t0 t1", real=True)
_SUM = sympy.Lambda(_T, _T[0] + _T[1])
