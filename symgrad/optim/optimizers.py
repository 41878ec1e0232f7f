"""Optimisers: ``opt.step(params, grads)`` updates NumPy arrays in place.

Each class matches ``torch.optim``'s class of the same name with the same
hyper-parameters: the same formulas in the same order (where epsilon sits,
when the bias corrections apply, the first momentum buffer being the first
gradient). ``params`` and ``grads`` are dicts keyed the same way (by variable
or by name); a parameter missing from ``grads`` is left alone. A gradient is
an array or a :class:`SparseRows`. Optimisers whose update leaves rows
without a gradient untouched (``row_wise``: SGD without momentum or weight
decay, Adagrad without weight decay, SparseAdam) apply it row by row; the
others densify it first.
"""
import math

import numpy as np

from ..graph import Expr
from .sparse import SparseRows


def _label(key):
    return repr(key.name) if isinstance(key, Expr) else repr(key)


def _zeros(state, name, p):
    """``state[name]``, created as zeros like ``p`` on first use (only then: a
    vocabulary-sized allocation per step would defeat sparse updates)."""
    if name not in state:
        state[name] = np.zeros_like(p)
    return state[name]


def _check_hyper(name, value, ok, need):
    if not ok:
        raise ValueError(f"{name} must be {need}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: checks the arguments of :meth:`step` and keeps per-parameter
    state in ``self.state[key]``; ``lr`` may be changed between steps (the
    training loop sets it from a schedule). Subclasses implement ``_update``.

    >>> import symgrad as sg
    >>> opt = sg.optim.Adam(lr=0.01)
    >>> opt.lr = 0.005; opt
    Adam(lr=0.005, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-08)
    """

    def __init__(self, lr, weight_decay=0.0):
        self.lr = _check_hyper("lr", lr, lr >= 0, ">= 0")
        self.weight_decay = _check_hyper("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        self.state = {}

    @property
    def row_wise(self):
        """True if a :class:`SparseRows` gradient is applied touching only its rows.

        >>> import symgrad as sg
        >>> sg.optim.SGD(0.1).row_wise, sg.optim.SGD(0.1, momentum=0.9).row_wise
        (True, False)
        """
        return False

    def step(self, params, grads):
        """Update each ``params[key]`` in place from ``grads[key]``.

        >>> import numpy as np, symgrad as sg
        >>> w = sg.vector("w", 2)
        >>> params = {w: np.array([1.0, 1.0])}
        >>> sg.optim.SGD(lr=0.5).step(params, {w: np.array([1.0, -2.0])}); params[w]
        array([0.5, 2. ])
        """
        for key, g in grads.items():
            if key not in params:
                raise KeyError(f"gradient for {_label(key)} has no parameter; params and "
                               "grads must be keyed the same way (by variable or by name)")
            p = params[key]
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                raise TypeError(f"parameter {_label(key)} must be a writeable float NumPy "
                                f"array (it is updated in place), got {type(p).__name__}"
                                + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""))
            rows, g = self._rows(key, p, g)
            if self.weight_decay:
                g = g + self.weight_decay * p
            self._update(p, rows, g, self.state.setdefault(key, {}))

    def _rows(self, key, p, g):
        """(rows, values): ``rows`` is ``...`` (all) or unique row indices."""
        if isinstance(g, SparseRows):
            if g.shape != p.shape:
                raise ValueError(f"sparse gradient for {_label(key)} has shape {g.shape}, "
                                 f"the parameter {p.shape}")
            if self.row_wise:
                g = g.coalesce()
                return g.indices, g.values.astype(p.dtype, copy=False)
            g = g.to_dense()
        g = np.asarray(g, dtype=p.dtype)
        if g.shape != p.shape:
            raise ValueError(f"gradient for {_label(key)} has shape {g.shape}, the parameter "
                             f"{p.shape}; they must match")
        return ..., g

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "state")
        return f"{type(self).__name__}({hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``:
    ``b = momentum * b + g`` (``b = g`` at the first step), ``p -= lr * b``;
    ``weight_decay`` adds ``weight_decay * p`` to the gradient.

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> opt = sg.optim.SGD(lr=0.1, momentum=0.9)
    >>> opt.step(p, {"w": np.array([1.0, 1.0])}); p["w"]
    array([0.9, 1.9])
    >>> opt.step(p, {"w": np.array([1.0, 1.0])}); p["w"]     # b = 0.9 * 1 + 1
    array([0.71, 1.71])
    """

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _check_hyper("momentum", momentum, momentum >= 0, ">= 0")

    @property
    def row_wise(self):
        return self.momentum == 0 and self.weight_decay == 0

    def _update(self, p, rows, g, state):
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g)
            else:
                buf *= self.momentum
                buf += g
            g = buf
        p[rows] -= self.lr * g


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: ``s += g**2``,
    ``p -= lr * g / (sqrt(s) + eps)``.

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0])}
    >>> opt = sg.optim.Adagrad(lr=0.5)
    >>> opt.step(p, {"w": np.array([3.0])}); p["w"]      # 1 - 0.5 * 3 / 3
    array([0.5])
    """

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = _check_hyper("eps", eps, eps >= 0, ">= 0")

    @property
    def row_wise(self):
        return self.weight_decay == 0

    def _update(self, p, rows, g, state):
        total = _zeros(state, "sum", p)
        total[rows] += g * g
        p[rows] -= self.lr * (g / (np.sqrt(total[rows]) + self.eps))


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: ``v = alpha * v + (1 - alpha) * g**2``,
    ``p -= lr * g / (sqrt(v) + eps)``.

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0])}
    >>> opt = sg.optim.RMSprop(lr=0.1, alpha=0.75, eps=0.0)
    >>> opt.step(p, {"w": np.array([2.0])}); p["w"]      # v = 1, 1 - 0.1 * 2 / 1
    array([0.8])
    """

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = _check_hyper("alpha", alpha, 0 <= alpha <= 1, "in [0, 1]")
        self.eps = _check_hyper("eps", eps, eps >= 0, ">= 0")

    def _update(self, p, rows, g, state):
        v = _zeros(state, "square_avg", p)
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p[rows] -= self.lr * (g / (np.sqrt(v) + self.eps))


def _check_betas(betas):
    betas = tuple(betas)
    if not (len(betas) == 2 and all(0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    return tuple(float(b) for b in betas)


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: ``m += (1 - b1) (g - m)``,
    ``v = b2 v + (1 - b2) g**2``, and at step t
    ``p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``;
    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2, not AdamW).

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0, 1.0])}
    >>> opt = sg.optim.Adam(lr=0.1, eps=0.0)
    >>> opt.step(p, {"w": np.array([5.0, -0.01])}); p["w"]   # first step: lr * sign(g)
    array([0.9, 1.1])
    """

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.betas = _check_betas(betas)
        self.eps = _check_hyper("eps", eps, eps >= 0, ">= 0")

    def _update(self, p, rows, g, state):
        (b1, b2), t = self.betas, state.get("step", 0) + 1
        state["step"] = t
        m = _zeros(state, "exp_avg", p)
        v = _zeros(state, "exp_avg_sq", p)
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps
        p[rows] -= self.lr / (1 - b1 ** t) * (m / denom)


class SparseAdam(Optimizer):
    """Adam for row-sparse gradients, as ``torch.optim.SparseAdam``: the moments
    and the parameter change only in the rows present in the gradient, and
    ``p[rows] -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``,
    where t counts this parameter's steps. A dense gradient counts every row as
    present.

    >>> import numpy as np, symgrad as sg
    >>> E = {"E": np.ones((1000, 2))}
    >>> opt = sg.optim.SparseAdam(lr=0.1, eps=0.0)
    >>> opt.step(E, {"E": sg.optim.SparseRows([3], np.array([[2.0, -2.0]]), (1000, 2))})
    >>> E["E"][3], np.flatnonzero((E["E"] != 1).any(axis=1))   # only row 3 moved
    (array([0.9, 1.1]), array([3]))
    """

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(lr)
        self.betas = _check_betas(betas)
        self.eps = _check_hyper("eps", eps, eps >= 0, ">= 0")

    @property
    def row_wise(self):
        return True

    def _update(self, p, rows, g, state):
        (b1, b2), t = self.betas, state.get("step", 0) + 1
        state["step"] = t
        m = _zeros(state, "exp_avg", p)
        v = _zeros(state, "exp_avg_sq", p)
        m_rows, v_rows = m[rows], v[rows]      # copies for row indices, views for ...
        m_rows += (1 - b1) * (g - m_rows)
        v_rows += (1 - b2) * (g * g - v_rows)
        m[rows], v[rows] = m_rows, v_rows
        step_size = self.lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p[rows] -= step_size * (m_rows / (np.sqrt(v_rows) + self.eps))
