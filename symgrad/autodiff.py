"""Reverse mode: ``grad``, ``jacobian``, ``hessian``, ``jvp`` and ``hvp`` over the
graph, and ``stop_gradient``, which differentiation treats as a constant.

One backward sweep in reverse topological order, visiting only nodes on a
path from a ``wrt`` to the cost, summing the upstream gradients of each node
(branches). Each op gives its own vector-Jacobian product (its ``vjp``
facet, in ``symgrad/ops``): elementwise ops the SymPy-derived formula of
``derivatives.py``, contractions one generic einsum adjoint, max/min route to
the first arg-max, and every structural op its transpose. Gradients are ordinary expressions: they print, compile
and differentiate again. ``jvp`` (J·v) and ``hvp`` (H·v) are two reverse sweeps
each; ``jacobian`` and ``hessian`` one per element of the result's leading part.
"""
import itertools

import numpy as np

from . import tensor_ops as T
from .errors import DisconnectedInputError, ShapeError
from .graph import Expr, fresh_uid, substitute, toposort
from .optimize import optimize
from .ops import Slice
from .ops.contraction import broadcast_to_shape
from .ops.elementwise import cast
from .ops.leaves import Input, constant, free_inputs
from .ops.stop import StopGradient
from .types import is_float, same_dim


def _zeros(x):
    return broadcast_to_shape(constant(0, dtype=x.dtype), x.shape)


def _as_list(wrt):
    return (False, list(wrt)) if isinstance(wrt, (list, tuple)) else (True, [wrt])


def stop_gradient(x):
    """``x``'s value, through which no gradient flows (JAX's ``lax.stop_gradient``,
    PyTorch's ``detach``): ``sg.grad``, ``sg.jvp`` and ``sg.hvp`` treat it as a
    constant, also when a gradient is differentiated again. It costs nothing
    at run time. A cost that depends on ``x`` only through it has a zero
    gradient with respect to ``x`` (as in JAX), not a ``DisconnectedInputError``.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> cost = (x * sg.stop_gradient(x)).sum()  # d/dx of x * c, with c = x held fixed
    >>> sg.grad(cost, x).eval({x: [3.0, 4.0]})
    array([3., 4.])
    >>> sg.grad(sg.stop_gradient(x).sum(), x).eval({x: [3.0, 4.0]})
    array([0., 0.])
    """
    return StopGradient()(T._as_expr(x))


def namesakes(variable, outputs):
    """The variables in the graph of ``outputs`` that are named like ``variable``
    but are other objects (a variable re-created with the same name).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> [v.name for v in namesakes(sg.vector("x", 2), [x.sum()])], namesakes(x, [x.sum()])
    (['x'], [])
    """
    return [v for v in free_inputs(outputs) if v.name == variable.name and v is not variable]


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
            raise DisconnectedInputError(_disconnected_message(cost, w))
    return out[0] if single else out


def _disconnected_message(cost, w):
    """Why ``cost`` does not depend on ``w`` (not in its graph), and what to pass instead."""
    what = f"cost {cost.name!r} does not depend on {w.describe()}"
    variables = free_inputs([w])
    for v in variables:
        if namesakes(v, [cost]):
            return (f"{what}: the graph has a different variable named {v.name!r}; variables are "
                    f"identified by object, not name: pass the {v.name!r} the cost was built from")
    used = [v for v in variables if v in set(free_inputs([cost]))]
    if used and not isinstance(w.op, Input):
        name = used[0].name
        return (f"{what}: it is an expression of the variable {name!r}, not a variable, and "
                "the cost does not go through it; differentiate with respect to the variable "
                f"and take the part you need: {_part_of(w, name)}")
    return f"{what}; pass disconnected='zero' to get zeros for it"


def _part_of(w, name):
    """``sg.grad(cost, x)[0, 1:]`` for ``w = x[0, 1:]``, else how to get the part."""
    generic = f"sg.grad(cost, {name}), then the operations that made {w.name!r}"
    if not (isinstance(w.op, Slice) and isinstance(w.inputs[0].op, Input)):
        return generic
    entries = []
    for k, d in zip(w.op.index, w.inputs[0].shape):
        if isinstance(k, int):
            entries.append(str(k))
        elif k == (0, d, 1):
            entries.append(":")
        elif k[2] > 0:  # a reversed slice's resolved bounds do not read back as Python's
            start, stop, step = k
            entries.append(f"{start or ''}:{'' if stop == d else stop}"
                           + (f":{step}" if step != 1 else ""))
        else:
            return generic
    while entries and entries[-1] == ":":
        entries.pop()
    return f"sg.grad(cost, {name})[{', '.join(entries) or ':'}]"


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


def _static_size(e, what, fix):
    """The number of elements of ``e``, which must have no named dimension."""
    named = [str(d) for d in e.shape if not isinstance(d, int)]
    if named:
        raise ShapeError(f"{what} needs a fixed size for {e.describe()}, but it has the named "
                         f"dimension(s) {', '.join(named)}; {fix}")
    return int(np.prod(e.shape, dtype=np.int64))


def jacobian(y, x):
    """The Jacobian of ``y`` with respect to ``x``, of shape ``y.shape + x.shape``:
    entry ``[i..., j...]`` is d y[i...] / d x[j...].

    Cost: one reverse sweep (one ``sg.grad``) per element of ``y``, so the graph
    grows with ``y.size``; for a product with a vector use :func:`jvp` (J·v) or
    ``sg.grad((y * u).sum(), x)`` (uᵀJ) instead. ``y``'s shape must be fixed
    (named dimensions raise ``sg.ShapeError``); ``x`` may have named dimensions.
    Entries of ``y`` that do not depend on ``x`` give zero rows.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.jacobian(x * x, x).eval({x: [1.0, 3.0]})
    array([[2., 0.],
           [0., 6.]])
    >>> A = sg.matrix("A", 2, 3)
    >>> sg.jacobian(A.sum(axis=1), A).shape
    (2, 2, 3)
    """
    y = T._as_expr(y)
    if not isinstance(x, Expr):
        raise TypeError(f"jacobian: x must be a symgrad expression, got {type(x).__name__}")
    for name, e in (("y", y), ("x", x)):
        if not is_float(e.dtype):
            raise TypeError(f"jacobian needs floating-point y and x, but {name} is {e.describe()}")
    n = _static_size(y, "jacobian(y, x)",
                     "it takes one reverse sweep per element of y: bind the dimension to an "
                     "int, or use sg.jvp(y, x, v) / sg.grad((y * u).sum(), x) for products")
    if y.ndim == 0:
        return grad(y, x, disconnected="zero")
    if n == 0:
        return broadcast_to_shape(constant(0, dtype=y.dtype), y.shape + x.shape)
    rows = [grad(y[i], x, disconnected="zero") for i in np.ndindex(*y.shape)]
    J = T.stack(rows, axis=0)
    return J if y.ndim == 1 else T.reshape(J, y.shape + x.shape)


def hessian(cost, x):
    """The Hessian of a 0-d ``cost`` with respect to ``x``, of shape ``x.shape + x.shape``.

    The Jacobian of the gradient: one reverse sweep over the gradient graph per
    element of ``x`` (see :func:`jacobian`); for products with a vector use
    :func:`hvp`, which needs one. ``x``'s shape must be fixed.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> sg.hessian((x ** 3).sum(), x).eval({x: [1.0, 2.0]})
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> X = sg.matrix("X", 2, 2)
    >>> sg.hessian((X ** 2).sum(), X).shape
    (2, 2, 2, 2)
    """
    if not isinstance(x, Expr):
        raise TypeError(f"hessian: x must be a symgrad expression, got {type(x).__name__}")
    _static_size(x, "hessian(cost, x)", "it takes one reverse sweep per element of x: bind "
                 "the dimension to an int, or use sg.hvp(cost, x, v) for products")
    return jacobian(grad(cost, x, disconnected="zero"), x)


def _paired(x, v, what):
    """(single, xs, vs) with each v an expression shaped like its x."""
    single, xs = _as_list(x)
    if isinstance(v, (list, tuple)) and not single:
        vs = list(v)
    elif single:
        vs = [v]
    else:
        raise TypeError(f"{what}: x is a list, so v must be a list of the same length")
    if len(vs) != len(xs):
        raise ValueError(f"{what}: {len(xs)} x but {len(vs)} v; give one direction per x")
    out = []
    for xk, vk in zip(xs, vs):
        if not isinstance(xk, Expr):
            raise TypeError(f"{what}: x must be symgrad expressions, got {type(xk).__name__}")
        vk = T._as_expr(vk)
        if vk.ndim != xk.ndim or not all(same_dim(a, b) for a, b in zip(vk.shape, xk.shape)):
            raise ShapeError(f"{what}: the direction v must have x's shape, but v is "
                             f"{vk.describe()} and x is {xk.describe()}")
        out.append(cast(vk, xk.dtype) if is_float(xk.dtype) else vk)
    return single, xs, out


def _inner(pairs):
    """sum over pairs of <a, b>: a 0-d expression."""
    total = None
    for a, b in pairs:
        term = T.sum(a * b)
        total = term if total is None else total + term
    return total


_dummies = itertools.count()


def jvp(y, x, v, disconnected="raise"):
    """J·v: the derivative of ``y`` along the direction ``v``, without building J.

    ``y`` has any shape, ``v`` has the shape of ``x``, and the result the shape
    of ``y``: entry ``i`` is sum_j dy[i]/dx[j] v[j]. ``x`` and ``v`` may be
    lists of the same length (the result is then the sum of the products, as
    JAX's ``jvp`` with tuples). Cost: two reverse sweeps, O(the graph of y),
    whatever the sizes. It is the double-reverse trick: ``vjp(u) =
    grad(<y, u>, x)`` is linear in a dummy ``u`` shaped like ``y``, and
    ``grad(<vjp(u), v>, u)`` is J·v, in which ``u`` no longer appears.

    An ``x`` that ``y`` does not depend on raises ``DisconnectedInputError``,
    or counts as zero with ``disconnected="zero"``.

    >>> import symgrad as sg
    >>> x, v = sg.vector("x", 2), sg.vector("v", 2)
    >>> sg.jvp(x * x, x, v).eval({x: [1.0, 3.0], v: [1.0, 10.0]})
    array([ 2., 60.])
    """
    y = T._as_expr(y)
    if not is_float(y.dtype):
        raise TypeError(f"jvp needs a floating-point y, got {y.describe()}")
    single, xs, vs = _paired(x, v, "jvp")
    u = Expr(Input(f"jvp_u{next(_dummies)}", fresh_uid()), (), y.dtype, y.shape)
    vjps = grad(T.sum(y * u), xs, disconnected=disconnected)
    out = grad(_inner(zip(vjps, vs)), u, disconnected="zero")
    return _without(out, u)


def hvp(cost, x, v, disconnected="raise"):
    """H·v: the Hessian of a 0-d ``cost`` times ``v``, shaped like ``x``, without building H.

    The gradient of <grad(cost, x), v> with respect to ``x``: two reverse
    sweeps, O(the graph of cost). ``x`` and ``v`` may be lists of the same length:
    the result is then the list of the blocks' sums, ``[sum_k H[j][k] v[k] for j]``.
    ``disconnected`` is as for :func:`grad`.

    >>> import symgrad as sg
    >>> x, v = sg.vector("x", 2), sg.vector("v", 2)
    >>> sg.hvp((x ** 3).sum(), x, v).eval({x: [1.0, 2.0], v: [1.0, 1.0]})
    array([ 6., 12.])
    """
    single, xs, vs = _paired(x, v, "hvp")
    gs = grad(cost, xs, disconnected=disconnected)
    out = grad(_inner(zip(gs, vs)), xs, disconnected="zero")
    return out[0] if single else out


def _without(e, u):
    """``e``, which does not depend on the value of ``u``, with ``u`` gone from its graph."""
    if u not in set(free_inputs([e])):
        return e
    # u can survive only as an argument whose value cancels (e.g. of an elementwise
    # derivative that did not simplify); any value gives the same result: take 0
    return substitute(e, {u: broadcast_to_shape(constant(0, dtype=u.dtype), u.shape)})
