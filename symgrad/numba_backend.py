"""The Numba backend: lower the graph, compile it with codegen, call it.

One compiled entry point per graph; the generated module lives in the cache
folder (``cache_dir()``) so that a new
process loads the machine code instead of compiling it again.

Numba compiles the kernel lazily, at the first call, in the caller's thread;
``NumbaProgram.compile_later`` queues that compile on the process's one
background compile thread instead (for tiered execution, ``symgrad.function``):
one thread, so kernels compile one after another, as Numba's global compiler
lock would make them anyway.
"""
import functools
import os
import queue
import threading

import numpy as np
from numba.core.errors import TypingError

from symgrad_codegen import compile_program
from symgrad_codegen.cache_folder import user_cache_folder
from symgrad_codegen.compiler import recompile
from symgrad_codegen.numba_internals import entry_for, is_cache_load_failure, leave_streams_alone

from . import threads
from .errors import ShapeError
from .lowering import lower
from .numpy_backend import NumpyProgram
from .shared import is_shared
from .types import resolve_dim
from .version import __version__


def cache_dir():
    """The folder of everything compiled: ``$SYMGRAD_CACHE_DIR`` when set, else the
    platform's per-user cache folder (``$XDG_CACHE_HOME/symgrad`` or
    ``~/.cache/symgrad`` on Linux, ``~/Library/Caches/symgrad`` on macOS,
    ``%LOCALAPPDATA%\\symgrad\\Cache`` on Windows).

    >>> import os
    >>> os.environ.get("SYMGRAD_CACHE_DIR", cache_dir()) == cache_dir()
    True
    """
    return os.environ.get("SYMGRAD_CACHE_DIR") or user_cache_folder("symgrad")


class CompileJob:
    """The kernel of ``program`` compiled for ``signature`` on the compile thread;
    ``done`` is set when it finished, ``error`` is what it raised (or None)."""

    def __init__(self, program, signature):
        self.program, self.signature = program, signature
        self.done, self.error, self._traceback = threading.Event(), None, None

    def run(self):
        try:
            self.program.compile_for(self.signature)
        except Exception as e:  # kept for the caller's thread: see failure()
            if hasattr(e, "add_note"):  # Python 3.11+
                e.add_note("(raised while compiling the kernel on symgrad's background "
                           "compile thread)")
            self.error, self._traceback = e, e.__traceback__
        finally:
            self.done.set()

    def failure(self):
        """The compile's error with its traceback from the compile thread, to raise
        (again) in a caller's thread; None when it has not failed."""
        return None if self.error is None else self.error.with_traceback(self._traceback)


_jobs = queue.SimpleQueue()
_worker = None
_worker_lock = threading.Lock()


def _compile_jobs():
    while True:
        _jobs.get().run()


def _submit(job):
    """Queue ``job`` on the compile thread, started on first use (and again in a
    forked child, where the parent's thread does not exist)."""
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            leave_streams_alone()  # Numba's compile must not swap sys.stdout under the caller
            _worker = threading.Thread(target=_compile_jobs, name="symgrad-compile", daemon=True)
            _worker.start()
    _jobs.put(job)


class NumbaProgram:
    """A graph compiled to one Numba function; ``.source`` is the generated code."""

    def __init__(self, inputs, outputs, cache=True, updates=()):
        lowered = lower(inputs, outputs, updates)
        self.inputs = inputs
        self.job, self._job_lock = None, threading.Lock()  # see compile_later
        folder = cache_dir() if cache else None
        compiled = compile_program(lowered.program, folder, salt=f"symgrad {__version__}")
        # where a loop over repeated steps does not type (a step's arguments of
        # different types), the kernel with every step written out
        self._unrolled = lambda: compile_program(lowered.program, folder,
                                                 salt=f"symgrad {__version__}", roll=False)
        self.compiled = compiled
        self.function, self.source = compiled.function, compiled.source
        self.constants, self.dims = lowered.constants, lowered.dims
        self.scalar_outputs, self.index_errors = lowered.scalar_outputs, lowered.index_errors
        self.empty_reductions = lowered.empty_reductions
        # the 0-d shared variables whose new values the kernel returns after the outputs
        self.returned_updates = lowered.returned_updates

    _entry = None  # for call_floats: what to call once the dispatcher has compiled the kernel

    def __call__(self, arrays, bindings):
        """Run with checked ``arrays`` (in inputs order, native byte order, read-only);
        returns fresh output arrays (NumPy scalars for 0-d outputs)."""
        self.check_empty_reductions(bindings)
        args, flag = self.kernel_arguments(arrays, bindings)
        outs = self._run(args)
        if flag is not None and flag[0] >= 0:
            raise self.index_error(int(flag[0]), arrays, bindings)
        return self._boxed(outs)

    def check_empty_reductions(self, bindings):
        """ShapeError when a max or min would reduce an axis that has size 0 in this call."""
        for node, axis, dim in self.empty_reductions:
            if (bindings[dim] if dim in bindings else resolve_dim(dim, bindings)) == 0:
                raise ShapeError(f"{node.op.kind} over the empty axis {axis} of "
                                 f"{node.inputs[0].describe()}: the axis has size 0 in this "
                                 f"call, and {node.op.kind} has no value over nothing; pass a "
                                 "non-empty array")

    def kernel_arguments(self, arrays, bindings):
        """The kernel's arguments for checked ``arrays`` and ``bindings``, and the
        index-error flag among them (None when the kernel checks no index)."""
        args = [a[()] if a.ndim == 0 else _c_order(a) for a in arrays]
        args += self.constants
        flag = None
        if self.index_errors:
            flag = np.full(1, -1, np.int64)
            args.append(flag)
        args += [bindings[d] for d in self.dims]
        return args, flag

    def signature(self, args):
        """The Numba types of the kernel arguments ``args``: what the dispatcher
        compiles an overload for."""
        return tuple(self.function.typeof_pyval(a) for a in args)

    def declared_signature(self):
        """The signature of every call, from the inputs' dtypes and ranks alone:
        the checked arguments always reach the kernel as read-only C-order arrays
        (a shared variable's own array, writable), NumPy scalars when 0-d, and
        the sizes as ints."""
        arrays = []
        for x in self.inputs:
            a = np.zeros((1,) * x.ndim, x.dtype)
            a.flags.writeable = is_shared(x)  # a shared variable's own array is written
            arrays.append(a)
        return self.signature(self.kernel_arguments(arrays, {d: 1 for d in self.dims})[0])

    @property
    def has_kernel(self):
        """Whether the kernel is compiled (or loaded from the cache), so that a call
        runs it without compiling."""
        return bool(self.function.overloads)

    def compile_for(self, signature):
        """Compile the kernel for ``signature``, or load it from the disk cache,
        without running it; a damaged cache entry is deleted and compiled again once."""
        try:
            self.function.compile(signature)
            return
        except Exception as e:
            self._recover(e)
        self.function.compile(signature)

    def compile_later(self, signature):
        """The ``CompileJob`` compiling the kernel for ``signature`` on the compile
        thread: the one queued or done before, else a new one (after ``forget``)."""
        with self._job_lock:
            if self.job is None:
                self.job = CompileJob(self, signature)
                _submit(self.job)
            return self.job

    def forget(self, job):
        """Drop the failed ``job``, so that the next ``compile_later`` tries again."""
        with self._job_lock:
            if self.job is job:
                self.job = None

    def wait_compiled(self, timeout=None):
        """Block until the kernel is compiled: True, or False after ``timeout``
        seconds. Compiles it on the compile thread for the inputs' declared types
        if no call has yet; raises the compile's error (and forgets it, so a later
        wait or call compiles again).

        >>> import symgrad as sg
        >>> x = sg.scalar("x")
        >>> p = NumbaProgram([x], [x + 1.0], cache=False)
        >>> p.has_kernel, p.wait_compiled(), p.has_kernel, p.call_floats((1.0,))
        (False, True, True, [np.float64(2.0)])
        """
        if self.has_kernel:
            return True
        job = self.compile_later(self.declared_signature())
        if not job.done.wait(timeout):
            return False
        if job.error is not None:
            self.forget(job)
            raise job.failure()
        return True

    def call_floats(self, values):
        """Run with one float (``float`` or ``np.float64``) per input, when every
        input is a float64 scalar: nothing to convert and no dimension to bind.

        Numba's dispatcher types every argument on each call, which costs as much
        as a small kernel; so after the first call (through the dispatcher, which
        compiles or loads the kernel) this calls the overload compiled for exactly
        these argument types directly, where ``codegen.numba_internals`` can
        (``entry_for``). The caller must pass exactly these types: the overload's
        wrapper would coerce anything else instead of refusing it.

        >>> import symgrad as sg
        >>> x, y = sg.scalar("x"), sg.scalar("y")
        >>> NumbaProgram([x, y], [x * y, x + y], cache=False).call_floats((1.5, 2.0))
        [np.float64(3.0), np.float64(3.5)]
        """
        if self.index_errors or self.compiled.parallel or self.compiled.products:
            # constant index arrays, threads, BLAS: the checked path
            return self([np.asarray(v) for v in values], {})
        args = (*values, *self.constants)
        if self._entry is None:
            outs = self._run(args)
            self._entry = entry_for(self.function, args)
            return self._boxed(outs)
        return self._boxed(self._entry(*args))

    def _run(self, args, retry=True):
        """The kernel's outputs for ``args`` through the dispatcher; a damaged cache
        entry is deleted and compiled again once."""
        try:
            if self.compiled.parallel or self.compiled.products:
                with threads.running(self.compiled):
                    return self.function(*args)
            return self.function(*args)
        except Exception as e:
            if not retry:
                raise
            self._recover(e)
        return self._run(args, retry=False)

    def _recover(self, error):
        """After ``error`` compiling or loading the kernel: the kernel again, with
        its steps written out where a loop over them did not type, or compiled
        afresh where its cache entry was damaged; else raise ``error``."""
        if isinstance(error, TypingError) and self._unrolled is not None:
            self.compiled, self._unrolled = self._unrolled(), None
        elif self.compiled.path is not None and is_cache_load_failure(error):
            self.compiled = recompile(self.compiled)
        else:
            raise error
        self.function, self.source = self.compiled.function, self.compiled.source

    @functools.cached_property
    def _boxed(self):
        """A function: the kernel's outputs, with the 0-d ones (which Numba returns as
        Python numbers) as NumPy scalars."""
        types = set(self.scalar_outputs)
        if len(types) == 1 and None not in types:  # all 0-d of one dtype: one map in C
            (scalar,) = types
            return lambda outs: list(map(scalar, outs))
        return lambda outs: [o if scalar is None else scalar(o)
                             for o, scalar in zip(outs, self.scalar_outputs)]

    def index_error(self, code, arrays, bindings):
        """The IndexError for the index check ``code`` that the kernel flagged, for
        the checked ``arrays`` and ``bindings`` of the call.

        The kernel only records which check failed (raising inside it would
        leak the arrays allocated before the raise); the offending index and
        the limit are found here, from the arguments, on the error path only.
        """
        node, limit = self.index_errors[code]
        limit = resolve_dim(limit, bindings)
        indices = np.asarray(NumpyProgram(self.inputs, [node.inputs[1]])(arrays, bindings)[0])
        bad = indices[(indices < 0) | (indices >= limit)]
        shown = f"index {bad.flat[0]}" if bad.size else "an index"
        return IndexError(f"{shown} is out of range [0, {limit}) in {node.describe()}; "
                          f"indices come from {node.inputs[1].name!r}")

    @functools.cached_property
    def _indices(self):
        """A NumPy program computing the indices of each check in ``index_errors``."""
        return NumpyProgram(self.inputs, [node.inputs[1] for node, _ in self.index_errors])

    def check_indices(self, arrays, bindings):
        """Raise the IndexError the kernel would, without running it: for code that
        runs the graph another way (the NumPy tier of ``symgrad.function``)."""
        if not self.index_errors:
            return
        for code, ((node, limit), values) in enumerate(
                zip(self.index_errors, self._indices(arrays, bindings))):
            values, limit = np.asarray(values), resolve_dim(limit, bindings)
            if ((values < 0) | (values >= limit)).any():
                raise self.index_error(code, arrays, bindings)


def _c_order(a):
    """The read-only ``a`` as a C-contiguous read-only array: Numba compiles one
    overload per array type, and a writable copy of a strided or Fortran-order
    argument would be a second type, compiled again on its first call.

    >>> b = np.arange(6.0).reshape(2, 3).T
    >>> b.flags.writeable = False
    >>> c = _c_order(b)
    >>> c.flags.c_contiguous, c.flags.writeable, _c_order(c) is c
    (True, False, True)
    """
    c = np.ascontiguousarray(a)
    if c is not a:
        c.flags.writeable = False
    return c
