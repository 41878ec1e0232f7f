"""Numba's private API, all of it: the one module of codegen (and of symgrad)
that touches what Numba does not document. Each use is a *feature*, detected
the first time it is needed, with a fallback to Numba's public API that
computes the same numbers, only slower to load, call or compile:

``kernel_cache``
    Kernels' machine code cached in the cache folder's private
    ``__pycache__``, in files signed with the folder's secret
    (``codegen.cache_folder``), kept there even when ``$NUMBA_CACHE_DIR`` is
    set, and counted towards the folder's size limit. Private pieces:
    ``numba.core.caching``'s ``FunctionCache``, ``CompileResultCacheImpl``,
    ``IndexDataCacheFile`` and ``InTreeCacheLocator`` subclassed (their
    ``_load_index`` / ``_load_data`` / ``_open_for_write`` replaced), and the
    dispatcher's ``_cache`` set. The helpers kernels call (``helper``:
    ``codegen.vmath``, ``codegen.runtime``, ``codegen.arrays``) cache the
    same way, in the same folder (``cache_helpers``), never beside their
    package. Detected when those exist and Numba's index
    and data files, written and read back in memory through the replaced
    methods, give back what was saved. Fallback: no Numba disk cache (a
    plain ``numba.njit``), so every process compiles the kernel again.
    Numba's public ``cache=True`` is not the fallback: it would unpickle
    unsigned files, write them under ``$NUMBA_CACHE_DIR`` and past the size
    limit, which SECURITY.md promises never happens.
``fast_cache_load``
    Loading a kernel through ``kernel_cache`` without
    ``target_context.refresh()`` (about 0.2 s, most of a warm first call in a
    new process; a loaded kernel needs only the runtime):
    ``rtsys.initialize``, ``Cache._load_overload`` and
    ``_guard_against_spurious_io_errors``. Fallback: Numba's
    ``load_overload``, which refreshes first.
``entry_point``
    Calling a compiled overload directly (``dispatcher.overloads[types]
    .entry_point``) instead of the dispatcher, which types every argument on
    each call (as long as a scalar kernel runs). Fallback: the dispatcher.
``array_intrinsics``
    ``empty``, ``full`` and ``reshape`` (``codegen.arrays``) written as LLVM IR:
    ``numba.np.arrayobj.make_array`` / ``populate_array``,
    ``context.nrt.meminfo_alloc_aligned`` / ``meminfo_data``,
    ``numba.core.cgutils`` and ``numba.core.imputils``. Fallback: jitted
    ``np.empty``, ``np.full`` and ``.reshape``, which compile helper
    functions per signature (0.05-0.4 s each in a cold compile).
``blas_gemm``
    ``matmul`` as an intrinsic calling Numba's BLAS gemm
    (``numba.np.linalg.call_xxgemm`` / ``ensure_blas``; needs
    ``array_intrinsics`` too). Fallback: jitted ``np.dot``, which calls the
    same gemm (the same rounding).
``streams_left_alone``
    Numba colours its messages through colorama, whose ``init`` / ``deinit``
    replace ``sys.stdout`` and ``sys.stderr`` for a moment, thousands of
    times per compile (typing formats a message for each overload it tries,
    also when none fails). On symgrad's background compile thread (tiered
    execution) that races with the caller's thread's own redirections (a
    doctest's, a notebook cell's, ``contextlib.redirect_stdout``), whose
    output then goes to the stream saved before them. Private piece:
    ``numba.core.errors.ColorShell``, the context manager doing it, replaced
    by one that leaves the streams alone (messages keep their colour codes).
    Fallback: the streams are swapped as Numba does. Without colorama (or
    with ``NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING``) Numba swaps nothing and
    defines ``NOPColorScheme`` instead: nothing to replace.
``c_entry_points``
    The address of a jitted helper's C entry point (the cfunc wrapper Numba
    compiles with every function: ``overloads[types].library
    .get_pointer_to_function(fndesc.llvm_cfunc_wrapper_name)``), given to
    LLVM as a symbol so that kernels call the helper without linking (and
    optimising again) its code: ``codegen.gemm``. Fallback: a ``numba.cfunc``
    compiled in each process, which kernels do not use (their products go to
    BLAS).
``bare_callees``
    The loop and block functions only a kernel's entry point calls, compiled
    without the wrappers that let Python (and C, as a callback) call them:
    the CPU target's ``no_cpython_wrapper`` and ``no_cfunc_wrapper`` options,
    which Numba sets for its own internal functions. Unboxing each array
    argument is most of a small function's code (a 10-step LSTM: 0.5 s of a
    3.5 s cold compile). Detected when ``numba.core.cpu.CPUTargetOptions``
    has both. Fallback: every function gets its wrappers.

Set the environment variable ``SYMGRAD_NUMBA_PUBLIC_API=1`` to use the public
fallback of every feature (``0`` or unset: use what is detected). It is read
on every use, so a change applies to kernels compiled from then on.
``features()`` says which features are in use.

>>> sorted(features())  # doctest: +NORMALIZE_WHITESPACE
['array_intrinsics', 'bare_callees', 'blas_gemm', 'c_entry_points', 'entry_point',
 'fast_cache_load', 'kernel_cache', 'streams_left_alone']
"""
import contextlib
import functools
import importlib
import inspect
import io
import os
import pickle
import threading
import warnings

import numba
from numba import types
from numba.extending import intrinsic

from . import cache_folder

ENVIRONMENT_VARIABLE = "SYMGRAD_NUMBA_PUBLIC_API"
FEATURES = ("kernel_cache", "fast_cache_load", "entry_point", "array_intrinsics", "blas_gemm",
            "bare_callees", "streams_left_alone", "c_entry_points")


def public_api_forced():
    """Whether ``$SYMGRAD_NUMBA_PUBLIC_API`` forces Numba's public API everywhere.

    >>> import os
    >>> public_api_forced() == (os.environ.get(ENVIRONMENT_VARIABLE, "") == "1")
    True
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"${ENVIRONMENT_VARIABLE} is {value!r}: set it to 1 to use only "
                         "Numba's public API, or to 0 (or leave it unset) to use the "
                         "private pieces that are detected")
    return value == "1"


def uses(feature):
    """Whether ``feature`` (one of ``FEATURES``) is in use: detected, not forced off."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; the features are {', '.join(FEATURES)}")
    return not public_api_forced() and detected(feature)


def features():
    """``{feature: in use}`` for every feature (detecting those not yet detected)."""
    return {feature: uses(feature) for feature in FEATURES}


@functools.cache
def detected(feature):
    """Whether Numba has the private pieces of ``feature``, working as expected
    (probed once per process, or again after ``redetect()``)."""
    return bool(_PROBES[feature]())


def redetect():
    """Forget what was detected: each feature is probed again when next used
    (the kernel cache made anew), as after a change to Numba's modules."""
    detected.cache_clear()
    _kernel_cache_class.cache_clear()
    _helpers_cache[0] = None


def _module(name):
    """The module ``name``, or None where this Numba has no such module."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _has(owner, *names):
    """Whether ``owner`` (a module or class, maybe None) has every attribute in ``names``."""
    return owner is not None and all(hasattr(owner, name) for name in names)


def _takes(function, *parameters):
    """Whether ``function`` takes exactly these parameters, in this order."""
    try:
        return tuple(inspect.signature(function).parameters) == parameters
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------
# kernel_cache and fast_cache_load


class CacheLoadError(Exception):
    """Numba could not load a kernel from its signed cache files (damaged
    content under a valid signature, or machine code this process cannot
    link); the way out is ``codegen.compiler.recompile``."""


def is_cache_load_failure(error):
    """Whether ``error``, or an error it was raised from or while handling,
    came out of loading a kernel's Numba cache files.

    >>> is_cache_load_failure(ValueError("no"))
    False
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, CacheLoadError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def use_kernel_cache(dispatcher, secret, before_load=None):
    """Give ``dispatcher`` (a fresh ``numba.njit`` of a kernel module's
    function) the signed disk cache whose files are signed with ``secret``,
    as ``cache=True`` would give it Numba's; True when it has it, False when
    ``kernel_cache`` is not in use (the dispatcher compiles in memory).
    ``before_load(signature)``, if given, runs before each look into the
    cache (so before any code is loaded or compiled). Raises
    ``cache_folder.UnsafeFolder`` when ``$NUMBA_CACHE_LOCATOR_CLASSES`` would
    move the files out of the cache folder."""
    if not uses("kernel_cache"):
        return False
    dispatcher._cache = _kernel_cache_class()(dispatcher.py_func, secret)
    dispatcher._cache.before_load = before_load
    return True


# every ``helper``: (dispatcher, the cache Numba made it with: its null cache)
_helpers = []
_helpers_cache = [None]  # (folder, secret) the helpers cache in, None: in memory
_helpers_lock = threading.Lock()


def helper(py_func=None, before_load=None, **options):
    """``py_func`` jitted with NumPy's error model (and ``options``, as
    ``helper(parallel=True)``), as a function kernels call (``codegen.vmath``,
    ...). Its machine code is cached on disk only where ``cache_helpers`` puts
    it, signed, in a kernel cache folder: Numba's ``cache=True`` would write
    unsigned pickles beside the package (in its ``__pycache__``, which
    deleting the cache folder misses, read-only in a system install) or under
    ``$NUMBA_CACHE_DIR``. ``before_load``: as for ``use_kernel_cache``.

    >>> from symgrad_codegen import vmath
    >>> vmath.vexp(0.0), any(dispatcher is vmath.vexp for dispatcher, _ in _helpers)
    (1.0, True)
    """
    if py_func is None:
        return functools.partial(helper, before_load=before_load, **options)
    dispatcher = numba.njit(error_model="numpy", **options)(py_func)
    _helpers.append((dispatcher, getattr(dispatcher, "_cache", None)))
    if before_load is not None:
        _before_load[dispatcher] = before_load
    return dispatcher


_before_load = {}  # helper -> its before_load


def cache_helpers(folder, secret):
    """From now on, cache every ``helper``'s machine code in the cache
    ``folder`` (a path from ``cache_folder.prepare``), in files signed with
    ``secret`` (its ``cache_folder.secret``), as kernels are; in memory only
    when ``kernel_cache`` is not in use. True when they cache on disk. A
    helper loaded or compiled before keeps that code."""
    target = (folder, secret) if uses("kernel_cache") else None
    with _helpers_lock:
        if _helpers_cache[0] == target:
            return target is not None
        for dispatcher, plain in _helpers:
            if target is None:
                if plain is not None:
                    dispatcher._cache = plain
            else:
                dispatcher._cache = _kernel_cache_class()(dispatcher.py_func, secret,
                                                          helper_folder=folder)
                dispatcher._cache.before_load = _before_load.get(dispatcher)
        _helpers_cache[0] = target
    return target is not None


def c_address(dispatcher, signature):
    """The address of a C entry point of ``dispatcher``'s function for the
    argument types ``signature``, which jitted code can call by a name given
    to LLVM (``llvmlite.binding.add_symbol``) without linking its code in:
    with ``c_entry_points``, Numba's cfunc wrapper of the overload compiled
    (or loaded from the cache); else a ``numba.cfunc`` compiled in this
    process (kept alive here).

    >>> from numba import types
    >>> import ctypes
    >>> add = numba.njit(lambda x, y: x + y)
    >>> address = c_address(add, (types.intp, types.intp))
    >>> ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_ssize_t)(address)(2, 3)
    5
    """
    signature = tuple(signature)
    dispatcher.compile(signature)
    if uses("c_entry_points"):
        result = dispatcher.overloads[signature]
        return result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)
    returns = next(s.return_type for s in dispatcher.nopython_signatures if s.args == signature)
    function = numba.cfunc(returns(*signature))(dispatcher.py_func)
    _c_functions.append(function)
    return function.address


_c_functions = []  # numba.cfunc objects whose addresses were given out


def _probe_c_entry_points():
    funcdesc = _module("numba.core.funcdesc")
    codegen = _module("numba.core.codegen")
    return (hasattr(_dispatcher(), "overloads")
            and _has(getattr(funcdesc, "FunctionDescriptor", None), "llvm_cfunc_wrapper_name")
            and _has(getattr(codegen, "JITCodeLibrary", None), "get_pointer_to_function"))


def cache_index_path(dispatcher):
    """The Numba index file of ``dispatcher``'s signed disk cache, or None
    when it has none (``use_kernel_cache`` gave it none)."""
    return getattr(getattr(dispatcher, "_cache", None), "index_path", None)


@functools.cache
def _kernel_cache_class():
    """The signed kernel cache (a ``numba.core.caching.FunctionCache``), or None
    when Numba's caching classes are missing or do not work as expected."""
    caching = _module("numba.core.caching")
    if not (_has(getattr(caching, "FunctionCache", None), "_impl_class", "load_overload",
                 "save_overload")
            and _has(getattr(caching, "CompileResultCacheImpl", None), "_locator_classes",
                     "locator", "filename_base")
            and _has(getattr(caching, "IndexDataCacheFile", None), "save", "load",
                     "_load_index", "_save_index", "_load_data", "_save_data",
                     "_open_for_write", "_data_path")
            and _has(getattr(caching, "InTreeCacheLocator", None), "get_cache_path",
                     "ensure_cache_path", "from_function")
            and _takes(caching.IndexDataCacheFile.__init__, "self", "cache_path",
                       "filename_base", "source_stamp")
            and _has(_dispatcher(), "_cache")):
        return None

    class KernelLocator(caching.InTreeCacheLocator):
        """Numba's cache files in a cache folder's private ``__pycache__``: a
        kernel's beside its module (in the cache folder), a helper's in the
        ``helper_folder`` set; never in ``$NUMBA_CACHE_DIR``, a per-user
        fallback folder or the helper's package, and no probe file written to
        check that the folder is writable."""
        helper_folder = None

        def get_cache_path(self):
            if self.helper_folder is None:
                return super().get_cache_path()
            return os.path.join(self.helper_folder, cache_folder.PYCACHE)

        def ensure_cache_path(self):
            if self.helper_folder is None:  # the kernel's module was just written there
                cache_folder.private_folder(self.get_cache_path())
            else:  # checked and made again: it may have been deleted since
                cache_folder.prepare(self.helper_folder)

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)  # its folder is made by KernelCache, once known

    class KernelCacheImpl(caching.CompileResultCacheImpl):
        _locator_classes = [KernelLocator]

    class PrivateCacheFile(caching.IndexDataCacheFile):
        """Numba's index (``.nbi``) and machine code (``.nbc``) files, signed
        with the cache folder's ``secret`` (``cache_folder.write_signed``) and
        unpickled only when the signature and file name match: a planted,
        damaged or moved file, or a symbolic link, is a miss, and is replaced
        when Numba saves. ``on_write(nbytes)`` follows each write."""

        def __init__(self, cache_path, filename_base, source_stamp, secret, on_write):
            super().__init__(cache_path, filename_base, source_stamp)
            self._secret, self._on_write = secret, on_write

        def _read(self, path):
            """The file's payload if its signature is good, else None."""
            label = b"numba " + os.path.basename(path).encode()
            return cache_folder.read_signed(path, self._secret, label)

        def _write(self, path, data):
            label = b"numba " + os.path.basename(path).encode()
            self._on_write(cache_folder.write_signed(path, self._secret, label, data))

        def _load_index(self):
            data = self._read(self._index_path)
            if data is None:
                return {}
            stream = io.BytesIO(data)
            if pickle.load(stream) != self._version:
                return {}
            stamp, overloads = pickle.loads(stream.read())
            return overloads if stamp == self._source_stamp else {}

        def _load_data(self, name):
            data = self._read(self._data_path(name))
            if data is None:
                raise FileNotFoundError(self._data_path(name))
            return pickle.loads(data)

        @contextlib.contextmanager
        def _open_for_write(self, filepath):
            buffer = io.BytesIO()
            yield buffer
            self._write(filepath, buffer.getbuffer())

    class KernelCache(caching.FunctionCache):
        """Numba's disk cache of a kernel, in ``PrivateCacheFile``s in the
        module's ``__pycache__``, each write counted towards the cache
        folder's size limit; with ``fast_cache_load``, loading without
        ``target_context.refresh()``.

        Numba refreshes the target before every load so that extensions'
        implementations are registered; a cached kernel needs none of them
        (its machine code is complete: the NumPy, math and BLAS code it calls
        was compiled into it, and Numba's C helpers and libm are registered
        when the target is created), only the runtime (NRT), which its
        allocations call. A miss compiles as usual, and compiling refreshes
        the target first. A failed load raises ``CacheLoadError``."""
        _impl_class = KernelCacheImpl

        def __init__(self, py_func, secret, helper_folder=None):
            super().__init__(py_func)
            locator = self._impl.locator
            if not isinstance(locator, KernelLocator):  # $NUMBA_CACHE_LOCATOR_CLASSES
                raise cache_folder.UnsafeFolder("$NUMBA_CACHE_LOCATOR_CLASSES moves Numba's "
                                                "cache files elsewhere")
            locator.helper_folder = helper_folder
            self._cache_path = locator.get_cache_path()
            locator.ensure_cache_path()
            folder = os.path.dirname(self._cache_path)
            key = cache_folder.entry_key(self._impl.filename_base)
            self._cache_file = PrivateCacheFile(
                self._cache_path, self._impl.filename_base, self._cache_file._source_stamp,
                secret, lambda nbytes: cache_folder.added(folder, nbytes, keep=key))

        @property
        def index_path(self):
            return self._cache_file._index_path

        before_load = None  # see use_kernel_cache

        def load_overload(self, sig, target_context):
            if self.before_load is not None:
                self.before_load(sig)
            try:
                if uses("fast_cache_load"):
                    _rtsys().initialize(target_context)
                    with self._guard_against_spurious_io_errors():
                        return self._load_overload(sig, target_context)
                return super().load_overload(sig, target_context)
            except Exception as error:
                if self._impl.locator.helper_folder is not None:
                    # a helper's entry from another install (Numba's index does not
                    # name the module): a miss, compiled and saved over it
                    return None
                raise CacheLoadError(f"Numba's cached code in {self.cache_path} could not be "
                                     f"loaded: {error}") from error

        def save_overload(self, sig, data):
            """Save as Numba does; a failure to save warns (the kernel still runs)."""
            try:
                super().save_overload(sig, data)
            except (OSError, cache_folder.UnsafeFolder) as e:
                warnings.warn(f"the compiled kernel could not be saved to the disk cache ({e})",
                              RuntimeWarning, stacklevel=2)

    return KernelCache if _round_trips(PrivateCacheFile) else None


@functools.cache
def _dispatcher():
    """A dispatcher (never compiled), to see what dispatchers hold."""
    return numba.njit(lambda: None)


def _round_trips(file_class):
    """Whether an entry saved by Numba's ``IndexDataCacheFile.save`` through
    ``file_class``'s writes is what ``file_class.load`` reads back: the index
    and data formats are the ones ``_load_index`` and ``_load_data`` parse.
    In memory: no file is touched."""

    files = {}

    class InMemory(file_class):
        def _read(self, path):
            return files.get(path)

        def _write(self, path, data):
            files[path] = bytes(data)

    key, data = (("float64",), ("magic",), ("hash",)), ("entry", [1.5, 2])
    try:
        cache_file = InMemory("probe", "probe", ("stamp", 1), b"secret", None)
        cache_file.save(key, data)
        return len(files) == 2 and cache_file.load(key) == data
    except Exception:
        return False


def _rtsys():
    """Numba's runtime system (NRT), or None."""
    return getattr(_module("numba.core.runtime"), "rtsys", None)


def _probe_fast_cache_load():
    caching = _module("numba.core.caching")
    return (callable(getattr(_rtsys(), "initialize", None))
            and _has(getattr(caching, "Cache", None), "_load_overload",
                     "_guard_against_spurious_io_errors"))


# ---------------------------------------------------------------------------
# entry_point


def entry_for(dispatcher, args):
    """What to call, from now on, with arguments of exactly the types of
    ``args`` (which ``dispatcher`` has compiled or loaded an overload for):
    the overload's entry point, which skips the dispatcher's typing of every
    argument but coerces instead of refusing other types; else the dispatcher.
    """
    if uses("entry_point"):
        overload = dispatcher.overloads.get(tuple(map(numba.typeof, args)))
        if overload is not None:
            return overload.entry_point
    return dispatcher


def _probe_entry_point():
    compiler = _module("numba.core.compiler")
    return ("entry_point" in getattr(getattr(compiler, "CompileResult", None), "_fields", ())
            and isinstance(getattr(_dispatcher(), "overloads", None), dict))


# ---------------------------------------------------------------------------
# streams_left_alone


class _StreamsLeftAlone:
    """What Numba's ``ColorShell`` is, without touching ``sys.stdout`` or ``sys.stderr``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def leave_streams_alone():
    """From now on, Numba's message colouring no longer swaps ``sys.stdout`` and
    ``sys.stderr`` (a compile on another thread must not); whether it could.

    >>> leave_streams_alone() == uses("streams_left_alone")
    True
    """
    if not uses("streams_left_alone"):
        return False
    errors = _module("numba.core.errors")
    if hasattr(errors, "ColorShell"):  # absent without colorama: nothing swaps them
        errors.ColorShell = _StreamsLeftAlone
    return True


def _probe_streams_left_alone():
    errors = _module("numba.core.errors")
    if hasattr(errors, "NOPColorScheme"):  # no colorama (or highlighting off): no swapping
        return True
    return isinstance(getattr(errors, "ColorShell", None), type)


# ---------------------------------------------------------------------------
# bare_callees


def callee_options():
    """``numba.njit`` options for a function only other jitted code calls.

    >>> callee_options() in ({}, {"no_cpython_wrapper": True, "no_cfunc_wrapper": True})
    True
    """
    return {"no_cpython_wrapper": True, "no_cfunc_wrapper": True} if uses("bare_callees") else {}


def _probe_bare_callees():
    return _has(getattr(_module("numba.core.cpu"), "CPUTargetOptions", None),
                "no_cpython_wrapper", "no_cfunc_wrapper")


# ---------------------------------------------------------------------------
# array_intrinsics and blas_gemm: see codegen.arrays, which chooses between
# these intrinsics and its public versions

_INT_MAX = 2 ** 31 - 1  # BLAS takes C int sizes
# already imported with Numba; numba.np.arrayobj and numba.np.linalg are imported
# when a kernel is compiled, not here: 45 ms that a process only loading kernels saves
_cgutils = _module("numba.core.cgutils")
_imputils = _module("numba.core.imputils")


def array_intrinsic(name):
    """The intrinsic ``codegen.arrays`` uses as ``name`` (empty, full, reshape,
    matmul, writable), or None when the features it needs are not in use."""
    needs = ("array_intrinsics", "blas_gemm") if name.startswith("matmul") else \
        ("array_intrinsics",)
    return _INTRINSICS[name] if all(map(uses, needs)) else None


def _probe_array_intrinsics():
    arrayobj = _module("numba.np.arrayobj")
    nrt = _module("numba.core.runtime.context")
    base = _module("numba.core.base")
    callconv = _module("numba.core.callconv")
    return (_has(arrayobj, "make_array", "populate_array")
            and _takes(arrayobj.populate_array, "array", "data", "shape", "strides", "itemsize",
                       "meminfo", "parent")
            and _has(_cgutils, "unpack_tuple", "false_bit", "for_range", "memset")
            and _has(_imputils, "impl_ret_new_ref", "impl_ret_borrowed")
            and _has(getattr(nrt, "NRTContext", None), "meminfo_alloc_aligned", "meminfo_data")
            and _takes(nrt.NRTContext.meminfo_alloc_aligned, "self", "builder", "size", "align")
            and _has(getattr(base, "BaseContext", None), "get_preferred_array_alignment",
                     "get_abi_sizeof", "get_data_type", "get_constant", "cast", "pack_value")
            and _has(getattr(callconv, "CPUCallConv", None), "return_user_exc"))


def _probe_blas_gemm():
    linalg = _module("numba.np.linalg")
    return (_has(linalg, "call_xxgemm", "ensure_blas")
            and _takes(linalg.call_xxgemm, "context", "builder", "x_type", "x_shapes", "x_data",
                       "y_type", "y_shapes", "y_data", "out_type", "out_shapes", "out_data"))


def _sizes(context, builder, shape_type, shape):
    """The entries of a tuple of integers as intp values."""
    return [context.cast(builder, v, t, types.intp)
            for v, t in zip(_cgutils.unpack_tuple(builder, shape), shape_type)]


def _c_strides(builder, itemsize, sizes):
    strides = [itemsize]
    for size in reversed(sizes[1:]):
        strides.append(builder.mul(strides[-1], size))
    return strides[::-1]


def _allocate(context, builder, array_type, sizes):
    """A new C-contiguous array of ``array_type`` with ``sizes`` (uninitialised)."""
    from numba.np.arrayobj import make_array, populate_array
    array = make_array(array_type)(context, builder)
    itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
        context.get_data_type(array_type.dtype)))
    nbytes, overflow = itemsize, _cgutils.false_bit
    for size in sizes:
        product = builder.smul_with_overflow(nbytes, size)
        nbytes = builder.extract_value(product, 0)
        overflow = builder.or_(overflow, builder.extract_value(product, 1))
    with builder.if_then(overflow, likely=False):
        context.call_conv.return_user_exc(builder, ValueError, ("array is too big",))
    meminfo = context.nrt.meminfo_alloc_aligned(
        builder, size=nbytes, align=context.get_preferred_array_alignment(array_type.dtype))
    data = context.nrt.meminfo_data(builder, meminfo)
    populate_array(array, data=builder.bitcast(data, array.data.type), shape=sizes,
                   strides=_c_strides(builder, itemsize, sizes), itemsize=itemsize,
                   meminfo=meminfo)
    return array


def _shape_and_dtype(shape, dtype):
    if not (isinstance(shape, types.BaseTuple) and len(shape) > 0
            and all(isinstance(t, types.Integer) for t in shape)):
        return None
    if isinstance(dtype, types.NumberClass):
        return types.Array(dtype.instance_type, len(shape), "C")
    if isinstance(dtype, types.DType):
        return types.Array(dtype.dtype, len(shape), "C")
    return None


@intrinsic
def _empty(typingctx, shape, dtype):
    """``np.empty(shape, dtype)`` for a non-empty tuple ``shape``.

    >>> import numpy as np
    >>> numba.njit(lambda n: _empty((n, 2), np.float32))(3).shape
    (3, 2)
    """
    result = _shape_and_dtype(shape, dtype)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, result, _sizes(context, builder, shape, args[0]))
        return _imputils.impl_ret_new_ref(context, builder, result, array._getvalue())

    return result(shape, dtype), codegen


@intrinsic
def _full(typingctx, shape, value, dtype):
    """``np.full(shape, value, dtype)`` for a non-empty tuple ``shape``.

    >>> import numpy as np
    >>> numba.njit(lambda n: _full((n,), 0, np.float64))(3)
    array([0., 0., 0.])
    """
    result = _shape_and_dtype(shape, dtype)
    if result is None or not isinstance(value, (types.Number, types.Boolean)):
        return None

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, result, _sizes(context, builder, shape, args[0]))
        item = context.cast(builder, args[1], value, result.dtype)
        with _cgutils.for_range(builder, array.nitems) as loop:
            context.pack_value(builder, result.dtype, item, builder.gep(array.data, [loop.index]))
        return _imputils.impl_ret_new_ref(context, builder, result, array._getvalue())

    return result(shape, value, dtype), codegen


@intrinsic
def _reshape(typingctx, array, shape):
    """``array.reshape(shape)`` for a C-contiguous ``array`` whose size is the
    product of ``shape`` (the caller's responsibility): shares its data.

    >>> import numpy as np
    >>> numba.njit(lambda a: _reshape(a, (2, 3)))(np.arange(6.0))
    array([[0., 1., 2.],
           [3., 4., 5.]])
    """
    if not (isinstance(array, types.Array) and array.layout == "C"
            and _shape_and_dtype(shape, types.DType(array.dtype)) is not None):
        return None
    result = array.copy(ndim=len(shape), layout="C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array, populate_array
        source = make_array(array)(context, builder, args[0])
        sizes = _sizes(context, builder, shape, args[1])
        out = make_array(result)(context, builder)
        populate_array(out, data=source.data, shape=sizes,
                       strides=_c_strides(builder, source.itemsize, sizes),
                       itemsize=source.itemsize, meminfo=source.meminfo, parent=source.parent)
        return _imputils.impl_ret_borrowed(context, builder, result, out._getvalue())

    return result(array, shape), codegen


@intrinsic
def _writable(typingctx, value):
    """``value``, an array typed as writable (other values as they are): the
    same array, relabelled. For a kernel's read-only inputs, which it never
    writes: loop functions then see one array type, writable, whether an
    argument comes from the caller or from the kernel's own buffers, and
    compile once (not once per mix of read-only flags).

    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> a.flags.writeable = False
    >>> numba.njit(lambda a: _writable(a))(a)
    array([0., 1., 2.])
    """
    result = value.copy(readonly=False) if isinstance(value, types.Array) else value

    def codegen(context, builder, signature, args):
        return _imputils.impl_ret_borrowed(context, builder, result, args[0])

    return result(value), codegen


def _matrix(t, dtype):
    return isinstance(t, types.Array) and t.ndim == 2 and t.layout in "CF" and t.dtype == dtype


@intrinsic
def _matmul(typingctx, a, b):
    """``np.dot(a, b)`` for C- or F-contiguous matrices of one float dtype whose
    inner sizes agree (the caller's responsibility); a new C-contiguous array.

    >>> import numpy as np
    >>> product = numba.njit(lambda a, b: _matmul(a, b.T))
    >>> product(np.arange(6.0).reshape(2, 3), np.ones((2, 3)))
    array([[ 3.,  3.],
           [12., 12.]])
    """
    dtype = getattr(a, "dtype", None)
    if dtype not in (types.float32, types.float64) or not (_matrix(a, dtype) and _matrix(b, dtype)):
        return None
    result = types.Array(dtype, 2, "C")

    def codegen(context, builder, signature, args):
        return _gemm(context, builder, signature.args, args, None)

    return result(a, b), codegen


@intrinsic
def _matmul_into(typingctx, a, b, out):
    """``np.dot(a, b, out)``: ``_matmul`` written into the C-contiguous ``out``
    (sizes the caller's responsibility).

    >>> import numpy as np
    >>> into = numba.njit(lambda a, b, out: _matmul_into(a, b.T, out[1:]))
    >>> out = np.zeros((3, 2))
    >>> into(np.arange(6.0).reshape(2, 3), np.ones((2, 3)), out)
    >>> out
    array([[ 0.,  0.],
           [ 3.,  3.],
           [12., 12.]])
    """
    dtype = getattr(a, "dtype", None)
    if dtype not in (types.float32, types.float64) or not (
            _matrix(a, dtype) and _matrix(b, dtype) and _matrix(out, dtype)) or out.layout != "C":
        return None

    def codegen(context, builder, signature, args):
        _gemm(context, builder, signature.args, args, signature.args[2])
        return context.get_dummy_value()

    return types.none(a, b, out), codegen


def _gemm(context, builder, arg_types, args, out_type):
    """The product of the first two ``args`` by Numba's BLAS gemm, into the
    third (of ``out_type``) or a new C-contiguous array (returned)."""
    from numba.np.arrayobj import make_array
    from numba.np.linalg import call_xxgemm, ensure_blas
    ensure_blas()
    x, y = (make_array(t)(context, builder, v) for t, v in zip(arg_types[:2], args[:2]))
    (m, k), (_, n) = (_cgutils.unpack_tuple(builder, v.shape) for v in (x, y))
    too_big = _cgutils.false_bit
    for size in (m, k, n):
        too_big = builder.or_(too_big, builder.icmp_signed(">", size, size.type(_INT_MAX)))
    with builder.if_then(too_big, likely=False):
        context.call_conv.return_user_exc(
            builder, OverflowError, ("array size too large to fit in C int",))
    result = out_type or types.Array(arg_types[0].dtype, 2, "C")
    out = make_array(out_type)(context, builder, args[2]) if out_type else \
        _allocate(context, builder, result, (m, n))
    zero = m.type(0)
    empty = builder.or_(builder.icmp_signed("==", k, zero), builder.or_(
        builder.icmp_signed("==", m, zero), builder.icmp_signed("==", n, zero)))
    with builder.if_else(empty, likely=False) as (no_terms, terms):
        with no_terms:  # gemm rejects zero leading dimensions; the product is zeros
            _cgutils.memset(builder, out.data, builder.mul(out.itemsize, out.nitems), 0)
        with terms:
            call_xxgemm(context, builder, arg_types[0], (m, k), x.data,
                        arg_types[1], (k, n), y.data, result, (m, n), out.data)
    if out_type is None:
        return _imputils.impl_ret_new_ref(context, builder, result, out._getvalue())


_INTRINSICS = {"empty": _empty, "full": _full, "reshape": _reshape, "matmul": _matmul,
               "matmul_into": _matmul_into, "writable": _writable}
_PROBES = {"kernel_cache": _kernel_cache_class, "fast_cache_load": _probe_fast_cache_load,
           "entry_point": _probe_entry_point, "array_intrinsics": _probe_array_intrinsics,
           "blas_gemm": _probe_blas_gemm, "bare_callees": _probe_bare_callees,
           "streams_left_alone": _probe_streams_left_alone,
           "c_entry_points": _probe_c_entry_points}
