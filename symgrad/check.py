"""Numerical gradient checking: two-sided finite differences against ``sg.grad``."""
import dataclasses
from typing import NamedTuple

import numpy as np

from .autodiff import grad
from .constructors import tensor
from .function import Function, _as_array
from .graph import Expr, toposort
from .ops import Constant, Elemwise, Input, free_inputs
from .ops.leaves import constant, weak_constant


class Worst(NamedTuple):
    """The compared entry furthest outside the tolerance of one variable: the
    largest |analytic − numeric| / (atol + rtol |numeric|), ties (and zero
    tolerances) broken by the larger error; a nan gradient is always worst.

    ``index`` is the entry's multi-index, or with ``directions=k`` the number
    of the direction (0 to k − 1), which is then ``direction``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.check_grad((x ** 3).sum(), x, {x: [0.5, -1.0, 2.0]}, eps=1e-2).worst["x"].index
    (0,)
    """

    index: object
    numeric: float
    analytic: float
    abs_error: float
    rel_error: float
    direction: object = None


class GradCheckResult:
    """The outcome of :func:`check_grad`; ``bool(result)`` is ``result.ok``.

    ``max_rel_error`` and ``max_abs_error`` map each variable's name to the
    largest error over what was compared, ``worst`` to that variable's worst
    entry (a :class:`Worst`). ``numeric`` and ``analytic`` hold what was
    compared: the gradients, or with ``directions=k`` the k directional
    derivatives (analytic: the gradient's dot product with each direction).
    ``widened`` names the float32 variables that were evaluated in float64
    (with every float32 node of the graph), ``directions`` is k or None.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2, dtype="float32")
    >>> sg.check_grad(sg.sin(x).sum(), x, {x: [0.5, 1.0]})  # doctest: +ELLIPSIS
    GradCheckResult(ok=True; float32 variables x evaluated in float64; x: rel ... at (...): ...)
    """

    def __init__(self, ok, max_rel_error, max_abs_error, numeric, analytic, worst,
                 widened=(), directions=None):
        self.ok = ok
        self.max_rel_error, self.max_abs_error = max_rel_error, max_abs_error
        self.numeric, self.analytic, self.worst = numeric, analytic, worst
        self.widened, self.directions = tuple(widened), directions

    def __bool__(self):
        return self.ok

    def __repr__(self):
        parts = [f"ok={self.ok}"]
        if self.widened:
            parts.append(f"float32 variables {', '.join(self.widened)} evaluated in float64")
        if self.directions is not None:
            parts.append(f"{self.directions} random directions per variable")
        where = "direction" if self.directions is not None else "at"
        for n, w in self.worst.items():
            parts.append(f"{n}: rel {self.max_rel_error[n]:.2e} abs {self.max_abs_error[n]:.2e}, "
                         f"worst {where} {w.index}: numeric {w.numeric:.6g} analytic "
                         f"{w.analytic:.6g}" if w else
                         f"{n}: nothing to compare (no entries)")
        return f"GradCheckResult({'; '.join(parts)})"


def check_grad(cost, wrt, values, eps=1e-4, rtol=1e-5, atol=1e-7, directions=None, rng=None):
    """Compare ``sg.grad(cost, wrt)`` with (f(x + h) - f(x - h)) / 2h, h = eps,
    for every element of every ``wrt``.

    ``values`` maps every input variable (or its name) to an array. An element
    passes when |analytic - numeric| <= atol + rtol * |numeric|.

    The check runs in float64, whatever the graph's dtype: the gradient graph
    that ``sg.grad`` builds for the graph as it is (float32 or not) is rebuilt
    with float64 variables, constants and casts, and evaluated with the values
    as given (never rounded to float32). In float32, x + h and f are rounded
    to 6e-8 relative, which puts errors of about 6e-8 |f| / h (1e-3 relative
    at h = 1e-4, measured on sin and on a small tanh model) into the
    differences: a correct float32 gradient fails, and tolerances scaled to
    that would pass gradients wrong by 0.1%. The derivation being checked does
    not depend on the dtype; the result's ``widened`` names the float32
    variables that were widened, and its repr says so.

    ``directions=k`` checks k random unit directions u per variable instead of
    every element, for large parameters: (f(x + h u) - f(x - h u)) / 2h
    against the dot product of the analytic gradient with u, 2k evaluations
    per variable instead of two per element.
    An error confined to one of n entries shows up about 1/sqrt(n) as large,
    so use it to catch wrong formulas, not a single bad entry. ``rng`` (a seed
    or a ``numpy.random.Generator``; default seed 0, so a check repeats) draws
    the directions.

    The result (:class:`GradCheckResult`) reports, per variable, the largest
    errors and the worst entry: its index (or direction) and both values there.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> result = sg.check_grad((sg.tanh(x) ** 2).sum(), x, {x: [0.1, -0.5, 2.0]})
    >>> bool(result), result.max_rel_error["x"] < 1e-6
    (True, True)
    >>> W = sg.matrix("W", 300, 300, dtype="float32")
    >>> cost = sg.softplus(W).sum()
    >>> big = sg.check_grad(cost, W, {W: np.zeros((300, 300))}, directions=5)
    >>> bool(big), big.numeric["W"].shape, big.worst["W"].direction.shape
    (True, (5,), (300, 300))
    """
    wrts = [wrt] if isinstance(wrt, Expr) else list(wrt)
    if directions is not None and (isinstance(directions, bool) or not isinstance(
            directions, (int, np.integer)) or directions < 1):
        raise ValueError(f"check_grad: directions must be a positive int (the number of random "
                         f"directions per variable) or None (every element), got {directions!r}")
    inputs = free_inputs([cost] + wrts)
    for w in wrts:
        if w not in inputs:
            raise ValueError(f"check_grad: {w.describe()} must be an input variable")
    analytic_graph = grad(cost, wrts, disconnected="zero")
    wide = _in_float64(inputs + [cost] + analytic_graph)
    wide_inputs = [wide[x] for x in inputs]
    arrays = []
    for x in inputs:
        if x not in values and x.name not in values:
            raise ValueError(f"check_grad: no value given for {x.describe()}")
        arrays.append(_as_array(wide[x], values[x] if x in values else values[x.name]))
    f = Function(wide_inputs, wide[cost], backend="numpy")
    gradients = Function(wide_inputs, [wide[g] for g in analytic_graph], backend="numpy")(*arrays)
    generator = np.random.default_rng(0 if rng is None else rng)
    ok, numerics, analytics, abs_errors, rel_errors, worsts = True, {}, {}, {}, {}, {}
    for w, gradient in zip(wrts, gradients):
        k = inputs.index(w)

        def cost_at(probe):
            return f(*arrays[:k], probe, *arrays[k + 1:])

        if directions is None:
            numeric, analytic = _numeric_gradient(cost_at, arrays[k], eps), gradient
        else:
            seeds = generator.integers(2 ** 63, size=directions)
            numeric, analytic = _directional(cost_at, arrays[k], gradient, eps, seeds)
        analytic = np.asarray(analytic, dtype=np.float64)
        abs_error, rel_error, passed, worst = _compare(numeric, analytic, rtol, atol)
        if directions is not None and worst:  # the direction's number, and the direction
            worst = worst._replace(index=worst.index[0],
                                   direction=_direction(seeds[worst.index[0]], arrays[k].shape))
        ok = ok and passed
        numerics[w.name], analytics[w.name], worsts[w.name] = numeric, analytic, worst
        abs_errors[w.name], rel_errors[w.name] = abs_error, rel_error
    widened = [x.name for x in inputs if x.dtype == "float32"]
    return GradCheckResult(ok, rel_errors, abs_errors, numerics, analytics, worsts, widened,
                           directions)


def _in_float64(nodes):
    """{node: the same computation in float64} for the graph of ``nodes``:
    float32 variables become float64 variables of the same name and shape,
    float32 constants and elementwise results (casts included) float64; every
    other op is rebuilt on its new inputs and takes its dtype from them."""
    new = {}
    for node in toposort(nodes):
        op, inputs = node.op, tuple(new[x] for x in node.inputs)
        if node.dtype == "float32" and isinstance(op, Input):
            out = tensor(node.name, node.shape, "float64")
        elif node.dtype == "float32" and isinstance(op, Constant):
            out = (weak_constant if op.weak else constant)(op.value, "float64")
        elif node.dtype == "float32" and isinstance(op, Elemwise):
            out = dataclasses.replace(op, dtype="float64")(*inputs)
        elif all(a is b for a, b in zip(inputs, node.inputs)):
            out = node  # nothing under it changed
        else:
            out = op(*inputs)
        if out is not node:
            out.name = node._name
        new[node] = out
    return new


def _numeric_gradient(cost_at, base, eps):
    """Two-sided differences of ``cost_at`` for every element of ``base``."""
    numeric = np.zeros(base.shape)
    probe = base.copy()
    for i in np.ndindex(base.shape):
        probe[i] = base[i] + eps
        up = cost_at(probe)
        probe[i] = base[i] - eps
        down = cost_at(probe)
        probe[i] = base[i]
        numeric[i] = (up - down) / (2 * eps)
    return numeric


def _direction(seed, shape):
    """The random unit vector of ``shape`` drawn from ``seed`` (one per seed,
    so the worst one can be drawn again instead of keeping all k)."""
    u = np.random.default_rng(seed).standard_normal(shape)
    return u / np.linalg.norm(u)


def _directional(cost_at, base, gradient, eps, seeds):
    """Numeric and analytic derivatives of the cost along each seed's direction."""
    numeric, analytic = np.zeros(len(seeds)), np.zeros(len(seeds))
    if base.size == 0:
        return numeric[:0], analytic[:0]
    for j, seed in enumerate(seeds):
        u = _direction(seed, base.shape)
        numeric[j] = (cost_at(base + eps * u) - cost_at(base - eps * u)) / (2 * eps)
        analytic[j] = np.vdot(gradient, u)
    return numeric, analytic


def _compare(numeric, analytic, rtol, atol):
    """(largest absolute error, largest relative error, whether every entry
    passes, the worst entry's position or None when there are no entries)."""
    err = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(numeric), np.abs(analytic))
    rel = np.divide(err, scale, out=np.where(np.isnan(err), np.nan, 0.0), where=scale > 0)
    tol = atol + rtol * np.abs(numeric)
    worst = None
    if err.size:
        beyond = np.divide(err, tol, out=np.where(err == 0, 0.0, np.inf), where=tol > 0)
        at = np.unravel_index(np.lexsort((err.ravel(), beyond.ravel()))[-1], err.shape)  # nan last
        worst = Worst(tuple(int(i) for i in at), float(numeric[at]), float(analytic[at]),
                      float(err[at]), float(rel[at]))
    return (float(np.max(err, initial=0.0)), float(np.max(rel, initial=0.0)),
            bool(np.all(err <= tol)), worst)
