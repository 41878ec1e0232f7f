"""Arguments NumPy represents in unusual ways, and sizes no array can have (issue 19).

Every case runs on both backends. Whatever the argument checks accept must run
on the Numba backend too, giving the numpy backend's numbers: big-endian,
strided, Fortran-order and read-only arrays, subclasses and 0-d arrays. What
they refuse is refused before any compiled code runs, with a message naming
the input: integers past 2**53 for float64 inputs (NumPy calls int64 ->
float64 safe, but it rounds), masked arrays (the mask would be lost). A size
that no NumPy array can have is refused when the variable or expression is
built. Calls that once failed inside Numba run in a child process, so a crash
fails one test instead of the session.
"""
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend
BACKENDS = ["numpy", "numba"]
SOURCE = Path(sg.__file__).resolve().parent.parent  # the child imports the same symgrad


CHILD_CALLS = """
import json
import numpy as np
import symgrad as sg
from symgrad.function import Function

def outcome(make, args):
    try:
        out = make()(*args)
    except Exception as e:
        return [type(e).__name__, str(e)[:300]]
    return ["ok", np.asarray(out, dtype=np.float64).tolist()]
"""


def _in_child(code):
    """Run ``code`` after CHILD_CALLS in a new Python; the JSON it prints last."""
    env = dict(os.environ, PYTHONPATH=str(SOURCE))
    code = CHILD_CALLS + textwrap.dedent(code)
    try:  # a size that reached a kernel could make it loop for years
        done = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                              capture_output=True, timeout=300, cwd=SOURCE)
    except subprocess.TimeoutExpired:
        pytest.fail("the child process ran for more than 300 s")
    assert done.returncode == 0, f"the child process died:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.splitlines()[-1])


def _unchanged(arrays):
    """A copy of each array with its flags, to compare after a call."""
    return [(a.copy(), a.dtype, a.flags.writeable, a.flags.c_contiguous) for a in arrays]


def _assert_unchanged(arrays, before):
    for a, (values, dtype, writeable, contiguous) in zip(arrays, before):
        np.testing.assert_array_equal(a, values)
        assert (a.dtype, a.flags.writeable, a.flags.c_contiguous) == (dtype, writeable, contiguous)


# ------------------------------------------------------------------ 1. byte order and layout

def test_big_endian_arrays_run_on_both_backends_in_a_child_process():
    """``>f8`` is called "float64" too: checked by name it reached Numba, which
    cannot type a non-native array (TypingError). The numpy backend was right."""
    got = _in_child("""
    E, idx, s = sg.matrix("E", 4, 2), sg.vector("idx", "k", dtype="int64"), sg.scalar("s")
    x = sg.vector("x", 3)
    E_big = np.arange(8.0).reshape(4, 2).astype(">f8")
    idx_big = np.array([3, 0, 3], dtype=">i8")
    cases = {
        "float": (lambda b: Function([x], (x * x).sum(), backend=b),
                  [np.array([1.0, 2.0, 3.0], ">f8")]),
        "gather": (lambda b: Function([E, idx, s], E[idx] * s, backend=b), [E_big, idx_big, 2.0]),
        "scalar": (lambda b: Function([s], s * 3, backend=b), [np.array(2.0, ">f8")]),
    }
    result = {f"{name} {b}": outcome(lambda: make(b), args)
              for name, (make, args) in cases.items() for b in ("numpy", "numba")}
    result["caller's arrays"] = [E_big.dtype.str, idx_big.dtype.str, E_big.tolist(),
                                 idx_big.tolist()]
    print(json.dumps(result))
    """)
    E = np.arange(8.0).reshape(4, 2)
    want = {"float": 14.0, "gather": (E[[3, 0, 3]] * 2).tolist(), "scalar": 6.0}
    for name, value in want.items():
        for backend in BACKENDS:
            assert got[f"{name} {backend}"] == ["ok", value], (name, backend)
    assert got["caller's arrays"] == [">f8", ">i8", E.tolist(), [3, 0, 3]]


class Celsius(np.float64):
    pass


class Tagged(np.ndarray):
    pass


def _odd_layouts():
    """Arguments the checks accept, for a (3, 2) float64 input, each equal to M."""
    M = np.arange(6.0).reshape(3, 2) - 2.5
    read_only = M.copy()
    read_only.flags.writeable = False
    buffer = np.zeros(6 * 8 + 1, dtype=np.uint8)
    unaligned = np.frombuffer(buffer.data, dtype=np.float64, offset=1, count=6).reshape(3, 2)
    buffer[1:] = np.frombuffer(M.tobytes(), dtype=np.uint8)
    return M, {
        "big-endian": M.astype(">f8"),
        "big-endian strided": np.repeat(M.astype(">f8"), 2, axis=1)[:, ::2],
        "strided": np.repeat(M, 2, axis=0)[::2],
        "negative strides": M[::-1, ::-1].copy()[::-1, ::-1],
        "fortran": np.asfortranarray(M),
        "transposed view": M.T.copy().T,
        "broadcast (zero stride)": np.broadcast_to(M[:1], (3, 2)) * 0 + M,
        "read-only": read_only,
        "unaligned": unaligned,
        "subclass": M.view(Tagged),
        "int32": (M * 2).astype(np.int32),  # compared against 2 * M below
        "float32": M.astype(np.float32),
        "nested lists": M.tolist(),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_layouts_give_the_same_result_with_one_compiled_overload(backend):
    """Every accepted layout runs the overload compiled for the first (C, native,
    read-only) call: a writable copy of a strided array used to compile again."""
    X = sg.matrix("X", 3, 2)
    f = Function([X], [X * X, (X * 3).sum()], backend=backend)
    M, layouts = _odd_layouts()
    f(M)
    for name, arg in layouts.items():
        arrays = [arg] if isinstance(arg, np.ndarray) else []
        before = _unchanged(arrays)
        want = 2 * M if name == "int32" else M
        got = f(arg)
        np.testing.assert_array_equal(got[0], want * want, err_msg=name)
        assert got[1] == (want * 3).sum(), name
        _assert_unchanged(arrays, before)
    if backend == "numba":
        assert len(f._program.function.signatures) == 1


def test_a_strided_argument_does_not_compile_a_second_overload():
    """The kernel gets a contiguous copy of a strided argument: a writable one was
    a new Numba type (the checked arguments are read-only views), compiled again."""
    x = sg.vector("x", 3)
    f = Function([x], x * 2, backend="numba")
    f(np.ones(3))
    for arg in [np.arange(6.0)[::2], np.arange(3.0)[::-1], np.broadcast_to(np.ones(1), (3,))]:
        np.testing.assert_array_equal(f(arg), arg * 2)
    assert len(f._program.function.signatures) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_scalars_and_0d_arrays(backend):
    s, k = sg.scalar("s"), sg.scalar("k", dtype="int64")
    f = Function([s, k], s * k, backend=backend)
    for value in [Celsius(1.5), np.array(1.5), np.array(1.5, dtype=">f8"), np.float32(1.5),
                  np.array([1.5])[0], np.array(1.5).view(Tagged)]:
        assert f(value, np.array(4, dtype=">i8")) == 6.0
        assert f(value, 4) == 6.0


# ------------------------------------------------------------------ 2. integers past 2**53

@pytest.fixture(scope="module", params=BACKENDS)
def floats(request):
    x, s = sg.vector("x", 3), sg.scalar("s")
    return Function([x, s], (x * s).sum(), backend=request.param)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, ">i8"])
def test_integers_up_to_2_53_convert_to_float64(floats, dtype):
    x = np.array([2**53, 0, 7], dtype=dtype)
    assert floats(x, 1) == 2.0**53 + 7
    assert floats([2**53, 0, 7], 2**53) == (2.0**53 + 7) * 2.0**53
    if np.dtype(dtype).kind == "i":
        assert floats(-x, -(2**53)) == (2.0**53 + 7) * 2.0**53


@pytest.mark.parametrize("value, dtype, where", [
    (2**53 + 1, np.int64, 1),
    (-(2**53) - 1, np.int64, 1),
    (np.iinfo(np.int64).min, np.int64, 1),  # whose abs() overflows
    (np.iinfo(np.int64).max, np.int64, 1),
    (2**60, np.int64, 1),  # exact in float64, but past the documented bound
    (2**53 + 1, np.uint64, 1),
    (2**64 - 1, np.uint64, 1),
    (2**53 + 1, ">i8", 1),
    (2**53 + 1, None, 1),   # Python ints in a list
])
def test_an_integer_past_2_53_for_float64_is_a_type_error(floats, value, dtype, where):
    x = [0, value, 5] if dtype is None else np.array([0, value, 5], dtype=dtype)
    before = _unchanged([x] if dtype is not None else [])
    with pytest.raises(TypeError) as info:
        floats(x, 1.0)
    message = str(info.value)
    assert "argument for 'x'" in message and f"holds {value} at index {where}" in message
    assert f"dtype {np.dtype(dtype or np.int64)}" in message and "2**53" in message
    _assert_unchanged([x] if dtype is not None else [], before)


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, np.int64(2**53 + 1),
                                   np.uint64(2**63), 2**63])
def test_an_integer_scalar_past_2_53_for_float64_is_a_type_error(floats, value):
    with pytest.raises(TypeError, match=f"argument for 's'.* holds {value}, beyond"):
        floats(np.zeros(3), value)


def test_the_float_call_path_refuses_a_large_python_int_too():
    x, y = sg.scalar("x"), sg.scalar("y")
    for backend in BACKENDS:
        vg = sg.value_and_grad(x * y, [x, y], inputs=[x, y], backend=backend)
        assert vg(1.0, 2**53) == (2.0**53, [2.0**53, 1.0])
        with pytest.raises(TypeError, match="argument for 'y'.*9007199254740993"):
            vg(1.0, 2**53 + 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_offending_value_of_a_matrix_is_named_by_its_index(backend):
    M = sg.matrix("M", 2, 3)
    f = Function([M], M.sum(), backend=backend)
    bad = np.array([[0, 1, 2], [3, 2**62, -(2**62)]])
    with pytest.raises(TypeError, match=r"holds 4611686018427387904 at index \(1, 1\)"):
        f(bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_narrowing_integer_casts_are_refused_whatever_the_values(backend):
    """int64 -> float32 and int64 -> int32 were never accepted: NumPy does not call
    them safe, so they are refused by dtype, even for small values."""
    f32, i32 = sg.vector("f32", 2, dtype="float32"), sg.vector("i32", 2, dtype="int32")
    f = Function([f32, i32], f32 * 1, backend=backend)
    ok = np.zeros(2, np.float32), np.zeros(2, np.int32)
    for bad in [[2**24 + 1, 0], [1, 2], np.array([1, 2], dtype=np.uint64)]:
        with pytest.raises(TypeError, match="argument for 'f32'.*does not convert to float32"):
            f(bad, ok[1])
    for bad in [[2**40, 0], [1, 2], np.array([1, 2], dtype=np.uint32)]:
        with pytest.raises(TypeError, match="argument for 'i32'.*does not convert to int32"):
            f(ok[0], bad)
    np.testing.assert_array_equal(f(np.array([2**14, -1], np.int16), ok[1]), [2.0**14, -1.0])


# ------------------------------------------------------------------ 3. masked arrays

@pytest.mark.parametrize("masked", [
    np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
    np.ma.masked_array([1.0, 2.0, 3.0]),       # no entry masked: still refused
    np.ma.masked_array([1, 2, 3], mask=[1, 0, 0]),
])
def test_a_masked_array_is_a_type_error_saying_what_to_pass(floats, masked):
    with pytest.raises(TypeError, match=r"argument for 'x'.*masked array.*\.filled\(.*\.data"):
        floats(masked, 1.0)
    assert floats(masked.filled(0.0), 1.0) == masked.filled(0.0).sum()


def test_the_masked_constant_is_a_type_error(floats):
    with pytest.raises(TypeError, match="argument for 's'.*masked array"):
        floats(np.zeros(3), np.ma.masked)


# ------------------------------------------------------------------ 4. any input name

@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_named_self_args_and_kwargs_can_be_passed_by_name(backend):
    me, args, kwargs = sg.scalar("self"), sg.scalar("args"), sg.vector("kwargs", 2)
    f = Function([me, args, kwargs], (me * args + kwargs).sum(), backend=backend)
    assert f(self=2.0, args=3.0, kwargs=[1.0, 1.0]) == 14.0
    assert f(2.0, kwargs=[1.0, 1.0], args=3.0) == 14.0
    vg = sg.value_and_grad(me * args, [me], inputs=[me, args], backend=backend)
    assert vg(self=2.0, args=3.0) == (6.0, [3.0])
    with pytest.raises(TypeError, match="'self' given twice"):
        f(2.0, 3.0, [1.0, 1.0], self=2.0)


# ------------------------------------------------------------------ 5. sizes no array has

@pytest.mark.parametrize("make, size", [
    (lambda: sg.vector("x", 2**70), 2**70),
    (lambda: sg.vector("x", 2**63), 2**63),
    (lambda: sg.vector("x", np.uint64(2**63)), 2**63),
    (lambda: sg.matrix("x", 3, 2**64), 2**64),
    (lambda: sg.tensor("x", ("batch", 2**100, 1)), 2**100),
])
def test_a_size_past_int64_is_refused_when_the_variable_is_made(make, size):
    with pytest.raises(sg.ShapeError, match=f"variable 'x': dimension {size} is larger than 2"):
        make()


@pytest.mark.parametrize("make", [
    lambda: sg.vector("x", -1),
    lambda: sg.matrix("x", 2, -3),
    lambda: sg.tensor("x", (np.int64(-1),)),
])
def test_a_negative_size_is_refused_naming_the_variable(make):
    with pytest.raises(sg.ShapeError, match="variable 'x': a dimension must be an int >= 0"):
        make()


@pytest.mark.parametrize("shape, dtype", [
    ((2**40, 2**40), "float64"),
    ((2**40, "n", 2**40), "int32"),
    ((2**40, 2**40, 0), "float64"),  # empty, yet NumPy refuses it too
    ((2**63 - 1,), "float32"),
])
def test_fixed_sizes_past_numpys_largest_array_are_refused(shape, dtype):
    with pytest.raises(sg.ShapeError, match="variable 'x': the fixed sizes of shape.*2\\*\\*63"):
        sg.tensor("x", shape, dtype=dtype)


def test_sizes_numpy_allows_are_accepted():
    assert sg.vector("x", 0).shape == (0,)
    assert sg.tensor("x", (2**60, 0), dtype="int32").shape == (2**60, 0)
    np.empty((2**60, 0), dtype=np.int32)  # as NumPy, which refuses (2**62, 0) of int32
    assert sg.vector("x", 2**61 - 1, dtype="float32").shape == (2**61 - 1,)
    assert sg.vector("x", np.uint64(5)).shape == (5,)


def test_reshape_and_broadcast_to_refuse_a_size_past_int64():
    z, b = sg.vector("z", 0), sg.vector("b", 3)
    with pytest.raises(sg.ShapeError, match=f"dimension {2**70} is larger"):
        sg.reshape(z, (2**70, 0))
    with pytest.raises(sg.ShapeError, match=f"dimension {2**70} is larger"):
        sg.broadcast_to(b, (2**70, 3))


def test_huge_sizes_inside_a_graph_fail_when_the_function_is_made_in_a_child_process():
    """Such sizes used to reach Numba as integer literals: a TypingError ("Int
    value is too large") or a SystemError at the first call."""
    got = _in_child("""
    z, b = sg.vector("z", 0), sg.vector("b", 3)
    def make(build, inputs, backend):
        return lambda: Function(inputs, build(), backend=backend)
    cases = {
        "reshape 2**70": (lambda: sg.reshape(z, (2**70, 0)), [z], [np.ones(0)]),
        "reshape 2**62": (lambda: sg.reshape(z, (2**62, 0)), [z], [np.ones(0)]),
        "broadcast 2**70": (lambda: sg.broadcast_to(b, (2**70, 3)).sum(), [b], [np.ones(3)]),
        "broadcast 2**61": (lambda: sg.broadcast_to(b, (2**61, 3)), [b], [np.ones(3)]),
    }
    print(json.dumps({f"{name} {backend}": outcome(make(build, inputs, backend), args)
                      for name, (build, inputs, args) in cases.items()
                      for backend in ("numpy", "numba")}))
    """)
    for name in ["reshape 2**70", "reshape 2**62", "broadcast 2**70", "broadcast 2**61"]:
        for backend in BACKENDS:
            kind, message = got[f"{name} {backend}"]
            assert kind == "ShapeError", (name, backend, kind, message)
            assert "2**63 - 1" in message, message
