"""Models shared by tests: the model zoo's LSTM (benchmarks/zoo.py, Z1) as a
symgrad graph, and its forward and backward pass written by hand in NumPy."""
import numpy as np

import symgrad as sg


def lstm(steps, batch=2, hidden=4, inputs=3):
    """An LSTM unrolled ``steps`` steps (gates i, f, o, g from one product), cost
    the sum of the last hidden state: (cost, [Wx, Wh, b], [x, h0, c0])."""
    x = sg.tensor("x", (steps, batch, inputs))
    h0, c0 = sg.matrix("h0", batch, hidden), sg.matrix("c0", batch, hidden)
    Wx, Wh = sg.matrix("Wx", inputs, 4 * hidden), sg.matrix("Wh", hidden, 4 * hidden)
    b = sg.vector("b", 4 * hidden)
    h, c = h0, c0
    for t in range(steps):
        z = x[t] @ Wx + h @ Wh + b
        i, f, o = (sg.sigmoid(z[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        g = sg.tanh(z[:, 3 * hidden:])
        c = f * c + i * g
        h = o * sg.tanh(c)
    return h.sum(), [Wx, Wh, b], [x, h0, c0]


def lstm_by_hand(x, h0, c0, Wx, Wh, b):
    """The cost of :func:`lstm` and its gradients by Wx, Wh and b, in NumPy."""
    hidden = Wh.shape[0]

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    hs, cs, caches = [h0], [c0], []
    for t in range(x.shape[0]):
        z = x[t] @ Wx + hs[-1] @ Wh + b
        i, f, o = (sigmoid(z[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        g = np.tanh(z[:, 3 * hidden:])
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        caches.append((i, f, o, g))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh, dc = np.ones_like(h0), np.zeros_like(c0)
    for t in reversed(range(x.shape[0])):
        i, f, o, g = caches[t]
        tc = np.tanh(cs[t + 1])
        do = dh * tc
        dc = dc + dh * o * (1 - tc ** 2)
        di, df, dg = dc * g, dc * cs[t], dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o),
                             dg * (1 - g ** 2)], axis=1)
        dWx += x[t].T @ dz
        dWh += hs[t].T @ dz
        db += dz.sum(0)
        dh, dc = dz @ Wh.T, dc * f
    return hs[-1].sum(), [dWx, dWh, db]
