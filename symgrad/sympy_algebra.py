"""SymPy algebra for reading graphs (``to_sympy``, ``sg.pretty``, ``sg.latex``):
matrix expressions combined without SymPy's repeated ``doit``, and the pieces
of indexed forms (reductions, index arithmetic).

Matrix expressions are combined with :func:`mat_add`, :func:`mat_mul` and
:func:`transpose_of` rather than SymPy's operators: those call ``.doit()``,
which walks the whole expression as a tree, shared parts once per path, at
every operation, so reading the gradient of a 30-step chain took minutes.
Ours evaluate each distinct subexpression once, with the same results (see
:func:`_doit` and :class:`_Memo`). Each op's own reading lives with the op
(``symgrad/ops``); ``sympy_form.py`` walks the graph.
"""
import contextlib
import contextvars
import collections
import functools
import itertools

import numpy as np
import sympy
from sympy import (HadamardPower, HadamardProduct, ImmutableMatrix, MatAdd, MatMul, MatrixExpr,
                   MatrixSymbol, OneMatrix, Trace, Transpose)
from sympy.matrices.expressions import matadd as _sympy_matadd
from sympy.matrices.expressions import matmul as _sympy_matmul
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.trace import trace as _sympy_trace
from sympy.matrices.expressions.transpose import transpose as _sympy_transpose
from sympy.matrices.expressions.dotproduct import DotProduct
from sympy.strategies import condition, do_one, exhaust, flatten, glom, rm_id, sort, typed, unpack

from .guard import strip_guards



class NoMatrixForm(Exception):
    """Raised inside the matrix reading when a node has no matrix form."""


# ---------------------------------------------------------------- evaluation, once per node

class _Memo:
    """What readings have worked out: {expression: its doit()}, {expression:
    its transpose} and {(id, id): (order, key, key)} for sort keys compared (the
    keys are held, so their ids stay theirs).

    The memo is kept from one reading to the next: an expression built again
    (the same graph read twice, or two nodes with the same form) then comes
    out as the same object as before. That matters beyond the time saved:
    SymPy's caches (sort keys, constructors) keep the objects of earlier
    readings, and comparing an equal but distinct object with one of them
    walks both as trees, which for the shared subexpressions of a deep graph
    takes time exponential in its depth."""

    def __init__(self):
        self.doit, self.transpose, self.order = {}, {}, {}

    def size(self):
        return len(self.doit) + len(self.transpose) + len(self.order)


_MEMO_LIMIT = 500_000  # entries; past it the next reading starts a new memo
_SHARED = [_Memo()]
_MEMO = contextvars.ContextVar("symgrad_sympy_memo", default=None)


@contextlib.contextmanager
def shared_evaluation():
    """The memo of the current reading: within this block every evaluation
    uses the same one (nested blocks the outer one), also when another thread
    starts a new memo meanwhile."""
    if _MEMO.get() is not None:
        yield
        return
    memo = _SHARED[0]
    if memo.size() > _MEMO_LIMIT:
        memo = _SHARED[0] = _Memo()
    token = _MEMO.set(memo)
    try:
        yield
    finally:
        _MEMO.reset(token)


def _memo():
    memo = _MEMO.get()
    return memo if memo is not None else _SHARED[0]


def _doit(e):
    """``e.doit()`` with each distinct subexpression evaluated once.

    SymPy's ``doit`` (which ``A + B``, ``c * A``, ``A * B`` and ``A.T`` call)
    evaluates the arguments first and then the node itself, recursing into
    the arguments as a tree. Here the arguments' results come from the memo
    and each node gets only that second step (:func:`_doit_node`), so each
    distinct subexpression is evaluated once, also when results come back as
    arguments of the next operation (evaluated again, as SymPy does)."""
    return bottom_up(e, _memo().doit, _doit_node)


def bottom_up(e, memo, rebuild, replace=lambda node: None):
    """``e`` rebuilt from its leaves up, each distinct subexpression once and
    without recursion (deep graphs): ``rebuild(node, args)`` given its
    arguments' results, unless ``replace(node)`` gives a result; ``memo``
    holds the results (and may hold some already)."""
    stack = [e]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        replaced = replace(node)
        if replaced is not None:
            memo[node] = replaced
            stack.pop()
            continue
        pending = [a for a in node.args if isinstance(a, sympy.Basic) and a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[node] = rebuild(node, [memo.get(a, a) if isinstance(a, sympy.Basic) else a
                                    for a in node.args])
    return memo[e]


def _doit_node(node, done):
    """``node.doit()`` given its arguments' results ``done``."""
    if not node.args:
        return node.doit()
    if isinstance(node, Transpose):
        return transpose_of(done[0])
    if isinstance(node, Trace):
        arg = done[0]
        if isinstance(arg, MatAdd):  # MatAdd._eval_trace, with the memo
            return _doit(sympy.Add(*[_sympy_trace(a) for a in arg.args]))
        result = arg._eval_trace()
        return result if result is not None else Trace(arg)
    if isinstance(node, ElementwiseApplyFunction):
        # as its doit: the evaluated argument is kept only where the function
        # is the identity or the argument is an explicit matrix or another f.(X)
        f, arg = node.function, done[1]
        if isinstance(f, sympy.Lambda) and f.is_identity:
            return arg
        if isinstance(arg, sympy.MatrixBase):
            return arg.applyfunc(f)
        if isinstance(arg, ElementwiseApplyFunction):
            return _doit(ElementwiseApplyFunction(lambda t: f(arg.function(t)), arg.expr))
        return node
    changed = any(d is not a for d, a in zip(done, node.args))
    if isinstance(node, (MatAdd, MatMul, HadamardProduct)):
        # the arguments' shapes are those the node was built (and checked) with:
        # not checked again (finding a shape walks down the first arguments)
        same = _unchecked(type(node), done) if changed else node
        if isinstance(node, MatAdd):
            return _canonical_sum(same)
        if isinstance(node, MatMul):
            return _canonical_product(same)
        return _hadamard_product(same)
    rebuilt = node.func(*done) if changed else node
    if type(node).doit is sympy.Basic.doit:
        return rebuilt
    return rebuilt.doit(deep=False)


def _unchecked(cls, args):
    """``cls(*args)`` for matrix sums and products of arguments known to fit."""
    return sympy.Basic.__new__(cls, *args)


def _hadamard_product(product):
    """``product.doit()`` for a Hadamard product of evaluated factors (SymPy's
    ``doit`` evaluates them again, with SymPy's rules: see below)."""
    factors = product.args
    explicit = [f for f in factors if isinstance(f, sympy.MatrixBase)]
    if explicit:
        remainder = [f for f in factors if f not in explicit]
        merged = ImmutableMatrix([sympy.Mul.fromiter(e) for e in zip(*explicit)])
        product = HadamardProduct(merged.reshape(*product.shape), *remainder)
    return _canonical_hadamard(product)


def _compare_keys(a, b):
    """-1, 0 or 1 as the sort keys ``a`` and ``b`` (nested tuples) compare with
    ``<`` and ``==``, in one walk, and remembering the result for each pair of
    nested keys met (the keys of a chain's links nest each other's keys, and
    the links of one chain are compared again and again). Python's own
    comparison of nested tuples tests the first differing items for equality
    (a walk down to where they differ) and then compares them (that walk again,
    one level down): quadratic in the depth, at every comparison."""
    memo = _memo().order
    frames = [[a, b, 0]]
    while frames:
        frame = frames[-1]
        x, y, i = frame
        if i == min(len(x), len(y)):
            result = (len(x) > len(y)) - (len(x) < len(y))
            if result:
                break
            memo[id(x), id(y)] = (0, x, y)
            frames.pop()
            continue
        u, v = x[i], y[i]
        frame[2] = i + 1
        if u is v:
            continue
        if type(u) is type(v) and type(u) in (tuple, list):
            known = memo.get((id(u), id(v)))
            if known is None:
                frames.append([u, v, 0])
                continue
            result = known[0]
        elif u == v:
            continue
        else:
            result = -1 if u < v else 1
        if result:
            break
    else:
        return 0
    for x, y, _ in frames:  # the first difference below decides every enclosing pair
        memo[id(x), id(y)] = (result, x, y)
    return result


_KeyOrder = functools.cmp_to_key(_compare_keys)


def _sort_key(e):
    """SymPy's ``default_sort_key(e)``, compared with :func:`_compare_keys` (same order)."""
    return _KeyOrder(sympy.default_sort_key(e))


def _canonical_hadamard(product):
    """SymPy's hadamard.canonicalize (flatten, drop ones, absorb zeros, repeated
    factors as powers, sort, unpack), sorting with :func:`_sort_key`."""
    def is_product(x):
        return isinstance(x, HadamardProduct)
    x = exhaust(condition(is_product, flatten))(product)
    x = condition(is_product, rm_id(lambda f: isinstance(f, OneMatrix)))(x)
    if is_product(x) and any(isinstance(f, sympy.ZeroMatrix) for f in x.args):
        x = sympy.ZeroMatrix(*x.shape)
    if is_product(x):
        x = _unchecked(HadamardProduct, [base if k == 1 else HadamardPower(base, k)
                                         for base, k in collections.Counter(x.args).items()])
        x = sort(_sort_key)(x)
    return unpack(x)


def _combine(count, term):
    """SymPy's matadd.combine (``count * term`` for a term met ``count`` times,
    or with that coefficient), evaluated with the memo."""
    return term if count == 1 else mat_mul(count, term)


def _distribute_monom(product):
    """SymPy's matmul.distribute_monom (``2 (A + B) -> 2 A + 2 B``), evaluated with the memo."""
    args = product.args
    if len(args) == 2:
        if args[0].is_MatAdd and args[1].is_Rational:
            return MatAdd(*[_doit(MatMul(a, args[1])) for a in args[0].args])
        if args[1].is_MatAdd and args[0].is_Rational:
            return MatAdd(*[_doit(MatMul(args[0], a)) for a in args[1].args])
    return product


def _rules(rules, replace):
    """SymPy's canonicalization rules with those in ``replace`` [(match, rule)]
    in place of theirs: the two above (SymPy's call ``doit`` on whole
    subexpressions) and the sort by :func:`_sort_key`. A SymPy without such a
    rule keeps its own."""
    return tuple(next((new for match, new in replace if match(rule)), rule) for rule in rules)


def _named(name):
    """Matches a rule by the name of its function (SymPy's strategies make them)."""
    return lambda rule: getattr(rule, "__name__", None) == name


_canonical_sum = exhaust(condition(lambda x: isinstance(x, MatAdd), do_one(*_rules(
    _sympy_matadd.rules,
    [(_named("conglomerate"), glom(_sympy_matadd.matrix_of, _sympy_matadd.factor_of, _combine)),
     (_named("sort_rl"), sort(_sort_key))]))))
_canonical_product = exhaust(typed({MatMul: do_one(*_rules(
    _sympy_matmul.rules, [(_named("distribute_monom"), _distribute_monom)]))}))


def transpose_of(e):
    """``e.T`` (SymPy's ``transpose(e)``), its sums and products evaluated with the memo."""
    memo = _memo().transpose
    if e in memo:
        return memo[e]
    if isinstance(e, MatAdd):
        out = _doit(MatAdd(*[transpose_of(a) for a in e.args]))
    elif isinstance(e, MatMul):
        coeff, factors = e.as_coeff_matrices()
        out = _doit(MatMul(coeff, *[transpose_of(f) for f in factors[::-1]]))
    elif isinstance(e, HadamardProduct):
        out = HadamardProduct(*[transpose_of(a) for a in e.args])
    elif isinstance(e, HadamardPower):
        out = HadamardPower(transpose_of(e.base), e.exp)
    elif isinstance(e, ElementwiseApplyFunction):
        out = e.func(e.function, transpose_of(_doit(e.expr)))
    else:
        out = _sympy_transpose(e)
    memo[e] = out
    return out


@shared_evaluation()
def negative_of(e):
    """``-e`` for a matrix expression (SymPy's ``-e``, evaluated with the memo)."""
    return _doit(MatMul(sympy.S.NegativeOne, e))


def mat_add(a, b):
    """``a + b`` for matrix expressions."""
    return _doit(MatAdd(a, b))


def mat_mul(a, b):
    """``a * b`` (a matrix product, or a scalar times a matrix)."""
    if isinstance(a, MatrixExpr) or isinstance(b, MatrixExpr):
        return _doit(MatMul(a, b))
    return a * b


def tidy(e):
    """``e`` unguarded, with a product of sums multiplied out where that is
    shorter: ``g (1 - y)(1 + y) -> g (1 - y**2)``."""
    e = strip_guards(e)
    if e.is_Mul:
        sums = [f for f in e.args if f.is_Add]
        if len(sums) >= 2:
            rest = [f for f in e.args if not f.is_Add]
            shorter = sympy.Mul(*rest, sympy.expand(sympy.Mul(*sums)))
            if sympy.count_ops(shorter) < sympy.count_ops(e):
                return shorter
    return e


@functools.lru_cache(maxsize=4096)
def display_formula(formula):
    """The body of an elementwise ``Lambda`` as it is best read (:func:`tidy`)."""
    return tidy(formula.expr)


def symbol_for(name, shape, indexed=False):
    """The SymPy symbol standing for a variable or a named node of ``shape``."""
    if indexed and shape:
        return sympy.IndexedBase(sympy.Symbol(name), shape=tuple(map(sympy.sympify, shape)))
    if not shape:
        return sympy.Symbol(name, real=True)
    if len(shape) > 2:
        raise NoMatrixForm(f"{name} has rank {len(shape)}")
    rows, cols = (shape[0], 1) if len(shape) == 1 else shape
    return MatrixSymbol(name, rows, cols)


def number(value):
    value = value.item() if isinstance(value, np.generic) else value
    if float(value).is_integer():
        return sympy.Integer(int(value))
    return sympy.Float(value)


class InnerProduct(DotProduct):
    """uᵀ v as a scalar; unlike SymPy's DotProduct it is not rewritten as a
    ``Sum`` when a product containing it is built, only written out by
    ``.doit()`` once the sizes are numbers."""

    is_commutative = True

    def doit(self, **hints):
        a, b = (arg.doit(**hints) for arg in self.args) if hints.get("deep", True) else self.args
        if all(sympy.sympify(d).is_Integer for d in a.shape + b.shape):
            return DotProduct(a.as_explicit(), b.as_explicit()).doit()
        return InnerProduct(a, b)


def as_scalar(m):
    """A 1×1 matrix expression as a scalar: a dot product where it reads as one."""
    if isinstance(m, sympy.MatMul):
        factors = [f for f in m.args if isinstance(f, MatrixExpr)]
        coeff = sympy.Mul(*[f for f in m.args if not isinstance(f, MatrixExpr)])
        if len(factors) >= 2 and factors[0].shape[0] == 1:
            rest = factors[1] if len(factors) == 2 else sympy.MatMul(*factors[1:])
            return coeff * InnerProduct(transpose_of(factors[0]), rest)
    return Trace(m)


# ---------------------------------------------------------------- matrix reading

def matrix_shape(shape):
    """The SymPy shape of an array of rank <= 2 (a vector is a column); None for 0-d."""
    if not shape:
        return None
    return (shape[0], 1) if len(shape) == 1 else tuple(shape)


def broadcast_form(form, shape, out_shape):
    """``form`` (of ``shape``) repeated to ``out_shape`` with products by ones."""
    if not isinstance(form, MatrixExpr) or tuple(shape) == tuple(out_shape):
        return form
    if len(out_shape) > 2:
        raise NoMatrixForm("broadcast to rank > 2")
    if len(shape) == 1 and len(out_shape) == 2:
        form = transpose_of(form)  # a vector broadcasts along rows, as a row
    rows, cols = matrix_shape(out_shape)
    if form.shape[0] == 1 and rows != 1:
        form = mat_mul(OneMatrix(rows, 1), form)
    if form.shape[1] == 1 and cols != 1:
        form = mat_mul(form, OneMatrix(1, cols))
    return form


def elementwise_matrix(body, args):
    """The formula ``body`` with matrix/scalar ``args`` {param: form}, written
    with MatAdd, HadamardProduct, HadamardPower and elementwise functions."""
    if body in args:
        return args[body]
    if body.is_number:
        return body
    matrix_params = [p for p in body.free_symbols if isinstance(args.get(p), MatrixExpr)]
    if not matrix_params:
        return body.xreplace(args)
    if body.is_Add:
        terms = [elementwise_matrix(a, args) for a in body.args]
        shape = next(t.shape for t in terms if isinstance(t, MatrixExpr))
        return functools.reduce(mat_add, [t if isinstance(t, MatrixExpr)
                                       else mat_mul(t, OneMatrix(*shape)) for t in terms])
    if body.is_Mul:
        factors = [elementwise_matrix(a, args) for a in body.args]
        coeff = sympy.Mul(*[f for f in factors if not isinstance(f, MatrixExpr)])
        mats = [f for f in factors if isinstance(f, MatrixExpr)]
        product = mats[0] if len(mats) == 1 else HadamardProduct(*mats)
        return product if coeff == 1 else mat_mul(coeff, product)
    if body.is_Pow and body.exp.is_number:
        return HadamardPower(elementwise_matrix(body.base, args), body.exp)
    if len(matrix_params) == 1:
        (p,) = matrix_params
        inner = body.args[0] if isinstance(body, sympy.Function) and len(body.args) == 1 else None
        if inner is not None and inner.free_symbols >= {p}:
            return ElementwiseApplyFunction(sympy.Lambda(p, body.func(p)),
                                            elementwise_matrix(inner, args))
        if body.has(sympy.Piecewise):  # SymPy folds a Piecewise out of a Lambda: keep it indexed
            raise NoMatrixForm(f"no matrix reading of {body}")
        scalars = {q: v for q, v in args.items() if q != p}
        return ElementwiseApplyFunction(sympy.Lambda(p, body.xreplace(scalars)), args[p])
    raise NoMatrixForm(f"no matrix reading of {body}")


def uniform_value(form):
    """A matrix whose entries all equal one scalar c (c 𝟙, 𝟙 c 𝟙ᵀ, ...) as c; an
    elementwise formula then reads ``c x`` instead of ``(c 𝟙)∘x``."""
    if isinstance(form, OneMatrix):
        return sympy.Integer(1)
    if isinstance(form, sympy.ZeroMatrix):
        return sympy.Integer(0)
    if form == sympy.Identity(1):
        return sympy.Integer(1)
    if isinstance(form, sympy.MatMul):
        coeff, factors = form.as_coeff_matrices()
        ones = [f for f in factors if f != sympy.Identity(1)]
        if all(isinstance(f, OneMatrix) for f in ones):
            return coeff * sympy.Mul(*(f.shape[1] for f in ones[:-1]))
    return form


class Where(sympy.Basic):
    """``Where(body, (v, form_v), (w, form_w), ...)``: ``body`` in which each
    defined symbol stands for its form (a later form may use earlier symbols).
    This is how ``to_sympy`` writes a node that several others use once, as
    ``sg.pretty`` gives it a line of its own; ``.doit()`` writes the symbols out.

    A symbol is a ``Symbol`` (0-d), a ``MatrixSymbol`` (vector or matrix; in
    an indexed form ``v[i, j]``) or an ``IndexedBase`` (higher rank); its form
    is a scalar or matrix expression, or ``Lambda((i, ...), element)``.

    >>> import sympy
    >>> x, v = sympy.Symbol("x"), sympy.Symbol("v")
    >>> e = Where(v * sympy.sin(v), (v, x**2 + 1))
    >>> e.free_symbols
    {x}
    >>> e.doit()
    (x**2 + 1)*sin(x**2 + 1)
    """

    def __new__(cls, body, *definitions):
        return sympy.Basic.__new__(cls, body, *(sympy.Tuple(s, f) for s, f in definitions))

    @property
    def body(self):
        return self.args[0]

    @property
    def definitions(self):
        return [tuple(d) for d in self.args[1:]]

    @property
    def free_symbols(self):
        defined = {label_of(s) for s, _ in self.definitions}
        found = self.body.free_symbols.union(*(f.free_symbols for _, f in self.definitions))
        return {s for s in found if label_of(s) not in defined}

    def doit(self, **hints):
        values = {}
        for symbol, form in self.definitions:
            values[label_of(symbol)] = _fresh_bound(_written_out(form, values))
        body = _written_out(self.body, values)
        return body.doit(**hints) if hints.get("deep", True) else body


def label_of(s):
    """The name a symbol, matrix symbol, indexed base or indexed element stands
    for (None for other expressions)."""
    if isinstance(s, sympy.Indexed):
        s = s.base
    if isinstance(s, sympy.IndexedBase):
        s = s.label
    return getattr(s, "name", None)


def _fresh_bound(form):
    """``form`` with the indices its sums and reductions bind made Dummies, so
    that writing it out where those names are in use captures nothing."""
    bound = {lim[0] for e in sympy.preorder_traversal(form) if isinstance(e, (sympy.Sum, Reduction))
             for lim in (e.limits if isinstance(e, sympy.Sum) else e.args[1:])}
    return form.xreplace({s: sympy.Dummy(s.name, integer=True) for s in bound})


def _written_out(e, values):
    """``e`` with the symbols named in ``values`` {name: form} replaced by their forms."""
    def value(a):
        form = values.get(label_of(a)) if isinstance(a, (sympy.Symbol, MatrixSymbol,
                                                       sympy.Indexed)) else None
        if form is None:
            return None
        if isinstance(a, sympy.Indexed):
            if isinstance(form, sympy.Lambda):
                return form(*a.indices)
            return form[a.indices if len(a.indices) == 2 else (a.indices[0], 0)]
        if isinstance(a, MatrixSymbol) and isinstance(form, sympy.Lambda):
            i, j = sympy.Dummy("i", integer=True), sympy.Dummy("j", integer=True)
            return sympy.FunctionMatrix(*a.shape, sympy.Lambda((i, j), form(*(i, j)[:len(
                form.variables)])))
        return form

    def rebuild(node, args):
        return node.func(*args) if any(a is not b for a, b in zip(args, node.args)) else node

    return bottom_up(e, {}, rebuild, value)


class Reduction(sympy.Function):
    """``max(body, (k, 0, n - 1), ...)``: the max (min, first argmax, first
    argmin) of ``body`` over the index limits; ``.doit()`` evaluates it once
    the limits and the body are numbers."""

    def doit(self, **hints):
        body, *limits = self.args
        ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in limits
                  if lo.is_Integer and hi.is_Integer]
        if len(ranges) != len(limits):
            return self
        points = list(itertools.product(*ranges))
        values = [body.xreplace({lim[0]: k for lim, k in zip(limits, p)}).doit() for p in points]
        if not all(v.is_number for v in values):
            return self
        pick = (max if self.func.__name__.endswith("max") else min)(
            range(len(values)), key=lambda k: (float(values[k]), -k) if self.func.__name__
            .endswith("max") else (float(values[k]), k))
        if self.func.__name__.startswith("arg"):
            point = points[pick]
            return sympy.Integer(point[0]) if len(point) == 1 else sympy.Tuple(*point)
        return values[pick]


REDUCTIONS = {name: type(name, (Reduction,), {}) for name in ("max", "min", "argmax", "argmin")}



def broadcast_index(idx, shape, out_shape):
    """The index into an operand of ``shape`` broadcast to ``out_shape``."""
    lead = len(out_shape) - len(shape)
    return tuple(0 if d == 1 and out_shape[lead + a] != 1 else idx[lead + a]
                 for a, d in enumerate(shape))


def unflatten(flat, shape):
    """The multi-index of the row-major position ``flat`` in ``shape``."""
    out, stride = [], sympy.Integer(1)
    for d in reversed(shape):
        out.append(sympy.Mod(sympy.floor(flat / stride), d) if d != 1 else sympy.Integer(0))
        stride = stride * d
    return tuple(reversed(out))


def flatten_index(idx, shape):
    flat, stride = sympy.Integer(0), sympy.Integer(1)
    for i, d in zip(reversed(idx), reversed(shape)):
        flat, stride = flat + i * stride, stride * d
    return flat
