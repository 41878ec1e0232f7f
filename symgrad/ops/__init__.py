"""The closed set of primitive ops, one module per kind, each op with
everything about it side by side (see ``base.py``):

* ``elementwise``: ``Elemwise``, a SymPy ``Lambda`` applied with broadcasting;
* ``contraction``: ``Contract`` (einsum: matmul, dot, outer, sums) and its
  transpose ``Broadcast``;
* ``reduction``: ``Reduce`` (max/min) and ``ArgOneHot`` (the first arg-max mask);
* ``cumulative``: ``Cumsum`` (forward or reversed, its own transpose);
* ``scan``: ``Scan``, the linear recurrence y[i] = a[i] * y[i-1] + b[i] (cumprod, prod);
* ``views``: ``Reshape``, ``Transpose``;
* ``indexing``: ``Gather`` / ``ScatterAdd``, ``TakeAlong`` / ``PutAlong``;
* ``slicing``: ``Slice`` / ``SliceAdd``, ``Concatenate``;
* ``rows``: ``SetRows`` (rows of x replaced at idx, the last write kept; optimisers' sparse updates);
* ``sorting``: ``Argsort`` (stable, along the last axis; integer output);
* ``stop``: ``StopGradient`` (the value of its input, no gradient: ``sg.stop_gradient``);
* ``leaves``: ``Input`` (and ``Shared``, a variable owning its array), ``Constant``, ``DimSize``.

Everything in the public API is built from these.
"""
from .base import FACETS, PRIMITIVES, Leaf, Primitive
from .contraction import Broadcast, Contract
from .cumulative import Cumsum
from .elementwise import Elemwise
from .indexing import Gather, PutAlong, ScatterAdd, TakeAlong
from .leaves import Constant, DimSize, Input, Shared, Storage, free_inputs
from .reduction import ArgOneHot, Reduce
from .rows import SetRows
from .scan import Scan
from .slicing import Concatenate, Slice, SliceAdd
from .sorting import Argsort
from .stop import StopGradient
from .views import Reshape, Transpose

__all__ = ["FACETS", "PRIMITIVES", "Leaf", "Primitive", "Broadcast", "Contract", "Cumsum",
           "Elemwise", "Gather", "PutAlong", "ScatterAdd", "TakeAlong", "Constant", "DimSize",
           "Input", "Shared", "Storage", "free_inputs", "ArgOneHot", "Reduce", "Concatenate", "Slice", "SliceAdd",
           "Reshape", "Transpose", "Scan", "Argsort", "StopGradient", "SetRows"]
