"""What parallel loops cost to compile: the cold first call with one Numba thread and with all cores.

    python benchmarks/parallel_compile.py [--only W4 Z3] [--repeat 2]

With more than one Numba thread, a big loop runs in chunks (a prange loop Numba
compiles in parallel mode) and a big product in blocks of rows
(``codegen.gemm.gemm_blocks``, or ``codegen.runtime.matmul_blocks`` for BLAS,
compiled once per machine and cached); with
``NUMBA_NUM_THREADS=1`` neither is generated. Per workload (W2-W5 of
WORKLOADS.md, the model zoo's Z1-Z6) and per setting, a fresh process with an
empty kernel cache times ``sg.value_and_grad`` plus its first call (after
importing symgrad and Numba), and counts the chunked loops and blocked
products in the kernel. The lowest of ``--repeat`` processes is kept.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
W_NAMES = ("W2", "W3", "W4", "W5")
Z_NAMES = ("Z1-10", "Z2", "Z3", "Z4", "Z5", "Z6")


def child(name, threads):
    """In a fresh process: the cold first call of ``name``; prints one JSON line."""
    if name.startswith("Z"):
        from zoo import ZOO  # sets NUMBA_NUM_THREADS=1 for its own tables: set ours after
        os.environ["NUMBA_NUM_THREADS"] = threads  # (zoo imports no Numba)
        model = ZOO[name]()
        build = None
    else:
        os.environ["NUMBA_NUM_THREADS"] = threads  # before workloads imports symgrad
        from workloads import WORKLOADS
        model = WORKLOADS[name]()
        build = model.build
    import numba
    import symgrad as sg
    assert numba.config.NUMBA_NUM_THREADS == int(threads)
    start = time.perf_counter()
    if build is None:
        cost, wrt, inputs = model.graph()
        f = sg.value_and_grad(cost, wrt, inputs=inputs, backend="numba")
    else:
        f = build("numba")
    f(*model.data)
    first = time.perf_counter() - start
    source = f._function._program.source
    print(json.dumps({"first": first, "chunks": source.count("prange("),
                      "blocks": source.count("matmul_blocks(") + source.count("gemm_blocks(")}))


def measure(name, threads, repeat):
    best = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="symgrad-compile-") as cache:
            env = dict(os.environ, SYMGRAD_CACHE_DIR=cache)
            done = subprocess.run([sys.executable, HERE, "--child", name, threads], env=env,
                                  capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"{name} at NUMBA_NUM_THREADS={threads}:\n{done.stderr}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
        best = got if best is None or got["first"] < best["first"] else best
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=W_NAMES + Z_NAMES)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(HERE))
    if args.child:
        return child(*args.child)
    cores = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count())
    print(f"| id | cold first call, 1 Numba thread | cold first call, {cores} threads | "
          f"difference | chunked loops | products in blocks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.only:
        one, all_ = measure(name, "1", args.repeat), measure(name, cores, args.repeat)
        print(f"| {name} | {one['first']:.2f} s | {all_['first']:.2f} s | "
              f"{all_['first'] - one['first']:+.2f} s | {all_['chunks']} | {all_['blocks']} |",
              flush=True)


if __name__ == "__main__":
    main()
