"""Data-parallel on Dask: the W3 MLP at batch 8192 on a 2-worker LocalCluster
(1 thread each) against one process on 1 thread, and where the time goes.
(Not named distributed.py: run as a script, that name would shadow the
``distributed`` package.)

    python benchmarks/data_parallel.py [--batch 8192] [--repeat 7]

Rows: one process on the whole batch; one chunk (half the batch) in one
process (the ideal per-worker compute); the distributed call (data persisted
on the workers, chunked along the batch); and its parts measured alone:
scattering the parameters to both workers, gathering both workers'
gradients, and a no-op task's round trip (scheduling). The rest of the
distributed time is what the parts do not explain (serialisation inside
tasks, waiting for the slower worker).
"""
import argparse
import statistics
import time

import numpy as np

import symgrad as sg


def mlp(batch):
    """The W3 graph with a named batch dimension, and its data at ``batch``."""
    X, y = sg.matrix("X", "batch", 784), sg.vector("y", "batch", dtype="int64")
    W1, b1 = sg.matrix("W1", 784, 256), sg.vector("b1", 256)
    W2, b2 = sg.matrix("W2", 256, 10), sg.vector("b2", 10)
    cost = sg.nn.softmax_cross_entropy(sg.relu(X @ W1 + b1) @ W2 + b2, y)
    rng = np.random.default_rng(3)
    data = [rng.random((batch, 784)), rng.integers(0, 10, batch)]
    params = [rng.normal(0, 0.05, (784, 256)), np.zeros(256), rng.normal(0, 0.05, (256, 10)),
              np.zeros(10)]
    return cost, [W1, b1, W2, b2], [X, y, W1, b1, W2, b2], data, params


def median_time(fn, repeat):
    fn()  # warm: compile, first transfers
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _noop():
    return None


def main(batch=8192, repeat=7):
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    cost, wrt, inputs, data, params = mlp(batch)
    sg.set_num_threads(1)
    vg = sg.value_and_grad(cost, wrt, inputs)
    rows = {"one process, whole batch": median_time(lambda: vg(*data, *params), repeat)}
    half = [d[:batch // 2] for d in data]
    rows["one process, one chunk (half)"] = median_time(lambda: vg(*half, *params), repeat)

    with Client(LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                             dashboard_address=None)) as client:
        dvg = sg.distributed.value_and_grad(cost, wrt, inputs, client)
        dvg.wait_compiled()
        X = client.persist(da.from_array(data[0], chunks=(batch // 2, 784)))
        y = client.persist(da.from_array(data[1], chunks=batch // 2))
        one = vg(*data, *params)
        got = dvg(X, y, *params)
        error = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(got[1], one[1]))
        rows["2 workers, distributed call"] = median_time(lambda: dvg(X, y, *params), repeat)
        rows["  scatter parameters (broadcast)"] = median_time(
            lambda: client.scatter(params, broadcast=True, hash=False), repeat)
        workers = list(client.scheduler_info()["workers"])
        held = [client.scatter(list(one[1]), workers=[w], hash=False) for w in workers]
        rows["  gather gradients from 2 workers"] = median_time(
            lambda: client.gather(held), repeat)
        rows["  no-op task round trip"] = median_time(
            lambda: client.submit(_noop, pure=False).result(), repeat)

    whole, dist = rows["one process, whole batch"], rows["2 workers, distributed call"]
    parts = sum(v for k, v in rows.items() if k.startswith("  "))
    rows["  rest (not explained by the parts)"] = dist - rows["one process, one chunk (half)"] - parts
    print(f"W3 MLP, batch {batch}, median of {repeat}; max relative gradient difference "
          f"{error:.1e}\n")
    print("| | ms |\n|---|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {1e3 * seconds:.1f} |")
    print(f"\nspeed-up of 2 workers over one process: {whole / dist:.2f}x "
          f"(ideal {whole / rows['one process, one chunk (half)']:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    main(args.batch, args.repeat)
