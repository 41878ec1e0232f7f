"""The disk cache of compiled functions under damage, denial and races.

Each scenario runs the compile in fresh Python processes (as a user would
meet it: a new session finding an old cache folder) and compares their
results with a NumPy formula. Damaged entries, an unwritable folder and two
processes compiling one graph at once must all still give correct results
(recompiling or running uncached), never a crash or a stale function.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

REPO = Path(__file__).resolve().parent.parent

# a graph whose formula (the factor k) and constant array (w) come from argv
SCRIPT = """
import json, sys
import numpy as np
import symgrad as sg
k, w = float(sys.argv[1]), np.array(json.loads(sys.argv[2]))
x = sg.vector("x", 4)
y = (sg.tanh(x * k) ** 2 * sg.constant(w)).sum()
f = sg.function([x], [y, sg.grad(y, x)])
value, grad = f(np.linspace(-1.0, 1.0, 4))
print(json.dumps([float(value)] + grad.tolist()))
"""
W = [1.0, 2.0, 3.0, 4.0]


def _expected(k, w):
    x, w = np.linspace(-1.0, 1.0, 4), np.array(w)
    t = np.tanh(k * x)
    return [float((t * t * w).sum())] + (2 * t * (1 - t * t) * k * w).tolist()


def _start(cache, k=2.0, w=W):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, repr(k), json.dumps(w)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process, k=2.0, w=W):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    np.testing.assert_allclose(json.loads(out.splitlines()[-1]), _expected(k, w), rtol=1e-13)


def _run(cache, k=2.0, w=W):
    _finish(_start(cache, k, w), k, w)


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A cache folder holding the compiled graph (k = 2), and its files."""
    cache = tmp_path_factory.mktemp("warm-cache")
    _run(cache)
    return cache


def _copy_of(warm, tmp_path):
    import shutil
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    return cache


def _damage_module(cache, how):
    (module,) = cache.glob("kernel_*.py")
    text = module.read_text()
    # half a file; or whole lines only, still valid Python but another function
    module.write_text(text[:len(text) // 2] if how == "truncated" else
                      "\n".join(text.splitlines()[:8]) + "\n")


def test_a_second_process_reuses_the_entry(warm_cache, tmp_path):
    cache = _copy_of(warm_cache, tmp_path)
    before = sorted(p.name for p in cache.rglob("*"))
    _run(cache)
    assert sorted(p.name for p in cache.rglob("*")) == before  # nothing new compiled


@pytest.mark.parametrize("how", ["truncated", "cut at a line"])
def test_a_damaged_module_file_is_recompiled(warm_cache, tmp_path, how):
    cache = _copy_of(warm_cache, tmp_path)
    _damage_module(cache, how)
    _run(cache)


def test_a_damaged_numba_cache_file_is_recompiled(warm_cache, tmp_path):
    cache = _copy_of(warm_cache, tmp_path)
    files = list(cache.glob("__pycache__/*.nb*"))
    assert files, "Numba wrote no cache files"
    for f in files:
        f.write_bytes(b"\x80\x04garbage")
    _run(cache)


def test_an_unwritable_cache_folder_runs_uncached(tmp_path):
    # CI runs as root, where chmod does not deny writes: a folder below a regular
    # file can be created by nobody
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _run(blocker / "cache")


def test_two_processes_compiling_one_graph_at_once(tmp_path):
    cache = tmp_path / "race"
    first, second = _start(cache), _start(cache)
    _finish(first)
    _finish(second)
    _run(cache)  # and the entry they left behind works


def test_a_changed_graph_never_gets_a_stale_function(tmp_path):
    cache = tmp_path / "cache"
    _run(cache, k=2.0, w=W)
    _run(cache, k=3.0, w=W)              # another formula: another entry
    _run(cache, k=2.0, w=[4.0, 3.0, 2.0, 1.0])  # same code, new constants: passed as arguments
    _run(cache, k=2.0, w=W)              # the first graph again, from the cache
    assert len(list(cache.glob("kernel_*.py"))) == 2


def test_cache_false_writes_nothing(tmp_path, monkeypatch):
    import importlib
    Function = importlib.import_module("symgrad.function").Function
    import symgrad as sg
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "unused"))
    x = sg.vector("x", 4)
    y = (sg.sin(x) * 1.25).sum()
    f = Function([x], [y, sg.grad(y, x)], backend="numba", cache=False)
    value, grad = f(np.linspace(0, 1, 4))
    np.testing.assert_allclose(grad, 1.25 * np.cos(np.linspace(0, 1, 4)), rtol=1e-14)
    assert not (tmp_path / "unused").exists()


def test_cache_folder_is_the_environment_variable_else_the_user_cache(monkeypatch, tmp_path):
    from symgrad.numba_backend import cache_dir
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("SYMGRAD_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == str(tmp_path / ".cache" / "symgrad")
