"""Data-parallel evaluation on a Dask cluster: ``sg.distributed.value_and_grad``.

The batch is split into chunks along its named dimension; each chunk is
evaluated by the compiled function on a Dask worker (where a dask array's
chunk lives), and the chunks' costs and gradients are combined exactly as one
call on the whole batch would compute them: summed for a cost that sums over
the batch, weighted by chunk size for a mean.

How the cost reduces over the batch is read from its graph (:func:`reduction`):
below its top, every path from the data goes through a sum over the batch
dimension of per-example terms (no node under that sum mixes examples); above
it, the cost as a formula of those sums must equal, for any two chunks, the
sum of the chunks' costs (a "sum" cost: a linear function of the sums) or
their mean weighted by size (a "mean" cost: such a function divided by the
batch size, plus terms that do not depend on the data), identically. Anything
else (a kink such as relu of a sum, too) raises, naming the cost.

What travels, every call: the function as its pickled graph (``sg.function``'s
pickle, a few KB) and the parameters (every input without the batch
dimension), scattered to every worker; chunks stay where they are. Each worker
process unpickles and compiles the function once (Numba's disk cache makes
that a load when the worker's cache folder has it) and keeps it in a
per-process table keyed by the pickle's hash. A worker evaluates one chunk at
a time, its kernels on as many threads as it has Dask threads.

Dask is imported only when a function here is called, so ``import symgrad``
works without the ``distributed`` extra.
"""
import hashlib
import os
import pickle
import random
import threading

import numpy as np
import sympy

from .autodiff import grad
from .graph import Expr, toposort
from .ops import (ArgOneHot, Argsort, Broadcast, Contract, Cumsum, DimSize, Elemwise, Gather,
                  PutAlong, Reduce, Reshape, Scan, ScatterAdd, Slice, TakeAlong, Transpose)

INSTALL = 'pip install "symgrad[distributed]"'
FREE, SUM, MEAN = "free", "sum", "mean"  # a node's kind: no data, extensive, intensive


def _dask():
    """``(dask, distributed)``, or an ImportError saying how to install them."""
    try:
        import dask
        import distributed
    except ImportError as e:
        raise ImportError(f"sg.distributed needs Dask's distributed scheduler, which is not "
                          f"installed ({e}); install it with {INSTALL}") from None
    return dask, distributed


# --- how the cost reduces over the batch ----------------------------------------------

class CombineError(ValueError):
    """The cost's value on the whole batch cannot be combined from its chunks' values.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "batch")
    >>> issubclass(CombineError, ValueError)
    True
    >>> reduction(sg.max(x) * 1.0 + x.sum(), "batch")
    Traceback (most recent call last):
    ...
    symgrad.distributed.CombineError: sg.distributed cannot combine the cost 'add(..., ...)' over chunks of the batch dimension batch: at 'max(x)' (float64, shape ()), the op 'max' is not linear in the batch's sums. ...
    """


def _batch_axes(shape, batch):
    return [a for a, d in enumerate(shape) if d == batch]


def _mentions(shape, batch):
    return any(not isinstance(d, int) and batch in d.free_symbols for d in shape)


def _along(node):
    """(shape, axis) pairs along which ``node``'s op reads or writes across
    positions of an axis: such an axis must not be the batch."""
    op, x = node.op, node.inputs[0] if node.inputs else None
    if isinstance(op, (Reduce, ArgOneHot)):
        return [(x.shape, a) for a in op.axes]
    if isinstance(op, (Cumsum, Scan)):
        return [(x.shape, op.axis)]
    if isinstance(op, (Argsort, TakeAlong)):
        return [(x.shape, x.ndim - 1)]
    if isinstance(op, PutAlong):
        return [(node.shape, node.ndim - 1)]
    if isinstance(op, Gather):
        return [(x.shape, 0)]
    if isinstance(op, ScatterAdd):
        return [(node.shape, 0)]
    return []


def _prefix(shape, batch):
    """The product of the sizes before the batch axis (a reshape must keep it)."""
    a = _batch_axes(shape, batch)
    return sympy.Mul(*shape[:a[0]]) if a else None


def _mixes_examples(node, batch):
    """Why ``node``'s value at one example may depend on other examples (None: it
    does not), ignoring its inputs (checked on their own)."""
    shapes = [node.shape] + [x.shape for x in node.inputs]
    if isinstance(node.op, DimSize) and node.op.dim == batch:
        return "it reads the batch size"
    if any(not isinstance(d, int) and d != batch and batch in d.free_symbols
           for s in shapes for d in s):
        return "its shape combines the batch dimension with other sizes"
    if len(_batch_axes(node.shape, batch)) > 1:
        return "it pairs examples with examples (the batch dimension twice)"
    if any(_batch_axes(x.shape, batch) for x in node.inputs) and not _batch_axes(node.shape, batch):
        return "it reduces over the batch dimension"
    if any(a < len(s) and s[a] == batch for s, a in _along(node)):
        return "it works along the batch dimension"
    if isinstance(node.op, Reshape) and _prefix(node.shape, batch) != _prefix(
            node.inputs[0].shape, batch):
        return "it reshapes across the batch dimension"
    return None


class _Reduction:
    """Reads how the top of a cost combines over chunks (see :func:`reduction`).

    Each node gets a SymPy form: its value on one chunk as a formula of
    symbols standing for the chunk's sums (values whose whole-batch value is
    the chunks' sum: the batch size, a sum over the batch of per-example
    terms, a linear op of such a value) and its means (whole-batch value: the
    chunks' weighted by size), and of fresh symbols for values without data.
    A node combines as a "sum" or a "mean" when its formula, at the whole
    batch's symbols, equals the chunks' sum or weighted mean identically
    (two chunks of sizes ``na`` and ``nb``: the difference must simplify to
    0, see :func:`_zero`). That checks the combining rule itself:
    ``relu(a + b)`` is not ``relu(a) + relu(b)``, though it is linear piece
    by piece."""

    def __init__(self, cost, batch):
        self.cost, self.batch = cost, batch
        self.depends, self.mixed = {}, {}
        for node in toposort([cost]):
            own = isinstance(node.op, DimSize) and node.op.dim == batch
            self.depends[node] = own or _mentions(node.shape, batch) or any(
                self.depends[x] for x in node.inputs)
            why = _mixes_examples(node, batch)  # (the node that mixes, why) or None
            self.mixed[node] = (node, why) if why else next(
                (self.mixed[x] for x in node.inputs if self.mixed[x]), None)
        self.chunks = {}  # data symbol -> (its value on chunk a, on chunk b)
        self.whole = {}  # data symbol -> its whole-batch value from the chunks'
        self.size = self.symbol(SUM, positive=True)  # the batch size: a sum of 1 per example
        self.kinds, self.lost = {}, {}  # node -> (kind or None, form); where combining was lost

    def fail(self, node, why):
        raise CombineError(
            f"sg.distributed cannot combine the cost {self.cost.name!r} over chunks of the "
            f"batch dimension {self.batch}: at {node.describe()}, {why}. The cost must be a sum "
            f"or a mean over {self.batch} of per-example terms, e.g. sg.mean(loss_per_example) "
            f"+ 0.01 * sg.nn.l2(W) or loss_per_example.sum(); terms that mix examples (batch "
            f"statistics, sorting or cumulative sums along {self.batch}) need the whole batch "
            "in one call")

    def symbol(self, kind, positive=False):
        """A fresh symbol for a value of ``kind`` (FREE: the same on every chunk)."""
        s = sympy.Dummy(kind, real=True, positive=positive or None)
        if kind != FREE:
            a, b = (sympy.Dummy(f"{kind}_{c}", real=True, positive=positive or None)
                    for c in "ab")
            self.chunks[s] = a, b
            if kind == SUM:
                self.whole[s] = a + b
            else:
                na, nb = self.chunks[self.size]
                self.whole[s] = (na * a + nb * b) / (na + nb)
        return s

    def combined(self, node):
        """``node``'s kind, SUM or MEAN (FREE without data), or a CombineError."""
        kind, _ = self.kind(node)
        if kind is None:
            lost = self.lost[node]
            self.fail(lost, f"its formula {lost.op.formula.expr} is neither a linear function "
                            "of sums over the batch nor such a function divided by the batch "
                            "size (a kink such as relu, abs or where of a sum is linear piece "
                            "by piece, not over chunks: relu(a + b) != relu(a) + relu(b))")
        return kind

    def kind(self, node):
        """(kind, form) of ``node``; kind None: its value does not combine."""
        if node not in self.kinds:
            self.kinds[node] = self._classify(node)
        return self.kinds[node]

    def _classify(self, node):
        op = node.op
        if not self.depends[node]:
            return FREE, self.symbol(FREE)
        if isinstance(op, DimSize):
            return SUM, self.size
        if _batch_axes(node.shape, self.batch):
            self.fail(node, "the value still has the batch dimension")
        if isinstance(op, Contract) and any(_batch_axes(x.shape, self.batch) for x in node.inputs):
            for x in node.inputs:
                if self.mixed[x]:
                    self.fail(*self.mixed[x])
            return SUM, self.symbol(SUM)  # a sum over the batch of per-example products
        if isinstance(op, Elemwise):
            return self._formula(node)
        if isinstance(op, (Contract, Reshape, Transpose, Broadcast, Slice)):
            kinds = [self.combined(x) for x in node.inputs]
            data = [k for k in kinds if k != FREE]
            if len(data) == 1:  # linear in its one data-dependent operand: combines as it does
                return data[0], self.symbol(data[0])
        self.fail(node, f"the op {op.label!r} is not linear in the batch's sums")

    def _formula(self, node):
        """(kind, form) of an elementwise formula of classified inputs."""
        forms = {p: self.kind(x)[1] for p, x in zip(node.op.formula.variables, node.inputs)}
        form = node.op.formula.expr.xreplace(forms)
        a, b = ({s: chunks[c] for s, chunks in self.chunks.items()} for c in (0, 1))
        whole, na, nb = form.xreplace(self.whole), a[self.size], b[self.size]
        if _zero(whole - (na * form.xreplace(a) + nb * form.xreplace(b)) / (na + nb)):
            return MEAN, form
        if _zero(whole - form.xreplace(a) - form.xreplace(b)):
            return SUM, form
        # the first node whose value stopped combining: an input's, else this one
        self.lost[node] = next((self.lost[x] for x in node.inputs if x in self.lost), node)
        return None, form


def _zero(e):
    """Whether ``e`` is identically 0: refuted where it is not 0 at one of a few
    rational points (exact arithmetic; quick for the kinks SymPy simplifies
    slowly), else proved by ``sympy.simplify``."""
    e = e.xreplace({f: sympy.Rational(f) for f in e.atoms(sympy.Float)})  # the floats, exactly
    if e == 0:
        return True
    rng = random.Random(0)
    symbols = sorted(e.free_symbols, key=sympy.default_sort_key)
    for _ in range(8):
        point = {s: sympy.Rational(rng.randint(1, 40) * (1 if s.is_positive else
                                                         rng.choice((-1, 1))), rng.randint(1, 9))
                 for s in symbols}
        value = e.xreplace(point)
        if value.is_finite and value.is_zero is False:
            return False
    return sympy.simplify(e) == 0


def _reduction(cost, batch):
    """(how ``cost`` combines over chunks of ``batch``, the batch's symbol)."""
    symbol = _dimension(cost, batch)
    kind = _Reduction(cost, symbol).combined(cost)
    if kind == FREE:
        raise CombineError(f"the cost {cost.name!r} does not depend on the batch dimension "
                           f"{batch}: there is nothing to split")
    return kind, symbol


def reduction(cost, batch):
    """How ``cost`` combines over chunks of the named dimension ``batch``: "sum"
    (the whole batch's cost is the sum of the chunks') or "mean" (the chunks'
    costs weighted by their sizes); ``CombineError`` when it is neither.

    >>> import symgrad as sg
    >>> X, y, w = sg.matrix("X", "batch", 2), sg.vector("y", "batch"), sg.vector("w", 2)
    >>> reduction(sg.nn.mse(X @ w, y) + 0.1 * sg.nn.l2(w), "batch")
    'mean'
    >>> reduction(((X @ w - y) ** 2).sum(), "batch")
    'sum'
    >>> reduction(sg.sum((X @ w - sg.mean(X @ w)) ** 2), "batch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.distributed.CombineError: sg.distributed cannot combine the cost ... it reduces over the batch dimension...
    >>> reduction(sg.relu(sg.sum(X @ w)), "batch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.distributed.CombineError: ... at 'relu(...)' (float64, shape ()), its formula ... is neither a linear function of sums over the batch ...
    """
    return _reduction(cost, batch)[0]


def _dimension(cost, batch):
    """The named dimension ``batch`` (a name) as the symbol ``cost``'s shapes use."""
    for node in toposort([cost]):
        for d in node.shape:
            if not isinstance(d, int) and str(d) == str(batch) and d.is_Symbol:
                return d
    raise ValueError(f"the cost {cost.name!r} has no named dimension {batch!r}; name the batch "
                     "dimension of its data inputs, e.g. sg.matrix('X', 'batch', 3)")


# --- the workers' side ------------------------------------------------------------------

_loaded = {}  # per worker process: pickle's hash -> the unpickled (compiled) function
_lock = threading.Lock()
_evaluating = threading.Lock()  # one chunk at a time per process: see _use_worker_threads


def _load(blob, digest, client_pid, worker=None):
    """The function pickled in ``blob``, unpickled once per process and compiled."""
    with _lock:
        if digest not in _loaded:
            if not _loaded and os.getpid() != client_pid:
                _use_worker_threads(worker)
            f = pickle.loads(blob)
            f.wait_compiled()  # compiles now (or loads from this machine's disk cache)
            _loaded[digest] = f
        return _loaded[digest]


def _compile_on_worker(blob, digest, client_pid, dask_worker=None):
    """``client.run``'s form of :func:`_load` (it passes the worker as ``dask_worker``)."""
    _load(blob, digest, client_pid, dask_worker)


def _use_worker_threads(worker):
    """Kernels use as many threads as the Dask worker runs tasks, not every core.

    The worker evaluates one chunk at a time (:func:`_run_chunk`), so that
    count is all the kernel threads it runs: n tasks at once with n threads
    each would be n * n. (Kernels hold the GIL, so tasks could not run them
    side by side anyway.) Called in worker processes only: a cluster in the
    client's process (``processes=False``) keeps the user's count."""
    import numba
    from distributed import get_worker

    from .threads import set_num_threads
    if worker is None:
        try:
            worker = get_worker()
        except ValueError:  # not inside a worker (a local scheduler)
            return
    n = getattr(getattr(worker, "state", worker), "nthreads", None)
    if n:
        set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _run_chunk(blob, digest, client_pid, args):
    """One chunk's outputs, on a worker."""
    f = _load(blob, digest, client_pid)
    with _evaluating:
        return f(*args)


# --- the client's side ------------------------------------------------------------------

class ShardedFunction:
    """A ``sg.function`` of a cost (its first output) and quantities linear in it
    (gradients), evaluated chunk by chunk on a Dask cluster and combined.

    ``layout`` gives each output's combination: "value" (summed, or weighted by
    chunk size for a mean cost), "index" (concatenated: a sparse gradient's
    rows) or "rows" (weighted like a value, then concatenated). Used by
    :func:`value_and_grad` and by ``sg.Trainer(..., client=)``.

    >>> import numpy as np, symgrad as sg
    >>> from dask.distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> x, w = sg.vector("x", "batch"), sg.scalar("w")
    >>> cost = sg.mean((x - w) ** 2)
    >>> f = sg.function([x, w], [cost, sg.grad(cost, w)], backend="numpy")
    >>> sharded = ShardedFunction(f, cost, client, batch="batch")  # doctest: +SKIP
    >>> sharded([np.array([1.0, 2.0]), np.array([6.0])], 0.0)  # doctest: +SKIP
    [np.float64(13.666666666666666), np.float64(-6.0)]
    """

    def __init__(self, function, cost, client, batch="batch", layout=None):
        _dask()
        self.function, self.client = function, client
        self.kind, symbol = _reduction(cost, batch)
        self.axes = []  # per input: its batch axis, or None for a parameter
        for x in function.inputs:
            axes = _batch_axes(x.shape, symbol)
            if len(axes) > 1:
                raise ValueError(f"input {x.describe()} has the batch dimension {batch} "
                                 "twice; split it along one axis only")
            self.axes.append(axes[0] if axes else None)
        if all(a is None for a in self.axes):
            raise ValueError(f"no input has the batch dimension {batch}: "
                             f"{', '.join(x.describe() for x in function.inputs)}")
        self.layout = layout or ["value"] * len(function.outputs)
        self.blob = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        self.digest = hashlib.sha256(self.blob).hexdigest()
        self._pid = os.getpid()  # workers in this process leave its thread count alone

    def wait_compiled(self):
        """Compile (or load) the function on every worker now; returns True."""
        self.client.run(_compile_on_worker, self.blob, self.digest, self._pid)
        return True

    def __call__(self, /, *args, **kwargs):
        args = self.function._in_input_order(args, kwargs)
        sizes, pieces = self._split(args)
        from dask import delayed
        client = self.client
        params = [i for i, a in enumerate(self.axes) if a is None]
        # the function (a few KB: workers unpickle it only the first time) goes with
        # the parameters every call, so a restarted cluster or new workers get it;
        # fresh keys (hash=False): a key equal to the last call's, which is being
        # released, could be forgotten by the scheduler under this call
        blob, *scattered = client.scatter([self.blob] + [np.asarray(args[i]) for i in params],
                                          broadcast=True, hash=False)
        shared = dict(zip(params, scattered))
        tasks = [delayed(_run_chunk, pure=False)(
                     blob, self.digest, self._pid,
                     [shared[i] if a is None else pieces[i][k] for i, a in enumerate(self.axes)])
                 for k in range(len(sizes))]
        outs = client.gather(client.compute(tasks))
        outs = [o if isinstance(o, list) else [o] for o in outs]
        combined = [self._combine([o[j] for o in outs], sizes, how)
                    for j, how in enumerate(self.layout)]
        return combined[0] if self.function.single else combined

    def _combine(self, values, sizes, how):
        """One output over the chunks: the whole batch's value."""
        if how == "index":
            return np.concatenate(values)
        if self.kind == MEAN:  # each chunk's mean times its size: its sum; over the total
            n = sum(sizes)
            values = [v * (size / n) for v, size in zip(values, sizes)]
        if how == "rows":
            return np.concatenate(values)
        total = values[0]
        for v in values[1:]:
            total = total + v
        return total

    def _split(self, args):
        """(chunk sizes, per batch input its list of chunks). The first batch input
        decides the chunks: a dask array's chunks along the batch axis, a list's
        shards, or a NumPy array split in one chunk per worker."""
        first = next(i for i, a in enumerate(self.axes) if a is not None)
        sizes = self._sizes(args[first], self.axes[first])
        pieces = {i: self._pieces(args[i], a, sizes, self.function.inputs[i])
                  for i, a in enumerate(self.axes) if a is not None}
        nonempty = [k for k, n in enumerate(sizes) if n]
        if not nonempty:
            raise ValueError("the batch is empty: no examples to evaluate")
        return [sizes[k] for k in nonempty], {i: [p[k] for k in nonempty]
                                              for i, p in pieces.items()}

    def _sizes(self, value, axis):
        if _is_dask_array(value):
            return list(value.chunks[axis])
        if isinstance(value, (list, tuple)):
            return [np.shape(shard)[axis] if np.ndim(shard) > axis else 0 for shard in value]
        n = np.shape(value)[axis] if np.ndim(value) > axis else 0
        workers = max(len(self.client.scheduler_info()["workers"]), 1)
        return [len(part) for part in np.array_split(np.arange(n), workers)]

    def _pieces(self, value, axis, sizes, var):
        if _is_dask_array(value):
            chunks = {a: (tuple(sizes) if a == axis else -1) for a in range(value.ndim)}
            return list(value.rechunk(chunks).to_delayed().ravel())
        if isinstance(value, (list, tuple)):
            got = [np.shape(shard)[axis] if np.ndim(shard) > axis else None for shard in value]
            if got != sizes:
                raise ValueError(f"the shards of {var.describe()} have {got} examples along "
                                 f"axis {axis}, but the first batch input's have {sizes}; give "
                                 "every batch input the same split")
            return list(value)
        value = np.asarray(value)
        if value.ndim <= axis or value.shape[axis] != sum(sizes):
            raise ValueError(f"the argument for {var.describe()} has shape {value.shape}; "
                             f"it needs {sum(sizes)} examples along axis {axis}, as the first "
                             "batch input has")
        return np.split(value, np.cumsum(sizes)[:-1], axis=axis)


def _is_dask_array(value):
    return hasattr(value, "to_delayed") and hasattr(value, "chunks")


class DistributedValueAndGrad:
    """A callable made by :func:`value_and_grad` (see its example): returns (cost,
    gradients) of the whole batch, computed chunk by chunk on the Dask client's
    workers. ``reduction`` says how chunks combine ("sum" or "mean")."""

    def __init__(self, cost, wrt, inputs, client, backend="numba", cache=True, batch="batch"):
        _dask()  # before compiling anything
        self.single = isinstance(wrt, Expr)
        wrt = [wrt] if self.single else list(wrt)
        from .function import function
        f = function(inputs, [cost] + grad(cost, wrt), backend=backend, cache=cache,
                     tiered=False)  # a tiered function's bits would depend on compile timing
        self.sharded = ShardedFunction(f, cost, client, batch=batch)
        self.reduction = self.sharded.kind

    def __repr__(self):
        return (f"<sg.distributed.value_and_grad of {self.sharded.function.outputs[0].name!r}, "
                f"{self.reduction} over the batch, backend={self.sharded.function.backend!r}>")

    def wait_compiled(self):
        """Compile (or load from the disk cache) the function on every worker now."""
        return self.sharded.wait_compiled()

    def __call__(self, /, *args, **kwargs):
        cost, *grads = self.sharded(*args, **kwargs)
        return cost, (grads[0] if self.single else grads)


def value_and_grad(cost, wrt, inputs, client, backend="numba", cache=True, batch="batch"):
    """``sg.value_and_grad(cost, wrt, inputs)`` evaluated data-parallel on the Dask
    cluster of ``client`` (a ``dask.distributed.Client``).

    The result takes the same arguments as ``sg.value_and_grad``'s, except
    that each input with the named dimension ``batch`` may be

    * a dask array chunked along that dimension (one task per chunk, run on
      the worker holding it: persist the array, ``client.persist(X)``, so its
      chunks stay on the workers between calls);
    * a list of NumPy shards (every batch input split the same way);
    * a NumPy array, split in one chunk per worker.

    The other inputs (the parameters) are NumPy arrays, scattered to every
    worker once per call. Each worker evaluates its chunks with the compiled
    function (compiled once per worker process, or loaded from that machine's
    kernel cache; a worker evaluates one chunk at a time, its kernels on as
    many threads as it has Dask threads), and the
    chunks' costs and gradients are combined as the whole batch's: summed for
    a sum over the batch, weighted by chunk size for a mean (checked from the
    graph by :func:`reduction`; any other cost raises ``CombineError``). So
    the result equals ``sg.value_and_grad``'s on the whole batch up to the
    order of summation.

    >>> import numpy as np, symgrad as sg
    >>> from dask.distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> X, y, w = sg.matrix("X", "batch", 2), sg.vector("y", "batch"), sg.vector("w", 2)
    >>> cost = sg.nn.mse(X @ w, y)
    >>> vg = sg.distributed.value_and_grad(cost, [w], [X, y, w], client)  # doctest: +SKIP
    >>> Xs = [np.ones((3, 2)), np.zeros((1, 2))]                   # two shards: 3 and 1 rows
    >>> vg(Xs, [np.ones(3), np.ones(1)], np.zeros(2))  # doctest: +SKIP
    (np.float64(1.0), [array([-1.5, -1.5])])
    """
    return DistributedValueAndGrad(cost, wrt, inputs, client, backend=backend, cache=cache,
                                   batch=batch)
