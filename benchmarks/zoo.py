"""The model zoo of WORKLOADS.md (Z1-Z6): compile time, per-call time and memory
of value and gradient on the numba backend.

    python benchmarks/zoo.py [--only Z1-10 Z4] [--timeout 240] [--calls 30]
    python benchmarks/run.py --zoo            # the same table, from run.py

Per model, two fresh subprocesses share one new, empty $SYMGRAD_CACHE_DIR:
the first times the cold first call (building ``sg.value_and_grad`` on the
numba backend, compiling and running it once; the clock starts after
``import symgrad`` and ``import numba``; also the process's CPU time for it,
which other processes on a busy machine disturb less), the second the
warm-cache first call in the same way, and then, in that warm process, the
median per call, the same computation written by hand in NumPy (forward and
backward), and the largest relative error of the numba results against
symgrad's numpy backend (and of the hand-written NumPy against it). A third
process, on another empty cache folder, times the cold first call with
``tiered=True`` (answered by the NumPy backend while the kernel compiles) and
the time until ``f.wait_compiled()`` returns. Peak RSS is each subprocess's
``ru_maxrss``. A cold compile that exceeds ``--timeout`` is reported as
"> timeout" and the model's other columns stay empty.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from report import fmt_time, rel_error  # noqa: E402

HERE = os.path.abspath(__file__)


class Model:
    """A zoo entry: ``data`` (argument arrays), ``graph()`` -> (cost, wrt, inputs) and
    ``by_hand(*data)`` -> (cost, [gradients]), forward and backward written in NumPy."""

    def __init__(self, title, data, graph, by_hand):
        self.title, self.data, self.graph, self.by_hand = title, data, graph, by_hand


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# Z1: LSTM unrolled T steps ------------------------------------------------------------

def lstm(steps, hidden=64, inputs=64, batch=32):
    """Z1: an LSTM unrolled ``steps`` steps (gates i, f, o, g from one fused product);
    cost = sum of the last hidden state. Parameters Wx, Wh, b; data x, h0, c0."""
    import symgrad as sg
    rng = np.random.default_rng(1)
    H = hidden
    data = [rng.normal(0, 1, (steps, batch, inputs)), rng.normal(0, 0.5, (batch, H)),
            rng.normal(0, 0.5, (batch, H)), rng.normal(0, 0.1, (inputs, 4 * H)),
            rng.normal(0, 0.1, (H, 4 * H)), rng.normal(0, 0.1, 4 * H)]

    def graph():
        x = sg.tensor("x", (steps, batch, inputs))
        h, c = sg.matrix("h0", batch, H), sg.matrix("c0", batch, H)
        Wx, Wh, b = sg.matrix("Wx", inputs, 4 * H), sg.matrix("Wh", H, 4 * H), sg.vector("b", 4 * H)
        params = [Wx, Wh, b]
        inputs_ = [x, h, c] + params
        for t in range(steps):
            z = x[t] @ Wx + h @ Wh + b
            i, f, o = (sg.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
            g = sg.tanh(z[:, 3 * H:])
            c = f * c + i * g
            h = o * sg.tanh(c)
        return h.sum(), params, inputs_

    def by_hand(x, h0, c0, Wx, Wh, b):
        hs, cs, gates = [h0], [c0], []
        for t in range(steps):
            z = x[t] @ Wx + hs[-1] @ Wh + b
            i, f, o = (_sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
            g = np.tanh(z[:, 3 * H:])
            cs.append(f * cs[-1] + i * g)
            hs.append(o * np.tanh(cs[-1]))
            gates.append((i, f, o, g))
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dh, dc = np.ones_like(h0), np.zeros_like(c0)
        for t in reversed(range(steps)):
            i, f, o, g = gates[t]
            tc = np.tanh(cs[t + 1])
            dc = dc + dh * o * (1.0 - tc * tc)
            dz = np.concatenate([dc * g * i * (1.0 - i), dc * cs[t] * f * (1.0 - f),
                                 dh * tc * o * (1.0 - o), dc * i * (1.0 - g * g)], axis=1)
            dWx += x[t].T @ dz
            dWh += hs[t].T @ dz
            db += dz.sum(axis=0)
            dh, dc = dz @ Wh.T, dc * f
        return hs[-1].sum(), [dWx, dWh, db]

    return Model(f"LSTM, {steps} step{'s' if steps > 1 else ''} (hidden 64, batch 32)",
                 data, graph, by_hand)


# Z2: causal self-attention + layer norm -----------------------------------------------

def attention(seq=128, width=64):
    """Z2: y = layer_norm(X + softmax(causal(Q K^T / sqrt(d))) V); cost = sum(y * R)."""
    import symgrad as sg
    rng = np.random.default_rng(2)
    s = 1.0 / np.sqrt(width)
    data = [rng.normal(0, 1, (seq, width)), rng.normal(0, 1, (seq, width)),
            rng.normal(0, s, (width, width)), rng.normal(0, s, (width, width)),
            rng.normal(0, s, (width, width)), 1.0 + rng.normal(0, 0.1, width),
            rng.normal(0, 0.1, width)]
    mask = np.triu(np.full((seq, seq), -1e9), k=1)

    def graph():
        X, R = sg.matrix("X", seq, width), sg.matrix("R", seq, width)
        Wq, Wk, Wv = (sg.matrix(n, width, width) for n in ("Wq", "Wk", "Wv"))
        gamma, beta = sg.vector("gamma", width), sg.vector("beta", width)
        scores = (X @ Wq) @ (X @ Wk).T * (1.0 / np.sqrt(width)) + sg.constant(mask)
        z = X + sg.softmax(scores, axis=-1) @ (X @ Wv)
        d = z - z.mean(axis=1).reshape((seq, 1))
        var = (d * d).mean(axis=1).reshape((seq, 1))
        y = d / sg.sqrt(var + 1e-5) * gamma + beta
        params = [Wq, Wk, Wv, gamma, beta]
        return (y * R).sum(), params, [X, R] + params

    def by_hand(X, R, Wq, Wk, Wv, gamma, beta):
        Q, K, V = X @ Wq, X @ Wk, X @ Wv
        S = Q @ K.T / np.sqrt(width) + mask
        A = np.exp(S - S.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
        z = X + A @ V
        d = z - z.mean(axis=1, keepdims=True)
        r = 1.0 / np.sqrt((d * d).mean(axis=1, keepdims=True) + 1e-5)
        xhat = d * r
        dxhat = R * gamma
        dz = r * (dxhat - dxhat.mean(axis=1, keepdims=True)
                  - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
        dA = dz @ V.T
        dS = A * (dA - (dA * A).sum(axis=1, keepdims=True)) / np.sqrt(width)
        grads = [X.T @ (dS @ K), X.T @ (dS.T @ Q), X.T @ (A.T @ dz),
                 (R * xhat).sum(axis=0), R.sum(axis=0)]
        return ((xhat * gamma + beta) * R).sum(), grads

    return Model("causal self-attention + layer norm (seq 128, width 64)", data, graph, by_hand)


# Z3: conv1d as einsum over windows ----------------------------------------------------

def conv1d(length=256, c_in=32, c_out=64, width=5, batch=16):
    """Z3: valid conv1d, windows built by static slices and stacked, contracted by
    ``einsum('kbcl,ock->bol')``; cost = sum(tanh(y + b))."""
    import symgrad as sg
    rng = np.random.default_rng(3)
    out = length - width + 1
    data = [rng.normal(0, 1, (batch, c_in, length)),
            rng.normal(0, 1 / np.sqrt(c_in * width), (c_out, c_in, width)), rng.normal(0, 0.1, c_out)]

    def graph():
        x = sg.tensor("x", (batch, c_in, length))
        W, b = sg.tensor("W", (c_out, c_in, width)), sg.vector("b", c_out)
        windows = sg.stack([x[:, :, k:k + out] for k in range(width)], 0)
        y = sg.einsum("kbcl,ock->bol", windows, W) + b.reshape((1, c_out, 1))
        return sg.tanh(y).sum(), [W, b], [x, W, b]

    def by_hand(x, W, b):
        windows = np.stack([x[:, :, k:k + out] for k in range(width)], 0)
        t = np.tanh(np.einsum("kbcl,ock->bol", windows, W, optimize=True) + b[None, :, None])
        dy = 1.0 - t * t
        return t.sum(), [np.einsum("bol,kbcl->ock", dy, windows, optimize=True), dy.sum(axis=(0, 2))]

    return Model("conv1d by einsum over windows (len 256, 32→64 ch, width 5, batch 16)",
                 data, graph, by_hand)


# Z4: deep tanh MLP --------------------------------------------------------------------

def deep_mlp(layers=20, width=16, batch=256):
    """Z4: ``layers`` layers h = tanh(h @ W_i + b_i); cost = sum(h**2) / batch."""
    import symgrad as sg
    rng = np.random.default_rng(4)
    data = [rng.normal(0, 1, (batch, width))]
    for _ in range(layers):
        data += [rng.normal(0, 1 / np.sqrt(width), (width, width)), rng.normal(0, 0.1, width)]

    def graph():
        x = sg.matrix("x", batch, width)
        params, h = [], x
        for i in range(layers):
            W, b = sg.matrix(f"W{i}", width, width), sg.vector(f"b{i}", width)
            params += [W, b]
            h = sg.tanh(h @ W + b)
        return (h * h).sum() * (1.0 / batch), params, [x] + params

    def by_hand(x, *params):
        hs = [x]
        for i in range(layers):
            hs.append(np.tanh(hs[-1] @ params[2 * i] + params[2 * i + 1]))
        grads, dh = [], 2.0 * hs[-1] / batch
        for i in reversed(range(layers)):
            da = dh * (1.0 - hs[i + 1] ** 2)
            grads[:0] = [hs[i].T @ da, da.sum(axis=0)]
            dh = da @ params[2 * i].T
        return (hs[-1] ** 2).sum() / batch, grads

    return Model("MLP, 20 tanh layers of 16 (batch 256)", data, graph, by_hand)


# Z5: word2vec skip-gram negative sampling ---------------------------------------------

def word2vec(batch=256, negatives=10, vocab=20000, dim=100):
    """Z5: mean over the batch of -log sigmoid(u.v) - sum_k log sigmoid(-u.n_k), written
    with softplus; u = E_in[center], v = E_out[context], n = E_out[negatives]."""
    import symgrad as sg
    rng = np.random.default_rng(5)
    data = [rng.integers(0, vocab, batch), rng.integers(0, vocab, batch),
            rng.integers(0, vocab, (batch, negatives)),
            rng.normal(0, 0.1, (vocab, dim)), rng.normal(0, 0.1, (vocab, dim))]

    def graph():
        center, context = sg.vector("center", batch, dtype="int64"), sg.vector("context", batch, dtype="int64")
        neg = sg.matrix("neg", batch, negatives, dtype="int64")
        E_in, E_out = sg.matrix("E_in", vocab, dim), sg.matrix("E_out", vocab, dim)
        u = E_in[center]
        pos = (u * E_out[context]).sum(axis=1)
        negs = sg.einsum("bd,bkd->bk", u, E_out[neg])
        cost = (sg.softplus(-pos).sum() + sg.softplus(negs).sum()) * (1.0 / batch)
        return cost, [E_in, E_out], [center, context, neg, E_in, E_out]

    def by_hand(center, context, neg, E_in, E_out):
        u, v, n = E_in[center], E_out[context], E_out[neg]
        pos = (u * v).sum(axis=1)
        negs = np.einsum("bd,bkd->bk", u, n)
        cost = (np.logaddexp(0.0, -pos).sum() + np.logaddexp(0.0, negs).sum()) / batch
        dpos, dneg = -_sigmoid(-pos) / batch, _sigmoid(negs) / batch
        dE_in, dE_out = np.zeros_like(E_in), np.zeros_like(E_out)
        np.add.at(dE_in, center, dpos[:, None] * v + np.einsum("bk,bkd->bd", dneg, n))
        np.add.at(dE_out, context, dpos[:, None] * u)
        np.add.at(dE_out, neg, dneg[:, :, None] * u[:, None, :])
        return cost, [dE_in, dE_out]

    return Model("word2vec SGNS (batch 256, K 10, vocab 20000, dim 100)", data, graph, by_hand)


# Z6: dependency-parser MLP ------------------------------------------------------------

def parser_mlp(batch=1024, features=36, dim=50, hidden=200, classes=3, vocab=10000):
    """Z6: Chen & Manning's parser MLP with ReLU: 36 gathered 50-d embeddings,
    hidden 200, 3 transitions, softmax cross-entropy (vocabulary 10000)."""
    import symgrad as sg
    rng = np.random.default_rng(6)
    data = [rng.integers(0, vocab, (batch, features)), rng.integers(0, classes, batch),
            rng.normal(0, 0.1, (vocab, dim)), rng.normal(0, 0.05, (features * dim, hidden)),
            rng.normal(0, 0.1, hidden), rng.normal(0, 0.1, (hidden, classes)), np.zeros(classes)]

    def graph():
        idx, labels = sg.matrix("idx", batch, features, dtype="int64"), sg.vector("labels", batch, dtype="int64")
        E, W1 = sg.matrix("E", vocab, dim), sg.matrix("W1", features * dim, hidden)
        b1, W2, b2 = sg.vector("b1", hidden), sg.matrix("W2", hidden, classes), sg.vector("b2", classes)
        h = sg.relu(sg.reshape(E[idx], (batch, features * dim)) @ W1 + b1)
        cost = sg.nn.softmax_cross_entropy(h @ W2 + b2, labels)
        params = [E, W1, b1, W2, b2]
        return cost, params, [idx, labels] + params

    def by_hand(idx, labels, E, W1, b1, W2, b2):
        x = E[idx].reshape(batch, features * dim)
        a = x @ W1 + b1
        h = np.maximum(a, 0.0)
        logits = h @ W2 + b2
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(batch)
        cost = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, labels])
        dlogits = e / s
        dlogits[rows, labels] -= 1.0
        dlogits /= batch
        da = (dlogits @ W2.T) * (a > 0)
        dE = np.zeros_like(E)
        np.add.at(dE, idx, (da @ W1.T).reshape(batch, features, dim))
        return cost, [dE, x.T @ da, da.sum(axis=0), h.T @ dlogits, dlogits.sum(axis=0)]

    return Model("dependency-parser MLP (36×50 emb, ReLU 200, 3 classes, batch 1024)",
                 data, graph, by_hand)


ZOO = {"Z1-1": lambda: lstm(1), "Z1-3": lambda: lstm(3), "Z1-10": lambda: lstm(10),
       "Z1-30": lambda: lstm(30), "Z2": attention, "Z3": conv1d, "Z4": deep_mlp,
       "Z5": word2vec, "Z6": parser_mlp}


def _median_call(fn, data, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(*data)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child(model_id, mode, calls):
    """Run in a fresh subprocess: time the first numba call (``mode`` "cold" or
    "warm"; "tiered": the first call with ``tiered=True``, and the time until
    ``wait_compiled`` returns); when warm, also the per-call medians and the
    errors. Prints one JSON line."""
    import numba  # noqa: F401 - importing Numba is a per-process cost, not compile time
    import symgrad as sg
    m = ZOO[model_id]()
    warm, tiered = mode == "warm", mode == "tiered"
    start, cpu = time.perf_counter(), time.process_time()
    cost, wrt, inputs = m.graph()
    f = sg.value_and_grad(cost, wrt, inputs=inputs, backend="numba", tiered=tiered)
    got = f(*m.data)
    result = {"first": time.perf_counter() - start, "first_cpu": time.process_time() - cpu}
    if tiered:
        f.wait_compiled()
        result["compiled"] = time.perf_counter() - start
    if warm:
        reference = sg.value_and_grad(cost, wrt, inputs=inputs, backend="numpy")(*m.data)
        result["error"] = rel_error(got, reference)
        result["per_call"] = _median_call(f, m.data, calls)
        result["hand_error"] = rel_error(m.by_hand(*m.data), reference)
        result["hand_per_call"] = _median_call(m.by_hand, m.data, calls)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run_child(model_id, cache_dir, mode, calls, timeout):
    cmd = [sys.executable, HERE, "--child", model_id, "--mode", mode, "--calls", str(calls)]
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache_dir)
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode:
        raise RuntimeError(f"{model_id}: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def zoo_row(model_id, timeout, calls):
    """One markdown row for ``model_id`` (cold and warm subprocesses on a new cache dir,
    a tiered one on another; removed afterwards)."""
    m = ZOO[model_id]()
    with tempfile.TemporaryDirectory(prefix="symgrad-zoo-") as cache:
        cold = _run_child(model_id, cache, "cold", calls, timeout)
        if cold is None:
            return f"| {model_id} | {m.title} | > {timeout:.0f} s | – | – | – | – | – | – | – |"
        warm = _run_child(model_id, cache, "warm", calls, timeout)
    with tempfile.TemporaryDirectory(prefix="symgrad-zoo-") as cache:
        tiered = _run_child(model_id, cache, "tiered", calls, timeout)
    return (f"| {model_id} | {m.title} | {fmt_time(cold['first'])} ({fmt_time(cold['first_cpu'])}) | "
            f"{fmt_time(tiered['first'])} / {fmt_time(tiered['compiled'])} | "
            f"{fmt_time(warm['first'])} | "
            f"{fmt_time(warm['per_call'])} | {fmt_time(warm['hand_per_call'])} | "
            f"{warm['per_call'] / warm['hand_per_call']:.2f}× | "
            f"{cold['rss_mb']:.0f} / {warm['rss_mb']:.0f} | "
            f"{warm['error']:.1e} / {warm['hand_error']:.1e} |")


def zoo_table(only=None, timeout=240.0, calls=30):
    """Run the zoo (``only``: a list of ids, default all) and return the markdown table
    with notes on the machine's load and the peers that are not installed."""
    ids = only or list(ZOO)
    load_before = os.getloadavg()
    lines = ["| id | model | first call, cold (CPU time) | tiered, cold: first call / compiled | "
             "first call, warm cache | per call (numba) | "
             "NumPy by hand per call | ratio to NumPy | peak RSS MB (cold / warm process) | "
             "max rel. error vs numpy backend (numba / by hand) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model_id in ids:
        lines.append(zoo_row(model_id, timeout, calls))
        print(lines[-1], file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    lines += ["", f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
                 f"after: {', '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} cores, 1 thread"]
    missing = []
    for peer in ("torch", "jax"):
        try:
            __import__(peer)
        except ImportError:
            missing.append({"torch": "PyTorch", "jax": "JAX"}[peer])
    if missing:
        lines.append(f"- {' and '.join(missing)} not installed here: no peer columns.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="cold", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", choices=list(ZOO))
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds allowed for one cold first call (default 240)")
    parser.add_argument("--calls", type=int, default=30, help="calls timed per median (default 30)")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.mode, args.calls)
    print(zoo_table(args.only, args.timeout, args.calls))


if __name__ == "__main__":
    main()
