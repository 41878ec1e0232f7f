"""``sg.debugprint``: a graph as an indented text tree, one node per line.

Each line shows the node's op, dtype and shape and an id; a node reached a
second time is printed as ``↑ <id>`` (a reference to its first, full line)
without its subtree, so the output grows with the graph, not the tree.
Indentation goes :data:`MAX_DEPTH` levels deep and then starts again from the
margin, marked ``[depth]``, so a deep chain prints in size proportional to
its length (not to its length squared). Names are printed with control
characters escaped (a newline as ``\\n``), so every node keeps its one line.
Iterative, so deep graphs print too.
"""
import string

from .graph import Expr
from .ops import Input
from .types import shape_str


def _short_ids():
    """A, B, ..., Z, AA, AB, ..."""
    n = 0
    while True:
        k, text = n, ""
        while True:
            text = string.ascii_uppercase[k % 26] + text
            k = k // 26 - 1
            if k < 0:
                break
        yield text
        n += 1


def op_text(node):
    """What a node computes, in a few words: ``tanh: tanh(t0)``, ``einsum 'ab,b->a'``."""
    return node.op.text()


MAX_DEPTH = 24
"""Levels of indentation after which the indentation starts again from the margin."""


def printable(text):
    """``text`` with control and other invisible characters written as Python
    escapes (a newline as ``\\n``), so that it stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def debugprint(exprs):
    """The graph of ``exprs`` (an expression or a list) as an indented tree:
    ``[name =] op  dtype shape  #id`` per node, children indented below it;
    a node met again is written ``↑ #id`` and not expanded. Indentation goes
    :data:`MAX_DEPTH` levels deep and then starts again at the margin, marked
    with the depth it stands for: ``[24] ├─ ...`` are the children of the node
    at depth 24 on the line above (so a deep chain prints in size proportional
    to its length, not to its length squared).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> h = sg.tanh(x)
    >>> print(sg.debugprint(h * h + h))
    add: (t0, t1) ↦ t0 + t1  float64 (3,)  #A
    ├─ mul: t0 ↦ t0**2  float64 (3,)  #B
    │  └─ tanh: t0 ↦ tanh(t0)  float64 (3,)  #C
    │     └─ input x  float64 (3,)  #D
    └─ ↑ #C tanh
    """
    roots = [exprs] if isinstance(exprs, Expr) else list(exprs)
    ids, lines, names = {}, [], _short_ids()
    for root in roots:
        stack = [(root, "", "", 0)]  # node, its line's lead, its children's, its depth
        while stack:
            node, lead, rest, depth = stack.pop()
            if node in ids:
                lines.append(f"{lead}↑ #{ids[node]} {printable(node._name or node.op.label)}")
                continue
            ids[node] = next(names)
            named = f"{node._name} = " if node._name and not isinstance(node.op, Input) else ""
            lines.append(lead + printable(f"{named}{op_text(node)}  {node.dtype} "
                                          f"{shape_str(node.shape)}") + f"  #{ids[node]}")
            if depth % MAX_DEPTH == 0 and depth:
                rest = f"[{depth}] "  # the indentation starts again
            children = node.inputs
            for k in reversed(range(len(children))):
                last = k == len(children) - 1
                stack.append((children[k], rest + ("└─ " if last else "├─ "),
                              rest + ("   " if last else "│  "), depth + 1))
    return "\n".join(lines)
