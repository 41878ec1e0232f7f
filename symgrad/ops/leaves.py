"""Leaves of a graph: ``Input`` (a variable), ``Constant`` and ``DimSize``
(the size of a named dimension, known at call time); and weak types.

A constant made from a Python number is *weakly typed* (as NumPy 2's Python
scalars and JAX's weak types): combined with a float32 expression it becomes
float32 instead of promoting the float32 model to float64. An expression
computed from weak constants only is weak too (``is_weak``), and the builders
that combine operands (``apply``, ``contract``, ``concatenate``) let the
strong operands decide the dtype and convert the weak ones to it
(``weak_to``); a weak constant that is one number repeated folds into an
elementwise formula as that number, exactly like a Python number.
"""
import dataclasses
import weakref
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import OneMatrix

from ..graph import Expr, toposort
from ..types import as_dtype, is_float, result_dtype
from ..sympy_algebra import NoMatrixForm, mat_mul, matrix_shape, number, symbol_for
from .base import Leaf


@dataclass(frozen=True)
class Input(Leaf):
    name: str
    uid: int

    @property
    def label(self):
        return self.name

    def text(self):
        return f"input {self.name}"

    def graph_text(self):
        return self.name

    def evaluate(self, node, args, bindings):
        raise ValueError(f"input {node.describe()} has no value")

    def index_form(self, node, reader, idx):
        return symbol_for(self.name, node.shape, indexed=True)[idx] if idx else \
            symbol_for(self.name, ())

    def matrix_form(self, node, forms):
        return symbol_for(self.name, node.shape)


class Storage:
    """The array a shared variable owns; one per ``sg.shared`` call, so two
    shared variables never share an array by accident. Compared by identity."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


@dataclass(frozen=True)
class Shared(Input):
    """A variable that owns an array (``sg.shared``): compiled functions read
    it without it being passed, and ``updates=`` write it in place. Equal by
    name and uid, as every variable; ``storage`` holds the array."""
    storage: Storage = dataclasses.field(compare=False, repr=False)
    label = Input.label  # its name (not the class name Op would give it)

    def text(self):
        return f"shared {self.name}"


def free_inputs(outputs):
    """The input variables that ``outputs`` depend on, in graph order."""
    return [n for n in toposort(outputs) if isinstance(n.op, Input)]


class Constant(Leaf):
    """A fixed array; equal constants are one op (hashed by dtype, shape, bytes
    and weakness: a weak constant takes the dtype of what it is combined with)."""

    label = "constant"
    weak = False

    def __init__(self, value, weak=False):
        value = np.array(value, copy=True)
        value.flags.writeable = False
        self.value = value
        self.weak = bool(weak)
        self._key = (value.dtype.str, value.shape, value.tobytes(), self.weak)

    def __eq__(self, other):
        return isinstance(other, Constant) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"Constant({self.value!r})"

    def __reduce__(self):
        return Constant, (self.value, self.weak)  # rebuilt read-only, with its key

    def text(self):
        value = self.value
        return f"constant {value.item()!r}" if value.ndim == 0 else \
            f"constant {value.tolist()!r}" if value.size <= 6 else "constant array"

    def graph_text(self):
        return self.text().removeprefix("constant ")

    def evaluate(self, node, args, bindings):
        return self.value

    def index_form(self, node, reader, idx):
        value = self.value
        if value.size and (value == value.flat[0]).all():
            return number(value.flat[0])
        return sympy.Array(value.tolist())[idx]

    def matrix_form(self, node, forms):
        value = self.value
        if value.ndim == 0:
            return number(value)
        if value.ndim > 2:
            raise NoMatrixForm(f"constant of rank {value.ndim}")
        if value.size and (value == value.flat[0]).all():
            return mat_mul(number(value.flat[0]), OneMatrix(*matrix_shape(node.shape)))
        return sympy.ImmutableMatrix(value if value.ndim == 2 else value[:, None])


def constant(value, dtype=None):
    """A constant from a number or an array (copied; later changes to it are not seen).

    A Python number without ``dtype`` makes a *weak* constant (as NumPy 2 and
    JAX treat Python scalars): it is float64 (or int64) alone, but takes the
    dtype of a float32 expression it is combined with. An array, a NumPy
    scalar or an explicit ``dtype`` makes a strong constant, which promotes
    as NumPy does.

    >>> import symgrad as sg
    >>> c = sg.constant([1.0, 2.0])
    >>> c.shape, c.dtype
    ((2,), 'float64')
    >>> x = sg.vector("x", 2, dtype="float32")
    >>> (x + sg.constant(1.0)).dtype, (x + sg.constant(np.float64(1.0))).dtype
    ('float32', 'float64')
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a constant must be numeric, got dtype {arr.dtype} from {value!r}")
    weak = dtype is None and isinstance(value, (bool, int, float)) and \
        not isinstance(value, np.generic)
    if dtype is None:
        dtype = "float64" if arr.dtype.kind == "f" else "int64"
        if arr.dtype.name in ("float32", "int32"):
            dtype = arr.dtype.name
    dtype = as_dtype(dtype)
    return Expr(Constant(arr.astype(dtype), weak), (), dtype, arr.shape)


def weak_constant(value, dtype):
    """A weak constant of ``dtype`` holding ``value`` (see :func:`constant`)."""
    arr = np.asarray(value).astype(as_dtype(dtype))
    return Expr(Constant(arr, weak=True), (), arr.dtype.name, arr.shape)


# ---------------------------------------------------------------- weak types

_weak = weakref.WeakKeyDictionary()  # {node structure: bool}, filled by is_weak


def _same_kind(a, b):
    return is_float(a) == is_float(b)


def _is_cast(node):
    """An identity formula that changes the dtype: ``sg.cast``, always explicit."""
    formula = getattr(node.op, "formula", None)
    return formula is not None and len(node.inputs) == 1 and \
        formula.expr == formula.variables[0] and node.inputs[0].dtype != node.dtype


def is_weak(x):
    """True when ``x``'s dtype was not chosen by the user: a weak constant, or
    a node whose inputs of its own kind (float or int) are all weak, such as a
    broadcast of a weak constant or ``sg.arange(n)``; an elementwise float
    formula of integers only, such as ``sg.one_hot``'s mask, is weak too (no
    float operand chose its width). A cast is explicit, hence strong.

    >>> import symgrad as sg
    >>> is_weak(sg.zeros(3)), is_weak(sg.zeros(3, dtype="float64")), is_weak(sg.vector("x", 3))
    (True, False, False)
    """
    stack = [x]
    while stack:  # iterative: a deep graph must not hit the recursion limit
        node = stack[-1]
        if node._key in _weak:
            stack.pop()
            continue
        if not node.inputs:
            verdict = isinstance(node.op, Constant) and node.op.weak
        elif _is_cast(node):
            verdict = False
        else:
            deciding = [i for i in node.inputs if _same_kind(i.dtype, node.dtype)]
            known = [_weak.get(i._key) for i in deciding]
            if not deciding and not hasattr(node.op, "formula"):
                verdict = False  # e.g. an index computed from floats: its dtype is the op's own
            elif False in known:
                verdict = False
            elif None in known:
                stack.append(deciding[known.index(None)])
                continue
            else:
                verdict = True
        _weak[node._key] = verdict
        stack.pop()
    return _weak[x._key]


def _views_down(x):
    """``x`` and the nodes below it through one-input views (broadcast, reshape, ...)."""
    while True:
        yield x
        if getattr(x.op, "fusion", None) != "view" or len(x.inputs) != 1:
            return
        x = x.inputs[0]


def weak_value(x):
    """The Python number a weak ``x`` repeats (a weak constant, through views),
    else None: elementwise formulas fold it in like a Python number."""
    for node in _views_down(x):
        pass
    op = node.op
    if not (isinstance(op, Constant) and op.weak and op.value.size):
        return None
    first = op.value.flat[0]
    return first.item() if (op.value == first).all() else None


def result_type(xs):
    """The dtype that ``xs`` combine to: the strong operands decide (the widest
    float, else the widest int); a weak float among strong ints gives float64."""
    strong = [x.dtype for x in xs if not is_weak(x)]
    floats = [d for d in strong if is_float(d)] or [x.dtype for x in xs if is_float(x.dtype)]
    return result_dtype(floats or strong or [x.dtype for x in xs])


def weak_to(x, dtype):
    """A weak ``x`` of the same kind (float or int) as ``dtype`` rebuilt in
    ``dtype``, any other ``x`` unchanged: its constants are converted and its
    ops rebuilt on them (an elementwise op computes in ``dtype``), so no cast
    is left in the graph.

    >>> import symgrad as sg
    >>> weak_to(sg.eye("n"), "float32").dtype
    'float32'
    """
    def converts(node):
        return node.dtype != dtype and _same_kind(node.dtype, dtype) and is_weak(node)

    if not converts(x):
        return x
    done, stack = {}, [x]  # done: {node: converted}; iterative, shared subgraphs once
    while stack:
        node = stack[-1]
        pending = [i for i in node.inputs if i not in done and converts(i)]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if node in done:
            continue
        op = node.op
        if not node.inputs:
            out = weak_constant(op.value, dtype)
        else:
            inputs = [done.get(i, i) for i in node.inputs]
            if "dtype" in getattr(op, "__dataclass_fields__", ()):  # an op carrying its dtype
                op = dataclasses.replace(op, dtype=dtype)
            out = op(*inputs)
            if out.dtype != dtype:  # an op whose dtype does not follow its inputs
                out = node
        done[node] = out
    return done[x]


@dataclass(frozen=True)
class DimSize(Leaf):
    dim: sympy.Symbol

    @property
    def label(self):
        return f"size({self.dim})"

    def text(self):
        return self.label

    def evaluate(self, node, args, bindings):
        return np.int64(bindings[self.dim])

    def index_form(self, node, reader, idx):
        return self.dim

    def matrix_form(self, node, forms):
        return self.dim
