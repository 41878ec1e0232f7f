"""Reverse mode: ``grad``, ``jacobian`` and ``hessian`` over the graph.

One backward sweep in reverse topological order, visiting only nodes on a
path from a ``wrt`` to the cost, summing the upstream gradients of each node
(branches). One rule per class of op (``VJP_RULES``): elementwise ops use
the SymPy-derived formula of ``derivatives.py``, contractions one generic
einsum adjoint, max/min route to the first arg-max, and every structural op
uses its transpose. Gradients are ordinary expressions: they print, compile
and differentiate again.
"""
import sympy

from . import elementwise as E
from . import tensor_ops as T
from .constructors import constant
from .derivatives import elemwise_vjp
from .errors import DisconnectedInputError
from .graph import Expr, toposort
from .ops import (ArgOneHot, Broadcast, Concatenate, Contract, Elemwise, Gather, PutAlong,
                  Reduce, Reshape, ScatterAdd, Slice, SliceAdd, TakeAlong, Transpose)
from .types import is_float


def _vjp_elemwise(node, k, g):
    formula, uses_output = elemwise_vjp(node.op.formula, k)
    if formula is None:
        return None
    args = [g, node] if uses_output else [g, *node.inputs]
    return T.sum_to(E.apply(formula, args, f"d{node.op.fname}"), node.inputs[k].shape)


def _vjp_contract(node, k, g):
    """d/dx_k of einsum(spec, xs) . g = einsum(out, other operands -> subs_k),
    broadcast over the indices of x_k that appear nowhere else."""
    subs, out = node.op.operands_and_output
    others = [(s, x) for i, (s, x) in enumerate(zip(subs, node.inputs)) if i != k]
    present = set(out).union(*(s for s, _ in others))
    target = "".join(c for c in subs[k] if c in present)
    spec = ",".join([out] + [s for s, _ in others]) + "->" + target
    grad = T.einsum(spec, g, *(x for _, x in others))
    x = node.inputs[k]
    if target != subs[k]:
        grad = T.reshape(grad, tuple(d if c in present else 1 for c, d in zip(subs[k], x.shape)))
        grad = T.broadcast_to(grad, x.shape)
    return grad


def _vjp_reduce(node, k, g):
    x = node.inputs[0]
    kept = T.reshape(g, tuple(1 if a in node.op.axes else d for a, d in enumerate(x.shape)))
    return T.arg_one_hot(x, node.op.kind, node.op.axes) * kept


def _vjp_concatenate(node, k, g):
    axis = node.op.axis
    start = sympy.Add(*[x.shape[axis] for x in node.inputs[:k]])
    stop = start + node.inputs[k].shape[axis]
    as_dim = lambda v: int(v) if v.is_Integer else v  # noqa: E731
    return T.slice_axis(g, axis, as_dim(start), as_dim(stop))


def _inverse(perm):
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


VJP_RULES = {
    Elemwise: _vjp_elemwise,
    Contract: _vjp_contract,
    Reduce: _vjp_reduce,
    ArgOneHot: lambda node, k, g: None,
    Reshape: lambda node, k, g: T.reshape(g, node.inputs[0].shape),
    Transpose: lambda node, k, g: T.transpose(g, _inverse(node.op.perm)),
    Broadcast: lambda node, k, g: T.sum_to(g, node.inputs[0].shape),
    Gather: lambda node, k, g: T.scatter_add(g, node.inputs[1], node.inputs[0].shape[0]),
    ScatterAdd: lambda node, k, g: T.gather(g, node.inputs[1]),
    TakeAlong: lambda node, k, g: T.put_along(g, node.inputs[1], node.inputs[0].shape[-1]),
    PutAlong: lambda node, k, g: T.pick(g, node.inputs[1]),
    Concatenate: _vjp_concatenate,
    Slice: lambda node, k, g: T.slice_add(g, node.inputs[0].shape, node.op.index),
    SliceAdd: lambda node, k, g: Expr(Slice(node.op.index), (g,), g.dtype, node.inputs[0].shape),
}


def _zeros(x):
    return T.broadcast_to(constant(0, dtype=x.dtype), x.shape)


def _as_list(wrt):
    return (False, list(wrt)) if isinstance(wrt, (list, tuple)) else (True, [wrt])


def grad(cost, wrt, disconnected="raise"):
    """Gradient of a 0-d ``cost`` with respect to one expression or a list.

    Each gradient has exactly the shape and dtype of its ``wrt``. A ``wrt``
    that ``cost`` does not depend on raises ``DisconnectedInputError``, or
    gives zeros with ``disconnected="zero"``.

    >>> import symgrad as sg
    >>> x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    >>> f = (x + y) * sg.maximum(y, z)
    >>> grads = sg.grad(f, [x, y, z])
    >>> [float(g.eval({x: 1.0, y: 2.0, z: 0.0})) for g in grads]
    [2.0, 5.0, 0.0]
    """
    single, wrts = _as_list(wrt)
    if not isinstance(cost, Expr):
        raise TypeError(f"grad needs a symgrad expression as cost, got {type(cost).__name__}")
    if cost.ndim != 0:
        raise ValueError(f"grad needs a 0-d cost, but {cost.describe()} is not; "
                         "reduce it first, e.g. cost.sum() or cost.mean()")
    if not is_float(cost.dtype):
        raise TypeError(f"grad needs a floating-point cost, got {cost.describe()}")
    if disconnected not in ("raise", "zero"):
        raise ValueError(f"disconnected must be 'raise' or 'zero', got {disconnected!r}")
    for w in wrts:
        if not isinstance(w, Expr):
            raise TypeError(f"grad: wrt must be symgrad expressions, got {type(w).__name__}")
        if not is_float(w.dtype):
            raise TypeError(f"the gradient with respect to the integer {w.describe()} is "
                            "undefined; differentiate with respect to floating-point inputs")
    adjoints = backward(cost, wrts)
    out = []
    for w in wrts:
        if w in adjoints:
            out.append(E.cast(adjoints[w], w.dtype))
        elif disconnected == "zero" or w in set(toposort([cost])):  # in the graph: zero
            out.append(_zeros(w))
        else:
            raise DisconnectedInputError(
                f"cost {cost.name!r} does not depend on {w.describe()}; pass "
                "disconnected='zero' to get zeros for it")
    return out[0] if single else out


def backward(cost, wrts):
    """{node: total gradient of ``cost`` w.r.t. node} for nodes between wrts and cost."""
    order = toposort([cost])
    targets = set(wrts)
    on_path = set()
    for node in order:
        if node in targets or any(i in on_path for i in node.inputs):
            on_path.add(node)
    pending = {cost: [constant(1, dtype=cost.dtype)]}
    adjoints = {}
    for node in reversed(order):
        contributions = pending.pop(node, None)
        if not contributions or node not in on_path:
            continue
        g = contributions[0]
        for c in contributions[1:]:
            g = g + c
        adjoints[node] = g
        rule = VJP_RULES.get(type(node.op))
        for k, x in enumerate(node.inputs):
            if x not in on_path or not is_float(x.dtype):
                continue
            if rule is None:
                raise NotImplementedError(f"no derivative rule for op {node.op.label!r} "
                                          f"in {node.describe()}")
            gk = rule(node, k, g)
            if gk is not None:
                pending.setdefault(x, []).append(gk)
    return adjoints


def jacobian(y, x):
    """The Jacobian of a 1-d ``y`` with respect to a 1-d ``x``: shape (len(y), len(x)).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.jacobian(x * x, x).eval({x: [1.0, 3.0]})
    array([[2., 0.],
           [0., 6.]])
    """
    if y.ndim != 1 or x.ndim != 1:
        raise ValueError(f"jacobian needs 1-d y and x, got {y.describe()} and {x.describe()}")
    if not isinstance(y.shape[0], int):
        raise ValueError(f"jacobian needs a fixed length for {y.describe()}")
    rows = [grad(y[i], x, disconnected="zero") for i in range(y.shape[0])]
    if not rows:
        return T.broadcast_to(constant(0, dtype=x.dtype), (0,) + x.shape)
    return T.stack(rows, axis=0)


def hessian(cost, x):
    """The Hessian of a 0-d ``cost`` with respect to a 1-d ``x``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.hessian((x ** 3).sum(), x).eval({x: [1.0, 2.0]})
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(grad(cost, x, disconnected="zero"), x)
