"""Saving and resuming: sg.save_params / sg.load_params (.npz keyed by variable name)
and Trainer checkpoints, which resume bit for bit, also in a new process."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
from symgrad.optim import schedules


@pytest.fixture
def backend(request):
    """The backend under test: ``pytest --backend=numba`` (tests/conftest.py) runs the
    trainer tests on the Numba backend (cache on, as the trainer's default)."""
    return request.config.getoption("--backend", default="numpy")


# ---------------------------------------------------------------- save_params / load_params

def test_params_round_trip_exactly_by_variable_and_by_name(tmp_path):
    rng = np.random.default_rng(0)
    E, W, b = sg.matrix("E", "vocab", 3), sg.matrix("W", 3, 2), sg.vector("b", 2, dtype="float32")
    values = {E: rng.normal(size=(7, 3)), W: rng.normal(size=(3, 2)),
              b: rng.normal(size=2).astype(np.float32)}
    before = {k: v.copy() for k, v in values.items()}
    path = tmp_path / "p.npz"
    sg.save_params(path, values)
    for k in values:                                    # the caller's arrays are untouched
        np.testing.assert_array_equal(values[k], before[k])
    with np.load(path, allow_pickle=False) as npz:      # plain NumPy reads it, keyed by name
        assert sorted(npz.files) == ["E", "W", "b"]
        np.testing.assert_array_equal(npz["W"], values[W])
    loaded = sg.load_params(path, [b, E, W])
    assert list(loaded) == [b, E, W]
    for k in values:
        assert loaded[k].dtype == values[k].dtype and np.array_equal(loaded[k], values[k])
        assert loaded[k] is not values[k] and loaded[k].flags.writeable
    # keyed by name: saved and loaded under the same names, unchecked
    sg.save_params(path, {"W": values[W], "b": values[b]})
    by_name = sg.load_params(str(path), ["W"])
    assert list(by_name) == ["W"] and np.array_equal(by_name["W"], values[W])
    # a dict of parameters as `variables`: its keys; other entries of the file are ignored
    assert list(sg.load_params(path, {W: None})) == [W]


def test_a_lossless_dtype_converts_and_a_lossy_one_is_refused(tmp_path):
    w64, w32 = sg.vector("w", 3), sg.vector("w", 3, dtype="float32")
    path = tmp_path / "p.npz"
    sg.save_params(path, {"w": np.array([0.1, 0.2, 0.3], dtype=np.float32)})
    up = sg.load_params(path, [w64])[w64]
    assert up.dtype == np.float64
    np.testing.assert_array_equal(up, np.array([0.1, 0.2, 0.3], dtype=np.float32).astype(np.float64))
    sg.save_params(path, {"w": np.array([0.1, 0.2, 0.3])})
    with pytest.raises(TypeError, match=r"entry 'w' of .* has dtype float64, which does not "
                                        r"convert to float32 without loss"):
        sg.load_params(path, [w32])


def test_missing_and_misshaped_entries_name_the_variable_and_both_shapes(tmp_path):
    path = tmp_path / "p.npz"
    sg.save_params(path, {"E": np.zeros((5, 3)), "F": np.zeros(6), "W": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"no entry for 'V', 'U'; it holds 'E', 'F', 'W'"):
        sg.load_params(path, [sg.vector("V", 2), sg.matrix("W", 3, 2), sg.scalar("U")])
    with pytest.raises(ValueError, match=r"entry 'W' of .* has shape \(3, 2\), but variable 'W' "
                                         r"has shape \(2, 3\)"):
        sg.load_params(path, [sg.matrix("W", 2, 3)])
    with pytest.raises(ValueError, match=r"has shape \(5, 3\), but variable 'E' has shape "
                                         r"\(vocab, 4\)"):
        sg.load_params(path, [sg.matrix("E", "vocab", 4)])
    with pytest.raises(ValueError, match=r"shape \(3, 2\), but variable 'W' has shape \(3,\)"):
        sg.load_params(path, [sg.vector("W", 3)])
    # a named dimension has one size across the variables (E says vocab = 5, F says 6)
    with pytest.raises(ValueError, match=r"entry 'F' .* shape \(6,\), but variable 'F' has shape "
                                         r"\(vocab,\) \(vocab is 5 in 'E'\)"):
        sg.load_params(path, [sg.matrix("E", "vocab", 3), sg.vector("F", "vocab")])
    # ... and within one variable
    with pytest.raises(ValueError, match=r"shape \(3, 2\), but variable 'W' has shape \(n, n\)"):
        sg.load_params(path, [sg.matrix("W", "n", "n")])
    assert sg.load_params(path, [sg.matrix("E", "vocab", 3)])  # a consistent binding loads


def test_save_checks_shapes_names_and_dtypes(tmp_path):
    path = tmp_path / "p.npz"
    W = sg.matrix("W", 3, 2)
    with pytest.raises(ValueError, match=r"the array for parameter 'W' has shape \(2, 3\), but "
                                         r"variable 'W' has shape \(3, 2\)"):
        sg.save_params(path, {W: np.zeros((2, 3))})
    with pytest.raises(ValueError, match="two or more parameters are named 'W'"):
        sg.save_params(path, {W: np.zeros((3, 2)), "W": np.zeros(1)})
    with pytest.raises(ValueError, match="two or more parameters are named 'W'"):
        sg.load_params(path, [W, sg.matrix("W", 3, 2)])
    with pytest.raises(TypeError, match="int and float arrays only"):
        sg.save_params(path, {"o": np.array([{}, None], dtype=object)})
    with pytest.raises(TypeError, match="is not a variable"):
        sg.save_params(path, {W * 2.0: np.zeros((3, 2))})
    with pytest.raises(TypeError, match="a variable or its name"):
        sg.save_params(path, {3: np.zeros(2)})
    assert not path.exists()                            # nothing was written
    # np.savez's own keyword names are ordinary parameter names here
    sg.save_params(path, {"file": np.ones(1), "allow_pickle": np.zeros(1)})
    assert sorted(np.load(path).files) == ["allow_pickle", "file"]


def test_files_with_pickles_or_a_bare_array_are_refused(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, W=np.array([{"code": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        sg.load_params(pickled, ["W"])
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros(2))
    with pytest.raises(ValueError, match="single .npy array, not an .npz parameter file"):
        sg.load_params(bare, ["W"])


def test_a_failed_save_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    sg.save_params(path, {"a": np.arange(3.0)})
    calls = []

    def failing(f, arr, allow_pickle):
        calls.append(arr)
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        sg.save_params(path, {"a": np.ones(3), "b": np.ones(2)})
    monkeypatch.undo()
    assert len(calls) == 1
    np.testing.assert_array_equal(sg.load_params(path, ["a"])["a"], np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]   # no temporary file left


# ---------------------------------------------------------------- Trainer checkpoints

def classification(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.argmax(X @ rng.normal(size=(4, 3)) + rng.normal(size=3) * 0.5, axis=1)
    return X, y.astype(np.int64)


def softmax_regression(backend, frozen_b=False):
    """A trainer (Adam) on softmax regression with an L2 term; W keyed by variable, b by name."""
    X, y = sg.matrix("X", "batch", 4), sg.vector("y", "batch", dtype="int64")
    W, b = sg.matrix("W", 4, 3), sg.vector("b", 3)
    cost = sg.nn.softmax_cross_entropy(X @ W + b, y) + 1e-3 * sg.nn.l2(W)
    rng = np.random.default_rng(1)
    params = {W: rng.normal(size=(4, 3)) * 0.1, "b": rng.normal(size=3) * 0.1}
    trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.05), backend=backend, rng=5,
                         frozen=["b"] if frozen_b else ())
    return trainer, W


SCHEDULE = schedules.step_decay(0.05, factor=0.5, every=3)


def fit(trainer, epochs, data):
    X, y = data
    return trainer.fit({"X": X, "y": y}, epochs=epochs, batch_size=16, schedule=SCHEDULE,
                       progress=False)


def assert_same_run(a, b):
    """Bit-identical parameters, optimiser state, shuffling generator and history."""
    names = [[k.name if isinstance(k, sg.Expr) else k for k in t.params] for t in (a, b)]
    assert names[0] == names[1]       # keyed alike (two trainers' variables are not equal)
    for pa, pb, name in zip(a.params.values(), b.params.values(), names[0]):
        assert np.array_equal(pa, pb), name
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"] and sa["state"].keys() == sb["state"].keys()
    for name in sa["state"]:
        for key, value in sa["state"][name].items():
            assert np.array_equal(value, sb["state"][name][key]), (name, key)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (a.epoch, a.steps) == (b.epoch, b.steps)
    seconds_a, seconds_b = a.history.pop("seconds"), b.history.pop("seconds")
    assert a.history == b.history and len(seconds_a) == len(seconds_b)


def test_two_fits_equal_one_fit_of_their_epochs(backend):
    data = classification()
    straight, _ = softmax_regression(backend)
    fit(straight, 10, data)
    twice, _ = softmax_regression(backend)
    fit(twice, 4, data)
    fit(twice, 6, data)
    assert_same_run(straight, twice)
    assert straight.history["lr"] == [0.05] * 3 + [0.025] * 3 + [0.0125] * 3 + [0.00625]
    # training did move the parameters, and a reseeded fit shuffles differently
    other, _ = softmax_regression(backend)
    fit(other, 4, data)
    other.fit({"X": data[0], "y": data[1]}, epochs=6, batch_size=16, schedule=SCHEDULE, rng=5,
              progress=False)
    assert not np.array_equal(other.params["b"], straight.params["b"])


RESUME = textwrap.dedent("""
    import sys
    import numpy as np
    import symgrad as sg
    from symgrad.optim import schedules
    checkpoint, data, out = sys.argv[1:]
    trainer = sg.Trainer.load(checkpoint)
    with np.load(data) as d:
        trainer.fit({"X": d["X"], "y": d["y"]}, epochs=5, batch_size=16, progress=False,
                    schedule=schedules.step_decay(0.05, factor=0.5, every=3))
    trainer.save(out)
""")


def test_save_then_resume_in_a_new_process_gives_the_same_bits(backend, tmp_path):
    data = classification()
    straight, _ = softmax_regression(backend)
    fit(straight, 10, data)
    first_half, W = softmax_regression(backend)
    fit(first_half, 5, data)
    first_half.save(tmp_path / "epoch5.ckpt")
    np.savez(tmp_path / "data.npz", X=data[0], y=data[1])
    done = subprocess.run([sys.executable, "-c", RESUME, str(tmp_path / "epoch5.ckpt"),
                           str(tmp_path / "data.npz"), str(tmp_path / "epoch10.ckpt")],
                          capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(sg.__file__)))
    assert done.returncode == 0, done.stderr
    resumed = sg.Trainer.load(tmp_path / "epoch10.ckpt")
    assert resumed.backend == backend and resumed.cache is True
    assert type(resumed.optimizer) is sg.optim.Adam and resumed.optimizer.lr == 0.00625
    assert_same_run(straight, resumed)
    assert W in resumed.params         # the variable unpickled in two processes is W again
    assert resumed.history["epoch"] == list(range(10))
    # the first half's trainer and file are as they were: 5 epochs
    assert first_half.epoch == 5 and sg.Trainer.load(tmp_path / "epoch5.ckpt").epoch == 5


def test_a_loaded_trainer_keeps_frozen_parameters_frozen(tmp_path):
    data = classification(n=40)
    trainer, W = softmax_regression("numpy", frozen_b=True)
    b0 = trainer.params["b"].copy()
    fit(trainer, 1, data)
    trainer.save(tmp_path / "t.ckpt")
    resumed = sg.Trainer.load(tmp_path / "t.ckpt")
    assert resumed.frozen == ["b"] and resumed.wrt == [W]
    W1 = resumed.params[W].copy()
    fit(resumed, 2, data)
    np.testing.assert_array_equal(resumed.params["b"], b0)
    assert not np.array_equal(resumed.params[W], W1)


def test_load_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    import pickle
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"epoch": 3}))
    with pytest.raises(ValueError, match="not a checkpoint written by Trainer.save"):
        sg.Trainer.load(path)
