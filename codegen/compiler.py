"""Compile a kernel program: write its module to the cache folder, import it,
and ``numba.njit`` its entry point with Numba's on-disk cache.

The module file is named by a hash of its source and of the Python, NumPy
and Numba versions (plus a caller's ``salt``), so a second process compiling
the same program finds the file unchanged and Numba loads its machine code
instead of compiling. Numba cannot cache ``exec``'d source, hence the file.
IEEE semantics: no fastmath, and NumPy's error model (1/0 is inf, not an
exception).

Loading a cached kernel skips Numba's refresh of its CPU target (loading
every registry of typing and lowering implementations: about 0.2 s, most of
a warm first call in a new process), which a load does not use; see
``_KernelCache``.
"""
import glob
import hashlib
import importlib.util
import os
import platform
import sys
import tempfile
import traceback
import types
import warnings
from dataclasses import dataclass

import numba
import numpy as np
from numba.core.caching import FunctionCache
from numba.core.runtime import rtsys

from . import arrays, runtime, vmath
from .source import ENTRY, LOOP_PREFIX, program_source


def _hash_files(*modules):
    digest = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


# kernels call these modules: a change to them must miss the cache
_RUNTIME_HASH = _hash_files(arrays, runtime, vmath)
_loaded = {}  # key -> Compiled, so equal programs in one process share a dispatcher


@dataclass(frozen=True)
class Compiled:
    """A compiled program: the jitted ``function``, its ``source`` and cache ``key``."""
    function: object
    source: str
    key: str
    path: object


def cache_key(source, salt=""):
    """The hex digest naming ``source`` under the current library versions."""
    versions = f"{platform.python_version()}|{np.__version__}|{numba.__version__}|{salt}"
    versions += "|" + _RUNTIME_HASH
    return hashlib.sha256(f"{versions}\n{source}".encode()).hexdigest()[:32]


class _KernelCache(FunctionCache):
    """Numba's disk cache of a kernel, loading without ``target_context.refresh()``.

    Numba refreshes the target before every load so that extensions'
    implementations are registered; a cached kernel needs none of them (its
    machine code is complete: the NumPy, math and BLAS code it calls was
    compiled into it, and Numba's C helpers and libm are registered when the
    target is created), only the runtime (NRT), which its allocations call.
    A miss compiles as usual, and compiling refreshes the target first.
    """

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


def _jit(py_func):
    """``py_func`` jitted with NumPy's error model and the kernel disk cache."""
    function = numba.njit(error_model="numpy")(py_func)
    function._cache = _KernelCache(py_func)  # what ``cache=True`` sets, with a faster load
    return function


def _jit_loops(namespace, jit):
    """Jit the module's loop functions (which its entry point calls) in place."""
    for name, value in list(namespace.items()):
        if name.startswith(LOOP_PREFIX) and isinstance(value, types.FunctionType):
            namespace[name] = jit(value)


def _write_once(path, source):
    """Write ``source`` to ``path`` atomically unless it is already there: a
    rewrite would change the file's timestamp and invalidate Numba's cache.
    A damaged file (other content) is replaced."""
    try:
        with open(path) as f:
            if f.read() == source:
                return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(source)
    os.replace(tmp, path)


def _cached_module(cache_dir, key, source):
    """The path of the module file for ``key`` in ``cache_dir``, written if new."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"kernel_{key}.py")
    _write_once(path, source)
    return path


def compile_program(program, cache_dir=None, salt=""):
    """The program compiled; cached on disk in ``cache_dir`` (None: in memory only;
    an unusable folder warns and compiles in memory).

    >>> import sympy
    >>> from codegen.program import Alloc, Compute, Index, Load, Loop, Program, Store
    >>> n, t = sympy.Symbol("n0", integer=True), sympy.Symbol("t0", real=True)
    >>> body = (Load("a", "x", (Index(0),)), Compute("b", sympy.Lambda((t,), t * t), ("a",),
    ...         "float64"), Store("y", (Index(0),), "b"))
    >>> prog = Program(("x", "n0"), (Alloc("y", "float64", (n,)), Loop((n,), body)), ("y",))
    >>> compile_program(prog).function(np.arange(3.0), 3)
    (array([0., 1., 4.]),)
    """
    source = program_source(program)
    key = cache_key(source, salt)
    memo_key = (key, cache_dir)
    if memo_key in _loaded:
        return _loaded[memo_key]
    path = None
    if cache_dir is not None:
        try:
            path = _cached_module(cache_dir, key, source)
        except OSError as e:
            warnings.warn(f"the kernel cache folder {cache_dir!r} is unusable ({e}); "
                          "compiling without the disk cache", RuntimeWarning, stacklevel=3)
    if path is None:
        namespace = {}
        exec(compile(source, f"<symgrad kernel {key}>", "exec"), namespace)
        _jit_loops(namespace, numba.njit(error_model="numpy"))
        function = numba.njit(error_model="numpy")(namespace[ENTRY])
    else:
        spec = importlib.util.spec_from_file_location(f"kernel_{key}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # Numba's cached code finds its globals by module name
        spec.loader.exec_module(module)
        _jit_loops(module.__dict__, _jit)
        function = _jit(getattr(module, ENTRY))
    compiled = Compiled(function, source, key, path)
    _loaded[memo_key] = compiled
    return compiled


def is_cache_load_failure(error):
    """True when ``error`` came out of Numba's loading of its own cache files
    (a truncated or damaged ``.nbi`` / ``.nbc``)."""
    loader = os.path.join("numba", "core", "caching.py")
    return any(frame.filename.endswith(loader)
               for frame in traceback.extract_tb(error.__traceback__))


def recompile(compiled):
    """``compiled`` again after deleting its Numba cache files: the way out of a
    damaged cache entry. Numba writes fresh files on the next compile."""
    folder = os.path.join(os.path.dirname(compiled.path), "__pycache__")
    pattern = glob.escape(os.path.join(folder, f"kernel_{compiled.key}")) + ".*.nb[ic]"
    for name in glob.glob(pattern):
        try:
            os.remove(name)
        except OSError:
            pass
    function = _jit(compiled.function.py_func)
    fresh = Compiled(function, compiled.source, compiled.key, compiled.path)
    for memo_key, known in list(_loaded.items()):
        if known is compiled:
            _loaded[memo_key] = fresh
    return fresh
