"""Table-driven checks of ops against independent references, many ops per
compiled function (a Numba compile costs about a second; one per table keeps
the suite fast).

A :class:`Case` names an op applied to fresh variables and, optionally, a
NumPy function computing the same value. :func:`check_cases` builds, for
every case, ``cost = sum(w * out * out)`` (w random, so linear ops have second
derivatives too), its gradient with respect to the float arguments and the
Hessian-vector product along a random direction, compiles all cases into one
function with ``backend`` (``"numpy"``: rerouted to Numba by ``pytest
--backend=numba``, so both backends run), and asserts

* the value equals the NumPy reference,
* the gradient along the direction equals two-sided differences of the cost
  (computed from the NumPy reference when there is one),
* the Hessian-vector product equals two-sided differences of the gradient.
"""
from dataclasses import dataclass, field

import numpy as np

import symgrad as sg


@dataclass
class Case:
    """``build(*variables) -> Expr``; ``args``: one array per variable (its dtype and
    shape make the variable; ``dims`` maps an argument position to a tuple of
    its shape with named dimensions, e.g. ``{0: ("n", 3)}``); ``ref(*args)``: the
    NumPy reference value (None: only derivatives are checked against finite
    differences of symgrad's own forward); ``wrt``: positions of the arguments
    to differentiate (default: every float argument; ``()``: value only, e.g. an
    integer output); ``smooth=False`` skips the second-order check."""
    name: str
    build: object
    args: list
    ref: object = None
    wrt: tuple = None
    dims: dict = field(default_factory=dict)
    smooth: bool = True
    rtol: float = 1e-10


def _variables(case, k):
    out = []
    for i, a in enumerate(case.args):
        a = np.asarray(a)
        shape = case.dims.get(i, a.shape)
        out.append(sg.tensor(f"c{k}_{i}", shape, a.dtype.name))
    return out


class _Built:
    def __init__(self, case, k, rng):
        self.case = case
        self.args = [np.asarray(a) for a in case.args]
        self.vars = _variables(case, k)
        self.out = case.build(*self.vars)
        floats = [i for i, a in enumerate(self.args) if a.dtype.kind == "f"]
        self.wrt = list(floats if case.wrt is None else case.wrt)
        self.extra, self.values = [], {}
        if not self.wrt:
            return
        # the reference interpreter, never rerouted to Numba by --backend=numba
        w_shape = np.shape(sg.evaluate(self.out, dict(zip(self.vars, self.args))))
        w = sg.tensor(f"c{k}_w", w_shape if not self.out.shape else self.out.shape)
        self.values[w] = rng.uniform(0.5, 1.5, w_shape)
        self.cost = (w * self.out * self.out).sum()
        xs = [self.vars[i] for i in self.wrt]
        self.grads = sg.grad(self.cost, xs)
        vs = [sg.tensor(f"c{k}_v{i}", x.shape) for i, x in zip(self.wrt, xs)]
        for i, v in zip(self.wrt, vs):
            self.values[v] = rng.standard_normal(self.args[i].shape)
        self.extra = [w, *vs]
        self.directions = [self.values[v] for v in vs]
        if case.smooth:
            along = sum((g * v).sum() for g, v in zip(self.grads, vs))
            self.hvps = sg.grad(along, xs)
        else:
            self.hvps = []

    def outputs(self):
        if not self.wrt:
            return [self.out]
        return [self.out, self.cost, *self.grads, *self.hvps]

    def inputs(self):
        return [*self.vars, *self.extra]

    def arrays(self, shift=0.0):
        args = [a.copy() for a in self.args]
        for i, d in zip(self.wrt, getattr(self, "directions", [])):
            args[i] = args[i] + shift * d
        return [*args, *(self.values[e] for e in self.extra)]


def _close(actual, expected, rtol, atol, what):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol, err_msg=what)


def check_cases(cases, backend="numpy", seed=0, h=1e-5):
    """Compile every case into one function and check it (see the module docstring)."""
    rng = np.random.default_rng(seed)
    built = [_Built(c, k, rng) for k, c in enumerate(cases)]
    inputs = [v for b in built for v in b.inputs()]
    outputs = [o for b in built for o in b.outputs()]
    f = sg.function(inputs, outputs, backend=backend)

    def run(shift):
        got = f(*[a for b in built for a in b.arrays(shift)])
        results, at = [], 0
        for b in built:
            n = len(b.outputs())
            results.append(got[at:at + n])
            at += n
        return results

    base, plus, minus = run(0.0), run(h), run(-h)
    for b, now, up, down in zip(built, base, plus, minus):
        name = b.case.name
        value = now[0]
        if b.case.ref is not None:
            want = b.case.ref(*[a.copy() for a in b.args])
            assert np.shape(value) == np.shape(want), f"{name}: shape {np.shape(value)} != {np.shape(want)}"
            if np.asarray(want).dtype.kind in "iub":
                assert np.asarray(value).dtype.kind in "iu", f"{name}: dtype {np.asarray(value).dtype}"
                np.testing.assert_array_equal(value, want, err_msg=name)
            else:
                _close(value, want, b.case.rtol, 1e-12, f"{name}: value")
        if not b.wrt:
            continue
        n = len(b.wrt)
        grads, hvps = now[2:2 + n], now[2 + n:]
        along = sum(np.sum(g * d) for g, d in zip(grads, b.directions))
        if b.case.ref is not None:
            w = b.values[b.extra[0]]

            def cost(shift):
                args = [a.copy() for a in b.args]
                for i, d in zip(b.wrt, b.directions):
                    args[i] = args[i] + shift * d
                out = np.asarray(b.case.ref(*args), dtype=np.float64)
                return np.sum(w * out * out)
            numeric = (cost(h) - cost(-h)) / (2 * h)
        else:
            numeric = (up[1] - down[1]) / (2 * h)
        scale = max(1.0, abs(numeric))
        assert abs(along - numeric) <= 1e-5 * scale, \
            f"{name}: gradient along a direction {along} != finite differences {numeric}"
        for k, hv in enumerate(hvps):
            numeric = (up[2 + k] - down[2 + k]) / (2 * h)
            _close(hv, numeric, 1e-4, 1e-5 * max(1.0, np.max(np.abs(numeric), initial=0)),
                   f"{name}: Hessian-vector product, argument {b.wrt[k]}")
    return f
