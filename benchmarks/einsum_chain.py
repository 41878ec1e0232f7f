"""A three-operand einsum against the matrix products it stands for.

``sg.einsum("ij,jk,kl->il", A, B, C)`` is split into pairwise contractions by
the optimize stage (symgrad/optimize.py); before that it lowered to one
O(n⁴) loop nest. Prints the median per-call times (compiled, one thread) of
the einsum, of ``A @ B @ C`` in symgrad and of ``A @ B @ C`` in NumPy.

    python benchmarks/einsum_chain.py [n]
"""
import sys
import time

import numpy as np

import symgrad as sg


def median_seconds(call, rounds=200):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(n=120):
    A, B, C = (sg.matrix(name, n, n) for name in "ABC")
    chain = sg.function([A, B, C], sg.einsum("ij,jk,kl->il", A, B, C))
    products = sg.function([A, B, C], A @ B @ C)
    a, b, c = (np.random.default_rng(k).standard_normal((n, n)) for k in range(3))
    np.testing.assert_allclose(chain(a, b, c), a @ b @ c, rtol=1e-10)
    t_chain = median_seconds(lambda: chain(a, b, c))
    t_products = median_seconds(lambda: products(a, b, c))
    t_numpy = median_seconds(lambda: a @ b @ c)
    print(f"n={n}: einsum 'ij,jk,kl->il' {t_chain * 1e6:.0f} µs, symgrad A @ B @ C "
          f"{t_products * 1e6:.0f} µs, NumPy A @ B @ C {t_numpy * 1e6:.0f} µs; "
          f"einsum / NumPy {t_chain / t_numpy:.2f}×")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
