"""The five workloads of WORKLOADS.md: each as a symgrad graph, the same
computation in hand-written NumPy (forward and backward derived by hand) and,
when installed, PyTorch. Every implementation returns (cost, [gradients])."""
import numpy as np

import symgrad as sg


class Workload:
    """``build(backend)`` -> callable(*data); ``numpy(*data)``; ``torch()`` -> callable or None."""

    def __init__(self, name, data, graph, numpy_fn, torch_fn=None):
        self.name, self.data, self.graph, self.numpy, self.torch_fn = (
            name, data, graph, numpy_fn, torch_fn)

    def build(self, backend):
        cost, wrt, inputs = self.graph()
        return sg.value_and_grad(cost, wrt, inputs=inputs, backend=backend)

    def torch(self):
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(1)
        return self.torch_fn(torch) if self.torch_fn else None


def _softmax_xent_numpy(logits, labels):
    n = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    cost = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(n), labels])
    d = e / s
    d[np.arange(n), labels] -= 1.0
    return cost, d / n


# W1 -----------------------------------------------------------------------------------

def w1():
    def graph():
        x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
        return (x + y) * sg.maximum(y, z), [x, y, z], [x, y, z]

    def by_hand(x, y, z):
        m = y if y >= z else z
        s = x + y
        return s * m, [m, m + (s if y >= z else 0.0), 0.0 if y >= z else s]

    def torch_fn(torch):
        def run(x, y, z):
            x, y, z = (torch.tensor(v, requires_grad=True) for v in (x, y, z))
            f = (x + y) * torch.where(y >= z, y, z)
            f.backward()
            return f.item(), [x.grad.item(), y.grad.item(), z.grad.item()]
        return run

    return Workload("W1", [1.0, 2.0, 0.0], graph, by_hand, torch_fn)


# W2 -----------------------------------------------------------------------------------

def w2():
    rng = np.random.default_rng(2)
    data = [rng.integers(0, 20000, (512, 5)), rng.integers(0, 5, 512),
            rng.normal(0, 0.1, (20000, 50)), rng.normal(0, 0.1, (100, 250)),
            rng.normal(0, 0.1, 100), rng.normal(0, 0.1, (5, 100))]

    def graph():
        idx, labels = sg.matrix("idx", 512, 5, dtype="int64"), sg.vector("labels", 512, dtype="int64")
        E, W = sg.matrix("E", 20000, 50), sg.matrix("W", 100, 250)
        b, U = sg.vector("b", 100), sg.matrix("U", 5, 100)
        h = sg.tanh(sg.reshape(E[idx], (512, 250)) @ W.T + b)
        cost = sg.nn.softmax_cross_entropy(h @ U.T, labels)
        return cost, [E, W, b, U], [idx, labels, E, W, b, U]

    def by_hand(idx, labels, E, W, b, U):
        x = E[idx].reshape(512, 250)
        h = np.tanh(x @ W.T + b)
        cost, dlogits = _softmax_xent_numpy(h @ U.T, labels)
        dU = dlogits.T @ h
        da = (dlogits @ U) * (1.0 - h * h)
        dW, db = da.T @ x, da.sum(axis=0)
        dE = np.zeros_like(E)
        np.add.at(dE, idx, (da @ W).reshape(512, 5, 50))
        return cost, [dE, dW, db, dU]

    def torch_fn(torch):
        def run(idx, labels, E, W, b, U):
            idx, labels = torch.from_numpy(idx), torch.from_numpy(labels)
            E, W, b, U = (torch.tensor(v, requires_grad=True) for v in (E, W, b, U))
            h = torch.tanh(E[idx].reshape(512, 250) @ W.T + b)
            cost = torch.nn.functional.cross_entropy(h @ U.T, labels)
            cost.backward()
            return cost.item(), [t.grad.numpy() for t in (E, W, b, U)]
        return run

    return Workload("W2", data, graph, by_hand, torch_fn)


def w2c():
    """W2 as the lecture writes it: the window vector is the concatenation of the
    five word vectors, each its own lookup of E (five gathers of one table), and
    the batch is a named dimension. Same data and NumPy/PyTorch references as W2."""
    w = w2()

    def graph():
        idx = sg.matrix("idx", "batch", 5, dtype="int64")
        labels = sg.vector("labels", "batch", dtype="int64")
        E, W = sg.matrix("E", 20000, 50), sg.matrix("W", 100, 250)
        b, U = sg.vector("b", 100), sg.matrix("U", 5, 100)
        x = sg.concatenate([E[idx[:, k]] for k in range(5)], axis=1)
        h = sg.tanh(x @ W.T + b)
        cost = sg.nn.softmax_cross_entropy(h @ U.T, labels)
        return cost, [E, W, b, U], [idx, labels, E, W, b, U]

    return Workload("W2c", w.data, graph, w.numpy, w.torch_fn)


# W3 -----------------------------------------------------------------------------------

def w3():
    rng = np.random.default_rng(3)
    data = [rng.random((128, 784)), rng.integers(0, 10, 128), rng.normal(0, 0.05, (784, 256)),
            np.zeros(256), rng.normal(0, 0.05, (256, 10)), np.zeros(10)]

    def graph():
        X, y = sg.matrix("X", 128, 784), sg.vector("y", 128, dtype="int64")
        W1, b1 = sg.matrix("W1", 784, 256), sg.vector("b1", 256)
        W2, b2 = sg.matrix("W2", 256, 10), sg.vector("b2", 10)
        cost = sg.nn.softmax_cross_entropy(sg.relu(X @ W1 + b1) @ W2 + b2, y)
        return cost, [W1, b1, W2, b2], [X, y, W1, b1, W2, b2]

    def by_hand(X, y, W1, b1, W2, b2):
        a = X @ W1 + b1
        h = np.maximum(a, 0.0)
        cost, dlogits = _softmax_xent_numpy(h @ W2 + b2, y)
        dW2, db2 = h.T @ dlogits, dlogits.sum(axis=0)
        da = (dlogits @ W2.T) * (a > 0)
        return cost, [X.T @ da, da.sum(axis=0), dW2, db2]

    def torch_fn(torch):
        def run(X, y, W1, b1, W2, b2):
            X, y = torch.from_numpy(X), torch.from_numpy(y)
            ps = [torch.tensor(v, requires_grad=True) for v in (W1, b1, W2, b2)]
            cost = torch.nn.functional.cross_entropy(torch.relu(X @ ps[0] + ps[1]) @ ps[2] + ps[3], y)
            cost.backward()
            return cost.item(), [p.grad.numpy() for p in ps]
        return run

    return Workload("W3", data, graph, by_hand, torch_fn)


# W4 -----------------------------------------------------------------------------------

def w4():
    data = [np.random.default_rng(4).uniform(-3, 3, 1_000_000)]

    def graph():
        x = sg.vector("x", 1_000_000)
        u = sg.sin(x) * sg.cos(x) ** 2
        cost = (sg.log(1 + sg.exp(u)) * sg.tanh(x) + sg.sqrt(x ** 2 + 1)).sum()
        return cost, [x], [x]

    def by_hand(x):
        s, c, t = np.sin(x), np.cos(x), np.tanh(x)
        u = s * c * c
        eu = np.exp(u)
        sp = np.log1p(eu)
        r = np.sqrt(x * x + 1.0)
        cost = np.sum(sp * t + r)
        du = c * c * c - 2.0 * s * s * c
        return cost, [eu / (1.0 + eu) * du * t + sp * (1.0 - t * t) + x / r]

    def torch_fn(torch):
        def run(x):
            x = torch.tensor(x, requires_grad=True)
            u = torch.sin(x) * torch.cos(x) ** 2
            cost = (torch.log(1 + torch.exp(u)) * torch.tanh(x) + torch.sqrt(x ** 2 + 1)).sum()
            cost.backward()
            return cost.item(), [x.grad.numpy()]
        return run

    return Workload("W4", data, graph, by_hand, torch_fn)


# W5 -----------------------------------------------------------------------------------

def chain_cost(x, n_ops, exp=None, sin=None, tanh=None):
    """The W5 chain: ops cycling sin, tanh, *1.01, exp(-v^2), +0.1, applied n_ops times."""
    v = x
    for k in range(n_ops):
        step = k % 5
        if step == 0:
            v = sin(v)
        elif step == 1:
            v = tanh(v)
        elif step == 2:
            v = v * 1.01
        elif step == 3:
            v = exp(-(v * v))
        else:
            v = v + 0.1
    return v.sum()


def w5(n_ops=300):
    data = [np.random.default_rng(5).uniform(-1, 1, 1000)]

    def graph():
        x = sg.vector("x", 1000)
        return chain_cost(x, n_ops, sg.exp, sg.sin, sg.tanh), [x], [x]

    def by_hand(x):
        values = [x]
        for k in range(n_ops):
            v, step = values[-1], k % 5
            values.append(np.sin(v) if step == 0 else np.tanh(v) if step == 1 else v * 1.01
                          if step == 2 else np.exp(-(v * v)) if step == 3 else v + 0.1)
        g = np.ones_like(x)
        for k in reversed(range(n_ops)):
            v, y, step = values[k], values[k + 1], k % 5
            if step == 0:
                g = g * np.cos(v)
            elif step == 1:
                g = g * (1.0 - y * y)
            elif step == 2:
                g = g * 1.01
            elif step == 3:
                g = g * (-2.0 * v * y)
        return values[-1].sum(), [g]

    def torch_fn(torch):
        def run(x):
            x = torch.tensor(x, requires_grad=True)
            cost = chain_cost(x, n_ops, torch.exp, torch.sin, torch.tanh)
            cost.backward()
            return cost.item(), [x.grad.numpy()]
        return run

    return Workload("W5", data, graph, by_hand, torch_fn)


WORKLOADS = {"W1": w1, "W2": w2, "W2c": w2c, "W3": w3, "W4": w4, "W5": w5}


# JAX ----------------------------------------------------------------------------------
# The costs of W2-W5 in jax.numpy, each taking the workload's data in order, with the
# positions of the arguments the gradient is taken against (the same as the graph's wrt).

def _jax_xent(jnp, nn, logits, labels):
    return -jnp.mean(jnp.take_along_axis(nn.log_softmax(logits), labels[:, None], axis=1))


def _jax_w2(jnp, nn):
    def cost(idx, labels, E, W, b, U):
        h = jnp.tanh(E[idx].reshape(512, 250) @ W.T + b)
        return _jax_xent(jnp, nn, h @ U.T, labels)
    return cost, (2, 3, 4, 5)


def _jax_w3(jnp, nn):
    def cost(X, y, W1, b1, W2, b2):
        return _jax_xent(jnp, nn, nn.relu(X @ W1 + b1) @ W2 + b2, y)
    return cost, (2, 3, 4, 5)


def _jax_w4(jnp, nn):
    def cost(x):
        u = jnp.sin(x) * jnp.cos(x) ** 2
        return (jnp.log(1 + jnp.exp(u)) * jnp.tanh(x) + jnp.sqrt(x ** 2 + 1)).sum()
    return cost, (0,)


def _jax_w5(jnp, nn, n_ops=300):  # 300: w5's default, the W5 of WORKLOADS.md
    return (lambda x: chain_cost(x, n_ops, jnp.exp, jnp.sin, jnp.tanh)), (0,)


JAX_COSTS = {"W2": _jax_w2, "W3": _jax_w3, "W4": _jax_w4, "W5": _jax_w5}


def jax_value_and_grad(name):
    """``jax.jit(jax.value_and_grad(cost))`` of workload ``name`` (a key of JAX_COSTS),
    as a callable(*data) -> (cost, [gradients]) like the other implementations; None
    when JAX is not installed. Turns on JAX's float64 (``jax_enable_x64``) for the process.

    >>> run = jax_value_and_grad("W4")
    >>> run is None or abs(run(np.zeros(3))[0] - 3.0) < 1e-12
    True
    """
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    cost, wrt = JAX_COSTS[name](jax.numpy, jax.nn)
    value_and_grad = jax.jit(jax.value_and_grad(cost, argnums=wrt))

    def run(*data):
        value, grads = value_and_grad(*data)
        # float() and np.asarray wait for JAX's asynchronous dispatch to finish
        return float(value), [np.asarray(g) for g in grads]
    return run
