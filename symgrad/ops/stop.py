"""``StopGradient``: the value of its input, through which no gradient flows
(JAX's ``lax.stop_gradient``, PyTorch's ``detach``). It only speaks to
differentiation: NumPy returns the input itself, lowering reads the input's
scalar in the loop that uses it (no statement, no buffer), and SymPy prints
``stop_gradient(x)``, a function whose derivative SymPy also takes as 0.
It stays in the graph after ``sg.grad``, so a gradient differentiated
again still sees it."""
from dataclasses import dataclass

import sympy

from ..sympy_algebra import elementwise_matrix
from .base import Primitive


class stop_gradient(sympy.Function):  # noqa: N801 - printed as the function's name
    """``stop_gradient(t)``: equal to ``t``, with derivative 0 (so ``sympy.diff``
    of a printed form agrees with ``sg.grad``); a number passes through."""

    @classmethod
    def eval(cls, t):
        if t.is_number:
            return t
        return None

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_is_real(self):
        return self.args[0].is_real


_T = sympy.Symbol("t0", real=True)


@dataclass(frozen=True)
class StopGradient(Primitive):
    """``x`` unchanged in value; the gradient stops here (``sg.stop_gradient``)."""
    label = "stop_gradient"
    fusion = "pointwise"

    def type(self, inputs):
        (x,) = inputs
        return x.dtype, x.shape

    def vjp(self, node, k, g):
        return None  # the point of the op: nothing flows back to the input

    def local_derivative(self, node, k, symbols, names, taken):
        return sympy.Integer(0), None

    def evaluate(self, node, args, bindings):
        return args[0]

    def lower(self, node, low, loop):
        loop.scalars[node] = low.read(loop, node.inputs[0])  # an alias: no code

    def index_form(self, node, reader, idx):
        return stop_gradient(reader.at(node.inputs[0], idx))

    def matrix_form(self, node, forms):
        return elementwise_matrix(stop_gradient(_T), {_T: forms[node.inputs[0]]})
