"""Run the WORKLOADS.md benchmarks and write a markdown table.

    python benchmarks/run.py [--rounds 7] [--out benchmarks/RESULTS.md] [--only W3]
    python benchmarks/run.py --zoo     # the Z1-Z6 model zoo instead (benchmarks/zoo.py)

Per workload and implementation: first call cold (graph build + compile +
first run, in a new process with an empty cache), first call with a warm
cache in a new process (both after importing symgrad and Numba), median per call (peers interleaved, 1 thread
everywhere), ratio to hand-written NumPy, and max relative error against it.
W2c (W2 written as the concatenation of five lookups) is followed by its
per-call ratio over W2's (target: within 10%). Then the W5 scaling rows:
`sg.grad` time, gradient/forward node ratio and cold compile time at 100,
300 and 1000 ops. With --zoo, only the model-zoo table of zoo.py is printed
(--out is not written).
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report import fmt_time, rel_error  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

import symgrad as sg  # noqa: E402
from symgrad.graph import toposort  # noqa: E402

HERE = os.path.abspath(__file__)


def first_call_in_new_process(workload, backend, cache_dir, n_ops=None):
    """Seconds from building the graph to the first result, in a fresh process."""
    cmd = [sys.executable, HERE, "--first", workload, backend]
    if n_ops:
        cmd += ["--ops", str(n_ops)]
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache_dir)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return float(done.stdout.split()[-1])


def _make(name, n_ops=None):
    return WORKLOADS[name](n_ops) if n_ops else WORKLOADS[name]()


def _first(name, backend, n_ops):
    import symgrad_codegen  # noqa: F401 - importing Numba is a per-process cost, not compile time
    w = _make(name, n_ops)
    start = time.perf_counter()
    w.build(backend)(*w.data)
    print(time.perf_counter() - start)


def per_call_medians(impls, data, rounds):
    """Median seconds per call of each implementation, timed in interleaved batches."""
    batch = {}
    for name, fn in impls.items():
        fn(*data)
        start = time.perf_counter()
        fn(*data)
        once = max(time.perf_counter() - start, 1e-7)
        batch[name] = max(1, min(100_000, int(0.05 / once)))
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            start = time.perf_counter()
            for _ in range(batch[name]):
                fn(*data)
            samples[name].append((time.perf_counter() - start) / batch[name])
    return {name: statistics.median(s) for name, s in samples.items()}


def workload_rows(name, rounds):
    """The table rows of one workload, and its numba backend's per-call ratio to NumPy by hand."""
    w = _make(name)
    impls = {"symgrad numba": w.build("numba"), "symgrad numpy": w.build("numpy"),
             "NumPy by hand": w.numpy}
    torch_fn = w.torch()
    if torch_fn is not None:
        impls["PyTorch (eager)"] = torch_fn
    reference = w.numpy(*w.data)
    errors = {k: rel_error(fn(*w.data), reference) for k, fn in impls.items()}
    medians = per_call_medians(impls, w.data, rounds)
    cache = tempfile.mkdtemp(prefix="symgrad-bench-")
    firsts = {"symgrad numba": (first_call_in_new_process(name, "numba", cache),
                                first_call_in_new_process(name, "numba", cache)),
              "symgrad numpy": (first_call_in_new_process(name, "numpy", cache), None)}
    rows = []
    for k in impls:
        cold, warm = firsts.get(k, (None, None))
        rows.append(f"| {name} | {k} | {fmt_time(cold)} | {fmt_time(warm)} | "
                    f"{fmt_time(medians[k])} | {medians[k] / medians['NumPy by hand']:.2f}× | "
                    f"{errors[k]:.1e} |")
    return rows, medians["symgrad numba"] / medians["NumPy by hand"]


def scaling_rows():
    rows = []
    for n_ops in (100, 300, 1000):
        w = _make("W5", n_ops)
        cost, wrt, _ = w.graph()
        start = time.perf_counter()
        grads = sg.grad(cost, wrt)
        grad_time = time.perf_counter() - start
        ratio = len(toposort([cost] + grads)) / len(toposort([cost]))
        cold = first_call_in_new_process("W5", "numba", tempfile.mkdtemp(prefix="symgrad-bench-"),
                                         n_ops)
        rows.append(f"| {n_ops} | {fmt_time(grad_time)} | {ratio:.2f} | {fmt_time(cold)} |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", nargs=2, metavar=("WORKLOAD", "BACKEND"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--ops", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--zoo", action="store_true",
                        help="print the Z1-Z6 model-zoo table (zoo.py) instead; --out is not written")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "RESULTS.md"))
    args = parser.parse_args()
    if args.first:
        return _first(*args.first, args.ops)
    if args.zoo:
        from zoo import zoo_table
        return print(zoo_table())
    lines = ["| workload | implementation | first call, cold | first call, warm cache | "
             "median per call | ratio to NumPy | max rel. error |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    ratios = {}
    for name in args.only:
        rows, ratios[name] = workload_rows(name, args.rounds)
        lines += rows
        print("\n".join(rows), flush=True)
    if "W2" in ratios and "W2c" in ratios:
        lines += ["", f"W2c (x as the concatenation of five lookups) per call: "
                      f"{ratios['W2c'] / ratios['W2']:.2f}× W2's (each against NumPy by hand)."]
    if not args.no_scaling:
        lines += ["", "W5 scaling (numba backend):", "",
                  "| ops | sg.grad time | grad nodes / forward nodes | cold compile |",
                  "| --- | --- | --- | --- |"]
        lines += scaling_rows()
    try:
        import jax  # noqa: F401
    except ImportError:
        lines += ["", "JAX and PyTensor are not installed here; their rows are omitted."]
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
