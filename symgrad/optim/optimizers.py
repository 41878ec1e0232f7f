"""Optimisers: ``opt.step(params, grads)`` updates NumPy arrays in place.

Each class matches ``torch.optim``'s class of the same name with the same
hyper-parameters: the same formulas in the same order (where epsilon sits,
when the bias corrections apply, the first momentum buffer being the first
gradient). ``params`` and ``grads`` are dicts keyed the same way (by variable
or by name); a parameter missing from ``grads`` is left alone. A gradient is
an array or a :class:`SparseRows`. Optimisers whose update leaves rows
without a gradient untouched (``row_wise``: SGD without momentum or weight
decay, Adagrad without weight decay, SparseAdam) apply it row by row, and
read the all-zero rows of a dense gradient as rows without a gradient; the
others densify it first.

The per-parameter state is keyed by the parameter's name, so
``opt.state_dict()`` (plain data: dicts, lists, numbers, arrays) pickles and
loads into an optimiser in another process, as ``torch.optim``'s does.
"""
import copy
import inspect
import math
import numbers
from collections.abc import Mapping

import numpy as np

from ..graph import Expr
from .sparse import SparseRows

# Typical values, quoted in the messages for a hyper-parameter of the wrong type or range.
_EXAMPLES = {"lr": "0.01", "momentum": "0.9", "weight_decay": "1e-4", "eps": "1e-8",
             "alpha": "0.99"}


def _name(key):
    """The name a parameter's state is kept under: a variable's name, or the key itself."""
    if isinstance(key, Expr):
        return key.name
    if isinstance(key, str):
        return key
    raise TypeError(f"parameters are keyed by variable or by name (a str), got the key "
                    f"{key!r} of type {type(key).__name__}")


def _zeros(state, name, p):
    """``state[name]``, created as zeros like ``p`` on first use (only then: a
    vocabulary-sized allocation per step would defeat sparse updates)."""
    if name not in state:
        state[name] = np.zeros_like(p)
    return state[name]


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_hyper(name, value, ok, need):
    """``value`` as a float, or a TypeError/ValueError saying what ``name`` must be."""
    hint = f"{need}, e.g. {name}={_EXAMPLES[name]}"
    if not _is_number(value):
        raise TypeError(f"{name} must be a number {hint}; got {value!r} of type "
                        f"{type(value).__name__}")
    if not (math.isfinite(value) and ok(value)):
        raise ValueError(f"{name} must be a finite number {hint}; got {value!r}")
    return float(value)


def _check_betas(betas):
    pair = "betas is a pair (beta1, beta2) of numbers in [0, 1), e.g. betas=(0.9, 0.999)"
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"{pair}; got {betas!r}") from None
    if not (_is_number(b1) and _is_number(b2)):
        raise TypeError(f"{pair}; got {betas!r}")
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"{pair}; got {betas!r}")
    return float(b1), float(b2)


class Optimizer:
    """Base class: checks the arguments of :meth:`step` and keeps per-parameter
    state in ``self.state[name]``; ``lr`` may be changed between steps (the
    training loop sets it from a schedule). Subclasses implement ``_update``
    and name their state's entries in ``state_keys`` (torch's names).

    >>> import symgrad as sg
    >>> opt = sg.optim.Adam(lr=0.01)
    >>> opt.lr = 0.005; opt
    Adam(lr=0.005, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)
    """

    state_keys = ()

    def __init__(self, lr, weight_decay=0.0):
        self.lr = _check_hyper("lr", lr, lambda v: v >= 0, ">= 0")
        self.weight_decay = _check_hyper("weight_decay", weight_decay, lambda v: v >= 0, ">= 0")
        self.state = {}

    @property
    def row_wise(self):
        """True if a gradient is applied touching only its rows: those of a
        :class:`SparseRows`, or the rows of a dense gradient that are not all zero.

        >>> import symgrad as sg
        >>> sg.optim.SGD(0.1).row_wise, sg.optim.SGD(0.1, momentum=0.9).row_wise
        (True, False)
        """
        return False

    @classmethod
    def _hyper_names(cls):
        """The hyper-parameters: the constructor's arguments."""
        return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]

    def step(self, params, grads):
        """Update each ``params[key]`` in place from ``grads[key]``.

        >>> import numpy as np, symgrad as sg
        >>> w = sg.vector("w", 2)
        >>> params = {w: np.array([1.0, 1.0])}
        >>> sg.optim.SGD(lr=0.5).step(params, {w: np.array([1.0, -2.0])}); params[w]
        array([0.5, 2. ])
        """
        if not (isinstance(params, Mapping) and isinstance(grads, Mapping)):
            raise TypeError(f"opt.step(params, grads) takes two dicts keyed alike (by variable "
                            f"or by name), e.g. opt.step({{W: W0}}, {{W: gW}}); got "
                            f"{type(params).__name__} and {type(grads).__name__}")
        # Check everything first, so that a bad argument leaves every parameter as it was.
        checked = {}
        for key, g in grads.items():
            name = _name(key)
            if name in checked:
                raise ValueError(f"two parameters are named {name!r}; optimiser state is kept "
                                 "by name, so give each parameter its own name")
            if key not in params:
                raise KeyError(f"gradient for {name!r} has no parameter; params and "
                               "grads must be keyed the same way (by variable or by name)")
            p = params[key]
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                raise TypeError(f"parameter {name!r} must be a writeable float NumPy "
                                f"array (it is updated in place), got {type(p).__name__}"
                                + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""))
            checked[name] = (p, *self._rows(name, p, g), self._state_for(name, p))
        for p, rows, g, state in checked.values():
            if self.weight_decay:
                g = g + self.weight_decay * p
            self._update(p, rows, g, state)

    def _rows(self, name, p, g):
        """(rows, values): ``rows`` is ``...`` (all) or unique row indices."""
        if isinstance(g, SparseRows):
            if g.shape != p.shape:
                raise ValueError(f"sparse gradient for {name!r} has shape {g.shape}, "
                                 f"the parameter {p.shape}")
            if self.row_wise:
                g = g.coalesce()
                return g.indices, g.values.astype(p.dtype, copy=False)
            g = g.to_dense()
        g = np.asarray(g, dtype=p.dtype)
        if g.shape != p.shape:
            raise ValueError(f"gradient for {name!r} has shape {g.shape}, the parameter "
                             f"{p.shape}; they must match")
        if self.row_wise and p.ndim:
            # An all-zero row is a row without a gradient, as in torch's sparse
            # embedding gradient, which carries only the rows looked up.
            present = np.any(g != 0, axis=tuple(range(1, g.ndim)))
            if not present.all():
                rows = np.flatnonzero(present)
                return rows, g[rows]
        return ..., g

    def _state_for(self, name, p):
        """``self.state[name]``, its arrays checked against ``p`` (they may come
        from :meth:`load_state_dict`); cast to ``p``'s dtype, as torch does."""
        state = self.state.setdefault(name, {})
        for key, value in state.items():
            if not isinstance(value, np.ndarray):
                continue
            if value.shape != p.shape:
                raise ValueError(f"optimiser state {key!r} of parameter {name!r} has shape "
                                 f"{value.shape}, the parameter {p.shape}: the loaded state "
                                 "dict belongs to another model (or another parameter of this "
                                 "name)")
            if value.dtype != p.dtype:
                state[key] = value.astype(p.dtype)
        return state

    def state_dict(self):
        """The optimiser's state as plain data, a deep copy, as ``torch.optim``'s:
        ``"state"`` maps each parameter's name to its state (torch's keys, e.g.
        ``exp_avg``, ``exp_avg_sq`` and ``step`` for Adam), ``"param_groups"`` is a
        list of one dict of hyper-parameters, and ``"optimizer"`` names the class.
        It pickles (e.g. ``pickle.dump`` or inside a checkpoint).

        >>> import numpy as np, symgrad as sg
        >>> opt = sg.optim.Adam(lr=0.1)
        >>> opt.step({"w": np.zeros(2)}, {"w": np.array([1.0, -1.0])})
        >>> d = opt.state_dict()
        >>> d["param_groups"]
        [{'lr': 0.1, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.0}]
        >>> d["state"]["w"]["step"], d["state"]["w"]["exp_avg"]
        (1, array([ 0.1, -0.1]))
        """
        return {"optimizer": type(self).__name__,
                "state": {name: copy.deepcopy(s) for name, s in self.state.items() if s},
                "param_groups": [{n: getattr(self, n) for n in self._hyper_names()}]}

    def load_state_dict(self, state_dict):
        """Replace the hyper-parameters and the state by those of ``state_dict``
        (from :meth:`state_dict` of the same class; copied in, as torch does).
        A bad dict raises ValueError and leaves the optimiser unchanged; a state
        array shaped unlike its parameter raises at the next :meth:`step`.

        >>> import numpy as np, symgrad as sg
        >>> p, g = {"w": np.zeros(2)}, {"w": np.array([1.0, -1.0])}
        >>> opt = sg.optim.SGD(lr=0.1, momentum=0.9)
        >>> opt.step(p, g)
        >>> resumed = sg.optim.SGD(lr=1.0)
        >>> resumed.load_state_dict(opt.state_dict())
        >>> resumed.momentum, resumed.state["w"]["momentum_buffer"]
        (0.9, array([ 1., -1.]))
        >>> q = {"w": p["w"].copy()}
        >>> opt.step(p, g); resumed.step(q, g)           # both continue alike
        >>> np.array_equal(p["w"], q["w"])
        True
        """
        cls = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict takes the dict from {cls}.state_dict(), got "
                            f"{type(state_dict).__name__}")
        _check_keys(f"the {cls} state dict", state_dict, ("optimizer", "state", "param_groups"))
        if state_dict["optimizer"] != cls:
            saved = state_dict["optimizer"]
            raise ValueError(f"the state dict was saved by sg.optim.{saved}; load it into an "
                             f"sg.optim.{saved}(...), not into {cls}")
        groups = state_dict["param_groups"]
        if not (isinstance(groups, (list, tuple)) and len(groups) == 1
                and isinstance(groups[0], Mapping)):
            raise ValueError(f"param_groups must be a list of one dict of hyper-parameters "
                             f"(symgrad optimisers have one group), got {groups!r}")
        _check_keys(f"the {cls} param group", groups[0], self._hyper_names())
        checked = type(self)(**groups[0])           # the constructor checks every value
        state = state_dict["state"]
        if not isinstance(state, Mapping):
            raise ValueError(f"state must be a dict keyed by parameter name, got "
                             f"{type(state).__name__}")
        loaded = {}
        for name, entry in state.items():
            if not isinstance(name, str):
                raise ValueError(f"state is keyed by parameter name (a str), got {name!r}")
            loaded[name] = self._checked_entry(name, entry)
        for n in self._hyper_names():
            setattr(self, n, getattr(checked, n))
        self.state = loaded

    def _checked_entry(self, name, entry):
        """A copy of one parameter's loaded state, after checking its keys and values."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"the state of {name!r} must be a dict, got {type(entry).__name__}")
        _check_keys(f"the state of {name!r}", entry, self.state_keys)
        entry = {k: copy.deepcopy(v) for k, v in entry.items()}
        shapes = {}
        for k, v in entry.items():
            if k == "step":
                if not (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1):
                    raise ValueError(f"step of {name!r} must be an int >= 1, got {v!r}")
                entry[k] = int(v)
            elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
                shapes[k] = v.shape
            else:
                raise ValueError(f"{k} of {name!r} must be a float NumPy array, got "
                                 f"{type(v).__name__}"
                                 + (f" of dtype {v.dtype}" if isinstance(v, np.ndarray) else ""))
        if len(set(shapes.values())) > 1:
            raise ValueError(f"the state arrays of {name!r} must have one shape (the "
                             f"parameter's), got {shapes}")
        return entry

    def __repr__(self):
        hyper = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._hyper_names())
        return f"{type(self).__name__}({hyper})"


def _check_keys(what, d, expected):
    missing = [k for k in expected if k not in d]
    unknown = [k for k in d if k not in expected]
    if missing or unknown:
        wrong = [f"{kind} keys {keys}" for kind, keys in (("missing", missing),
                                                          ("unknown", unknown)) if keys]
        raise ValueError(f"{what} has {' and '.join(wrong)}; expected exactly {list(expected)}")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``:
    ``b = momentum * b + g`` (``b = g`` at the first step), ``p -= lr * b``;
    ``weight_decay`` adds ``weight_decay * p`` to the gradient. Without momentum
    or weight decay it is ``row_wise``: it changes only the rows of a
    :class:`SparseRows` gradient, or of a dense gradient the rows not all zero.

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> opt = sg.optim.SGD(lr=0.1, momentum=0.9)
    >>> opt.step(p, {"w": np.array([1.0, 1.0])}); p["w"]
    array([0.9, 1.9])
    >>> opt.step(p, {"w": np.array([1.0, 1.0])}); p["w"]     # b = 0.9 * 1 + 1
    array([0.71, 1.71])
    """

    state_keys = ("momentum_buffer",)

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _check_hyper("momentum", momentum, lambda v: v >= 0, ">= 0")

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
    ``p -= lr * g / (sqrt(s) + eps)``. Without weight decay it is ``row_wise``:
    the rows of a dense gradient that are all zero count as absent, so with
    ``eps=0`` a row never given a gradient stays as it is (not 0 / 0).

    >>> import numpy as np, symgrad as sg
    >>> p = {"w": np.array([1.0])}
    >>> opt = sg.optim.Adagrad(lr=0.5)
    >>> opt.step(p, {"w": np.array([3.0])}); p["w"]      # 1 - 0.5 * 3 / 3
    array([0.5])
    """

    state_keys = ("sum",)

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = _check_hyper("eps", eps, lambda v: v >= 0, ">= 0")

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

    state_keys = ("square_avg",)

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = _check_hyper("alpha", alpha, lambda v: 0 <= v <= 1, "in [0, 1]")
        self.eps = _check_hyper("eps", eps, lambda v: v >= 0, ">= 0")

    def _update(self, p, rows, g, state):
        v = _zeros(state, "square_avg", p)
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p[rows] -= self.lr * (g / (np.sqrt(v) + self.eps))


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

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.betas = _check_betas(betas)
        self.eps = _check_hyper("eps", eps, lambda v: v >= 0, ">= 0")

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
    ``p[rows] -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``.
    As in torch, t is the parameter's step count (``state["step"]``), counting
    every step given a gradient for it, however few rows that gradient has;
    rows keep no count of their own.

    The rows present are those of a :class:`SparseRows` gradient (even rows of
    zeros), or of a dense gradient the rows that are not entirely zero: a dense
    gradient of an embedding is zero in the rows not looked up, which torch's
    sparse gradient leaves out, so their moments do not decay.

    >>> import numpy as np, symgrad as sg
    >>> E = {"E": np.ones((1000, 2))}
    >>> opt = sg.optim.SparseAdam(lr=0.1, eps=0.0)
    >>> opt.step(E, {"E": sg.optim.SparseRows([3], np.array([[2.0, -2.0]]), (1000, 2))})
    >>> E["E"][3], np.flatnonzero((E["E"] != 1).any(axis=1))   # only row 3 moved
    (array([0.9, 1.1]), array([3]))
    >>> g = np.zeros((1000, 2)); g[5] = 1.0                     # dense: row 5 only
    >>> opt.step(E, {"E": g}); np.flatnonzero(opt.state["E"]["exp_avg"].any(axis=1))
    array([3, 5])
    >>> opt.state["E"]["exp_avg"][3], opt.state["E"]["step"]    # row 3's moment kept
    (array([ 0.2, -0.2]), 2)
    """

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(lr)
        self.betas = _check_betas(betas)
        self.eps = _check_hyper("eps", eps, lambda v: v >= 0, ">= 0")

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
