"""``Scan``: the first-order linear recurrence along one axis,

    forward:   y[0] = b[0],      y[i] = a[i] * y[i-1] + b[i]
    reversed:  y[n-1] = b[n-1],  y[i] = a[i+1] * y[i+1] + b[i]

``a[i]`` is the coefficient of the link between positions i-1 and i in both
directions (``a[0]`` is never read), so the two directions are each other's
transpose with the same ``a``: y = L b with L[i, j] = a[j+1] * ... * a[i]
(j <= i), and Lᵀ is the reversed recurrence. Cumsum is the case a = 1;
cumprod and prod are compositions (``symgrad/reductions.py``). Nothing divides,
so products with zeros have exact gradients.

Its vjp is structure, not a formula: the recurrence is linear in ``b``, so the
gradient for ``b`` is the reversed scan ``c`` of the upstream gradient; ``a[k]``
scales what reaches position k from its neighbour, so its gradient is ``c``
times the output shifted by one along the axis.
"""
from dataclasses import dataclass

import numpy as np
import sympy

from symgrad_codegen import Alloc, Compute, Index, Load, Loop, Store

from ..errors import ShapeError
from ..types import result_dtype, same_dim
from .base import Primitive
from .contraction import product_formula
from .slicing import SliceAdd, slice_axis


@dataclass(frozen=True)
class Scan(Primitive):
    """``y = scan(a, b)`` along ``axis`` (see the module docstring); ``a`` and
    ``b`` have one shape and dtype."""
    axis: int
    reverse: bool = False
    label = "scan"

    def text(self):
        return f"scan axis={self.axis}" + (" reversed" if self.reverse else "")

    def type(self, inputs):
        a, b = inputs
        if len(a.shape) != len(b.shape) or not all(map(same_dim, a.shape, b.shape)) \
                or a.dtype != b.dtype:
            raise ShapeError(f"scan needs coefficients and terms of one shape and dtype, got "
                             f"{a.describe()} and {b.describe()}")
        if not 0 <= self.axis < a.ndim:
            raise ShapeError(f"scan along axis {self.axis} of {a.describe()}, which has "
                             f"{a.ndim} dimension(s)")
        return result_dtype([a.dtype, b.dtype]), b.shape

    def vjp(self, node, k, g):
        a, _ = node.inputs
        c = Scan(self.axis, not self.reverse)(a, g)  # Lᵀ g
        if k == 1:
            return c
        # forward: a[k] multiplies y[k-1] into y[k]; reversed: y[k] into y[k-1]
        if self.reverse:
            return shift(c, self.axis) * node
        return c * shift(node, self.axis)

    def evaluate(self, node, args, bindings):
        a, b = (np.moveaxis(np.asarray(v, dtype=_wide(node.dtype)), self.axis, 0) for v in args)
        out = np.empty_like(b)
        n = b.shape[0]
        with np.errstate(invalid="ignore", over="ignore"):  # IEEE, as the compiled loop
            if self.reverse:
                carry = 0
                for i in range(n - 1, -1, -1):
                    out[i] = carry + b[i]
                    carry = a[i] * out[i]
            else:
                for i in range(n):
                    out[i] = b[i] if i == 0 else a[i] * out[i - 1] + b[i]
        return np.moveaxis(out, 0, self.axis).astype(node.dtype, copy=False)

    def lower(self, node, low, loop):
        """One pass in loop order (the loop nest runs row-major, so the axis is
        walked in order; a reversed scan reads at n-1-i). A running buffer one
        longer along the axis, in the accumulation dtype, carries what flows to
        the next position. Forward, that is y[i-1], multiplied by a[i] at i
        except at the first position (a flag buffer, 1 at 0, says which: an
        inf in a[0] must not make 0 * inf); reversed, it is a[i+1] * y[i+1],
        formed where a[i+1] is read, so nothing multiplies the initial 0."""
        a, b = node.inputs
        ax, n = self.axis, low.size(b.shape[self.axis])
        acc = _wide(node.dtype)
        longer = tuple(n + 1 if k == ax else low.size(d) for k, d in enumerate(b.shape))
        running = low.name("b")
        low.emit(Alloc(running, acc, longer, 0))
        at = low.axes(0, b.ndim)

        def along(offset, step):
            return at[:ax] + (Index(ax, offset, step),) + at[ax + 1:]
        out = low.alloc(node)
        scan = low.loop(b.shape)
        cast_in = node.dtype != acc
        if self.reverse:  # y = running[i+1] + b; running[i] = a * y
            here, carried_in, carried_out = along(n - 1, -1), along(n, -1), along(n - 1, -1)
            va, vb = low.access(scan, a, here), low.access(scan, b, here)
            previous, y, passed = low.name("v"), low.name("v"), low.name("v")
            scan.body += [Load(previous, running, carried_in),
                          Compute(y, _SUM, (previous, vb), acc, cast_in),
                          Compute(passed, product_formula(2), (va, y), acc, cast_in),
                          Store(running, carried_out, passed, "=")]
        else:  # y = b if first else a * running[i] + b; running[i+1] = y
            first = low.name("b")
            low.emit(Alloc(first, "int64", (n + 1,), 0))
            one = low.name("v")
            low.emit(Loop((), (Compute(one, sympy.Lambda((), sympy.Integer(1)), (), "int64"),
                               Store(first, (Index(None, 0),), one, "="))))
            va, vb = low.access(scan, a, at), low.access(scan, b, at)
            flag, previous, y = low.name("v"), low.name("v"), low.name("v")
            scan.body += [Load(flag, first, (Index(ax),)),
                          Load(previous, running, at),
                          Compute(y, _STEP, (flag, va, previous, vb), acc, True),
                          Store(running, along(1, 1), y, "=")]
            here = at
        result = low.name("v")
        scan.body += [Compute(result, product_formula(1), (y,), node.dtype, cast_in),
                      Store(out, here, result, "=")]
        low.emit_loop(scan)
        return out

    def index_form(self, node, reader, idx):
        a, b = node.inputs
        j, k = reader.indices.fresh(2)
        i, n, ax = idx[self.axis], b.shape[self.axis], self.axis

        def at(x, pos):
            return reader.at(x, idx[:ax] + (pos,) + idx[ax + 1:])
        if self.reverse:  # y[i] = sum_{j>=i} b[j] a[i+1] ... a[j]
            return sympy.Sum(at(b, j) * sympy.Product(at(a, k), (k, i + 1, j)), (j, i, n - 1))
        return sympy.Sum(at(b, j) * sympy.Product(at(a, k), (k, j + 1, i)), (j, 0, i))


def shift(x, axis):
    """``x`` moved one place up ``axis``: ``out[0] = 0``, ``out[i] = x[i-1]`` (its
    first n-1 entries written from position 1 into zeros: one copy loop)."""
    n = x.shape[axis]
    last = _dim(sympy.sympify(n) - 1)
    index = tuple((1, n, 1) if k == axis else (0, d, 1) for k, d in enumerate(x.shape))
    return SliceAdd(x.shape, index)(slice_axis(x, axis, 0, last))


def _dim(v):
    v = sympy.sympify(v)
    return int(v) if v.is_Integer else v


def _wide(dtype):
    """The dtype a scan accumulates in: float32 runs in float64, rounded per entry."""
    return "float64" if dtype == "float32" else dtype


_T = sympy.symbols("t0 t1 t2 t3", real=True)
_SUM = sympy.Lambda(_T[:2], _T[0] + _T[1])
_STEP = sympy.Lambda(_T, sympy.Piecewise((_T[3], sympy.Ne(_T[0], 0)), (_T[1] * _T[2] + _T[3], True)))
