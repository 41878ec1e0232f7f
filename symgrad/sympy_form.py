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

Named nodes (``h.name = "h"``, or the ``names`` mapping) stay symbols, so a
large graph reads as a few definitions (see ``printing.py``). The zero-upstream
guard that derived gradients carry (derivatives.py) is dropped: it changes no
value where the formula is finite.

Matrix expressions are combined with :func:`_add`, :func:`_mul` and
:func:`_transpose` rather than SymPy's operators: those call ``.doit()``,
which walks the whole expression as a tree, shared parts once per path, at
every operation, so reading the gradient of a 30-step chain took minutes.
Ours evaluate each distinct subexpression once, with the same results (see
:func:`_doit` and :class:`_Memo`).
"""
import contextlib
import contextvars
import collections
import functools
import itertools
import string

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
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.strategies import condition, do_one, exhaust, flatten, glom, rm_id, sort, typed, unpack

from .graph import toposort
from .ops import (ArgOneHot, Broadcast, Concatenate, Constant, Contract, DimSize, Elemwise,
                  Gather, Input, PutAlong, Reduce, Reshape, ScatterAdd, Slice, SliceAdd,
                  TakeAlong, Transpose)


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
    memo = _memo().doit
    if e in memo:
        return memo[e]
    stack = [e]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        pending = [a for a in node.args if isinstance(a, sympy.Basic) and a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        done = [memo.get(a, a) if isinstance(a, sympy.Basic) else a for a in node.args]
        result = _doit_node(node, done)
        memo[node] = result
    return memo[e]


def _doit_node(node, done):
    """``node.doit()`` given its arguments' results ``done``."""
    if not node.args:
        return node.doit()
    if isinstance(node, Transpose):
        return _transpose(done[0])
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
    return term if count == 1 else _mul(count, term)


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


def _transpose(e):
    """``e.T`` (SymPy's ``transpose(e)``), its sums and products evaluated with the memo."""
    memo = _memo().transpose
    if e in memo:
        return memo[e]
    if isinstance(e, MatAdd):
        out = _doit(MatAdd(*[_transpose(a) for a in e.args]))
    elif isinstance(e, MatMul):
        coeff, factors = e.as_coeff_matrices()
        out = _doit(MatMul(coeff, *[_transpose(f) for f in factors[::-1]]))
    elif isinstance(e, HadamardProduct):
        out = HadamardProduct(*[_transpose(a) for a in e.args])
    elif isinstance(e, HadamardPower):
        out = HadamardPower(_transpose(e.base), e.exp)
    elif isinstance(e, ElementwiseApplyFunction):
        out = e.func(e.function, _transpose(_doit(e.expr)))
    else:
        out = _sympy_transpose(e)
    memo[e] = out
    return out


@shared_evaluation()
def negative_of(e):
    """``-e`` for a matrix expression (SymPy's ``-e``, evaluated with the memo)."""
    return _doit(MatMul(sympy.S.NegativeOne, e))


def _add(a, b):
    """``a + b`` for matrix expressions."""
    return _doit(MatAdd(a, b))


def _mul(a, b):
    """``a * b`` (a matrix product, or a scalar times a matrix)."""
    if isinstance(a, MatrixExpr) or isinstance(b, MatrixExpr):
        return _doit(MatMul(a, b))
    return a * b


def _unguard(e):
    """Piecewise((0, Eq(g, 0)), (p, True)) -> p, unless p is nan (a limit the guard gives)."""
    def guard(a):
        return (isinstance(a, sympy.Piecewise) and len(a.args) == 2 and a.args[0].expr == 0
                and isinstance(a.args[0].cond, sympy.Eq) and a.args[1].cond is sympy.true
                and not a.args[1].expr.has(sympy.nan))
    return e.replace(guard, lambda a: a.args[1].expr)


def tidy(e):
    """``e`` unguarded, with a product of sums multiplied out where that is
    shorter: ``g (1 - y)(1 + y) -> g (1 - y**2)``."""
    e = _unguard(e)
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


def _number(value):
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


def _as_scalar(m):
    """A 1×1 matrix expression as a scalar: a dot product where it reads as one."""
    if isinstance(m, sympy.MatMul):
        factors = [f for f in m.args if isinstance(f, MatrixExpr)]
        coeff = sympy.Mul(*[f for f in m.args if not isinstance(f, MatrixExpr)])
        if len(factors) >= 2 and factors[0].shape[0] == 1:
            rest = factors[1] if len(factors) == 2 else sympy.MatMul(*factors[1:])
            return coeff * InnerProduct(_transpose(factors[0]), rest)
    return Trace(m)


# ---------------------------------------------------------------- matrix reading

def _matrix_shape(shape):
    """The SymPy shape of an array of rank <= 2 (a vector is a column); None for 0-d."""
    if not shape:
        return None
    return (shape[0], 1) if len(shape) == 1 else tuple(shape)


def _broadcast(form, shape, out_shape):
    """``form`` (of ``shape``) repeated to ``out_shape`` with products by ones."""
    if not isinstance(form, MatrixExpr) or tuple(shape) == tuple(out_shape):
        return form
    if len(out_shape) > 2:
        raise NoMatrixForm("broadcast to rank > 2")
    if len(shape) == 1 and len(out_shape) == 2:
        form = _transpose(form)  # a vector broadcasts along rows, as a row
    rows, cols = _matrix_shape(out_shape)
    if form.shape[0] == 1 and rows != 1:
        form = _mul(OneMatrix(rows, 1), form)
    if form.shape[1] == 1 and cols != 1:
        form = _mul(form, OneMatrix(1, cols))
    return form


def _elementwise_matrix(body, args):
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
        terms = [_elementwise_matrix(a, args) for a in body.args]
        shape = next(t.shape for t in terms if isinstance(t, MatrixExpr))
        return functools.reduce(_add, [t if isinstance(t, MatrixExpr)
                                       else _mul(t, OneMatrix(*shape)) for t in terms])
    if body.is_Mul:
        factors = [_elementwise_matrix(a, args) for a in body.args]
        coeff = sympy.Mul(*[f for f in factors if not isinstance(f, MatrixExpr)])
        mats = [f for f in factors if isinstance(f, MatrixExpr)]
        product = mats[0] if len(mats) == 1 else HadamardProduct(*mats)
        return product if coeff == 1 else _mul(coeff, product)
    if body.is_Pow and body.exp.is_number:
        return HadamardPower(_elementwise_matrix(body.base, args), body.exp)
    if len(matrix_params) == 1:
        (p,) = matrix_params
        inner = body.args[0] if isinstance(body, sympy.Function) and len(body.args) == 1 else None
        if inner is not None and inner.free_symbols >= {p}:
            return ElementwiseApplyFunction(sympy.Lambda(p, body.func(p)),
                                            _elementwise_matrix(inner, args))
        if body.has(sympy.Piecewise):  # SymPy folds a Piecewise out of a Lambda: keep it indexed
            raise NoMatrixForm(f"no matrix reading of {body}")
        scalars = {q: v for q, v in args.items() if q != p}
        return ElementwiseApplyFunction(sympy.Lambda(p, body.xreplace(scalars)), args[p])
    raise NoMatrixForm(f"no matrix reading of {body}")


def _oriented(form, labels, side, want):
    """(form, labels) transposed if needed so that ``labels[side]`` is ``want``
    (side 0: the row letter, 1: the column letter; None for a size-1 side)."""
    if labels[side] == want:
        return form, labels
    if labels[1 - side] == want:
        return _transpose(form), labels[::-1]
    raise NoMatrixForm("no orientation")


def _labelled(form, sub):
    """A matrix form with the einsum letters of its rows and columns (None: size 1)."""
    if len(sub) > 2:
        raise NoMatrixForm("rank > 2 operand")
    return form, (tuple(sub) + (None, None))[:2]


def _sum_out(form, labels, keep):
    """Sum the axes whose letters are not in ``keep``, as products with ones."""
    if labels[0] is not None and labels[0] not in keep:
        form, labels = _mul(OneMatrix(1, form.shape[0]), form), (None, labels[1])
    if labels[1] is not None and labels[1] not in keep:
        form, labels = _mul(form, OneMatrix(form.shape[1], 1)), (labels[0], None)
    return form, labels


def _finish(form, labels, out):
    """A product with row/column ``labels`` as the einsum output ``out``."""
    target = (tuple(out) + (None, None))[:2]
    form, labels = (form, labels) if labels == target else (_transpose(form), labels[::-1])
    if labels != target:
        raise NoMatrixForm("output order")
    return _as_scalar(form) if not out else form


def _contract_matrix(node, forms):
    subs, out = node.op.operands_and_output
    dims = {c: d for s, x in zip(subs, node.inputs) for c, d in zip(s, x.shape)}
    coeff = sympy.Mul(*[forms[x] for s, x in zip(subs, node.inputs) if not s])
    operands = [_labelled(forms[x], s) for s, x in zip(subs, node.inputs) if s]
    if len(out) > 2 or not operands or len(operands) > 2:
        raise NoMatrixForm("not a matrix product")
    # a summed letter of one operand only is summed there first (a product with ones)
    letters = [set(s) for s in subs if s]
    operands = [_sum_out(f, lab, set(out).union(*(ls for j, ls in enumerate(letters) if j != i)))
                for i, (f, lab) in enumerate(operands)]
    if len(operands) == 1:
        return _mul(coeff, _finish(*operands[0], out))
    (a, la), (b, lb) = operands
    shared = (set(la) & set(lb)) - {None}
    if shared & set(out):  # an elementwise product, then the sums
        union = tuple(out) + tuple(sorted(shared - set(out)))
        if len(union) > 2:
            raise NoMatrixForm("elementwise product of rank > 2")
        product = HadamardProduct(*(_spread(f, lab, union, dims) for f, lab in operands))
        return _mul(coeff, _finish(*_sum_out(product, (union + (None,))[:2], set(out)), out))
    if len(shared) == 2:  # sum_ab A_ab B_ab = tr(Aᵀ B)
        b, lb = _oriented(b, lb, 1, la[1])
        return _mul(coeff, Trace(_mul(_transpose(a), b)))
    s = shared.pop() if shared else None
    a, la = _oriented(a, la, 1, s)
    b, lb = _oriented(b, lb, 0, s)
    return _mul(coeff, _finish(_mul(a, b), (la[0], lb[1]), out))


def _spread(form, labels, union, dims):
    """An operand with row/column letters ``labels`` repeated over the letters
    ``union`` (one or two), as products with ones."""
    present = [c for c in labels if c is not None]
    if len(present) == len(union):
        return _oriented(form, labels, 1, (union + (None,))[1])[0]
    (c,) = present
    form = _oriented(form, labels, 1, None)[0]  # a column
    if c == union[0]:
        return _mul(form, OneMatrix(1, dims[union[1]]))
    return _mul(OneMatrix(dims[union[0]], 1), _transpose(form))


def _uniform(form):
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


def _matrix_form(node, forms):
    op = node.op
    if node.ndim > 2:
        raise NoMatrixForm(f"{node.describe()} has rank {node.ndim}")
    if isinstance(op, Elemwise):
        ps = op.formula.variables
        args = {p: _broadcast(_uniform(forms[x]), x.shape, node.shape)
                for p, x in zip(ps, node.inputs)}
        form = _elementwise_matrix(display_formula(op.formula), args)
        return form if isinstance(form, MatrixExpr) else _mul(form, OneMatrix(
            *_matrix_shape(node.shape)))
    if isinstance(op, Contract):
        return _contract_matrix(node, forms)
    if isinstance(op, Transpose):
        return _transpose(forms[node.inputs[0]])
    if isinstance(op, Broadcast):
        x = node.inputs[0]
        form = forms[x]
        if not isinstance(form, MatrixExpr):
            return _mul(form, OneMatrix(*_matrix_shape(node.shape)))
        return _broadcast(form, x.shape, node.shape)
    if isinstance(op, Reshape):
        form, shape = forms[node.inputs[0]], _matrix_shape(node.shape)
        if shape is None:
            if isinstance(form, MatrixExpr):
                return _as_scalar(form)
            return form
        if not isinstance(form, MatrixExpr):
            return _mul(form, OneMatrix(*shape))
        if form.shape == shape:
            return form
        if form.shape[::-1] == shape and 1 in shape:
            return _transpose(form)
    raise NoMatrixForm(f"no matrix form for {node.describe()}")


def _constant_matrix(node):
    value = node.op.value
    if value.ndim == 0:
        return _number(value)
    if value.ndim > 2:
        raise NoMatrixForm(f"constant of rank {value.ndim}")
    if value.size and (value == value.flat[0]).all():
        return _mul(_number(value.flat[0]), OneMatrix(*_matrix_shape(node.shape)))
    return ImmutableMatrix(value if value.ndim == 2 else value[:, None])


# ---------------------------------------------------------------- indexed reading

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
    return {v for s in form.atoms(sympy.Sum, sympy.Lambda) for v in
            (s.variables if isinstance(s, (sympy.Sum, sympy.Lambda)) else ())}


def _broadcast_index(idx, shape, out_shape):
    """The index into an operand of ``shape`` broadcast to ``out_shape``."""
    lead = len(out_shape) - len(shape)
    return tuple(0 if d == 1 and out_shape[lead + a] != 1 else idx[lead + a]
                 for a, d in enumerate(shape))


def _unflatten(flat, shape):
    """The multi-index of the row-major position ``flat`` in ``shape``."""
    out, stride = [], sympy.Integer(1)
    for d in reversed(shape):
        out.append(sympy.Mod(sympy.floor(flat / stride), d) if d != 1 else sympy.Integer(0))
        stride = stride * d
    return tuple(reversed(out))


def _flatten(idx, shape):
    flat, stride = sympy.Integer(0), sympy.Integer(1)
    for i, d in zip(reversed(idx), reversed(shape)):
        flat, stride = flat + i * stride, stride * d
    return flat


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
        op, xs = node.op, node.inputs
        if isinstance(op, Constant):
            value = op.value
            if value.size and (value == value.flat[0]).all():
                return _number(value.flat[0])
            return sympy.Array(value.tolist())[idx]
        if isinstance(op, Elemwise):
            args = {p: self.at(x, _broadcast_index(idx, x.shape, node.shape))
                    for p, x in zip(op.formula.variables, xs)}
            return display_formula(op.formula).xreplace(args)
        if isinstance(op, Contract):
            subs, out = op.operands_and_output
            dims = {c: d for s, x in zip(subs, xs) for c, d in zip(s, x.shape)}
            summed = [c for c in dims if c not in out]
            letter = dict(zip(out, idx))
            letter.update(zip(summed, self.indices.fresh(len(summed))))
            body = sympy.Mul(*(self.at(x, tuple(letter[c] for c in s)) for s, x in zip(subs, xs)))
            return sympy.Sum(body, *self.limits([letter[c] for c in summed],
                                                [dims[c] for c in summed])) if summed else body
        if isinstance(op, (Reduce, ArgOneHot)):
            x = xs[0]
            red = self.indices.fresh(len(op.axes))
            kept = iter(idx) if isinstance(op, Reduce) else None
            full = iter(red)
            inner = tuple(next(full) if a in op.axes else (next(kept) if kept else idx[a])
                          for a in range(x.ndim))
            limits = self.limits(red, [x.shape[a] for a in op.axes])
            name = op.kind if isinstance(op, Reduce) else "arg" + op.kind
            chosen = REDUCTIONS[name](self.at(x, inner), *(sympy.Tuple(*lim) for lim in limits))
            if isinstance(op, Reduce):
                return chosen
            target = [idx[a] for a in op.axes]
            return sympy.Piecewise((1, sympy.Eq(target[0] if len(target) == 1 else
                                                sympy.Tuple(*target), chosen)), (0, True))
        if isinstance(op, Reshape):
            x = xs[0]
            kept = [i for i, d in zip(idx, node.shape) if d != 1]
            if len(kept) == sum(d != 1 for d in x.shape):  # only size-1 axes change
                kept = iter(kept)
                return self.at(x, tuple(0 if d == 1 else next(kept) for d in x.shape))
            return self.at(x, _unflatten(_flatten(idx, node.shape), x.shape))
        if isinstance(op, Transpose):
            inner = [None] * node.ndim
            for k, a in enumerate(op.perm):
                inner[a] = idx[k]
            return self.at(xs[0], tuple(inner))
        if isinstance(op, Broadcast):
            return self.at(xs[0], _broadcast_index(idx, xs[0].shape, node.shape))
        if isinstance(op, Gather):
            x, ix = xs
            return self.at(x, (self.at(ix, idx[:ix.ndim]),) + idx[ix.ndim:])
        if isinstance(op, ScatterAdd):
            g, ix = xs
            pos = self.indices.fresh(ix.ndim)
            body = self.at(g, pos + idx[1:]) * sympy.KroneckerDelta(self.at(ix, pos), idx[0])
            return sympy.Sum(body, *self.limits(pos, ix.shape))
        if isinstance(op, TakeAlong):
            x, ix = xs
            return self.at(x, idx + (self.at(ix, idx),))
        if isinstance(op, PutAlong):
            g, ix = xs
            return self.at(g, idx[:-1]) * sympy.KroneckerDelta(self.at(ix, idx[:-1]), idx[-1])
        if isinstance(op, Concatenate):
            pieces, start, a = [], sympy.Integer(0), op.axis
            for x in xs:
                shifted = idx[:a] + (idx[a] - start,) + idx[a + 1:]
                start = start + x.shape[a]
                pieces.append((self.at(x, shifted), sympy.Lt(idx[a], start)))
            return sympy.Piecewise(*pieces[:-1], (pieces[-1][0], True))
        if isinstance(op, Slice):
            out = iter(idx)
            inner = tuple(k if isinstance(k, int) else k[0] + k[2] * next(out) for k in op.index)
            return self.at(xs[0], inner)
        if isinstance(op, SliceAdd):
            conds, inner = [], []
            for i, k in zip(idx, op.index):
                if isinstance(k, int):
                    conds.append(sympy.Eq(i, k))
                    continue
                start, stop, step = k
                conds += [sympy.Ge(i, start), sympy.Lt(i, stop)]
                if step != 1:
                    conds.append(sympy.Eq(sympy.Mod(i - start, step), 0))
                inner.append((i - start) / step if step != 1 else i - start)
            return sympy.Piecewise((self.at(xs[0], tuple(inner)), sympy.And(*conds)), (0, True))
        raise NotImplementedError(f"to_sympy: no indexed form for {node.describe()}")


# ---------------------------------------------------------------- driver

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


def _is_leaf(node):
    return isinstance(node.op, (Input, Constant, DimSize))


def user_names(roots):
    """{node: name} of the named interior nodes below ``roots`` (roots excluded)."""
    return {n: n._name for n in toposort(list(roots))
            if n._name is not None and not _is_leaf(n) and n not in roots}


def _matrix_node(node, forms, stops, root):
    """The scalar/matrix form of one node given its inputs' ``forms``."""
    if node in stops and node is not root:
        return symbol_for(stops[node], node.shape)
    if isinstance(node.op, Input):
        return symbol_for(node.op.name, node.shape)
    if isinstance(node.op, DimSize):
        return node.op.dim
    if isinstance(node.op, Constant):
        return _constant_matrix(node)
    if node.ndim == 0 and isinstance(node.op, Elemwise) and \
            all(not isinstance(forms[x], MatrixExpr) for x in node.inputs):
        return display_formula(node.op.formula).xreplace(
            dict(zip(node.op.formula.variables, (forms[x] for x in node.inputs))))
    return _matrix_form(node, forms)


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
    uniform = _uniform(form)
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
        elif isinstance(node.op, Input):
            reader.leaf(node, symbol_for(node.op.name, node.shape, indexed=True))
        elif isinstance(node.op, DimSize):
            reader.forms[node] = ((), node.op.dim)
        elif node in matrices and not isinstance(node.op, Constant):
            idx = reader.indices.fresh(node.ndim)
            reader.forms[node] = (idx, _element(matrices[node], idx))
        else:
            reader.read(node)
    idx, body = reader.forms[root]
    form = sympy.Lambda(idx, body) if idx else body
    taken = {s.name for s in form.free_symbols} | set(string.ascii_letters) - set("ijklpqrs")
    return _Indices.rename(form, idx, taken)


@shared_evaluation()
def sympy_form(root, stops):
    """The matrix form of ``root`` where there is one, else its indexed form."""
    try:
        return matrix_form(root, stops)
    except NoMatrixForm:
        return indexed_form(root, stops)


def to_sympy(expr, names=None, expand=False):
    """A SymPy object equal to the expression ``expr``.

    0-d graphs of scalars give a plain SymPy expression in the input symbols
    (``sympy.Symbol(name, real=True)``); tensor graphs give matrix expressions
    (vectors are columns: ``MatrixSymbol(name, n, 1)``) where they can be
    written so, else an indexed form ``Lambda((i, ...), element)``.
    Named interior nodes (``h.name = "h"``) and the nodes in ``names``
    ({expr: name}) stay symbols; ``expand=True`` writes everything out.

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
    """
    stops = {} if expand else user_names([expr])
    stops.update(names or {})
    stops.pop(expr, None)
    return sympy_form(expr, stops)
