"""Thread scaling: W2-W5 at 1 thread and at all cores, for symgrad and its peers.

    python benchmarks/threads.py [--out PATH] [--rounds 20] [--repeat 2] [--only W2 W4]

Under a minute on a quiet 2-core machine (90 s on a busy one). Each thread
count n runs in fresh subprocesses, set up before any library starts a thread
pool: the process's CPU affinity is its first n cores, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS are n, then ``sg.set_num_threads(n)`` (kernels and BLAS),
``torch.set_num_threads(n)`` and ``torch.set_num_interop_threads(n)``. JAX 0.10
sizes its CPU pool from the affinity alone: ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1"`` left its W4 time unchanged here (18 ms), pinning
the process to one core doubled it (35 ms). NUMBA_NUM_THREADS keeps its default.
OPENBLAS_THREAD_TIMEOUT=4: after a call, OpenBLAS's threads otherwise spin
for about 2^28 cycles (~0.1 s) before they sleep, holding the cores the next
library's threads need; interleaved with NumPy by hand, symgrad's W3 at 2
threads took 1.87 ms instead of 0.99 ms, and PyTorch's slowed it too
(1.64 ms). With the timeout every library's time is the same as alone (NumPy
by hand's own W3 is 6% slower: 1.09 ms instead of 1.02 ms).

In each subprocess, per workload: symgrad (numba backend), NumPy by hand,
PyTorch (eager) and JAX (``jit(value_and_grad)``), the last two where installed,
are checked against NumPy by hand, warmed up, then timed interleaved (median of
single calls, see ``interleaved_medians``). The 1- and N-thread processes
alternate ``--repeat`` times and each median is the lowest of its processes: a
burst of other work on the machine then spoils at most one of them. The table
gives each library's median at 1 and at N threads, its speed-up over its own
1-thread time, and symgrad's time over that library's at the same thread count
(below 1: symgrad is faster); then whether symgrad's cost and gradients are the
same bits in every process, and the machine. All subprocesses share one kernel
cache ($SYMGRAD_CACHE_DIR, or a new temporary folder), so only the first
compiles. The table is printed, and written to --out if given (never to
RESULTS.md, which is run.py's).
"""
import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
NAMES = ("W2", "W3", "W4", "W5")
SYMGRAD, NUMPY, TORCH, JAX = "symgrad", "NumPy by hand", "PyTorch (eager)", "JAX (jit)"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PEERS = (("torch", "PyTorch"), ("jax", "JAX"))


def all_cores():
    """The cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


# The subprocess: one thread count -------------------------------------------------------

def _start_libraries(n):
    """Import every library and give it n threads, before any of them starts a pool."""
    os.sched_setaffinity(0, all_cores()[:n])
    import symgrad as sg  # and NumPy: its OpenBLAS reads OPENBLAS_NUM_THREADS as it loads
    peers = {}
    try:
        import torch
        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)
        peers["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        import jax
        peers["jax"] = jax.__version__
    except ImportError:
        pass
    sg.set_num_threads(n)  # last: threadpoolctl limits the BLAS libraries loaded so far
    return peers


def interleaved_medians(impls, data, rounds, block_seconds=0.02):
    """Median seconds per call of each implementation: rounds of back-to-back blocks
    of calls (about block_seconds each, after two warm-up calls), every call timed.

    Per call, not per block as run.py's ``per_call_medians``: with all cores busy,
    a call whose fork-join waits on a core another process holds takes tens of ms
    here (a 1 ms W2 call at 2 threads sometimes took 40 ms), and a block's mean
    would carry those stalls where the median of calls leaves them out.
    """
    calls = {}
    for name, fn in impls.items():
        fn(*data)
        start = time.perf_counter()
        fn(*data)
        calls[name] = max(1, int(block_seconds / max(time.perf_counter() - start, 1e-7)))
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            for _ in range(calls[name]):
                start = time.perf_counter()
                fn(*data)
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def _machine_cpu_seconds():
    """CPU seconds every process on the machine has used since boot (Linux's
    /proc/stat), or None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def _others_share(start):
    """The fraction of all cores' time since ``start`` = (wall, own CPU, machine CPU)
    that other processes used, or None without /proc/stat."""
    wall, own, machine = start
    if machine is None:
        return None
    others = (_machine_cpu_seconds() - machine) - (time.process_time() - own)
    return max(0.0, others / ((time.perf_counter() - wall) * os.cpu_count()))


def _digest(result):
    import numpy as np
    h = hashlib.sha256()
    for a in [result[0]] + list(result[1]):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def child(n, names, rounds):
    """Time every library on each workload at n threads; print one JSON line."""
    peers = _start_libraries(n)
    import numba
    import numpy as np
    import threadpoolctl

    import symgrad as sg
    from report import rel_error
    from workloads import WORKLOADS, jax_value_and_grad

    start = (time.perf_counter(), time.process_time(), _machine_cpu_seconds())
    out = {"threads": n, "workloads": {},
           "versions": dict(peers, python=platform.python_version(), symgrad=sg.__version__,
                            numpy=np.__version__, numba=numba.__version__,
                            pools=", ".join(f"{i['internal_api']} {i['version'] or ''}".strip()
                                            for i in threadpoolctl.threadpool_info()))}
    for name in names:
        w = WORKLOADS[name]()
        impls = {SYMGRAD: w.build("numba"), NUMPY: w.numpy}
        if "torch" in peers:
            import torch
            impls[TORCH] = w.torch_fn(torch)  # not w.torch(): that pins PyTorch to 1 thread
        if "jax" in peers:
            impls[JAX] = jax_value_and_grad(name)
        reference = w.numpy(*w.data)
        results = {k: fn(*w.data) for k, fn in impls.items()}
        checked = {"error": {k: rel_error(r, reference) for k, r in results.items()},
                   "digest": _digest(results[SYMGRAD])}
        out["workloads"][name] = dict(checked, median=interleaved_medians(impls, w.data, rounds))
    out["others"] = _others_share(start)
    try:
        out["versions"]["layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel ran
        out["versions"]["layer"] = "not started"
    print(json.dumps(out))


# The parent: subprocesses per thread count, then the table -----------------------------

def run_child(n, names, rounds, cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache_dir, OPENBLAS_THREAD_TIMEOUT="4",
               **{v: str(n) for v in THREAD_VARIABLES})
    cmd = [sys.executable, HERE, "--child", str(n), "--rounds", str(rounds), "--only", *names]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"the {n}-thread subprocess failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(names, rounds, repeat, cache_dir):
    """{thread count: results} for 1 and all cores. The subprocesses alternate (1, N,
    1, N, ...) so that a burst of other work on the machine hits both counts; each
    median is the lowest of its ``repeat`` processes, the error the largest."""
    runs = {n: [] for n in sorted({1, len(all_cores())})}
    for _ in range(repeat):
        for n, done in runs.items():
            done.append(run_child(n, names, rounds, cache_dir))
    combined = {}
    for n, done in runs.items():
        combined[n] = {"versions": done[0]["versions"], "others": [d["others"] for d in done],
                       "workloads": {}}
        for name, first in done[0]["workloads"].items():
            per = [d["workloads"][name] for d in done]
            combined[n]["workloads"][name] = {
                "median": {lib: min(p["median"][lib] for p in per) for lib in first["median"]},
                "error": {lib: max(p["error"][lib] for p in per) for lib in first["error"]},
                "digests": {p["digest"] for p in per}}
    return combined


def _ms(seconds):
    return f"{seconds * 1e3:.3g}"


def table(results):
    """Markdown: per workload and library, medians at 1 and N threads, speed-up, symgrad's ratios."""
    n = max(results)
    one, many = results[1]["workloads"], results[n]["workloads"]
    lines = [f"| workload | library | 1 thread (ms) | {n} threads (ms) | speed-up | "
             f"symgrad ÷ it, 1 thread | symgrad ÷ it, {n} threads | max rel. error |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    identical = []
    for name, w1 in one.items():
        t1, tn = w1["median"], many[name]["median"]
        for lib in t1:
            ratios = ("–", "–") if lib == SYMGRAD else (
                f"{t1[SYMGRAD] / t1[lib]:.2f}", f"{tn[SYMGRAD] / tn[lib]:.2f}")
            error = max(w1["error"][lib], many[name]["error"][lib])
            lines.append(f"| {name} | {lib} | {_ms(t1[lib])} | {_ms(tn[lib])} | "
                         f"{t1[lib] / tn[lib]:.2f}× | {ratios[0]} | {ratios[1]} | {error:.1e} |")
        same = len(w1["digests"] | many[name]["digests"]) == 1
        identical.append(f"{name} {'yes' if same else 'NO'}")
    v = results[n]["versions"]
    peers = "".join(f", {label} {v[key]}" for key, label in PEERS if key in v)
    missing = [label for key, label in PEERS if key not in v]
    others = "; ".join(f"{k} thread{'s' * (k > 1)}: " + ", ".join(
        "?" if x is None else f"{x:.0%}" for x in r["others"]) for k, r in results.items())
    lines += ["", f"symgrad's cost and gradients, same bits at 1 and {n} threads: "
                  + ", ".join(identical) + ".",
              "", f"Machine: {len(all_cores())} cores ({_cpu_name()}), Python {v['python']}, "
                  f"symgrad {v['symgrad']}, NumPy {v['numpy']}, Numba {v['numba']}{peers}; "
                  f"Numba's threading layer: {v['layer']}; thread pools loaded: {v['pools']}.",
              "", f"Other processes' share of the machine's CPU time during each subprocess: "
                  f"{others}. Where it is high, the {n}-thread times suffer first: a "
                  f"fork-join waits for a core another process holds."]
    if missing:
        lines.append(f"Not installed here (rows omitted): {', '.join(missing)}.")
    return "\n".join(lines) + "\n"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2,
                        help="processes per thread count; each median is the lowest")
    parser.add_argument("--only", nargs="*", default=list(NAMES), choices=NAMES)
    parser.add_argument("--out", help="also write the table here (not benchmarks/RESULTS.md)")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.only, args.rounds)
    if args.out and os.path.abspath(args.out) == os.path.join(os.path.dirname(HERE), "RESULTS.md"):
        parser.error("--out: RESULTS.md is run.py's; write the thread table elsewhere")
    cache_dir = os.environ.get("SYMGRAD_CACHE_DIR") or tempfile.mkdtemp(prefix="symgrad-threads-")
    text = table(measure(args.only, args.rounds, args.repeat, cache_dir))
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
