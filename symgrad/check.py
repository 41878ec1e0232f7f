"""Numerical gradient checking: two-sided finite differences against ``sg.grad``."""
import numpy as np

from .autodiff import grad
from .function import Function
from .graph import Expr
from .ops import free_inputs


class GradCheckResult:
    """The outcome of :func:`check_grad`; ``bool(result)`` is ``result.ok``.

    ``max_rel_error`` and ``max_abs_error`` map each variable's name to the
    largest error over its elements; ``numeric`` and ``analytic`` hold the
    gradients that were compared.
    """

    def __init__(self, ok, max_rel_error, max_abs_error, numeric, analytic):
        self.ok = ok
        self.max_rel_error, self.max_abs_error = max_rel_error, max_abs_error
        self.numeric, self.analytic = numeric, analytic

    def __bool__(self):
        return self.ok

    def __repr__(self):
        rows = ", ".join(f"{n}: rel {self.max_rel_error[n]:.2e} abs {self.max_abs_error[n]:.2e}"
                         for n in self.max_rel_error)
        return f"GradCheckResult(ok={self.ok}, {rows})"


def check_grad(cost, wrt, values, eps=1e-4, rtol=1e-5, atol=1e-7):
    """Compare ``sg.grad(cost, wrt)`` with (f(x + h) - f(x - h)) / 2h, h = eps,
    for every element of every ``wrt``.

    ``values`` maps every input variable (or its name) to an array. An element
    passes when |analytic - numeric| <= atol + rtol * |numeric|.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> result = sg.check_grad((sg.tanh(x) ** 2).sum(), x, {x: [0.1, -0.5, 2.0]})
    >>> bool(result), result.max_rel_error["x"] < 1e-6
    (True, True)
    """
    wrts = [wrt] if isinstance(wrt, Expr) else list(wrt)
    inputs = free_inputs([cost] + wrts)
    arrays = []
    for x in inputs:
        if x not in values and x.name not in values:
            raise ValueError(f"check_grad: no value given for {x.describe()}")
        arrays.append(np.array(values[x] if x in values else values[x.name], dtype=x.dtype))
    f = Function(inputs, cost, backend="numpy")
    analytic = Function(inputs, grad(cost, wrts, disconnected="zero"), backend="numpy")(*arrays)
    ok, rel_errors, abs_errors, numerics = True, {}, {}, {}
    for w, a in zip(wrts, analytic):
        if w not in inputs:
            raise ValueError(f"check_grad: {w.describe()} must be an input variable")
        k = inputs.index(w)
        base = arrays[k]
        numeric = np.zeros(base.shape, dtype=np.float64)
        for i in np.ndindex(base.shape):
            probe = base.copy()
            probe[i] = base[i] + eps
            up = f(*arrays[:k], probe, *arrays[k + 1:])
            probe[i] = base[i] - eps
            down = f(*arrays[:k], probe, *arrays[k + 1:])
            numeric[i] = (up - down) / (2 * eps)
        err = np.abs(np.asarray(a, dtype=np.float64) - numeric)
        scale = np.maximum(np.abs(numeric), np.abs(a))
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1), 0.0)
        abs_errors[w.name] = float(err.max(initial=0.0))
        rel_errors[w.name] = float(rel.max(initial=0.0))
        numerics[w.name] = numeric
        ok = ok and bool(np.all(err <= atol + rtol * np.abs(numeric)))
    return GradCheckResult(ok, rel_errors, abs_errors, numerics,
                           {w.name: a for w, a in zip(wrts, analytic)})
