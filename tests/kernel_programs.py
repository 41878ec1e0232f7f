"""Small codegen kernel programs shared by the cache tests."""
import sympy

from symgrad_codegen.program import Alloc, Compute, Index, Load, Loop, Program, Store


def scaled_square(k):
    """y = k x**2 elementwise: another ``k``, another kernel source."""
    n, t = sympy.Symbol("n0", integer=True), sympy.Symbol("t0", real=True)
    body = (Load("a", "x", (Index(0),)),
            Compute("b", sympy.Lambda((t,), k * t * t), ("a",), "float64"),
            Store("y", (Index(0),), "b"))
    return Program(("x", "n0"), (Alloc("y", "float64", (n,)), Loop((n,), body)), ("y",))
