"""Elementwise ops: ``Elemwise`` applies a SymPy ``Lambda`` with NumPy
broadcasting. Every built-in elementwise op and every user formula is one;
the gradient for argument k is the Elemwise ``g * diff(f, t_k)`` of
``derivatives.py`` (SymPy's ``diff`` is the only source of elementwise
derivatives), summed over broadcast axes. Lowering fuses chains of them
into one loop; NumPy evaluates the formula through ``sympy.lambdify``.
Formulas get the stability rewrites (``rewrites.stabilise``) in the optimize
stage (``optimize.py``), so both backends evaluate the same formulas.
"""
import functools
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.special
import sympy
from sympy import MatrixExpr, OneMatrix
from sympy.printing.numpy import NumPyPrinter

from symgrad_codegen.printer import nan_watched

from ..derivatives import elemwise_vjp
from ..formulas import params
from ..graph import Expr
from ..rewrites import stabilise
from ..sympy_algebra import (broadcast_form, broadcast_index, display_formula,
                             elementwise_matrix, mat_mul, matrix_shape, tidy, uniform_value)
from ..types import as_dtype, broadcast_shapes, is_float, result_dtype
from .base import Primitive
from .contraction import broadcast_to_shape, sum_to
from .leaves import constant, is_weak, weak_constant, weak_to, weak_value


@dataclass(frozen=True)
class Elemwise(Primitive):
    formula: sympy.Lambda
    fname: str
    dtype: str
    derivative_of: str = ""  # the op this one is the derivative of (made by vjp)
    fusion = "pointwise"

    @property
    def is_derivative(self):
        return bool(self.derivative_of)

    @property
    def label(self):
        return self.fname

    def text(self):
        ps = self.formula.variables
        args = ps[0] if len(ps) == 1 else "(" + ", ".join(map(str, ps)) + ")"
        return f"{self.fname}: {args} ↦ {display_formula(self.formula)}"

    def graph_text(self):
        return self.fname

    def used_inputs(self, node):
        used = display_formula(self.formula).free_symbols
        return [x for p, x in zip(self.formula.variables, node.inputs) if p in used]

    def type(self, inputs):
        return self.dtype, broadcast_shapes([x.shape for x in inputs], [x.name for x in inputs])

    def vjp(self, node, k, g):
        formula, uses_output = elemwise_vjp(self.formula, k, self.fname)
        if formula is None:
            return None
        args = [g, node] if uses_output else [g, *node.inputs]
        return sum_to(apply(formula, args, f"d{self.fname}", derivative_of=self.fname),
                      node.inputs[k].shape)

    def local_derivative(self, node, k, symbols, names, taken):
        """∂y/∂t_k for local_gradient: the formula ``vjp`` multiplies the
        upstream gradient by, in the symbols of the inputs (or of y)."""
        formula, uses_output = elemwise_vjp(self.formula, k, self.fname)
        if formula is None:
            return sympy.Integer(0), None
        g, *rest = formula.variables
        args = [node] if uses_output else node.inputs
        return tidy(formula.expr.xreplace(
            {g: sympy.S.One, **{p: symbols[a] for p, a in zip(rest, args)}})), None

    def evaluate(self, node, args, bindings):
        args = np.broadcast_arrays(*args)
        with np.errstate(all="ignore"):
            out = _numpy_function(self.formula)(*args)
        return np.broadcast_to(out, args[0].shape).astype(node.dtype, copy=False)

    def lower(self, node, low, loop):
        formula = self.formula
        used = [p in formula.expr.free_symbols for p in formula.variables]
        args = [low.read(loop, x) if u else "" for x, u in zip(node.inputs, used)]
        loop.scalars[node] = low.compute(loop, formula, args, node.dtype,
                                         [x.dtype for x, u in zip(node.inputs, used) if u])

    def index_form(self, node, reader, idx):
        args = {p: reader.at(x, broadcast_index(idx, x.shape, node.shape))
                for p, x in zip(self.formula.variables, node.inputs)}
        return display_formula(self.formula).xreplace(args)

    def matrix_form(self, node, forms):
        args = {p: broadcast_form(uniform_value(forms[x]), x.shape, node.shape)
                for p, x in zip(self.formula.variables, node.inputs)}
        form = elementwise_matrix(display_formula(self.formula), args)
        if isinstance(form, MatrixExpr) or not node.shape:
            return form
        return mat_mul(form, OneMatrix(*matrix_shape(node.shape)))


@functools.lru_cache(maxsize=8192)
def stabilised(formula):
    """``formula`` with the stability rewrites applied (the optimize stage's last step)."""
    return sympy.Lambda(formula.variables, stabilise(formula.expr))


@functools.lru_cache(maxsize=4096)
def _numpy_function(formula):
    printer = _NumPyPrinter({"fully_qualified_modules": False, "inline": True,
                             "allow_unknown_functions": True,
                             "user_functions": {name: name for name in _UFUNCS}})
    return sympy.lambdify(formula.variables, formula.expr, modules=[_UFUNCS, "numpy"],
                          printer=printer)


class _NumPyPrinter(NumPyPrinter):
    """NumPy's printer, with a nan reaching the result of a choice whose
    comparisons it made false (codegen.printer.nan_watched)."""

    def _print_Piecewise(self, e):
        watched = nan_watched(e)
        if not watched:
            return super()._print_Piecewise(e)
        unordered = " | ".join(f"numpy.isnan({self._print(w)})" for w in watched)
        conds = [self._print(c) for _, c in e.args[:-1]] + [f"~({unordered})"]
        values = ", ".join(self._print(v) for v, _ in e.args)
        return f"numpy.select([{', '.join(conds)}], [{values}], default=numpy.nan)"


_UFUNCS = {"log1p": np.log1p, "expm1": np.expm1, "erf": scipy.special.erf,
           "erfc": scipy.special.erfc, "numpy": np, "functools": functools,
           "rint": np.rint, "cbrt": np.cbrt, "mod": np.mod, "erfinv": scipy.special.erfinv}


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


def apply(formula, args, name, dtype=None, derivative_of=""):
    """The node computing ``formula`` elementwise over ``args`` (Exprs, numbers, arrays).

    Python numbers become part of the formula (so ``x * 0.5`` keeps x's dtype,
    as NumPy's weak scalars do), and so do weak constants that repeat one
    number (``sg.zeros(n)``, ``sg.constant(0.5)``); other weak arguments take
    the dtype the strong ones decide (``leaves.is_weak``). Repeated arguments
    are merged; the result is equal by structure to any node built the same way.
    ``derivative_of`` names the op whose derivative this is (set by ``vjp``).
    """
    body, nodes, ps = formula.expr, [], formula.variables
    subs, folded = {}, {}  # folded: weak constant arguments now numbers of the formula
    for p, a in zip(ps, args):
        if isinstance(a, Expr):
            number = weak_value(a)
            if number is None:
                nodes.append((p, a))
            else:
                subs[p] = _as_number(number)
                folded[p] = a
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
    strong = [a.dtype for a in unique if not is_weak(a)]  # they decide the dtype (NumPy 2)
    floats = [d for d in strong if is_float(d)] or [d for d in in_dtypes if is_float(d)]
    if body.has(sympy.zoo) and not formula.expr.has(sympy.zoo):
        # folding a number made a pole (x / 0.0): SymPy's zoo has no sign, so the
        # numbers become constants and the division happens at run time, as in NumPy
        def as_constant(v):  # strong, so it is not folded again
            return constant(np.asarray(v), dtype=result_dtype(floats) if floats else None)
        return apply(formula, [as_constant(a) if isinstance(a, numbers.Number) else
                               broadcast_to_shape(as_constant(weak_value(a)), a.shape)
                               if p in folded else a
                               for p, a in zip(ps, args)], name, dtype, derivative_of)
    explicit = dtype is not None
    if dtype is None:
        if floats:
            dtype = result_dtype(floats)
        elif _int_closed(body, new_ps):
            dtype = result_dtype(strong or in_dtypes)
        else:
            dtype = "float64"
    if not explicit:
        unique = [weak_to(a, dtype) for a in unique]
    weak = not explicit and not any(is_float(d) == is_float(dtype) for d in strong)
    # integral floats as integers, so 1.0 - x and 1 - x are one formula (dtype is decided)
    body = body.xreplace({f: sympy.Integer(int(f)) for f in body.atoms(sympy.Float)
                          if float(f).is_integer()})
    shaping = unique + list(folded.values())
    shape = broadcast_shapes([a.shape for a in shaping], [a.name for a in shaping])
    # arguments the formula does not use only contribute their shape
    used = [a for a, p in zip(unique, new_ps) if p in body.free_symbols]
    if len(used) < len(unique):
        body = body.xreplace({p: q for p, q in zip(
            [p for p in new_ps if p in body.free_symbols], params(len(used)))})
    if not used:  # numbers only, or arguments that only set the shape
        value = complex(body)
        if value.imag:
            raise ValueError(f"{name} of these numbers is not real: {body}")
        out = weak_constant(value.real, dtype) if weak else constant(value.real, dtype=dtype)
    elif body == new_ps[0] and len(used) == 1 and used[0].dtype == dtype:
        out = used[0]
    else:
        formula = sympy.Lambda(params(len(used)), body)
        out = Elemwise(formula, name, as_dtype(dtype), derivative_of)(*used)
    if out.shape != shape:
        out = broadcast_to_shape(out, shape)
    return out



def cast(x, dtype):
    """``x`` converted to ``dtype`` (identity when it already has it).

    >>> import symgrad as sg
    >>> sg.cast(sg.vector("i", 3, dtype="int64"), "float32").dtype
    'float32'
    """
    dtype = as_dtype(dtype)
    t = params(1)[0]
    return apply(sympy.Lambda((t,), t), [x], f"cast_{dtype}", dtype=dtype)
