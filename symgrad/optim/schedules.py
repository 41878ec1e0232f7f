"""Learning-rate schedules: each is a function ``f(epoch) -> lr``, epochs
counting from 0; the training loop sets the optimiser's ``lr`` from it at the
start of every epoch."""
import math
import numbers


def _check_epoch(t):
    if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
        raise ValueError(f"a schedule takes an epoch number (an int >= 0), got {t!r}")
    return int(t)


def _positive(name, value, allow_zero=False):
    if not (value > 0 or allow_zero and value == 0):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def constant(lr):
    """The same learning rate every epoch.

    >>> from symgrad.optim import schedules
    >>> schedules.constant(0.1)(7)
    0.1
    """
    _positive("lr", lr, allow_zero=True)

    def schedule(t):
        _check_epoch(t)
        return lr
    return schedule


def step_decay(lr0, factor=0.5, every=10):
    """``lr0 * factor ** (t // every)``: multiply by ``factor`` every ``every`` epochs.

    >>> from symgrad.optim import schedules
    >>> f = schedules.step_decay(0.1, factor=0.5, every=3)
    >>> [f(t) for t in range(7)]
    [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    """
    _positive("lr0", lr0, allow_zero=True)
    _positive("factor", factor)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    return lambda t: lr0 * factor ** (_check_epoch(t) // every)


def exponential_decay(lr0, k):
    """``lr0 * exp(-k t)``.

    >>> from symgrad.optim import schedules
    >>> f = schedules.exponential_decay(1.0, k=0.5)
    >>> round(f(2), 6)      # exp(-1)
    0.367879
    """
    _positive("lr0", lr0, allow_zero=True)
    _positive("k", k, allow_zero=True)
    return lambda t: lr0 * math.exp(-k * _check_epoch(t))


def cyclic(base_lr, max_lr, step_size):
    """Triangular cycles: ``base_lr`` at t = 0, rising linearly to ``max_lr`` at
    t = step_size, back to ``base_lr`` at t = 2 step_size, and so on.

    >>> from symgrad.optim import schedules
    >>> f = schedules.cyclic(0.1, 0.5, step_size=2)
    >>> [round(f(t), 6) for t in range(6)]
    [0.1, 0.3, 0.5, 0.3, 0.1, 0.3]
    """
    _positive("base_lr", base_lr, allow_zero=True)
    if not max_lr >= base_lr:
        raise ValueError(f"max_lr ({max_lr!r}) must be >= base_lr ({base_lr!r})")
    _positive("step_size", step_size)

    def lr(t):
        cycle = math.floor(1 + _check_epoch(t) / (2 * step_size))
        x = abs(t / step_size - 2 * cycle + 1)
        return base_lr + (max_lr - base_lr) * max(0.0, 1 - x)
    return lr
