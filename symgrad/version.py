"""The version of symgrad (one place: the package, setup.cfg and the cache keys read it)."""
__version__ = "0.1.0"
