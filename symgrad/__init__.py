"""symgrad: symbolic differentiation of tensor graphs, derived with SymPy.

>>> import symgrad as sg
>>> x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
>>> f = (x + y) * sg.maximum(y, z)
>>> [float(g) for g in sg.function([x, y, z], sg.grad(f, [x, y, z]), backend="numpy")(1, 2, 0)]
[2.0, 5.0, 0.0]
"""
import sys

from . import operators as _operators  # noqa: F401 - attaches Expr's operators
from .autodiff import grad, hessian, hvp, jacobian, jvp, stop_gradient
from .check import GradCheckResult, check_grad
from .composites import log_softmax, logsumexp, softmax
from .constructors import constant, dim_size, matrix, scalar, tensor, vector
from .debugprint import debugprint
from .elementwise import cast, elementwise
from .elementwise_ops import (abs, acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,
                              arctanh, asin, asinh, atan, atan2, atanh, cbrt, ceil, clip, cos, cosh,
                              eq, equal, erf, erfc, erfinv, exp, exp2, expm1, floor, fmax, fmin,
                              hardtanh, hypot, isfinite, isinf, isnan, leaky_relu, log, log1p, log2,
                              log10, logaddexp, maximum, minimum, mod, neq, not_equal, prelu,
                              reciprocal, relu, remainder, round, rsqrt, sigmoid, sign, sin, sinc,
                              sinh, softplus, sqrt, square, tan, tanh, trunc, where)
from .errors import CycleError, DisconnectedInputError, ShapeError
from .function import evaluate, function, value_and_grad
from .graph import Expr
from .graphviz_view import graphviz
from .local_gradient import LocalGradient, local_gradient
from .printing import definitions, latex, pretty
from .tensor_ops import (broadcast_to, concatenate, cumsum, dot, einsum, gather, matmul, max, mean,
                         min, pick, reshape, stack, sum, transpose)
from .creation import *  # noqa: F401,F403 - each module's __all__ is public
from .linalg_ops import *  # noqa: F401,F403
from .ordering import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shape_ops import *  # noqa: F401,F403
from . import creation, linalg_ops, ordering, reductions, shape_ops
from . import nn
from . import optim
from .training import Trainer, train
from .checkpoint import load_params, save_params
from .shared import shared
from .threads import get_num_threads, set_num_threads
from . import callbacks
from . import distributed
from .version import __version__  # noqa: F401


__all__ = [
    "Expr", "ShapeError", "DisconnectedInputError", "CycleError", "GradCheckResult",
    "scalar", "vector", "matrix", "tensor", "constant", "dim_size",
    "exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid", "relu", "leaky_relu",
    "prelu", "hardtanh", "softplus", "maximum", "minimum", "where", "eq", "neq", "equal",
    "not_equal", "elementwise", "cast",
    "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "asin",
    "acos", "atan", "asinh", "acosh", "atanh", "log2", "log10", "exp2", "cbrt", "square",
    "reciprocal", "rsqrt", "sign", "floor", "ceil", "trunc", "round", "hypot", "arctan2", "atan2",
    "logaddexp", "sinc", "erf", "erfc", "erfinv", "log1p", "expm1", "fmax", "fmin", "mod", "remainder",
    "clip", "isnan", "isfinite", "isinf",
    "dot", "matmul", "einsum", "sum", "mean", "max", "min", "logsumexp", "softmax",
    "log_softmax", "cumsum", "concatenate", "stack", "reshape", "transpose", "broadcast_to", "gather",
    "pick", "grad", "jacobian", "hessian", "jvp", "hvp", "function", "value_and_grad", "evaluate",
    "check_grad", "nn", "optim", "train", "Trainer", "save_params", "load_params",
    "callbacks", "distributed", "stop_gradient", "shared", "set_num_threads", "get_num_threads",
    "pretty", "latex", "definitions", "debugprint", "graphviz", "local_gradient", "LocalGradient",
]
__all__ += creation.__all__ + linalg_ops.__all__ + ordering.__all__ + reductions.__all__ + shape_ops.__all__

from . import numpy_interop  # noqa: E402 - NumPy's names map onto the finished namespace
numpy_interop.register(sys.modules[__name__])
