"""Compile a kernel program: write its module to the cache folder, run it,
and ``numba.njit`` its entry point with a signed on-disk cache of Numba's
machine code.

The module file is named by a hash of its source and of the Python, NumPy
and Numba versions (plus a caller's ``salt``), so a second process compiling
the same program finds the file unchanged and Numba loads its machine code
instead of compiling. The module is never imported (Python's import would
run a ``__pycache__/*.pyc`` that nobody checked): it runs from bytecode
compiled from the source printed here, or from ``kernel_<key>.code``, that
bytecode as this compiler wrote it, signed; the file only gives Numba a path
to key its cache by. Numba's own files are signed the same way, and a
cached kernel loads without Numba's refresh of its CPU target (about 0.2 s);
both use Numba's private API, so they live in ``codegen.numba_internals``
(without it, or with ``$SYMGRAD_NUMBA_PUBLIC_API=1``, the machine code is
compiled in every process and only the module and its bytecode are cached).
The folder's rules (refused if others can write it, no symbolic links
followed, private files, signatures, a size limit) are
``codegen.cache_folder``'s.
IEEE semantics: no fastmath, and NumPy's error model (1/0 is inf, not an
exception).
"""
import functools
import glob
import hashlib
import importlib.util
import marshal
import os
import platform
import sys
import types
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from . import arrays, cache_folder, gemm, numba_internals, rows, runtime, vmath
from .outline import BLOCK_PREFIX, LOOP_PREFIX
from .source import ENTRY, gemm_dtypes, program_source


def _hash_files(*modules):
    digest = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


# kernels call these modules: a change to them must miss the cache
_RUNTIME_HASH = _hash_files(arrays, gemm, numba_internals, rows, runtime, vmath)
# (key, cache_dir, public API forced) -> Compiled, so equal programs in one
# process share a dispatcher
_loaded = {}


@dataclass(frozen=True)
class Compiled:
    """A compiled program: the jitted ``function``, its ``source`` and cache ``key``
    (``before_load``: what runs before its disk cache is read, see ``_jit``)."""
    function: object
    source: str
    key: str
    path: object
    before_load: object = None

    @functools.cached_property
    def parallel(self):
        """Whether some loop or product runs on several threads (see ``codegen.source``)."""
        return _parallel(self.source)

    @functools.cached_property
    def products(self):
        """Whether the kernel calls BLAS."""
        return "matmul" in self.source


def _parallel(source):
    """Whether the kernel ``source`` runs a loop (prange) or products in blocks on threads."""
    return any(f"{name}(" in source for name in ("prange", "matmul_blocks", "gemm_blocks"))


def cache_key(source, salt=""):
    """The hex digest naming ``source`` under the current library versions."""
    versions = f"{platform.python_version()}|{np.__version__}|{numba.__version__}|{salt}"
    versions += "|" + _RUNTIME_HASH
    return hashlib.sha256(f"{versions}\n{source}".encode()).hexdigest()[:32]


def _jit(py_func, secret, before_load=None, **options):
    """``py_func`` jitted with NumPy's error model (and ``options``) and, where
    ``codegen.numba_internals`` can give it one, the signed kernel disk cache
    (files signed with ``secret``; ``before_load`` runs before each look into
    it); else compiled in each process."""
    function = numba.njit(error_model="numpy", **options)(py_func)
    numba_internals.use_kernel_cache(function, secret, before_load)
    return function


def _registering(dtypes):
    """A ``before_load`` registering ``codegen.gemm``'s entry points (a cached
    kernel's code calls them by name) for ``dtypes`` and for the float dtypes
    of the arrays it is called with: a program's source does not depend on its
    inputs' dtypes, so one kernel module serves float32 and float64 calls.
    None when ``dtypes`` is empty (the kernel calls no entry point). Compiling
    a kernel registers them anyway (``gemm._call_gemm_c``)."""
    if not dtypes:
        return None

    def before_load(signature):
        for dtype in sorted({*dtypes, *gemm.float_dtypes(signature)}):
            gemm.register(dtype)
    return before_load


def _jit_loops(namespace, jit):
    """Jit the module's loop and block functions (which only its entry point
    calls: no wrappers for Python, where Numba can leave them out) in place."""
    options = numba_internals.callee_options()
    for name, value in list(namespace.items()):
        if name.startswith((LOOP_PREFIX, BLOCK_PREFIX)) and isinstance(value, types.FunctionType):
            # only a loop in chunks (codegen.source) pays for Numba's parallel compile
            namespace[name] = jit(value, parallel="prange" in value.__code__.co_names, **options)


def _code(path, source, secret):
    """The bytecode of the module ``source`` whose file is ``path``, and the bytes
    written for it: from ``__pycache__/kernel_<key>.code`` when that is signed
    with ``secret`` for exactly this source, path and Python; else compiled
    (about 0.2 ms per KB of source, which the file saves) and written."""
    folder, name = os.path.split(path)
    code_path = os.path.join(folder, cache_folder.PYCACHE, name[:-len(".py")] + ".code")
    label = b"code " + importlib.util.MAGIC_NUMBER + hashlib.sha256(source.encode()).digest()
    label += path.encode()
    payload = cache_folder.read_signed(code_path, secret, label)
    if payload is not None:
        code = marshal.loads(payload)
        if isinstance(code, types.CodeType):
            return code, 0
    code = compile(source, path, "exec", dont_inherit=True)
    return code, cache_folder.write_signed(code_path, secret, label, marshal.dumps(code))


def _module(name, path, code):
    """The kernel module run from ``code``, registered in ``sys.modules`` as
    ``name`` (Numba's cached code finds its globals by module name); the code
    names ``path`` as its file, which is how Numba finds its cache files."""
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(code, module.__dict__)
    return module


def _disk_cached(cache_dir, key, source, before_load):
    """The kernel jitted with its module file in ``cache_dir`` (written if new
    or changed; ``before_load``: see ``_jit``), and the file's path. Raises
    ``OSError`` or ``cache_folder.UnsafeFolder`` when the folder cannot be
    used."""
    folder = cache_folder.prepare(cache_dir)
    secret = cache_folder.secret(folder)
    numba_internals.cache_helpers(folder, secret)  # the helpers it calls cache here too
    path = os.path.join(folder, f"kernel_{key}.py")
    data = source.encode()
    code, new_bytes = _code(path, source, secret)
    module = _module(f"kernel_{key}", path, code)
    entry = getattr(module, ENTRY)
    for attempt in range(2):
        written = cache_folder.write_once(path, data)
        try:
            _jit_loops(module.__dict__,
                       lambda py_func, **options: _jit(py_func, secret, before_load, **options))
            function = _jit(entry, secret, before_load)
            break
        except FileNotFoundError:  # evicted by another process just now: write it again
            if attempt:
                raise
    # used now: evicted last
    cache_folder.touch(numba_internals.cache_index_path(function) or path)
    new_bytes += len(data) if written else 0
    if new_bytes:
        cache_folder.added(folder, new_bytes, keep=key)
    return function, path


def compile_program(program, cache_dir=None, salt="", roll=True):
    """The program compiled; cached on disk in ``cache_dir`` (None: in memory only;
    an unusable folder, or one others can write, warns and compiles in memory).
    The folder is kept under ``$SYMGRAD_CACHE_MAX_MB`` MiB (default 512) by
    deleting the least recently used entries. ``roll=False`` calls each repeat
    of a block function on a line of its own (``program_source``).

    >>> import sympy
    >>> from symgrad_codegen.program import Alloc, Compute, Index, Load, Loop, Program, Store
    >>> n, t = sympy.Symbol("n0", integer=True), sympy.Symbol("t0", real=True)
    >>> body = (Load("a", "x", (Index(0),)), Compute("b", sympy.Lambda((t,), t * t), ("a",),
    ...         "float64"), Store("y", (Index(0),), "b"))
    >>> prog = Program(("x", "n0"), (Alloc("y", "float64", (n,)), Loop((n,), body)), ("y",))
    >>> compile_program(prog).function(np.arange(3.0), 3)
    (array([0., 1., 4.]),)
    """
    source = program_source(program, roll)
    if _parallel(source):
        # Numba's threads, before any parallel code loads: a kernel loaded from
        # the disk cache runs Numba's start-up of the threading layer only if
        # its cache entry says so, which a kernel linking a helper loaded from
        # the cache (not compiled) may not
        numba.get_num_threads()
    key = cache_key(source, salt)
    memo_key = (key, cache_dir, numba_internals.public_api_forced())
    if memo_key in _loaded:
        return _loaded[memo_key]
    function = path = None
    before_load = _registering(gemm_dtypes(program))
    if cache_dir is not None:
        try:
            function, path = _disk_cached(cache_dir, key, source, before_load)
        except cache_folder.UnsafeFolder as e:
            warnings.warn(f"the kernel cache folder {cache_dir!r} is not private: {e}; "
                          "compiling without the disk cache", RuntimeWarning, stacklevel=3)
        except OSError as e:
            warnings.warn(f"the kernel cache folder {cache_dir!r} is unusable ({e}); "
                          "compiling without the disk cache", RuntimeWarning, stacklevel=3)
    if function is None:
        namespace = {}
        exec(compile(source, f"<symgrad kernel {key}>", "exec"), namespace)
        _jit_loops(namespace, lambda py_func, **options: numba.njit(error_model="numpy",
                                                                    **options)(py_func))
        function = numba.njit(error_model="numpy")(namespace[ENTRY])
    compiled = Compiled(function, source, key, path, before_load)
    _loaded[memo_key] = compiled
    return compiled


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
    function = _jit(compiled.function.py_func,
                    cache_folder.secret(os.path.dirname(compiled.path)), compiled.before_load)
    fresh = Compiled(function, compiled.source, compiled.key, compiled.path,
                     compiled.before_load)
    for memo_key, known in list(_loaded.items()):
        if known is compiled:
            _loaded[memo_key] = fresh
    return fresh
