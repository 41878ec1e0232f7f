"""Rewriting as its own stage: ``optimize(outputs)`` returns an equivalent graph.

Builders only construct nodes; every rewrite happens here, in one pass over
the graph in topological order, each node rebuilt from its rewritten inputs:

* graph rules (``GRAPH_RULES``): log(exp(z)) -> z (so log(softmax(x)) is
  log_softmax(x)), log(sigmoid(x)) -> -softplus(-x), log(1 - sigmoid(x)) ->
  -softplus(x);
* lookups of one table at consecutive positions of an index, concatenated
  (``concatenate([E[idx[:, k]] for k in range(5)], axis=1)``), become one
  lookup reshaped (``E[idx].reshape(...)``);
* an einsum of three or more operands becomes pairwise contractions in the
  order ``numpy.einsum_path`` finds cheapest (named dimensions counted as
  :data:`NAMED_SIZE`), so ``einsum("ij,jk,kl->il")`` costs two matrix
  products, not one O(n⁴) loop;
* constant folding: an op whose inputs are all small constants is evaluated;
* for a backend only: ``stop_gradient(x)`` becomes ``x`` (differentiation is
  over by then; the user's graph keeps it, so a gradient differentiated
  again still sees it), so a max shift reads as plainly as before;
* for a backend only: chains of elementwise ops of one shape compose into one
  formula (a producer used once, while the formula stays small, so compile
  time stays linear; not through a Piecewise, which SymPy re-simplifies
  slowly, nor a producer holding a float, which SymPy's canonical forms
  would merge into the consumer's by value: tanh(-2.5 x) is -tanh(2.5 x),
  and a float sweep would print a kernel per sign); a sum of slice_adds that
  tile an axis becomes a concatenation; the sparse terms (scatter-adds,
  slice-adds, put-alongs: the gradient of a table gathered in several
  places) of any other sum become one chain of them, each adding its rows
  into the previous one's buffer; and every formula gets the stability
  rewrites (``rewrites.stabilise``).

``grad`` optimizes the cost first without the backend-only steps (patterns
such as log(sigmoid) must be gone before the backward pass, and the formulas
that ``sympy.diff`` sees stay as written); ``sg.function`` optimizes its
outputs, so the NumPy backend evaluates exactly the graph Numba compiles.
"""
import functools

import numpy as np
import sympy

from . import elementwise_ops as ew
from .graph import toposort
from .ops import Constant, Contract, Elemwise, Gather, Slice, StopGradient
from .ops.contraction import contract
from .formulas import params
from .ops.elementwise import cast, stabilised
from .ops.leaves import constant
from .ops.indexing import PutAlong, ScatterAdd
from .ops.slicing import Concatenate, SliceAdd
from .ops.views import reshape_to

NAMED_SIZE = 256
"""The size assumed for a named dimension when ordering a contraction."""

SPLIT_GAIN = 4
"""A contraction is split into pairwise ones when that is this many times cheaper."""

FOLD_LIMIT = 4096
"""Constant folding evaluates ops with at most this many elements."""

COMPOSE_LIMIT = 40
"""Elementwise composition keeps formulas of at most this many operations."""


def _unary_inner(node, formula):
    """x when ``node`` is the unary elementwise op ``formula`` applied to x."""
    if isinstance(node.op, Elemwise) and len(node.inputs) == 1 and node.op.formula == formula:
        return node.inputs[0]
    return None


def _one_minus_sigmoid(s):
    x = _unary_inner(s, ew._sigmoid.formula)
    return None if x is None else -ew.softplus(x)


@functools.cache
def graph_rules():
    """{outer formula: [(inner formula, replacement(x))]} for outer(inner(x))."""
    t = sympy.Symbol("t0", real=True)
    return {ew._log.formula: [
        (ew._exp.formula, lambda x: x),
        (ew._sigmoid.formula, lambda x: -ew.softplus(-x)),
        (sympy.Lambda((t,), 1 - t), _one_minus_sigmoid),
    ]}


def _graph_rule(node, keep):
    """``node`` rewritten by a graph rule, or None (also when the rule would
    skip a node in ``keep``: a gradient with respect to it must find it)."""
    if not isinstance(node.op, Elemwise) or len(node.inputs) != 1 or node.inputs[0] in keep:
        return None
    for inner_formula, replace in graph_rules().get(node.op.formula, ()):
        x = _unary_inner(node.inputs[0], inner_formula)
        out = None if x is None else replace(x)
        if out is not None:
            return cast(out, node.dtype)
    return None


def _pairwise(node):
    """A contraction of three or more operands as a chain of pairwise ones,
    when that is at least :data:`SPLIT_GAIN` times cheaper than one loop nest."""
    if not isinstance(node.op, Contract) or len(node.inputs) < 3:
        return None
    subs, out = node.op.operands_and_output
    sizes = {c: d if isinstance(d, int) else NAMED_SIZE
             for s, x in zip(subs, node.inputs) for c, d in zip(s, x.shape)}
    views = [np.broadcast_to(np.empty(()), tuple(sizes[c] for c in s)) for s in subs]
    path = np.einsum_path(node.op.spec, *views, optimize="greedy")[0][1:]
    letters, specs, cost = list(subs), [], 0  # the subscripts of the operands left
    for pair in path:
        taken = [letters[i] for i in pair]
        letters = [s for i, s in enumerate(letters) if i not in pair]
        wanted = set(out).union(*letters)
        result = "".join(dict.fromkeys(c for s in taken for c in s if c in wanted))
        cost += int(np.prod([sizes[c] for c in set().union(*taken)]))
        specs.append(",".join(taken) + "->" + result)
        letters.append(result)
    if cost * SPLIT_GAIN > int(np.prod(list(sizes.values()))) * (len(subs) - 1):
        return None  # no cheaper: one loop rounds once (float32) and needs no buffers
    operands = list(node.inputs)
    for spec, pair in zip(specs, path):
        taken = [operands[i] for i in pair]
        operands = [o for i, o in enumerate(operands) if i not in pair] + [
            contract(spec, *taken)]
    (last,) = letters
    return operands[0] if last == out else contract(f"{last}->{out}", operands[0])


def _one_lookup(node, keep):
    """Lookups of one table at consecutive positions of an index's last axis,
    concatenated along their rows (the lecture's window vector,
    ``concatenate([E[idx[:, k]] for k in range(5)], axis=1)``), as one lookup
    reshaped: one gather loop, no copy, and a gradient of one scatter-add.
    Not when a gradient is wanted with respect to one of the lookups."""
    if not (isinstance(node.op, Concatenate) and all(
            isinstance(x.op, Gather) and x not in keep and isinstance(x.inputs[1].op, Slice)
            for x in node.inputs)):
        return None
    table, first = node.inputs[0].inputs[0], node.inputs[0].inputs[1]
    idx, lead = first.inputs[0], first.op.index[:-1]
    ks = [x.inputs[1].op.index[-1] for x in node.inputs]
    if (node.op.axis != first.ndim or table.ndim < 2
            or any(x.inputs[0] != table or x.inputs[1].inputs[0] != idx
                   or x.inputs[1].op.index[:-1] != lead for x in node.inputs)
            or not all(isinstance(k, int) and k >= 0 for k in ks)
            or ks != list(range(ks[0], ks[0] + len(ks)))):
        return None
    index = lead + ((ks[0], ks[0] + len(ks), 1),)
    whole = index == tuple((0, d, 1) for d in idx.shape)
    return reshape_to(Gather()(table, idx if whole else Slice(index)(idx)), node.shape)


def _folded(node):
    """``node`` evaluated, when its inputs are constants and its value is small
    and no larger than they are (a broadcast stays a view); else None."""
    if not node.inputs or not all(isinstance(i.op, Constant) for i in node.inputs):
        return None
    if not all(isinstance(d, int) for d in node.shape):
        return None
    size = int(np.prod(node.shape))
    if size > FOLD_LIMIT or size > max(i.op.value.size for i in node.inputs):
        return None
    try:
        value = node.op.evaluate(node, [i.op.value for i in node.inputs], {})
    except (ArithmeticError, IndexError, ValueError):
        return None  # raised where the graph runs, with the call's arguments
    return constant(np.asarray(value), dtype=node.dtype)


def _unstopped(node):
    return node.inputs[0] if isinstance(node.op, StopGradient) else None


def _composed(node, single_use):
    """``node`` with its elementwise inputs of the same shape and dtype that
    nothing else reads substituted into its formula, while it stays small."""
    if not isinstance(node.op, Elemwise) or node.op.formula.expr.has(sympy.Piecewise):
        return None  # SymPy re-simplifies a Piecewise whose pieces change: slow
    body, args, changed = node.op.formula.expr, [], False
    subs = {}
    for p, x in zip(node.op.formula.variables, node.inputs):
        inner = x.op
        if (x in single_use and isinstance(inner, Elemwise) and x.shape == node.shape
                and not inner.formula.expr.has(sympy.Piecewise, sympy.Float)
                and x.dtype == node.dtype and node.dtype in ("float32", "float64")
                and all(i.shape == node.shape for i in x.inputs)):
            fresh = [sympy.Dummy(real=True) for _ in x.inputs]
            subs[p] = inner.formula.expr.xreplace(dict(zip(inner.formula.variables, fresh)))
            args += list(zip(fresh, x.inputs))
            changed = True
        else:
            args.append((p, x))
    if not changed:
        return None
    body = body.xreplace(subs)
    if sympy.count_ops(body) > COMPOSE_LIMIT:
        return None
    # the formula is built here, not by ``apply``: its floats stay floats (a
    # composite of 1.5 * 2 is 3.0, so a float sweep keeps one kernel)
    inputs = list(dict.fromkeys(x for _, x in args))
    ps = params(len(inputs))
    body = body.xreplace({s: ps[inputs.index(x)] for s, x in args})
    op = node.op
    return Elemwise(sympy.Lambda(ps, body), op.fname, op.dtype, op.derivative_of)(*inputs)


def _joined(node):
    """A sum of slice_adds that tile one axis of its shape between them (the
    gradient of a tensor split into pieces, e.g. an LSTM's four gates) as the
    concatenation of their operands: no zero-filled buffer per piece to add.
    A term may be a chain of slice_adds (:func:`_accumulated` made it of an
    inner sum)."""
    if not (isinstance(node.op, Elemwise) and len(node.inputs) > 1
            and node.op.formula.expr == sympy.Add(*node.op.formula.variables)):
        return None
    pieces = []  # (index, operand)
    for x in node.inputs:
        while isinstance(x.op, SliceAdd) and x.op.shape == node.shape and x.dtype == node.dtype:
            pieces.append((x.op.index, x.inputs[0]))
            if len(x.inputs) == 1:
                break
            x = x.inputs[1]
        else:
            return None
    full = tuple((0, d, 1) for d in node.shape)
    axes = {a for index, _ in pieces for a, k in enumerate(index) if k != full[a]}
    if len(axes) != 1:
        return None
    (axis,) = axes
    bounds = [index[axis] for index, _ in pieces]
    if not all(isinstance(b, tuple) and all(isinstance(v, int) for v in b) for b in bounds):
        return None  # an int index, or bounds with a named dimension
    pieces = sorted(zip(bounds, (g for _, g in pieces)), key=lambda p: p[0])
    ends = [0] + [stop for (_, stop, _), _ in pieces]
    if ends[-1] != node.shape[axis] or any(
            (start, step) != (end, 1) for ((start, _, step), _), end in zip(pieces, ends)):
        return None
    return Concatenate(axis)(*(g for _, g in pieces))


SPARSE_ARITY = {ScatterAdd: 2, PutAlong: 2, SliceAdd: 1}
"""The sparse ops, each with the number of its inputs before its optional base."""


def _accumulated(node):
    """A sum with several sparse terms of its shape and dtype (the gradient of
    a table gathered in several places: a scatter-add per gather) with those
    terms as one chain, each adding its rows into the one before: one
    table-sized buffer filled in place, instead of a zero-filled one per term
    summed densely. The dense terms are added to the chain's sum after it,
    as before (an optimiser's update reads a sparse gradient as a whole: the
    same bits as its NumPy step)."""
    if not (isinstance(node.op, Elemwise) and isinstance(node.op.formula.expr, sympy.Add)):
        return None
    of = dict(zip(node.op.formula.variables, node.inputs))
    terms = node.op.formula.expr.args
    sparse = [t for t in terms if t in of and type(of[t].op) in SPARSE_ARITY
              and of[t].shape == node.shape and of[t].dtype == node.dtype
              and sum(t in u.free_symbols for u in terms) == 1]
    if len(sparse) < 2:
        return None
    chain = None  # started from a chain if there is one: a term added to it costs one node
    for t in sorted(sparse, key=lambda t: len(of[t].inputs) == SPARSE_ARITY[type(of[t].op)]):
        chain = _add_into(chain, of[t])
    rest = sympy.Add(*[t for t in terms if t not in sparse])
    if rest == 0:
        return chain
    used = [p for p in of if p in rest.free_symbols]
    ps = params(len(used) + 1)
    body = rest.xreplace(dict(zip(used, ps))) + ps[-1]
    op = node.op
    return Elemwise(sympy.Lambda(ps, body), op.fname, op.dtype, op.derivative_of)(
        *[of[p] for p in used], chain)


def _add_into(acc, term):
    """``acc + term`` for a sparse ``term`` (a chain of them): each of its links
    rebuilt to add into ``acc``, innermost first (a loop: chains can be long)."""
    if acc is None:
        return term
    links, base = [], term
    while base is not None and type(base.op) in SPARSE_ARITY:
        arity = SPARSE_ARITY[type(base.op)]
        links.append((base.op, base.inputs[:arity]))
        base = base.inputs[arity] if len(base.inputs) > arity else None
    if base is not None:  # a dense base (a sparse op built by hand): added densely
        acc = acc + base
    for op, operands in reversed(links):
        acc = op(*operands, acc)
    return acc


def _stable(node):
    if isinstance(node.op, Elemwise):
        formula = stabilised(node.op.formula)
        if formula != node.op.formula:
            op = node.op
            return Elemwise(formula, op.fname, op.dtype, op.derivative_of)(*node.inputs)
    return None


def optimize(outputs, keep=(), for_backend=True):
    """``outputs`` rewritten (see the module docstring), in the same order.

    Nodes in ``keep`` (e.g. the ``wrt`` of a gradient) stay in the graph as
    they are; ``for_backend=False`` leaves out the steps only a backend wants.
    Graph rules see the formulas as built: the backend-only steps run as a
    second pass.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> print(sg.debugprint(optimize([sg.log(sg.sigmoid(x))], for_backend=False)))
    neg: t0 ↦ -t0  float64 (3,)  #A
    └─ softplus: t0 ↦ log(exp(t0) + 1)  float64 (3,)  #B
       └─ neg: t0 ↦ -t0  float64 (3,)  #C
          └─ input x  float64 (3,)  #D
    """
    keep = set(keep)
    unstopped = [_unstopped] if for_backend else []
    outputs = _rewritten(list(outputs), keep, lambda single_use: [
        *unstopped, lambda n: _graph_rule(n, keep), lambda n: _one_lookup(n, keep),
        _pairwise, _folded])
    if for_backend:
        outputs = _rewritten(outputs, keep, lambda single_use: [
            lambda n: _composed(n, single_use), _joined, _accumulated, _stable])
    return outputs


def _rewritten(outputs, keep, make_steps):
    """One pass: each node rebuilt from its rewritten inputs, then rewritten by
    the steps ``make_steps(single_use)`` gives (``single_use``: the rewritten
    nodes that exactly one node reads, none of them an output or kept)."""
    order = toposort(outputs)
    uses = {}
    for node in order:
        for x in set(node.inputs):
            uses[x] = uses.get(x, 0) + 1
    single = {x for x, n in uses.items() if n == 1} - keep - set(outputs)
    new, single_use = {}, set()
    steps = make_steps(single_use)
    for node in order:
        inputs = tuple(new[x] for x in node.inputs)
        if node in keep or all(a == b for a, b in zip(inputs, node.inputs)):
            out = node
        else:  # a new node (every build is a new object): it keeps the user's name
            out = node.op(*inputs)
            out.name = node._name
        if node not in keep:
            for step in steps:
                rewritten = step(out)
                if rewritten is not None:
                    out = rewritten
        new[node] = out
        if node in single:
            single_use.add(out)
    return [new[o] for o in outputs]
