"""Tiered execution (``sg.function(..., tiered=True)``, issue 13 part 3).

Until the kernel is compiled (on the one background compile thread), calls
run on the NumPy backend; then on the kernel. The background compile is made
observable by holding it at a gate (``_gate``): while it is held, every call
must come from the NumPy tier. Results of both tiers are checked against
NumPy formulas written here, not against symgrad.

Every test compiles into its own empty cache folder (``fresh_cache``): equal
programs share one Numba dispatcher per process and cache folder, and a
tiered function whose kernel some earlier test compiled would start on it.
"""
import contextlib
import importlib
import io
import sys
import threading
import time
import types

import numpy as np
import pytest

import symgrad as sg

function_module = importlib.import_module("symgrad.function")  # the module, not sg.function
numba_backend = importlib.import_module("symgrad.numba_backend")

WAIT = 120  # seconds: a bound for a compile on a loaded machine, never reached when all is well


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def gates():
    """``gates(f)`` holds ``f``'s background compile until its ``release`` is
    set (all are released at the end, so no held compile blocks the thread)."""
    made = []

    def gate(f, fail=None):
        kernel = _kernel(f)
        g = types.SimpleNamespace(release=threading.Event(), started=threading.Event(),
                                  compiles=0)
        compile_for = kernel.compile_for

        def held(signature):
            g.compiles += 1
            g.started.set()
            assert g.release.wait(WAIT)
            if fail is not None:
                raise fail
            compile_for(signature)
        kernel.compile_for = held
        made.append(g)
        return g

    yield gate
    for g in made:
        g.release.set()


def _kernel(f):
    """The NumbaProgram behind ``f`` (a Function or ValueAndGrad)."""
    program = getattr(f, "_function", f)._program
    return getattr(program, "kernel", program)


def _count_kernel_calls(f):
    """A list that gets one entry per call served by ``f``'s kernel."""
    kernel, served = _kernel(f), []
    run = kernel._run

    def counted(args, retry=True):
        served.append(1)
        return run(args, retry)
    kernel._run = counted
    return served


# ------------------------------------------------------------------ a small model


def _mlp(tiered=True):
    """Cost and gradients of softmax cross-entropy on tanh(X W + b)."""
    X, y = sg.matrix("X", "batch", 5), sg.vector("y", "batch", dtype="int64")
    W, b = sg.matrix("W", 5, 3), sg.vector("b", 3)
    h = sg.tanh(X @ W + b)
    loss = sg.nn.softmax_cross_entropy(h * 2.0, y)
    return sg.value_and_grad(loss, [W, b], inputs=[X, y, W, b], tiered=tiered)


def _mlp_data(seed, batch=7):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 5)), rng.integers(0, 3, batch), rng.normal(size=(5, 3)),
            rng.normal(size=3)]


def _mlp_by_hand(X, y, W, b):
    t = np.tanh(X @ W + b)
    z = 2.0 * t
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rows = np.arange(len(y))
    loss = -np.log(p[rows, y]).mean()
    d = p.copy()
    d[rows, y] -= 1
    d = d / len(y) * 2.0 * (1 - t ** 2)
    return loss, [X.T @ d, d.sum(0)]


def _assert_mlp(result, data):
    loss, (gW, gb) = result
    want_loss, (want_gW, want_gb) = _mlp_by_hand(*data)
    assert type(loss) is np.float64
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(gW, want_gW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, want_gb, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ the two tiers


def test_calls_run_on_numpy_until_the_kernel_is_compiled_then_on_it(gates):
    vg = _mlp()
    assert vg.tiered and not vg.compiled
    assert _kernel(vg).job is None  # nothing compiles before the first call
    gate, served = gates(vg), _count_kernel_calls(vg)
    for seed in range(3):
        data = _mlp_data(seed, batch=4 + seed)
        _assert_mlp(vg(*data), data)
    assert gate.started.wait(WAIT)
    assert not vg.compiled and served == []  # every call so far: the NumPy tier
    gate.release.set()
    assert vg.wait_compiled(timeout=WAIT) is True
    assert vg.compiled
    for seed in range(3, 6):
        data = _mlp_data(seed, batch=seed)
        _assert_mlp(vg(*data), data)
    assert served == [1, 1, 1]  # the kernel served every call after the switch
    assert gate.compiles == 1
    # compiled once, for the types of the first call: no compile at the switch
    assert len(_kernel(vg).function.overloads) == 1


def test_both_tiers_give_the_same_numbers(gates):
    vg = _mlp()
    gate = gates(vg)
    data = _mlp_data(11, batch=9)
    numpy_tier = vg(*data)
    gate.release.set()
    vg.wait_compiled(WAIT)
    kernel_tier = vg(*data)
    np.testing.assert_allclose(kernel_tier[0], numpy_tier[0], rtol=1e-12)
    for got, want in zip(kernel_tier[1], numpy_tier[1]):
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_float_scalars_take_both_tiers_through_the_short_path(gates):
    x, y = sg.scalar("x"), sg.scalar("y")
    f = sg.function([x, y], [x * sg.exp(y), sg.tanh(x - y)], tiered=True)
    gate = gates(f)
    floats = []
    call_floats = _kernel(f).call_floats
    _kernel(f).call_floats = lambda values: floats.append(1) or call_floats(values)

    def check(a, b):
        got = f(a, b)
        assert [type(g) for g in got] == [np.float64, np.float64]
        np.testing.assert_allclose(got, [a * np.exp(b), np.tanh(a - b)], rtol=1e-15)

    check(0.5, -1.25)
    check(np.float64(2.0), 0.75)
    assert not f.compiled and floats == []
    gate.release.set()
    assert f.wait_compiled(WAIT)
    check(0.5, -1.25)
    check(np.float64(2.0), 0.75)
    assert floats == [1, 1]
    assert len(_kernel(f).function.overloads) == 1


def test_the_numpy_tier_is_made_only_when_tiered_and_first_needed():
    x = sg.vector("x", "n")
    plain = sg.function([x], (x * x).sum(), tiered=False)
    assert not plain.tiered
    assert type(plain._program).__name__ == "NumbaProgram"
    tiered = sg.function([x], (x * x).sum(), tiered=True)
    assert tiered._program._numpy is None


# ------------------------------------------------------------------ errors


def test_a_failed_background_compile_is_raised_by_the_next_call(gates):
    vg = _mlp()
    gate = gates(vg, fail=RuntimeError("the compiler broke"))
    data = _mlp_data(1)
    _assert_mlp(vg(*data), data)  # the NumPy tier, while the compile runs
    gate.release.set()
    _kernel(vg).job.done.wait(WAIT)
    with pytest.raises(RuntimeError, match="the compiler broke") as info:
        vg(*data)
    if sys.version_info >= (3, 11):  # where exceptions have notes
        assert "background compile thread" in "".join(info.value.__notes__)
    # then no silent NumPy forever: calls compile the kernel themselves, as untiered
    _assert_mlp(vg(*data), data)
    assert vg.compiled


def test_a_failed_background_compile_is_raised_by_wait_compiled(gates):
    vg = _mlp()
    gate = gates(vg, fail=ValueError("no kernel today"))
    data = _mlp_data(2)
    vg(*data)
    gate.release.set()
    with pytest.raises(ValueError, match="no kernel today"):
        vg.wait_compiled(WAIT)
    del _kernel(vg).compile_for  # the gate: the compiler works again
    assert vg.wait_compiled(WAIT)  # a new compile, not the failed one's error again
    _assert_mlp(vg(*data), data)


def test_an_error_raised_in_the_kernel_itself_reaches_the_caller(gates, monkeypatch):
    # a real compile error (not a patched one): the kernel's module names a
    # function Numba cannot compile
    x = sg.vector("x", 3)
    f = sg.function([x], (x * 3.0).sum(), tiered=True)
    kernel = _kernel(f)
    broken = kernel.function.py_func.__globals__
    for name in [n for n in broken if n.startswith("loop")] + ["arrays", "np", "math"]:
        if name in broken:
            monkeypatch.setitem(broken, name, object())  # typing fails on opaque objects
    assert f([1.0, 2.0, 3.0]) == 18.0
    kernel.job.done.wait(WAIT)
    with pytest.raises(Exception, match="(?i)typ|object|untyped|cannot determine") as info:
        f([1.0, 2.0, 3.0])
    assert type(info.value).__module__.startswith("numba")


def test_wait_compiled_times_out_while_the_compile_is_held(gates):
    vg = _mlp()
    gate = gates(vg)
    vg(*_mlp_data(3))
    start = time.perf_counter()
    assert vg.wait_compiled(timeout=0.05) is False
    assert time.perf_counter() - start < 2.0
    assert not vg.compiled
    gate.release.set()
    assert vg.wait_compiled(timeout=WAIT) is True


# ------------------------------------------------------------------ wait_compiled


@pytest.mark.parametrize("tiered", [False, True])
def test_wait_compiled_before_any_call_compiles_for_the_calls_types(tiered):
    vg = _mlp(tiered=tiered)
    assert not vg.compiled
    assert vg.wait_compiled(WAIT) and vg.compiled
    data = _mlp_data(4)
    _assert_mlp(vg(*data), data)
    assert len(_kernel(vg).function.overloads) == 1  # the call found the declared types


def _declared_graphs():
    x, k = sg.scalar("x"), sg.scalar("k", dtype="int64")
    v32 = sg.vector("v", "n", dtype="float32")
    E, idx = sg.matrix("E", "vocab", 2), sg.vector("idx", "batch", dtype="int64")
    T = sg.tensor("T", ("a", 2, "b"))
    return {
        "float scalars": ([x], [x * 2.0], [1.5]),
        "int scalar": ([x, k], [x * k], [1.5, 3]),
        "float32 vector": ([v32], [v32 * v32], [np.ones(4, np.float32)]),
        "gather with index checks": ([E, idx], [E[idx].sum()], [np.ones((5, 2)), [0, 4, 1]]),
        "rank 3, named sizes": ([T], [T.sum()], [np.ones((2, 2, 3))]),
        "a strided argument": ([T], [T * 2.0], [np.ones((3, 2, 4))[::2]]),
    }


@pytest.mark.parametrize("name", list(_declared_graphs()))
def test_the_declared_signature_is_the_one_every_call_passes(name):
    inputs, outputs, args = _declared_graphs()[name]
    f = sg.function(inputs, outputs, tiered=False)
    kernel = _kernel(f)
    arrays, bindings = f._arguments(args, {})
    assert kernel.declared_signature() == kernel.signature(
        kernel.kernel_arguments(arrays, bindings)[0])


def test_wait_compiled_after_an_untiered_call_returns_at_once():
    x = sg.vector("x", 2)
    f = sg.function([x], sg.exp(x).sum(), tiered=False)
    assert not f.compiled
    f([0.0, 1.0])
    assert f.compiled
    assert f.wait_compiled(timeout=0) is True


def test_the_numpy_backend_has_nothing_to_compile():
    x = sg.vector("x", 2)
    f = function_module.Function([x], sg.exp(x).sum(), backend="numpy", tiered=True)
    assert not f.tiered and not f.compiled
    assert f.wait_compiled(timeout=0) is True


def test_tiered_must_be_none_true_or_false():
    x = sg.scalar("x")
    with pytest.raises(ValueError, match="tiered"):
        sg.function([x], x, tiered="yes")


# ------------------------------------------------------------------ same errors in both tiers


def _lookup(tiered):
    E, idx = sg.matrix("E", "vocab", 2), sg.vector("idx", "batch", dtype="int64")
    w = sg.vector("w", 2)
    return sg.function([E, idx, w], [(E[idx] @ w).sum(), E.max()], tiered=tiered)


BAD_INDICES = [[0, 6], [-1], [2, -3, 9]]


def _index_errors(f, E, w):
    messages = []
    for bad in BAD_INDICES:
        with pytest.raises(IndexError) as info:
            f(E, np.array(bad), w)
        messages.append(str(info.value))
    return messages


def test_an_out_of_range_index_raises_the_same_error_in_both_tiers(gates):
    untiered, tiered = _lookup(False), _lookup(True)
    gate = gates(tiered)
    E, w = np.arange(12.0).reshape(6, 2), np.array([1.0, -0.5])
    got = tiered(E, [1, 5], w)
    np.testing.assert_allclose(got, [(E[[1, 5]] @ w).sum(), 11.0], rtol=1e-15)
    numpy_tier = _index_errors(tiered, E, w)
    assert not tiered.compiled
    gate.release.set()
    assert tiered.wait_compiled(WAIT)
    assert numpy_tier == _index_errors(tiered, E, w) == _index_errors(untiered, E, w)
    assert [m.split(" is ")[0] for m in numpy_tier] == ["index 6", "index -1", "index -3"]
    assert all("out of range [0, 6)" in m for m in numpy_tier)


def test_an_empty_max_raises_the_same_error_in_both_tiers(gates):
    untiered, tiered = _lookup(False), _lookup(True)
    gates(tiered)
    messages = []
    for f in (tiered, untiered):
        with pytest.raises(sg.ShapeError) as info:
            f(np.zeros((0, 2)), np.zeros(0, np.int64), np.ones(2))
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "empty" in messages[0]
    assert not tiered.compiled


# ------------------------------------------------------------------ threads


def test_threads_calling_one_tiered_function_get_right_results(gates):
    vg = _mlp()
    gate = gates(vg)
    threads, calls, errors = 4, 12, []
    start = threading.Barrier(threads)

    def work(t):
        try:
            start.wait()
            for c in range(calls):
                if t == 0 and c == calls // 2:
                    gate.release.set()  # the switch happens while the others call
                data = _mlp_data(100 * t + c, batch=3 + c % 4)
                _assert_mlp(vg(*data), data)
        except Exception as e:  # reported below
            errors.append((t, e))

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors
    assert vg.wait_compiled(WAIT)
    assert gate.compiles == 1  # one compile, whatever the number of first calls
    data = _mlp_data(7)
    _assert_mlp(vg(*data), data)


def test_kernels_compile_one_after_another_on_one_thread(gates):
    x = sg.scalar("x")
    first, second = _mlp(), sg.function([x], x * 4.0, tiered=True)
    gate_first, gate_second = gates(first), gates(second)
    gate_second.release.set()
    first(*_mlp_data(5))
    assert second(0.25) == 1.0
    assert gate_first.started.wait(WAIT)
    time.sleep(0.05)
    assert not gate_second.started.is_set()  # queued behind the first compile
    assert [t.name for t in threading.enumerate()].count("symgrad-compile") == 1
    gate_first.release.set()
    assert second.wait_compiled(WAIT) and first.wait_compiled(WAIT)


# ------------------------------------------------------------------ tiered=None


def _tiered_default(backend="numba"):
    x = sg.scalar("x")
    return function_module.Function([x], x * 2.0, backend=backend).tiered


def test_scripts_and_tests_are_not_tiered_by_default(monkeypatch):
    monkeypatch.delattr(sys, "ps1", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not function_module.interactive_session()
    assert _tiered_default() is False


def test_the_interactive_prompt_turns_tiers_on(monkeypatch):
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    assert function_module.interactive_session()
    assert _tiered_default() is True
    assert _tiered_default(backend="numpy") is False


def test_python_dash_i_turns_tiers_on(monkeypatch):
    monkeypatch.delattr(sys, "ps1", raising=False)
    monkeypatch.setattr(sys, "flags", types.SimpleNamespace(interactive=1))
    assert _tiered_default() is True


@pytest.mark.parametrize("shell, expected", [(object(), True), (None, False)])
def test_an_ipython_shell_turns_tiers_on_but_an_imported_ipython_does_not(
        monkeypatch, shell, expected):
    monkeypatch.delattr(sys, "ps1", raising=False)
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert _tiered_default() is expected


def test_tiered_false_wins_in_an_interactive_session(monkeypatch):
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    x = sg.scalar("x")
    assert not sg.function([x], x * 2.0, tiered=False).tiered
    assert not sg.value_and_grad(x * x, x, inputs=[x], tiered=False).tiered


def test_a_background_compile_leaves_the_callers_stdout_alone():
    """Numba colours its messages through colorama, which swaps sys.stdout for a
    moment thousands of times per compile; on the compile thread that would
    undo the caller's own redirections (a doctest's, a notebook cell's): every
    print of the caller's thread must land where it redirected it."""
    from symgrad_codegen import numba_internals
    if not numba_internals.uses("streams_left_alone"):
        pytest.skip("Numba's public API only: its compile swaps sys.stdout (see "
                    "codegen.numba_internals, streams_left_alone)")
    from models import lstm
    cost, params, data = lstm(2)
    vg = sg.value_and_grad(cost, params, inputs=data + params, cache=False, tiered=True)
    rng = np.random.default_rng(0)
    vg(*[rng.normal(size=v.shape) for v in data + params])  # queues the compile
    prints = lost = 0
    while not vg.wait_compiled(timeout=0):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            time.sleep(0.002)  # the compile thread runs meanwhile
            print("x")
        prints += 1
        lost += buffer.getvalue() != "x\n"
    assert prints > 20 and lost == 0, (prints, lost)
