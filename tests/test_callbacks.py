"""Trainer callbacks: on_epoch_end and trainer.stop_training, sg.callbacks.EarlyStopping
(on constructed validation sequences) and sg.callbacks.Checkpoint (files that resume)."""
import numpy as np
import pytest

import symgrad as sg


@pytest.fixture
def backend(request):
    """``pytest --backend=numba`` (tests/conftest.py) runs these trainers on Numba too."""
    return request.config.getoption("--backend", default="numpy")


def regression(backend, lr=0.05):
    """Least squares on 64 examples: a trainer (SGD with momentum) and its data."""
    X, y, w = sg.matrix("X", "batch", 3), sg.vector("y", "batch"), sg.vector("w", 3)
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(64, 3))
    data = {"X": Xv, "y": Xv @ [1.0, -2.0, 0.5] + rng.normal(size=64) * 0.1}
    trainer = sg.Trainer(sg.nn.mse(X @ w, y), {"w": np.zeros(3)},
                         sg.optim.SGD(lr=lr, momentum=0.5), backend=backend, rng=0)
    return trainer, data


class Scripted:
    """A ``validate`` that returns the next value of ``values`` and keeps a copy of
    the parameters it was shown (the parameters after each epoch)."""

    def __init__(self, values):
        self.values, self.seen = list(values), []

    def __call__(self, params):
        self.seen.append(params["w"].copy())
        return self.values[len(self.seen) - 1]


def test_early_stopping_stops_after_patience_epochs_without_improvement(backend):
    trainer, data = regression(backend)
    # min_delta 0.02: 0.79 and 0.69 do not improve on 0.8 and 0.7 by more than that
    validate = Scripted([1.0, 0.8, 0.79, 0.85, 0.7, 0.75, 0.72, 0.69] + [0.1] * 12)
    stop = sg.callbacks.EarlyStopping(patience=3, min_delta=0.02, restore_best=True)
    history = trainer.fit(data, epochs=20, batch_size=16, validate=validate, callbacks=[stop],
                          progress=False)
    assert history["epoch"] == list(range(8)) and trainer.epoch == 8
    assert (stop.best, stop.best_epoch, stop.stopped_epoch, stop.wait) == (0.7, 4, 7, 3)
    # the best epoch's parameters are back in the parameter array, in place
    assert not np.array_equal(validate.seen[7], validate.seen[4])
    np.testing.assert_array_equal(trainer.params["w"], validate.seen[4])


def test_early_stopping_in_max_mode_without_restoring(backend):
    trainer, data = regression(backend)
    validate = Scripted([0.5, 0.6, 0.6, 0.55, 0.9])
    stop = sg.callbacks.EarlyStopping(patience=2, mode="max")
    trainer.fit(data, epochs=5, validate=validate, callbacks=[stop], progress=False)
    assert trainer.epoch == 4 and stop.best == 0.6 and stop.stopped_epoch == 3
    np.testing.assert_array_equal(trainer.params["w"], validate.seen[-1])


def test_early_stopping_on_the_training_loss_and_across_fit_calls(backend):
    # lr 0: the loss stays the same (to rounding: each epoch sums in a new order), so
    # only the first epoch improves by more than min_delta
    trainer, data = regression(backend, lr=0.0)
    stop = sg.callbacks.EarlyStopping(monitor="loss", patience=4, min_delta=1e-9)
    trainer.fit(data, epochs=2, callbacks=[stop], progress=False)
    assert not trainer.stop_training and stop.wait == 1
    trainer.fit(data, epochs=10, callbacks=[stop], progress=False)   # the count goes on
    assert trainer.epoch == 5 and stop.stopped_epoch == 4 and stop.best_epoch == 0
    assert trainer.history["loss"][-1] == pytest.approx(trainer.history["loss"][0], rel=1e-12)


def test_stop_training_ends_the_epoch_after_every_callback_ran():
    trainer, data = regression("numpy")
    calls = []

    class StopAtTwo(sg.callbacks.Callback):
        def on_epoch_end(self, t):
            calls.append(("stop", t.epoch))
            t.stop_training = t.epoch == 2

    class Record(sg.callbacks.Callback):
        def on_epoch_end(self, t):
            calls.append(("record", t.epoch, len(t.history["loss"])))
    trainer.fit(data, epochs=10, callbacks=[StopAtTwo(), Record()], progress=False)
    assert calls == [("stop", 1), ("record", 1, 1), ("stop", 2), ("record", 2, 2)]
    trainer.fit(data, epochs=1, callbacks=[Record()], progress=False)   # a new fit trains again
    assert trainer.epoch == 3 and not trainer.stop_training


def test_bad_callbacks_and_arguments():
    trainer, data = regression("numpy")
    with pytest.raises(TypeError, match="on_epoch_end.*got function"):
        trainer.fit(data, callbacks=[lambda t: True], progress=False)
    with pytest.raises(ValueError, match="monitors 'validation', but fit was given no validate="):
        trainer.fit(data, callbacks=[sg.callbacks.EarlyStopping()], progress=False)
    assert trainer.epoch == 1          # the epoch ran; the callback raised after it
    with pytest.raises(ValueError, match="patience must be an int >= 0"):
        sg.callbacks.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'min'"):
        sg.callbacks.EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="monitor must be one of"):
        sg.callbacks.Checkpoint("x.ckpt", monitor="accuracy")
    with pytest.raises(ValueError, match="min_delta must be >= 0"):
        sg.callbacks.EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        sg.callbacks.Checkpoint("x.ckpt", every=0)


def test_checkpoint_files_exist_and_resume_to_the_same_bits(backend, tmp_path):
    trainer, data = regression(backend)
    keep = sg.callbacks.Checkpoint(tmp_path / "epoch{epoch}.ckpt", every=2)
    trainer.fit(data, epochs=5, batch_size=16, callbacks=[keep], progress=False)
    assert keep.saved == [str(tmp_path / "epoch2.ckpt"), str(tmp_path / "epoch4.ckpt")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch2.ckpt", "epoch4.ckpt"]
    resumed = sg.Trainer.load(keep.saved[0])
    assert resumed.epoch == 2 and resumed.steps == 8
    resumed.fit(data, epochs=2, batch_size=16, progress=False)
    at_four = sg.Trainer.load(keep.saved[1])
    assert np.array_equal(resumed.params["w"], at_four.params["w"])
    assert resumed.history["loss"] == at_four.history["loss"]
    assert not np.array_equal(at_four.params["w"], trainer.params["w"])   # epoch 5 moved on


def test_checkpoint_of_the_best_epoch(tmp_path):
    trainer, data = regression("numpy")
    validate = Scripted([0.5, 0.7, 0.6, 0.65])
    best = sg.callbacks.Checkpoint(tmp_path / "best.ckpt", monitor="validation", mode="max")
    trainer.fit(data, epochs=4, validate=validate, callbacks=[best], progress=False)
    assert best.saved == [str(tmp_path / "best.ckpt")] * 2       # after epochs 0 and 1
    kept = sg.Trainer.load(tmp_path / "best.ckpt")
    assert kept.epoch == 2 and kept.history["validation"] == [0.5, 0.7]
    np.testing.assert_array_equal(kept.params["w"], validate.seen[1])
