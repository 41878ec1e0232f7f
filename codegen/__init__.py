"""codegen: a small compiler from kernel programs to cached Numba functions.

It knows nothing of symgrad (and never imports it): a ``Program`` of loop
nests with SymPy scalar bodies, BLAS products and views goes in
(``codegen.program``), Python source comes out (``codegen.source``, printed by
``codegen.printer.NumbaPrinter``), and ``compile_program`` writes it to a cache
folder and ``numba.njit``s it (``codegen.compiler``).
"""
from .compiler import Compiled, cache_key, compile_program
from .printer import NumbaPrinter
from .program import (Alloc, ArgOneHot, Argsort, ByValue, CheckBounds, Compute, Copy, Index, Load,
                      Loop, MatMul, Program, Reshape, Store, Subarray)
from .source import program_source

__all__ = ["Alloc", "ArgOneHot", "Argsort", "ByValue", "CheckBounds", "Compute", "Copy", "Index",
           "Load", "Loop", "MatMul", "Program", "Reshape", "Store", "Subarray", "Compiled",
           "cache_key", "compile_program", "NumbaPrinter", "program_source"]
