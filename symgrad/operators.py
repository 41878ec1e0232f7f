"""Python operators and methods of ``Expr``: ``+ - * / ** @``, comparisons,
``.T``, ``.sum()`` and friends, indexing and ``.eval()``.

Attached here so that ``graph.py`` stays free of op knowledge.
"""
from . import composites
from . import elementwise_ops as ew
from . import tensor_ops as T
from .function import evaluate
from .graph import Expr
from .printing import repr_latex
from .sympy_form import to_sympy


def _binary(op, reflected=False):
    if reflected:
        return lambda self, other: op(other, self)
    return lambda self, other: op(self, other)


_METHODS = {
    "__add__": _binary(ew._add), "__radd__": _binary(ew._add, True),
    "__sub__": _binary(ew._sub), "__rsub__": _binary(ew._sub, True),
    "__mul__": _binary(ew._mul), "__rmul__": _binary(ew._mul, True),
    "__truediv__": _binary(ew._div), "__rtruediv__": _binary(ew._div, True),
    "__pow__": _binary(ew._pow), "__rpow__": _binary(ew._pow, True),
    "__matmul__": _binary(T.matmul), "__rmatmul__": _binary(T.matmul, True),
    "__lt__": _binary(ew._lt), "__le__": _binary(ew._le),
    "__gt__": _binary(ew._gt), "__ge__": _binary(ew._ge),
    "__neg__": lambda self: ew._neg(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: ew.abs(self),
    "__getitem__": T.getitem,
    "T": property(lambda self: T.transpose(self)),
    "sum": T.sum, "mean": T.mean, "max": T.max, "min": T.min,
    "reshape": lambda self, *shape: T.reshape(
        self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape),
    "transpose": lambda self, *axes: T.transpose(self, axes or None),
    "logsumexp": composites.logsumexp,
    "eval": evaluate,
    "to_sympy": to_sympy,
    "_repr_latex_": repr_latex,
}

for _name, _method in _METHODS.items():
    setattr(Expr, _name, _method)
