"""Reverse mode: ``grad``, ``jacobian`` and ``hessian`` over the graph.

One backward sweep in reverse topological order, visiting only nodes on a
path from a ``wrt`` to the cost, summing the upstream gradients of each node
(branches). Each op gives its own vector-Jacobian product (its ``vjp``
facet, in ``symgrad/ops``): elementwise ops the SymPy-derived formula of
``derivatives.py``, contractions one generic einsum adjoint, max/min route to
the first arg-max, and every structural op its transpose. Gradients are ordinary expressions: they print, compile
and differentiate again.
"""
from . import tensor_ops as T
from .errors import DisconnectedInputError
from .graph import Expr, toposort
from .optimize import optimize
from .ops.contraction import broadcast_to_shape
from .ops.elementwise import cast
from .ops.leaves import constant
from .types import is_float


def _zeros(x):
    return broadcast_to_shape(constant(0, dtype=x.dtype), x.shape)


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
    (cost,) = optimize([cost], keep=wrts, for_backend=False)
    adjoints = backward(cost, wrts)
    out = []
    for w in wrts:
        if w in adjoints:
            out.append(cast(adjoints[w], w.dtype))
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
        for k, x in enumerate(node.inputs):
            if x not in on_path or not is_float(x.dtype):
                continue
            gk = node.op.vjp(node, k, g)
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
        return broadcast_to_shape(constant(0, dtype=x.dtype), (0,) + x.shape)
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
