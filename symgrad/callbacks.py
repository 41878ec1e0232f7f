"""Callbacks for ``Trainer.fit(..., callbacks=[...])``: early stopping and checkpoints.

A callback is any object with a method ``on_epoch_end(trainer)``. The trainer
calls it after each epoch, once ``trainer.history`` holds the epoch's row and
``trainer.epoch`` counts the epoch as done. **To stop training, a callback sets
``trainer.stop_training = True``**: the epoch's other callbacks still run (a
checkpoint still saves the last epoch), then ``fit`` returns. Return values are
ignored. A callback's state lasts across ``fit`` calls, so ``fit(epochs=10)``
and ``fit(epochs=5)`` twice see the same sequence.

>>> import numpy as np, symgrad as sg
>>> class StopBelow(sg.callbacks.Callback):
...     def on_epoch_end(self, trainer):
...         if trainer.history["loss"][-1] < 1e-6:
...             trainer.stop_training = True
>>> x, w = sg.vector("x", "batch"), sg.scalar("w")
>>> trainer = sg.Trainer(sg.mean((x - w) ** 2), {w: np.array(0.0)}, sg.optim.SGD(lr=0.5),
...                      backend="numpy")
>>> history = trainer.fit({x: np.full(8, 3.0)}, epochs=100, batch_size=8, progress=False,
...                       callbacks=[StopBelow()])
>>> len(history["epoch"]), float(trainer.params[w])   # one step per epoch: w = 3 at once
(2, 3.0)
"""
import os

import numpy as np

MONITORED = ("loss", "validation")
MODES = ("min", "max")


class Callback:
    """Base class for callbacks: ``on_epoch_end`` does nothing until overridden.

    >>> import symgrad as sg
    >>> sg.callbacks.Callback().on_epoch_end(None) is None
    True
    """

    def on_epoch_end(self, trainer):
        """Called after each epoch; set ``trainer.stop_training = True`` to stop."""


class _Best:
    """The best value so far of one history column, ``"loss"`` (the epoch's mean
    training loss) or ``"validation"`` (what ``fit``'s ``validate`` returned)."""

    def __init__(self, monitor, mode, min_delta):
        if monitor not in MONITORED:
            raise ValueError(f"monitor must be one of {MONITORED}, got {monitor!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be 'min' (lower is better, a loss) or 'max' (higher is "
                             f"better, an accuracy), got {mode!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.value = None

    def improved(self, trainer):
        """Whether the epoch just finished beats the best by more than ``min_delta``
        (the first epoch always does); it becomes the best if so."""
        value = trainer.history[self.monitor][-1]
        if value is None:
            raise ValueError(f"a callback monitors {self.monitor!r}, but fit was given no "
                             "validate=; pass validate=function(params) -> float, or "
                             "monitor='loss'")
        if self.value is None:
            better = True
        elif self.mode == "min":
            better = value < self.value - self.min_delta
        else:
            better = value > self.value + self.min_delta
        if better:
            self.value = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    ``monitor`` is ``"validation"`` (the default; ``fit`` needs ``validate=``)
    or ``"loss"``; ``mode="min"`` when lower is better, ``"max"`` when higher
    is (an accuracy). An epoch improves when it beats the best so far by more
    than ``min_delta``. With ``restore_best=True``, stopping copies the best
    epoch's parameters back into the parameter arrays (in place). Afterwards
    ``best`` is the best value, ``best_epoch`` its epoch and ``stopped_epoch``
    the epoch after which training stopped (None while it has not).

    >>> import numpy as np, symgrad as sg
    >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
    >>> trainer = sg.Trainer(sg.mean((x - w) ** 2), {w: np.array(0.0)}, sg.optim.SGD(lr=0.1),
    ...                      backend="numpy")
    >>> scores = iter([0.5, 0.7, 0.6, 0.7, 0.9])       # say, a validation accuracy
    >>> stop = sg.callbacks.EarlyStopping(patience=2, mode="max")
    >>> history = trainer.fit({x: [1.0, 2.0]}, epochs=5, validate=lambda p: next(scores),
    ...                       callbacks=[stop], progress=False)
    >>> history["validation"], stop.best, stop.best_epoch, stop.stopped_epoch
    ([0.5, 0.7, 0.6, 0.7], 0.7, 1, 3)
    """

    def __init__(self, monitor="validation", patience=5, min_delta=0.0, mode="min",
                 restore_best=False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self._best = _Best(monitor, mode, min_delta)
        self.patience, self.restore_best = patience, restore_best
        self.wait, self.best_epoch, self.stopped_epoch = 0, None, None
        self._best_params = None

    @property
    def best(self):
        """The best monitored value so far (None before the first epoch)."""
        return self._best.value

    def on_epoch_end(self, trainer):
        if self._best.improved(trainer):
            self.wait, self.best_epoch = 0, trainer.history["epoch"][-1]
            if self.restore_best:
                self._best_params = {k: np.array(trainer.params[k]) for k in trainer.trainable}
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training = True
            self.stopped_epoch = trainer.history["epoch"][-1]
            if self.restore_best:
                for k, value in self._best_params.items():
                    trainer.params[k][...] = value


class Checkpoint(Callback):
    """Save the trainer (``trainer.save``) every ``every`` epochs, or at each new best.

    ``path`` may hold ``{epoch}``, replaced by the number of epochs done (so
    ``"run/epoch{epoch}.ckpt"`` keeps one file per save; a plain path is
    overwritten, atomically). With ``monitor`` (``"loss"`` or ``"validation"``)
    it saves only after epochs that improve on the best so far (``mode`` and
    ``min_delta`` as in :class:`EarlyStopping`), which keeps the best model;
    ``every`` is then not used. ``saved`` lists the paths written, in order.
    ``sg.Trainer.load(path)`` resumes from a file.

    >>> import os, tempfile, numpy as np, symgrad as sg
    >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
    >>> trainer = sg.Trainer(sg.mean((x - w) ** 2), {"w": np.array(0.0)}, sg.optim.SGD(lr=0.1),
    ...                      backend="numpy")
    >>> folder = tempfile.mkdtemp()
    >>> keep = sg.callbacks.Checkpoint(os.path.join(folder, "epoch{epoch}.ckpt"), every=2)
    >>> _ = trainer.fit({x: [1.0, 2.0]}, epochs=5, callbacks=[keep], progress=False)
    >>> [os.path.basename(p) for p in keep.saved]
    ['epoch2.ckpt', 'epoch4.ckpt']
    >>> sg.Trainer.load(keep.saved[-1]).epoch
    4
    """

    def __init__(self, path, every=1, monitor=None, mode="min", min_delta=0.0):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.path, self.every = os.fspath(path), every
        self._best = None if monitor is None else _Best(monitor, mode, min_delta)
        self.saved = []

    def on_epoch_end(self, trainer):
        if self._best is None:
            due = trainer.epoch % self.every == 0
        else:
            due = self._best.improved(trainer)
        if due:
            path = self.path.format(epoch=trainer.epoch)
            trainer.save(path)
            self.saved.append(path)
