"""Neural-network helpers: losses (initialisers and layers come later)."""
from .losses import l2, max_margin, mse, softmax_cross_entropy

__all__ = ["l2", "max_margin", "mse", "softmax_cross_entropy"]
