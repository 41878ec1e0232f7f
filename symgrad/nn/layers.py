"""Layers and activations as ``torch.nn.functional`` spells them, each a short
composition of symgrad ops (so each is differentiated and compiled like any
other graph).

A symbolic graph holds no state and draws no random numbers, so two layers
differ from PyTorch in how they are fed: ``batch_norm`` in training mode
returns the normalised output and leaves the running statistics to the
caller (:func:`batch_norm_stats` gives the batch's), and ``dropout`` takes its
keep-mask as an input (:func:`dropout_mask` draws one from a seeded
``numpy.random.Generator``).
"""
import numbers

import numpy as np

from .. import elementwise_ops as ew
from .. import tensor_ops as T
from ..constructors import dim_size
from ..errors import ShapeError
from ..types import as_dim, is_float, same_dim, shape_str


def log_sigmoid(input):  # noqa: A002 - PyTorch's argument name
    """log(sigmoid(x)) = -softplus(-x), elementwise, stable at any magnitude
    (``torch.nn.functional.logsigmoid``; also ``sg.nn.logsigmoid``).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> sg.nn.log_sigmoid(x).eval({x: [-1000.0, 0.0, 1000.0]}).round(6).tolist()
    [-1000.0, -0.693147, -0.0]
    """
    return -ew.softplus(-T._as_expr(input))


logsigmoid = log_sigmoid


def _float_input(input, what):
    input = T._as_expr(input)
    if not is_float(input.dtype):
        raise TypeError(f"{what} needs a floating-point input, got {input.describe()}")
    return input


def _affine(out, weight, bias, shape, what):
    """out * weight + bias, each checked to have ``shape`` (broadcast as given)."""
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        p = T._as_expr(p)
        if p.ndim != len(shape) or not all(same_dim(a, b) for a, b in zip(p.shape, shape)):
            raise ShapeError(f"{what}: {name} must have shape {shape_str(shape)}, but it is "
                             f"{p.describe()}")
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the last ``len(normalized_shape)`` axes, as
    ``torch.nn.functional.layer_norm``: (x - mean) / sqrt(var + eps) * weight + bias,
    with the biased variance (divided by the number of elements, not one less).

    ``normalized_shape`` (an int or a tuple, named dimensions allowed) must equal
    the trailing shape of ``input``; ``weight`` and ``bias`` (optional) have that shape.

    >>> import symgrad as sg
    >>> X = sg.matrix("X", "batch", 3)
    >>> sg.nn.layer_norm(X, 3).eval({X: [[1.0, 2.0, 3.0]]}).round(4)
    array([[-1.2247,  0.    ,  1.2247]])
    """
    input = _float_input(input, "layer_norm")
    if isinstance(normalized_shape, (numbers.Integral, str)):
        normalized_shape = (normalized_shape,)
    shape = tuple(as_dim(d, "layer_norm's normalized_shape") for d in normalized_shape)
    k = len(shape)
    if k == 0 or k > input.ndim or not all(
            same_dim(a, b) for a, b in zip(input.shape[input.ndim - k:], shape)):
        raise ShapeError(f"layer_norm: normalized_shape {shape_str(shape)} must be the last "
                         f"dimensions of the input, but the input is {input.describe()}; "
                         f"pass normalized_shape={shape_str(input.shape[-1:])} to normalise "
                         "the last axis")
    axes = tuple(range(input.ndim - k, input.ndim))
    centred = input - T.mean(input, axes, keepdims=True)
    var = T.mean(centred * centred, axes, keepdims=True)  # biased, as torch
    return _affine(centred / ew.sqrt(var + eps), weight, bias, shape, "layer_norm")


def _channels(input, what):
    if input.ndim < 2:
        raise ShapeError(f"{what} needs an input of shape (N, C, ...), but it is "
                         f"{input.describe()}")
    return (0,) + tuple(range(2, input.ndim))


def _per_channel(p, input):
    """A (C,) vector shaped to broadcast along axis 1 of ``input``."""
    return T.reshape(p, (input.shape[1],) + (1,) * (input.ndim - 2))


def _count(input, axes):
    n = 1
    for a in axes:
        d = input.shape[a]
        n = n * (d if isinstance(d, int) else dim_size(d))
    return n


def batch_norm_stats(input):
    """The batch statistics ``(mean, var)`` of an (N, C, ...) ``input`` per channel C,
    with the unbiased variance: what ``torch.nn.functional.batch_norm`` folds into
    ``running_mean`` / ``running_var`` in training mode.

    A symbolic graph cannot update state yet: output these from the compiled
    training step and update the running statistics in NumPy as torch does,
    ``running = (1 - momentum) * running + momentum * batch``.

    >>> import numpy as np, symgrad as sg
    >>> X = sg.matrix("X", "batch", 2)
    >>> mean, var = sg.nn.batch_norm_stats(X)
    >>> step = sg.function([X], [sg.nn.batch_norm(X, None, None, training=True), mean, var],
    ...                    backend="numpy")
    >>> out, m, v = step(np.array([[1.0, 0.0], [3.0, 0.0]]))
    >>> running_mean, running_var, momentum = np.zeros(2), np.ones(2), 0.1
    >>> running_mean = (1 - momentum) * running_mean + momentum * m
    >>> running_var = (1 - momentum) * running_var + momentum * v
    >>> running_mean.tolist(), running_var.tolist()
    ([0.2, 0.0], [1.1, 0.9])
    """
    input = _float_input(input, "batch_norm_stats")
    axes = _channels(input, "batch_norm_stats")
    mean = T.mean(input, axes, keepdims=True)
    centred = input - mean
    var = T.sum(centred * centred, axes) / (_count(input, axes) - 1)
    return T.reshape(mean, (input.shape[1],)), var


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Batch normalisation of an (N, C, ...) ``input`` per channel C, as
    ``torch.nn.functional.batch_norm``: (x - mean) / sqrt(var + eps) * weight + bias.

    ``training=False`` (evaluation) uses ``running_mean`` and ``running_var``
    (shape (C,), expressions or arrays). ``training=True`` uses the batch's own
    statistics (mean and biased variance over every axis but 1) and ignores the
    running ones, which may be None: a graph cannot update them in place as
    torch does, so take the batch's from :func:`batch_norm_stats` and apply
    ``momentum`` yourself (``momentum`` is accepted for torch's signature only).

    >>> import symgrad as sg
    >>> X = sg.matrix("X", 2, 1)
    >>> sg.nn.batch_norm(X, None, None, training=True).eval({X: [[1.0], [3.0]]}).round(4)
    array([[-1.],
           [ 1.]])
    >>> sg.nn.batch_norm(X, [1.0], [4.0], eps=0.0).eval({X: [[1.0], [3.0]]})
    array([[0.],
           [1.]])
    """
    input = _float_input(input, "batch_norm")
    axes = _channels(input, "batch_norm")
    channels = (input.shape[1],)
    if training:
        count = [input.shape[a] for a in axes]
        if all(isinstance(d, int) for d in count) and int(np.prod(count)) == 1:
            raise ValueError(f"batch_norm: training needs more than 1 value per channel, but "
                             f"{input.describe()} has one")
        centred = input - T.mean(input, axes, keepdims=True)
        var = T.mean(centred * centred, axes, keepdims=True)  # biased, as torch
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and "
                             "running_var; pass training=True to use the batch's statistics")
        mean = _per_channel(_channel_vector(running_mean, channels, "running_mean"), input)
        var = _per_channel(_channel_vector(running_var, channels, "running_var"), input)
        centred = input - mean
    out = centred / ew.sqrt(var + eps)
    if weight is not None:
        out = out * _per_channel(_channel_vector(weight, channels, "weight"), input)
    if bias is not None:
        out = out + _per_channel(_channel_vector(bias, channels, "bias"), input)
    return out


def _channel_vector(p, channels, name):
    p = T._as_expr(p)
    if p.ndim != 1 or not same_dim(p.shape[0], channels[0]):
        raise ShapeError(f"batch_norm: {name} must have shape {shape_str(channels)} (one per "
                         f"channel), but it is {p.describe()}")
    return p


def dropout_mask(shape, p=0.5, rng=None, dtype="float64"):
    """A keep-mask for :func:`dropout`: 1 with probability 1 - p, else 0, drawn from
    ``rng`` (a ``numpy.random.Generator``; an int seeds one). Draw a new one each
    training step and feed it as the mask input.

    >>> import numpy as np, symgrad as sg
    >>> sg.nn.dropout_mask((2, 3), p=0.5, rng=np.random.default_rng(0))
    array([[1., 0., 0.],
           [0., 1., 1.]])
    """
    _check_p(p)
    if rng is None or isinstance(rng, numbers.Integral):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout_mask needs a numpy.random.Generator (or an int seed), "
                        f"got {type(rng).__name__}")
    return (rng.random(shape) >= p).astype(dtype)


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")


def dropout(input, p=0.5, training=True, *, mask=None):  # noqa: A002 - torch's name
    """Zero elements of ``input`` where ``mask`` is 0 and scale the others by
    1 / (1 - p), as ``torch.nn.functional.dropout``; the identity when
    ``training=False``.

    A symbolic graph draws no random numbers: ``mask`` (keyword-only, where
    torch's fourth argument is ``inplace``) is a keep-mask (1 keep,
    0 drop) that broadcasts to ``input``, normally a graph input fed a fresh
    :func:`dropout_mask` each step (seeded, so runs repeat). With ``p == 1``
    the result is zeros, with ``p == 0`` the input (the mask is not needed).

    >>> import numpy as np, symgrad as sg
    >>> x, m = sg.vector("x", 4), sg.vector("m", 4)
    >>> y = sg.nn.dropout(x, p=0.5, mask=m)
    >>> y.eval({x: [1.0, 2.0, 3.0, 4.0], m: [1.0, 0.0, 1.0, 0.0]})
    array([2., 0., 6., 0.])
    >>> sg.nn.dropout(x, training=False) is x
    True
    """
    _check_p(p)
    input = _float_input(input, "dropout")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    if mask is None:
        raise ValueError(f"dropout of {input.describe()} in training needs mask=: a symbolic "
                         "graph has no random numbers, so make the keep-mask an input "
                         f"(e.g. sg.tensor('mask', {shape_str(input.shape)})) and feed it "
                         "sg.nn.dropout_mask(shape, p, rng) each step; or pass training=False")
    mask = T._as_expr(mask)
    try:
        T.broadcast_to(mask, input.shape)
    except ShapeError:
        raise ShapeError(f"dropout: the mask {mask.describe()} does not broadcast to the "
                         f"input {input.describe()}") from None
    return input * mask * (1.0 / (1.0 - p))
