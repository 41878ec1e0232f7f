"""The typed expression graph: immutable, hash-consed ``Expr`` nodes.

Building the same op on the same inputs twice gives the same node, so equal
subgraphs are one object (merging and common subexpressions for free).
"""
import itertools
import weakref

from .errors import CycleError
from .types import shape_str


class Expr:
    """A node of a symbolic graph: an op applied to input nodes.

    Every expression has ``.name``, ``.shape``, ``.ndim`` and ``.dtype`` and
    supports NumPy-like arithmetic, indexing and reductions.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> y = (x * 2).sum()
    >>> y.shape, y.dtype, x.shape
    ((), 'float64', (n,))
    """

    __slots__ = ("op", "inputs", "dtype", "shape", "_name", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Expr defers to Expr's reflected method

    _interned = weakref.WeakValueDictionary()

    def __new__(cls, op, inputs, dtype, shape):
        key = (op, inputs)
        node = cls._interned.get(key)
        if node is None:
            node = object.__new__(cls)
            node.op, node.inputs, node.dtype, node.shape = op, inputs, dtype, shape
            node._name = None
            cls._interned[key] = node
        return node

    def __setattr__(self, attr, value):
        if attr not in ("_name", "name") and hasattr(self, "_name"):
            raise AttributeError(f"expressions are immutable; cannot set {attr!r}")
        object.__setattr__(self, attr, value)

    @property
    def name(self):
        """The user's name for this node, or a short description of it."""
        if self._name is not None:
            return self._name
        if not self.inputs:
            return self.op.label
        # one level deep only: a recursive name would cost time exponential in a DAG
        args = ", ".join(i._name or (i.op.label if not i.inputs else "...") for i in self.inputs)
        text = f"{self.op.label}({args})"
        return text if len(text) <= 60 else text[:57] + "..."

    @name.setter
    def name(self, value):
        self._name = None if value is None else str(value)

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        dims = ", ".join(str(d) for d in self.shape)
        return f"<Expr {self.name}: {self.dtype}[{dims}]>"

    def describe(self):
        """``'x' (float64, shape (3,))``: how error messages name an expression."""
        return f"{self.name!r} ({self.dtype}, shape {shape_str(self.shape)})"

    def __bool__(self):
        raise TypeError(f"the truth value of symbolic expression {self.name!r} is unknown "
                        "until it is evaluated; use sg.where(cond, a, b) for a choice")

    def __iter__(self):
        raise TypeError(f"symbolic expression {self.name!r} is not iterable; index it instead")

    # Arithmetic, indexing and reductions are defined in ops modules and
    # attached in symgrad/__init__.py (see _methods.py) to keep this module
    # free of op knowledge.


class Op:
    """Base of the primitive ops; subclasses are frozen dataclasses (hashable)."""

    label = "op"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "label" not in cls.__dict__:
            cls.label = cls.__name__.lower()


_uids = itertools.count()


def fresh_uid():
    return next(_uids)


def toposort(outputs):
    """All nodes that ``outputs`` depend on, inputs before users.

    Iterative (no recursion limit); raises ``CycleError`` on a cycle.
    """
    order, done, active = [], set(), set()
    for root in outputs:
        if root in done:
            continue
        stack = [(root, iter(root.inputs))]
        active.add(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in done:
                    continue
                if child in active:
                    raise CycleError(f"the graph has a cycle through {child.name!r} "
                                     f"and {node.name!r}")
                active.add(child)
                stack.append((child, iter(child.inputs)))
                break
            else:
                stack.pop()
                active.discard(node)
                done.add(node)
                order.append(node)
    return order

