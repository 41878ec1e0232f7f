"""``sg.pretty``, ``sg.latex`` and ``sg.definitions``: derived formulas as a
lecture writes them on the board, a few short lines instead of one huge tree.

A graph is shown as definitions: every named interior node (``h.name = "h"``
or ``names={node: "h"}``) and every sizeable node that several formulas
share gets its own line and appears as a symbol elsewhere. Shared nodes made
by differentiation are called δ (δ₁, δ₂, ... when there are several), other
shared nodes v. For s = uᵀ tanh(W x + b)::

    δ = u∘(𝟙 - tanh(W⋅x + b)∘²)
    ∂s/∂W = δ⋅xᵀ
    ∂s/∂x = Wᵀ⋅δ

The printers are SymPy's, subclassed (they dispatch on the class): an
elementwise function of a matrix prints as ``tanh(W x + b)``, sums put their
positive terms first and Hadamard products their simplest factors first.
"""
import re

import sympy
from sympy import HadamardProduct, MatAdd, MatrixExpr
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm, stringPict

from .graph import Expr
from .ops import Input, Leaf
from .sympy_algebra import NoMatrixForm, negative_of, shared_evaluation, symbol_for
from .sympy_form import size, sympy_form, tree_size, user_names, uses_below


# ---------------------------------------------------------------- printers

def _function_name(e):
    """'tanh' for tanh.(X) or (d ↦ tanh(d)).(X); None for any other Lambda."""
    f = e.function
    if isinstance(f, sympy.Lambda) and len(f.variables) == 1 and \
            isinstance(f.expr, sympy.Function) and f.expr.args == f.variables:
        return type(f.expr).__name__
    if isinstance(f, sympy.FunctionClass):
        return f.__name__
    return None


_SUPERSCRIPTS = str.maketrans("0123456789-T", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᵀ")


class _PrettyPrinter(PrettyPrinter):
    """One-line transposes and Hadamard powers (xᵀ, v∘²) where the base is one line."""

    def _print_ElementwiseApplyFunction(self, e):
        name = _function_name(e)
        if name is None:
            return super()._print_ElementwiseApplyFunction(e)
        return self._helper_print_function(sympy.Function(name), [e.expr])

    def _superscript(self, base, text, fallback):
        form = self._print(base)
        if form.height() != 1:
            return fallback()
        if not isinstance(base, (sympy.MatrixSymbol, sympy.Symbol, ElementwiseApplyFunction)):
            form = prettyForm(*form.parens())
        return prettyForm(form.render(wrap_line=False) + text.translate(_SUPERSCRIPTS))

    def _print_Transpose(self, e):
        return self._superscript(e.arg, "T",
                                 lambda: super(_PrettyPrinter, self)._print_Transpose(e))

    def _print_HadamardPower(self, e):
        if not (e.exp.is_Integer and -9 <= e.exp <= 9):
            return super()._print_HadamardPower(e)
        return self._superscript(e.base, f"∘{e.exp}",
                                 lambda: super(_PrettyPrinter, self)._print_HadamardPower(e))

    def _print_MatAdd(self, e):
        out = None
        for term in e.args:
            negative = sympy.S(term.as_coeff_mmul()[0]).could_extract_minus_sign()
            form = self._print(negative_of(term) if negative and out is not None else term)
            if out is None:
                out = form
            else:
                out = prettyForm(*stringPict.next(out, " - " if negative else " + ", form))
        return out


class _LatexPrinter(LatexPrinter):
    def _print_ElementwiseApplyFunction(self, e):
        name = _function_name(e)
        if name is None:
            return super()._print_ElementwiseApplyFunction(e)
        return r"%s{\left(%s \right)}" % (self._hprint_Function(name), self._print(e.expr))

    def _hprint_Function(self, func):
        # stop_gradient is one name, not "stop" with the subscript "gradient" (x_1 still is)
        if "_" in func and all(len(w) > 1 and w.isalpha() for w in func.split("_")):
            return r"\operatorname{%s}" % func.replace("_", r"\_")
        return super()._hprint_Function(func)

    def _print_Symbol(self, s, style="plain"):
        top, slash, bottom = s.name.partition("/")
        if slash and top.startswith("∂") and bottom.startswith("∂"):
            return r"\frac{\partial %s}{\partial %s}" % (
                self._print_Symbol(sympy.Symbol(top[1:])),
                self._print_Symbol(sympy.Symbol(bottom[1:])))
        if not _PLAIN_NAME.fullmatch(s.name):
            return (r"\mathbf{%s}" if style == "bold" else r"\mathrm{%s}") % latex_text(s.name)
        return super()._print_Symbol(s, style)


# Names SymPy writes itself: letters, digits, ' and its sub/superscript marks
# (x_1, x^2, alpha -> \alpha). Any other name is written as text, escaped.
_PLAIN_NAME = re.compile(r"[^\W_][\w'^]*")

_LATEX_ESCAPES = {"\\": r"\backslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
                  "#": r"\#", "^": r"\hat{}", "_": r"\_", "%": r"\%", "~": r"\sim{}",
                  " ": r"\ "}


def latex_text(name):
    r"""``name`` as the argument of ``\mathrm{...}``: LaTeX's special characters
    escaped, control and other invisible characters written as escapes
    (``\backslash{}n`` for a newline), so a name shows as itself and can run
    no command.

    >>> print(latex_text(r"\href{javascript:alert(1)}{x}_1"))
    \backslash{}href\{javascript:alert(1)\}\{x\}\_1
    """
    visible = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return "".join(_LATEX_ESCAPES.get(c, c) for c in visible)


def readable(e):
    """``e`` rearranged for reading (same value): sums with positive terms first,
    Hadamard products with their simplest factors first."""
    return _Rearrangement().of(e)


class _Rearrangement:
    """:func:`readable` with each distinct subexpression rearranged once."""

    def __init__(self):
        self.done, self.sizes = {}, {}  # {id: (expression, rearranged)}, {id: tree size}

    def of(self, e):
        if id(e) not in self.done:
            self.done[id(e)] = (e, self._rearranged(e))
        return self.done[id(e)][1]

    def _rearranged(self, e):
        if not isinstance(e, sympy.Basic) or e.is_Atom or not e.args:
            return e
        if isinstance(e, MatAdd):
            terms = sorted(map(self.of, e.args), key=lambda t: sympy.S(
                t.as_coeff_mmul()[0]).could_extract_minus_sign())
            return MatAdd(*terms, evaluate=False)
        if isinstance(e, HadamardProduct):
            factors = sorted(map(self.of, e.args), key=lambda f: tree_size(f, self.sizes))
            return HadamardProduct(*factors, evaluate=False)
        if isinstance(e, (MatrixExpr, sympy.Expr)) and not isinstance(e, sympy.MatrixSymbol):
            args = [self.of(a) for a in e.args]
            if any(a is not b for a, b in zip(args, e.args)):
                unevaluated = isinstance(e, (sympy.MatMul, sympy.MatAdd))
                return e.func(*args, evaluate=False) if unevaluated else e.func(*args)
        return e


_SETTINGS = {"order": "none"}


def _short_floats(e):
    """Formulas keep 17 digits for exact evaluation; 12 are plenty to read."""
    if not isinstance(e, sympy.Basic):
        return e
    return e.xreplace({f: sympy.Float(float(f), 12) for f in _floats(e)})


def _floats(e):
    """The Floats in ``e`` (``e.atoms(Float)``, each distinct subexpression looked at once)."""
    found, seen, stack = set(), {id(e)}, [e]
    while stack:
        node = stack.pop()
        if isinstance(node, sympy.Float):
            found.add(node)
        for a in node.args:
            if id(a) not in seen:
                seen.add(id(a))
                stack.append(a)
    return found


def _pretty_form(e):
    return _PrettyPrinter({**_SETTINGS, "use_unicode": True})._print(readable(_short_floats(e)))


def _latex_str(e):
    return _LatexPrinter(_SETTINGS).doprint(readable(_short_floats(e)))


# ---------------------------------------------------------------- definitions

def _roots(exprs):
    """[(label or None, expr)] from an Expr, a list of them or a {label: Expr} dict."""
    if isinstance(exprs, Expr):
        return [(exprs._name, exprs)]
    if isinstance(exprs, dict):
        return [(str(k), e) for k, e in exprs.items()]
    return [(e._name, e) for e in exprs]


def _is_leaf(node):
    return isinstance(node.op, Leaf)


@shared_evaluation()
def definitions(exprs, names=None, share=True):
    """The formulas of ``exprs`` as a list of (symbol, SymPy form) lines, named
    nodes and shared nodes first, each defined once.

    ``exprs`` is an expression, a list of them, or a dict {label: expression}
    (labels such as ``"∂s/∂W"`` print as fractions in LaTeX). A line's symbol
    is None for an unnamed, unlabelled expression. ``names`` maps more nodes
    to names; ``share=False`` names only what the user named.

    >>> import symgrad as sg
    >>> x, y = sg.scalar("x"), sg.scalar("y")
    >>> q = x + y
    >>> q.name = "q"
    >>> f = q * sg.sin(q)
    >>> sg.definitions({"f": f, "∂f/∂x": sg.grad(f, x)})
    [(q, x + y), (f, q*sin(q)), (∂f/∂x, q*cos(q) + sin(q))]
    """
    roots = _roots(exprs)
    labels = {e: label for label, e in roots}
    stops = {**user_names(list(labels)), **(names or {})}
    order, uses = uses_below(list(labels))
    if share:
        taken = {n.op.name for n in order if isinstance(n.op, Input)} | set(stops.values())
        shared = [n for n in order if uses[n] >= 2 and n not in stops and not _is_leaf(n)]
        stops.update(_name_shared(shared, stops, taken))
    lines = [(_lhs(stops[n], n), sympy_form(n, stops)) for n in order
             if n in stops and not _is_leaf(n) and labels.get(n) != stops[n]]
    for label, e in roots:
        shown_as = stops.get(e)
        form = _lhs(shown_as, e) if shown_as not in (None, label) else sympy_form(e, stops)
        lines.append((None if label is None else sympy.Symbol(label), form))
    return lines


def _lhs(name, node):
    """The symbol a definition line defines."""
    try:
        return symbol_for(name, node.shape)
    except NoMatrixForm:
        return sympy.IndexedBase(name)


def _name_shared(shared, stops, taken):
    """{node: automatic name} for the ``shared`` nodes whose form is more than a
    symbol or two (those read better written out): δ for nodes made by
    differentiation (``op.is_derivative``), v for others, numbered when
    there are several; names in ``taken`` are avoided."""
    chosen = []
    for node in shared:
        if size(sympy_form(node, {**stops, **dict.fromkeys(chosen, "_")})) > 4:
            chosen.append(node)
    bases = {n: "delta" if n.op.is_derivative else "v" for n in chosen}
    out, taken = {}, set(taken)
    for base in dict.fromkeys(bases.values()):
        members = [n for n in chosen if bases[n] == base]
        for k, n in enumerate(members, 1):
            label = base if len(members) == 1 else f"{base}_{k}"
            while label in taken:
                label += "'"
            out[n] = label
            taken.add(label)
    return out


# ---------------------------------------------------------------- public printers

@shared_evaluation()
def pretty(exprs, names=None, share=True):
    """The formulas of ``exprs`` as Unicode text, one definition per line
    (see :func:`definitions` for ``exprs``, ``names`` and ``share``).

    >>> import symgrad as sg
    >>> W, x = sg.matrix("W", "m", "n"), sg.vector("x", "n")
    >>> b, u = sg.vector("b", "m"), sg.vector("u", "m")
    >>> s = sg.dot(u, sg.tanh(W @ x + b))
    >>> gW, gx = sg.grad(s, [W, x])
    >>> print(sg.pretty({"∂s/∂W": gW, "∂s/∂x": gx}))
    δ = u∘(𝟙 - tanh(W⋅x + b)∘²)
    ∂s/∂W = δ⋅xᵀ
    ∂s/∂x = Wᵀ⋅δ
    """
    out = []
    for lhs, rhs in definitions(exprs, names, share):
        form = _pretty_form(rhs)
        if lhs is not None:
            form = prettyForm(*stringPict.next(_pretty_form(lhs), " = ", form))
        out.append(form.render(wrap_line=False))
    return "\n".join(out)


@shared_evaluation()
def latex(exprs, names=None, share=True):
    """The formulas of ``exprs`` as LaTeX: one formula, or an ``aligned``
    block of definitions (see :func:`definitions`).

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> sg.latex(sg.grad(sg.tanh(x), x))
    '1 - \\\\tanh^{2}{\\\\left(x \\\\right)}'
    """
    lines = definitions(exprs, names, share)
    if len(lines) == 1 and lines[0][0] is None:
        return _latex_str(lines[0][1])
    rows = [(_latex_str(l) + " &= " if l is not None else "& ") + _latex_str(r)
            for l, r in lines]
    return "\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}"


def repr_latex(expr):
    """Jupyter's hook: the expression as display LaTeX."""
    return "$\\displaystyle " + latex(expr) + "$"
