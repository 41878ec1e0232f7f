"""Reductions and orderings beyond sum/mean/max: prod, var, std, norm, cumprod, argmax/argmin, sort/argsort."""

__all__ = []
