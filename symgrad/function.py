"""Compiled functions: ``sg.function`` and ``sg.value_and_grad``.

The wrapper checks every argument (count, names, dtype, rank, sizes, named
dimensions) before any backend code runs, binds named dimensions, and never
modifies or returns the caller's arrays.

Tiered execution (``tiered=True``, the default in an interactive session):
Numba takes seconds to compile a model's kernel, so the first call queues that
compile on a background thread and returns the NumPy backend's results; calls
run on NumPy until the kernel is compiled, then on the kernel (``TieredProgram``).
"""
import sys
import threading
from collections.abc import Iterable

import numpy as np

from .autodiff import grad
from .errors import ShapeError
from .graph import Expr, toposort
from .index_bounds import check_index_bounds, index_bounds
from .numpy_backend import NumpyProgram
from .optimize import optimize
from .shared import array_of, as_updates, implicit_shared
from .ops import DimSize, Input, free_inputs
from .types import DTYPES, check_size, shape_str

BACKENDS = ("numba", "numpy")
FLOAT_TYPES = frozenset({float, np.float64})  # exact types: bool, int and subclasses are checked in full
# the dtypes the kernels take, in native byte order; compared as dtypes (``.name``
# would call big-endian ">f8" "float64" too, and it is slow)
NATIVE = {name: np.dtype(name) for name in DTYPES}
# every integer of at most this many bits is exact in the float dtype (its mantissa + 1)
EXACT_BITS = {"float32": 24, "float64": 53}


def _bind_argument(var, value, bindings, binders):
    """``value`` as an array of ``var``'s dtype; records named dimension sizes."""
    if type(value) is float and var.dtype == "float64" and not var.shape:
        return np.float64(value)  # the common scalar case, checked in full below
    if type(value) is np.ndarray and value.dtype == NATIVE[var.dtype]:
        arr = value  # already the right dtype and byte order: no conversion to check
    else:
        arr = _as_array(var, value)
    if arr.ndim != var.ndim:
        raise ShapeError(f"argument for {var.describe()} has {arr.ndim} dimension(s) "
                         f"(shape {shape_str(arr.shape)}); expected {var.ndim}")
    for axis, (d, n) in enumerate(zip(var.shape, arr.shape)):
        if isinstance(d, int):
            if d != n:
                raise ShapeError(f"argument for {var.describe()} has shape "
                                 f"{shape_str(arr.shape)}: axis {axis} must be {d}, got {n}")
        elif d in bindings and bindings[d] != n:
            first, first_axis = binders[d]
            raise ShapeError(f"named dimension {d} is {bindings[d]} in {first!r} (axis "
                             f"{first_axis}) but {n} in {var.name!r} (axis {axis}); every "
                             f"use of {d} in one call must have the same size")
        else:
            bindings.setdefault(d, n)
            binders.setdefault(d, (var.name, axis))
    view = arr.view()
    view.flags.writeable = False  # the backends must never write to a caller's array
    return view


def _as_array(var, value):
    """``value`` converted losslessly to ``var``'s dtype (a native-byte-order copy
    when it is not one already), or TypeError."""
    if isinstance(value, Expr):
        raise TypeError(f"argument for {var.describe()} is a symbolic expression; "
                        "pass a NumPy array or a number")
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would drop the mask silently
        raise TypeError(f"argument for {var.describe()} is a masked array, and symgrad has no "
                        "masks; pass value.filled(fill_value) to choose what the masked entries "
                        "hold, or value.data to use the stored values as they are")
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and objects NumPy refuses
        raise TypeError(f"argument for {var.describe()} is not an array: {e}") from None
    if arr.dtype.kind not in "iuf" or not np.can_cast(arr.dtype, var.dtype, casting="safe"):
        raise TypeError(f"argument for {var.describe()} has dtype {arr.dtype}, which does not "
                        f"convert to {var.dtype} without loss; pass an array of {var.dtype}")
    if arr.dtype.kind in "iu" and var.dtype in EXACT_BITS:
        _check_exact(var, arr)
    return arr.astype(var.dtype, copy=False)


def _check_exact(var, arr):
    """TypeError unless every integer in ``arr`` is exact in ``var``'s float dtype.

    NumPy calls int64 -> float64 a safe cast, but 2**53 + 1 becomes 2**53. Every
    integer up to 2**53 in magnitude (2**24 for float32) is exact, so that bound
    is checked (by the dtype when it cannot be exceeded, else by one min and one
    max); beyond it even the integers float64 does hold, like 2**60, are refused:
    one bound to document, checked without converting back and comparing.
    """
    bits = EXACT_BITS[var.dtype]
    if arr.dtype.itemsize * 8 - (arr.dtype.kind == "i") <= bits or arr.size == 0:
        return
    limit = 2 ** bits
    if -limit <= arr.min() and arr.max() <= limit:
        return
    at = tuple(int(i) for i in np.argwhere((arr < -limit) | (arr > limit))[0])
    where = "" if not at else f" at index {at[0]}" if len(at) == 1 else f" at index {at}"
    raise TypeError(f"argument for {var.describe()} has dtype {arr.dtype} and holds "
                    f"{arr[at]}{where}, beyond 2**{bits} in magnitude, where {var.dtype} no longer "
                    f"holds every integer exactly; convert it yourself, e.g. with "
                    f".astype({var.dtype!r}), if rounding is acceptable")


def _check_shapes(inputs, outputs):
    """Every named dimension the graph uses must come from an input's shape, and
    no node's fixed sizes may exceed what NumPy (and a kernel's int64) can hold."""
    bound = {d for x in inputs for d in x.shape if not isinstance(d, int)}
    bound = set().union(*(d.free_symbols for d in bound))
    for node in toposort(outputs):
        check_size(node.shape, node.dtype, f"expression {node.name!r}")
        used = set().union(*(d.free_symbols for d in node.shape if not isinstance(d, int)))
        if isinstance(node.op, DimSize):
            used.add(node.op.dim)
        unbound = used - bound
        if unbound:
            names = ", ".join(sorted(map(str, unbound)))
            raise ValueError(f"{node.describe()} uses the named dimension(s) {names}, which no "
                             f"input's shape has; add an input with that dimension to `inputs`")


def interactive_session():
    """Whether Python runs interactively: the REPL or ``python -i`` (``sys.ps1``,
    ``sys.flags.interactive``), or an IPython shell or Jupyter kernel. Where
    ``tiered=None`` turns tiered execution on.

    >>> interactive_session()  # a doctest run by pytest is a script
    False
    """
    return hasattr(sys, "ps1") or bool(sys.flags.interactive) or _ipython_shell()


def _ipython_shell():
    """Whether an IPython shell (terminal or Jupyter kernel) is running; IPython
    imported by a script, without a shell, does not count."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    try:
        return get_ipython is not None and get_ipython() is not None
    except Exception:  # a half-imported or unusual IPython: not a shell we know
        return False


def _fresh(outs):
    """The NumPy backend's outputs as the kernel returns them: fresh arrays (an
    output may be an input or a view of one), NumPy scalars for 0-d outputs."""
    outs = [np.array(o) for o in outs]
    return [o[()] if o.ndim == 0 else o for o in outs]


class TieredProgram:
    """The Numba ``kernel`` (a ``NumbaProgram``) once it is compiled; until then
    the NumPy backend on the same optimized ``graph``, while the first call's
    compile runs on the background compile thread.

    Both tiers take the checked arguments and raise the same errors (an empty
    max/min axis, an out-of-range index). A failed background compile is raised
    by the next call or ``wait_compiled``; from then on calls go to the kernel
    as without tiers (compiling in the caller's thread, raising its error), so
    a broken kernel never hides behind NumPy results.
    """

    def __init__(self, kernel, graph):
        self.kernel, self.graph = kernel, graph
        self._numpy = None  # the NumPy program, made at the first call that needs it
        self._direct = False  # calls go to the kernel from now on
        self._lock = threading.Lock()

    @property
    def has_kernel(self):
        return self.kernel.has_kernel

    def _on_kernel(self):
        """Whether this call runs on the kernel; raises a failed compile's error, once."""
        if self._direct:
            return True
        if self.kernel.has_kernel:
            self._direct = True
            return True
        job = self.kernel.job
        if job is None or job.error is None:
            return False
        with self._lock:
            if self._direct:  # another thread raised it
                return True
            self._direct = True
        self.kernel.forget(job)
        raise job.failure()

    def _on_numpy(self, arrays, bindings):
        """The outputs from the NumPy backend; starts the kernel's compile for the
        types of this call's arguments unless it is queued or done."""
        kernel = self.kernel
        if kernel.job is None:
            kernel.compile_later(kernel.signature(kernel.kernel_arguments(arrays, bindings)[0]))
        kernel.check_empty_reductions(bindings)
        kernel.check_indices(arrays, bindings)
        if self._numpy is None:
            self._numpy = NumpyProgram(kernel.inputs, self.graph)
        return _fresh(self._numpy(arrays, bindings))

    def __call__(self, arrays, bindings):
        if self._direct or self._on_kernel():
            return self.kernel(arrays, bindings)
        return self._on_numpy(arrays, bindings)

    def call_floats(self, values):
        if self._direct or self._on_kernel():
            return self.kernel.call_floats(values)
        return self._on_numpy([np.asarray(v) for v in values], {})

    def wait_compiled(self, timeout=None):
        """As ``NumbaProgram.wait_compiled``; the error of a failed compile is the
        one the next call would raise."""
        if not self._on_kernel():
            kernel = self.kernel
            job = kernel.job or kernel.compile_later(kernel.declared_signature())
            if not job.done.wait(timeout):
                return False
            self._on_kernel()  # raises the compile's error
        return self.kernel.wait_compiled(timeout)


def _as_inputs(inputs):
    """``inputs`` as a list of variables (one bare variable is a list of one)."""
    if isinstance(inputs, Expr):
        inputs = [inputs]
    elif not _is_sequence(inputs):
        raise TypeError(f"`inputs` must be a list of variables (made by sg.scalar/vector/"
                        f"matrix/tensor), got {type(inputs).__name__}")
    inputs = list(inputs)
    for x in inputs:
        if not isinstance(x, Expr) or not isinstance(x.op, Input):
            raise TypeError(f"function inputs must be variables made by sg.scalar/vector/"
                            f"matrix/tensor, got {getattr(x, 'name', x)!r}")
    return inputs


def _is_sequence(value):
    """Whether ``value`` lists values (an array or a string is one value)."""
    return isinstance(value, Iterable) and not isinstance(value, (Expr, np.ndarray, str))


def _as_outputs(outputs):
    """``(single, outputs as a list)``; TypeError for an output that is not an
    expression (a number or an array), saying how to make it one."""
    single = not _is_sequence(outputs)
    outputs = [outputs] if single else list(outputs)
    for i, o in enumerate(outputs):
        if not isinstance(o, Expr):
            which = "the output" if single else f"output {i}"
            short = len(repr(o)) <= 40
            value = repr(o) if short else "value"
            what = f"{type(o).__name__} {value}" if short else f"a {type(o).__name__} object"
            raise TypeError(f"function outputs must be expressions, but {which} is {what}; "
                            f"to return a constant, pass sg.constant({value}) instead")
    return single, outputs


def _check_listed(inputs, outputs):
    """ValueError naming the variables ``outputs`` depend on that ``inputs`` lacks,
    and saying so when ``inputs`` holds another variable of the same name."""
    listed = set(inputs)
    missing = [x for x in free_inputs(outputs) if x not in listed]
    if not missing:
        return
    names = {x.name for x in inputs}
    renamed = [x for x in missing if x.name in names]
    if renamed:
        x = renamed[0]
        raise ValueError(f"`inputs` holds a different variable named {x.name!r} than the "
                         f"{x.describe()} the outputs were built from: every sg.scalar/vector/"
                         "matrix/tensor call makes a new variable, and variables are told "
                         "apart by identity, not by name; pass the variable the outputs were "
                         "built from, or build the outputs again from the new one")
    raise ValueError("the outputs depend on inputs not listed in `inputs`: "
                     + ", ".join(x.describe() for x in missing))


def _typed(x):
    """``x: float64[batch, 3]``: a variable in a function's repr."""
    return f"{x.name}: {x.dtype}[{', '.join(map(str, x.shape))}]"


class Function:
    """A callable made by :func:`function`: checks arguments, runs the backend.

    ``f(*args)`` takes arrays in ``inputs`` order or by variable name (any
    name, ``self`` included). ``f.tiered`` says whether calls run on the NumPy
    backend until the kernel is compiled (see :func:`function`).

    A function pickles as its graph and options (``inputs``, ``outputs``,
    ``backend``, ``cache``, ``tiered`` as given: ``None`` is decided again
    where it is unpickled). Unpickling builds it again from the graph; on the
    numba backend with ``cache=True`` the kernel's machine code then loads from
    the disk cache when an earlier call (in any process) compiled it there.

    >>> import pickle, symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> norm2 = (x * x).sum()
    >>> norm2.name = "norm2"
    >>> f = sg.function(x, norm2, backend="numpy")  # one bare input is [x]
    >>> f
    <sg.function (x: float64[3]) -> norm2, backend='numpy'>
    >>> pickle.loads(pickle.dumps(f))([1.0, 2.0, 3.0])
    np.float64(14.0)
    """

    def __init__(self, inputs, outputs, backend="numba", cache=True, tiered=None,
                 updates=None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if tiered not in (None, True, False):
            raise ValueError(f"tiered must be None (on in an interactive session), True or "
                             f"False, got {tiered!r}")
        self.single, self.outputs = _as_outputs(outputs)
        self.inputs = _as_inputs(inputs)
        self.updates = as_updates(updates)
        self.backend, self.cache, self._tiered = backend, cache, tiered
        names = [x.name for x in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"function inputs share the name(s) {dupes}; give each input "
                             "its own name")
        new_values = [new for _, new in self.updates]
        everything = self.outputs + new_values
        # shared variables are read from their own arrays, after the inputs
        self.shared = implicit_shared(self.inputs, everything, self.updates)
        _check_listed(self.inputs + self.shared, everything)
        _check_shapes(self.inputs + self.shared, everything)
        graph = optimize(everything)  # what both backends run
        self._index_bounds = index_bounds(graph)
        self._names = {x.name: i for i, x in enumerate(self.inputs)}
        # a scalar function called with one float per input passes every check
        # (count, dtype, rank 0; no sizes or named dimensions to bind) as it is
        self._floats_only = backend == "numba" and not self.shared and all(
            x.dtype == "float64" and not x.shape for x in self.inputs)
        # the NumPy tier would have to write the updates too: a function with
        # updates runs its kernel from the first call
        self.tiered = backend == "numba" and not self.updates and bool(
            interactive_session() if tiered is None else tiered)
        kernel_inputs = self.inputs + self.shared
        n = len(self.outputs)
        targets = [target for target, _ in self.updates]
        if backend == "numba":
            from .numba_backend import NumbaProgram  # imports Numba only when needed
            self._program = NumbaProgram(kernel_inputs, graph[:n], cache=cache,
                                         updates=list(zip(targets, graph[n:])))
            self._returned = self._program.returned_updates
            if self.tiered:
                self._program = TieredProgram(self._program, graph)
        else:
            self._program = NumpyProgram(kernel_inputs, graph)
            self._returned = targets

    def __repr__(self):
        outputs = ", ".join(o.name for o in self.outputs)
        return (f"<sg.function ({', '.join(map(_typed, self.inputs))}) -> "
                f"{outputs if self.single else f'[{outputs}]'}, backend={self.backend!r}>")

    def __reduce__(self):
        outputs = self.outputs[0] if self.single else self.outputs
        return Function, (self.inputs, outputs, self.backend, self.cache, self._tiered,
                          self.updates or None)

    @property
    def source(self):
        """The generated Python source that Numba compiled (None for the numpy backend)."""
        kernel = getattr(self._program, "kernel", self._program)
        return getattr(kernel, "source", None)

    @property
    def compiled(self):
        """Whether calls run the compiled kernel now: on the numba backend, True
        once the kernel is compiled (by the first call, or in the background when
        tiered); always False on the numpy backend.

        >>> import symgrad as sg
        >>> x = sg.scalar("x")
        >>> f = sg.function([x], x * 2.0, backend="numba", cache=False, tiered=False)
        >>> f(1.5), f.compiled  # the first call compiled the kernel
        (np.float64(3.0), True)
        """
        return self.backend == "numba" and self._program.has_kernel

    def wait_compiled(self, timeout=None):
        """Block until calls run the compiled kernel; True, or False when ``timeout``
        seconds (None: no limit) passed first. For benchmarks and for code that
        must not run on the NumPy tier of a tiered function.

        * tiered: waits for the compile the first call started;
        * before any call (tiered or not): compiles the kernel now, on the
          background compile thread, for the argument types every call passes
          (they follow from the inputs' dtypes and ranks), and waits;
        * not tiered, after a call: True at once (the call compiled it);
        * numpy backend: True at once (nothing to compile).

        A failed compile raises its error here (as the next call would).

        >>> import symgrad as sg
        >>> x = sg.vector("x", 3)
        >>> f = sg.function([x], (x * x).sum(), backend="numpy")
        >>> f.wait_compiled(), f([1.0, 2.0, 3.0])
        (True, np.float64(14.0))
        """
        if self.backend != "numba":
            return True
        return self._program.wait_compiled(timeout)

    def _arguments(self, args, kwargs):
        """The checked arrays in ``inputs`` order, and the named dimensions' sizes."""
        if kwargs or len(args) != len(self.inputs):
            args = self._in_input_order(args, kwargs)
        bindings, binders = {}, {}
        arrays = [_bind_argument(x, v, bindings, binders) for x, v in zip(self.inputs, args)]
        for x in self.shared:  # checked as arguments are, then passed as they are (written)
            _bind_argument(x, array_of(x), bindings, binders)
            arrays.append(array_of(x))
        if self._index_bounds:
            check_index_bounds(self._index_bounds, bindings)
        return arrays, bindings

    def _in_input_order(self, args, kwargs):
        if len(args) > len(self.inputs):
            raise TypeError(f"function takes {len(self.inputs)} argument(s) "
                            f"({', '.join(self._names)}), got {len(args)}")
        values = list(args) + [None] * (len(self.inputs) - len(args))
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            if name not in self._names:
                raise TypeError(f"unknown argument {name!r}; the inputs are "
                                f"{', '.join(self._names)}")
            i = self._names[name]
            if given[i]:
                raise TypeError(f"argument {name!r} given twice")
            values[i], given[i] = value, True
        if not all(given):
            absent = [x.name for x, ok in zip(self.inputs, given) if not ok]
            raise TypeError(f"missing argument(s): {', '.join(absent)}")
        return values

    def __call__(self, /, *args, **kwargs):  # positional-only: f(self=...) names an input
        if (self._floats_only and not kwargs and len(args) == len(self.inputs)
                and FLOAT_TYPES.issuperset(map(type, args))):
            outs = self._program.call_floats(args)
        else:
            arrays, bindings = self._arguments(args, kwargs)
            if self.updates and self.backend == "numba":
                # an index out of range must raise before any array is written
                self._program.check_indices(arrays, bindings)
            outs = self._program(arrays, bindings)
            if self.backend == "numpy":
                outs = [np.array(o) for o in outs]  # copies: new values may alias old ones
                outs = [o[()] if o.ndim == 0 else o for o in outs]
            if self._returned:  # new values the program returns: written here, in place
                k = len(outs) - len(self._returned)
                for target, value in zip(self._returned, outs[k:]):
                    array_of(target)[...] = value
                outs = outs[:k]
        return outs[0] if self.single else outs


def function(inputs, outputs, backend="numba", cache=True, tiered=None, updates=None):
    """Compile ``outputs`` (an expression or a list) as a function of ``inputs``.

    ``inputs`` is a list of variables (one bare variable counts as ``[x]``).
    Variables are told apart by identity, not by name: a graph built from ``x``
    needs that ``x`` among the inputs, not a new variable also named "x" (the
    error says so). ``outputs`` are expressions; a number or an array raises
    TypeError (as PyTensor's ``function`` does): ``sg.constant(value)`` makes
    a constant output. The function pickles (see :class:`Function`).

    Shared variables (``sg.shared``) in the graph are read from their own
    arrays; they are not listed in ``inputs``. ``updates`` (pairs
    ``(shared variable, new value)``, or a dict) makes the call a step of
    state: every output and every new value is computed from the values
    before the call, then the new values are written into the variables'
    arrays in place, inside the compiled kernel (on the numba backend, where
    nothing after it reads the old value, straight from the loop computing
    it; else from a buffer after the last read). A new value must have its
    variable's dtype and shape, and a variable is updated at most once;
    build-time errors say which. An index out of range raises before any
    array is written. A function with updates is never tiered.

    >>> import symgrad as sg
    >>> w = sg.shared([0.0, 0.0], name="w")
    >>> a = sg.vector("a", 2)
    >>> loss = ((w - a) ** 2).sum()
    >>> step = sg.function([a], loss, updates=[(w, w - 0.25 * sg.grad(loss, w))],
    ...                    backend="numpy")
    >>> step([1.0, 2.0]), w.get_value()   # the loss before the step; w moved halfway
    (np.float64(5.0), array([0.5, 1. ]))

    ``backend="numba"`` (the default) compiles one fused function per graph;
    ``backend="numpy"`` is the reference interpreter.

    ``tiered`` (numba backend): Numba compiles the kernel at the first call,
    which takes seconds for a model. A tiered function's first call instead
    queues that compile on one background thread (shared by the process:
    kernels compile one after another) and every call runs on the numpy
    backend (same checks and errors, results equal to rounding) until the
    kernel is compiled; then calls run the kernel. ``f.compiled`` says which
    tier serves calls now; ``f.wait_compiled()`` waits for the kernel. An
    error of the background compile is raised by the next call (or
    ``wait_compiled``), after which calls compile in the caller's thread as
    without tiers. ``tiered=None`` (default): on in an interactive session
    (the REPL, ``python -i``, IPython, a Jupyter kernel), off in scripts and
    tests; ``True``/``False`` force it. Ignored by the numpy backend.

    The returned function takes the inputs positionally or by name. Each
    argument (an array, a nested list or a number) is checked before any compiled
    code runs, and converted only when no value can change:

    * float32 -> float64 and the integer dtypes NumPy casts safely (int32 ->
      int64, int32 -> float64, int16 -> float32, ...) are accepted;
    * int64 and uint64 (also Python ints) -> float64 are accepted when every
      value is at most 2**53 in magnitude, the range where every integer is
      exact; a larger value raises TypeError naming the input and the value;
    * everything else raises TypeError, whatever the values: float64 -> float32,
      int64 -> float32, int64 -> int32, uint64 -> int64, floats -> ints, bool,
      complex, object and masked arrays (pass ``.filled(value)`` or ``.data``);
    * a wrong rank or size, or a named dimension bound to two sizes, raises
      ``sg.ShapeError``.

    Big-endian, non-contiguous and read-only arrays are accepted (copied when
    the kernel needs it); the caller's arrays are never modified.

    >>> import symgrad as sg
    >>> x, W = sg.vector("x", 3), sg.matrix("W", 2, 3)
    >>> f = sg.function([x, W], W @ x, backend="numpy")
    >>> f([1.0, 2.0, 3.0], [[1, 0, 0], [0, 1, 1]])
    array([1., 5.])
    >>> f([2**53 + 1, 0, 0], W=[[1, 0, 0], [0, 1, 1]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: argument for 'x' (float64, shape (3,)) has dtype int64 and holds 9007199254740993 ...

    Tiered: the first call returns the NumPy backend's result, the kernel
    compiling meanwhile (``cache=False``: nothing on disk from an earlier run)

    >>> g = sg.function([x], (x * x).sum(), backend="numba", cache=False, tiered=True)
    >>> g.tiered, g([1.0, 2.0, 3.0]), g.compiled
    (True, np.float64(14.0), False)
    >>> g.wait_compiled(), g.compiled, g([1.0, 2.0, 3.0])
    (True, True, np.float64(14.0))
    """
    return Function(inputs, outputs, backend=backend, cache=cache, tiered=tiered,
                    updates=updates)


class ValueAndGrad:
    """A callable made by :func:`value_and_grad`: returns (cost, gradients).

    It pickles as its :class:`Function` of the cost and the gradients (see there).

    >>> import pickle, symgrad as sg
    >>> w = sg.vector("w", 2)
    >>> cost = (w * w).sum()
    >>> cost.name = "cost"
    >>> vg = sg.value_and_grad(cost, [w], inputs=[w], backend="numpy")
    >>> vg
    <sg.value_and_grad (w: float64[2]) -> (cost, grad of [w]), backend='numpy'>
    >>> pickle.loads(pickle.dumps(vg))([1.0, 2.0])
    (np.float64(5.0), [array([2., 4.])])
    """

    def __init__(self, cost, wrt, inputs, backend="numba", cache=True, tiered=None,
                 updates=None):
        self.single = isinstance(wrt, Expr)
        self.wrt = [wrt] if self.single else list(wrt)
        grads = grad(cost, wrt)
        grads = [grads] if self.single else grads
        self._function = Function(inputs, [cost] + grads, backend=backend, cache=cache,
                                  tiered=tiered, updates=updates)

    def __repr__(self):
        f = self._function
        wrt = ", ".join(x.name for x in self.wrt)
        return (f"<sg.value_and_grad ({', '.join(map(_typed, f.inputs))}) -> "
                f"({f.outputs[0].name}, grad of {wrt if self.single else f'[{wrt}]'}), "
                f"backend={f.backend!r}>")

    def __reduce__(self):
        return _value_and_grad_of, (self._function, self.wrt, self.single)

    @property
    def source(self):
        """The generated Python source that Numba compiled (None for the numpy backend)."""
        return self._function.source

    @property
    def tiered(self):
        """Whether calls run on the numpy backend until the kernel is compiled."""
        return self._function.tiered

    @property
    def compiled(self):
        """Whether calls run the compiled kernel now (``Function.compiled``)."""
        return self._function.compiled

    def wait_compiled(self, timeout=None):
        """Block until calls run the compiled kernel (``Function.wait_compiled``).

        >>> import symgrad as sg
        >>> w = sg.vector("w", 2)
        >>> vg = sg.value_and_grad((w * w).sum(), [w], inputs=[w], backend="numpy")
        >>> vg.wait_compiled(), vg.compiled
        (True, False)
        """
        return self._function.wait_compiled(timeout)

    def __call__(self, /, *args, **kwargs):
        outs = self._function(*args, **kwargs)
        return outs[0], (outs[1] if self.single else outs[1:])


def _value_and_grad_of(function, wrt, single):
    """A ``ValueAndGrad`` from its pickle: the function of the cost and gradients,
    unpickled already (the gradients are not derived again)."""
    vg = ValueAndGrad.__new__(ValueAndGrad)
    vg._function, vg.wrt, vg.single = function, wrt, single
    return vg


def value_and_grad(cost, wrt, inputs, backend="numba", cache=True, tiered=None,
                   updates=None):
    """Compile the cost and its gradients with respect to ``wrt`` in one pass.

    ``backend``, ``cache``, ``tiered`` and ``updates`` are :func:`function`'s
    (the cost and gradients returned are those before the updates).

    >>> import symgrad as sg
    >>> w = sg.vector("w", 2)
    >>> vg = sg.value_and_grad((w ** 2).sum(), [w], inputs=[w], backend="numpy")
    >>> vg([1.0, 2.0])
    (np.float64(5.0), [array([2., 4.])])
    >>> vg = sg.value_and_grad((w ** 2).sum(), [w], inputs=[w], cache=False, tiered=True)
    >>> vg([1.0, 2.0]), vg.compiled  # the NumPy tier, while the kernel compiles
    ((np.float64(5.0), [array([2., 4.])]), False)
    """
    return ValueAndGrad(cost, wrt, inputs, backend=backend, cache=cache, tiered=tiered,
                        updates=updates)


def evaluate(expr, values=None, backend="numpy"):
    """Evaluate ``expr`` (or a list) with ``values`` mapping variables (or their
    names) to arrays; convenient at the prompt and in examples.

    >>> import symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> (x * 3).eval({"x": [1.0, 2.0]})
    array([3., 6.])
    """
    values = dict(values or {})
    needed = free_inputs([expr] if isinstance(expr, Expr) else list(expr))
    given = [x for x in values if isinstance(x, Expr) and isinstance(x.op, Input)]
    args = [_value_for(x, values, needed, given) for x in needed]
    # variables given but not needed still bind their named dimensions
    extra = [x for x in given if x not in set(needed)]
    return Function(needed + extra, expr, backend=backend)(*args, *(values[x] for x in extra))


def _value_for(x, values, needed, given):
    """The value of variable ``x`` in ``values`` (keyed by variables or names)."""
    if x in values:
        return values[x]
    namesakes = [v for v in needed + given if v.name == x.name and v != x]
    if x.name in values and not namesakes:
        return values[x.name]
    if not namesakes:
        raise ValueError(f"no value given for {x.describe()}")
    if x.name in values:
        raise ValueError(f"the graph has different variables named {x.name!r}, so the value "
                         f"keyed by the name {x.name!r} is ambiguous; key the values by the "
                         "variables themselves")
    raise ValueError(f"no value given for {x.describe()}, but `values` holds a different "
                     f"variable named {x.name!r}: variables are told apart by identity, not by "
                     "name; key the value by the variable the graph was built from")
