"""``sg.debugprint``: a graph as an indented text tree, one node per line.

Each line shows the node's op, dtype and shape and an id; a node reached a
second time is printed as ``↑ <id>`` (a reference to its first, full line)
without its subtree, so the output grows with the graph, not the tree.
Iterative, so deep graphs print too.
"""
import dataclasses
import string

from .graph import Expr
from .ops import Constant, Elemwise, Input
from .sympy_form import display_formula
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
    op = node.op
    if isinstance(op, Input):
        return f"input {op.name}"
    if isinstance(op, Constant):
        value = op.value
        return f"constant {value.item()!r}" if value.ndim == 0 else \
            f"constant {value.tolist()!r}" if value.size <= 6 else "constant array"
    if isinstance(op, Elemwise):
        ps = op.formula.variables
        args = ps[0] if len(ps) == 1 else "(" + ", ".join(map(str, ps)) + ")"
        return f"{op.fname}: {args} ↦ {display_formula(op.formula)}"
    fields = [f"{f.name}={getattr(op, f.name)!r}" for f in dataclasses.fields(op)] \
        if dataclasses.is_dataclass(op) else []
    if len(fields) == 1:
        fields = [repr(getattr(op, dataclasses.fields(op)[0].name))]
    return " ".join([op.label] + fields)


def debugprint(exprs):
    """The graph of ``exprs`` (an expression or a list) as an indented tree:
    ``[name =] op  dtype shape  #id`` per node, children indented below it;
    a node met again is written ``↑ #id`` and not expanded.

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
        stack = [(root, "", "")]
        while stack:
            node, lead, rest = stack.pop()
            if node in ids:
                lines.append(f"{lead}↑ #{ids[node]} {node._name or node.op.label}")
                continue
            ids[node] = next(names)
            named = f"{node._name} = " if node._name and not isinstance(node.op, Input) else ""
            lines.append(f"{lead}{named}{op_text(node)}  {node.dtype} "
                         f"{shape_str(node.shape)}  #{ids[node]}")
            children = node.inputs
            for k in reversed(range(len(children))):
                last = k == len(children) - 1
                stack.append((children[k], rest + ("└─ " if last else "├─ "),
                              rest + ("   " if last else "│  ")))
    return "\n".join(lines)
