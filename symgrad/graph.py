"""The typed expression graph: immutable ``Expr`` nodes, equal by structure.

Every build returns a new ``Expr`` object, but equality and hashing are by
structure: each node holds an interned :class:`_Structure`, one per
(op, structures of the inputs), and two nodes are ``==`` (and hash alike)
exactly when they hold the same one. So dicts and sets keyed by nodes merge
equal subgraphs (common subexpressions for free), while the attributes of an
object stay its own: naming a node (``e.name = "a"``) never renames another
node, even an equal one. ``node.inputs`` are the objects that were passed to
the builder, so a walk from the object a user holds sees the names the user
gave.

Copying and pickling: a node is immutable, so ``copy.copy`` and
``copy.deepcopy`` return the node itself (``copy.deepcopy({w: a})`` keeps the
key ``w``). A pickle rebuilds each node through ``Expr`` (interned again, so an
unpickled graph is ``==`` to the original in the same process), with the names
users gave. Every node object one pickle holds is rebuilt once, so shared nodes
stay shared objects across everything in that pickle. The graph is written
flat, not nested (a nested pickle recurses once per level and a deep graph
would exceed the recursion limit): the first node of a graph a pickle meets
lists every node object below it, inputs first, so each one's inputs are
already in the pickle's memo when it is written (see ``Expr.__reduce__``).
"""
import itertools
import operator
import os
import threading
import weakref

from .errors import CycleError
from .types import shape_str


class _Structure:
    """What makes nodes equal: one object per (op, input structures), kept
    alive by the nodes that have it (and the structures built on it). ``serial``
    is its number: no two structures ever get the same one."""

    __slots__ = ("parts", "serial", "__weakref__")

    def __init__(self, parts):
        self.parts = parts  # (op, *input structures)
        self.serial = next(_serials)

    def __repr__(self):
        return f"<structure {self.parts[0]!r} of {len(self.parts) - 1} input(s)>"


_serials = itertools.count()
_structures = {}  # {(op, *input structures): weak reference to their _Structure}
_structures_lock = threading.Lock()
_structure_of = operator.attrgetter("_key")
_set = object.__setattr__


try:  # what WeakValueDictionary uses: deletes the entry only if its reference is dead, atomically
    from _weakref import _remove_dead_weakref
except ImportError:  # pragma: no cover - not CPython
    def _remove_dead_weakref(table, key):
        ref = table.get(key)
        if ref is not None and ref() is None:
            del table[key]


def _forget(ref):
    """Drop the entry of a structure no node has any more (not one built since)."""
    _remove_dead_weakref(_structures, ref.key)


def _intern(parts):
    """The one _Structure for ``parts`` = (op, *input structures)."""
    ref = _structures.get(parts)
    if ref is not None:
        key = ref()
        if key is not None:
            return key
    with _structures_lock:  # two threads building one structure get one key
        ref = _structures.get(parts)
        key = ref() if ref is not None else None
        if key is None:
            key = _Structure(parts)
            _structures[parts] = weakref.KeyedRef(key, _forget, parts)
    return key


class Expr:
    """A node of a symbolic graph: an op applied to input nodes.

    Every expression has ``.name``, ``.shape``, ``.ndim`` and ``.dtype`` and
    supports NumPy-like arithmetic, indexing and reductions. Nodes built alike
    are equal (``==`` and ``hash`` are by structure, never elementwise) but are
    distinct objects, each with its own name.

    >>> import symgrad as sg
    >>> x = sg.vector("x", "n")
    >>> y = (x * 2).sum()
    >>> y.shape, y.dtype, x.shape
    ((), 'float64', (n,))
    >>> a, b = x + 1, x + 1
    >>> a.name, b.name = "a", "b"
    >>> a == b, a is b, a.name, b.name
    (True, False, 'a', 'b')
    """

    __slots__ = ("op", "inputs", "dtype", "shape", "_key", "_serial", "_name", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Expr defers to Expr's reflected method

    def __new__(cls, op, inputs, dtype, shape):
        inputs = tuple(inputs)
        key = _intern((op, *map(_structure_of, inputs)))
        node = object.__new__(cls)
        _set(node, "op", op)
        _set(node, "inputs", inputs)
        _set(node, "dtype", dtype)
        _set(node, "shape", shape)
        _set(node, "_key", key)
        _set(node, "_serial", key.serial)  # the structure's number, for hashing
        _set(node, "_name", None)  # last: from here on the node is immutable
        return node

    def __setattr__(self, attr, value):
        if attr not in ("_name", "name") and hasattr(self, "_name"):
            raise AttributeError(f"expressions are immutable; cannot set {attr!r}")
        object.__setattr__(self, attr, value)

    def __eq__(self, other):
        """Same structure (same op on equal inputs): a plain bool, never elementwise
        (``sg.eq`` is the elementwise comparison)."""
        return isinstance(other, Expr) and self._key is other._key

    def __ne__(self, other):
        return not (isinstance(other, Expr) and self._key is other._key)

    def __hash__(self):
        return self._serial

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

    def __copy__(self):
        return self  # immutable: a copy would be the same node

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        """Pickle as ``_rebuild(op, inputs, dtype, shape, name)``, flat (module docstring).

        >>> import pickle, symgrad as sg
        >>> x = sg.vector("x", 2)
        >>> y = x * 2
        >>> y.name = "y"
        >>> y2, x2 = pickle.loads(pickle.dumps([y, x]))
        >>> y2 == y, y2.name, y2.inputs[0] is x2
        (True, 'y', True)
        """
        scope = _pickling
        if id(self) in scope.below:  # the inputs are in the memo already
            op = scope.ops.setdefault(self.op, self.op)  # equal ops pickled once
            return _rebuild, (op, self.inputs, self.dtype, self.shape, self._name)
        node = (self.op, self.inputs, self.dtype, self.shape, self._name)
        if not self.inputs:
            return _rebuild, node
        below = _objects_below(self)
        # pickle writes the arguments in order: the scope's start, the nodes below
        # (each written as above, its inputs already in the memo), the scope's end
        return _rebuild_after, ((_ScopeStart(below), below, _ScopeEnd()),) + node

    # Arithmetic, indexing and reductions are defined in ops modules and
    # attached by symgrad/operators.py to keep this module free of op knowledge.


class Op:
    """Base of the primitive ops; subclasses are frozen dataclasses (hashable)."""

    label = "op"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "label" not in cls.__dict__:
            cls.label = cls.__name__.lower()


def _rebuild(op, inputs, dtype, shape, name):
    """A node from its pickle: interned again, named as it was."""
    node = Expr(op, inputs, dtype, shape)
    _set(node, "_name", name)
    return node


def _rebuild_after(scope, *node):
    """A node from its pickle, written after the nodes below it (``scope``)."""
    return _rebuild(*node)


def _objects_below(root):
    """Every node object below ``root``, each once, inputs before their users
    (by object, not by structure: equal nodes may carry different names)."""
    order, seen = [], {id(root)}
    stack = [(root, iter(root.inputs))]
    while stack:  # iterative: no recursion limit
        node, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    order.pop()  # root itself
    return order


class _Pickling(threading.local):
    """What the current pickle of this thread writes flat: the ids of the node
    objects listed below the first node met (``Expr.__reduce__``), and the ops
    written so far (equal ops are pickled once)."""

    below = frozenset()
    ops = None  # {op: the equal op object written first}, set with below


_pickling = _Pickling()


def _nothing():
    return None


class _ScopeStart:
    """Written before the nodes ``below``: they write themselves flat from here on."""

    def __init__(self, below):
        self.ids = frozenset(map(id, below))

    def __reduce__(self):
        _pickling.below, _pickling.ops = self.ids, {}
        return _nothing, ()


class _ScopeEnd:
    """Written after them. A pickle that fails in between leaves its ids behind,
    which only makes those objects write themselves nested later, never wrongly."""

    def __reduce__(self):
        _pickling.below, _pickling.ops = frozenset(), None
        return _nothing, ()


def fresh_uid():
    """A variable's identity: random 128 bits, so a variable unpickled in another
    process never equals one made there (a per-process counter would)."""
    return int.from_bytes(os.urandom(16), "little")


def toposort(outputs):
    """All nodes that ``outputs`` depend on, inputs before users, one per
    structure (the first object met for it, walking from the outputs).

    Iterative (no recursion limit); raises ``CycleError`` on a cycle.
    """
    order, done, active = [], set(), set()  # structure serials: one number per structure
    for root in outputs:
        if root._serial in done:
            continue
        stack = [(root, iter(root.inputs))]
        active.add(root._serial)
        while stack:
            node, children = stack[-1]
            for child in children:
                serial = child._serial
                if serial in done:
                    continue
                if serial in active:
                    raise CycleError(f"the graph has a cycle through {child.name!r} "
                                     f"and {node.name!r}")
                active.add(serial)
                stack.append((child, iter(child.inputs)))
                break
            else:
                stack.pop()
                active.discard(node._serial)
                done.add(node._serial)
                order.append(node)
    return order


def substitute(expr, replace):
    """``expr`` with the nodes in ``replace`` (node -> expression of its type)
    replaced, every node above one rebuilt, keeping the name it was given.

    >>> import symgrad as sg
    >>> x, y = sg.scalar("x"), sg.scalar("y")
    >>> z = x * 2.0
    >>> z.name = "z"
    >>> w = substitute(z, {x: y})
    >>> w == y * 2.0, w.name
    (True, 'z')
    """
    new = dict(replace)
    for node in toposort([expr]):
        inputs = tuple(new.get(i, i) for i in node.inputs)
        if node not in new and inputs != node.inputs:
            new[node] = Expr(node.op, inputs, node.dtype, node.shape)
            new[node].name = node._name
    return new.get(expr, expr)
