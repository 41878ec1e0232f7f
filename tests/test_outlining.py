"""Issue 13: compile time grows with the distinct kernels of a model, not with
its unrolled steps or layers. The generated module calls one function per
distinct loop nest (constant subscript offsets are its arguments) and one per
run of statements that repeats back to back; slices and size-1 reshapes are
read through, not copied. Checked on the printed source (no compile) and on
values against the NumPy backend and hand-written NumPy."""
import re

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad_codegen import Alloc, Compute, Index, Load, Loop, Program, Store, Subarray, compile_program, \
    program_source
from symgrad_codegen.numba_internals import array_intrinsic
from symgrad.function import Function
from symgrad.lowering import lower
from symgrad.optimize import optimize
from models import lstm, lstm_by_hand

t0 = sympy.Symbol("t0", real=True)


def lstm_source(steps):
    """The generated module of the LSTM's cost and gradients (lowered, printed, not compiled)."""
    cost, params, data = lstm(steps)
    return program_source(lower(data + params, optimize([cost] + sg.grad(cost, params))).program)


def functions(source):
    """{name: body} of the module's functions other than the entry point."""
    parts = re.split(r"^def ", source, flags=re.M)[1:]
    bodies = {}
    for part in parts:
        name, rest = part.split("(", 1)
        if name != "kernel":
            bodies[name] = rest.split(":\n", 1)[1].strip()
    return bodies


def entry_lines(source):
    return source[source.index("def kernel("):].count("\n")


# ------------------------------------------------------------------- the printed module

def test_unrolled_steps_share_their_functions():
    sources = {steps: lstm_source(steps) for steps in (8, 32, 64)}
    bodies = {steps: sorted(functions(s).values()) for steps, s in sources.items()}
    # the same distinct functions, whatever the number of steps, once the steps
    # are worth a block function (not at 8 toy steps: see outline._LEAST_SAVED)
    assert bodies[32] == bodies[64]
    assert not any(name.startswith("block") for name in functions(sources[8]))
    assert sum(name.startswith("block") for name in functions(sources[32])) == 2
    # the forward and backward steps are loops in the entry point, which grows
    # only by x[t] @ Wx (two lines: too small a run for a block) and the
    # gradient sums over the steps (a load each, from the list the loop
    # filled), not by each step's ~30 statements
    kernel = sources[64][sources[64].index("def kernel("):]
    assert len(re.findall(r"^    for t\d+ in range\(", kernel, flags=re.M)) >= 2
    per_step = (entry_lines(sources[64]) - entry_lines(sources[32])) / 32
    assert per_step <= 10, per_step


@pytest.fixture
def eager_blocks(monkeypatch):
    """Blocks for runs of any length (the tests are about how they work, not when)."""
    import symgrad_codegen.outline
    monkeypatch.setattr(symgrad_codegen.outline, "_LEAST_SAVED", 8)


def test_gate_slices_are_read_in_place_and_x_t_is_a_view():
    source = lstm_source(3)
    # x[t] feeds a product: a sub-array view of the input, never a copy loop
    assert re.search(r"= x0\[2\]$", source, flags=re.M)
    assert not re.search(r"x0\[nonneg", source)
    # the four gates read their columns of z where the product put them: no
    # copy of a gate's columns into a buffer of its own before the fused loop
    (step,) = [b for name, b in functions(source).items() if "vtanh" in b and "vexp" in b]
    columns = set(re.findall(r"nonneg\((a\d+) \+ l\d+\)", step)) | \
        set(re.findall(r"nonneg\((\d+) \+ l\d+\)", step))
    assert len(columns) >= 3, step


def test_offsets_are_arguments_of_one_copy_function():
    """y[4k + i] = x[k + i] for k = 1, 2, 3: three copy loops that differ only in
    their offsets print one function, called with each loop's offsets."""
    n = 4
    statements = [Alloc("y", "float64", (4 * n,), 0)]
    for k in (1, 2, 3):
        body = (Load("a", "x0", (Index(0, offset=k),)), Store("y", (Index(0, offset=n * k),), "a"))
        statements.append(Loop((n,), body))
    program = Program(("x0",), tuple(statements), ("y",))
    source = program_source(program)
    assert len(functions(source)) == 1, source
    assert source.count("loop0(") == 4  # its definition and three calls
    (y,) = compile_program(program).function(np.arange(7.0))
    np.testing.assert_array_equal(y, np.concatenate([np.zeros(n)] + [np.arange(7.0)[k:k + n]
                                                                     for k in (1, 2, 3)]))


def test_a_block_returns_what_any_repeat_needs_later(eager_blocks):
    """Four repeats of (alloc, loop): y_k = 2 y_{k-1} + 1; the results use y1
    and y3, so every call returns both statements' arrays (the union)."""
    n = sympy.Symbol("n0", integer=True)
    statements, previous = [], "x0"
    for k in range(6):
        name = f"b{k}"
        body = (Load("a", previous, (Index(0),)),
                Compute("c", sympy.Lambda((t0,), 2 * t0 + 1), ("a",), "float64"),
                Store(name, (Index(0),), "c"))
        statements += [Alloc(name, "float64", (n,)), Loop((n,), body),
                       Alloc(name + "s", "float64", (n,)),
                       Loop((n,), (Load("a", name, (Index(0),)), Store(name + "s", (Index(0),), "a")))]
        previous = name
    program = Program(("x0", "n0"), tuple(statements), ("b1", "b3s", "b5"))
    source = program_source(program)
    assert "block" in source, source
    x = np.array([0.0, 1.0, -2.0])
    b1, b3s, b5 = compile_program(program).function(x, 3)
    expected = [x]
    for _ in range(6):
        expected.append(2 * expected[-1] + 1)
    np.testing.assert_array_equal(b1, expected[2])
    np.testing.assert_array_equal(b3s, expected[4])
    np.testing.assert_array_equal(b5, expected[6])


def test_subarray_statement_is_a_view_of_leading_axes():
    n = sympy.Symbol("n0", integer=True)
    body = (Load("a", "r", (Index(0), Index(1))), Store("y", (Index(0), Index(1)), "a"))
    program = Program(("x0",), (Subarray("r", "x0", (1,)), Alloc("y", "float64", (2, 3)),
                                Loop((2, 3), body)), ("y",))
    assert "r = x0[1]" in program_source(program)
    x = np.arange(12.0).reshape(2, 2, 3)
    (y,) = compile_program(program).function(x)
    np.testing.assert_array_equal(y, x[1])
    del n


# ------------------------------------------------------------------- values

@pytest.fixture(scope="module")
def lstm_functions():
    cost, params, data = lstm(5)
    inputs = data + params
    with pytest.MonkeyPatch.context() as patch:
        import symgrad_codegen.outline
        patch.setattr(symgrad_codegen.outline, "_LEAST_SAVED", 8)
        # not cached: the test counts the compiles of the loop and block functions,
        # which a kernel loaded from the disk cache does not do
        return {backend: Function(inputs, [cost] + sg.grad(cost, params), backend=backend,
                                  cache=False)
                for backend in ("numpy", "numba")}


def test_outlined_lstm_matches_numpy_backend_and_by_hand(lstm_functions):
    rng = np.random.default_rng(5)
    args = [rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4)),
            rng.normal(0, 0.5, (3, 16)), rng.normal(0, 0.5, (4, 16)), rng.normal(0, 0.5, 16)]
    kept = [a.copy() for a in args]
    numba_out = lstm_functions["numba"](*args)
    numpy_out = lstm_functions["numpy"](*args)
    cost, grads = lstm_by_hand(*args)
    for got, ref in zip(numba_out, numpy_out):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(numba_out[0], cost, rtol=1e-12)
    for got, ref in zip(numba_out[1:], grads):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(args, kept):  # the views of x never write into the caller's array
        np.testing.assert_array_equal(a, b)
    assert "block" in lstm_functions["numba"].source
    assert "for t" in lstm_functions["numba"].source  # the steps run in a loop
    if array_intrinsic("writable") is None:
        return  # Numba's public API only: read-only inputs stay read-only
    # every loop and block function compiled once: the caller's read-only arrays
    # are typed writable on entry, like the kernel's own buffers
    namespace = lstm_functions["numba"]._program.function.py_func.__globals__
    outlined = {name: f for name, f in namespace.items() if name.startswith(("loop", "block"))}
    assert outlined and all(len(f.overloads) == 1 for f in outlined.values()), \
        {name: f.signatures for name, f in outlined.items()}


def test_conv_windows_are_read_through_slices_and_reshapes():
    x, W = sg.tensor("x", (2, 3, 9)), sg.tensor("W", (4, 3, 3))
    windows = sg.stack([x[:, :, k:k + 7] for k in range(3)], 0)
    y = sg.tanh(sg.einsum("kbcl,ock->bol", windows, W)).sum()
    outputs = optimize([y] + sg.grad(y, [W]))
    source = program_source(lower([x, W], outputs).program)
    # stacking copies each window once, straight from x (no copy of the slice
    # first, no reshaped buffer); the windows at offsets 1 and 2 share a function
    assert "arrays.reshape(" not in source and len(functions(source)) == 1, source
    assert source.count("x0[") == 1 and source.count("loop0(x0, np.intp(") == 2, source
    rng = np.random.default_rng(0)
    xv, Wv = rng.normal(size=(2, 3, 9)), rng.normal(size=(4, 3, 3))
    numba_y, numba_g = Function([x, W], outputs, backend="numba")(xv, Wv)
    wins = np.stack([xv[:, :, k:k + 7] for k in range(3)], 0)
    t = np.tanh(np.einsum("kbcl,ock->bol", wins, Wv))
    np.testing.assert_allclose(numba_y, t.sum(), rtol=1e-12)
    np.testing.assert_allclose(numba_g, np.einsum("bol,kbcl->ock", 1 - t ** 2, wins),
                               rtol=1e-10)


def test_reshape_between_equal_ranks_is_not_read_as_the_identity():
    W = sg.matrix("W", 2, 3)
    form = sg.reshape(W, (3, 2)).to_sympy()
    values = np.arange(6.0).reshape(2, 3)
    i, j = form.variables
    got = np.array([[float(form.expr.subs({i: a, j: b}).replace(
        lambda e: isinstance(e, sympy.Indexed), lambda e: values[int(e.indices[0]),
                                                                  int(e.indices[1])]))
                     for b in range(2)] for a in range(3)])
    np.testing.assert_array_equal(got, values.reshape(3, 2))


def test_a_loop_over_steps_that_does_not_type_falls_back_to_the_steps_written_out(
        monkeypatch, eager_blocks):
    """Should the loop over repeated steps not type in Numba, the kernel is
    compiled with each step on a line of its own: same results, no error."""
    import symgrad_codegen.outline

    rolled = symgrad_codegen.outline.Outliner._rolled

    def broken(self, *args):
        return rolled(self, *args) + ["    undefined_name_in_the_loop"]

    monkeypatch.setattr(symgrad_codegen.outline.Outliner, "_rolled", broken)
    cost, params, data = lstm(6)
    inputs = data + params
    f = Function(inputs, [cost] + sg.grad(cost, params), backend="numba", cache=False)
    assert "undefined_name_in_the_loop" in f.source
    rng = np.random.default_rng(7)
    args = [rng.normal(size=(6, 2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4)),
            rng.normal(0, 0.5, (3, 16)), rng.normal(0, 0.5, (4, 16)), rng.normal(0, 0.5, 16)]
    got = f(*args)
    assert "undefined_name_in_the_loop" not in f.source and "for t" not in f.source
    cost_by_hand, grads = lstm_by_hand(*args)
    np.testing.assert_allclose(got[0], cost_by_hand, rtol=1e-12)
    for g, ref in zip(got[1:], grads):
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12)


def test_forty_lstm_steps_run_as_loops_with_the_default_threshold():
    """End to end at the default block threshold: 40 steps become loops over
    block functions, and value and gradients match NumPy by hand."""
    cost, params, data = lstm(40)
    inputs = data + params
    f = Function(inputs, [cost] + sg.grad(cost, params), backend="numba")
    rng = np.random.default_rng(11)
    args = [rng.normal(size=(40, 2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4)),
            rng.normal(0, 0.3, (3, 16)), rng.normal(0, 0.3, (4, 16)), rng.normal(0, 0.3, 16)]
    got = f(*args)
    assert "for t" in f.source and "block" in f.source
    cost_by_hand, grads = lstm_by_hand(*args)
    np.testing.assert_allclose(got[0], cost_by_hand, rtol=1e-12)
    for g, ref in zip(got[1:], grads):
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-12)
