"""The reference backend: evaluates a graph node by node with NumPy.

Simple and obviously right rather than fast: one NumPy call per node, each
elementwise formula turned into a NumPy function by ``sympy.lambdify`` after
the stability rewrites.
"""
import functools

import numpy as np
import scipy.special
import sympy
from sympy.printing.numpy import NumPyPrinter

from codegen.printer import nan_watched

from .errors import ShapeError
from .graph import toposort
from .rewrites import stabilise
from .types import resolve_dim


@functools.lru_cache(maxsize=4096)
def _formula_function(formula):
    body = stabilise(formula.expr)
    printer = _NumPyPrinter({"fully_qualified_modules": False, "inline": True,
                             "allow_unknown_functions": True,
                             "user_functions": {name: name for name in _UFUNCS}})
    return sympy.lambdify(formula.variables, body, modules=[_UFUNCS, "numpy"], printer=printer)


class _NumPyPrinter(NumPyPrinter):
    """NumPy's printer, with a nan reaching the result of a choice whose
    comparisons it made false (codegen.printer.nan_watched)."""

    def _print_Piecewise(self, e):
        watched = nan_watched(e)
        if not watched:
            return super()._print_Piecewise(e)
        unordered = " | ".join(f"numpy.isnan({self._print(w)})" for w in watched)
        conds = [self._print(c) for _, c in e.args[:-1]] + [f"~({unordered})"]
        values = ", ".join(self._print(v) for v, _ in e.args)
        return f"numpy.select([{', '.join(conds)}], [{values}], default=numpy.nan)"


_UFUNCS = {"log1p": np.log1p, "expm1": np.expm1, "erf": scipy.special.erf,
           "erfc": scipy.special.erfc, "numpy": np, "functools": functools}


def _shape(shape, bindings):
    return tuple(resolve_dim(d, bindings) for d in shape)


def _check_indices(idx, limit, node):
    if idx.size and (idx.min() < 0 or idx.max() >= limit):
        bad = idx[(idx < 0) | (idx >= limit)].flat[0]
        raise IndexError(f"index {bad} is out of range [0, {limit}) in {node.describe()}; "
                         f"indices come from {node.inputs[1].name!r}")


def _elemwise(node, args, bindings):
    args = np.broadcast_arrays(*args)
    with np.errstate(all="ignore"):
        out = _formula_function(node.op.formula)(*args)
    return np.broadcast_to(out, args[0].shape).astype(node.dtype, copy=False)


def _contract(node, args, bindings):
    # float32 sums accumulate in float64 and round once, as the compiled kernels do
    wide = np.float64 if node.dtype == "float32" else None
    return np.einsum(node.op.spec, *args, dtype=wide).astype(node.dtype, copy=False)


def _reduce(node, args, bindings):
    x = args[0]
    empty = [a for a in node.op.axes if x.shape[a] == 0]
    if empty:
        source = node.inputs[0]
        raise ShapeError(f"{node.op.kind} over the empty axis {empty[0]} of "
                         f"{source.describe()}: the axis has size 0 in this call, and "
                         f"{node.op.kind} has no value over nothing; pass a non-empty array")
    return getattr(np, node.op.kind)(x, axis=node.op.axes)


def _arg_one_hot(node, args, bindings):
    x, axes = args[0], node.op.axes
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    pick = np.argmax(flat, -1) if node.op.kind == "max" else np.argmin(flat, -1)
    onehot = np.zeros(flat.shape, dtype=node.dtype)
    np.put_along_axis(onehot, pick[..., None], 1, axis=-1)
    return np.transpose(onehot.reshape(moved.shape), np.argsort(rest + list(axes)))


def _gather(node, args, bindings):
    x, idx = args
    _check_indices(idx, x.shape[0], node)
    return x[idx]


def _scatter_add(node, args, bindings):
    g, idx = args
    rows = resolve_dim(node.op.rows, bindings)
    _check_indices(idx, rows, node)
    out = np.zeros((rows,) + g.shape[idx.ndim:], dtype=node.dtype)
    np.add.at(out, idx, g)
    return out


def _take_along(node, args, bindings):
    x, idx = args
    _check_indices(idx, x.shape[-1], node)
    return np.take_along_axis(x, idx[..., None], axis=-1)[..., 0]


def _put_along(node, args, bindings):
    g, idx = args
    size = resolve_dim(node.op.size, bindings)
    _check_indices(idx, size, node)
    out = np.zeros(g.shape + (size,), dtype=node.dtype)
    np.put_along_axis(out, idx[..., None], g[..., None], axis=-1)
    return out


def _index(index, bindings):
    return tuple(k if isinstance(k, int) else slice(*(resolve_dim(v, bindings) if
                                                       isinstance(v, sympy.Basic) else v
                                                       for v in k))
                 for k in index)


def _slice_add(node, args, bindings):
    out = np.zeros(_shape(node.op.shape, bindings), dtype=node.dtype)
    out[_index(node.op.index, bindings)] = args[0]
    return out


EVALUATORS = {
    "Input": None,
    "Constant": lambda node, args, bindings: node.op.value,
    "DimSize": lambda node, args, bindings: np.int64(bindings[node.op.dim]),
    "Elemwise": _elemwise,
    "Contract": _contract,
    "Reduce": _reduce,
    "ArgOneHot": _arg_one_hot,
    "Reshape": lambda node, args, bindings: args[0].reshape(_shape(node.op.shape, bindings)),
    "Transpose": lambda node, args, bindings: np.transpose(args[0], node.op.perm),
    "Broadcast": lambda node, args, bindings: np.broadcast_to(
        args[0], _shape(node.op.shape, bindings)),
    "Gather": _gather,
    "ScatterAdd": _scatter_add,
    "TakeAlong": _take_along,
    "PutAlong": _put_along,
    "Concatenate": lambda node, args, bindings: np.concatenate(args, axis=node.op.axis),
    "Slice": lambda node, args, bindings: args[0][_index(node.op.index, bindings)],
    "SliceAdd": _slice_add,
}


class NumpyProgram:
    """A graph prepared for repeated evaluation: its order and last uses."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.order = [n for n in toposort(self.outputs) if n not in set(self.inputs)]
        self.evaluators = [EVALUATORS[type(n.op).__name__] for n in self.order]

    def __call__(self, arrays, bindings):
        """Evaluate with ``arrays`` (in ``inputs`` order); returns the output arrays."""
        values = dict(zip(self.inputs, arrays))
        for node, evaluate in zip(self.order, self.evaluators):
            if evaluate is None:
                raise ValueError(f"input {node.describe()} has no value")
            values[node] = evaluate(node, [values[i] for i in node.inputs], bindings)
        return [values[o] for o in self.outputs]
