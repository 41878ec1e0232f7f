"""sg.distributed and sg.Trainer(client=) on a LocalCluster of two worker processes.

References are NumPy formulas for the whole batch (or single-process training);
combining is tested on the numpy backend (quick), the Trainer on numba.
"""
import os
import sys
import threading
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.distributed import CombineError, reduction
from symgrad.examples.window import build_model

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed "
                                  '(pip install "symgrad[distributed]")')
da = pytest.importorskip("dask.array", reason="dask.array is not installed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


RNG = np.random.default_rng(3)
X_ = RNG.normal(size=(11, 3))
Y_ = RNG.normal(size=11)
W_ = RNG.normal(size=3)
X, y, w = sg.matrix("X", "batch", 3), sg.vector("y", "batch"), sg.vector("w", 3)


def test_mean_cost_on_dask_chunks_is_the_whole_batch(client):
    # mean over the batch plus a term without data: chunk costs weighted by size
    cost = sg.nn.mse(X @ w, y) + 0.1 * sg.nn.l2(w)
    vg = sg.distributed.value_and_grad(cost, [w], [X, y, w], client, backend="numpy")
    r = X_ @ W_ - Y_
    X0 = X_.copy()
    value, (g,) = vg(da.from_array(X_, chunks=(5, 3)), da.from_array(Y_, chunks=4), W_)
    np.testing.assert_allclose(value, np.mean(r ** 2) + 0.1 * W_ @ W_, rtol=1e-13)
    np.testing.assert_allclose(g, 2 * X_.T @ r / 11 + 0.2 * W_, rtol=1e-13)
    assert vg.reduction == "mean" and np.array_equal(X_, X0)


def test_sum_cost_from_shards_as_lists(client):
    cost = ((X @ w - y) ** 2).sum()
    vg = sg.distributed.value_and_grad(cost, w, [X, y, w], client, backend="numpy")
    cut = [2, 9]  # shards of 2, 7 and 2 examples
    value, g = vg(np.split(X_, cut), np.split(Y_, cut), W_)
    r = X_ @ W_ - Y_
    np.testing.assert_allclose(value, r @ r, rtol=1e-13)
    np.testing.assert_allclose(g, 2 * X_.T @ r, rtol=1e-13)
    assert vg.reduction == "sum"


def test_cross_entropy_with_int_labels_and_a_numpy_batch(client):
    labels = sg.vector("labels", "batch", dtype="int64")
    W = sg.matrix("W", 3, 4)
    cost = sg.nn.softmax_cross_entropy(X @ W, labels)
    vg = sg.distributed.value_and_grad(cost, [W], [X, labels, W], client, backend="numpy")
    Wv, lv = RNG.normal(size=(3, 4)), RNG.integers(0, 4, size=11)
    value, (g,) = vg(X_, labels=lv, W=Wv)   # a NumPy batch: one chunk per worker
    z = X_ @ Wv
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(value, -np.log(p[np.arange(11), lv]).mean(), rtol=1e-13)
    p[np.arange(11), lv] -= 1
    np.testing.assert_allclose(g, X_.T @ p / 11, rtol=1e-12)


def test_without_dask_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ImportError, match=r'pip install "symgrad\[distributed\]"'):
        sg.distributed.value_and_grad(sg.mean(y), [], [y], client=None)


@pytest.mark.parametrize("make, kind", [
    (lambda: sg.mean((X @ w - y) ** 2), "mean"),
    (lambda: sg.nn.mse(X @ w, y) + sg.nn.l2(w) * 0.5 - 1.0, "mean"),
    (lambda: 3.0 * ((X @ w) ** 2).sum() - y.sum(), "sum"),
    (lambda: ((X @ w) ** 2).sum() / sg.dim_size("batch"), "mean"),
    (lambda: sg.tanh(X @ w).sum() / (2 * sg.dim_size("batch")) + sg.nn.l2(w), "mean"),
    # kinks below the sum (per example) or in terms without data combine
    (lambda: sg.mean(sg.relu(X @ w - y)) + sg.abs(w).sum(), "mean"),
    (lambda: sg.maximum(X @ w, 0.0).sum() * sg.relu(w[0]), "sum"),
    (lambda: (sg.sum(y) * 2 + sg.sum(X @ w)) / sg.dim_size("batch") * 0.5, "mean"),
])
def test_reduction_read_from_the_graph(make, kind):
    assert reduction(make(), "batch") == kind


@pytest.mark.parametrize("make, why", [
    (lambda: ((X @ w - y) ** 2).sum() + sg.nn.l2(w), "neither a linear function"),
    (lambda: sg.mean(X @ w) * sg.mean(y), "neither a linear function"),
    (lambda: sg.sum((y - sg.mean(y)) ** 2), "reduces over the batch"),
    (lambda: sg.cumsum(y, 0).sum(), "works along the batch"),
    (lambda: sg.log(sg.sum(sg.exp(y))), "neither a linear function"),
    (lambda: X @ w, "still has the batch dimension"),
    # kinks of sums or means: SymPy differentiates them branch by branch (linear
    # pieces), yet relu(a + b) != relu(a) + relu(b)
    (lambda: sg.relu(sg.sum(X @ w)), "neither a linear function"),
    (lambda: sg.abs(sg.sum(y)) * 2.0 + 1.0, "at 'abs.*neither a linear function"),
    (lambda: sg.maximum(sg.sum(y), 0.0), "neither a linear function"),
    (lambda: sg.relu(sg.mean(y)), "neither a linear function"),
    (lambda: sg.where(sg.mean(y) > 0, sg.mean(y), 0.0), "neither a linear function"),
    (lambda: sg.abs(sg.mean(y - w[0])), "neither a linear function"),
    (lambda: sg.sign(sg.sum(y)) * sg.sum(y), "neither a linear function"),
    (lambda: sg.reshape(sg.relu(sg.sum(y)), (1,)).sum(), "at 'relu.*neither a linear"),
])
def test_a_cost_that_does_not_combine_raises_naming_it(make, why):
    cost = make()
    cost.name = "my_cost"
    with pytest.raises(CombineError, match=f"'my_cost'.*{why}"):
        reduction(cost, "batch")


def test_value_and_grad_refuses_an_uncombinable_cost(client):
    cost = sg.sum((y - sg.mean(y)) ** 2)
    cost.name = "variance"
    with pytest.raises(CombineError, match="'variance'.*sum or a mean over batch"):
        sg.distributed.value_and_grad(cost, [y], [y], client, backend="numpy")


def window_data(n, vocab, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab, size=(n, 5)), rng.integers(0, 3, size=n)


def test_trainer_on_the_cluster_matches_one_process(client):
    # the window model with SparseAdam: sparse embedding rows travel as (index, rows)
    vocab, dim, hidden = 40, 6, 8
    m = build_model(vocab, dim, hidden)
    idx, labels = window_data(20 * 31, vocab)  # steps of 31: chunks of 16 and 15 examples

    def trained(**options):
        rng = np.random.default_rng(1)
        params = {m[k]: v for k, v in zip("EWbUc", [
            rng.normal(size=(vocab, dim)), rng.normal(scale=0.3, size=(5 * dim, hidden)),
            np.zeros(hidden), rng.normal(scale=0.3, size=(hidden, 3)), np.zeros(3)])}
        trainer = sg.Trainer(m["cost"], params, sg.optim.SparseAdam(lr=0.01), rng=0, **options)
        history = trainer.fit({m["idx"]: idx, m["y"]: labels}, epochs=1, batch_size=31,
                              progress=False)
        return params, history["step_loss"], trainer

    # one process on the numpy backend (its compiled step: optimiser updates in the
    # graph); the workers compile the gradients with Numba
    ref, ref_losses, single = trained(backend="numpy")
    got, losses, parallel = trained(client=client, backend="numba")
    assert parallel.steps == 20 and not parallel.compiled_step and single.compiled_step
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, atol=1e-15)
    assert losses[-1] < losses[0]
    # each worker's kernels use its one Dask thread, not every core
    assert set(client.run(sg.get_num_threads).values()) == {1}


def _die_at_first_chunk(marker):
    """Run in each worker: the first chunk any worker starts kills its process."""
    import symgrad.distributed as d
    load = d._load

    def load_or_die(*args):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return load(*args)
        os._exit(1)
    d._load = load_or_die


def test_a_worker_killed_mid_step_is_retried_with_the_same_result(client, tmp_path):
    cost = sg.nn.mse(X @ w, y)
    vg = sg.distributed.value_and_grad(cost, [w], [X, y, w], client, backend="numpy")
    shards = [np.array_split(X_, 4), np.array_split(Y_, 4)]
    before = vg(*shards, W_)
    marker = str(tmp_path / "killed")
    client.run(_die_at_first_chunk, marker)
    after = vg(*shards, W_)
    assert os.path.exists(marker)  # a worker did die
    assert after[0] == before[0] and np.array_equal(after[1][0], before[1][0])


def test_a_restarted_cluster_gets_the_function_again(client):
    # restarting forgets the function broadcast to the workers (and their compiled copies)
    vg = sg.distributed.value_and_grad(sg.nn.mse(X @ w, y), [w], [X, y, w], client,
                                       backend="numpy")
    shards = [np.array_split(X_, 3), np.array_split(Y_, 3)]
    before = vg(*shards, W_)
    client.restart()
    after = vg(*shards, W_)
    assert after[0] == before[0] and np.array_equal(after[1][0], before[1][0])


def _recording_overlaps(load, running, most):
    """``_load`` whose functions count how many chunks run at once (and sleep, to overlap)."""
    def load_and_record(*args, **kwargs):
        f = load(*args, **kwargs)

        def recorded(*chunk):
            with running["lock"]:
                running["now"] += 1
                most.append(running["now"])
            time.sleep(0.05)
            with running["lock"]:
                running["now"] -= 1
            return f(*chunk)
        return recorded
    return load_and_record


def test_a_threaded_cluster_runs_one_chunk_at_a_time_and_leaves_the_clients_threads(
        monkeypatch):
    # workers in this process, two Dask threads: the client's kernel thread count
    # must stay the user's, and chunks must not run side by side (each would take
    # the worker's threads for its kernels)
    import symgrad.distributed as d
    import symgrad.threads
    calls = []
    monkeypatch.setattr(symgrad.threads, "set_num_threads", calls.append)
    monkeypatch.setattr(d, "_loaded", {})  # the first load in a process picks the count
    most = []
    monkeypatch.setattr(d, "_load", _recording_overlaps(
        d._load, {"lock": threading.Lock(), "now": 0}, most))
    count = sg.get_num_threads()
    cluster = distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                       dashboard_address=":0")
    with cluster, distributed.Client(cluster) as threaded:
        vg = sg.distributed.value_and_grad(sg.nn.mse(X @ w, y), [w], [X, y, w], threaded,
                                           backend="numpy")
        value, _ = vg(np.array_split(X_, 4), np.array_split(Y_, 4), W_)
    np.testing.assert_allclose(value, np.mean((X_ @ W_ - Y_) ** 2), rtol=1e-13)
    assert calls == [] and sg.get_num_threads() == count
    assert len(most) == 4 and max(most) == 1


def test_the_docstring_examples(client):
    # value_and_grad's and ShardedFunction's examples, which skip as doctests (no cluster there)
    vg = sg.distributed.value_and_grad(sg.nn.mse(X[:, :2] @ w[:2], y), [w], [X, y, w], client,
                                       backend="numpy")
    value, (g,) = vg([np.ones((3, 3)), np.zeros((1, 3))], [np.ones(3), np.ones(1)], np.zeros(3))
    assert value == 1.0 and np.array_equal(g, [-1.5, -1.5, 0.0])
    x, v = sg.vector("x", "batch"), sg.scalar("v")
    cost = sg.mean((x - v) ** 2)
    f = sg.function([x, v], [cost, sg.grad(cost, v)], backend="numpy")
    sharded = sg.distributed.ShardedFunction(f, cost, client, batch="batch")
    value, g = sharded([np.array([1.0, 2.0]), np.array([6.0])], 0.0)
    np.testing.assert_allclose([value, g], [41 / 3, -6.0], rtol=1e-15)
