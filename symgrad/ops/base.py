"""What every op is asked (DESIGN.md "One op, one place").

A primitive op is a frozen dataclass deriving from :class:`Primitive` that
keeps everything about itself side by side:

``type(inputs)``
    the result's ``(dtype, shape)`` (build-time checks); ``op(*inputs)``
    builds the node with it.
``vjp(node, k, g)``
    the gradient flowing to input ``k`` given the upstream ``g``, or None
    (none flows). Derived, never written per formula: SymPy for ``Elemwise``,
    one generic einsum adjoint, the transpose of a linear structural op.
``evaluate(node, args, bindings)``
    the NumPy reference meaning (``bindings``: named dimension -> size).
``lower(node, low, loop)``
    its part of the kernel program (``low``: ``lowering.Lowering``; ``loop``:
    the fused loop it sits in, for pointwise ops and reductions, else None);
    returns the name of the buffer holding the result (None inside a loop, or
    when it set the buffers of its readers itself).
``index_form(node, reader, idx)``
    the element at the SymPy indices ``idx``, for ``to_sympy``/``sg.latex``;
    ``matrix_form(node, forms)`` its matrix reading where it has one.
``label``, ``text()`` and ``graph_text()``
    how a node's name, debugprint and graphviz show it; ``used_inputs(node)``
    the inputs its value depends on (an elementwise formula may ignore some);
    ``is_derivative`` marks nodes made by differentiation (printed as δ).
``named_axes(node)`` and ``local_derivative(node, k, ...)``
    optional (the defaults say none): the reduced named axes that must not be
    empty at call time; ∂y/∂x_k as ``sg.local_gradient`` prints it.
``fusion``
    how lowering schedules it: ``"pointwise"`` and ``"reduction"`` ops share
    loop nests, ``"view"`` ops cost nothing, None is a kernel of its own.

Leaves (``Input``, ``Constant``, ``DimSize``) derive from :class:`Leaf` and
answer ``evaluate``, ``index_form``, ``matrix_form`` and ``text``.
:data:`PRIMITIVES` lists every primitive; the drivers (autodiff, the NumPy
backend, lowering, the printers) loop over a graph and ask each node's op.
"""
import dataclasses

from ..graph import Expr, Op
from ..sympy_algebra import NoMatrixForm

PRIMITIVES = []
"""Every primitive op class, in definition order (tests walk it)."""

FACETS = ("type", "vjp", "evaluate", "lower", "index_form")
"""The methods each primitive defines itself."""


def fields_text(op):
    """``label`` and the op's fields: ``reshape (3, 2)``, ``reduce kind='max' axes=(0,)``."""
    fields = [f.name for f in dataclasses.fields(op)] if dataclasses.is_dataclass(op) else []
    if len(fields) == 1:
        return f"{op.label} {getattr(op, fields[0])!r}"
    return " ".join([op.label] + [f"{f}={getattr(op, f)!r}" for f in fields])


class Node(Op):
    """What leaves and primitives answer alike (their defaults)."""

    fusion = None
    is_derivative = False

    def text(self):
        return fields_text(self)

    def graph_text(self):
        return self.text()

    def used_inputs(self, node):
        return list(node.inputs)

    def matrix_form(self, node, forms):
        raise NoMatrixForm(f"no matrix form for {node.describe()}")

    def named_axes(self, node):
        return []

    def local_derivative(self, node, k, symbols, names, taken):
        return None, None


class Leaf(Node):
    """An op without inputs: a variable, a constant, a dimension's size."""

    def graph_text(self):
        return self.label


class Primitive(Node):
    """Base of the primitive ops; see the module docstring for what each defines."""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        PRIMITIVES.append(cls)

    def __call__(self, *inputs):
        """The node applying this op to ``inputs`` (typed by :meth:`type`)."""
        dtype, shape = self.type(inputs)
        return Expr(self, tuple(inputs), dtype, shape)
