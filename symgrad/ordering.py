"""Orderings: argmax/argmin, sort/argsort."""

__all__ = []
