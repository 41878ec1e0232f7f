"""What the kernel cache folder may make symgrad run, read and write (issue 19).

* Python bytecode in the folder (``__pycache__/*.pyc``) is never run: kernels
  are compiled from the source codegen printed, not imported.
* A folder others can write (group- or world-writable, owned by another user,
  or below a folder others can write) is refused: the kernel compiles in
  memory, with a warning.
* Symbolic links in the folder are replaced, never read or written through.
* Bytecode and Numba's pickles are used only when signed with the folder's
  secret: planted ones are never run.
* Every file the cache writes is private (0o600) and its folders 0o700,
  Numba's machine-code files included.

Code execution is checked in child processes: each attack plants a payload
that writes a marker file, and the marker must never appear.
"""
import json
import os
import pickle
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from symgrad_codegen import compiler
from kernel_programs import scaled_square
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

REPO = Path(__file__).resolve().parent.parent

# a graph compiled, called and checked in a fresh process; an optional first
# argument is a umask to run under
SCRIPT = """
import json, os, sys
if len(sys.argv) > 1:
    os.umask(int(sys.argv[1], 8))
import numpy as np
import symgrad as sg
x = sg.vector("x", 4)
y = (sg.tanh(x * 2.0) ** 2 * sg.constant(np.array([1.0, 2.0, 3.0, 4.0]))).sum()
f = sg.function([x], [y, sg.grad(y, x)])
value, grad = f(np.linspace(-1.0, 1.0, 4))
print(json.dumps([float(value)] + grad.tolist()))
"""


def _expected():
    x, w = np.linspace(-1.0, 1.0, 4), np.array([1.0, 2.0, 3.0, 4.0])
    t = np.tanh(2.0 * x)
    return [float((t * t * w).sum())] + (2 * t * (1 - t * t) * 2.0 * w).tolist()


def _run(cache, *args):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(json.loads(done.stdout.splitlines()[-1]), _expected(),
                               rtol=1e-13)
    return done


def _module_of(cache):
    (module,) = cache.glob("kernel_*.py")
    return module




def _compile_and_check(folder, k=3):
    """``scaled_square(k)`` compiled with the disk cache in ``folder``, called once
    (so that Numba writes its files), its result checked."""
    compiled = compiler.compile_program(scaled_square(k), str(folder))
    (y,) = compiled.function(np.arange(4.0), 4)
    np.testing.assert_array_equal(y, k * np.arange(4.0) ** 2)
    return compiled


def _snapshot(folder):
    """Every path below ``folder`` with its type, mode and content."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (
            stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns,
            os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None)
    return out


# 1. bytecode in the cache folder is never run

class _Payload:
    """Unpickling this writes ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _plant_pyc(module, payload):
    """A ``.pyc`` for ``module`` that Python's import accepts as current (magic
    number, the source's mtime and size) and that runs ``payload`` first."""
    import importlib.util
    import marshal
    st = module.stat()
    code = compile(payload + "\n" + module.read_text(), str(module), "exec")
    header = (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
              + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
              + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
    pyc = Path(importlib.util.cache_from_source(str(module)))
    pyc.parent.mkdir(mode=0o700, exist_ok=True)
    pyc.write_bytes(header + marshal.dumps(code))
    return pyc


def test_planted_bytecode_is_never_run(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    _run(cache)
    pyc = _plant_pyc(_module_of(cache), f"open({str(marker)!r}, 'w').write('ran')")
    _run(cache)
    assert not marker.exists(), "the planted .pyc ran"
    assert pyc.exists()  # left alone: never read


def test_planted_cache_files_are_never_run_or_unpickled(tmp_path):
    """Regular files of the user's own, in the right places, but not written by
    symgrad: bytecode and Numba pickles without a valid signature."""
    import marshal
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    _run(cache)
    module = _module_of(cache)
    payload = f"open({str(marker)!r}, 'w').write('ran')"
    code = compile(payload + "\n" + module.read_text(), str(module), "exec")
    bytecode = cache / "__pycache__" / (module.stem + ".code")
    planted = {bytecode: os.urandom(32) + marshal.dumps(code)}
    for f in cache.glob("__pycache__/*.nb[ic]"):
        planted[f] = pickle.dumps(_Payload(str(marker)))
    assert len(planted) >= 3
    for f, data in planted.items():
        f.write_bytes(data)
    _run(cache)
    assert not marker.exists(), "a planted cache file ran"
    for f, data in planted.items():
        assert f.read_bytes() != data, f"{f.name} was not replaced"


def test_the_numba_disk_cache_still_loads_in_a_new_process(tmp_path):
    cache = tmp_path / "cache"
    _run(cache)
    before = _snapshot(cache)
    _run(cache)
    after = _snapshot(cache)
    # nothing compiled or written again; only the index's time (its last use) moves
    assert before.keys() == after.keys()
    for name in before:
        if not name.endswith(".nbi"):
            assert before[name] == after[name], name
        else:
            assert before[name][3] == after[name][3], name


# 2. a folder others can write is refused

def _refused(folder, k=5):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _compile_and_check(folder, k)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert compiled.path is None, "the folder was used"
    assert any("compiling without the disk cache" in m and str(folder) in m
               for m in messages), messages
    return messages


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o730, 0o703, 0o1777])
def test_a_folder_others_can_write_is_refused(tmp_path, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(mode)
    before = _snapshot(folder)
    messages = _refused(folder)
    assert any("writable by others" in m for m in messages), messages
    assert _snapshot(folder) == before  # nothing read, nothing written


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a folder to another user needs root")
def test_a_folder_owned_by_another_user_is_refused(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    messages = _refused(folder, k=6)
    assert any("owned by" in m for m in messages), messages
    assert list(folder.iterdir()) == []


def test_a_folder_below_one_others_can_write_is_refused(tmp_path):
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)  # anyone may rename the cache folder away and put theirs
    folder = parent / "cache"
    folder.mkdir(mode=0o700)
    _refused(folder, k=7)


def test_a_folder_below_a_sticky_one_is_used(tmp_path):
    parent = tmp_path / "tmp-like"
    parent.mkdir()
    parent.chmod(0o1777)  # like /tmp: others cannot rename or delete what is ours
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        compiled = _compile_and_check(parent / "cache", k=8)
    assert compiled.path is not None


def test_a_missing_folder_is_made_private(tmp_path):
    folder = tmp_path / "new" / "deeper"
    compiled = _compile_and_check(folder, k=9)
    assert compiled.path is not None
    for p in (tmp_path / "new", folder, folder / "__pycache__"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p


# 2. symbolic links are replaced, never followed

@pytest.mark.parametrize("content", ["same", "other"])
def test_a_symlinked_module_file_is_replaced(tmp_path, content):
    cache = tmp_path / "cache"
    compiled = _compile_and_check(tmp_path / "first", k=10)
    cache.mkdir(mode=0o700)
    outside = tmp_path / "outside.py"
    outside.write_text(compiled.source if content == "same" else "# someone else's file\n")
    module = cache / Path(compiled.path).name
    module.symlink_to(outside)
    before = _snapshot(tmp_path)["outside.py"]
    again = _compile_and_check(cache, k=10)
    assert Path(again.path) == module
    assert not module.is_symlink() and module.read_text() == compiled.source
    assert _snapshot(tmp_path)["outside.py"] == before


def test_a_symlinked_pycache_folder_is_replaced(tmp_path):
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    cache.mkdir(mode=0o700)
    outside.mkdir()
    (outside / "keep").write_text("mine")
    (cache / "__pycache__").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    compiled = _compile_and_check(cache, k=11)
    assert compiled.path is not None
    assert not (cache / "__pycache__").is_symlink()
    assert list((cache / "__pycache__").glob("*.nb[ic]")), "Numba wrote no cache files"
    assert _snapshot(outside) == before


def test_symlinked_numba_files_are_never_read_or_written_through(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    _run(cache)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index").write_bytes(pickle.dumps(_Payload(str(marker))))
    (outside / "data").write_bytes(pickle.dumps(_Payload(str(marker))))
    for f in cache.glob("__pycache__/*.nb[ic]"):
        f.unlink()
        f.symlink_to(outside / ("index" if f.suffix == ".nbi" else "data"))
    before = _snapshot(outside)
    _run(cache)
    assert not marker.exists(), "a symlinked Numba cache file was unpickled"
    assert _snapshot(outside) == before
    files = list(cache.glob("__pycache__/*.nb[ic]"))
    assert files and not any(f.is_symlink() for f in files)


# 3. private files

def _modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.lstat().st_mode)
            for p in [folder, *folder.rglob("*")]}


@pytest.mark.parametrize("umask", ["022", "000"])
def test_every_cache_file_is_private(tmp_path, umask):
    cache = tmp_path / "cache"
    _run(cache, umask)
    modes = _modes(cache)
    assert any(name.endswith(".nbc") for name in modes), modes
    for name, mode in modes.items():
        assert mode == (0o700 if (cache / name).is_dir() else 0o600), (name, oct(mode))


def test_loose_files_of_an_older_cache_are_made_private(tmp_path):
    cache = tmp_path / "cache"
    _run(cache)
    (cache / "__pycache__").chmod(0o755)  # as an older symgrad and Numba left them
    for f in [*cache.glob("*.py"), *cache.glob("__pycache__/*.nb[ic]")]:
        f.chmod(0o644)
    _run(cache)
    modes = _modes(cache)
    del modes["."]  # a folder symgrad did not make keeps its mode
    for name, mode in modes.items():
        assert not mode & 0o077, (name, oct(mode))
