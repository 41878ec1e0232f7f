"""Neural-network helpers: layers, activations and losses with PyTorch's
functional names (``torch.nn.functional``), and initialisers (``sg.nn.init``)."""
from . import init
from .layers import (batch_norm, batch_norm_stats, dropout, dropout_mask, layer_norm, log_sigmoid,
                     logsigmoid)
from .losses import (binary_cross_entropy_with_logits, huber, huber_loss, l2, max_margin, mse,
                     softmax_cross_entropy)

__all__ = ["init", "l2", "max_margin", "mse", "softmax_cross_entropy",
           "binary_cross_entropy_with_logits", "huber_loss", "huber",
           "layer_norm", "batch_norm", "batch_norm_stats", "dropout", "dropout_mask",
           "log_sigmoid", "logsigmoid"]
