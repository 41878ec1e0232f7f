"""Neural-network helpers: losses and initialisers (``sg.nn.init``)."""
from . import init
from .losses import l2, max_margin, mse, softmax_cross_entropy

__all__ = ["init", "l2", "max_margin", "mse", "softmax_cross_entropy"]
