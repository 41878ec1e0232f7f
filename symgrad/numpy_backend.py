"""The reference backend: evaluates a graph node by node with NumPy.

Simple and obviously right rather than fast: one NumPy call per node, the
op's own ``evaluate`` facet (``symgrad/ops``).
"""
from .graph import toposort


class NumpyProgram:
    """A graph prepared for repeated evaluation: its order."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        given = set(self.inputs)
        self.order = [n for n in toposort(self.outputs) if n not in given]

    def __call__(self, arrays, bindings):
        """Evaluate with ``arrays`` (in ``inputs`` order); returns the output arrays."""
        values = dict(zip(self.inputs, arrays))
        for node in self.order:
            values[node] = node.op.evaluate(node, [values[i] for i in node.inputs], bindings)
        return [values[o] for o in self.outputs]
