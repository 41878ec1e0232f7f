"""Hostile inputs: every bad argument is a clear Python exception, no array changes.

Each call-time case runs on both backends with one compiled function per
backend (module fixtures), and checks that the arguments are byte-for-byte
unchanged afterwards. Build-time mistakes raise at once. Hostile variable,
dimension and op names cannot inject code into the generated source.
"""
import importlib
import os

import numpy as np
import pytest
import sympy

import symgrad as sg
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

Function = importlib.import_module("symgrad.function").Function  # not rerouted by --backend
BACKENDS = ["numpy", "numba"]


def _model():
    """An embedding lookup and a layer: E[idx] @ W + b, with named dimensions."""
    E = sg.matrix("E", "vocab", "dim")
    idx = sg.vector("idx", "batch", dtype="int64")
    W = sg.matrix("W", "dim", 3)
    b = sg.vector("b", 3)
    h = sg.tanh(E[idx] @ W + b)
    cost = (h * h).sum()
    return [E, idx, W, b], [h, cost] + sg.grad(cost, [E, W, b])


def _reference(E, idx, W, b):
    """The same model in NumPy, gradients derived by hand."""
    with np.errstate(all="ignore"):
        return _reference_values(E, idx, W, b)


def _reference_values(E, idx, W, b):
    h = np.tanh(E[idx] @ W + b)
    d = 2 * h * (1 - h * h)
    gE = np.zeros_like(E)
    np.add.at(gE, idx, d @ W.T)
    return [h, (h * h).sum(), gE, E[idx].T @ d, d.sum(0)]


@pytest.fixture(scope="module", params=BACKENDS)
def model(request):
    inputs, outputs = _model()
    return Function(inputs, outputs, backend=request.param)


def _arguments(rng, vocab=5, dim=4, batch=6):
    return [rng.normal(size=(vocab, dim)), rng.integers(0, vocab, batch),
            rng.normal(size=(dim, 3)), rng.normal(size=3)]


def _call_unchanged(f, args, kwargs=None):
    """f(*args, **kwargs), asserting afterwards that no argument array changed."""
    before = [np.array(a, copy=True) for a in list(args) + list((kwargs or {}).values())
              if isinstance(a, np.ndarray)]
    try:
        return f(*args, **(kwargs or {}))
    finally:
        after = [a for a in list(args) + list((kwargs or {}).values())
                 if isinstance(a, np.ndarray)]
        for x, y in zip(before, after):
            np.testing.assert_array_equal(x, y, err_msg="an argument array was modified")


def _assert_matches_reference(outs, args):
    for got, want in zip(outs, _reference(*[np.asarray(a) for a in args])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ call time: bad arguments

def test_valid_call_matches_the_numpy_reference(model):
    args = _arguments(np.random.default_rng(0))
    _assert_matches_reference(_call_unchanged(model, args), args)


def test_wrong_count(model):
    args = _arguments(np.random.default_rng(1))
    with pytest.raises(TypeError, match="takes 4 argument"):
        _call_unchanged(model, args + [args[0]])
    with pytest.raises(TypeError, match="missing argument.*b"):
        _call_unchanged(model, args[:3])


def test_unknown_and_repeated_keywords(model):
    args = _arguments(np.random.default_rng(2))
    with pytest.raises(TypeError, match="unknown argument 'bias'.*E, idx, W, b"):
        _call_unchanged(model, args[:3], {"bias": args[3]})
    with pytest.raises(TypeError, match="'E' given twice"):
        _call_unchanged(model, args, {"E": args[0]})


@pytest.mark.parametrize("position, bad", [
    (0, np.array([[object()] * 4] * 5, dtype=object)),
    (0, np.ones((5, 4), dtype=np.complex128)),
    (0, np.full((5, 4), "1.0")),
    (0, np.ones((5, 4), dtype=bool)),
    (1, np.ones(6, dtype=bool)),
    (1, np.ones(6, dtype=np.float64)),
    (1, np.ones(6, dtype=np.uint64)),
    (3, "abc"),
    (3, None),
    (3, {"b": 1}),
    (3, [1.0, [2.0, 3.0]]),
], ids=["object", "complex", "strings", "bool-float", "bool-index", "float-index",
        "uint64-index", "str", "None", "dict", "ragged"])
def test_wrong_dtype_is_a_type_error_naming_the_argument(model, position, bad):
    args = _arguments(np.random.default_rng(3))
    args[position] = bad
    name = ["E", "idx", "W", "b"][position]
    with pytest.raises(TypeError, match=f"argument for '{name}'"):
        _call_unchanged(model, args)


def test_symbolic_expression_as_argument_is_a_type_error(model):
    args = _arguments(np.random.default_rng(4))
    args[3] = sg.vector("b", 3)
    with pytest.raises(TypeError, match="symbolic expression"):
        model(*args)


@pytest.mark.parametrize("position, shape, message", [
    (0, (5,), "'E'.*1 dimension.*expected 2"),
    (2, (4, 3, 1), "'W'.*3 dimension.*expected 2"),
    (3, (), "'b'.*0 dimension.*expected 1"),
    (3, (4,), "'b'.*axis 0 must be 3, got 4"),
    (2, (4, 2), "'W'.*axis 1 must be 3, got 2"),
    (2, (7, 3), "named dimension dim is 4 in 'E'.*7 in 'W'"),
])
def test_wrong_rank_size_or_named_dimension_is_a_shape_error(model, position, shape, message):
    args = _arguments(np.random.default_rng(5))
    args[position] = np.ones(shape, dtype=args[position].dtype)
    with pytest.raises(sg.ShapeError, match=message):
        _call_unchanged(model, args)


@pytest.mark.parametrize("bad", [5, 6, 10 ** 12, -1, -5, np.iinfo(np.int64).min])
def test_out_of_range_or_negative_gather_index_is_an_index_error(model, bad):
    args = _arguments(np.random.default_rng(6))
    args[1][3] = bad
    with pytest.raises(IndexError, match=f"index {bad} is out of range \\[0, 5\\)"):
        _call_unchanged(model, args)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [3, -1, 2 ** 40])
def test_out_of_range_label_in_a_loss_is_an_index_error(backend, bad):
    S, y = sg.matrix("S", "batch", 3), sg.vector("y", "batch", dtype="int64")
    loss = sg.nn.softmax_cross_entropy(S, y)
    f = Function([S, y], [loss, sg.grad(loss, S)], backend=backend)
    labels = np.array([0, 2, bad, 1])
    with pytest.raises(IndexError, match=f"index {bad} is out of range \\[0, 3\\)"):
        _call_unchanged(f, [np.zeros((4, 3)), labels])


def test_views_with_strides_negative_steps_and_read_only_arrays_work(model):
    rng = np.random.default_rng(7)
    big_E = rng.normal(size=(10, 8))
    E = big_E[::-2, 1::2]                      # non-contiguous, negative stride
    idx = np.arange(12)[::-2] % 5              # negative-stride index vector
    W = np.asfortranarray(rng.normal(size=(4, 3)))
    b = rng.normal(size=6)[::2]
    for a in (big_E, W, b):
        a.flags.writeable = False
    args = [E, idx, W, b]
    _assert_matches_reference(_call_unchanged(model, args), args)


def test_outputs_are_fresh_writable_arrays(model):
    args = _arguments(np.random.default_rng(8))
    h, _, gE, gW, gb = model(*args)
    for out in (h, gE, gW, gb):
        assert out.flags.writeable and not any(np.shares_memory(out, a) for a in args)


def test_empty_batch_and_empty_dimensions_work(model):
    rng = np.random.default_rng(9)
    empty_batch = _arguments(rng, batch=0)
    _assert_matches_reference(_call_unchanged(model, empty_batch), empty_batch)
    empty_dim = _arguments(rng, dim=0)
    _assert_matches_reference(_call_unchanged(model, empty_dim), empty_dim)


def test_empty_vocabulary_with_indices_is_an_index_error(model):
    args = _arguments(np.random.default_rng(10))
    args[0] = np.zeros((0, 4))
    with pytest.raises(IndexError, match=r"out of range \[0, 0\)"):
        _call_unchanged(model, args)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_max_over_an_empty_named_axis_is_a_clear_error(backend):
    # a fixed empty axis is a build-time ShapeError; a named one bound to 0 at
    # call time must be one too, naming the expression (not a silent -inf)
    x = sg.vector("x", "n")
    f = Function([x], [x.max(), sg.softmax(x)], backend=backend)
    with pytest.raises(sg.ShapeError, match="max.*empty.*'x'"):
        _call_unchanged(f, [np.zeros(0)])


def test_nan_and_inf_propagate_and_never_crash(model):
    args = _arguments(np.random.default_rng(11))
    args[0][args[1][0], 1] = np.nan
    args[2][2, 0] = np.inf
    h, cost, gE, gW, gb = _call_unchanged(model, args)
    ref = _reference(*args)
    with np.errstate(invalid="ignore"):
        for got, want in zip([h, cost, gE, gW, gb], ref):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-12,
                                       atol=1e-12)
    assert np.isnan(cost)


# ------------------------------------------------------------------ build time

def test_mismatched_shapes_fail_at_build_time_naming_both():
    a, b = sg.matrix("a", 2, 3), sg.matrix("bb", 3, 2)
    with pytest.raises(sg.ShapeError, match=r"'a'.*\(2, 3\).*'bb'.*\(3, 2\)|"
                                            r"a \(2, 3\).*bb \(3, 2\)"):
        a + b
    with pytest.raises(sg.ShapeError, match="inner dimensions differ"):
        a @ a
    with pytest.raises(sg.ShapeError):
        sg.concatenate([a, b], axis=0)


def test_gradient_with_respect_to_an_integer_is_an_error():
    x, i = sg.vector("x", 3), sg.scalar("i", dtype="int64")
    with pytest.raises(TypeError, match="'i'"):
        sg.grad((x * i).sum(), i)


def test_non_scalar_cost_is_a_value_error_naming_it():
    x = sg.vector("x", 3)
    with pytest.raises(ValueError, match="0-d cost"):
        sg.grad(x * 2, x)


def test_cycle_is_a_cycle_error():
    a = sg.scalar("a")
    b = sg.sin(a)
    c = sg.exp(b)
    original = b.inputs
    object.__setattr__(b, "inputs", (c,))  # only reachable by bypassing immutability
    try:
        with pytest.raises(sg.CycleError):
            sg.grad(c, a)
        with pytest.raises(sg.CycleError):
            Function([a], c, backend="numpy")
    finally:
        object.__setattr__(b, "inputs", original)


@pytest.mark.parametrize("fn, name", [
    (lambda t: sympy.gamma(t), "gamma"),
    (lambda t: sympy.besselj(0, t), "besselj"),
    (lambda t: sympy.Function("mystery")(t), "mystery"),
    (lambda t: sympy.zeta(t), "zeta"),
])
def test_unsupported_sympy_function_is_named(fn, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        sg.elementwise(fn, name="custom")


def test_formula_with_a_free_symbol_or_complex_value_is_rejected():
    with pytest.raises(ValueError, match="not its arguments"):
        sg.elementwise(lambda t: t * sympy.Symbol("k"))
    with pytest.raises(TypeError, match="real"):
        sg.elementwise(lambda t: t * sympy.I)


# ------------------------------------------------------------------ hostile names

HOSTILE = [
    'x"); import os; #',
    "__import__('os')",
    "x'); open('PWNED', 'w'); ('",
    "x\nimport os\nos.system('true')",
    "kernel",
    "np",
    "math",
    "select",
    "x0",
    "n0",
    "c0",
    "é名",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_variable_names_cannot_inject_code(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a payload that ran would create PWNED here
    xs = [sg.vector(name, "n") for name in HOSTILE]
    total = sum(sg.sin(x) * (k + 1) for k, x in enumerate(xs))
    cost = total.sum()
    f = Function(xs, [cost] + sg.grad(cost, xs), backend=backend)
    values = [np.linspace(-1, 1, 4) + k for k in range(len(xs))]
    cost_v, *grads = f(*values)
    want = sum(np.sin(v) * (k + 1) for k, v in enumerate(values)).sum()
    np.testing.assert_allclose(cost_v, want, rtol=1e-13)
    for k, (g, v) in enumerate(zip(grads, values)):
        np.testing.assert_allclose(g, (k + 1) * np.cos(v), rtol=1e-13)
    by_name = f(**{name: v for name, v in zip(HOSTILE, values)})
    np.testing.assert_allclose(by_name[0], want, rtol=1e-13)
    assert not os.path.exists(tmp_path / "PWNED")
    if backend == "numba":
        for name in HOSTILE[:4]:
            assert name not in f.source and "os" not in f.source.split()


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_dimension_and_op_names_cannot_inject_code(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="identifier"):
        sg.vector("x", 'n"); import os; #')
    x = sg.vector("x", "__import__")          # an identifier, still only a dimension name
    y = sg.matrix("y", "__import__", "kernel")
    op = sg.elementwise(lambda t: t * t + 1, name="op'); open('PWNED', 'w'); ('")
    cost = (op(x) + (y * y).mean(axis=1)).sum()
    f = Function([x, y], [cost, sg.grad(cost, x)], backend=backend)
    xv, yv = np.arange(3.0), np.ones((3, 2))
    cost_v, gx = f(xv, yv)
    np.testing.assert_allclose(cost_v, (xv * xv + 1 + 1).sum(), rtol=1e-14)
    np.testing.assert_allclose(gx, 2 * xv, rtol=1e-14)
    assert not os.path.exists(tmp_path / "PWNED")
    if backend == "numba":
        assert "__import__" not in f.source and "PWNED" not in f.source
