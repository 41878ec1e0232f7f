"""Where compiled code goes: the cache folder follows the platform's
convention (``$SYMGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME`` and friends),
and everything compiled is written under it: the kernels, and the machine
code of the helpers they call (``codegen.vmath``, ``codegen.runtime``),
which Numba's ``cache=True`` used to write beside the package."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import symgrad
import symgrad_codegen
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from symgrad_codegen import cache_folder, numba_internals, vmath
from symgrad.numba_backend import cache_dir

HOME = "/home/ada"


@pytest.fixture
def platform(monkeypatch):
    """Set ``sys.platform`` and the environment as on another system."""
    for name in ("XDG_CACHE_HOME", "LOCALAPPDATA", "SYMGRAD_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", HOME)

    def on(name, **environment):
        monkeypatch.setattr(sys, "platform", name)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
    return on


@pytest.mark.parametrize("system, environment, folder", [
    ("linux", {}, f"{HOME}/.cache/symgrad"),
    ("linux", {"XDG_CACHE_HOME": "/srv/cache"}, "/srv/cache/symgrad"),
    ("linux", {"XDG_CACHE_HOME": "relative/cache"}, f"{HOME}/.cache/symgrad"),  # invalid: ignored
    ("linux", {"XDG_CACHE_HOME": ""}, f"{HOME}/.cache/symgrad"),
    ("freebsd14", {"XDG_CACHE_HOME": "/srv/cache"}, "/srv/cache/symgrad"),
    ("darwin", {"XDG_CACHE_HOME": "/srv/cache"}, f"{HOME}/Library/Caches/symgrad"),
    ("win32", {"LOCALAPPDATA": "/c/Users/ada/AppData/Local"},
     "/c/Users/ada/AppData/Local/symgrad/Cache"),
    ("win32", {}, f"{HOME}/AppData/Local/symgrad/Cache"),
])
def test_the_default_folder_follows_the_platform(platform, system, environment, folder):
    platform(system, **environment)
    assert cache_folder.user_cache_folder("symgrad") == folder
    assert cache_dir() == folder


def test_symgrad_cache_dir_wins_when_set(platform):
    platform("linux", XDG_CACHE_HOME="/srv/cache", SYMGRAD_CACHE_DIR="/data/kernels")
    assert cache_dir() == "/data/kernels"
    platform("linux", SYMGRAD_CACHE_DIR="")  # empty: not set
    assert cache_dir() == "/srv/cache/symgrad"


def test_the_helpers_cache_in_the_kernels_folder_and_nowhere_without_the_private_api(
        monkeypatch):
    monkeypatch.setenv(numba_internals.ENVIRONMENT_VARIABLE, "0")
    folder = cache_folder.prepare(cache_dir())  # the session's folder (conftest.py)
    secret = cache_folder.secret(folder)
    if not numba_internals.uses("kernel_cache"):
        pytest.skip("this Numba lacks the private pieces of the signed disk cache")
    assert numba_internals.cache_helpers(folder, secret)
    index = numba_internals.cache_index_path(vmath.vexp)
    assert os.path.dirname(index) == os.path.join(folder, "__pycache__")
    assert os.path.basename(index).startswith("vmath.vexp-") and index.endswith(".nbi")
    monkeypatch.setenv(numba_internals.ENVIRONMENT_VARIABLE, "1")
    assert not numba_internals.cache_helpers(folder, secret)
    assert numba_internals.cache_index_path(vmath.vexp) is None  # Numba's null cache again
    monkeypatch.setenv(numba_internals.ENVIRONMENT_VARIABLE, "0")
    assert numba_internals.cache_helpers(folder, secret)
    assert numba_internals.cache_index_path(vmath.vexp) == index


# --- a new process on a read-only copy of the package: what it writes, where

# compiles a kernel calling codegen.vmath (exp, tanh) and codegen.runtime's
# argsort_rows, checks its value against NumPy, and reports what it used
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symgrad as sg
    from symgrad_codegen import numba_internals, runtime, vmath
    from symgrad.numba_backend import cache_dir
    x = sg.vector("x", "n")
    cost = (sg.exp(x) * float(sys.argv[1])).sum() + sg.tanh(sg.argsort(x) * 1.0).sum()
    value = sg.function([x], cost, backend="numba")(np.array([0.5, -1.0, 2.0]))
    want = (np.exp([0.5, -1.0, 2.0]) * float(sys.argv[1])).sum() + np.tanh([1.0, 0.0, 2.0]).sum()
    print(json.dumps({"error": abs(float(value) - want), "cache_dir": cache_dir(),
                      "files": [sg.__file__, vmath.__file__, runtime.__file__],
                      "helpers_cached": numba_internals.uses("kernel_cache")}))
""")


def _files(root):
    """{path: (size, mtime in ns)} of every file below ``root``."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            found[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A read-only copy of the package (as a system install is), and an empty home."""
    root = tmp_path_factory.mktemp("sandbox")
    site = root / "site"
    package = pathlib.Path(symgrad.__file__).parent
    codegen = pathlib.Path(symgrad_codegen.__file__).parent  # beside symgrad/ in a checkout
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(package, site / "symgrad", ignore=skip)
    shutil.copytree(codegen, site / "symgrad_codegen", ignore=skip)
    for folder, _, names in os.walk(site):
        for name in names:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    (root / "home").mkdir()
    yield root
    for folder, _, _ in os.walk(site):
        os.chmod(folder, stat.S_IRWXU)


def _run(sandbox, factor):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SYMGRAD_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR",
                        "SYMGRAD_NUMBA_PUBLIC_API")}
    # -B: Python's own bytecode is not symgrad's to place (a system install ships it)
    env.update(HOME=str(sandbox / "home"), PYTHONPATH=str(sandbox / "site"))
    done = subprocess.run([sys.executable, "-B", "-c", SCRIPT, str(factor)], env=env,
                          cwd=sandbox / "home", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_new_process_writes_nothing_outside_the_cache_folder(sandbox):
    before = _files(sandbox)
    report = _run(sandbox, 2.0)
    assert report["error"] < 1e-12
    assert all(path.startswith(str(sandbox / "site")) for path in report["files"])
    folder = str(sandbox / "home" / ".cache" / "symgrad")
    assert report["cache_dir"] == folder  # the platform's default: nothing was set
    written = {path: st for path, st in _files(sandbox).items() if before.get(path) != st}
    assert written and all(path.startswith(folder + os.sep) for path in written), sorted(written)
    helper_files = [p for p in written if os.path.basename(p).startswith(("vmath.", "runtime."))]
    if not report["helpers_cached"]:  # the public path: no Numba file anywhere
        assert not [p for p in written if p.endswith((".nbi", ".nbc"))]
        return
    names = {os.path.basename(p).split("-")[0] for p in helper_files}
    assert {"vmath.vexp", "vmath.vtanh", "runtime.argsort_rows"} <= names
    # a second process compiling another kernel that calls the same helpers loads
    # them: their files are left as they were, and still nothing is written elsewhere
    before = _files(sandbox)
    assert _run(sandbox, 3.0)["error"] < 1e-12
    after = _files(sandbox)
    assert all(after[p] == before[p] for p in helper_files)
    changed = [p for p, st in after.items() if before.get(p) != st]
    assert changed and all(p.startswith(folder + os.sep) for p in changed), sorted(changed)
