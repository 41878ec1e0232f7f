"""Optimisers: ``opt.step(params, grads)`` updates NumPy arrays in place, and
``opt.updates(params, grads)`` gives the same update as expressions for
``sg.function(..., updates=...)``, a training step compiled into one kernel.

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

Both use one state: the arrays in ``opt.state[name]`` are the arrays of the
shared variables ``.updates`` makes (``"W.exp_avg"``, ...), and the learning
rate is a 0-d shared variable, so setting ``opt.lr`` changes what a compiled
step reads, without compiling again. Compiled updates are written in the same
order of operations as ``.step``, so both give the same bits.

The per-parameter state is keyed by the parameter's name, so
``opt.state_dict()`` (plain data: dicts, lists, numbers, arrays) pickles and
loads into an optimiser in another process, as ``torch.optim``'s does.
"""
import copy
import inspect
import pickle
import math
import numbers
from collections.abc import Mapping

import numpy as np
import sympy

from ..elementwise_ops import neq, sqrt, where
from ..errors import ShapeError
from ..graph import Expr
from ..ops import Gather, ScatterAdd, SetRows
from ..formulas import params
from ..ops.elementwise import apply, cast
from ..ops.leaves import constant
from ..shared import array_of, is_shared, shared
from ..tensor_ops import max as reduce_max
from ..types import shape_str
from .sparse import SparseRows, coalesced

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
        # the rate compiled updates read at each call: a schedule changes it in place
        self._lr = shared(np.float64(0.0), name=f"{type(self).__name__}.lr")
        self.lr = lr
        self.weight_decay = _check_hyper("weight_decay", weight_decay, lambda v: v >= 0, ">= 0")
        self.state = {}
        self._vars = {}  # name -> {state key: the shared variable whose array state[name][key] is}

    @property
    def lr(self):
        """The learning rate, a float; setting it (a schedule does) also changes
        what compiled :meth:`updates` read at their next call.

        >>> import symgrad as sg
        >>> opt = sg.optim.SGD(lr=0.1)
        >>> opt.lr = 0.05; opt.lr
        0.05
        """
        return float(array_of(self._lr))

    @lr.setter
    def lr(self, value):
        array_of(self._lr)[...] = _check_hyper("lr", value, lambda v: v >= 0, ">= 0")

    def __deepcopy__(self, memo):
        # a copy owns its state and learning rate: copying the shared variables'
        # arrays takes a pickle (copy.deepcopy keeps an expression as it is)
        return pickle.loads(pickle.dumps(self))

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
        bound = self._vars.get(name, {})
        for key, value in state.items():
            if key == "step":
                continue
            if value.shape != p.shape:
                raise ValueError(f"optimiser state {key!r} of parameter {name!r} has shape "
                                 f"{value.shape}, the parameter {p.shape}: the loaded state "
                                 "dict belongs to another model (or another parameter of this "
                                 "name)")
            if value.dtype != p.dtype and key not in bound:  # a bound array stays its variable's
                state[key] = value.astype(p.dtype)
        return state

    def updates(self, params, grads):
        """The update of ``params`` (shared variables) from ``grads`` as pairs
        ``(shared variable, new value)`` for ``sg.function(..., updates=...)``:
        the parameters' and the optimiser's state's (moments, step counts: shared
        variables it makes, named ``"W.exp_avg"`` etc., whose arrays are
        ``opt.state[name][...]``). The same arithmetic as :meth:`step`, in the
        same order, so a compiled step gives the same bits; the learning rate is
        read at each call (set ``opt.lr`` between calls, no recompiling).

        ``grads`` lists an expression per parameter (``sg.grad(loss, params)``),
        or for a parameter used only through gathers the pair ``(index, rows)``
        of ``sg.optim.sparse_grad``: a ``row_wise`` optimiser then updates only
        those rows, in place, repeated rows' gradients summed first (others add
        the rows into a dense gradient, as :meth:`step` does). A single
        variable and its gradient may be given without the lists.

        >>> import numpy as np, symgrad as sg
        >>> w = sg.shared(np.array([1.0, -1.0]), name="w")
        >>> x = sg.vector("x", 2)
        >>> loss = ((w * x).sum() - 1.0) ** 2
        >>> opt = sg.optim.SGD(lr=0.1, momentum=0.9)
        >>> step = sg.function([x], loss, updates=opt.updates([w], sg.grad(loss, [w])),
        ...                    backend="numpy")
        >>> step([1.0, 0.0]), w.get_value()            # the loss before the update
        (np.float64(0.0), array([ 1., -1.]))
        >>> step([0.0, 1.0]), w.get_value()            # gradient (0, -4)
        (np.float64(4.0), array([ 1. , -0.6]))
        >>> opt.state["w"]["momentum_buffer"]          # one state with opt.step
        array([ 0., -4.])
        """
        if isinstance(params, Expr):  # one parameter, its gradient (or (index, rows))
            params, grads = [params], [grads]
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"opt.updates got {len(params)} parameters and {len(grads)} "
                             "gradients; pass one gradient per parameter, e.g. "
                             "opt.updates([W, b], sg.grad(loss, [W, b]))")
        checked, names = [], set()
        for p, g in zip(params, grads):
            if not (is_shared(p) and p.dtype.startswith("float")):
                what = p.describe() if isinstance(p, Expr) else f"{type(p).__name__} {p!r}"
                raise TypeError(f"opt.updates updates shared float variables in place; {what} "
                                "is not one (make parameters with sg.shared(array, name=...))")
            if p.name in names:
                raise ValueError(f"two parameters are named {p.name!r}; optimiser state is kept "
                                 "by name, so give each parameter its own name")
            names.add(p.name)
            checked.append((p, self._symbolic_grad(p, g)))
        pairs = []
        for p, g in checked:
            if isinstance(g, tuple):
                pairs += self._row_updates(p, *coalesced(*g))
            else:
                if self.weight_decay:
                    g = _decayed(g, _like(self.weight_decay, p), p)
                pairs += self._dense_updates(p, g)
        return pairs

    def _symbolic_grad(self, p, g):
        """``g`` checked against ``p``: an expression, or for a row-wise
        optimiser the pair ``(index, rows)`` (others get it scattered densely)."""
        if _is_pair(g):
            index, rows = g
            want = index.shape + p.shape[1:]
            if not (index.ndim == 1 and index.dtype.startswith(("int", "uint")) and p.ndim
                    and tuple(rows.shape) == tuple(want)):
                raise ShapeError(f"the sparse gradient of {p.describe()} must be (index, rows) "
                                 f"as sg.optim.sparse_grad gives: a 1-d integer index and rows "
                                 f"of shape {shape_str(want)}; got {index.describe()} and "
                                 f"{rows.describe()}")
            _check_dtype(p, rows)
            if self.row_wise:
                return index, rows
            return ScatterAdd(p.shape[0])(rows, index)
        if not isinstance(g, Expr):
            raise TypeError(f"the gradient of {p.describe()} must be an expression (from "
                            f"sg.grad) or a pair (index, rows) from sg.optim.sparse_grad; got "
                            f"{type(g).__name__}")
        if tuple(g.shape) != tuple(p.shape):
            raise ShapeError(f"the gradient {g.describe()} of {p.describe()} has another "
                             f"shape; it must have shape {shape_str(p.shape)}")
        _check_dtype(p, g)
        return g

    def _state_var(self, p, key):
        """The shared variable holding ``state[p.name][key]``, made on first use
        from the state there (or zeros); its array becomes the state's."""
        name = p.name
        bound = self._vars.setdefault(name, {})
        if key not in bound:
            state = self.state.setdefault(name, {})
            size = array_of(p).shape
            if key == "step":
                value, shape, dtype = state.get(key, 0), (), "float64"
            else:
                value, shape, dtype = state.get(key, np.zeros(size)), p.shape, p.dtype
                if np.shape(value) != size:
                    raise ValueError(f"optimiser state {key!r} of parameter {name!r} has shape "
                                     f"{np.shape(value)}, the parameter {size}: the loaded "
                                     "state dict belongs to another model")
            var = shared(np.asarray(value).astype(dtype), name=f"{name}.{key}", shape=shape)
            state[key] = array_of(var)
            bound[key] = var
        return bound[key]

    def _rebind(self):
        """Copy the state (just loaded) into the shared variables, and make
        their arrays the state's again; zeros where the state has none."""
        for name, bound in self._vars.items():
            state = self.state.setdefault(name, {})
            for key, var in bound.items():
                value = state.get(key)
                var.set_value(np.zeros_like(array_of(var)) if value is None
                              else np.asarray(value).astype(var.dtype))
                state[key] = array_of(var)

    def _rate(self, p, value=None):
        """``value`` (0-d float64; the learning rate by default) in ``p``'s dtype,
        as a Python float meets a NumPy array in :meth:`step`."""
        value = self._lr if value is None else value
        return value if p.dtype == value.dtype else cast(value, p.dtype)

    def _dense_updates(self, p, g):
        raise NotImplementedError  # each optimiser's own

    def _row_updates(self, p, order, sums):
        raise NotImplementedError  # the row-wise optimisers'

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
        state = {}
        for name, s in self.state.items():
            entry = {k: int(v) if k == "step" else v.copy() for k, v in s.items()}
            if entry and entry.get("step", 1):  # not before a first step
                state[name] = entry
        return {"optimizer": type(self).__name__, "state": state,
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
        for name, entry in loaded.items():  # arrays of the compiled updates keep their shape
            for key, var in self._vars.get(name, {}).items():
                if key in entry and np.shape(entry[key]) != array_of(var).shape:
                    raise ValueError(f"{key} of {name!r} has shape {np.shape(entry[key])}; the "
                                     f"parameter {name!r} of this optimiser's updates has "
                                     f"{array_of(var).shape}")
        for n in self._hyper_names():
            setattr(self, n, getattr(checked, n))
        self.state = loaded
        self._rebind()

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
                entry[k] = np.array(v, dtype=np.float64)  # counted in place, as compiled steps do
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


def _is_pair(g):
    return isinstance(g, (tuple, list)) and len(g) == 2 and all(isinstance(e, Expr) for e in g)


def _check_dtype(p, g):
    if g.dtype != p.dtype:
        raise TypeError(f"the gradient {g.describe()} of {p.describe()} has another dtype; "
                        f"convert it with sg.cast(g, {p.dtype!r})")


def _like(value, p):
    """A hyper-parameter as a 0-d constant of ``p``'s dtype (as a Python float
    meets a NumPy array in ``step``). Not a number in the formula: SymPy would
    distribute it, ``0.1 * (g - m)`` printed as ``0.1*g - 0.1*m``, other bits."""
    return constant(np.asarray(value, dtype=p.dtype))


def _decayed(g, decay, p):
    """``g + decay * p`` as one formula reading the 0-d ``decay``, so that it is
    never merged into a sum that uses it (``b * m + g + decay * p`` would add in
    another order than ``step``)."""
    a, b, c = params(3)
    return apply(sympy.Lambda((a, b, c), a + b * c), [g, decay, p], "weight_decay")


def _present(g, p):
    """1 for the rows of ``g`` with a nonzero entry, else 0 (broadcasting
    against ``g``): rows without a gradient, as ``step`` reads a dense one."""
    nonzero = neq(g, 0)
    if p.ndim < 2:
        return nonzero
    return reduce_max(nonzero, axis=tuple(range(1, g.ndim)), keepdims=True)


def _step(state):
    """Count a step in ``state["step"]`` (a 0-d float64 array, exact to 2**53, as
    compiled steps count it: in place, a float as the bias corrections want it,
    as torch's step tensor); its new value."""
    t = state.setdefault("step", np.zeros((), np.float64))
    t += 1
    return int(t)


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

    def _dense_updates(self, p, g):
        pairs = []
        if self.momentum:  # a zero buffer makes the first step's b = g, as step's copy
            buf = self._state_var(p, "momentum_buffer")
            g = buf * _like(self.momentum, p) + g
            pairs.append((buf, g))
        return [(p, p - self._rate(p) * g)] + pairs

    def _row_updates(self, p, order, sums):
        return [(p, SetRows()(p, order, Gather()(p, order) - self._rate(p) * sums))]


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
        p[rows] -= self.lr * g / (np.sqrt(total[rows]) + self.eps)

    def _new_values(self, p, total, g):
        total = total + g * g
        return total, p - self._rate(p) * g / (sqrt(total) + _like(self.eps, p))

    def _dense_updates(self, p, g):
        total = self._state_var(p, "sum")
        new_total, new_p = self._new_values(p, total, g)
        if self.row_wise:  # rows without a gradient stay (with eps = 0, not 0 / 0)
            present = _present(g, p)
            new_total, new_p = where(present, new_total, total), where(present, new_p, p)
        return [(total, new_total), (p, new_p)]

    def _row_updates(self, p, order, sums):
        total = self._state_var(p, "sum")
        new_total, new_p = self._new_values(Gather()(p, order), Gather()(total, order), sums)
        return [(total, SetRows()(total, order, new_total)), (p, SetRows()(p, order, new_p))]


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
        p[rows] -= self.lr * g / (np.sqrt(v) + self.eps)

    def _dense_updates(self, p, g):
        v = self._state_var(p, "square_avg")
        new_v = v * _like(self.alpha, p) + _like(1 - self.alpha, p) * g * g
        new_p = p - self._rate(p) * g / (sqrt(new_v) + _like(self.eps, p))
        return [(v, new_v), (p, new_p)]


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
        (b1, b2), t = self.betas, _step(state)
        m = _zeros(state, "exp_avg", p)
        v = _zeros(state, "exp_avg_sq", p)
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps
        p[rows] -= self.lr / (1 - b1 ** t) * m / denom

    def _dense_updates(self, p, g):
        (b1, b2), eps = self.betas, _like(self.eps, p)
        t, m, v = (self._state_var(p, k) for k in self.state_keys)
        t_new = t + 1  # a float: b ** t is C's pow, as Python's float ** int in step
        new_m = m + _like(1 - b1, p) * (g - m)
        new_v = v * _like(b2, p) + _like(1 - b2, p) * g * g
        denom = sqrt(new_v) / self._rate(p, sqrt(1 - b2 ** t_new)) + eps
        new_p = p - self._rate(p, self._lr / (1 - b1 ** t_new)) * new_m / denom
        return [(t, t_new), (m, new_m), (v, new_v), (p, new_p)]


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
    >>> opt.state["E"]["exp_avg"][3], int(opt.state["E"]["step"])  # row 3's moment kept
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
        (b1, b2), t = self.betas, _step(state)
        m = _zeros(state, "exp_avg", p)
        v = _zeros(state, "exp_avg_sq", p)
        m_rows, v_rows = m[rows], v[rows]      # copies for row indices, views for ...
        m_rows += (1 - b1) * (g - m_rows)
        v_rows += (1 - b2) * (g * g - v_rows)
        m[rows], v[rows] = m_rows, v_rows
        step_size = self.lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p[rows] -= step_size * m_rows / (np.sqrt(v_rows) + self.eps)

    def _new_values(self, p, m, v, g, t_new):
        """The rows' new moments and values given their gradient ``g``."""
        b1, b2 = self.betas
        m = m + _like(1 - b1, p) * (g - m)
        v = v + _like(1 - b2, p) * (g * g - v)
        step_size = self._rate(p, self._lr * sqrt(1 - b2 ** t_new) / (1 - b1 ** t_new))
        return m, v, p - step_size * m / (sqrt(v) + _like(self.eps, p))

    def _dense_updates(self, p, g):
        t, m, v = (self._state_var(p, k) for k in self.state_keys)
        t_new = t + 1
        new = self._new_values(p, m, v, g, t_new)
        if p.ndim:  # rows of zeros carry no gradient: they keep their moments
            present = _present(g, p)
            new = [where(present, x, old) for x, old in zip(new, (m, v, p))]
        return [(t, t_new)] + list(zip((m, v, p), new))

    def _row_updates(self, p, order, sums):
        t, m, v = (self._state_var(p, k) for k in self.state_keys)
        t_new = t + 1
        rows = [Gather()(x, order) for x in (p, m, v)]
        new_m, new_v, new_p = self._new_values(*rows, sums, t_new)
        return [(t, t_new)] + [(x, SetRows()(x, order, new))
                               for x, new in ((m, new_m), (v, new_v), (p, new_p))]
