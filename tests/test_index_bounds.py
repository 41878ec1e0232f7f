"""Static indices on named dimensions are checked at call time (issue 19, item 1).

``x[k]`` on a named axis cannot be checked when it is built; the Numba kernel
read ``x[k]`` unchecked (garbage for n = 0, a write outside the array in the
gradient, a segfault for x[10**6]). Every case runs in a child process, so a
crash fails the test instead of ending the session.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401  (runs both backends itself)

BACKENDS = ("numpy", "numba")


def _in_child(code):
    """Run ``code`` in a fresh interpreter; its stdout, or a failure naming the exit code."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"child exited with {done.returncode}:\n{done.stderr[-2000:]}"
    return done.stdout


CASES = [  # (expression of x (n,) and m (n, 3), n, what must happen)
    ("x[0]", 0, "IndexError"),
    ("x[-1]", 0, "IndexError"),
    ("x[3]", 2, "IndexError"),
    ("x[-3]", 2, "IndexError"),
    ("x[10**6]", 5, "IndexError"),
    ("m[4, 1:]", 4, "IndexError"),
    ("m[-5]", 4, "IndexError"),
    ("m[:, 2][7]", 3, "IndexError"),
    ("x[1]", 2, 1.0),
    ("x[-2]", 2, 0.0),
    ("m[-1, 2]", 4, 11.0),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_indices_on_named_dimensions_in_a_child_process(backend):
    out = _in_child(f"""
        import numpy as np, symgrad as sg
        x, m = sg.vector("x", "n"), sg.matrix("m", "n", 3)
        for text, n, expected in {CASES!r}:
            e = eval(text).sum()
            f = sg.function([x, m], [e, *sg.grad(e * 2.0, [x, m], disconnected="zero")],
                            backend={backend!r})
            xv, mv = np.arange(float(n)), np.arange(3.0 * n).reshape(n, 3)
            try:
                value, gx, gm = f(xv, mv)
            except IndexError as error:
                assert expected == "IndexError", (text, n, error)
                assert "out of bounds" in str(error) and "named dimension n" in str(error), error
                continue
            assert expected != "IndexError", (text, n, value)
            assert value == expected, (text, value)
            # the gradient: 2 at the indexed entry, zero elsewhere, nothing written outside
            # (x and m hold their flat positions, so the value is the entry's position)
            ref_x, ref_m = np.zeros(n), np.zeros((n, 3))
            (ref_x if text.startswith("x") else ref_m).flat[int(expected)] = 2.0
            assert np.array_equal(gx, ref_x) and np.array_equal(gm, ref_m), (text, gx, gm)
        print("ok")
    """)
    assert out.strip() == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_error_names_the_array_the_index_and_the_size(backend):
    x = sg.vector("x", "n")
    f = sg.function([x], x[5], backend=backend)
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for axis 0 of 'x'.* with size 3"):
        f(np.zeros(3))
    assert f(np.arange(6.0)) == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gradient_only_graph_checks_its_slice_add(backend):
    """The gradient of x[k] is a slice-add into zeros(n): its index is checked too."""
    x = sg.vector("x", "n")
    g = sg.grad((x[4] * 3.0), x)
    f = sg.function([x], g, backend=backend)
    with pytest.raises(IndexError, match="index 4 is out of bounds"):
        f(np.zeros(2))
    np.testing.assert_array_equal(f(np.zeros(5)), [0, 0, 0, 0, 3.0])


AUDIT = """
    import numpy as np, symgrad as sg
    from symgrad.errors import ShapeError
    x, y = sg.vector("x", "n"), sg.vector("y", "m")
    E, i = sg.matrix("E", "v", 3), sg.vector("i", "k", dtype="int64")
    L = sg.matrix("L", "k", 4)
    cases = [  # (inputs, outputs, arguments for sizes n, m)
        ([x, y], lambda: [sg.concatenate([x, y], 0)[-1],
                          sg.grad(sg.concatenate([x * 2.0, y], 0).sum(), x)],
         lambda n, m: [np.arange(n * 1.0), np.arange(m * 1.0)]),
        ([x], lambda: [sg.stack([x, x * 3.0], 0).sum(axis=1)], lambda n, m: [np.ones(n)]),
        ([x], lambda: [x.reshape((-1, 1)).sum(axis=1), sg.grad((x.reshape((1, -1)) ** 2).sum(), x)],
         lambda n, m: [np.arange(n * 1.0)]),
    ]
    for inputs, outputs, args in cases:
        for backend in ("numpy", "numba"):
            f = sg.function(inputs, outputs(), backend=backend)
            for n, m in ((0, 0), (1, 0), (0, 2), (3, 2)):
                try:
                    f(*args(n, m))
                except (IndexError, ShapeError):
                    pass
    # data indices: gather, its scatter-add gradient, pick (take-along) with hostile values
    pick = sg.nn.softmax_cross_entropy(L, i)
    for backend in ("numpy", "numba"):
        g = sg.function([E, i], [E[i].sum(), sg.grad((E[i] ** 2).sum(), E)], backend=backend)
        p = sg.function([L, i], [pick, sg.grad(pick, L)], backend=backend)
        for bad in ([0, 10**9], [-1], [2**62], [-2**63], [3, 4]):
            for fn, arg in ((g, np.ones((4, 3))), (p, np.ones((len(bad), 4)))):
                try:
                    fn(arg, np.array(bad, dtype=np.int64))
                    raise AssertionError(f"no error for {bad}")
                except IndexError:
                    pass
        assert g(np.ones((4, 3)), np.array([], dtype=np.int64))[0] == 0.0
    print("ok")
"""


def test_kernels_never_index_outside_their_arrays_audit():
    """Concatenation offsets, stacks and reshape views of named dimensions at sizes
    0, 1 and mismatched, and hostile data indices (gather, scatter-add, pick)."""
    assert _in_child(AUDIT).strip() == "ok"
