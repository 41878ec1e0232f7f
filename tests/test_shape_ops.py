"""Shape ops (symgrad/shape_ops.py) against NumPy: values, gradients and
Hessian-vector products by finite differences (tests/op_checks.py), with fixed
and named dimensions, and their build-time errors.

Two compiled functions in all: the fixed-size table and the named-dimension table.
"""
import numpy as np
import pytest

import symgrad as sg
from op_checks import Case, check_cases

_rng = np.random.default_rng(7)


def _r(*shape):
    return _rng.standard_normal(shape)


def _weighted(mod, pieces, axis):
    """The pieces joined again, each scaled differently (so a mix-up shows)."""
    return mod.concatenate([p * (k + 1.0) for k, p in enumerate(pieces)], axis)


FIXED = [  # shapes shared where possible: loops of equal shape compile once
    # splitting
    Case("split sections", lambda x: _weighted(sg, sg.split(x, 2, axis=1), 1), [_r(3, 4)],
         lambda x: _weighted(np, np.split(x, 2, axis=1), 1)),
    Case("split indices", lambda x: _weighted(sg, sg.split(x, [1, -1], axis=-1), -1), [_r(3, 4)],
         lambda x: _weighted(np, np.split(x, [1, -1], axis=-1), -1)),
    Case("array_split", lambda x: _weighted(sg, sg.array_split(x, 3, axis=1), 1), [_r(3, 4)],
         lambda x: _weighted(np, np.array_split(x, 3, axis=1), 1)),
    # joining
    Case("vstack", lambda a, b: sg.vstack([a, b]), [_r(4), _r(3, 4)],
         lambda a, b: np.vstack([a, b])),
    Case("hstack 1-d", lambda a, b: sg.hstack((a, b)), [_r(4), _r(4)],
         lambda a, b: np.hstack((a, b))),
    Case("hstack 2-d", lambda a, b: sg.hstack([a, b]), [_r(3, 1), _r(3, 4)],
         lambda a, b: np.hstack([a, b])),
    Case("column_stack", lambda a, b: sg.column_stack([a, b]), [_r(3), _r(3, 4)],
         lambda a, b: np.column_stack([a, b])),
    Case("dstack", lambda a, b: sg.dstack([a, b]), [_r(3, 4), _r(3, 4, 2)],
         lambda a, b: np.dstack([a, b])),
    Case("atleast_1d", lambda s: sg.atleast_1d(s), [_r()], np.atleast_1d),
    Case("atleast_2d", lambda v, s: sg.concatenate(sg.atleast_2d(v, s), 1), [_r(4), _r()],
         lambda v, s: np.concatenate(np.atleast_2d(v, s), 1)),
    Case("atleast_3d", lambda m: sg.atleast_3d(m), [_r(3, 4)], np.atleast_3d),
    Case("stack axis=-1", lambda a, b: sg.stack([a, b], axis=-1), [_r(3, 4), _r(3, 4)],
         lambda a, b: np.stack([a, b], axis=-1)),
    Case("stack axis=-2", lambda a, b: sg.stack([a, b], axis=-2), [_r(3, 4), _r(3, 4)],
         lambda a, b: np.stack([a, b], axis=-2)),
    Case("concatenate axis=-1", lambda a, b: sg.concatenate([a, b], axis=-1),
         [_r(2, 3, 1), _r(2, 3, 4)], lambda a, b: np.concatenate([a, b], axis=-1)),
    Case("concatenate axis=-2", lambda a, b: sg.concatenate([a, b], axis=-2),
         [_r(2, 1, 4), _r(2, 3, 4)], lambda a, b: np.concatenate([a, b], axis=-2)),
    Case("broadcast_arrays", lambda a, b: sg.stack(sg.broadcast_arrays(a, b)), [_r(4), _r(3, 1)],
         lambda a, b: np.stack(np.broadcast_arrays(a, b))),
    # axes
    Case("ravel C", lambda x: sg.ravel(x), [_r(2, 3, 4)], np.ravel),
    Case("ravel F", lambda x: sg.ravel(x, order="F"), [_r(2, 3, 4)], lambda x: np.ravel(x, "F")),
    Case("moveaxis", lambda x: sg.moveaxis(x, [0, 1], [-1, -3]), [_r(2, 3, 4)],
         lambda x: np.moveaxis(x, [0, 1], [-1, -3])),
    Case("swapaxes", lambda x: sg.swapaxes(x, 0, -1), [_r(2, 3, 4)],
         lambda x: np.swapaxes(x, 0, -1)),
    Case("squeeze all", lambda x: sg.squeeze(x), [_r(1, 3, 1)], np.squeeze),
    Case("squeeze axis", lambda x: sg.squeeze(x, axis=(0, 3)), [_r(1, 3, 4, 1)],
         lambda x: np.squeeze(x, axis=(0, 3))),
    Case("expand_dims", lambda x: sg.expand_dims(x, (0, -1)), [_r(3, 4)],
         lambda x: np.expand_dims(x, (0, -1))),
    # differences
    Case("diff", lambda x: sg.diff(x), [_r(3, 4)], np.diff),
    Case("diff n=2 axis=0", lambda x: sg.diff(x, n=2, axis=0), [_r(3, 4)],
         lambda x: np.diff(x, n=2, axis=0)),
    Case("diff prepend append", lambda x, b: sg.diff(x, axis=0, prepend=1.5, append=b),
         [_r(3, 4), _r(1, 4)], lambda x, b: np.diff(x, axis=0, prepend=1.5, append=b)),
    Case("diff nonlinear", lambda x: sg.diff(x * x * x, n=3), [_r(3, 4)],
         lambda x: np.diff(x ** 3, n=3)),
    # padding
    Case("pad int", lambda x: sg.pad(x, 1), [_r(3, 4)], lambda x: np.pad(x, 1)),
    Case("pad per axis", lambda x: sg.pad(x, ((0, 1), (2, 0)), constant_values=((1, 2), (3, 4))),
         [_r(3, 4)], lambda x: np.pad(x, ((0, 1), (2, 0)), constant_values=((1, 2), (3, 4)))),
    Case("pad constant expression", lambda x, c: sg.pad(x, (1, 2), constant_values=c),
         [_r(3, 4), _r()], lambda x, c: np.pad(x, (1, 2), constant_values=c)),
    Case("pad edge", lambda x: sg.pad(x, ((1, 2), (0, 3)), mode="edge"), [_r(3, 4)],
         lambda x: np.pad(x, ((1, 2), (0, 3)), mode="edge")),
    Case("pad reflect", lambda x: sg.pad(x, ((1, 2), (2, 1)), mode="reflect"), [_r(3, 4)],
         lambda x: np.pad(x, ((1, 2), (2, 1)), mode="reflect")),
    Case("pad reflect wide", lambda x: sg.pad(x, (5, 7), mode="reflect"), [_r(4)],
         lambda x: np.pad(x, (5, 7), mode="reflect")),
    Case("pad reflect size 1", lambda x: sg.pad(x, (2, 1), mode="reflect"), [_r(1)],
         lambda x: np.pad(x, (2, 1), mode="reflect")),
    Case("pad symmetric", lambda x: sg.pad(x, (4, 5), mode="symmetric"), [_r(4)],
         lambda x: np.pad(x, (4, 5), mode="symmetric")),
    Case("pad wrap", lambda x: sg.pad(x, ((1, 4), (2, 0)), mode="wrap"), [_r(3, 4)],
         lambda x: np.pad(x, ((1, 4), (2, 0)), mode="wrap")),
    Case("pad nonlinear", lambda x: sg.pad(sg.tanh(x), 1, mode="symmetric") ** 2, [_r(3, 4)],
         lambda x: np.pad(np.tanh(x), 1, mode="symmetric") ** 2),
    Case("pad int constant", lambda i: sg.pad(i, 1, constant_values=2.7), [np.arange(4)],
         lambda i: np.pad(i, 1, constant_values=2.7)),
    # reordering
    Case("flip all", lambda x: sg.flip(x), [_r(3, 4)], np.flip),
    Case("flip axis", lambda x: sg.flip(x, 1), [_r(2, 3, 4)], lambda x: np.flip(x, 1)),
    Case("roll flat", lambda x: sg.roll(x, 5), [_r(3, 4)], lambda x: np.roll(x, 5)),
    Case("roll axis", lambda x: sg.roll(x, -2, axis=1), [_r(3, 4)],
         lambda x: np.roll(x, -2, axis=1)),
    Case("roll several", lambda x: sg.roll(x, (1, -1, 11), axis=(0, 1, 0)), [_r(3, 4)],
         lambda x: np.roll(x, (1, -1, 11), axis=(0, 1, 0))),
    Case("roll int", lambda i: sg.roll(i, 1), [np.arange(4)], lambda i: np.roll(i, 1)),
    # repeating
    Case("tile int", lambda x: sg.tile(x, 3), [_r(4)], lambda x: np.tile(x, 3)),
    Case("tile tuple", lambda x: sg.tile(x, (2, 1, 3)), [_r(3, 4)],
         lambda x: np.tile(x, (2, 1, 3))),
    Case("tile short reps", lambda x: sg.tile(x, (2,)), [_r(3, 4)], lambda x: np.tile(x, (2,))),
    Case("repeat flat", lambda x: sg.repeat(x, 2), [_r(3, 4)], lambda x: np.repeat(x, 2)),
    Case("repeat axis", lambda x: sg.repeat(x, 3, axis=-1), [_r(3, 4)],
         lambda x: np.repeat(x, 3, axis=-1)),
    Case("repeat counts", lambda x: sg.repeat(x, [2, 0, 1], axis=0), [_r(3, 4)],
         lambda x: np.repeat(x, [2, 0, 1], axis=0)),
    Case("repeat one count", lambda x: sg.repeat(x, [2], axis=1), [_r(3, 4)],
         lambda x: np.repeat(x, [2], axis=1)),
]

N = ("n",)
NAMED = [  # n is 4 in every case: one call binds it once
    Case("named moveaxis", lambda x: sg.moveaxis(x, 0, -1), [_r(4, 2, 4)],
         lambda x: np.moveaxis(x, 0, -1), dims={0: ("n", 2, 4)}),
    Case("named swapaxes", lambda x: sg.swapaxes(x, 0, 1), [_r(4, 2)],
         lambda x: np.swapaxes(x, 0, 1), dims={0: ("n", 2)}),
    Case("named squeeze", lambda x: sg.squeeze(x), [_r(1, 4, 1)], np.squeeze,
         dims={0: (1, "n", 1)}),
    Case("named expand_dims", lambda x: sg.expand_dims(x, (0, 2)), [_r(4)],
         lambda x: np.expand_dims(x, (0, 2)), dims={0: N}),
    Case("named ravel", lambda x: sg.ravel(x), [_r(4, 3)], np.ravel, dims={0: ("n", 3)}),
    Case("named ravel F", lambda x: sg.ravel(x, "F"), [_r(4, 3)], lambda x: np.ravel(x, "F"),
         dims={0: ("n", 3)}),
    Case("named concatenate", lambda a, b: sg.concatenate([a, b], axis=-1), [_r(4, 3), _r(4, 2)],
         lambda a, b: np.concatenate([a, b], -1), dims={0: ("n", 3), 1: ("n", 2)}),
    Case("named concatenate along it", lambda a, b: sg.concatenate([a, b]), [_r(4, 3), _r(2, 3)],
         lambda a, b: np.concatenate([a, b]), dims={0: ("n", 3)}),
    Case("named stack", lambda a, b: sg.stack([a, b], axis=-1), [_r(4, 3), _r(4, 3)],
         lambda a, b: np.stack([a, b], -1), dims={0: ("n", 3), 1: ("n", 3)}),
    Case("named hstack", lambda a, b: sg.hstack([a, b]), [_r(4, 1), _r(4, 2)],
         lambda a, b: np.hstack([a, b]), dims={0: ("n", 1), 1: ("n", 2)}),
    Case("named vstack", lambda a, b: sg.vstack([a, b]), [_r(3), _r(4, 3)],
         lambda a, b: np.vstack([a, b]), dims={1: ("n", 3)}),
    Case("named column_stack", lambda a, b: sg.column_stack([a, b]), [_r(4), _r(4, 2)],
         lambda a, b: np.column_stack([a, b]), dims={0: N, 1: ("n", 2)}),
    Case("named broadcast_arrays", lambda a, b: sg.stack(sg.broadcast_arrays(a, b), -1),
         [_r(3), _r(4, 1)], lambda a, b: np.stack(np.broadcast_arrays(a, b), -1),
         dims={1: ("n", 1)}),
    Case("named atleast_2d", lambda v: sg.atleast_2d(v), [_r(4)], np.atleast_2d, dims={0: N}),
    Case("named tile", lambda x: sg.tile(x, (2, 2)), [_r(4, 3)], lambda x: np.tile(x, (2, 2)),
         dims={0: ("n", 3)}),
    Case("named repeat", lambda x: sg.repeat(x, 2, axis=0), [_r(4, 3)],
         lambda x: np.repeat(x, 2, axis=0), dims={0: ("n", 3)}),
    Case("named repeat counts", lambda x: sg.repeat(x, [1, 0, 3], axis=1), [_r(4, 3)],
         lambda x: np.repeat(x, [1, 0, 3], axis=1), dims={0: ("n", 3)}),
    Case("named split", lambda x: _weighted(sg, sg.split(x, 3, axis=1), 1), [_r(4, 6)],
         lambda x: _weighted(np, np.split(x, 3, axis=1), 1), dims={0: ("n", 6)}),
    Case("named pad constant", lambda x: sg.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
         [_r(4, 3)], lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
         dims={0: ("n", 3)}),
    Case("named pad edge", lambda x: sg.pad(x, ((2, 1), (1, 0)), mode="edge"), [_r(4, 3)],
         lambda x: np.pad(x, ((2, 1), (1, 0)), mode="edge"), dims={0: ("n", 3)}),
    Case("named pad reflect fixed axis", lambda x: sg.pad(x, ((0, 0), (2, 1)), mode="reflect"),
         [_r(4, 3)], lambda x: np.pad(x, ((0, 0), (2, 1)), mode="reflect"), dims={0: ("n", 3)}),
    Case("named diff", lambda x: sg.diff(x, n=2, axis=0), [_r(4, 2)],
         lambda x: np.diff(x, n=2, axis=0), dims={0: ("n", 2)}),
    Case("named diff prepend", lambda x: sg.diff(x, prepend=0.0), [_r(4)],
         lambda x: np.diff(x, prepend=0.0), dims={0: N}),
    Case("named flip", lambda x: sg.flip(x), [_r(4, 3)], np.flip, dims={0: ("n", 3)}),
    Case("named roll", lambda x: sg.roll(x, (-1, 6), axis=(1, 0)), [_r(4, 3)],
         lambda x: np.roll(x, (-1, 6), axis=(1, 0)), dims={0: ("n", 3)}),
    Case("named roll flat", lambda x: sg.roll(x, 5), [_r(4, 3)], lambda x: np.roll(x, 5),
         dims={0: ("n", 3)}),
]


# Under ``pytest --backend=numba`` the tables compile with Numba: about 2.5 s of CPU per
# case for its value, gradient and Hessian-vector product (all 77 cases: 190 s; joined
# into 33 cases of equal arguments: 120 s). That pass takes a case per lowering
# pattern the compositions use, joined by arguments into one compile: slices with
# int, negative-step and named bounds, concatenate (of slices, of broadcast constants,
# along negative axes), broadcast + reshape, gathers at constant positions along a
# moved axis and at positions computed from a named size, views, int dtypes. The
# numpy pass checks every case alone (and the joined ones).
ON_NUMBA = {
    "split indices", "stack axis=-2", "concatenate axis=-2", "moveaxis", "ravel F",
    "pad constant expression", "pad reflect", "flip axis", "roll several", "roll int",
    "pad int constant", "tile tuple", "repeat counts", "pad edge", "diff nonlinear",
    "named repeat", "named tile", "named pad edge", "named diff", "named flip", "named roll",
}


def _grouped(cases):
    groups = {}
    for c in cases:
        key = (tuple((np.shape(a), np.asarray(a).dtype.str) for a in c.args),
               tuple(sorted(c.dims.items())))
        groups.setdefault(key, []).append(c)
    return [g[0] if len(g) == 1 else Case(
        " + ".join(c.name for c in g),
        lambda *xs, g=g: sg.concatenate([sg.ravel(c.build(*xs)) for c in g]), g[0].args,
        lambda *xs, g=g: np.concatenate([np.ravel(c.ref(*xs)) for c in g]), dims=g[0].dims)
        for g in groups.values()]


@pytest.fixture
def on_numba(request):
    return request.config.getoption("--backend") == "numba"


def test_lowering_patterns_joined():
    cases = [c for c in FIXED + NAMED if c.name in ON_NUMBA]
    assert len(cases) == len(ON_NUMBA)
    check_cases(_grouped(cases), backend="numpy")


def test_fixed_shapes_against_numpy(on_numba):
    if on_numba:
        pytest.skip("test_lowering_patterns_joined takes its lowering patterns to Numba")
    check_cases(FIXED, backend="numpy")


def test_named_dimensions_against_numpy(on_numba):
    if on_numba:
        pytest.skip("test_lowering_patterns_joined takes its lowering patterns to Numba")
    check_cases(NAMED, backend="numpy")


def test_named_dimensions_are_kept():
    x = sg.tensor("x", ("n", 3, 1))
    n = x.shape[0]
    assert sg.moveaxis(x, 0, -1).shape == (3, 1, n)
    assert sg.swapaxes(x, 0, 1).shape == (3, n, 1)
    assert sg.squeeze(x).shape == (n, 3)
    assert sg.expand_dims(x, -1).shape == (n, 3, 1, 1)
    assert sg.ravel(x).shape == (3 * n,)
    assert sg.tile(x, (1, 2, 2)).shape == (n, 6, 2)
    assert sg.repeat(x, 2, axis=0).shape == (2 * n, 3, 1)
    assert sg.pad(x, ((1, 1), (0, 0), (0, 0))).shape == (n + 2, 3, 1)
    assert sg.pad(x, 1, mode="edge").shape == (n + 2, 5, 3)
    assert sg.diff(x, axis=0).shape == (n - 1, 3, 1)
    assert sg.flip(x).shape == x.shape
    assert sg.roll(x, 1, axis=0).shape == x.shape
    assert [p.shape for p in sg.split(x, [1], axis=1)] == [(n, 1, 1), (n, 2, 1)]
    assert sg.stack([x, x], axis=-1).shape == (n, 3, 1, 2)


def _raises(exc, match, fn):
    with pytest.raises(exc, match=match) as info:
        fn()
    return str(info.value)


def test_errors_name_the_expression_the_axis_and_the_fix():
    x = sg.matrix("x", "n", 6)
    msg = _raises(sg.ShapeError, "named dimension n", lambda: sg.split(x, 2, axis=0))
    assert "'x'" in msg and "axis 0" in msg and "fixed size" in msg
    msg = _raises(ValueError, "array_split", lambda: sg.split(x, 4, axis=1))
    assert "size 6" in msg and "'x'" in msg
    _raises(ValueError, "larger than 0", lambda: sg.array_split(x, 0, axis=1))
    msg = _raises(sg.ShapeError, "mode 'reflect'", lambda: sg.pad(x, 1, mode="reflect"))
    assert "named dimension n" in msg and "axis 0" in msg
    _raises(ValueError, "'mean' is not supported", lambda: sg.pad(x, 1, mode="mean"))
    _raises(ValueError, "negative", lambda: sg.pad(x, -1))
    _raises(ValueError, "pair", lambda: sg.pad(x, ((1, 1), (1, 1), (1, 1))))
    _raises(sg.ShapeError, "empty axis 0", lambda: sg.pad(sg.vector("e", 0), 1, mode="edge"))
    msg = _raises(sg.ShapeError, "named dimension n", lambda: sg.repeat(x, [1, 2], axis=0))
    assert "sequence of repeats" in msg
    _raises(sg.ShapeError, "2 repeats for axis 1 of size 6", lambda: sg.repeat(x, [1, 2], axis=1))
    _raises(ValueError, ">= 0", lambda: sg.repeat(x, -1))
    _raises(TypeError, "repeats must be", lambda: sg.repeat(x, 1.5))
    _raises(sg.ShapeError, "axis 1 is of size 6", lambda: sg.squeeze(x, 1))
    _raises(sg.ShapeError, "axis 0 is the named dimension n", lambda: sg.squeeze(x, 0))
    _raises(ValueError, "same number", lambda: sg.moveaxis(x, [0, 1], [0]))
    _raises(ValueError, "repeated axis", lambda: sg.moveaxis(x, [0, 0], [0, 1]))
    _raises(sg.ShapeError, "axis 2 is out of range", lambda: sg.swapaxes(x, 0, 2))
    _raises(ValueError, "repeated axis", lambda: sg.expand_dims(x, (0, 0)))
    _raises(TypeError, "static", lambda: sg.roll(x, sg.scalar("s", dtype="int64"), axis=0))
    _raises(ValueError, "non-negative", lambda: sg.diff(x, n=-1))
    _raises(sg.ShapeError, "at least one dimension", lambda: sg.diff(sg.scalar("s")))
    _raises(ValueError, ">= 0", lambda: sg.tile(x, (-1, 1)))
    _raises(ValueError, "'C', 'F'", lambda: sg.ravel(x, order="X"))
    _raises(ValueError, "at least one array", lambda: sg.vstack([]))
    _raises(sg.ShapeError, "do not broadcast",
            lambda: sg.broadcast_arrays(sg.vector("a", 3), sg.vector("b", 4)))
    _raises(sg.ShapeError, "0-d", lambda: sg.pad(x, 1, constant_values=sg.vector("c", 2)))


def test_results_match_numpy_shapes_for_the_list_returning_ops():
    x = sg.vector("x", 7)
    want = [a.shape for a in np.array_split(np.ones(7), 9)]
    assert [p.shape for p in sg.array_split(x, 9)] == want
    assert isinstance(sg.broadcast_arrays(x, x), tuple)
    assert isinstance(sg.atleast_1d(x, x), tuple)
    assert sg.atleast_1d(x) is x
