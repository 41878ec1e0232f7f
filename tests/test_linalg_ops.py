"""Linear-algebra forms (symgrad/linalg_ops.py and einsum's repeated indices):
values against NumPy, gradients and Hessian-vector products against finite
differences (tests/op_checks.py), named dimensions, and build-time errors.

Two compiled functions: the table of fixed shapes and the table with a named
dimension ``n`` (one size, 3, for every case in it).
"""
import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases

rng = np.random.default_rng(14)


def r(*shape):
    return rng.standard_normal(shape)


def ints(*shape):
    return rng.integers(-5, 6, shape).astype(np.int64)


# ---------------------------------------------------------------- independent references

def ref_diagonal(a, offset=0, axis1=0, axis2=1):
    """Loops over the diagonal of the blocks moved to the last two axes."""
    x = np.moveaxis(a, (axis1, axis2), (-2, -1))
    n, m = x.shape[-2:]
    picked = [x[..., i, i + offset] for i in range(n) if 0 <= i + offset < m]
    if not picked:
        return np.zeros(x.shape[:-2] + (0,), dtype=a.dtype)
    return np.stack(picked, axis=-1)


def ref_trace(a, offset=0, axis1=0, axis2=1):
    return ref_diagonal(a, offset, axis1, axis2).sum(axis=-1)


def ref_diag_matrix(v, k=0):
    n = len(v) + abs(k)
    out = np.zeros((n, n), dtype=v.dtype)
    for i, x in enumerate(v):
        out[i + max(0, -k), i + max(0, k)] = x
    return out


def ref_triangle(m, keep):
    rows, cols = m.shape[-2:] if m.ndim >= 2 else m.shape * 2
    mask = np.array([[keep(i, j) for j in range(cols)] for i in range(rows)])
    return np.where(mask, m, np.zeros((), m.dtype))


def ref_triu(m, k=0):
    return ref_triangle(m, lambda i, j: j - i >= k)


def ref_tril(m, k=0):
    return ref_triangle(m, lambda i, j: j - i <= k)


def ref_cross(a, b, axisa=-1, axisb=-1, axisc=-1):
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    a0, a1, a2 = (a[..., k] for k in range(3))
    b0, b1, b2 = (b[..., k] for k in range(3))
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


def ref_kron(a, b):
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + a.shape)
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    out = np.zeros(tuple(p * q for p, q in zip(a.shape, b.shape)))
    for i in np.ndindex(*a.shape):
        block = tuple(slice(p * q, (p + 1) * q) for p, q in zip(i, b.shape))
        out[block] = a[i] * b
    return out


# ---------------------------------------------------------------- fixed shapes
# One compiled function per table: a Numba compile grows faster than the number of
# cases in it (the 37 cases below: 68 s as one function, 40 s as four).

DIAGONALS = [
    Case("diagonal-offset-wide", lambda a: sg.diagonal(a, 1), [r(3, 5)],
         lambda a: ref_diagonal(a, 1)),
    Case("diagonal-axes-3d", lambda a: sg.diagonal(a, 1, axis1=2, axis2=0), [r(3, 2, 4)],
         lambda a: ref_diagonal(a, 1, 2, 0)),
    Case("diagonal-empty", lambda a: sg.diagonal(a, 4), [r(2, 3)], lambda a: ref_diagonal(a, 4)),
    Case("diagonal-int", sg.diagonal, [ints(3, 3)], ref_diagonal, wrt=()),
    Case("trace-offset", lambda a: sg.trace(a, -1), [r(3, 5)], lambda a: ref_trace(a, -1)),
    Case("trace-batched", lambda a: sg.trace(a, axis1=1, axis2=2), [r(2, 3, 3)],
         lambda a: ref_trace(a, 0, 1, 2)),
    Case("trace-int", sg.trace, [ints(3, 3)], ref_trace, wrt=()),
    Case("diag-vector-k2", lambda v: sg.diag(v, 2), [r(3)], lambda v: ref_diag_matrix(v, 2)),
    Case("diag-vector-k-1", lambda v: sg.diag(v, k=-1), [r(4)], lambda v: ref_diag_matrix(v, -1)),
    Case("diag-int-vector", sg.diag, [ints(3)], ref_diag_matrix, wrt=()),
    Case("diag-matrix-k1", lambda m: sg.diag(m, 1), [r(3, 4)], lambda m: ref_diagonal(m, 1)),
    # triangles
    Case("triu-k1-wide", lambda m: sg.triu(m, 1), [r(3, 5)], lambda m: ref_triu(m, 1)),
    Case("triu-batched", sg.triu, [r(2, 3, 4)], ref_triu),
    Case("triu-1d", lambda m: sg.triu(m, 1), [r(4)], lambda m: ref_triu(m, 1)),
    Case("triu-int", sg.triu, [ints(3, 3)], ref_triu, wrt=()),
    Case("tril-k-2-batched", lambda m: sg.tril(m, -2), [r(2, 4, 3)], lambda m: ref_tril(m, -2)),
]

EINSUM = [  # an index repeated within one operand
    Case("einsum-ii->", lambda a: sg.einsum("ii->", a), [r(4, 4)], lambda a: np.trace(a)),
    Case("einsum-iij->j", lambda a: sg.einsum("iij->j", a), [r(3, 3, 2)],
         lambda a: sum(a[i, i] for i in range(3))),
    Case("einsum-ij,jj->i", lambda a, b: sg.einsum("ij,jj->i", a, b), [r(2, 3), r(3, 3)],
         lambda a, b: a @ ref_diagonal(b)),
    Case("einsum-ijij->ji", lambda a: sg.einsum("ijij->ji", a), [r(2, 3, 2, 3)],
         lambda a: np.array([[a[i, j, i, j] for i in range(2)] for j in range(3)])),
    Case("einsum-iii->i", lambda a: sg.einsum("iii->i", a), [r(3, 3, 3)],
         lambda a: np.array([a[i, i, i] for i in range(3)])),
    Case("einsum-ellipsis-ii", lambda a: sg.einsum("...ii->...i", a), [r(2, 3, 3)],
         lambda a: ref_diagonal(a, 0, 1, 2)),
    Case("einsum-ii,jj->", lambda a, b: sg.einsum("ii,jj->", a, b), [r(3, 3), r(2, 2)],
         lambda a, b: np.trace(a) * np.trace(b)),
]

PRODUCTS = [
    Case("tensordot-2", sg.tensordot, [r(2, 3, 4), r(3, 4, 5)],
         lambda a, b: np.einsum("ijk,jkl->il", a, b)),
    Case("tensordot-0", lambda a, b: sg.tensordot(a, b, axes=0), [r(2), r(3, 2)],
         lambda a, b: a[:, None, None] * b[None]),
    Case("tensordot-pairs", lambda a, b: sg.tensordot(a, b, axes=([1, 0], [0, 2])),
         [r(3, 2, 4), r(2, 5, 3)], lambda a, b: np.einsum("ijk,jli->kl", a, b)),
    Case("tensordot-negative-int-axes", lambda a, b: sg.tensordot(a, b, axes=(-1, 0)),
         [r(2, 3), r(3, 4)], lambda a, b: a @ b),
    # outer, inner, kron
    Case("outer-flattens", sg.outer, [r(2, 2), r(3)],
         lambda a, b: a.reshape(-1)[:, None] * b[None, :]),
    Case("outer-scalar", sg.outer, [r(), r(2)], lambda a, b: a * b[None, :]),
    Case("inner-3d-2d", sg.inner, [r(2, 2, 3), r(4, 3)],
         lambda a, b: np.einsum("ijk,lk->ijl", a, b)),
    Case("inner-scalar", sg.inner, [r(), r(2, 3)], lambda a, b: a * b),
    Case("kron-vector-matrix", sg.kron, [r(2), r(3, 2)], ref_kron),
    Case("kron-3d-2d", sg.kron, [r(2, 1, 2), r(2, 3)], ref_kron),
    Case("trace-of-kron", lambda a, b: sg.trace(sg.kron(a, b)), [r(2, 2), r(3, 3)],
         lambda a, b: np.trace(a) * np.trace(b)),
]

CROSS = [
    Case("cross-broadcast-leading", sg.cross, [r(2, 1, 3), r(4, 3)], ref_cross),
    Case("cross-axisa-axisb", lambda a, b: sg.cross(a, b, axisa=0, axisb=1),
         [r(3, 4), r(4, 3)], lambda a, b: ref_cross(a, b, 0, 1)),
    Case("cross-axis", lambda a, b: sg.cross(a, b, axis=0), [r(3, 2), r(3, 2)],
         lambda a, b: ref_cross(a, b, 0, 0, 0)),
]

# named dimension n (size 3 in every case: one function binds it once)
NAMED = [
    Case("named-diagonal-batched", lambda a: sg.diagonal(a, axis1=0, axis2=2), [r(3, 2, 3)],
         lambda a: ref_diagonal(a, 0, 0, 2), dims={0: ("n", 2, "n")}),
    Case("named-trace", sg.trace, [r(3, 3)], ref_trace, dims={0: ("n", "n")}),
    Case("named-diag-vector-k1", lambda v: sg.diag(v, 1), [r(3)], lambda v: ref_diag_matrix(v, 1),
         dims={0: ("n",)}),
    Case("named-diag-vector-k-2", lambda v: sg.diag(v, -2), [r(3)],
         lambda v: ref_diag_matrix(v, -2), dims={0: ("n",)}),
    Case("named-triu", sg.triu, [r(3, 3)], ref_triu, dims={0: ("n", "n")}),
    Case("named-tril-k-1-wide", lambda m: sg.tril(m, -1), [r(3, 4)], lambda m: ref_tril(m, -1),
         dims={0: ("n", 4)}),
    Case("named-einsum-ij,jj->i", lambda a, b: sg.einsum("ij,jj->i", a, b), [r(2, 3), r(3, 3)],
         lambda a, b: a @ ref_diagonal(b), dims={0: (2, "n"), 1: ("n", "n")}),
    Case("named-tensordot", lambda a, b: sg.tensordot(a, b, axes=([0], [1])), [r(3, 2), r(4, 3)],
         lambda a, b: a.T @ b.T, dims={0: ("n", 2), 1: (4, "n")}),
    Case("named-inner", sg.inner, [r(2, 3), r(3)], lambda a, b: a @ b,
         dims={0: (2, "n"), 1: ("n",)}),
    Case("named-kron", sg.kron, [r(3, 2), r(2, 2)], ref_kron, dims={0: ("n", 2)}),
    Case("named-cross", sg.cross, [r(3, 3), r(3)], ref_cross, dims={0: ("n", 3)}),
]


@pytest.mark.parametrize("table", ["DIAGONALS", "EINSUM", "PRODUCTS", "CROSS"])
def test_linalg_cases(table):
    check_cases(globals()[table], backend="numpy")


def test_linalg_named_cases():
    check_cases(NAMED, backend="numpy")


# ---------------------------------------------------------------- shapes, dtypes, a gradient

def test_named_shapes():
    A = sg.matrix("A", "n", "n")
    assert sg.diagonal(A).shape == A.shape[:1] and sg.einsum("ii->", A).shape == ()
    assert str(sg.trace(sg.tensor("T", ("n", 2, "n")), axis1=0, axis2=-1).shape) == "(2,)"
    assert str(sg.diag(sg.vector("v", "n"), 2).shape) == "(n + 2, n + 2)"
    assert str(sg.kron(sg.vector("a", "n"), sg.vector("b", 3)).shape) == "(3*n,)"


def test_trace_gradient_is_identity():
    A = sg.matrix("A", "n", "n")
    g = sg.grad(sg.trace(A), A).eval({A: np.arange(16.0).reshape(4, 4)})
    np.testing.assert_array_equal(g, np.eye(4))


def test_triangle_keeps_dtype():
    M = sg.matrix("M", 3, 3, dtype="int32")
    assert sg.triu(M).dtype == "int32" and sg.tril(M).dtype == "int32"
    assert sg.diag(sg.vector("v", 3, dtype="int32")).dtype == "int32"


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("build, error, match", [
    (lambda: sg.diagonal(sg.vector("v", 3)), sg.ShapeError,
     r"at least 2 dimensions.*'v'.*sg\.diag"),
    (lambda: sg.diagonal(sg.matrix("A", 2, 3), axis1=1, axis2=-1), ValueError,
     r"'A'.*axis1 and axis2 are both axis 1"),
    (lambda: sg.diagonal(sg.matrix("A", 2, 3), axis1=2), sg.ShapeError, r"axis 2 is out of range"),
    (lambda: sg.diagonal(sg.matrix("A", "n", "n"), 1), sg.ShapeError,
     r"diagonal 1 of 'A'.*\(n, n\).*offset 0"),
    (lambda: sg.trace(sg.matrix("A", "n", "m")), sg.ShapeError, r"'A'.*sizes n and m.*square"),
    (lambda: sg.trace(sg.matrix("A", "n", 3)), sg.ShapeError, r"'A'.*sizes n and 3"),
    (lambda: sg.diag(sg.tensor("t", (2, 2, 2))), sg.ShapeError, r"1-d or 2-d.*'t'.*sg\.diagonal"),
    (lambda: sg.diag(sg.scalar("s")), sg.ShapeError, r"1-d or 2-d.*'s'"),
    (lambda: sg.triu(sg.scalar("s")), sg.ShapeError, r"triu needs at least 1 dimension.*'s'"),
    (lambda: sg.tril(sg.scalar("s")), sg.ShapeError, r"tril needs at least 1 dimension.*'s'"),
    (lambda: sg.einsum("ii->", sg.matrix("A", 2, 3)), sg.ShapeError,
     r"index 'i' is 2 in 'A'.*but 3"),
    (lambda: sg.einsum("ii->i", sg.matrix("A", "n", "m")), sg.ShapeError, r"index 'i' is n in 'A'"),
    (lambda: sg.einsum("ii->ii", sg.matrix("A", 2, 2)), ValueError, r"distinct input indices"),
    (lambda: sg.tensordot(sg.matrix("a", 2, 3), sg.matrix("b", 2, 3), 1), sg.ShapeError,
     r"axis 1 of 'a'.*size 3.*axis 0 of 'b'.*size 2"),
    (lambda: sg.tensordot(sg.matrix("a", 2, 3), sg.vector("b", 3), 2), sg.ShapeError,
     r"axes=2 must be in \[0, 1\]"),
    (lambda: sg.tensordot(sg.matrix("a", 2, 3), sg.matrix("b", 3, 2), ([0, 1], [1])), ValueError,
     r"2 axes of a.*1 of b"),
    (lambda: sg.tensordot(sg.matrix("a", 2, 2), sg.matrix("b", 2, 2), ([0, 0], [0, 1])), ValueError,
     r"repeated axis"),
    (lambda: sg.tensordot(sg.matrix("a", 2, 2), sg.matrix("b", 2, 2), ([0], [1], [0])), ValueError,
     r"an int or a pair"),
    (lambda: sg.inner(sg.vector("a", 2), sg.vector("b", 3)), sg.ShapeError,
     r"last axes differ, 2 in 'a'.*3 in 'b'"),
    (lambda: sg.cross(sg.vector("a", 2), sg.vector("b", 3)), sg.ShapeError,
     r"axis 0 \(axisa\) of 'a'.*size 2.*3-vectors"),
    (lambda: sg.cross(sg.matrix("a", 3, 4), sg.matrix("b", 4, 3)), sg.ShapeError,
     r"axis 1 \(axisa\) of 'a'.*size 4"),
    (lambda: sg.cross(sg.vector("a", 3), sg.scalar("b")), sg.ShapeError, r"0-d 'b'"),
    (lambda: sg.cross(sg.vector("a", 3), sg.vector("b", 3), axisc=1), sg.ShapeError,
     r"axis 1 is out of range for axisc of the cross product of 'a'.*'b'"),
    (lambda: sg.cross(sg.matrix("a", 2, 3), sg.matrix("b", 4, 3)), sg.ShapeError,
     r"cross of 'a'.*'b'.*\(2,\) and \(4,\)\) do not broadcast"),
])
def test_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()
