"""SymPy formulas as Numba-friendly Python: vectorisable math calls and scalar
conditionals.

exp, expm1, log, log1p, sin, cos and tanh print as codegen.vmath's
branch-free versions in float code (``vector_math=False``: libm's ``math.*``);
erfinv, which libm lacks, always prints as codegen.vmath's (scalar) verfinv.

``NumbaPrinter`` overrides the few ``_print_<Class>`` methods where stock
``PythonCodePrinter`` output is wrong or slow under ``@njit``: Piecewise,
Heaviside, Max, Min and sign become ``select`` calls (branch-free) or, for
choices between expensive pieces, conditional expressions (only the taken
piece is evaluated; in float code a nan that a choice's comparisons read
reaches its result, see ``nan_watched``), literals carry the loop's dtype so
float32 stays float32, and small integer powers become products.

``formula_lines`` prints one formula with its common subexpressions as a
template (cached per formula), which ``instantiate`` fills in with the
names of a particular use; SymPy work is thus paid once per distinct formula,
not once per node, keeping compile time linear in graph size.
"""
import functools
import math
import re

import sympy
from sympy.codegen.cfunctions import isnan
from sympy.printing.pycode import PythonCodePrinter


class NumbaPrinter(PythonCodePrinter):
    """Print scalar SymPy expressions for ``@njit`` code computing in ``dtype``.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> NumbaPrinter("float64").doprint(sympy.Piecewise((x, x > 0), (0, True)))
    'select((x > 0.0), x, select((x != x), np.nan, 0.0))'
    >>> NumbaPrinter("int64").doprint(sympy.Piecewise((x, x > 0), (0, True)))
    'select((x > 0), x, 0)'
    >>> NumbaPrinter("float32").doprint(2 * x)
    'np.float32(2.0)*x'
    """

    def __init__(self, dtype="float64", vector_math=True):
        super().__init__({"fully_qualified_modules": True})
        self.dtype = dtype
        self.vector_math = vector_math and dtype in ("float64", "float32")
        self.reduced = []  # arguments printed for vsin / vcos (exact only below a limit)

    def _literal(self, value):
        if self.dtype.startswith("int"):
            return str(int(value)) if float(value).is_integer() else repr(float(value))
        text = repr(float(value))
        if not math.isfinite(float(value)):
            text = f"np.{'nan' if math.isnan(float(value)) else 'inf'}"
            text = "-" + text if float(value) < 0 else text
        return text if self.dtype == "float64" else f"np.{self.dtype}({text})"

    def _print_Integer(self, e):
        return self._literal(int(e)) if not self.dtype.startswith("int") else str(int(e))

    def _print_Rational(self, e):
        return self._literal(float(e))

    def _print_Float(self, e):
        return self._literal(float(e))

    def _print_NaN(self, e):
        return self._literal(float("nan"))

    def _print_Infinity(self, e):
        return self._literal(float("inf"))

    def _print_NegativeInfinity(self, e):
        return self._literal(float("-inf"))

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Pow(self, e, rational=False):
        base, exp = e.args
        if exp.is_Integer and 1 <= abs(int(exp)) <= 4:
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"] + 1)
            product = "*".join([b] * abs(int(exp)))
            return f"({product})" if exp > 0 else f"({self._literal(1)}/({product}))"
        if exp == sympy.S.Half:
            return f"math.sqrt({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"({self._literal(1)}/math.sqrt({self._print(base)}))"
        return f"({self._print(base)})**({self._print(exp)})"

    def _print_Piecewise(self, e):
        # Where at most one piece calls a function (the derivative guard
        # Piecewise((0, Eq(g, 0)), (g*d, True)), relu, maximum), evaluate
        # every piece and pick one without branching; else branch, so only
        # the taken piece of an expensive choice is computed.
        costly = sum(1 for value, _ in e.args if self._calls_scalar_function(value))
        text = self._literal(float("nan"))
        for value, cond in reversed(e.args):
            if cond == sympy.true:
                text = self._print(value)
                # every comparison with a nan is false: give nan, not this piece
                # (float formulas only: an integer has no nan, and no name for one)
                watched = nan_watched(e) if self.dtype in ("float64", "float32") else ()
                if watched:
                    unordered = " | ".join(f"({self._print(w)} != {self._print(w)})"
                                           for w in watched)
                    text = f"select({unordered}, {self._literal(float('nan'))}, {text})"
            elif costly <= 1:
                text = f"select({self._print(cond)}, {self._print(value)}, {text})"
            else:
                text = f"({self._print(value)} if {self._print(cond)} else {text})"
        return text

    def _calls_scalar_function(self, e):
        """Whether ``e`` calls a function that is not branch-free vector math."""
        return any(not (self.vector_math and is_vector_math(f))
                   for f in e.atoms(sympy.Function))

    def _print_Relational(self, e):
        return f"({self._print(e.lhs)} {e.rel_op} {self._print(e.rhs)})"

    def _print_And(self, e):
        return "(" + " & ".join(self._print(a) for a in e.args) + ")"

    def _print_Or(self, e):
        return "(" + " | ".join(self._print(a) for a in e.args) + ")"

    def _print_Not(self, e):
        return f"(not {self._print(e.args[0])})"

    def _print_Heaviside(self, e):
        x = self._print(e.args[0])
        at_zero = self._print(e.args[1]) if len(e.args) > 1 else self._literal(0.5)
        return (f"select({x} > 0, {self._literal(1)}, select({x} < 0, {self._literal(0)}, "
                f"select({x} == 0, {at_zero}, {x})))")

    def _extremum(self, e, op):
        # nan wins, as in np.maximum / np.minimum
        text = self._print(e.args[0])
        for arg in e.args[1:]:
            a = self._print(arg)
            text = f"select(({text} {op} {a}) | ({text} != {text}), {text}, {a})"
        return text

    def _print_Max(self, e):
        return self._extremum(e, ">=")

    def _print_Min(self, e):
        return self._extremum(e, "<=")

    def _print_sign(self, e):
        x = self._print(e.args[0])
        return f"select({x} > 0, {self._literal(1)}, select({x} < 0, {self._literal(-1)}, {x}))"

    def _print_Abs(self, e):
        return f"abs({self._print(e.args[0])})"

    def _print_floor(self, e):
        return f"np.floor({self._print(e.args[0])})"

    def _print_ceiling(self, e):
        return f"np.ceil({self._print(e.args[0])})"

    def _print_exp2(self, e):
        # pow is exact for integer exponents, as NumPy's exp2 (e**(x ln 2) is not)
        return f"({self._literal(2)})**({self._print(e.args[0])})"

    def _print_rint(self, e):
        return f"np.rint({self._print(e.args[0])})"

    def _print_cbrt(self, e):
        return f"np.cbrt({self._print(e.args[0])})"

    def _print_mod(self, e):
        # Python's % on numbers is NumPy's mod: the result has the divisor's sign
        x, y = (self.parenthesize(a, sympy.printing.precedence.PRECEDENCE["Mul"] + 1)
                for a in e.args)
        return f"({x} % {y})"

    def _print_isnan(self, e):
        x = self._print(e.args[0])
        return f"({x} != {x})"

    def _print_isfinite(self, e):
        return f"(abs({self._print(e.args[0])}) < np.inf)"

    def _vector_math_call(self, name, e):
        # codegen.vmath's branch-free v<name>, which LLVM vectorises in a loop;
        # it computes in float64, so a float32 result is rounded back
        if e.is_number:  # log(2) in a derivative: a literal, not a call per element
            return self._literal(float(e))
        arg = self._print(e.args[0])
        if not self.vector_math and name not in VMATH_ONLY:
            return f"math.{name}({arg})"
        if name in RANGE_LIMITED:
            self.reduced.append(arg)
        call = f"v{name}({arg})"
        return call if self.dtype == "float64" else f"np.{self.dtype}({call})"


VECTOR_MATH = ("cos", "exp", "expm1", "log", "log1p", "sin", "tanh",  # codegen.vmath.v<name>
               "erfinv")
RANGE_LIMITED = ("cos", "sin")  # exact below codegen.vmath.SIN_COS_LIMIT only
VMATH_ONLY = ("erfinv",)  # no libm equivalent; scalar code with branches, not vectorised
for _name in VECTOR_MATH:
    setattr(NumbaPrinter, f"_print_{_name}",
            lambda self, e, name=_name: self._vector_math_call(name, e))


_PLACEHOLDER = re.compile(r"\b_([AT])(\d+)_\b")


@functools.lru_cache(maxsize=8192)
def nan_watched(piecewise):
    """The values whose nan must reach the result of ``piecewise``'s otherwise-piece:
    those its comparisons read and that piece does not (a nan makes every
    comparison false, so maximum(nan, 1) would be 1; NumPy gives nan), unless
    every piece is a constant (a comparison's 0/1: nan > 1 is false, 0). A value
    whose nan a condition tests itself (``isnan(b)``: NumPy's fmax) is the
    formula's to handle."""
    *pieces, (last, cond) = piecewise.args
    if cond != sympy.true or not pieces or all(v.is_number for v, _ in piecewise.args):
        return []
    read = set().union(*(c.free_symbols for _, c in pieces)) - last.free_symbols
    tested = {a for _, c in pieces for f in c.atoms(isnan) for a in f.args}
    return sorted(read - tested, key=str)


def is_vector_math(call):
    """Whether the SymPy function ``call`` prints as a branch-free codegen.vmath function."""
    name = type(call).__name__
    return name in VECTOR_MATH and name not in VMATH_ONLY


def math_calls(formula):
    """How many distinct codegen.vmath calls printing ``formula`` makes."""
    return sum(1 for f in formula.expr.atoms(sympy.Function) if is_vector_math(f))


def formula_lines(formula, dtype, vector_math=True):
    """``(lines, result, reduced)`` printing ``formula`` (a ``sympy.Lambda``) in
    ``dtype``: ``lines`` assign common subexpressions to ``_T<k>_``, arguments are
    ``_A<k>_``; ``reduced`` are the arguments of vsin / vcos calls, which are
    exact only below ``codegen.vmath.SIN_COS_LIMIT`` in magnitude.

    >>> import sympy
    >>> t = sympy.Symbol("t0", real=True)
    >>> formula_lines(sympy.Lambda((t,), sympy.exp(t) * (1 + sympy.exp(t))), "float64")
    (('_T0_ = vexp(_A0_)',), '_T0_*(_T0_ + 1.0)', ())
    >>> formula_lines(sympy.Lambda((t,), sympy.sin(2 * t)), "float64")
    ((), 'vsin(2.0*_A0_)', ('2.0*_A0_',))
    >>> formula_lines(sympy.Lambda((t,), sympy.sin(t)), "float64", vector_math=False)
    ((), 'math.sin(_A0_)', ())
    """
    holders = [sympy.Symbol(f"_A{k}_", real=True) for k in range(len(formula.variables))]
    body = formula.expr.xreplace(dict(zip(formula.variables, holders)))
    temps = sympy.numbered_symbols("_T", cls=sympy.Symbol, real=True)
    temps = (sympy.Symbol(f"{s.name}_", real=True) for s in temps)
    printer = NumbaPrinter(dtype, vector_math)
    if sympy.count_ops(body) > 400:  # bound the SymPy work per formula
        lines, result = (), printer.doprint(body)
    else:
        replacements, (reduced,) = sympy.cse(body, symbols=temps, optimizations=None)
        lines = tuple(f"{s.name} = {printer.doprint(v)}" for s, v in replacements)
        result = printer.doprint(reduced)
    return lines, result, tuple(dict.fromkeys(printer.reduced))


def instantiate(text, args, prefix):
    """``text`` from :func:`formula_lines` with ``_A<k>_`` -> ``args[k]`` and
    ``_T<k>_`` -> ``<prefix>_<k>``."""
    return _PLACEHOLDER.sub(lambda m: args[int(m.group(2))] if m.group(1) == "A"
                            else f"{prefix}_{m.group(2)}", text)
