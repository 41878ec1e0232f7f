"""``sg.local_gradient``: one node of a backward pass, as the lecture draws it.

For a node y = f(x₁, ..., xₙ) inside the graph of a cost C:

* upstream   ∂C/∂y, the gradient arriving from the cost's side;
* local      ∂y/∂xₖ, the node's own derivative (for an elementwise node the
  SymPy derivative of its formula, written in terms of y where autodiff does
  so, e.g. tanh' = 1 - y²);
* downstream ∂C/∂xₖ through this node = upstream × local, exactly the
  expression reverse mode builds (the op's ``vjp``), printed with the
  upstream gradient as a symbol.

With ``values`` every part also gets its numbers.
"""
import string

import numpy as np
import sympy
from sympy.printing.pretty.stringpict import prettyForm, stringPict

from .autodiff import backward
from .function import evaluate
from .graph import toposort
from .ops import Input, free_inputs
from .printing import _pretty_form
from .sympy_form import sympy_form
from .types import is_float


def _join(prefix, form, value=None, missing=""):
    """``prefix`` + the pretty form + ``= value``, aligned when the form spans lines."""
    if isinstance(form, str):
        body = prettyForm(form)
    elif isinstance(form, prettyForm):
        body = form
    else:
        body = _pretty_form(form) if form is not None else prettyForm(missing)
    parts = [prettyForm(prefix), body]
    if value is not None:
        parts.append(prettyForm("   = " + np.array2string(np.asarray(value), precision=4,
                                                           threshold=10)))
    return prettyForm(*stringPict.next(*parts))


def _labels(nodes, taken):
    """A name per node: its own, else a, b, c, ... (not already taken)."""
    spare = (c for c in string.ascii_lowercase if c not in taken)
    out = {}
    for n in nodes:
        own = n.op.name if isinstance(n.op, Input) else n._name
        out[n] = own if own is not None else next(spare)
    return out


class LocalGradient:
    """Upstream, local and downstream gradients of one node (see
    :func:`local_gradient`). Attributes: ``upstream`` (an expression),
    ``downstream`` (one expression per input, None where no gradient flows),
    ``local`` (one SymPy formula per input, None for ops that are linear
    maps without a formula), and the SymPy forms used for printing."""

    def __init__(self, cost, node, values=None, names=None):
        if not is_float(node.dtype):
            raise TypeError(f"local_gradient: {node.describe()} is not floating-point; "
                            "no gradient flows through it")
        adjoints = backward(cost, [node])
        if node not in adjoints:
            raise ValueError(f"cost {cost.name!r} does not depend on {node.describe()}")
        self.cost, self.node, self.inputs = cost, node, list(node.inputs)
        self.upstream = adjoints[node]
        self.downstream = [node.op.vjp(node, k, self.upstream) if is_float(x.dtype) else None
                           for k, x in enumerate(self.inputs)]
        inputs = list(dict.fromkeys(self.inputs))
        given = dict(names or {})
        taken = {n.name for n in free_inputs([cost])} | set(given.values())
        labels = {**_labels([x for x in inputs if x not in given], taken), **given}
        names = {x: labels[x] for x in inputs}
        self.cost_name = c = given.get(cost) or cost._name or (
            cost.op.name if isinstance(cost.op, Input) else "C")
        y = given.get(node) or node._name or next(
            ch for ch in "yvwz" if ch not in taken | set(names.values()))
        self.names = {**names, node: y}
        self.symbols = {n: sympy.Symbol(label, real=True) for n, label in self.names.items()}
        self.upstream_name = f"∂{c}/∂{y}"
        self.index_names = {}
        self.local = [self._local(k) for k in range(len(self.inputs))]
        self.numbers = self._numbers(values) if values is not None else None

    def _local(self, k):
        """∂y/∂x_k as the op derives it (None for a linear map shown without a formula)."""
        form, indices = self.node.op.local_derivative(self.node, k, self.symbols, self.names,
                                                      set(self.names.values()))
        if indices is not None:
            self.index_names[k] = indices
        return form

    def _numbers(self, values):
        wanted = [self.node, self.upstream] + [d for d in self.downstream if d is not None]
        got = dict(zip(wanted, evaluate(wanted, values)))
        inputs = dict(zip(self.inputs, evaluate(self.inputs, values))) if self.inputs else {}
        local = []
        for k, form in enumerate(self.local):
            if form is None or k in self.index_names:  # an indexed form has no one number
                local.append(None)
                continue
            known = {self.symbols[n]: v for n, v in {**inputs, self.node: got[self.node]}.items()}
            fn = sympy.lambdify(list(known), form, "numpy")
            local.append(np.broadcast_to(fn(*known.values()), np.shape(got[self.node])))
        return {"value": got[self.node], "upstream": got[self.upstream], "local": local,
                "downstream": [got.get(d) for d in self.downstream]}

    def rows(self):
        """The view as (heading, pretty form) rows."""
        stops = dict(self.names)
        node_form = sympy_form(self.node, {n: s for n, s in stops.items() if n is not self.node})
        nums = self.numbers or {}
        y = self.names[self.node]
        rows = [("node", _join(f"{y} = ", node_form, nums.get("value"))),
                ("upstream", _join(f"{self.upstream_name} = ", sympy_form(self.upstream, self._named_inside(self.upstream)),
                                   nums.get("upstream")))]
        for k, x in enumerate(self.inputs):
            xname = self.names[x]
            if self.downstream[k] is None:
                why = self.node.op.label if is_float(x.dtype) else "integer"  # e.g. stop_gradient
                rows.append(("input", f"{xname}: no gradient flows ({why})"))
                continue
            local = self.local[k]
            rows.append(("local", _join(f"{self._partial(y, xname, k)} = ", local,
                                        nums["local"][k] if nums else None,
                                        f"linear map ({self.node.op.label})")))
            down = (sympy.Symbol(self.upstream_name) if self.downstream[k] is self.upstream
                    else sympy_form(self.downstream[k], {**stops, self.upstream: self.upstream_name}))
            lhs = f"∂{self.cost_name}/∂{xname} = upstream × local = "
            rows.append(("downstream", _join(lhs, down, nums["downstream"][k] if nums else None)))
        return rows

    def _named_inside(self, expr):
        """Names to keep as symbols when printing ``expr``: the view's own and the
        user's named nodes below ``expr``."""
        named = {n: n.name for n in toposort([expr]) if n._name is not None}
        named.update(self.names)
        named.pop(expr, None)
        return named

    def _partial(self, y, x, k):
        """∂y/∂x, or ∂y[i]/∂x[i, j] for a contraction (the local derivative per element)."""
        if k not in self.index_names:
            return f"∂{y}/∂{x}"
        out, sub, letters = self.index_names[k]
        at = lambda s: f"[{', '.join(str(letters[ch]) for ch in s)}]" if s else ""  # noqa: E731
        return f"∂{y}{at(out)}/∂{x}{at(sub)}"

    def __str__(self):
        rows = self.rows()
        width = max(len(h) for h, _ in rows) + 2
        text = "\n".join(_join(h.ljust(width), form).render(wrap_line=False) for h, form in rows)
        return "\n".join(line.rstrip() for line in text.splitlines())

    __repr__ = __str__


def local_gradient(cost, node, values=None, names=None):
    """The lecture's "downstream = upstream × local" at ``node`` of ``cost``'s
    graph: upstream gradient, the node's local derivative (derived by SymPy
    for an elementwise node) and the downstream gradient of each input, with
    numbers when ``values`` (inputs, or their names, to arrays) are given.
    ``names`` ({expr: name}) labels the cost, the node and its inputs.

    >>> import symgrad as sg
    >>> x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    >>> q = x + y
    >>> f = q * z
    >>> print(sg.local_gradient(f, q, values={"x": -2.0, "y": 5.0, "z": -4.0},
    ...                         names={f: "f", q: "q"}))
    node        q = x + y   = 3.
    upstream    ∂f/∂q = z   = -4.
    local       ∂q/∂x = 1   = 1
    downstream  ∂f/∂x = upstream × local = ∂f/∂q   = -4.
    local       ∂q/∂y = 1   = 1
    downstream  ∂f/∂y = upstream × local = ∂f/∂q   = -4.
    >>> h = sg.tanh(x * y)
    >>> print(sg.local_gradient(h * z, h, names={h: "h"}))
    node        h = tanh(a)
    upstream    ∂C/∂h = z
                             2
    local       ∂h/∂a = 1 - h
                                                 ⎛     2⎞
    downstream  ∂C/∂a = upstream × local = ∂C/∂h⋅⎝1 - h ⎠
    """
    return LocalGradient(cost, node, values, names)
