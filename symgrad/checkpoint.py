"""Parameter files: ``sg.save_params`` / ``sg.load_params``.

Parameters go to an ``.npz`` archive (NumPy's format, readable by
``np.load`` without symgrad), one ``.npy`` entry per parameter, keyed by the
variable's name. Nothing is pickled: loading a parameter file runs no code.

Files are written atomically (to a temporary file beside the target, then
renamed), so a crash while saving keeps the previous file whole; the trainer's
checkpoints (``Trainer.save``) are written the same way.
"""
import os
import tempfile
import zipfile

import numpy as np

from .graph import Expr
from .ops import Input
from .types import shape_str

# the kinds of array a parameter file holds: symgrad's dtypes are ints and floats
STORABLE_KINDS = "iuf"


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to
    ``path``: readers see the old file or the new one, never half of one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _name_of(key):
    """The name a parameter is stored under: a variable's name, or the key itself."""
    if isinstance(key, Expr):
        if not isinstance(key.op, Input):
            raise TypeError(f"{key.describe()} is not a variable: parameters are variables made "
                            "by sg.scalar/vector/matrix/tensor (or their names)")
        return key.name
    if isinstance(key, str):
        return key
    raise TypeError(f"a parameter is a variable or its name (a str), got {type(key).__name__}")


def _names(keys):
    """The stored name of each key; ValueError when two keys share one."""
    names = [_name_of(k) for k in keys]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two or more parameters are named {', '.join(map(repr, dupes))}; the "
                         "file is keyed by name, so give each parameter its own name")
    return names


def _check_shape(var, shape, bindings, where):
    """ValueError unless ``shape`` fits ``var``'s shape, each named dimension
    having one size across all the variables (``bindings``: name -> (size, variable))."""
    seen = dict(bindings)
    fits = len(shape) == var.ndim and all(
        d == n if isinstance(d, int) else seen.setdefault(d, (n, var))[0] == n
        for d, n in zip(var.shape, shape))
    if not fits:
        named = [f"{d} is {bindings[d][0]} in {bindings[d][1].name!r}"
                 for d in var.shape if not isinstance(d, int) and d in bindings]
        raise ValueError(f"{where} has shape {shape_str(shape)}, but variable {var.name!r} has "
                         f"shape {shape_str(var.shape)}"
                         + (f" ({'; '.join(named)})" if named else "")
                         + "; the file and the model must describe the same parameters")
    bindings.update(seen)


def save_params(path, params):
    """Save ``params`` (a dict: variable or name -> array) to the ``.npz`` file ``path``.

    Each array is stored under its variable's name (a key that is a str is the
    name); :func:`load_params` reads them back. The file is written at
    ``path`` exactly (no ``.npz`` is appended) and atomically. An array keyed
    by a variable must have the variable's shape; arrays of ints and floats
    only (nothing is pickled). ``np.load(path)`` reads the file too.

    >>> import os, tempfile, numpy as np, symgrad as sg
    >>> W, b = sg.matrix("W", 2, 3), sg.vector("b", 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "params.npz")
    >>> sg.save_params(path, {W: np.ones((2, 3)), b: np.arange(3.0)})
    >>> sorted(np.load(path).files)
    ['W', 'b']
    """
    names = _names(params)
    arrays, bindings = {}, {}
    for (key, value), name in zip(params.items(), names):
        arr = np.asarray(value)
        if arr.dtype.kind not in STORABLE_KINDS:
            raise TypeError(f"parameter {name!r} has dtype {arr.dtype}; a parameter file holds "
                            "int and float arrays only")
        if isinstance(key, Expr):
            _check_shape(key, arr.shape, bindings, f"the array for parameter {name!r}")
        arrays[name] = arr

    def write(f):
        # as np.savez writes, minus pickling (and np.savez's own keyword names,
        # "file" and "allow_pickle", are free to be parameter names)
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, arr in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
    write_atomically(path, write)


def load_params(path, variables):
    """Read ``variables`` (variables, or names) from the ``.npz`` file ``path``.

    Returns a dict {variable: array} with fresh arrays of each variable's dtype,
    in the order of ``variables`` (a dict of parameters works: its keys are
    taken). Other entries of the file are ignored, so a subset (say, pretrained
    embeddings) loads on its own. Raises ``ValueError`` for an entry the file
    lacks, a shape that differs from the variable's (a named dimension must have
    one size across the variables) or two variables with one name, and
    ``TypeError`` for a dtype that does not convert to the variable's without
    loss (float64 into a float32 variable). A name (str) is returned as stored,
    unchecked. Nothing is unpickled.

    >>> import os, tempfile, numpy as np, symgrad as sg
    >>> E, W = sg.matrix("E", "vocab", 2), sg.matrix("W", 2, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "params.npz")
    >>> sg.save_params(path, {"E": np.ones((5, 2)), "W": np.eye(2)})
    >>> loaded = sg.load_params(path, [E, W])
    >>> loaded[E].shape, loaded[W]
    ((5, 2), array([[1., 0.],
           [0., 1.]]))
    >>> sg.load_params(path, [sg.matrix("W", 3, 2)])
    Traceback (most recent call last):
    ...
    ValueError: entry 'W' of ... has shape (2, 2), but variable 'W' has shape (3, 2); ...
    """
    keys = list(variables)
    names = _names(keys)
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{os.fspath(path)!r} is a single .npy array, not an .npz parameter "
                         "file; save parameters with sg.save_params")
    with npz:
        missing = [n for n in names if n not in npz.files]
        if missing:
            raise ValueError(f"{os.fspath(path)!r} has no entry for {', '.join(map(repr, missing))}; "
                             f"it holds {', '.join(map(repr, npz.files)) or 'nothing'}")
        loaded, bindings = {}, {}
        for key, name in zip(keys, names):
            arr = npz[name]
            if isinstance(key, Expr):
                where = f"entry {name!r} of {os.fspath(path)!r}"
                _check_shape(key, arr.shape, bindings, where)
                if arr.dtype.kind not in STORABLE_KINDS or not np.can_cast(arr.dtype, key.dtype,
                                                                           "safe"):
                    raise TypeError(f"{where} has dtype {arr.dtype}, which does not convert to "
                                    f"{key.dtype} without loss; convert the file's array "
                                    f"yourself (e.g. .astype({key.dtype!r})) if that is meant")
                arr = arr.astype(key.dtype, copy=False)
            loaded[key] = arr
    return loaded
