"""codegen.numba_internals, the one door to Numba's private API: what it
detects, and that every public fallback (forced with
``$SYMGRAD_NUMBA_PUBLIC_API=1``, or taken because a private piece is missing
or different) computes exactly what the private path computes: a BLAS
product, a gather, reductions and their gradients (scatter-add, zeros,
reshapes), a scalar kernel called through ``call_floats``, and the array
operations' edge cases."""
import pickle
import types

import numba
import numpy as np
import pytest

import symgrad as sg
from symgrad_codegen import arrays, cache_folder, compiler, numba_internals
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from kernel_programs import scaled_square
from symgrad.numba_backend import NumbaProgram

ENV = numba_internals.ENVIRONMENT_VARIABLE
RNG = np.random.default_rng(12)
POINT = (RNG.normal(size=(6, 4)), RNG.normal(size=(4, 3)), RNG.normal(size=(10, 3)),
         np.array([3, 0, 9, 3, 5]))


def _graph():
    """Inputs and outputs: a matmul, a gather, reductions, and the gradient
    of a cost built from them."""
    X, W, E = sg.matrix("X", 6, 4), sg.matrix("W", 4, 3), sg.matrix("E", 10, 3)
    idx = sg.vector("idx", 5, dtype="int64")
    product, rows = X @ W, E[idx]
    cost = sg.tanh(product).sum() + (rows * rows).mean() + rows.max()
    return [X, W, E, idx], [product, rows, product.max(axis=0), cost,
                            *sg.grad(cost, [W, E])]


def _compiled_outputs(public):
    """The graph's outputs at POINT, compiled (without the disk cache) with
    the public path forced or not."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, "1" if public else "0")
        inputs, outputs = _graph()
        return sg.function(inputs, outputs, backend="numba", cache=False)(*POINT)


@pytest.fixture(scope="module")
def private_outputs():
    return _compiled_outputs(public=False)


@pytest.fixture
def redetect():
    """Probe the features again in the test, and once more after it."""
    numba_internals.redetect()
    yield
    numba_internals.redetect()


def _hide(monkeypatch, hidden):
    """Make the door see Numba without some private pieces: ``hidden`` maps a
    module name to the attributes it lacks (None: the whole module)."""
    real = numba_internals._module

    def module(name):
        found = real(name)
        if name not in hidden or found is None:
            return found
        if hidden[name] is None:
            return None
        return types.SimpleNamespace(**{k: v for k, v in vars(found).items()
                                        if k not in hidden[name]})

    monkeypatch.setattr(numba_internals, "_module", module)


def _assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)  # bit for bit, not just close


def test_this_numba_has_every_private_feature_and_the_variable_turns_them_off(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert set(numba_internals.features()) == set(numba_internals.FEATURES)
    if numba.version_info[:2] <= (0, 68):  # the releases the door was checked against
        assert numba_internals.features() == dict.fromkeys(numba_internals.FEATURES, True)
    monkeypatch.setenv(ENV, "1")
    assert numba_internals.features() == dict.fromkeys(numba_internals.FEATURES, False)
    assert all(map(numba_internals.detected, numba_internals.FEATURES))  # still detected
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ValueError, match="SYMGRAD_NUMBA_PUBLIC_API is 'yes': set it to 1"):
        numba_internals.features()
    with pytest.raises(ValueError, match="unknown feature 'jit'"):
        numba_internals.uses("jit")


def test_the_public_path_computes_what_the_private_path_computes(private_outputs):
    inputs, outputs = _graph()
    want = sg.function(inputs, outputs, backend="numpy")(*POINT)
    for got, reference in zip(private_outputs, want):
        np.testing.assert_allclose(got, reference, rtol=1e-13, atol=1e-15)
    _assert_same(_compiled_outputs(public=True), private_outputs)


def test_the_public_path_uses_no_private_piece(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "1")
    assert {name: getattr(arrays, name) for name in ("empty", "full", "reshape", "matmul",
                                                      "matmul_into", "writable")} == arrays._PUBLIC
    compiled = compiler.compile_program(scaled_square(3.0), str(tmp_path))
    np.testing.assert_array_equal(compiled.function(np.arange(3.0), 3)[0], [0.0, 3.0, 12.0])
    assert numba_internals.cache_index_path(compiled.function) is None
    assert not list(tmp_path.glob("__pycache__/*.nb*"))  # Numba wrote nothing: no pickles
    x, y = sg.scalar("x"), sg.scalar("y")
    program = NumbaProgram([x, y], [x * y - y], cache=False)
    assert program.call_floats((1.5, 2.0)) == program.call_floats((1.5, 2.0)) == [1.0]
    assert program._entry is program.function  # the dispatcher, not an overload's entry


def test_the_private_path_calls_the_overload_and_caches_signed_files(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "0")
    assert arrays.matmul is numba_internals._matmul and arrays.view is numba_internals._reshape
    compiled = compiler.compile_program(scaled_square(3.0), str(tmp_path))
    compiled.function(np.arange(3.0), 3)
    assert numba_internals.cache_index_path(compiled.function).endswith(".nbi")
    x, y = sg.scalar("x"), sg.scalar("y")
    program = NumbaProgram([x, y], [x * y - y], cache=False)
    assert program.call_floats((1.5, 2.0)) == program.call_floats((1.5, 2.0)) == [1.0]
    (overload,) = program.function.overloads.values()
    assert program._entry is overload.entry_point


@pytest.mark.parametrize("hidden, off", [
    ({"numba.core.caching": {"FunctionCache"}}, {"kernel_cache"}),
    ({"numba.core.caching": None}, {"kernel_cache", "fast_cache_load"}),
    ({"numba.core.runtime": {"rtsys"}}, {"fast_cache_load"}),
    ({"numba.core.compiler": {"CompileResult"}}, {"entry_point"}),
    ({"numba.np.arrayobj": {"populate_array"}}, {"array_intrinsics"}),
    ({"numba.core.runtime.context": {"NRTContext"}}, {"array_intrinsics"}),
    ({"numba.np.linalg": {"call_xxgemm"}}, {"blas_gemm"}),
    ({"numba.core.cpu": {"CPUTargetOptions"}}, {"bare_callees"}),
    # a Numba that colours messages (NOPColorScheme is its class for not colouring)
    # some other way than ColorShell
    ({"numba.core.errors": {"ColorShell", "NOPColorScheme"}}, {"streams_left_alone"}),
])
def test_a_missing_private_piece_turns_off_its_features_only(monkeypatch, redetect, hidden, off):
    monkeypatch.setenv(ENV, "0")
    _hide(monkeypatch, hidden)
    assert numba_internals.features() == {f: f not in off for f in numba_internals.FEATURES}


def test_without_colorama_numba_swaps_no_streams_so_none_are_replaced(monkeypatch, redetect):
    # Numba without colorama defines NOPColorScheme and no ColorShell: nothing to replace
    monkeypatch.setenv(ENV, "0")
    real = numba_internals._module
    attributes = {k: v for k, v in vars(real("numba.core.errors")).items() if k != "ColorShell"}
    attributes.setdefault("NOPColorScheme", object)
    errors = types.SimpleNamespace(**attributes)
    monkeypatch.setattr(numba_internals, "_module",
                        lambda name: errors if name == "numba.core.errors" else real(name))
    assert numba_internals.uses("streams_left_alone")
    assert numba_internals.leave_streams_alone() and not hasattr(errors, "ColorShell")


def test_a_changed_private_piece_turns_off_its_feature(monkeypatch, redetect):
    monkeypatch.setenv(ENV, "0")
    from numba.core import caching
    from numba.np import linalg

    class IndexWithoutVersion(caching.IndexDataCacheFile):
        def _save_index(self, overloads):  # another index format than _load_index reads
            with self._open_for_write(self._index_path) as f:
                pickle.dump((self._source_stamp, overloads), f)

    changed_caching = types.SimpleNamespace(**vars(caching))
    changed_caching.IndexDataCacheFile = IndexWithoutVersion
    changed_linalg = types.SimpleNamespace(**vars(linalg))
    changed_linalg.call_xxgemm = lambda *args: linalg.call_xxgemm(*args)  # other parameters
    real = numba_internals._module
    changed = {"numba.core.caching": changed_caching, "numba.np.linalg": changed_linalg}
    monkeypatch.setattr(numba_internals, "_module", lambda name: changed.get(name) or real(name))
    assert not numba_internals.uses("kernel_cache") and not numba_internals.uses("blas_gemm")
    assert numba_internals.uses("fast_cache_load") and numba_internals.uses("array_intrinsics")


def test_without_any_private_piece_the_results_are_the_same(monkeypatch, redetect,
                                                             private_outputs):
    monkeypatch.setenv(ENV, "0")
    _hide(monkeypatch, {"numba.core.caching": None, "numba.core.runtime": None,
                        "numba.core.compiler": None, "numba.np.arrayobj": None,
                        "numba.np.linalg": None, "numba.core.cpu": None,
                        "numba.core.errors": None, "numba.core.funcdesc": None})
    assert not any(numba_internals.features().values())
    monkeypatch.setattr(compiler, "_loaded", {})  # not the private path's kernel again
    inputs, outputs = _graph()
    _assert_same(sg.function(inputs, outputs, backend="numba", cache=False)(*POINT),
                 private_outputs)


@pytest.mark.parametrize("public", [False, True])
def test_array_operations_on_edge_cases(monkeypatch, public):
    monkeypatch.setenv(ENV, "1" if public else "0")

    @numba.njit
    def operations(a, b, n):
        return (arrays.matmul(a, b), arrays.matmul(b.T, a.T), arrays.full((n, 2), 0, np.int64),
                arrays.full((n,), -np.inf, np.float32), arrays.empty((n, 3), np.float64).shape,
                arrays.reshape(a, (a.shape[0] * a.shape[1], 1)))

    for m, k, n in [(3, 0, 2), (0, 4, 2), (3, 4, 0), (5, 4, 3)]:
        a, b = RNG.normal(size=(m, k)), RNG.normal(size=(k, n))
        product, transposed, zeros, infs, shape, column = operations(a, b, n)
        np.testing.assert_array_equal(product, np.dot(a, b))
        np.testing.assert_array_equal(transposed, np.dot(b.T, a.T))
        assert product.flags.c_contiguous and transposed.flags.c_contiguous
        assert zeros.dtype == np.int64 and not zeros.any() and zeros.shape == (n, 2)
        assert infs.dtype == np.float32 and (infs == -np.inf).all() and infs.shape == (n,)
        assert shape == (n, 3)
        assert np.shares_memory(column, a) or a.size == 0
        np.testing.assert_array_equal(column, a.reshape(-1, 1))


def test_a_signed_but_damaged_numba_file_is_a_load_failure_and_recompiles(monkeypatch,
                                                                         tmp_path):
    monkeypatch.setenv(ENV, "0")
    program = scaled_square(5.0)
    compiler.compile_program(program, str(tmp_path)).function(np.arange(3.0), 3)
    secret = cache_folder.secret(str(tmp_path.resolve()))
    (data,) = tmp_path.glob("__pycache__/*.nbc")
    cache_folder.write_signed(str(data), secret, b"numba " + data.name.encode(),
                              pickle.dumps(("not", "a compiled kernel")))
    monkeypatch.setattr(compiler, "_loaded", {})  # as a new process: load from the disk
    damaged = compiler.compile_program(program, str(tmp_path))
    with pytest.raises(numba_internals.CacheLoadError, match="could not be loaded") as failure:
        damaged.function(np.arange(3.0), 3)
    assert numba_internals.is_cache_load_failure(failure.value)
    try:
        raise RuntimeError("while handling it") from failure.value
    except RuntimeError as chained:
        assert numba_internals.is_cache_load_failure(chained)
    assert not numba_internals.is_cache_load_failure(ValueError("unrelated"))
    fresh = compiler.recompile(damaged)
    np.testing.assert_array_equal(fresh.function(np.arange(3.0), 3)[0], [0.0, 5.0, 20.0])
