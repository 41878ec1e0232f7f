"""The exceptions symgrad raises; every message names the expressions involved."""


class ShapeError(ValueError):
    """Shapes that do not fit: raised while building a graph or binding arrays.

    >>> import symgrad as sg
    >>> try:
    ...     sg.vector("a", 3) + sg.vector("b", 4)
    ... except sg.ShapeError as e:
    ...     print("(3,)" in str(e) and "(4,)" in str(e))
    True
    """


class DisconnectedInputError(ValueError):
    """``sg.grad`` was asked for a variable the cost does not depend on.

    >>> import symgrad as sg
    >>> x, y = sg.scalar("x"), sg.scalar("y")
    >>> try:
    ...     sg.grad(x * 2, y)
    ... except sg.DisconnectedInputError as e:
    ...     print("'y'" in str(e))
    True
    """


class CycleError(ValueError):
    """A graph that refers back to itself, so it has no evaluation order."""
