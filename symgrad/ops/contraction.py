"""Contractions: ``Contract`` (an einsum: matmul, dot, outer, sums over axes)
and its transpose ``Broadcast`` (repeating along axes, whose adjoint is a sum).

The adjoint of an einsum for one operand is an einsum of the upstream
gradient with the other operands: one index rule for every spec. Lowering
makes a matrix product one BLAS call on 2-D views (:func:`gemm` finds the
form), a sum a reduction fused with its producer's loop, and any other
einsum one loop nest.
"""
import functools
import string
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import HadamardProduct, MatrixExpr, OneMatrix, Trace

from symgrad_codegen import Index, MatMul, Reshape as ReshapeStatement

from ..sympy_algebra import (NoMatrixForm, as_scalar, broadcast_form, broadcast_index, mat_mul,
                             matrix_shape, transpose_of)
from ..types import FLOAT_DTYPES, resolve_dim, result_dtype
from .base import Primitive
from .leaves import result_type, weak_to
from .views import Transpose, permute, reshape_to


@dataclass(frozen=True)
class Contract(Primitive):
    spec: str  # explicit einsum spec, e.g. "ab,bc->ac"; no letter twice in one operand
    label = "einsum"

    @property
    def operands_and_output(self):
        ins, out = self.spec.split("->")
        return ins.split(","), out

    def type(self, inputs):
        subs, out = self.operands_and_output
        dims = {c: d for s, x in zip(subs, inputs) for c, d in zip(s, x.shape)}
        return result_dtype([x.dtype for x in inputs]), tuple(dims[c] for c in out)

    @property
    def fusion(self):
        return "reduction" if "," not in self.spec else None

    def vjp(self, node, k, g):
        """d/dx_k of einsum(spec, xs) . g = einsum(out, other operands -> subs_k),
        broadcast over the indices of x_k that appear nowhere else."""
        subs, out = self.operands_and_output
        others = [(s, x) for i, (s, x) in enumerate(zip(subs, node.inputs)) if i != k]
        present = set(out).union(*(s for s, _ in others))
        target = "".join(c for c in subs[k] if c in present)
        grad = contract(",".join([out] + [s for s, _ in others]) + "->" + target,
                        g, *(x for _, x in others))
        x = node.inputs[k]
        if target != subs[k]:
            grad = reshape_to(grad, tuple(d if c in present else 1
                                          for c, d in zip(subs[k], x.shape)))
            grad = broadcast_to_shape(grad, x.shape)
        return grad

    def local_derivative(self, node, k, symbols, names, taken):
        """∂y[out]/∂x_k[sub_k] for local_gradient: SymPy's derivative of the
        product of the indexed operands (the einsum's summand) with respect to
        x_k's element; also (out, sub_k, letters) to name the indices."""
        subs, out = self.operands_and_output
        spare = (ch for ch in "ijklpqrs" if ch not in taken)
        letters = {ch: sympy.Symbol(next(spare), integer=True)
                   for ch in dict.fromkeys("".join(subs))}
        factors = [sympy.IndexedBase(names[x])[tuple(letters[ch] for ch in s)] if s
                   else symbols[x] for s, x in zip(subs, node.inputs)]
        return sympy.diff(sympy.Mul(*factors), factors[k]), (out, subs[k], letters)

    def evaluate(self, node, args, bindings):
        # float32 sums accumulate in float64 and round once, as the compiled kernels do
        wide = np.float64 if node.dtype == "float32" else None
        return np.einsum(self.spec, *args, dtype=wide).astype(node.dtype, copy=False)

    def lower(self, node, low, loop):
        if loop is not None:  # a sum over axes, inside its producer's loop
            (letters,), out = self.operands_and_output
            index = tuple(Index(letters.index(c)) for c in out)
            full = len(out) == len(letters)
            low.reduce_into(loop, node, index, "=" if full else "+=", None if full else 0)
            return None
        users = low.users.get(node, ())
        if node not in low.output_set and users and all(
                isinstance(u.op, Transpose) and u.op.perm == (1, 0) for u in users):
            # only read transposed (a gradient wrt a matrix used as W.T):
            # compute the transposed product instead of copying a transpose
            transposed = _matmul(node, low, self.operands_and_output[1][::-1])
            if transposed is not None:
                for u in users:
                    low.values[u] = transposed
                return None
        return _matmul(node, low) or _loop_nest(node, low)

    def index_form(self, node, reader, idx):
        subs, out = self.operands_and_output
        xs = node.inputs
        dims = {c: d for s, x in zip(subs, xs) for c, d in zip(s, x.shape)}
        summed = [c for c in dims if c not in out]
        letter = dict(zip(out, idx))
        letter.update(zip(summed, reader.indices.fresh(len(summed))))
        body = sympy.Mul(*(reader.at(x, tuple(letter[c] for c in s)) for s, x in zip(subs, xs)))
        return sympy.Sum(body, *reader.limits([letter[c] for c in summed],
                                              [dims[c] for c in summed])) if summed else body

    def matrix_form(self, node, forms):
        subs, out = self.operands_and_output
        dims = {c: d for s, x in zip(subs, node.inputs) for c, d in zip(s, x.shape)}
        coeff = sympy.Mul(*[forms[x] for s, x in zip(subs, node.inputs) if not s])
        operands = [_labelled(forms[x], s) for s, x in zip(subs, node.inputs) if s]
        if len(out) > 2 or not operands or len(operands) > 2:
            raise NoMatrixForm("not a matrix product")
        # a summed letter of one operand only is summed there first (a product with ones)
        letters = [set(s) for s in subs if s]
        operands = [_sum_out(f, lab, set(out).union(*(ls for j, ls in enumerate(letters)
                                                        if j != i)))
                    for i, (f, lab) in enumerate(operands)]
        if len(operands) == 1:
            return mat_mul(coeff, _finish(*operands[0], out))
        (a, la), (b, lb) = operands
        shared = (set(la) & set(lb)) - {None}
        if shared & set(out):  # an elementwise product, then the sums
            union = tuple(out) + tuple(sorted(shared - set(out)))
            if len(union) > 2:
                raise NoMatrixForm("elementwise product of rank > 2")
            product = HadamardProduct(*(_spread(f, lab, union, dims) for f, lab in operands))
            return mat_mul(coeff, _finish(*_sum_out(product, (union + (None,))[:2], set(out)),
                                          out))
        if len(shared) == 2:  # sum_ab A_ab B_ab = tr(Aᵀ B)
            b, lb = _oriented(b, lb, 1, la[1])
            return mat_mul(coeff, Trace(mat_mul(transpose_of(a), b)))
        s = shared.pop() if shared else None
        a, la = _oriented(a, la, 1, s)
        b, lb = _oriented(b, lb, 0, s)
        return mat_mul(coeff, _finish(mat_mul(a, b), (la[0], lb[1]), out))


def contract(spec, *xs):
    """The einsum ``spec`` (explicit output, valid for ``xs``: checked by the
    caller) with its letters renamed in order of first appearance, so equal
    contractions are one node; a lone permutation is a transpose. Weak
    operands (``sg.eye(3)``) take the dtype of the strong ones."""
    dtype = result_type(xs)
    xs = [weak_to(x, dtype) for x in xs]
    ins, out = spec.split("->")
    subs = ins.split(",")
    rename = {}
    for c in "".join(subs) + out:
        rename.setdefault(c, string.ascii_letters[len(rename)])
    subs = ["".join(rename[c] for c in s) for s in subs]
    out = "".join(rename[c] for c in out)
    if len(xs) == 1 and sorted(subs[0]) == sorted(out):
        return permute(xs[0], tuple(subs[0].index(c) for c in out))
    return Contract(",".join(subs) + "->" + out)(*xs)


def sum_axes(x, axes):
    """``x`` summed over ``axes`` (no dtype change)."""
    if not axes:
        return x
    letters = string.ascii_letters[:x.ndim]
    kept = "".join(c for a, c in enumerate(letters) if a not in axes)
    return contract(f"{letters}->{kept}", x)


def sum_to(g, shape):
    """Sum ``g`` over the axes that broadcasting added to reach it from ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + a for a, d in enumerate(shape)
                                      if d == 1 and g.shape[lead + a] != 1)
    return reshape_to(sum_axes(g, axes), shape)


@dataclass(frozen=True)
class Broadcast(Primitive):
    shape: tuple
    label = "broadcast"
    fusion = "view"

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, self.shape

    def vjp(self, node, k, g):
        return sum_to(g, node.inputs[0].shape)

    def evaluate(self, node, args, bindings):
        return np.broadcast_to(args[0], tuple(resolve_dim(d, bindings) for d in self.shape))

    def view_index(self, node, index):
        base = node.inputs[0]
        lead = node.ndim - base.ndim
        return tuple(Index(None) if d == 1 else index[lead + a] for a, d in enumerate(base.shape))

    def lower(self, node, low, loop):
        return low.materialise(node)

    def index_form(self, node, reader, idx):
        x = node.inputs[0]
        return reader.at(x, broadcast_index(idx, x.shape, node.shape))

    def matrix_form(self, node, forms):
        x = node.inputs[0]
        form = forms[x]
        if not isinstance(form, MatrixExpr):
            return mat_mul(form, OneMatrix(*matrix_shape(node.shape)))
        return broadcast_form(form, x.shape, node.shape)


def broadcast_to_shape(x, shape):
    """``x`` repeated to ``shape`` (broadcast-compatible: checked by the caller)."""
    return x if tuple(x.shape) == tuple(shape) else Broadcast(tuple(shape))(x)


# ---------------------------------------------------------------- lowering

@dataclass(frozen=True)
class Gemm:
    """A two-operand einsum as one matrix product ``op(A) @ op(B)``: ``first``
    is the operand that is A; ``left``, ``inner`` and ``right`` are the letters
    of the product's rows, of the summed axes and of its columns; A is stored
    as ``left + inner`` (or ``inner + left``: ``trans_a``) and B as ``inner +
    right`` (or ``right + inner``: ``trans_b``)."""
    first: int
    trans_a: bool
    trans_b: bool
    left: str
    inner: str
    right: str


def gemm(subs, out):
    """The :class:`Gemm` computing the einsum ``subs[0],subs[1]->out``, or None
    when it is no single matrix product of 2-D views of its operands.

    >>> gemm(["ab", "cb"], "ac")
    Gemm(first=0, trans_a=False, trans_b=True, left='a', inner='b', right='c')
    >>> gemm(["ab", "ab"], "a") is None   # a batched product, not one GEMM
    True
    """
    a, b = subs
    if any(c in b for c in a if c in out) or any(
            c not in out and c not in other for s, other in ((a, b), (b, a)) for c in s):
        return None
    for first, (sa, sb) in enumerate(((a, b), (b, a))):
        left = "".join(c for c in sa if c in out)
        right = "".join(c for c in sb if c in out)
        inner = "".join(c for c in sa if c not in out)
        if out != left + right or inner != "".join(c for c in sb if c not in out):
            continue
        trans_a = None if sa == left + inner else True if sa == inner + left else "no"
        trans_b = None if sb == inner + right else True if sb == right + inner else "no"
        if "no" in (trans_a, trans_b):
            continue
        return Gemm(first, bool(trans_a), bool(trans_b), left, inner, right)
    return None


def _matmul(node, low, out=None):
    """One BLAS product on 2-D views when :func:`gemm` finds the form and the
    operands reshape to matrices without a copy; else None. ``out`` (the
    output letters) may permute the einsum's."""
    subs, spec_out = node.op.operands_and_output
    out = out or spec_out
    if len(subs) != 2 or node.dtype not in FLOAT_DTYPES or \
            any(x.dtype != node.dtype for x in node.inputs):
        return None
    operands = []
    for letters, x in zip(subs, node.inputs):
        while isinstance(x.op, Transpose) and x not in low.values:  # read its source
            letters = "".join(letters[x.op.perm.index(a)] for a in range(x.ndim))
            x = x.inputs[0]
        if isinstance(x.op, Broadcast):
            return None
        operands.append((letters, x))
    form = gemm([letters for letters, _ in operands], out)
    if form is None:
        return None
    dims = {c: d for letters, x in operands for c, d in zip(letters, x.shape)}

    def count(letters):
        return sympy.Mul(*[low.size(dims[c]) for c in letters])
    (_, a), (_, b) = operands if form.first == 0 else operands[::-1]
    rows_a = (form.inner, form.left) if form.trans_a else (form.left, form.inner)
    rows_b = (form.right, form.inner) if form.trans_b else (form.inner, form.right)
    ma = low.matrix(a, tuple(count(c) for c in rows_a))
    mb = low.matrix(b, tuple(count(c) for c in rows_b))
    name = low.name("b")
    sizes = (count(form.left), count(form.inner), count(form.right))
    low.emit(MatMul(name, ma, mb, form.trans_a, form.trans_b, sizes, node.dtype))
    low.fresh.add(name)
    if len(form.left) == 1 and len(form.right) == 1:
        return name
    view = low.name("r")
    low.emit(ReshapeStatement(view, name, low.sizes(tuple(node.shape[spec_out.index(c)]
                                                          for c in out))))
    return view


def _loop_nest(node, low):
    """A general einsum as one loop nest accumulating products."""
    subs, out = node.op.operands_and_output
    letters = list(dict.fromkeys(list(out) + [c for s in subs for c in s if c not in out]))
    dims = {c: d for s, x in zip(subs, node.inputs) for c, d in zip(s, x.shape)}
    loop = low.loop(tuple(dims[c] for c in letters))
    syms = [low.access(loop, x, tuple(Index(letters.index(c)) for c in s))
            for s, x in zip(subs, node.inputs)]
    product = low.compute(loop, product_formula(len(syms)), syms, node.dtype,
                          [x.dtype for x in node.inputs])
    name = low.alloc(node, fill=0)
    low.store(loop, name, tuple(Index(letters.index(c)) for c in out), product, "+=")
    low.emit_loop(loop)
    return name


@functools.lru_cache(maxsize=64)
def product_formula(n):
    """``Lambda((t0, ..., t(n-1)), t0*...*t(n-1))``."""
    ts = [sympy.Symbol(f"t{k}", real=True) for k in range(n)]
    return sympy.Lambda(tuple(ts), sympy.Mul(*ts))


# ---------------------------------------------------------------- matrix reading

def _oriented(form, labels, side, want):
    """(form, labels) transposed if needed so that ``labels[side]`` is ``want``
    (side 0: the row letter, 1: the column letter; None for a size-1 side)."""
    if labels[side] == want:
        return form, labels
    if labels[1 - side] == want:
        return transpose_of(form), labels[::-1]
    raise NoMatrixForm("no orientation")


def _labelled(form, sub):
    """A matrix form with the einsum letters of its rows and columns (None: size 1)."""
    if len(sub) > 2:
        raise NoMatrixForm("rank > 2 operand")
    return form, (tuple(sub) + (None, None))[:2]


def _sum_out(form, labels, keep):
    """Sum the axes whose letters are not in ``keep``, as products with ones."""
    if labels[0] is not None and labels[0] not in keep:
        form, labels = mat_mul(OneMatrix(1, form.shape[0]), form), (None, labels[1])
    if labels[1] is not None and labels[1] not in keep:
        form, labels = mat_mul(form, OneMatrix(form.shape[1], 1)), (labels[0], None)
    return form, labels


def _finish(form, labels, out):
    """A product with row/column ``labels`` as the einsum output ``out``."""
    target = (tuple(out) + (None, None))[:2]
    form, labels = (form, labels) if labels == target else (transpose_of(form), labels[::-1])
    if labels != target:
        raise NoMatrixForm("output order")
    return as_scalar(form) if not out else form


def _spread(form, labels, union, dims):
    """An operand with row/column letters ``labels`` repeated over the letters
    ``union`` (one or two), as products with ones."""
    present = [c for c in labels if c is not None]
    if len(present) == len(union):
        return _oriented(form, labels, 1, (union + (None,))[1])[0]
    (c,) = present
    form = _oriented(form, labels, 1, None)[0]  # a column
    if c == union[0]:
        return mat_mul(form, OneMatrix(1, dims[union[1]]))
    return mat_mul(OneMatrix(dims[union[0]], 1), transpose_of(form))

