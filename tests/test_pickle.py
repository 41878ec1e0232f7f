"""Copying and pickling expressions and compiled functions (issue 15, item 1).

Expressions copy as themselves; a pickle rebuilds every node (equal to the
original in the same process, named as it was, shared nodes shared) and is
written flat, so a graph deeper than the recursion limit pickles. Variables
keep their identity across processes. A pickled function loads its kernel from
the disk cache in a new process instead of compiling it.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.function import Function
from symgrad.graph import toposort
from symgrad.numpy_backend import NumpyProgram
from symgrad.ops import PRIMITIVES, Constant

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - backends chosen here
from test_primitives import CASES

RNG = np.random.default_rng(15)


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


def test_copies_of_an_expression_are_the_expression():
    w = sg.vector("w", 2)
    y = w * 2.0
    assert copy.copy(y) is y and copy.deepcopy(y) is y
    params = {w: np.zeros(2)}
    copied = copy.deepcopy(params)
    (key, value), = copied.items()
    assert key is w
    assert value is not params[w]  # the arrays are copied, the variable is not
    np.testing.assert_array_equal(value, [0.0, 0.0])


def _random(x):
    """A random array for variable ``x``, a named dimension bound to 3."""
    return RNG.standard_normal(tuple(d if isinstance(d, int) else 3 for d in x.shape))


@pytest.mark.parametrize("cls,case", [(cls, c) for cls, cs in CASES.items() for c in cs],
                         ids=lambda p: p.__name__ if isinstance(p, type) else p[0])
def test_every_primitive_pickles_and_evaluates_as_before(cls, case):
    _, x, ints, out = case
    outputs = [out]
    if out.dtype.startswith("float"):
        outputs.append(sg.grad((out * out).sum(), x))  # the adjoint ops as well
    inputs = [x, *ints]
    inputs2, outputs2 = _roundtrip((inputs, outputs))
    assert inputs2 == inputs and outputs2 == outputs
    assert {type(n.op) for n in toposort(outputs2)} >= {cls}
    arrays = [_random(x), *ints.values()]  # the cases pick valid indices
    want = Function(inputs, outputs, backend="numpy")(*arrays)
    got = Function(inputs2, outputs2, backend="numpy")(*arrays)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_the_cases_above_cover_every_primitive():
    assert set(PRIMITIVES) <= set(CASES)


def test_a_formula_a_constant_array_and_a_named_dimension_pickle():
    softplus = sg.elementwise(lambda t: sympy.log(1 + sympy.exp(t)), name="softplus")
    x = sg.matrix("x", "m", 3)
    c = np.array([0.5, -1.0, 2.0])
    y = softplus(x) * sg.constant(c)
    x2, y2 = _roundtrip((x, y))
    assert y2 == y and x2.shape == x.shape and str(x2.shape[0]) == "m"
    const = next(n.op for n in toposort([y2]) if isinstance(n.op, Constant))
    assert not const.value.flags.writeable  # rebuilt as read-only as the original
    xs = np.array([[-3.0, 0.0, 4.0], [1.0, 2.0, -0.5]])
    got = Function([x2], y2, backend="numpy")(xs)
    np.testing.assert_allclose(got, np.log1p(np.exp(xs)) * c, rtol=1e-15)


def test_names_survive_and_shared_nodes_stay_shared_objects():
    x = sg.vector("x", 3)
    a, b = x + 1.0, x + 1.0  # equal nodes, distinct objects with their own names
    a.name, b.name = "a", "b"
    y = sg.concatenate([a, b, a * 2.0])
    y.name = "y"
    y2, a2, x2 = _roundtrip([y, a, x])
    assert (y2.name, a2.name) == ("y", "a") and y2 == y
    first, second, doubled = y2.inputs
    assert first is a2 and doubled.inputs[0] is a2  # one object, as before pickling
    assert second.name == "b" and second is not a2 and second == a2
    assert a2.inputs[0] is x2 and second.inputs[0] is x2
    xs = np.array([1.0, 2.0, -3.0])
    np.testing.assert_array_equal(Function([x2], y2, backend="numpy")(xs),
                                  np.concatenate([xs + 1, xs + 1, (xs + 1) * 2]))


def test_a_graph_deeper_than_the_recursion_limit_pickles():
    depth = max(20000, 10 * sys.getrecursionlimit())  # some libraries raise the limit
    x = sg.vector("x", 3)
    step = sg.elementwise(lambda a, b: a * 1.0001 + b, name="step")
    y = step(-x, x)
    y.name = "bottom"
    for _ in range(depth - 1):
        y = y.op(y, x)  # the same op on a new input: quicker to build than step(y, x)
    x2, y2 = _roundtrip((x, y))
    assert y2 == y
    nodes = toposort([y2])
    assert len(nodes) == depth + 2  # x, -x and the chain
    assert nodes[2].name == "bottom" and nodes[2].inputs[1] is x2
    xs = np.array([1.0, -2.0, 0.5])
    want = -xs
    for _ in range(depth):
        want = want * 1.0001 + xs
    got, = NumpyProgram([x2], [y2])([xs], {})  # node by node: no fusion of 20000 formulas
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_variable_keeps_its_identity_in_another_process():
    x = sg.vector("x", 3)
    y = (x * 3.0).sum()
    script = textwrap.dedent("""
        import pickle, sys
        import numpy as np, symgrad as sg
        x, y = pickle.loads(sys.stdin.buffer.read())
        fresh = sg.vector("x", 3)  # the first variable made here
        f = sg.function([x], y, backend="numpy")
        print(fresh == x, fresh in sg.ops.free_inputs([y]), f(np.array([1.0, 2.0, 4.0])))
    """)
    done = subprocess.run([sys.executable, "-c", script], input=pickle.dumps((x, y)),
                          capture_output=True, cwd=os.path.dirname(os.path.dirname(sg.__file__)))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["False", "False", "21.0"]


def test_the_kernel_cache_key_does_not_depend_on_the_variables_identity():
    def kernel_key():
        x = sg.vector("x", "n")
        f = Function([x], sg.tanh(x).sum(), backend="numba", cache=False, tiered=False)
        return x.op.uid, f._program.compiled.key  # made, not compiled (that is lazy)

    (uid1, key1), (uid2, key2) = kernel_key(), kernel_key()
    assert uid1 != uid2 and key1 == key2


@pytest.fixture(scope="module")
def warm_pickles(tmp_path_factory):
    """A function and a value_and_grad, each called once with the disk cache in a
    fresh folder (so their kernels are compiled and saved there), pickled, with
    their arguments and results."""
    folder = tmp_path_factory.mktemp("cache")
    saved = os.environ.get("SYMGRAD_CACHE_DIR")
    os.environ["SYMGRAD_CACHE_DIR"] = str(folder)
    try:
        X, W = sg.matrix("X", "batch", 5), sg.matrix("W", 5, 3)
        labels = sg.vector("labels", "batch", dtype="int64")
        cost = sg.nn.softmax_cross_entropy(sg.tanh(X @ W), labels)
        f = Function([X, W, labels], [cost, sg.tanh(X @ W)], backend="numba", tiered=False)
        vg = sg.value_and_grad(cost, [W], inputs=[X, W, labels], backend="numba", tiered=False)
        args = (RNG.standard_normal((8, 5)), RNG.standard_normal((5, 3)), np.arange(8) % 3)
        results = (f(*args), vg(*args))
    finally:
        if saved is None:
            del os.environ["SYMGRAD_CACHE_DIR"]
        else:
            os.environ["SYMGRAD_CACHE_DIR"] = saved
    for g in (f, vg._function):
        stats = g._program.function.stats
        assert (sum(stats.cache_hits.values()), sum(stats.cache_misses.values())) == (0, 1)
    return folder, pickle.dumps((f, vg, args)), results


def test_a_pickled_function_loads_its_kernel_in_a_new_process_without_compiling(warm_pickles):
    folder, data, (f_out, (vg_cost, vg_grads)) = warm_pickles
    script = textwrap.dedent("""
        import pickle, sys
        f, vg, args = pickle.loads(sys.stdin.buffer.read())  # imports symgrad
        results = (f(*args), vg(*args))
        counts = [(sum(g._program.function.stats.cache_hits.values()),
                   sum(g._program.function.stats.cache_misses.values()))
                  for g in (f, vg._function)]
        sys.stdout.buffer.write(pickle.dumps((counts, results, repr(f))))
    """)
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(folder))
    done = subprocess.run([sys.executable, "-c", script], input=data, env=env,
                          capture_output=True, cwd=os.path.dirname(os.path.dirname(sg.__file__)))
    assert done.returncode == 0, done.stderr.decode()
    counts, (f_got, (cost_got, grads_got)), text = pickle.loads(done.stdout)
    assert counts == [(1, 0), (1, 0)]  # loaded from the disk cache, not compiled
    assert text.startswith("<sg.function (X: float64[batch, 5], W: float64[5, 3], "
                           "labels: int64[batch]) -> [")
    for a, b in zip(f_got + [cost_got] + grads_got, f_out + [vg_cost] + vg_grads):
        np.testing.assert_array_equal(a, b)


def test_an_unpickled_function_keeps_its_options():
    x = sg.vector("x", 3)
    f = Function(x, (x * x).sum(), backend="numpy")
    g = _roundtrip(f)
    assert (g.backend, g.cache, g.single, g.inputs) == ("numpy", True, True, [x])
    assert g(np.array([1.0, 2.0, 3.0])) == 14.0
    h = _roundtrip(Function([x], [x * 2.0], backend="numba", cache=False, tiered=True))
    assert (h.backend, h.cache, h.tiered, h.single) == ("numba", False, True, False)
