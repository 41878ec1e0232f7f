"""The training loop: ``sg.Trainer`` and its one-call form ``sg.train``.

A trainer compiles its training step once: the cost, its gradients (dense
for most parameters, row-sparse for embeddings used only through gathers
when the optimiser applies sparse rows) and, when the optimiser has
``.updates`` (every ``sg.optim`` optimiser does), the optimiser's update of
the parameters and of its own state, all in one kernel that writes the
parameter arrays in place (``sg.function(..., updates=...)``). An optimiser
without ``.updates`` (a user's subclass) gets the gradients back and applies
them with ``.step``. The trainer runs shuffled minibatches per epoch, sets the
learning rate from a schedule (the optimiser's ``lr`` is a shared variable
the kernel reads, so nothing recompiles), records a history for plotting,
shows a progress bar (a widget in Jupyter, via ``tqdm.auto``) and calls
callbacks (``sg.callbacks``) after each epoch. It stops with
``FloatingPointError`` naming the parameter as soon as the cost or a gradient
is not finite, without applying that step.

The parameter arrays are the model's state: they are updated in place. The
trainer owns the rest (optimiser state, epoch, step count, the shuffling
generator, the history), so training resumes exactly where it stopped: in the
next ``fit`` call, or from a checkpoint (``save`` / ``load``) in another process.
"""
import math
import os
import pickle
import time

import numpy as np
from tqdm import tqdm

from .autodiff import grad
from .checkpoint import write_atomically
from .elementwise_ops import eq, isfinite, where
from .function import function
from .graph import Expr, substitute
from .ops import SetRows, free_inputs
from .optim.optimizers import Optimizer
from .optim.sparse import SparseRows, gathers_of, sparse_grad
from .shared import array_of, shared


def _resolve(key, inputs, what):
    """The input variable that ``key`` (a variable or a name) stands for."""
    if isinstance(key, Expr):
        if key in inputs:
            return key
    else:
        named = [x for x in inputs if x.name == key]
        if len(named) == 1:
            return named[0]
    names = ", ".join(repr(x.name) for x in inputs)
    label = key.describe() if isinstance(key, Expr) else repr(key)
    raise ValueError(f"{what} {label} is not an input of the cost; its inputs are {names}")


CHECKPOINT_FORMAT = "symgrad.Trainer checkpoint 1"


def _has_updates(optimizer):
    """Whether ``optimizer.updates`` computes what its ``.step`` does: its class
    defines the symbolic update no higher in the class hierarchy than the
    NumPy one. So a user's subclass that defines only ``_update`` (or ``step``)
    is trained by ``.step``, also when it derives from a built-in optimiser."""
    mro = type(optimizer).__mro__

    def nearest(*methods):  # how many classes up the nearest definition is
        return min(i for i, c in enumerate(mro) for m in methods if m in vars(c))
    return nearest("updates", "_dense_updates") <= nearest("step", "_update")


def _ownable(array, var):
    """Whether the compiled step can update ``array`` in place as ``var``'s value:
    the kernel takes a C-contiguous array of the variable's dtype as it is."""
    return array.dtype == np.dtype(var.dtype) and array.flags.c_contiguous


def _own(var, array):
    """Make ``array`` itself (not a copy) the shared variable ``var``'s array."""
    var.set_value(array)           # checks the shape (named dimensions too) and dtype
    var.op.storage.array = array


def _shared_over(var, array):
    """A shared variable standing for the parameter ``var`` whose array is
    ``array`` itself, so the compiled step updates the caller's array."""
    owner = shared(array, name=var.name, shape=var.shape, dtype=var.dtype)
    _own(owner, array)
    return owner


def _guarded(ok, target, new):
    """The update of ``target`` to ``new`` where ``ok`` is 1, else to its own value.
    A row update (the rows a batch touched set into the target) stays one: its
    rows are guarded, so no table-sized array is written."""
    if isinstance(new.op, SetRows) and new.inputs[0] == target:
        _, index, rows = new.inputs
        return SetRows()(target, index, where(ok, rows, target[index]))
    return where(ok, new, target)


def _count_non_finite(g):
    """The number of non-finite values in ``g``, a 0-d expression."""
    return (1.0 - isfinite(g)).sum()


def _progress_bar(progress, total):
    """A progress bar over ``total`` steps: a widget in Jupyter, text elsewhere, or
    a disabled one. ``tqdm.auto`` is imported only to show a bar: in a notebook
    without ipywidgets its import warns, which every ``import symgrad`` would do."""
    if not progress:
        return tqdm(disable=True)
    from tqdm.auto import tqdm as auto_tqdm
    return auto_tqdm(total=total, desc="training", unit="step")


class Trainer:
    """Minibatch training of ``cost`` over ``params`` with ``optimizer``.

    ``params`` maps each parameter (a variable or its name) to its initial
    array, which is updated in place; ``frozen`` lists parameters that keep
    their values (their gradients are never computed). Every other input of
    ``cost`` is data, given to :meth:`fit` with examples along axis 0.
    ``backend`` is "numba" (compiled once, the default) or "numpy" (the
    reference); ``cache`` as in :func:`sg.function <symgrad.function>`.

    The training step is one compiled function (``compiled_step`` is True):
    cost, gradients and the optimiser's ``.updates``, which write the arrays of
    ``params`` (they become shared variables' arrays; a new array put in
    ``params`` later is taken up at the next step) and the optimiser's state
    in place; the learning rate is read at each call, so a schedule compiles
    nothing. A step whose cost or gradients are not all finite writes nothing.
    The trainer falls back to computing the gradients and applying them with
    ``optimizer.step`` (``compiled_step`` is False; same results, slower) for a
    user's optimiser class that redefines ``.step`` but not ``.updates``, and
    for a parameter array that is not C-contiguous or not of its variable's
    dtype (which the kernel cannot write in place).
    ``rng`` (a ``numpy.random.Generator`` or a seed; None: fresh entropy)
    shuffles the examples. The trainer keeps it, with the epoch, the step
    count, the optimiser's state and the history, across :meth:`fit` calls:
    ``fit(epochs=10)`` and ``fit(epochs=5)`` twice give the same bits, and
    :meth:`save` / :meth:`load` carry all of it to another process.

    ``client`` (a ``dask.distributed.Client``): synchronous data-parallel
    training on its cluster. Each step's batch is split in one chunk per
    worker; the workers compute the chunks' costs and gradients with the
    compiled function (see ``sg.distributed``), the client combines them as
    the whole batch's (the cost must be a sum or mean over the batch) and
    applies ``optimizer.step``. The results are those of training in one
    process up to the order of summation. The client is not saved by
    :meth:`save`. Example (a test runs it)::

        client = dask.distributed.Client(LocalCluster(n_workers=2, threads_per_worker=1))
        trainer = sg.Trainer(cost, params, sg.optim.Adam(lr=0.01), client=client)
        trainer.fit({X: Xv, y: yv}, epochs=5, batch_size=1024)

    >>> import numpy as np, symgrad as sg
    >>> X, y = sg.matrix("X", "batch", 2), sg.vector("y", "batch")
    >>> w = sg.vector("w", 2)
    >>> params = {w: np.zeros(2)}
    >>> trainer = sg.Trainer(sg.nn.mse(X @ w, y), params, sg.optim.SGD(lr=0.1), rng=0)
    >>> Xv = np.random.default_rng(0).normal(size=(100, 2))
    >>> history = trainer.fit({X: Xv, y: Xv @ [2.0, -1.0]}, epochs=20, batch_size=10,
    ...                       progress=False)
    >>> np.round(params[w], 4), history["loss"][-1] < 1e-8, trainer.compiled_step
    (array([ 2., -1.]), True, True)
    """

    def __init__(self, cost, params, optimizer, frozen=(), backend="numba", cache=True,
                 rng=None, client=None):
        if not isinstance(cost, Expr) or cost.ndim != 0:
            raise ValueError(f"Trainer needs a 0-d cost expression, got "
                             f"{cost.describe() if isinstance(cost, Expr) else cost!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Trainer needs an sg.optim optimiser (e.g. sg.optim.Adam()), got "
                            f"{type(optimizer).__name__}")
        inputs = free_inputs([cost])
        self.cost, self.params, self.optimizer = cost, params, optimizer
        self._vars = {key: _resolve(key, inputs, "parameter") for key in params}
        frozen_vars = {_resolve(key, inputs, "frozen parameter") for key in frozen}
        if not frozen_vars <= set(self._vars.values()):
            raise ValueError("every frozen parameter must also be in params (with its value)")
        self.frozen = [k for k, v in self._vars.items() if v in frozen_vars]
        self.trainable = [k for k in self._vars if k not in self.frozen]
        for k in self.trainable:
            p = params[k]
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                raise TypeError(f"the value of parameter {self._vars[k].name!r} must be a "
                                "writeable float NumPy array (training updates it in place), "
                                f"got {type(p).__name__}; pass np.array(value, dtype=float)")
        self.sparse = [k for k in self.trainable
                       if optimizer.row_wise and gathers_of(cost, self._vars[k])]
        self.dense = [k for k in self.trainable if k not in self.sparse]
        self.wrt = [self._vars[k] for k in self.dense + self.sparse]
        self.data_inputs = [x for x in inputs if x not in set(self._vars.values())]
        self.backend, self.cache, self.client = backend, cache, client
        # the compiled step writes the parameter arrays themselves: each must be
        # what the kernel takes as it is (else the .step path, which converts);
        # on a cluster the workers compute gradients and the client steps
        self.compiled_step = client is None and _has_updates(optimizer) and all(
            _ownable(params[k], self._vars[k]) for k in self.trainable)
        if self.compiled_step:
            self._build_compiled_step()
        else:
            self._build_gradients()
        self.rng = np.random.default_rng(rng)
        self.epoch, self.steps = 0, 0
        self.stop_training = False
        self.history = {"epoch": [], "lr": [], "loss": [], "validation": [], "seconds": [],
                        "step_loss": []}

    def _gradients(self, cost, variables):
        """``[cost]``, the dense gradients, then each sparse one as (index, rows)."""
        outputs = [cost] + grad(cost, [variables[k] for k in self.dense])
        for k in self.sparse:
            outputs += sparse_grad(cost, variables[k])
        return outputs

    def _build_gradients(self):
        """The .step path: one function of the data and every parameter returning
        the cost and the gradients, which :meth:`step` gives to ``optimizer.step``."""
        self.outputs = self._gradients(self.cost, self._vars)
        # never tiered: a tiered function answers from NumPy while Numba compiles,
        # equal only to rounding, so a run's bits would depend on the compile's timing
        self.function = function(self.data_inputs + list(self._vars.values()), self.outputs,
                                 backend=self.backend, cache=self.cache, tiered=False)
        if self.client is not None:  # each step's batch split over the Dask workers
            from .distributed import ShardedFunction
            layout = ["value"] * (1 + len(self.dense)) + ["index", "rows"] * len(self.sparse)
            self.function = ShardedFunction(self.function, self.cost, self.client,
                                            batch=self._batch_dimension(), layout=layout)

    def _batch_dimension(self):
        """The named dimension of axis 0 the data inputs share (the examples)."""
        first = {x.shape[0] for x in self.data_inputs if x.ndim and not isinstance(x.shape[0], int)}
        if len(first) != 1:
            raise ValueError("training on a Dask cluster splits the data along axis 0, which "
                             "must be one named dimension in every data input, e.g. "
                             f"sg.matrix('X', 'batch', 3); the data inputs are "
                             f"{', '.join(x.describe() for x in self.data_inputs)}")
        return str(first.pop())

    def _build_compiled_step(self):
        """The compiled path: the trainable parameters become shared variables
        whose arrays are the caller's arrays, and one function of the data (and
        the frozen parameters) returns the cost and the number of non-finite
        values in each gradient while it applies the optimiser's updates, all of
        them guarded: when the cost or any gradient is not finite, every shared
        array (parameters, moments, step counts) keeps its value."""
        self._shared = {k: _shared_over(self._vars[k], self.params[k]) for k in self.trainable}
        cost = substitute(self.cost, {self._vars[k]: v for k, v in self._shared.items()})
        self.outputs = outputs = self._gradients(cost, self._shared)
        n = len(self.dense)
        grads = outputs[1:1 + n] + [tuple(outputs[1 + n + 2 * i: 3 + n + 2 * i])
                                    for i in range(len(self.sparse))]
        updates = self.optimizer.updates([self._shared[k] for k in self.dense + self.sparse],
                                         grads)
        # per parameter, its gradient's non-finite values (the rows given, if sparse)
        bad = [_count_non_finite(g[1] if isinstance(g, tuple) else g) for g in grads]
        ok = eq(sum(bad, 1.0 - isfinite(cost)), 0.0)
        updates = [(target, _guarded(ok, target, new)) for target, new in updates]
        self.function = function(self.data_inputs + [self._vars[k] for k in self.frozen],
                                 [cost] + bad, updates=updates, backend=self.backend,
                                 cache=self.cache, tiered=False)

    def _data(self, data):
        """``data`` as {data variable: array}, every input present, one length."""
        arrays = {}
        for key, value in data.items():
            x = _resolve(key, self.data_inputs, "data")
            arrays[x] = np.asarray(value)
        missing = [x.name for x in self.data_inputs if x not in arrays]
        if missing:
            raise ValueError(f"no data given for {', '.join(map(repr, missing))}")
        sizes = {x.name: (a.shape[0] if a.ndim else None) for x, a in arrays.items()}
        if None in sizes.values() or len(set(sizes.values())) > 1:
            raise ValueError(f"every data array needs the same number of examples along "
                             f"axis 0, got {sizes}")
        return arrays

    def step(self, batch):
        """One optimiser step on ``batch`` (a dict like :meth:`fit`'s data); returns the loss.

        >>> import numpy as np, symgrad as sg
        >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
        >>> params = {w: np.array(1.0)}
        >>> trainer = sg.Trainer(sg.mean((x - w) ** 2), params, sg.optim.SGD(lr=0.25))
        >>> trainer.step({x: [3.0, 5.0]}), params[w]     # loss 10, gradient -6
        (10.0, array(2.5))
        """
        arrays = self._data(batch)
        data = [arrays[x] for x in self.data_inputs]
        if self.compiled_step:
            self._own_params()
            loss, *bad = self.function(*data, *[self.params[k] for k in self.frozen])
            self._check_finite(loss, dict(zip(self.dense + self.sparse, bad)))  # nothing applied
        else:
            loss, *rest = self.function(*data, *[self.params[k] for k in self._vars])
            grads = dict(zip(self.dense, rest))
            for i, k in enumerate(self.sparse):
                index, rows = rest[len(self.dense) + 2 * i: len(self.dense) + 2 * i + 2]
                grads[k] = SparseRows(index, rows, self.params[k].shape)
            values = {k: g.values if isinstance(g, SparseRows) else g for k, g in grads.items()}
            self._check_finite(loss, {k: v.size - np.count_nonzero(np.isfinite(v))
                                      for k, v in values.items()})
            self.optimizer.step(self.params, grads)
        self.steps += 1
        return float(loss)

    def _own_params(self):
        """Point each parameter's shared variable at ``params[key]`` again where the
        caller has put a new array there (``trainer.params[W] = ...``)."""
        for k, var in self._shared.items():
            array = self.params[k]
            if array is not array_of(var):
                if not _ownable(array, self._vars[k]):
                    raise TypeError(f"the new value of parameter {var.name!r} must be a "
                                    f"writeable C-contiguous {var.dtype} array like the one it "
                                    "replaces (the compiled step updates it in place); pass "
                                    f"np.ascontiguousarray(value, dtype={var.dtype!r})")
                _own(var, array)

    def _check_finite(self, loss, bad):
        """FloatingPointError when ``bad`` (parameter key -> number of non-finite
        values in its gradient) counts any, or when ``loss`` is not finite."""
        where = f"at epoch {self.epoch}, step {self.steps} (lr {self.optimizer.lr:g})"
        for key, count in bad.items():
            if count:
                raise FloatingPointError(
                    f"the gradient of {self._vars[key].name!r} has {int(count)} non-finite "
                    f"value(s) {where}; training stopped before applying it, so the "
                    "parameters keep their last finite values. Lower the learning rate or "
                    "check the data and the initial values")
        if not np.isfinite(loss):
            raise FloatingPointError(f"the cost {self.cost.name!r} is {float(loss)} {where}; "
                                     "training stopped before this step")

    def fit(self, data, epochs=1, batch_size=32, schedule=None, validate=None, rng=None,
            progress=True, callbacks=()):
        """Train for ``epochs`` more epochs of shuffled minibatches; returns the history.

        ``data`` maps every data input (variable or name) to an array of
        examples along axis 0. ``schedule(epoch) -> lr`` sets the learning
        rate at the start of each epoch (epochs count across calls, so a
        schedule resumes where it was); ``validate(params) -> float`` is
        called after each. ``rng`` (a Generator or a seed), when given,
        replaces the trainer's shuffling generator; by default shuffling
        continues from where the last call left it. The progress bar (a widget
        in Jupyter) shows the epoch, the running mean loss, the learning rate
        and the last validation value (``val``).

        ``callbacks``: objects with a method ``on_epoch_end(trainer)`` (see
        ``sg.callbacks``: ``EarlyStopping``, ``Checkpoint``), called after each
        epoch in order; one that sets ``trainer.stop_training = True`` ends
        training after that epoch.

        On the numba backend the kernel is compiled before the first epoch's
        timer starts, so ``seconds`` measures training only. The history is a
        dict of lists: per epoch ``epoch``, ``lr``, ``loss`` (mean training
        loss), ``validation`` (None without ``validate``) and ``seconds``, and
        ``step_loss`` per step.

        >>> import numpy as np, symgrad as sg
        >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
        >>> xs = np.random.default_rng(0).normal(size=20)
        >>> def run(*epochs):      # fit(epochs) once per number, on one trainer
        ...     params = {w: np.array(0.0)}
        ...     trainer = sg.Trainer(sg.mean((x - w) ** 2), params, sg.optim.Adam(lr=0.1),
        ...                          backend="numpy", rng=7)
        ...     for e in epochs:
        ...         trainer.fit({x: xs}, epochs=e, batch_size=4, progress=False)
        ...     return params[w]
        >>> np.array_equal(run(6), run(2, 4))    # the same shuffles, steps and moments: the same bits
        True
        """
        arrays = self._data(data)
        n = next(iter(arrays.values())).shape[0] if arrays else 1
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        for c in callbacks:
            if not callable(getattr(c, "on_epoch_end", None)):
                raise TypeError(f"a callback needs a method on_epoch_end(trainer), got "
                                f"{type(c).__name__}; subclass sg.callbacks.Callback")
        if rng is not None:
            self.rng = np.random.default_rng(rng)
        self.stop_training = False
        self.function.wait_compiled()  # compile now: the first epoch's time is training only
        postfix = {}
        with _progress_bar(progress, epochs * math.ceil(n / batch_size)) as bar:
            for _ in range(epochs):
                start = time.perf_counter()
                if schedule is not None:
                    self.optimizer.lr = float(schedule(self.epoch))
                loss = self._epoch(arrays, n, batch_size, bar, postfix)
                validation = None if validate is None else float(validate(self.params))
                self._record(loss, validation, time.perf_counter() - start)
                if validation is not None:
                    postfix["val"] = f"{validation:.4g}"
                    bar.set_postfix(postfix)
                for c in callbacks:
                    c.on_epoch_end(self)
                if self.stop_training:
                    break
        return self.history

    def _epoch(self, arrays, n, batch_size, bar, postfix):
        """One pass over the examples in a new shuffled order; the mean loss."""
        order, total = self.rng.permutation(n), 0.0
        for first in range(0, n, batch_size):
            take = order[first:first + batch_size]
            loss = self.step({x: a[take] for x, a in arrays.items()})
            total += loss * len(take)
            self.history["step_loss"].append(loss)
            postfix.update(epoch=self.epoch, loss=f"{total / (first + len(take)):.4g}",
                           lr=f"{self.optimizer.lr:.3g}")
            bar.update()
            bar.set_postfix(postfix, refresh=False)
        return total / n

    def _record(self, loss, validation, seconds):
        """Append the finished epoch's row to the history and count the epoch."""
        row = {"epoch": self.epoch, "lr": self.optimizer.lr, "loss": loss,
               "validation": validation, "seconds": seconds}
        for key, value in row.items():
            self.history[key].append(value)
        self.epoch += 1

    def save(self, path):
        """Write a checkpoint of this trainer to ``path``; :meth:`load` resumes it.

        The file holds the cost graph, the parameters (frozen ones too), which
        are frozen, the optimiser (its class, hyper-parameters and state), the
        backend and cache options, the epoch, the step count, the shuffling
        generator's state and the history: resuming from it gives the bits an
        uninterrupted run gives, in any process. Not saved: the data, and what
        is passed to :meth:`fit` (schedule, validate, callbacks): pass them again.
        A schedule resumes at the saved epoch. The file is written atomically.

        The format is a Python pickle, like ``torch.save``'s: **loading runs code
        the file names, so load only checkpoints you trust**. For parameters
        alone, ``sg.save_params`` writes an ``.npz`` that loads without pickle.

        >>> import os, tempfile, numpy as np, symgrad as sg
        >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
        >>> trainer = sg.Trainer(sg.mean((x - w) ** 2), {w: np.array(0.0)},
        ...                      sg.optim.Adam(lr=0.1), backend="numpy", rng=0)
        >>> _ = trainer.fit({x: [1.0, 2.0, 4.0]}, epochs=3, batch_size=2, progress=False)
        >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
        >>> trainer.save(path)
        >>> resumed = sg.Trainer.load(path)
        >>> resumed.epoch, resumed.steps, np.array_equal(resumed.params[w], trainer.params[w])
        (3, 6, True)
        """
        state = {"format": CHECKPOINT_FORMAT, "cost": self.cost, "params": self.params,
                 "frozen": self.frozen, "optimizer": type(self.optimizer),
                 "optimizer_state": self.optimizer.state_dict(), "backend": self.backend,
                 "cache": self.cache, "rng": self.rng, "epoch": self.epoch,
                 "steps": self.steps, "history": self.history}
        write_atomically(path, lambda f: pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path):
        """The trainer saved at ``path`` by :meth:`save`, ready to ``fit`` on.

        Its ``params`` dict holds the saved arrays, keyed as they were (by
        variable or by name); the variables are equal to the ones the graph was
        built with (``params[W]`` works where ``W`` was made). Unpickles the
        file: load only checkpoints you trust (see :meth:`save`).

        >>> import os, tempfile, numpy as np, symgrad as sg
        >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
        >>> trainer = sg.Trainer(sg.mean((x - w) ** 2), {"w": np.array(0.0)},
        ...                      sg.optim.SGD(lr=0.25), backend="numpy")
        >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
        >>> trainer.save(path)
        >>> resumed = sg.Trainer.load(path)
        >>> _ = resumed.fit({"x": [3.0, 5.0]}, progress=False)    # one step: w = 0.25 * 8
        >>> resumed.params["w"], trainer.params["w"]              # the saved trainer is untouched
        (array(2.), array(0.))
        """
        with open(path, "rb") as f:
            state = pickle.load(f)
        if not (isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT):
            raise ValueError(f"{os.fspath(path)!r} is not a checkpoint written by "
                             f"Trainer.save (expected format {CHECKPOINT_FORMAT!r})")
        # the state dict's one parameter group holds the optimiser's constructor arguments
        optimizer_state = state["optimizer_state"]
        optimizer = state["optimizer"](**optimizer_state["param_groups"][0])
        optimizer.load_state_dict(optimizer_state)
        trainer = cls(state["cost"], state["params"], optimizer, frozen=state["frozen"],
                      backend=state["backend"], cache=state["cache"], rng=state["rng"])
        trainer.epoch, trainer.steps = state["epoch"], state["steps"]
        trainer.history = state["history"]
        return trainer


def train(cost, params, data, optimizer, epochs=1, batch_size=32, schedule=None, frozen=(),
          validate=None, rng=None, progress=True, backend="numba", callbacks=()):
    """Build a :class:`Trainer` and fit it: the one-call training loop.

    Returns the history (see :meth:`Trainer.fit`, which takes the other
    arguments, ``callbacks`` included); ``params`` is updated in place.

    >>> import numpy as np, symgrad as sg
    >>> X, y = sg.matrix("X", "batch", 3), sg.vector("y", "batch", dtype="int64")
    >>> W, b = sg.matrix("W", 3, 2), sg.vector("b", 2)
    >>> Xv = np.random.default_rng(1).normal(size=(200, 3))
    >>> yv = (Xv[:, 0] > 0).astype(np.int64)
    >>> params = {W: np.zeros((3, 2)), b: np.zeros(2)}
    >>> history = sg.train(sg.nn.softmax_cross_entropy(X @ W + b, y), params, {X: Xv, y: yv},
    ...                    sg.optim.Adam(lr=0.1), epochs=10, rng=0, progress=False)
    >>> history["loss"][-1] < 0.2 < history["loss"][0]
    True
    """
    trainer = Trainer(cost, params, optimizer, frozen=frozen, backend=backend)
    return trainer.fit(data, epochs=epochs, batch_size=batch_size, schedule=schedule,
                       validate=validate, rng=rng, progress=progress, callbacks=callbacks)
