"""Optimisers (``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``SparseAdam``; each
saves and restores its state with ``state_dict()`` / ``load_state_dict(d)``),
row-sparse gradients for embeddings (``SparseRows``, ``sparse_grad``) and
learning-rate schedules (``sg.optim.schedules``)."""
from . import schedules
from .optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop, SparseAdam
from .sparse import SparseRows, sparse_grad

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "SparseAdam", "Optimizer", "SparseRows",
           "sparse_grad", "schedules"]
