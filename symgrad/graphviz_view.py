"""``sg.graphviz``: the computation graph as a ``graphviz.Digraph``, like the
lecture's slides: inputs are source nodes, operations interior nodes, and each
edge carries the value flowing forward (green) and the gradient flowing back
(red) when they are given.

The python ``graphviz`` package writes the DOT source; drawing it needs the
Graphviz ``dot`` program. Where that is missing, rendering raises
:class:`DotNotFound`, which says how to install it; building the graph and
its ``.source`` still work.
"""
import functools
import html

import numpy as np

from .debugprint import printable
from .graph import Expr, toposort
from .ops import Input, Leaf

INSTALL_DOT = ("drawing the graph needs the Graphviz 'dot' program, which is not on PATH; "
               "install it with 'apt-get install graphviz' (Debian/Ubuntu), 'brew install "
               "graphviz' (macOS) or 'conda install -c conda-forge graphviz', or use the DOT "
               "text in .source")


def _graphviz_package():
    try:
        import graphviz
    except ImportError:
        raise ImportError("sg.graphviz needs the python package 'graphviz': pip install "
                          "graphviz, or pip install \"symgrad[graphviz]\" (and the Graphviz "
                          "'dot' program to draw it)") from None
    return graphviz


@functools.cache
def _digraph_class():
    graphviz = _graphviz_package()

    class DotNotFound(graphviz.ExecutableNotFound):
        """Rendering needs the Graphviz ``dot`` program; the message says how to get it."""

        def __init__(self):
            RuntimeError.__init__(self, INSTALL_DOT)

    class ComputationGraph(graphviz.Digraph):
        """A ``graphviz.Digraph`` whose rendering explains a missing ``dot``."""

        def pipe(self, *args, **kwargs):
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise DotNotFound() from e

        def render(self, *args, **kwargs):
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise DotNotFound() from e

    return ComputationGraph


def _lookup(table, node):
    """A value from a dict keyed by expression or by name, or None."""
    if not table:
        return None
    if node in table:
        return table[node]
    name = node.op.name if isinstance(node.op, Input) else node._name
    return table.get(name) if name is not None else None


def _number_text(value):
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item():.4g}"
    return np.array2string(arr, precision=3, threshold=8, edgeitems=2, separator=", ")


def _edge_label(node, values, grads):
    """{"label": ...} with the value and gradient leaving ``node``, or {}."""
    parts = []
    for table, colour in ((values, "darkgreen"), (grads, "red")):
        value = _lookup(table, node)
        if value is not None:
            text = html.escape(_number_text(value)).replace("\n", '<br align="left"/>')
            parts.append(f'<font color="{colour}">{text}</font>')
    return {"label": "<" + "<br/>".join(parts) + ">"} if parts else {}


def _text_label(text):
    """``text`` as a DOT label that shows it as it is: never read as an
    HTML-like label (a name ``<b>x</b>`` or ``<<img src="..."/>>``), its
    backslashes not read as Graphviz escapes (``\\N``, ``\\l``), quotes
    escaped, control characters written as Python escapes."""
    return _graphviz_package().escape(printable(str(text)))


def _node_label(node):
    text = node.op.graph_text()
    if isinstance(node.op, Input) or not node._name:
        return _text_label(text)
    return _text_label(f"{node._name} = {text}")


def graphviz(exprs, values=None, grads=None):
    """The computation graph of ``exprs`` (an expression or a list) as a
    ``graphviz.Digraph``: inputs are source nodes, operations interior nodes,
    and each edge is labelled with the forward value (green) and backward
    gradient (red) of the node it leaves, for the nodes found in ``values`` /
    ``grads`` (dicts keyed by expression or by name, e.g. from a compiled call).

    >>> import symgrad as sg
    >>> x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    >>> q = x + y
    >>> f = q * sg.maximum(y, z)
    >>> gx, gy, gz = sg.grad(f, [x, y, z])
    >>> vals = dict(zip([x, y, z, q, f], [1.0, 2.0, 0.0, 3.0, 6.0]))
    >>> g = sg.graphviz(f, values=vals, grads={x: 2.0, y: 5.0, z: 0.0, q: 2.0, f: 1.0})
    >>> for line in g.source.splitlines():
    ...     if line.strip().startswith("n0"):
    ...         print(line.strip())
    n0 [label=x shape=ellipse]
    n0 -> n2 [label=<<font color="darkgreen">1</font><br/><font color="red">2</font>>]
    """
    roots = [exprs] if isinstance(exprs, Expr) else list(exprs)
    dot = _digraph_class()(graph_attr={"rankdir": "LR"}, node_attr={"fontsize": "11"},
                           edge_attr={"fontsize": "10"})
    ids = {}
    for k, node in enumerate(toposort(roots)):
        ids[node] = f"n{k}"
        leaf = isinstance(node.op, Leaf)
        shape = "ellipse" if isinstance(node.op, Input) else "plaintext" if leaf else "box"
        dot.node(ids[node], _node_label(node), shape=shape)
        for x in node.inputs:
            dot.edge(ids[x], ids[node], **_edge_label(x, values, grads))
    for k, root in enumerate(roots):
        sink = f"out{k}"
        dot.node(sink, _text_label(root._name or f"output {k}"), shape="plaintext")
        dot.edge(ids[root], sink, **_edge_label(root, values, grads))
    return dot
