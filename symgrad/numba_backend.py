"""The Numba backend: lower the graph, compile it with codegen, call it.

One compiled entry point per graph; the generated module lives in the cache
folder (``$SYMGRAD_CACHE_DIR``, else ``~/.cache/symgrad``) so that a new
process loads the machine code instead of compiling it again.
"""
import functools
import os

import numpy as np

from codegen import compile_program
from codegen.compiler import recompile
from codegen.numba_internals import entry_for, is_cache_load_failure

from .errors import ShapeError
from .lowering import lower
from .numpy_backend import NumpyProgram
from .types import resolve_dim
from .version import __version__


def cache_dir():
    """The folder for generated modules: ``$SYMGRAD_CACHE_DIR`` or ``~/.cache/symgrad``.

    >>> import os
    >>> os.path.basename(cache_dir()) != ""
    True
    """
    return os.environ.get("SYMGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "symgrad")


class NumbaProgram:
    """A graph compiled to one Numba function; ``.source`` is the generated code."""

    def __init__(self, inputs, outputs, cache=True):
        lowered = lower(inputs, outputs)
        self.inputs = inputs
        compiled = compile_program(lowered.program, cache_dir() if cache else None,
                                   salt=f"symgrad {__version__}")
        self.compiled = compiled
        self.function, self.source = compiled.function, compiled.source
        self.constants, self.dims = lowered.constants, lowered.dims
        self.scalar_outputs, self.index_errors = lowered.scalar_outputs, lowered.index_errors
        self.empty_reductions = lowered.empty_reductions

    _entry = None  # for call_floats: what to call once the dispatcher has compiled the kernel

    def __call__(self, arrays, bindings):
        """Run with checked ``arrays`` (in inputs order, native byte order, read-only);
        returns fresh output arrays (NumPy scalars for 0-d outputs)."""
        for node, axis, dim in self.empty_reductions:
            if (bindings[dim] if dim in bindings else resolve_dim(dim, bindings)) == 0:
                raise ShapeError(f"{node.op.kind} over the empty axis {axis} of "
                                 f"{node.inputs[0].describe()}: the axis has size 0 in this "
                                 f"call, and {node.op.kind} has no value over nothing; pass a "
                                 "non-empty array")
        args = [a[()] if a.ndim == 0 else _c_order(a) for a in arrays]
        args += self.constants
        if self.index_errors:
            flag = np.full(1, -1, np.int64)
            args.append(flag)
        args += [bindings[d] for d in self.dims]
        outs = self._run(args)
        if self.index_errors and flag[0] >= 0:
            raise self._index_error(int(flag[0]), args)
        return self._boxed(outs)

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
        if self.index_errors:  # constant index arrays: the checked path
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
            return self.function(*args)
        except Exception as e:
            if not retry or self.compiled.path is None or not is_cache_load_failure(e):
                raise
        self.compiled = recompile(self.compiled)
        self.function = self.compiled.function
        return self._run(args, retry=False)

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

    def _index_error(self, code, args):
        """The IndexError for the index check ``code`` that the kernel flagged.

        The kernel only records which check failed (raising inside it would
        leak the arrays allocated before the raise); the offending index and
        the limit are found here, from the arguments, on the error path only.
        """
        node, limit = self.index_errors[code]
        values = [np.asarray(a) for a in args[:len(self.inputs)]]
        bindings = dict(zip(self.dims, args[len(args) - len(self.dims):]))
        limit = resolve_dim(limit, bindings)
        indices = np.asarray(NumpyProgram(self.inputs, [node.inputs[1]])(values, bindings)[0])
        bad = indices[(indices < 0) | (indices >= limit)]
        shown = f"index {bad.flat[0]}" if bad.size else "an index"
        return IndexError(f"{shown} is out of range [0, {limit}) in {node.describe()}; "
                          f"indices come from {node.inputs[1].name!r}")


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
