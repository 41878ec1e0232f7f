"""The kernel cache folder's size limit (issue 19): ``$SYMGRAD_CACHE_MAX_MB``
MiB, default 512, kept by deleting the least recently used entries when a new
one is written; entries used or written in the last few minutes stay, and
processes trimming one folder at once never break each other's kernels."""
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symgrad_codegen import cache_folder, compiler
from kernel_programs import scaled_square
from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

REPO = Path(__file__).resolve().parent.parent




def _compile_and_check(folder, k):
    compiled = compiler.compile_program(scaled_square(k), str(folder))
    assert compiled.path is not None
    (y,) = compiled.function(np.arange(4.0), 4)
    np.testing.assert_array_equal(y, k * np.arange(4.0) ** 2)
    return compiled


def _entries(folder):
    """{key: bytes} of the entries in ``folder``."""
    sizes = {}
    for p in [*folder.glob("kernel_*"), *folder.glob("__pycache__/kernel_*")]:
        key = cache_folder.entry_key(p.name)
        sizes[key] = sizes.get(key, 0) + p.stat().st_size
    return sizes


def _age(folder, key, seconds):
    """Make every file of the entry ``key`` last used ``seconds`` ago."""
    when = time.time() - seconds
    for p in [*folder.glob(f"kernel_{key}*"), *folder.glob(f"__pycache__/kernel_{key}*")]:
        os.utime(p, (when, when))


@pytest.fixture
def fresh(monkeypatch):
    """No kernels remembered in this process: each compile goes to the disk."""
    monkeypatch.setattr(compiler, "_loaded", {})


def test_the_least_recently_used_entries_are_evicted_down_to_the_limit(tmp_path, monkeypatch,
                                                                        fresh):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "inf")
    keys = [_compile_and_check(folder, k).key for k in (21, 22, 23, 24)]
    for age, key in zip((4000, 3000, 2000, 1000), keys):  # 21 oldest, then 22, 23, 24
        _age(folder, key, age)
    monkeypatch.setattr(compiler, "_loaded", {})
    _compile_and_check(folder, 21)  # used again (a load from the disk): now the newest
    size = max(_entries(folder).values())
    limit = 2.5 * size
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", repr(limit / 2**20))
    new = _compile_and_check(folder, 25).key
    left = _entries(folder)
    assert set(left) == {keys[0], new}, "not the least recently used first"
    assert sum(left.values()) <= limit
    # the count it keeps is private too
    assert stat.S_IMODE((folder / cache_folder.SIZE_FILE).stat().st_mode) == 0o600
    # an evicted graph compiles again
    assert _compile_and_check(folder, 22).key == keys[1]


def test_entries_in_use_stay_even_over_the_limit(tmp_path, monkeypatch, fresh):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "0")
    first = _compile_and_check(folder, 31).key
    second = _compile_and_check(folder, 32).key
    assert set(_entries(folder)) == {first, second}  # both just written: never evicted
    _age(folder, first, 3600)
    _compile_and_check(folder, 33)
    assert first not in _entries(folder)


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("SYMGRAD_CACHE_MAX_MB", raising=False)
    assert cache_folder.limit_bytes() == 512 * 2**20
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "0.5")
    assert cache_folder.limit_bytes() == 2**19
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "inf")
    assert cache_folder.limit_bytes() == float("inf")
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", bad)
        with pytest.warns(RuntimeWarning, match="SYMGRAD_CACHE_MAX_MB"):
            assert cache_folder.limit_bytes() == 512 * 2**20


def _fake_entry(folder, key, nbytes, age):
    (folder / "__pycache__").mkdir(exist_ok=True)
    pycache = folder / "__pycache__"
    files = [folder / f"kernel_{key}.py", pycache / f"kernel_{key}.kernel-8.py311.nbi",
             pycache / f"kernel_{key}.kernel-8.py311.1.nbc"]
    for f, n in zip(files, (100, 100, nbytes - 200)):
        f.write_bytes(b"x" * n)
    when = time.time() - age
    for f in files:
        os.utime(f, (when, when))


def test_evict_counts_whole_entries_and_leaves_other_files(tmp_path):
    now = time.time()
    keys = [f"{i:032x}" for i in range(6)]
    for i, key in enumerate(keys):
        _fake_entry(tmp_path, key, 1000, age=10000 - 1000 * i)  # key 0 the oldest
    (tmp_path / "notes.txt").write_text("not the cache's")
    stale, young = (tmp_path / "__pycache__" / f"kernel_{keys[5]}.nbi.tmp.1",
                    tmp_path / "__pycache__" / f"kernel_{keys[5]}.nbi.tmp.2")
    for f, age in ((stale, 7200), (young, 0)):
        f.write_bytes(b"x" * 10)
        os.utime(f, (now - age, now - age))
    left = cache_folder.evict(str(tmp_path), limit=4000, keep={keys[1]}, now=now, grace=0)
    # 6010 bytes over 4000: down to at most 3600, oldest first, keys[1] kept
    assert set(_entries(tmp_path)) == {keys[1], keys[4], keys[5]}
    assert left == 3010
    assert not stale.exists() and young.exists() and (tmp_path / "notes.txt").exists()
    assert cache_folder.evict(str(tmp_path), limit=4000, now=now) == 3010  # under: nothing
    # nothing used within the grace period goes, whatever the limit
    cache_folder.evict(str(tmp_path), limit=0, now=now, grace=20000)
    assert set(_entries(tmp_path)) == {keys[1], keys[4], keys[5]}


SCRIPT = """
import json, sys
import numpy as np
import symgrad_codegen.cache_folder
symgrad_codegen.cache_folder.GRACE_SECONDS = 0  # evict anything of anyone's at once: the worst case
import symgrad as sg
out = []
for k in range(int(sys.argv[1]), int(sys.argv[1]) + 6):
    x = sg.vector("x", 4)
    y = (sg.tanh(x * float(k)) ** 2).sum()
    f = sg.function([x], [y, sg.grad(y, x)])
    value, grad = f(np.linspace(-1.0, 1.0, 4))
    out.append([float(value)] + grad.tolist())
print(json.dumps(out))
"""


def _expected(start):
    x = np.linspace(-1.0, 1.0, 4)
    out = []
    for k in range(start, start + 6):
        t = np.tanh(k * x)
        out.append([float((t * t).sum())] + (2 * t * k / np.cosh(k * x) ** 2).tolist())
    return out


def test_four_processes_trimming_one_tiny_cache_at_once(tmp_path):
    cache = tmp_path / "race"
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache), PYTHONPATH=str(REPO),
               SYMGRAD_CACHE_MAX_MB="0.05")
    starts = (1, 3, 5, 1)  # overlapping graphs: the same entries written and evicted
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(s)], env=env, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for s in starts]
    try:
        for start, process in zip(starts, processes):
            out, err = process.communicate(timeout=600)
            assert process.returncode == 0, err[-3000:]
            np.testing.assert_allclose(json.loads(out.splitlines()[-1]), _expected(start),
                                       rtol=1e-12, atol=1e-13)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert len(list(cache.glob("kernel_*.py"))) <= len(starts)  # trimmed as they went
