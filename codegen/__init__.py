"""codegen: a small compiler from kernel programs to Numba-compiled Python.

A kernel program is a list of loops whose scalar bodies are SymPy
expressions, reductions, BLAS contractions, gathers and scatter-adds. This
package never imports symgrad; symgrad lowers its graphs into it. The
compiler lands with the Numba backend (issue 3); until then symgrad's
``backend="numpy"`` reference interpreter evaluates graphs.
"""
