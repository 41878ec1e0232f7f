"""Linear-algebra forms of NumPy's surface, as compositions: diagonals, traces, triangles, tensordot, outer, kron, inner, cross."""

__all__ = []
