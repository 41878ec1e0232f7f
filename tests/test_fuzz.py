"""Property tests: random well-typed graphs, three independent answers.

Hypothesis builds random graphs from every primitive and public op (elementwise
ops, user formulas with floor / ceiling / mod (t - 3 floor(t/3)) / sign of
expressions, comparisons <, <=, >, >=, sg.eq, sg.neq feeding ``sg.where`` and
masks, broadcasting, named dimensions, reductions, softmax family,
contractions, reshapes, slices, concatenation, gathers by an index that an
integer ``sg.where`` wrapped, picks, the losses), with repeated
subexpressions, next to integer graphs (int64 arithmetic, comparisons,
``sg.where``, maximum, sums), and checks

* the NumPy backend's gradients against two-sided finite differences of its
  own forward values (the differences never touch symgrad's autodiff),
* Hessian-vector products H r (gradients of <grad, r>, r over every input)
  against finite differences of the gradients, and third derivatives
  (gradients of <H r, r2>) with respect to the inputs, against finite
  differences of H r, and with respect to r, along a direction,
* integer outputs against the same computation written in NumPy,
* the Numba backend against the NumPy backend on all of these (third
  derivatives in half the graphs: they double the compile time),
* float32 sums and means of elementwise chains over more than 10**6 elements,
  full and along an axis, and their gradients with respect to two scalars
  (sums over every element too), against float64 references: within 1e-6 of
  the same reduction of the terms' magnitudes (1e-6 relative for positive
  terms; a float32 running sum errs by up to ~n * 6e-8), on both backends.

Where gradients vanish exactly (issue 11, bug 0: a zero upstream gradient
zeroed second derivatives, and such points are never drawn at random): half the
graphs are evaluated at special points, with inputs exactly 0, ±1 (kinks,
saturation edges) or equal to another input or to its negative (vanishing
differences, ties, sg.eq true), and cotangents r that are 0 in some or all
entries; at scale 1, a third of the graphs feed every built node to the cost
through a zero-gradient term, another third some of them: ``(S - z)**2`` with
z := S (a zero residual) or ``S * (p - z)`` with z := p (p an input element),
z set from the graph evaluated on the backend under test, so the zero is exact.

Budget: ``SYMGRAD_FUZZ_EXAMPLES`` random graphs for the NumPy checks (default
150, about 12 s), a fifth of that for Numba (each graph costs a compile of
~0.5-3 s; about 50 s) and a twenty-fifth, at least 3, float32 graphs per
backend (about 5 s): about 70 s for this file. CI runs the default,
derandomized so that a run is reproducible; set the variable for a longer,
random run, e.g. ``SYMGRAD_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py``.

Finite differences are only trusted where they are: an element is compared
when central differences at two step sizes agree and the one-sided slopes
agree, for the checked quantity and for every built node and every comparison
of the graph, i.e. where the whole graph is smooth along that element. (At a
special point an input can sit exactly on a kink where the checked quantity
is still smooth but the derivative follows a kink convention, |x|**2 at 0; an
sg.eq true at the point alone is a jump that no neighbouring point sees.) A
nan derivative where the differences are finite is a mismatch. The Numba
checks also draw inputs up to ±1500, where the two backends must agree on
every nan and inf.
"""
import importlib
import os

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from symgrad.errors import ShapeError
from symgrad.ops import free_inputs

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend

_LONG = "SYMGRAD_FUZZ_EXAMPLES" in os.environ
NUMPY_EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", 150))
NUMBA_EXAMPLES = max(3, NUMPY_EXAMPLES // 5)
FUZZ = dict(deadline=None, derandomize=not _LONG, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much])

swish = sg.elementwise(lambda t, beta: t / (1 + sympy.exp(-beta * t)), name="swish")
odd = sg.elementwise(lambda t: sympy.atan(t) + sympy.erf(t) / 2 + sympy.sinh(t / 3), name="odd")
# user formulas with steps: their derivatives must be clean (no Subs, no
# DiracDelta), compile on Numba and match NumPy
floor_mix = sg.elementwise(lambda t: sympy.floor(2 * t) / 4 + sympy.sin(t), name="floor_mix")
ceil_mul = sg.elementwise(lambda t: t * sympy.ceiling(3 * t) / 3, name="ceil_mul")
mod3 = sg.elementwise(lambda t: sympy.sin(t - 3 * sympy.floor(t / 3))
                      + (t - 3 * sympy.floor(t / 3)) ** 2 / 4, name="mod3")
sign_mix = sg.elementwise(lambda t: sympy.sign(sympy.floor(2 * t)) * t ** 2
                          + sympy.sign(t ** 2 - sympy.Rational(1, 2)) * sympy.sin(t),
                          name="sign_mix")
step2 = sg.elementwise(lambda t, u: t * sympy.floor(2 * u) + sympy.cos(u - sympy.ceiling(u)) * t,
                       name="step2")


def _comparisons():
    """name -> (symgrad comparison, NumPy comparison); sg.eq / sg.neq once they exist."""
    ops = {"lt": (lambda a, b: a < b, np.less), "le": (lambda a, b: a <= b, np.less_equal),
           "gt": (lambda a, b: a > b, np.greater), "ge": (lambda a, b: a >= b, np.greater_equal)}
    if hasattr(sg, "eq"):  # API.md section 9
        ops.update(eq=(sg.eq, np.equal), neq=(sg.neq, np.not_equal))
    return ops


COMPARISONS = _comparisons()


# ------------------------------------------------------------------ graph generator

def _inputs():
    """The variables every random graph may use; sizes come from the draw."""
    return {
        "s": sg.scalar("s"),
        "v": sg.vector("v", "n"),
        "u": sg.vector("u", 3),
        "M": sg.matrix("M", "m", "n"),
        "A": sg.tensor("A", (2, "n")),
        "T": sg.tensor("T", ("m", 1, "n")),
        "idx": sg.vector("idx", "k", dtype="int64"),
        "lab": sg.vector("lab", "m", dtype="int64"),
        "j": sg.scalar("j", dtype="int64"),
    }


def _compare(draw, a, b, env):
    """A comparison of a and b of a drawn kind; watched by the finite-difference checks."""
    c = COMPARISONS[draw(st.sampled_from(sorted(COMPARISONS)))][0](a, b)
    env["watched"].append(c)
    return c


def _unary(draw, a):
    kind = draw(st.sampled_from([
        "neg", "exp", "gauss", "log", "log1p", "logsig", "log1msig", "sin", "cos", "tanh",
        "sigmoid", "softplus", "sqrt", "abs", "relu", "hardtanh", "leaky", "square", "cube",
        "powpos", "scale", "shift", "rdiv", "odd", "swish", "reuse", "steps", "steps"]))
    return {
        "neg": lambda: -a,
        "exp": lambda: sg.exp(sg.sin(a)),
        "gauss": lambda: sg.exp(-a * a),
        "log": lambda: sg.log(a * a + 0.5),
        "log1p": lambda: sg.log(1 + a * a),
        "logsig": lambda: sg.log(sg.sigmoid(a)),
        "log1msig": lambda: sg.log(1 - sg.sigmoid(a)),
        "sin": lambda: sg.sin(a),
        "cos": lambda: sg.cos(a),
        "tanh": lambda: sg.tanh(a),
        "sigmoid": lambda: sg.sigmoid(a),
        "softplus": lambda: sg.softplus(a),
        "sqrt": lambda: sg.sqrt(a * a + 0.25),
        "abs": lambda: sg.abs(a),
        "relu": lambda: sg.relu(a),
        "hardtanh": lambda: sg.hardtanh(a),
        "leaky": lambda: sg.leaky_relu(a, 0.1),
        "square": lambda: a ** 2,
        "cube": lambda: a ** 3,
        "powpos": lambda: (a * a + 1) ** 0.7,
        "scale": lambda: a * 1.7,
        "shift": lambda: 0.3 - a,
        "rdiv": lambda: 1 / (a * a + 1),
        "odd": lambda: odd(a),
        "swish": lambda: swish(a, 1.5),
        "reuse": lambda: a * sg.tanh(a) + a,
        "steps": lambda: draw(st.sampled_from([floor_mix, ceil_mul, mod3, sign_mix]))(a),
    }[kind]()


def _binary(draw, a, b, env):
    kind = draw(st.sampled_from([
        "add", "sub", "mul", "div", "maximum", "minimum", "prelu", "where", "mask", "where0",
        "pow", "swish", "step2"]))
    return {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / (b * b + 1),
        "maximum": lambda: sg.maximum(a, b),
        "minimum": lambda: sg.minimum(a, b),
        "prelu": lambda: sg.prelu(a, b),
        "where": lambda: sg.where(_compare(draw, a, b, env), a * b, a - b),
        "mask": lambda: _compare(draw, a, b, env) * a + b,
        "where0": lambda: sg.where(_compare(draw, a, 0.0, env), a * b, 0.5 * b - a),
        "pow": lambda: (a * a + 0.5) ** sg.sin(b),
        "swish": lambda: swish(a, b),
        "step2": lambda: step2(a, b),
    }[kind]()


def _integer(draw, env):
    """(int64 expression, the same computation in NumPy on the values dict)."""
    ints = env["ints"]
    a, fa = ints[-1 - draw(st.integers(0, len(ints) - 1))]
    partners = [p for p in ints if p[0].shape == a.shape or p[0].ndim == 0]
    b, fb = partners[draw(st.integers(0, len(partners) - 1))]
    c = draw(st.integers(-3, 3))
    kind = draw(st.sampled_from(["wrap", "where", "mask", "arith", "maximum", "minimum", "sum"]))
    cmp, np_cmp = COMPARISONS[draw(st.sampled_from(sorted(COMPARISONS)))]
    if kind == "wrap":  # the negative-index idiom
        return sg.where(a < 0, a + 5, a), lambda v: np.where(fa(v) < 0, fa(v) + 5, fa(v))
    if kind == "where":
        return sg.where(cmp(a, b), a + b, a - 2 * b), \
            lambda v: np.where(np_cmp(fa(v), fb(v)), fa(v) + fb(v), fa(v) - 2 * fb(v))
    if kind == "mask":
        return cmp(a, c) * a + c, lambda v: np_cmp(fa(v), c) * fa(v) + c
    if kind == "arith":
        return a * b - c, lambda v: fa(v) * fb(v) - c
    if kind in ("maximum", "minimum"):
        return getattr(sg, kind)(a, b), lambda v: getattr(np, kind)(fa(v), fb(v))
    return (a.sum(), lambda v: np.sum(fa(v))) if a.ndim else None


def _axis(draw, x):
    if x.ndim == 0:
        return None
    return draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))


def _tensor(draw, a, b, env):
    kind = draw(st.sampled_from([
        "sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax", "logsoftmax_rw",
        "transpose", "flatten", "unsqueeze", "matmul", "dot", "einsum_outer", "concatenate",
        "stack", "gather", "gather_const", "gather_2d", "pick", "slice", "reverse", "first",
        "last", "newaxis", "permute", "broadcast", "xent", "mse", "l2", "margin"]))
    m, n = env["sizes"]["m"], env["sizes"]["n"]
    rows = env["vars"]["M"].shape[0]
    if kind in ("sum", "mean", "max", "min", "logsumexp"):
        if a.ndim == 0:
            return None
        op = {"sum": sg.sum, "mean": sg.mean, "max": sg.max, "min": sg.min,
              "logsumexp": sg.logsumexp}[kind]
        return op(a, _axis(draw, a), keepdims=draw(st.booleans()))
    if kind in ("softmax", "log_softmax", "logsoftmax_rw"):
        if a.ndim == 0:
            return None
        axis = draw(st.integers(-a.ndim, a.ndim - 1))
        if kind == "logsoftmax_rw":
            return sg.log(sg.softmax(a, axis))  # rewritten to log_softmax while building
        return (sg.softmax if kind == "softmax" else sg.log_softmax)(a, axis)
    if kind == "transpose":
        return a.T if a.ndim >= 2 else None
    if kind == "flatten":
        return a.reshape((-1,))
    if kind == "unsqueeze":
        return a[None]
    if kind == "matmul":
        return a @ b
    if kind == "dot":
        return sg.dot(a, b)
    if kind == "einsum_outer":
        if a.ndim > 2 or b.ndim > 2:
            return None
        la, lb = "ab"[:a.ndim], "cd"[:b.ndim]
        return sg.einsum(f"{la},{lb}->{lb}{la}", a, b)
    if kind == "concatenate":
        return sg.concatenate([a, b, a], axis=_axis(draw, a) or 0)
    if kind == "stack":
        return sg.stack([a, b], axis=draw(st.integers(0, a.ndim)))
    if kind == "gather":  # idx is in [-m, m): wrapped by an integer sg.where
        return a[env["widx"]] if a.ndim and a.shape[0] == rows else None
    if kind == "gather_const":
        if a.ndim == 0 or a.shape[0] not in (rows, 2, 3):
            return None
        size = {2: 2, 3: 3}.get(a.shape[0], m)
        picks = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4))
        return a[np.array(picks, dtype=np.int64)]
    if kind == "pick":
        M = env["vars"]["M"]
        return sg.pick(a, env["vars"]["lab"]) if a.shape == M.shape else None
    if kind == "slice":
        if a.ndim == 0 or not isinstance(a.shape[0], int) or a.shape[0] < 2:
            return None
        return a[1:]
    if kind == "reverse":
        if a.ndim == 0 or not isinstance(a.shape[-1], int):
            return None
        return a[..., ::-1]
    if kind == "first":
        return a[0] if a.ndim and (not isinstance(a.shape[0], int) or a.shape[0] > 0) else None
    if kind == "gather_2d":
        return a[env["widx"].reshape((1, -1))] if a.ndim and a.shape[0] == rows else None
    if kind == "last":
        return a[-1] if a.ndim and isinstance(a.shape[0], int) and a.shape[0] > 0 else None
    if kind == "newaxis":
        return a[..., None] if a.ndim else None
    if kind == "permute":
        if a.ndim < 2:
            return None
        return sg.transpose(a, draw(st.permutations(range(a.ndim))))
    if kind == "broadcast":
        return sg.broadcast_to(a, (2,) + a.shape)
    if kind == "xent":
        M = env["vars"]["M"]
        return sg.nn.softmax_cross_entropy(a, env["vars"]["lab"]) if a.shape == M.shape \
            else None
    if kind == "mse":
        return sg.nn.mse(a, b)
    if kind == "l2":
        return sg.nn.l2(a, b)
    return sg.nn.max_margin(a, b, margin=0.5)


# exact values that put an element on a kink, a tie or a vanishing difference
_SPECIAL = ("random", "random", "zero", "tie", "minus_tie", "unit")
_TERMS = (("sin",), ("sin", "residual", "times_zero"), ("residual", "times_zero"))


def _point(draw, shapes, scale, special):
    """Values for the float inputs: random in [-1.5 scale, 1.5 scale], or (special)
    partly exact zeros, ±1 and copies of earlier elements or of their negatives."""
    elements = st.builds(lambda t, sign: sign * t * scale, st.floats(0.05, 1.5),
                         st.sampled_from([-1.0, 1.0]))
    # distinct irrational offsets: shrunk draws (all 0.5, say) must not tie by coincidence
    jitter = iter(np.sqrt(np.arange(2.0, 200.0)) % 1 * 1e-2)
    drawn, values = [], {}
    for name, shape in shapes.items():
        flat = []
        for _ in range(int(np.prod(shape))):
            kind = draw(st.sampled_from(_SPECIAL)) if special else "random"
            if kind == "zero":
                t = 0.0
            elif kind == "unit":
                t = draw(st.sampled_from([1.0, -1.0]))
            elif kind.endswith("tie") and drawn:
                t = drawn[draw(st.integers(0, len(drawn) - 1))]
                t = -t if kind == "minus_tie" else t
            else:
                t = draw(elements) + next(jitter)
            flat.append(t)
            drawn.append(t)
        values[name] = np.array(flat, dtype=np.float64).reshape(shape)
    return values


@st.composite
def graphs(draw, max_ops=8, scales=(1.0,)):
    """A dict: the variables, the built float nodes, the cost, the values (special
    points in half the draws), the watched comparisons, integer nodes with their
    NumPy computations, the anchors of zero-gradient cost terms and the scale
    (inputs in [-1.5 scale, 1.5 scale])."""
    sizes = {d: draw(st.integers(1, 3)) for d in "mnk"}
    m, n, k = sizes["m"], sizes["n"], sizes["k"]
    variables = _inputs()
    idx = variables["idx"]
    widx = sg.where(idx < 0, idx + m, idx)  # integer where on the way to a gather
    env = {"sizes": sizes, "vars": variables, "widx": widx, "watched": [],
           "ints": [(idx, lambda v: v["idx"]), (variables["lab"], lambda v: v["lab"]),
                    (variables["j"], lambda v: v["j"]),
                    (widx, lambda v: np.where(v["idx"] < 0, v["idx"] + m, v["idx"]))]}
    floats = [x for x in variables.values() if x.dtype == "float64"]
    pool = list(floats)
    for _ in range(draw(st.integers(1, max_ops))):
        # mostly build on the newest nodes: deep compositions and shared subexpressions
        a = pool[-1 - draw(st.integers(0, len(pool) - 1)) // draw(st.sampled_from([1, 4]))]
        b = pool[draw(st.integers(0, len(pool) - 1))]
        family = draw(st.sampled_from(["unary", "binary", "tensor", "tensor", "integer"]))
        try:
            out = {"unary": lambda: _unary(draw, a), "binary": lambda: _binary(draw, a, b, env),
                   "tensor": lambda: _tensor(draw, a, b, env),
                   "integer": lambda: _integer(draw, env)}[family]()
        except ShapeError:
            out = None  # ill-typed choice (the builder said so at once): draw another op
        if out is not None:
            (env["ints"] if family == "integer" else pool).append(out)
    built = pool[len(floats):] or [sg.tanh(pool[-1])]
    scale = draw(st.sampled_from(scales))  # large values: backends must agree on inf/nan too
    special = draw(st.booleans())
    # every built node feeds the cost, with upstream gradients that are not 1, or
    # (at scale 1) through a term whose gradient is exactly zero at the point:
    # (S - z)**2 with z := S, or S * (p - z) with z := p
    kinds = draw(st.sampled_from(_TERMS)) if scale == 1.0 else ("sin",)
    factors = [variables["s"], variables["v"][0], variables["u"][2], variables["M"][0, -1]]
    terms, anchors = [], []
    for i, x in enumerate(built):
        S = sg.sum(sg.sin(x * (1.3 + 0.1 * i) + 0.4))
        kind = draw(st.sampled_from(kinds))
        if kind == "sin":
            terms.append(S)
            continue
        z = sg.scalar(f"z{i}")
        if kind == "residual":
            terms.append((S - z) ** 2)
            anchors.append((z, S))
        else:
            p = factors[draw(st.integers(0, len(factors) - 1))]
            terms.append(S * (p - z))
            anchors.append((z, p))
    cost = sum(terms)
    shapes = {"s": (), "v": (n,), "u": (3,), "M": (m, n), "A": (2, n), "T": (m, 1, n)}
    values = _point(draw, shapes, scale, special)
    values["idx"] = np.array(draw(st.lists(st.integers(-m, m - 1), min_size=k, max_size=k)),
                             dtype=np.int64)
    values["lab"] = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)),
                             dtype=np.int64)
    values["j"] = np.int64(draw(st.integers(-3, 3)))
    # cotangents: r exactly zero in some or all entries at special points
    cotangents = {"seed": draw(st.integers(0, 2 ** 32 - 1)),
                  "zeros": draw(st.sampled_from([0.0, 0.5, 1.0])) if special else 0.0}
    return dict(variables=variables, built=built, cost=cost, values=values, scale=scale,
                watched=env["watched"], ints=env["ints"][4:], anchors=anchors,
                cotangents=cotangents)


# ------------------------------------------------------------------ checks

STEPS = (1e-4, 1e-5)  # finite-difference steps: wide, narrow


def _wrt(variables, cost):
    used = set(free_inputs([cost]))
    return [x for x in variables.values() if x.dtype == "float64" and x in used]


class _Program:
    """Functions of every input, the cotangents r, r2 and the anchors z, giving
    the built nodes, the cost, its gradients, the Hessian-vector products
    H r = grad <grad, r>, the watched comparisons, then the third derivatives
    grad <H r, r2> (with respect to the inputs, then to r), the anchors' sources
    and the integer nodes; ``at[part]`` is the slice of the outputs for ``part``.
    ``probe`` (when asked for) computes the outputs up to the watched comparisons
    only: what finite differences need, at a fraction of the cost."""

    def __init__(self, case, wrt, backend, probe=False, with_third=True):
        self.r = {x.name: sg.tensor("r_" + x.name, x.shape) for x in wrt}
        self.r2 = {x.name: sg.tensor("r2_" + x.name, x.shape) for x in wrt}
        grads = sg.grad(case["cost"], wrt)
        hvp = sg.grad(sum(sg.sum(g * self.r[x.name]) for x, g in zip(wrt, grads)), wrt,
                      disconnected="zero")
        third = sg.grad(sum(sg.sum(h * self.r2[x.name]) for x, h in zip(wrt, hvp)),
                        wrt + list(self.r.values()), disconnected="zero") if with_third else []
        parts = [("built", case["built"]), ("cost", [case["cost"]]), ("grads", grads),
                 ("hvp", hvp), ("watched", case["watched"]), ("third", third),
                 ("anchors", [source for _, source in case["anchors"]]),
                 ("ints", [e for e, _ in case["ints"]])]
        outputs, self.at = [], {}
        for part, exprs in parts:
            self.at[part] = slice(len(outputs), len(outputs) + len(exprs))
            outputs += exprs
        inputs = list(case["variables"].values()) + list(self.r.values()) + \
            list(self.r2.values()) + [z for z, _ in case["anchors"]]
        self.function = Function(inputs, outputs, backend=backend)
        if probe:
            self.probe = self._caller(Function(inputs, outputs[:self.at["watched"].stop],
                                               backend=backend))

    @staticmethod
    def _caller(function):
        return lambda values: function(**{x.name: values[x.name] for x in function.inputs})

    def __call__(self, values):
        return self._caller(self.function)(values)

    def anchored(self, case, values):
        """``values`` with every anchor z set to its source's value on this backend,
        so that the zero-gradient terms are exactly zero at the point."""
        values = {**values, **{z.name: np.float64(0.0) for z, _ in case["anchors"]}}
        if case["anchors"]:
            sources = self(values)[self.at["anchors"]]
            values.update({z.name: np.float64(v) for (z, _), v in zip(case["anchors"], sources)})
        return values


def _cotangents(case, wrt):
    """r (zero where drawn so), r2 and a direction d in r's space, for every wrt."""
    rng = np.random.default_rng(case["cotangents"]["seed"])
    out = {}
    for x in wrt:
        shape = case["values"][x.name].shape
        r = rng.uniform(-1, 1, shape) * (rng.uniform(0, 1, shape) >= case["cotangents"]["zeros"])
        out["r_" + x.name], out["r2_" + x.name] = r, rng.uniform(-1, 1, shape)
        out["d_" + x.name] = rng.uniform(-1, 1, shape)
    return out


def _probe(run, values, name, h):
    """The outputs at values[name] +- h along each of its elements (lists, element order)."""
    base, ups, downs = values[name], [], []
    for i in np.ndindex(base.shape):
        for sign, outs in ((1, ups), (-1, downs)):
            moved = base.copy()
            moved[i] += sign * h
            outs.append(run({**values, name: moved}))
    return ups, downs


def _slopes(q, base, probes, h):
    """Central, forward and backward differences of q(outputs), one row per element."""
    ups, downs = probes[h]
    q0 = np.asarray(q(base), dtype=np.float64)
    up = np.array([q(o) for o in ups], dtype=np.float64)
    down = np.array([q(o) for o in downs], dtype=np.float64)
    return (up - down) / (2 * h), (up - q0) / h, (q0 - down) / h


def _smooth(q, base, probes, scale):
    """(per element: whether q is smooth along it, narrow central differences, tolerance):
    central differences at two steps agree (no kink within a step) and the one-sided
    slopes agree (not exactly on a kink, where every central difference averages them)."""
    wide, _, _ = _slopes(q, base, probes, STEPS[0])
    narrow, forward, backward = _slopes(q, base, probes, STEPS[1])
    tol = 1e-6 * scale + 1e-5 * np.abs(narrow)
    smooth = (np.abs(wide - narrow) <= tol) & (
        np.abs(forward - backward) <= 1e-3 * (scale + np.abs(narrow)))
    return smooth.reshape(len(smooth), -1).all(axis=1), narrow, tol


def _graph_is_smooth(program, base, probes):
    """Per element: every built node and every watched comparison is smooth along it."""
    smooth = True
    for k in [*range(len(base))[program.at["built"]], *range(len(base))[program.at["watched"]]]:
        scale = max(1.0, float(np.max(np.abs(base[k]), initial=0.0)))
        smooth = smooth & _smooth(lambda out, k=k: out[k], base, probes, scale)[0]
    return smooth


def _assert_matches_differences(q, derivative, base, probes, scale, graph_smooth, what):
    """``derivative`` (shaped like the probed input) == the differences of q wherever
    they are trustworthy; a nan derivative there is a mismatch too."""
    smooth, narrow, tol = _smooth(q, base, probes, scale)
    derivative = np.asarray(derivative, dtype=np.float64).reshape(-1)
    bad = smooth & graph_smooth & ~(np.abs(derivative - narrow) <= 10 * tol)
    assert not bad.any(), (f"{what}: derivative {derivative[bad]} but finite differences "
                           f"{narrow[bad]} at flat indices {np.flatnonzero(bad).tolist()}")


def _assert_integers_match_numpy(case, got, values, backend):
    for k, ((e, numpy_fn), a) in enumerate(zip(case["ints"], got)):
        a, b = np.asarray(a), np.asarray(numpy_fn(values))
        assert a.dtype == np.int64 and a.shape == b.shape, (k, a.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"{backend}: integer node {k} ({e.name})")


def _assert_backends_agree(got, expected, scale):
    """Equal dtypes, shapes, nan and inf; equal values to 1e-9 when the inputs are
    small. At large inputs a 1-ulp difference (libm vs NumPy's exp, pow) is
    amplified without bound by sin(1e9 x) and friends: only the special values
    must agree there (no nan or inf in one backend only)."""
    for k, (a, b) in enumerate(zip(got, expected)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape)
        for special in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(special(a), special(b),
                                          err_msg=f"output {k}: {special.__name__} differs")
        if scale == 1.0:
            magnitude = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * magnitude,
                                       err_msg=f"numba output {k} differs from numpy")


def _check_graph(case, backend, third=True):
    wrt = _wrt(case["variables"], case["cost"])
    assume(wrt)  # a graph can fold to a constant (x - x): nothing to differentiate
    reference = _Program(case, wrt, "numpy", probe=backend == "numpy", with_third=third)
    cot = _cotangents(case, wrt)
    values = reference.anchored(case, {**case["values"], **cot})
    expected = reference(values)
    _assert_integers_match_numpy(case, expected[reference.at["ints"]], values, "numpy")
    if backend == "numba":
        compiled = _Program(case, wrt, "numba", with_third=third)
        got = compiled(compiled.anchored(case, {**case["values"], **cot}))
        _assert_integers_match_numpy(case, got[compiled.at["ints"]], values, "numba")
        _assert_backends_agree(got, expected, case["scale"])
        return
    at = reference.at
    for k, v in enumerate(expected[at["built"]] + expected[at["cost"]]):
        assert np.all(np.isfinite(v)), f"node {k} is not finite: {v}"
    grads, hvp, thirds = expected[at["grads"]], expected[at["hvp"]], expected[at["third"]]
    cost_index = at["cost"].start

    def cost(out):
        return float(out[cost_index])

    def grad_dot_r(out):  # <grad, r>, whose gradient is the Hessian-vector product
        return sum(float(np.sum(g * values["r_" + x.name]))
                   for x, g in zip(wrt, out[at["grads"]]))

    def hvp_dot_r2(out):  # <H r, r2>, whose gradient is the third derivative
        return sum(float(np.sum(h * values["r2_" + x.name]))
                   for x, h in zip(wrt, out[at["hvp"]]))

    scales = (max(1.0, abs(cost(expected))),
              max(1.0, max(float(np.max(np.abs(g), initial=0.0)) for g in grads)),
              max(1.0, max(float(np.max(np.abs(h), initial=0.0)) for h in hvp)))
    for i, x in enumerate(wrt):
        probes = {h: _probe(reference.probe, values, x.name, h) for h in STEPS}
        graph_smooth = _graph_is_smooth(reference, expected, probes)
        for q, derivative, scale, what in ((cost, grads[i], scales[0], "gradient"),
                                           (grad_dot_r, hvp[i], scales[1], "H r"),
                                           (hvp_dot_r2, thirds[i], scales[2], "d<H r, r2>/dx")):
            _assert_matches_differences(q, derivative, expected, probes, scale, graph_smooth,
                                        f"{what} wrt {x.name}")
    # the third derivative with respect to r along a direction d in r's space (<H r, r2>
    # is linear in r: differences along d are exact up to rounding)
    names = ["r_" + x.name for x in wrt]
    along = {h: ([reference.probe({**values, **{r: values[r] + h * values["d" + r[1:]]
                                                for r in names}})],
                 [reference.probe({**values, **{r: values[r] - h * values["d" + r[1:]]
                                                for r in names}})]) for h in STEPS}
    derivative = sum(float(np.sum(t * values["d" + r[1:]]))
                     for r, t in zip(names, thirds[len(wrt):]))
    _assert_matches_differences(hvp_dot_r2, [derivative], expected, along, scales[2], True,
                                "d<H r, r2>/dr along d")


@settings(max_examples=NUMPY_EXAMPLES, **FUZZ)
@given(graphs())
def test_numpy_derivatives_to_third_order_match_finite_differences(case):
    _check_graph(case, backend="numpy")


@settings(max_examples=NUMBA_EXAMPLES, **FUZZ)
@given(graphs(max_ops=6, scales=(1.0, 1.0, 30.0, 1000.0)), st.booleans())
def test_numba_matches_numpy_on_values_and_derivatives_to_third_order(case, third):
    _check_graph(case, backend="numba", third=third)  # third derivatives: half the compile budget


# ------------------------------------------------------------------ float32 past 10**6 elements

# elementwise steps with float32-exact constants: (symgrad, NumPy)
F32_STEPS = {
    "sin": (sg.sin, np.sin),
    "cos": (sg.cos, np.cos),
    "tanh": (sg.tanh, np.tanh),
    "sigmoid": (sg.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    "softplus": (sg.softplus, lambda a: np.logaddexp(0.0, a)),
    "exp_sin": (lambda a: sg.exp(sg.sin(a)), lambda a: np.exp(np.sin(a))),
    "square": (lambda a: a * a, lambda a: a * a),
    "affine": (lambda a: 0.75 * a + 0.5, lambda a: 0.75 * a + 0.5),
    "sqrt": (lambda a: sg.sqrt(a * a + 1), lambda a: np.sqrt(a * a + 1)),
    "log": (lambda a: sg.log(a * a + 1), lambda a: np.log(a * a + 1)),
    "rdiv": (lambda a: 1 / (1 + a * a), lambda a: 1 / (1 + a * a)),
    "relu": (sg.relu, lambda a: np.maximum(a, 0.0)),
    "abs": (sg.abs, np.abs),
}
# layout: (shape with the long named axis n, the axes an axis reduction may take)
F32_LAYOUTS = {"vector": (("n",), (None,)), "rows": ((3, "n"), (None, 1)),
               "columns": (("n", 3), (None, 0))}


@st.composite
def float32_graphs(draw):
    """(layout, length of the long axis, steps, reduction, axis, seed): a float32
    chain of elementwise steps over x * a + b, reduced, of more than 10**6 elements."""
    layout = draw(st.sampled_from(sorted(F32_LAYOUTS)))
    n = draw(st.integers(1_000_001, 1_100_000)) if layout == "vector" else \
        draw(st.integers(340_000, 370_000))
    steps = draw(st.lists(st.sampled_from(sorted(F32_STEPS)), min_size=1, max_size=4))
    return (layout, n, steps, draw(st.sampled_from(["sum", "mean"])),
            draw(st.sampled_from(F32_LAYOUTS[layout][1])), draw(st.integers(0, 2 ** 32 - 1)))


def _float32_graph(layout, steps, reduction, axis, dtype):
    x = sg.tensor("x", F32_LAYOUTS[layout][0], dtype=dtype)
    a, b = sg.scalar("a", dtype=dtype), sg.scalar("b", dtype=dtype)
    e = x * a + b
    for step in steps:
        e = F32_STEPS[step][0](e)
    reduce = getattr(sg, reduction)
    cost = reduce(e)
    return [x, a, b], e, reduce(e, axis=axis), cost


def _check_float32(case, backend):
    """The reduced value, a full reduction and its gradients with respect to the
    scalars a and b (sums over every element too) against float64: within 1e-6 of
    the same reduction of the terms' magnitudes (the sum's condition: for positive
    terms, 1e-6 relative). A float32 running sum errs by up to ~n * 6e-8."""
    layout, n, steps, reduction, axis, seed = case
    rng = np.random.default_rng(seed)
    shape = tuple(n if d == "n" else d for d in F32_LAYOUTS[layout][0])
    x32 = rng.uniform(-1.5, 1.5, shape).astype(np.float32)
    a32, b32 = np.float32(rng.uniform(0.5, 1.5)), np.float32(rng.uniform(-0.5, 0.5))
    inputs, _, value, cost = _float32_graph(layout, steps, reduction, axis, "float32")
    got = Function(inputs, [value, cost] + sg.grad(cost, inputs[1:]), backend=backend)(
        x32, a32, b32)
    # float64 references: the chain in NumPy; d cost / dx by symgrad in float64, as
    # terms of the sums d cost / da = sum(dx * x / a), d cost / db = sum(dx / a)
    x, a, b = x32.astype(np.float64), np.float64(a32), np.float64(b32)
    terms = x * a + b
    for step in steps:
        terms = F32_STEPS[step][1](terms)
    inputs64, _, _, cost64 = _float32_graph(layout, steps, reduction, axis, "float64")
    dx = Function(inputs64, sg.grad(cost64, inputs64[0]), backend="numpy")(x, a, b)
    reduce = getattr(np, reduction)
    expected = [(terms, axis), (terms, None), (dx * x / a, "sum"), (dx / a, "sum")]
    for k, (out, (t, how)) in enumerate(zip(got, expected)):
        out = np.asarray(out)
        assert out.dtype == np.float32, (k, out.dtype)
        if how == "sum":
            reference, magnitude = np.sum(t), np.sum(np.abs(t))
        else:
            reference, magnitude = reduce(t, axis=how), reduce(np.abs(t), axis=how)
        error = np.abs(out.astype(np.float64) - reference)
        assert np.all(error <= 1e-6 * magnitude + 1e-30), (
            f"{backend} output {k} ({['value', 'cost', 'd/da', 'd/db'][k]}): {out} but float64 "
            f"{reference}; error / magnitude {np.max(error / magnitude)}")


@settings(max_examples=max(3, NUMPY_EXAMPLES // 25), **FUZZ)
@given(float32_graphs())
def test_numba_float32_reductions_past_a_million_elements_match_float64(case):
    _check_float32(case, "numba")


@settings(max_examples=max(3, NUMPY_EXAMPLES // 25), **FUZZ)
@given(float32_graphs())
def test_numpy_float32_reductions_past_a_million_elements_match_float64(case):
    _check_float32(case, "numpy")


# ------------------------------------------------------- regressions and bugs the fuzzer found

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_mean_over_a_flattened_or_concatenated_named_dimension(backend):
    # found by the fuzzer: mean over an axis of size m*n made a DimSize leaf of
    # the compound size m*n, which no input binds ("uses the named dimension m*n")
    M = sg.matrix("M", "m", "n")
    X = np.arange(6.0).reshape(2, 3) ** 2
    flat = M.reshape((-1,)).mean()
    twice = sg.concatenate([M, M], axis=0).mean(axis=0)
    f = Function([M], [flat, sg.grad(flat, M), twice], backend=backend)
    value, g, rows = f(X)
    np.testing.assert_allclose(value, X.mean(), rtol=1e-15)
    np.testing.assert_allclose(g, np.full((2, 3), 1 / 6), rtol=1e-15)
    np.testing.assert_allclose(rows, np.concatenate([X, X]).mean(axis=0), rtol=1e-15)


def test_ties_at_a_kink_are_not_mistaken_for_gradient_bugs():
    # found by the fuzzer (a test bug, not a symgrad one): maximum(T, s) with T == s
    # exactly; every central difference there is the average slope 1/2, while
    # the gradient follows API.md's tie rule (all to the first argument)
    T, s = sg.tensor("T", (1, 1, 1)), sg.scalar("s")
    cost = sg.sum(sg.sin(sg.maximum(T, s) * 1.3 + 0.4))
    f = Function([T, s], [cost] + sg.grad(cost, [T, s]), backend="numpy")
    values = {"T": np.full((1, 1, 1), -0.5), "s": np.array(-0.5)}
    _, gT, gs = f(values["T"], values["s"])
    assert gT.item() == pytest.approx(1.3 * np.cos(1.3 * -0.5 + 0.4)) and gs == 0

    def run(vals):
        return f(vals["T"], vals["s"])

    def cost_of(out):
        return float(out[0])
    base = run(values)
    probes = {h: _probe(run, values, "T", h) for h in STEPS}
    central, forward, backward = _slopes(cost_of, base, probes, 1e-5)
    assert central.item() == pytest.approx(gT.item() / 2, rel=1e-4)  # the averaged slope
    assert forward.item() != pytest.approx(backward.item(), rel=1e-3)  # seen as a kink
    _assert_matches_differences(cost_of, gT, base, probes, 1.0, True, "gradient")  # hence skipped


# found by this fuzzer when it learnt special points and third derivatives (fixed in
# 5a10e79); both backends share the derived formulas, NumPy runs them without a compile

@pytest.mark.parametrize("name", ["softplus", "sigmoid"])
def test_third_derivative_at_a_zero_cotangent(name):
    # the third-order formula divided by the upstream gradient: 0/0 = nan at r = 0
    x, r = sg.scalar("x"), sg.scalar("r")
    hvp = sg.grad(sg.grad(getattr(sg, name)(x), x) * r, x)  # f''(x) r
    got = Function([x, r], sg.grad(hvp, r), backend="numpy")(0.3, 0.0)
    y = 1 / (1 + np.exp(-0.3))  # sigmoid = softplus'
    expected = y * (1 - y) if name == "softplus" else y * (1 - y) * (1 - 2 * y)
    assert got == pytest.approx(expected, rel=1e-12)


def test_mixed_third_derivative_where_an_inner_derivative_vanishes():
    # a two-argument formula's mixed third derivative was nan (0/0) where d cos / dx = 0
    x, s = sg.scalar("x"), sg.scalar("s")
    d = sg.grad(sg.grad(sg.grad(swish(sg.cos(x), s), x), s), x)
    t, b = sympy.symbols("t b", real=True)
    expected = sympy.diff(sympy.cos(t) / (1 + sympy.exp(-b * sympy.cos(t))), t, b, t)
    got = Function([x, s], d, backend="numpy")(0.0, -0.05)
    assert got == pytest.approx(float(expected.subs({t: 0, b: -0.05})), rel=1e-12)  # -0.4994


def test_third_derivative_of_a_power_at_a_zero_residual():
    # lost terms (10.66, not 15.99): the guards of g and of x**y had been merged
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    d3 = sg.grad(sg.grad(sg.grad((x ** y - z) ** 2, y), y), y)
    got = Function([x, y, z], d3, backend="numpy")(2.0, 1.5, 2.0 ** 1.5)
    # at x**y = z: 6 (d x**y / dy) (d2 x**y / dy2) = 6 x**(2y) log(x)**3
    assert got == pytest.approx(6 * 2.0 ** 3 * np.log(2.0) ** 3, rel=1e-12)


@pytest.mark.parametrize("what", ["axis sum", "gradient of a broadcast scalar"])
def test_numpy_backend_float32_axis_sums_accumulate_in_float64(what):
    # NumPy sums float32 along an axis in float32 (3e-5 off over 350000 rows)
    x, b = sg.matrix("x", "n", 3, dtype="float32"), sg.scalar("b", dtype="float32")
    xv = np.random.default_rng(0).uniform(0.5, 1.5, (350_000, 3)).astype(np.float32)
    if what == "axis sum":
        got = Function([x], sg.sum(x * x, axis=0), backend="numpy")(xv)
        expected = (xv.astype(np.float64) ** 2).sum(axis=0)
    else:  # d/db mean(0.75 (x + b)) = 0.75: a sum over both axes
        got = Function([x, b], sg.grad(sg.mean(0.75 * (x + b)), b), backend="numpy")(
            xv, np.float32(0.25))
        expected = 0.75
    np.testing.assert_allclose(got, expected, rtol=1e-6)
