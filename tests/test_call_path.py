"""The call path of compiled functions on the Numba backend (API.md §5).

A function whose inputs are all float64 scalars, called positionally with one
``float`` or ``np.float64`` per input, takes a short path: no conversion, and
the kernel's compiled overload called directly instead of through Numba's
type dispatch. These tests hold it to the NumPy reference backend and to the
hand-derived lecture gradient, and check that every other argument still goes
through the full checks with the same errors as the reference backend.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from reference import assert_close, numeric_grad

BACKENDS = ("numba", "numpy")
REPO = Path(__file__).resolve().parent.parent


def _lecture_graph():
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    return (x + y) * sg.maximum(y, z), [x, y, z]


def _by_hand(x, y, z):
    """f = (x + y)·max(y, z) and its gradient, away from the tie y = z."""
    s, m = x + y, max(y, z)
    return s * m, [m, m + s if y > z else m, 0.0 if y > z else s]


@pytest.fixture(scope="module")
def lecture():
    cost, xyz = _lecture_graph()
    return {b: sg.value_and_grad(cost, xyz, inputs=xyz, backend=b) for b in BACKENDS}


POINTS = [(1.0, 2.0, 0.0), (-0.5, 0.25, 3.0), (3e150, -2.0, -7.5), (0.0, -1.5, 1e-300),
          (-4.0, 6.5, 6.25)]


@pytest.mark.parametrize("point", POINTS)
def test_floats_give_the_hand_derived_value_and_gradient(lecture, point):
    value, grads = lecture["numba"](*point)
    want_value, want_grads = _by_hand(*point)
    assert type(value) is np.float64
    assert isinstance(grads, list) and [type(g) for g in grads] == [np.float64] * 3
    assert_close(value, want_value, rtol=1e-15, atol=0)
    assert_close(grads, want_grads, rtol=1e-15, atol=0)


def test_gradient_matches_finite_differences(lecture):
    point = (0.3, -0.7, -1.9)
    _, grads = lecture["numba"](*point)

    def cost(*args):
        return lecture["numpy"](*args)[0]
    assert_close(grads, [numeric_grad(cost, point, k) for k in range(3)], rtol=1e-6)


@pytest.mark.parametrize("point", [(1.0, 2.0, 2.0), (1.0, np.nan, 0.0), (1.0, 0.0, np.nan),
                                   (np.inf, 1.0, 0.0), (-np.inf, 1.0, np.inf), (0.0, -0.0, 0.0)])
def test_ties_and_non_finite_values_agree_with_the_numpy_backend(lecture, point):
    got, want = lecture["numba"](*point), lecture["numpy"](*point)
    assert type(got[0]) is type(want[0]) is np.float64
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def _same_result(a, b):
    assert type(a[0]) is type(b[0]) and [type(g) for g in a[1]] == [type(g) for g in b[1]]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("args, kwargs", [
    ((np.float64(1.0), np.float64(2.0), np.float64(0.0)), {}),
    ((1, 2, 0), {}),                                          # ints convert without loss
    ((np.float32(1.0), np.int64(2), np.float16(0.0)), {}),
    ((np.array(1.0), np.array(2.0), np.array(0.0)), {}),       # 0-d arrays
    ((1.0, 2.0), {"z": 0.0}),
    ((), {"z": 0.0, "x": 1.0, "y": 2.0}),
])
def test_other_lossless_arguments_give_the_float_result(lecture, args, kwargs):
    floats = lecture["numba"](1.0, 2.0, 0.0)
    for backend in BACKENDS:
        _same_result(lecture[backend](*args, **kwargs), floats)


BAD = [
    ((1.0, 2.0), {}, TypeError),                      # too few
    ((1.0, 2.0, 0.0, 4.0), {}, TypeError),            # too many
    ((1.0, 2.0, 0.0), {"w": 1.0}, TypeError),         # unknown name
    ((1.0, 2.0, 0.0), {"x": 1.0}, TypeError),         # given twice
    ((1.0, 2.0), {"y": 1.0}, TypeError),              # given twice, z missing
    ((1.0, 2.0, 1j), {}, TypeError),                  # complex
    ((1.0, 2.0, np.complex128(1.0)), {}, TypeError),
    ((1.0, True, 0.0), {}, TypeError),                # bool
    ((1.0, np.bool_(True), 0.0), {}, TypeError),
    (("1.0", 2.0, 0.0), {}, TypeError),               # string
    ((None, 2.0, 0.0), {}, TypeError),
    ((1.0, 2.0, 2**70), {}, TypeError),               # an int no dtype holds
    (([1.0], 2.0, 0.0), {}, sg.ShapeError),           # rank 1 for a scalar
    ((1.0, np.zeros((1, 1)), 0.0), {}, sg.ShapeError),
    ((1.0, 2.0, np.longdouble(0.0)), {}, TypeError),  # float128 -> float64 loses precision
]


@pytest.mark.parametrize("args, kwargs, error", BAD)
def test_bad_arguments_raise_as_on_the_numpy_backend(lecture, args, kwargs, error):
    messages = []
    for backend in BACKENDS:
        with pytest.raises(Exception) as info:
            lecture[backend](*args, **kwargs)
        messages.append((type(info.value), str(info.value)))
    assert messages[0] == messages[1]
    assert messages[0][0] is error
    _same_result(lecture["numba"](1.0, 2.0, 0.0), lecture["numpy"](1.0, 2.0, 0.0))  # still fine


def test_a_float_subclass_is_checked_in_full(lecture):
    class Celsius(float):
        pass
    for backend in BACKENDS:
        _same_result(lecture[backend](Celsius(1.0), 2.0, 0.0), lecture["numpy"](1.0, 2.0, 0.0))


@pytest.mark.parametrize("dtype, value", [("float32", 0.1), ("int64", 2.0)])
def test_a_float_for_another_scalar_dtype_is_still_refused(dtype, value):
    for backend in BACKENDS:
        x, k = sg.scalar("x"), sg.scalar("k", dtype=dtype)
        f = sg.function([x, k], x * k, backend=backend)
        with pytest.raises(TypeError, match=f"does not convert to {dtype}"):
            f(1.0, value)


def test_one_gradient_and_mixed_outputs_agree_with_the_numpy_backend():
    x, y = sg.scalar("x"), sg.scalar("y")
    w = np.array([1.0, -2.0, 0.5])
    outputs = [x * y, sg.constant(w) * sg.exp(x), sg.tanh(y)]
    cost = (x - y) ** 2
    made = {b: (sg.function([x, y], outputs, backend=b), sg.function([x, y], cost, backend=b),
                sg.value_and_grad(cost, y, inputs=[x, y], backend=b)) for b in BACKENDS}
    many, one, vg = made["numba"]
    first, second = many(0.5, -1.25), many(0.5, -1.25)
    assert [type(o) for o in first] == [np.float64, np.ndarray, np.float64]
    assert_close(first[0], -0.625, rtol=1e-15)
    assert_close(first[1], w * np.exp(0.5), rtol=1e-15)
    assert_close(first[2], np.tanh(-1.25), rtol=1e-15)
    assert not np.shares_memory(first[1], second[1])  # a fresh array per call
    assert type(one(0.5, -1.25)) is np.float64
    value, grad = vg(0.5, -1.25)
    assert type(value) is type(grad) is np.float64
    assert_close([value, grad], [1.75 ** 2, -2 * 1.75], rtol=1e-15)
    ref_many, ref_one, ref_vg = made["numpy"]
    for got, want in [(first, ref_many(0.5, -1.25)), ([one(0.5, -1.25)], [ref_one(0.5, -1.25)]),
                      (vg(0.5, -1.25), ref_vg(0.5, -1.25))]:
        assert [type(g) for g in got] == [type(w) for w in want]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_every_call_runs_the_one_compiled_overload(lecture):
    vg = lecture["numba"]
    for args in [(1.0, 2.0, 0.0), (np.float64(1.0), 2.0, 0.0), (1, 2, 0), (np.array(1.0), 2.0, 0)]:
        vg(*args)
    program = vg._function._program
    assert len(program.function.signatures) == 1  # floats, np.float64 and checked values alike
    (overload,) = program.function.overloads.values()
    assert program._entry is overload.entry_point


SCRIPT = """
import json, sys
import symgrad as sg
x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
vg = sg.value_and_grad((x + y) * sg.maximum(y, z), [x, y, z], inputs=[x, y, z])
value, grads = vg(1.0, 2.0, 0.0)
print(json.dumps([float(value)] + [float(g) for g in grads]))
"""


def _run_in_new_process(cache):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    value, grads = _by_hand(1.0, 2.0, 0.0)
    assert json.loads(done.stdout.splitlines()[-1]) == [value] + grads


def test_a_first_float_call_recovers_from_a_damaged_numba_cache(tmp_path):
    _run_in_new_process(tmp_path)
    files = list(tmp_path.glob("__pycache__/*.nb*"))
    assert files, "Numba wrote no cache files"
    for f in files:
        f.write_bytes(b"\x80\x04garbage")
    _run_in_new_process(tmp_path)
