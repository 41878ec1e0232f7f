"""``python -m symgrad``: --help and the usage errors (in a new process, as a
user types them), and the cache command, which shows and empties the folder
of compiled code."""
import os
import subprocess
import sys

import numpy as np
import pytest

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture
from kernel_programs import scaled_square
from symgrad.__main__ import main
from symgrad_codegen import cache_folder, compiler, numba_internals
from symgrad.numba_backend import cache_dir


def _symgrad(*args):
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True,
                          text=True, timeout=120)


def test_help_lists_the_commands_and_exits_0():
    done = _symgrad("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m symgrad [-h] command ...")
    for command in ("demo", "cache"):
        assert f"\n    {command} " in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("args, message", [
    (["compile"], "invalid choice: 'compile' (choose from 'demo', 'cache')"),
    ([], "the following arguments are required: command"),
])
def test_an_unknown_or_missing_command_exits_2_with_the_usage(args, message):
    done = _symgrad(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: python -m symgrad [-h] command ...")
    assert message in done.stderr


@pytest.fixture
def own_cache_folder(tmp_path, monkeypatch):
    """``$SYMGRAD_CACHE_DIR`` set to a new folder; afterwards the helpers cache
    in the session's folder again (a compile in the new folder moved them)."""
    session = cache_dir()
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"
    folder = cache_folder.prepare(session)
    numba_internals.cache_helpers(folder, cache_folder.secret(folder))


def _files(folder):
    return sorted(os.path.relpath(os.path.join(where, name), folder)
                  for where, _, names in os.walk(folder) for name in names)


def test_cache_shows_the_folder_and_clear_deletes_what_symgrad_wrote(own_cache_folder, capsys):
    assert main(["cache"]) == 0
    assert capsys.readouterr().out == f"{own_cache_folder}: 0 files, 0.0 MiB\n"
    compiled = compiler.compile_program(scaled_square(7.25), str(own_cache_folder))
    np.testing.assert_array_equal(compiled.function(np.arange(3.0), 3)[0], [0.0, 7.25, 29.0])
    written = _files(own_cache_folder)
    assert f"kernel_{compiled.key}.py" in written and "__pycache__/cache-secret" in written
    (own_cache_folder / "notes.txt").write_text("mine")  # not symgrad's: stays
    (own_cache_folder / "__pycache__" / "link").symlink_to(own_cache_folder / "notes.txt")
    size = sum(os.lstat(own_cache_folder / name).st_size for name in written)
    size += os.lstat(own_cache_folder / "__pycache__" / "link").st_size

    assert main(["cache"]) == 0
    assert capsys.readouterr().out == (f"{own_cache_folder}: {len(written) + 2} files, "
                                       f"{(size + 4) / 2**20:.1f} MiB\n")
    assert main(["cache", "--clear"]) == 0
    assert capsys.readouterr().out == (f"deleted {len(written) + 1} files "
                                       f"({size / 2**20:.1f} MiB) from {own_cache_folder}\n")
    assert _files(own_cache_folder) == ["notes.txt"]  # the link deleted, not followed
    assert (own_cache_folder / "notes.txt").read_text() == "mine"
    # the next compile makes the folder again
    again = compiler.compile_program(scaled_square(7.5), str(own_cache_folder))
    np.testing.assert_array_equal(again.function(np.arange(2.0), 2)[0], [0.0, 7.5])
    assert f"kernel_{again.key}.py" in _files(own_cache_folder)


def test_clear_on_a_missing_folder_deletes_nothing(own_cache_folder, capsys):
    assert main(["cache", "--clear"]) == 0
    assert capsys.readouterr().out == f"deleted 0 files (0.0 MiB) from {own_cache_folder}\n"
    assert not own_cache_folder.exists()
