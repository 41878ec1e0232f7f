"""Elementwise ops from SymPy formulas, with NumPy broadcasting.

Every built-in elementwise op (exp ... softplus, maximum, where) is a SymPy
formula made by :func:`elementwise`, exactly like a user's own; derivatives
come from ``sympy.diff`` (see ``derivatives.py``), never from a table.
Kink conventions (API.md): relu'(0) = 0, |x|'(0) = 0, hardtanh'(±1) = 0 and
ties of maximum/minimum go to the first argument; they are spelled out as
``Piecewise`` formulas whose pieces differentiate to exactly that.
"""
import functools
import inspect
import numbers

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p

from .graph import Expr
from .ops import Constant, Elemwise
from .types import as_dtype, broadcast_shapes, is_float, result_dtype

_PARAMS = [sympy.Symbol(f"t{i}", real=True) for i in range(64)]

# SymPy's own functions a formula may use: the ones every backend prints. Checked
# by class identity, never by name: a Function subclass or an undefined Function
# called "exp" would print itself into the generated code.
SUPPORTED_FUNCTIONS = frozenset({
    sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.asin, sympy.acos, sympy.atan,
    sympy.sinh, sympy.cosh, sympy.tanh, sympy.asinh, sympy.acosh, sympy.atanh, sympy.Abs,
    sympy.sign, sympy.Piecewise, sympy.Heaviside, sympy.Max, sympy.Min, sympy.floor,
    sympy.ceiling, sympy.erf, sympy.erfc, log1p, expm1, sympy.atan2,
})
# the other SymPy classes a formula is made of: arithmetic, choices, conditions
_STRUCTURE = frozenset({
    sympy.Add, sympy.Mul, sympy.Pow, sympy.core.containers.Tuple, sympy.functions.elementary.
    piecewise.ExprCondPair, sympy.Eq, sympy.Ne, sympy.Lt, sympy.Le, sympy.Gt, sympy.Ge,
    sympy.And, sympy.Or, sympy.Not, sympy.Xor,
})
_ATOMS = (sympy.Number, sympy.NumberSymbol, sympy.logic.boolalg.BooleanAtom)
_FLOAT64_MAX = sympy.Float(np.finfo(np.float64).max)


def params(n):
    """The canonical formula parameters t0 ... t(n-1) (real symbols)."""
    if n > len(_PARAMS):
        _PARAMS.extend(sympy.Symbol(f"t{i}", real=True) for i in range(len(_PARAMS), n))
    return tuple(_PARAMS[:n])


def _unsupported(node, ps):
    """Why ``node`` (one node of a formula) cannot be compiled, or None."""
    kind = type(node)
    if isinstance(node, sympy.Symbol):
        return None if node in ps else f"the symbol {node} (symbols that are not its arguments cannot be compiled)"
    if kind in SUPPORTED_FUNCTIONS or kind in _STRUCTURE:
        return None
    if node is sympy.zoo:
        return "zoo (complex infinity, e.g. from a division by zero)"
    if isinstance(node, _ATOMS) and (kind.__module__ or "").startswith("sympy."):
        if node.is_finite and abs(node) > _FLOAT64_MAX:
            return f"the constant {node}, which is beyond float64's range"
        return None
    if isinstance(node, sympy.core.function.Application):
        supported = sorted(f.__name__ for f in SUPPORTED_FUNCTIONS)
        if kind.__name__ in supported:
            return (f"a function called {kind.__name__!r} that is not SymPy's own {kind.__name__} "
                    "(a subclass or an undefined Function)")
        return f"the SymPy function {kind.__name__!r}; supported: {', '.join(supported)}"
    return f"{kind.__name__} ({node})"


def check_formula(body, ps, name):
    """Raise ValueError naming anything in ``body`` that symgrad cannot compile.

    A formula may use its parameters ``ps``, finite float64 numbers, SymPy's
    arithmetic, comparisons and choices, and the SymPy functions in
    ``SUPPORTED_FUNCTIONS`` (SymPy's own classes, by identity).

    >>> t = sympy.Symbol("t0", real=True)
    >>> check_formula(sympy.Function("exp")(t), (t,), "f")
    Traceback (most recent call last):
    ...
    ValueError: elementwise op 'f' uses a function called 'exp' that is not SymPy's own exp (a subclass or an undefined Function); symgrad cannot compile it
    """
    for node in sympy.preorder_traversal(body):
        problem = _unsupported(node, ps)
        if problem is not None:
            if isinstance(node, sympy.Symbol):
                problem += "; make it an argument of the function"
            raise ValueError(f"elementwise op {name!r} uses {problem}; symgrad cannot compile it")


def _int_closed(body, ps):
    """True when integer arguments give an integer result (polynomials with
    integer coefficients, and Piecewise choices among them)."""
    if isinstance(body, sympy.Piecewise):
        return all(_int_closed(piece, ps) for piece, _ in body.args)
    if not body.free_symbols:
        return body.is_Integer
    if not body.is_polynomial(*ps):
        return False
    return all(c.is_Integer for c in sympy.Poly(body, *ps).coeffs())


def _as_number(value):
    if isinstance(value, bool):
        return sympy.Integer(int(value))
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    return sympy.Float(float(value), 17)


def apply(formula, args, name, dtype=None):
    """The node computing ``formula`` elementwise over ``args`` (Exprs, numbers, arrays).

    Python numbers become part of the formula (so ``x * 0.5`` keeps x's dtype,
    as NumPy's weak scalars do); repeated arguments are merged; the result is
    hash-consed, and graph rewrites (rewrites.GRAPH_RULES) may replace it.
    """
    from .constructors import constant
    from .rewrites import rewrite_graph
    body, nodes, ps = formula.expr, [], formula.variables
    subs = {}
    for p, a in zip(ps, args):
        if isinstance(a, Expr):
            nodes.append((p, a))
        elif isinstance(a, numbers.Number) and not isinstance(a, complex):
            subs[p] = _as_number(a)
        elif isinstance(a, (np.ndarray, list, tuple, np.generic)):
            nodes.append((p, constant(a)))
        else:
            raise TypeError(f"{name}: cannot use {type(a).__name__} {a!r} as an argument; "
                            "pass a symgrad expression, a number or a NumPy array")
    # merge repeated arguments and renumber the parameters t0, t1, ... in use order
    unique = list(dict.fromkeys(a for _, a in nodes))
    new_ps = params(len(unique))
    subs.update({p: new_ps[unique.index(a)] for p, a in nodes})
    body = body.xreplace(subs)
    in_dtypes = [a.dtype for a in unique]
    if body.has(sympy.zoo) and not formula.expr.has(sympy.zoo):
        # folding a number made a pole (x / 0.0): SymPy's zoo has no sign, so the
        # numbers become constants and the division happens at run time, as in NumPy
        floats = [d for d in in_dtypes if is_float(d)]
        as_constant = functools.partial(constant, dtype=result_dtype(floats) if floats else None)
        return apply(formula, [as_constant(a) if isinstance(a, numbers.Number) else a
                               for a in args], name, dtype)
    if dtype is None:
        floats = [d for d in in_dtypes if is_float(d)]
        if floats:
            dtype = result_dtype(floats)
        elif _int_closed(body, new_ps):
            dtype = result_dtype(in_dtypes)
        else:
            dtype = "float64"
    # integral floats as integers, so 1.0 - x and 1 - x are one formula (dtype is decided)
    body = body.xreplace({f: sympy.Integer(int(f)) for f in body.atoms(sympy.Float)
                          if float(f).is_integer()})
    shape = broadcast_shapes([a.shape for a in unique], [a.name for a in unique])
    # arguments the formula does not use only contribute their shape
    used = [a for a, p in zip(unique, new_ps) if p in body.free_symbols]
    if len(used) < len(unique):
        body = body.xreplace({p: q for p, q in zip(
            [p for p in new_ps if p in body.free_symbols], params(len(used)))})
    if not used:  # numbers only, or arguments that only set the shape
        value = complex(body)
        if value.imag:
            raise ValueError(f"{name} of these numbers is not real: {body}")
        out = constant(value.real, dtype=dtype)
    elif body == new_ps[0] and len(used) == 1 and used[0].dtype == dtype:
        out = used[0]
    else:
        used_shape = broadcast_shapes([a.shape for a in used], [a.name for a in used])
        formula = sympy.Lambda(params(len(used)), body)
        out = rewrite_graph(Expr(Elemwise(formula, name, as_dtype(dtype)), tuple(used), dtype,
                                 used_shape))
    if out.shape != shape:
        from .tensor_ops import broadcast_to
        out = broadcast_to(out, shape)
    return out


class ElementwiseFunction:
    """An elementwise op made from a SymPy formula; call it on expressions.

    Made by :func:`elementwise`. ``.formula`` is the ``sympy.Lambda``.
    """

    def __init__(self, formula, name):
        self.formula = formula
        self.name = name
        self.arity = len(formula.variables)

    def __call__(self, *args):
        if len(args) != self.arity:
            raise TypeError(f"{self.name} takes {self.arity} argument(s), got {len(args)}")
        return apply(self.formula, args, self.name)

    def __repr__(self):
        return f"<elementwise {self.name}: {self.formula}>"


def elementwise(fn, name=None):
    """Make an elementwise op from a scalar SymPy formula; its gradient is derived.

    ``fn`` takes one SymPy symbol per argument and returns a SymPy expression.
    The op broadcasts like NumPy, accepts expressions, numbers and arrays, and
    is differentiated by ``sympy.diff`` and compiled like any built-in op.

    >>> import sympy, symgrad as sg
    >>> swish = sg.elementwise(lambda t, beta: t / (1 + sympy.exp(-beta * t)), name="swish")
    >>> z = sg.vector("z", 2)
    >>> g = sg.grad(swish(z, 1.0).sum(), z)
    >>> g.eval({z: [0.0, 1.0]}).round(4)
    array([0.5   , 0.9277])
    """
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        raise TypeError(f"elementwise needs a function of scalar symbols, got {fn!r}") from None
    name = name or getattr(fn, "__name__", "elementwise")
    if name == "<lambda>":
        name = "elementwise"
    ps = params(n)
    body = sympy.sympify(fn(*ps))
    if not isinstance(body, sympy.Expr) or body.has(sympy.I):
        raise TypeError(f"elementwise op {name!r}: the formula must be a real SymPy "
                        f"expression, got {body!r}")
    check_formula(body, ps, name)
    return ElementwiseFunction(sympy.Lambda(ps, body), name)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (identity when it already has it).

    >>> import symgrad as sg
    >>> sg.cast(sg.vector("i", 3, dtype="int64"), "float32").dtype
    'float32'
    """
    dtype = as_dtype(dtype)
    t = params(1)[0]
    return apply(sympy.Lambda((t,), t), [x], f"cast_{dtype}", dtype=dtype)
