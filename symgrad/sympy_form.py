"""``expr.to_sympy()``: the SymPy form of a graph, as a lecture writes it.

Three forms, tried in this order:

* 0-d graphs of 0-d nodes give a plain SymPy expression; every input ``x``
  is ``sympy.Symbol("x", real=True)``.
* Graphs of scalars, vectors and matrices give SymPy matrix expressions:
  a vector is a column (``MatrixSymbol("x", n, 1)``), an einsum is read as a
  matrix product, outer product, transpose or sum (``Contract "ab,b->a"`` is
  ``W x``, ``"a,b->ab"`` is ``d xᵀ``), an elementwise formula as sums,
  Hadamard products and powers and elementwise functions of its arguments.
* Anything else (gathers, reshapes, max, rank-3 tensors, formulas with no
  matrix reading) gives an indexed form: ``Lambda((i, j), body)`` whose body
  is the element at (i, j), written with ``Indexed`` and ``Sum``; the parts
  of the graph that do have a matrix form appear as its entries,
  ``(W x)[i, 0]``, which keeps the formula short.

Each op gives its own readings (its ``matrix_form`` and ``index_form``
facets, in ``symgrad/ops``); this module walks the graph. Named nodes
(``h.name = "h"``, or the ``names`` mapping) stay symbols, so a large graph
reads as a few definitions (see ``printing.py``); so do, in ``to_sympy``,
the nodes that several others use when writing them out everywhere would be
large (``Where``, :func:`shared_form`): the result stays linear in the graph.
The zero-upstream guard that derived gradients carry (derivatives.py) is
dropped: it changes no value where the formula is finite.
"""
import itertools
import string

import sympy
from sympy import MatrixExpr, MatrixSymbol
from sympy.matrices.expressions.matexpr import MatrixElement

from .graph import toposort
from .ops import Input, Leaf
from .sympy_algebra import (NoMatrixForm, Where, label_of, shared_evaluation, symbol_for,
                            uniform_value)


class _Indices:
    """Fresh integer index symbols, renamed i, j, k, ... at the end."""

    def __init__(self):
        self.count = itertools.count()

    def fresh(self, n):
        return tuple(sympy.Symbol(f"_idx{next(self.count)}", integer=True) for _ in range(n))

    @staticmethod
    def rename(form, first, taken):
        """Index symbols renamed i, j, k, ...: ``first`` (the result's own) first."""
        found = sorted((s for s in form.free_symbols | _bound(form) if s.name.startswith("_idx")),
                       key=lambda s: (s not in first, int(s.name[4:])))
        names = (n for n in itertools.chain("ijklpqrs", (f"i{k}" for k in itertools.count(1)))
                 if n not in taken)
        return form.xreplace({s: sympy.Symbol(next(names), integer=True) for s in found})


def _bound(form):
    return {v for s in form.atoms(sympy.Sum, sympy.Product, sympy.Lambda) for v in s.variables}


class _IndexedReader:
    """Each node as (index symbols, body): the element at those indices."""

    def __init__(self):
        self.indices = _Indices()
        self.forms = {}

    def at(self, x, idx):
        syms, body = self.forms[x]
        return body.xreplace(dict(zip(syms, idx)))

    def limits(self, syms, dims):
        return [(s, 0, d - 1) for s, d in zip(syms, dims)]

    def read(self, node):
        idx = self.indices.fresh(node.ndim)
        self.forms[node] = (idx, self.body(node, idx))

    def leaf(self, node, base):
        idx = self.indices.fresh(node.ndim)
        self.forms[node] = (idx, base[idx] if node.ndim else base)

    def body(self, node, idx):
        return node.op.index_form(node, self, idx)


def _nodes_until(root, stops):
    """``root``'s graph in topological order, not looking past the ``stops``."""
    def children(node):
        return iter(()) if node in stops and node is not root else iter(node.inputs)
    order, done, stack = [], {root}, [(root, children(root))]
    while stack:
        node, todo = stack[-1]
        for x in todo:
            if x not in done:
                done.add(x)
                stack.append((x, children(x)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def user_names(roots):
    """{node: name} of the named interior nodes below ``roots`` (roots excluded)."""
    return {n: n._name for n in toposort(list(roots))
            if n._name is not None and not isinstance(n.op, Leaf) and n not in roots}


def _matrix_node(node, forms, stops, root):
    """The scalar/matrix form of one node given its inputs' ``forms``."""
    if node in stops and node is not root:
        return symbol_for(stops[node], node.shape)
    if node.ndim > 2:
        raise NoMatrixForm(f"{node.describe()} has rank {node.ndim}")
    return node.op.matrix_form(node, forms)


def _matrix_forms(nodes, root, stops):
    """{node: form} for the ``nodes`` (in topological order) that have a scalar
    or matrix form, as have all their inputs."""
    forms = {}
    for node in nodes:
        stop = node in stops and node is not root
        if not stop and any(x not in forms for x in node.inputs):
            continue
        try:
            forms[node] = _matrix_node(node, forms, stops, root)
        except NoMatrixForm:
            pass
    return forms


@shared_evaluation()
def matrix_form(root, stops):
    """The scalar/matrix form of ``root`` with ``stops`` {node: name} as symbols;
    raises NoMatrixForm when some node has none."""
    forms = {}
    for node in _nodes_until(root, stops):
        forms[node] = _matrix_node(node, forms, stops, root)
    return forms[root]


def _element(form, idx):
    """The entry at ``idx`` of a scalar, vector (a column) or matrix form, unexpanded."""
    uniform = uniform_value(form)
    if not idx or not isinstance(uniform, MatrixExpr):
        return uniform
    if isinstance(form, MatrixSymbol):
        return sympy.IndexedBase(sympy.Symbol(form.name))[idx]
    return MatrixElement(form, idx[0], idx[1] if len(idx) == 2 else 0)


@shared_evaluation()
def indexed_form(root, stops):
    """The element of ``root`` at symbolic indices: ``Lambda((i, ...), body)``
    (a plain expression for 0-d), with ``Sum`` and ``Indexed``; parts of the
    graph that have a matrix form appear as entries of it, ``(W x)[i, 0]``."""
    nodes = _nodes_until(root, stops)
    matrices = _matrix_forms(nodes, root, stops)
    reader = _IndexedReader()
    for node in nodes:
        if node in stops and node is not root:
            reader.leaf(node, symbol_for(stops[node], node.shape, indexed=True))
        elif node in matrices and node.inputs:
            idx = reader.indices.fresh(node.ndim)
            reader.forms[node] = (idx, _element(matrices[node], idx))
        else:
            reader.read(node)
    return _indexed(*reader.forms[root])


def _indexed(idx, body):
    """``Lambda(idx, body)`` (``body`` for 0-d), its indices named i, j, k, ..."""
    form = sympy.Lambda(idx, body) if idx else body
    taken = {s.name for s in form.free_symbols} | set(string.ascii_letters) - set("ijklpqrs")
    return _Indices.rename(form, idx, taken)


class _Reading:
    """The readings of a graph's nodes, each read once, in topological order:
    its matrix form (where its inputs have one) and its element at fresh
    indices, as :func:`matrix_form` and :func:`indexed_form` read them; a node
    read can become a symbol for the nodes read after it (:meth:`symbol`)."""

    def __init__(self):
        self.matrices, self.reader = {}, _IndexedReader()

    def read(self, node):
        if all(x in self.matrices for x in node.inputs) and node.ndim <= 2:
            try:
                self.matrices[node] = node.op.matrix_form(node, self.matrices)
            except NoMatrixForm:
                pass
        if node in self.matrices and node.inputs:
            idx = self.reader.indices.fresh(node.ndim)
            self.reader.forms[node] = (idx, _element(self.matrices[node], idx))
        else:
            self.reader.read(node)

    def symbol(self, node, name):
        self.matrices.pop(node, None)
        try:
            self.matrices[node] = symbol_for(name, node.shape)
        except NoMatrixForm:
            pass
        self.reader.leaf(node, symbol_for(name, node.shape, indexed=True))

    def form(self, node):
        """The node's form: as ``sympy_form`` gives it (up to the names of indices)."""
        if node in self.matrices:
            return self.matrices[node]
        return _indexed(*self.reader.forms[node])


@shared_evaluation()
def sympy_form(root, stops):
    """The matrix form of ``root`` where there is one, else its indexed form."""
    try:
        return matrix_form(root, stops)
    except NoMatrixForm:
        return indexed_form(root, stops)


# ---------------------------------------------------------------- shared nodes, written once

def tree_size(e, sizes, stand_for=None):
    """The number of nodes of ``e`` written out as a tree (what
    ``sympy.preorder_traversal`` counts), each distinct subexpression visited
    once; ``sizes`` {id: size} is kept between calls on parts of one expression.
    With ``stand_for`` {name: size}, a symbol of that name (a matrix symbol, an
    element ``v[i, j]``) counts as that size: as if written out."""
    stack = [e]
    while stack:
        node = stack[-1]
        if id(node) in sizes:
            stack.pop()
            continue
        if stand_for and isinstance(node, (sympy.Symbol, MatrixSymbol, sympy.Indexed)) and \
                label_of(node) in stand_for:
            sizes[id(node)] = stand_for[label_of(node)]
            stack.pop()
            continue
        args = node.args if isinstance(node, sympy.Basic) else ()
        pending = [a for a in args if id(a) not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[id(node)] = 1 + sum(sizes[id(a)] for a in args)
    return sizes[id(e)]


def size(e):
    return tree_size(e, {})


def uses_below(roots, stops=()):
    """Topological order of the nodes below ``roots`` (not looking past the
    ``stops`` that are not roots) and the number of uses of each: an edge from
    a user (through an input its value depends on), or being a root."""
    order, uses, seen = [], {}, set()

    def inputs(node):
        return iter(()) if node in stops and node not in roots else iter(node.op.used_inputs(node))

    for root in roots:
        uses[root] = uses.get(root, 0) + 1
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, inputs(root))]
        while stack:
            node, todo = stack[-1]
            for x in todo:
                uses[x] = uses.get(x, 0) + 1
                if x not in seen:
                    seen.add(x)
                    stack.append((x, inputs(x)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order, uses


def defined_symbol(name, node):
    """The symbol a definition defines: as ``symbol_for``, an IndexedBase past rank 2."""
    try:
        return symbol_for(name, node.shape)
    except NoMatrixForm:
        return symbol_for(name, node.shape, indexed=True)


def _names_in(order, stops):
    """The names the graph's symbols use: its inputs, its symbolic sizes, the ``stops``."""
    return ({n.op.name for n in order if isinstance(n.op, Input)} | set(stops.values())
            | {str(d) for n in order for d in n.shape if not isinstance(d, int)})


# to_sympy writes a node that several others use once (a definition of its
# own) when its form has more than SHARED_SIZE parts and writing such nodes
# out would make the result larger than WRITTEN_OUT_SIZE parts: a large graph
# then reads in a size that grows with the graph, and a small one as before.
# (Forms much larger than SHARED_SIZE also slow SymPy down: its constructors
# ask their arguments about their assumptions, walking them.)
SHARED_SIZE = 40
WRITTEN_OUT_SIZE = 500


@shared_evaluation()
def shared_form(root, stops):
    """``sympy_form(root, stops)``, with each node that several others use
    and whose form is large written once: ``Where(form, (v_1, form_1), ...)``
    (see SHARED_SIZE). The names are δ_1, δ_2, ... for nodes made by
    differentiation (``op.is_derivative``), v_1, v_2, ... for others."""
    _, uses = uses_below([root], stops)
    nodes = _nodes_until(root, stops)
    taken, counts = _names_in(nodes, stops), {}
    reading, chosen = _Reading(), {}
    for node in nodes:
        if node in stops and node is not root:
            reading.symbol(node, stops[node])
            continue
        reading.read(node)
        if uses.get(node, 0) < 2 or isinstance(node.op, Leaf) or node is root:
            continue
        line = reading.form(node)
        if size(line) > SHARED_SIZE:
            base = "delta" if node.op.is_derivative else "v"
            name = f"{base}_{counts.setdefault(base, 1)}"
            while name in taken:
                counts[base] += 1
                name = f"{base}_{counts[base]}"
            counts[base] += 1
            chosen[node] = (name, line)
            reading.symbol(node, name)
    if not chosen:
        return sympy_form(root, stops)
    form, written = reading.form(root), {}
    for name, line in chosen.values():
        written[name] = tree_size(line, {}, written)
    if tree_size(form, {}, written) <= WRITTEN_OUT_SIZE:
        return sympy_form(root, stops)
    return Where(form, *[(defined_symbol(name, n), line) for n, (name, line) in chosen.items()])


def to_sympy(expr, names=None, expand=False):
    """A SymPy object equal to the expression ``expr``.

    0-d graphs of scalars give a plain SymPy expression in the input symbols
    (``sympy.Symbol(name, real=True)``); tensor graphs give matrix expressions
    (vectors are columns: ``MatrixSymbol(name, n, 1)``) where they can be
    written so, else an indexed form ``Lambda((i, ...), element)``.
    Named interior nodes (``h.name = "h"``) and the nodes in ``names``
    ({expr: name}) stay symbols; ``expand=True`` writes everything out.

    When writing out the nodes that several others use would make the result
    large, those whose form is large are written once, as ``sg.pretty``
    gives them lines of their own: the result is then ``Where(form, (v_1,
    form_1), (v_2, form_2), ...)``, in which each symbol (δ_k for a node made
    by differentiation, v_k for others) stands for its form, which may use
    the symbols before it. It grows with the graph, not with the number of
    paths through it; ``.doit()`` writes the symbols out (as ``expand=True``).

    >>> import sympy, symgrad as sg
    >>> x, y = sg.scalar("x"), sg.scalar("y")
    >>> sg.grad(x * sg.sin(y), y).to_sympy()
    x*cos(y)
    >>> X = sympy.Symbol("x", real=True)
    >>> f = sg.exp(x) / x
    >>> sympy.simplify(sg.grad(f, x).to_sympy() - sympy.diff(f.to_sympy(), X))
    0
    >>> W, v, b = sg.matrix("W", "m", "n"), sg.vector("v", "n"), sg.vector("b", "m")
    >>> sg.tanh(W @ v + b).to_sympy()
    Lambda(t0, tanh(t0)).(W*v + b)
    >>> h = sg.tanh(W @ v + b)
    >>> h.name = "h"
    >>> (h * h).sum().to_sympy()
    InnerProduct(1, HadamardPower(h, 2))
    >>> sg.reshape(W, (-1,)).to_sympy()
    Lambda(i, W[Mod(floor(i/n), m), Mod(i, n)])
    >>> y = x
    >>> for _ in range(8):  # y is used twice a step: 2**8 paths from the last y to x
    ...     y = sg.sin(y) * sg.cos(y)
    >>> form = y.to_sympy()
    >>> [symbol for symbol, _ in form.definitions]
    [v_1]
    >>> sympy.count_ops(form), sympy.count_ops(form.doit())
    (92, 765)
    >>> form.doit() == y.to_sympy(expand=True)
    True
    """
    stops = {} if expand else user_names([expr])
    stops.update(names or {})
    stops.pop(expr, None)
    return sympy_form(expr, stops) if expand else shared_form(expr, stops)
