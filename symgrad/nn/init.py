"""Initialisers: each ``f(shape, rng, ...) -> ndarray`` (float64), ``rng`` a
``numpy.random.Generator``.

Fans follow the ``x @ W`` layout: for a 2-d shape ``fan_in, fan_out = shape``;
for more dimensions the last axis is the output and the others multiply into
``fan_in``. ``fan_in=`` / ``fan_out=`` override (and are needed for 0-d and
1-d shapes).
"""
import math

import numpy as np


def _shape(shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0
           for d in shape):
        raise ValueError(f"an initialiser needs a shape of ints >= 0, got {shape!r}")
    return tuple(int(d) for d in shape)


def _fans(shape, fan_in, fan_out, name):
    if len(shape) >= 2:
        fan_in = math.prod(shape[:-1]) if fan_in is None else fan_in
        fan_out = shape[-1] if fan_out is None else fan_out
    if fan_in is None or fan_out is None:
        raise ValueError(f"{name}: shape {shape} has no fan-in/fan-out (that needs 2 or more "
                         "dimensions); pass fan_in= and fan_out=")
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(f"{name}: fan_in and fan_out must be > 0, got {fan_in} and {fan_out}")
    return fan_in, fan_out


def _check_rng(rng, name):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} needs a numpy.random.Generator as rng (e.g. "
                        f"np.random.default_rng(0)), got {type(rng).__name__}")


def xavier_uniform(shape, rng, gain=1.0, fan_in=None, fan_out=None):
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio).

    >>> import numpy as np, symgrad as sg
    >>> W = sg.nn.init.xavier_uniform((250, 100), np.random.default_rng(0))
    >>> W.shape, bool(np.abs(W).max() <= np.sqrt(6 / 350))
    ((250, 100), True)
    """
    shape = _shape(shape)
    _check_rng(rng, "xavier_uniform")
    fan_in, fan_out = _fans(shape, fan_in, fan_out, "xavier_uniform")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def xavier_normal(shape, rng, gain=1.0, fan_in=None, fan_out=None):
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import numpy as np, symgrad as sg
    >>> W = sg.nn.init.xavier_normal((300, 500), np.random.default_rng(0))
    >>> round(float(W.std() / np.sqrt(2 / 800)), 2)
    1.0
    """
    shape = _shape(shape)
    _check_rng(rng, "xavier_normal")
    fan_in, fan_out = _fans(shape, fan_in, fan_out, "xavier_normal")
    return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_normal(shape, rng, fan_in=None):
    """N(0, 2 / fan_in): He et al.'s initialisation for ReLU layers.

    >>> import numpy as np, symgrad as sg
    >>> W = sg.nn.init.he_normal((512, 400), np.random.default_rng(0))
    >>> round(float(W.std() / np.sqrt(2 / 512)), 2)
    1.0
    """
    shape = _shape(shape)
    _check_rng(rng, "he_normal")
    fan_in, _ = _fans(shape, fan_in, 1, "he_normal")
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


def uniform(shape, rng, scale=0.1):
    """U(-scale, scale), e.g. for word vectors.

    >>> import numpy as np, symgrad as sg
    >>> E = sg.nn.init.uniform((1000, 50), np.random.default_rng(0), scale=0.5)
    >>> bool(np.abs(E).max() <= 0.5)
    True
    """
    shape = _shape(shape)
    _check_rng(rng, "uniform")
    if not scale >= 0:
        raise ValueError(f"uniform: scale must be >= 0, got {scale!r}")
    return rng.uniform(-scale, scale, size=shape)


def zeros(shape, rng=None):
    """All zeros (``rng`` is accepted, for a uniform signature, and unused).

    >>> import symgrad as sg
    >>> sg.nn.init.zeros((2, 3)).sum()
    np.float64(0.0)
    """
    return np.zeros(_shape(shape))


def softmax_bias(labels, n_classes):
    """The best output bias of a softmax classifier whose weights are zero: the
    log of the class frequencies in ``labels`` (then softmax(b) equals those
    frequencies and the cross-entropy gradient with respect to b is zero).

    >>> import numpy as np, symgrad as sg
    >>> b = sg.nn.init.softmax_bias([0, 0, 1, 2], 3)
    >>> np.exp(b)
    array([0.5 , 0.25, 0.25])
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or labels.size == 0:
        raise TypeError(f"softmax_bias needs a non-empty 1-d integer array of labels, got "
                        f"dtype {labels.dtype} and shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from "
                         f"{labels.min()} to {labels.max()}")
    counts = np.bincount(labels, minlength=n_classes)
    if not counts.all():
        absent = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"class(es) {absent} never occur in labels, so their best bias is "
                         "-inf; drop those classes or add examples of them")
    return np.log(counts / labels.size)
