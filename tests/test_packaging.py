"""What ``pip install symgrad`` puts on a machine: a wheel built from this
checkout holds two top-level packages, ``symgrad`` and ``symgrad_codegen`` (the
checkout's ``codegen/``, under a name of its own: the unrelated ``codegen``
distribution on the package index installs a top-level ``codegen/``, which must
not collide, and codegen must load without symgrad), every module
of the source, and requires only the core libraries; scikit-learn and
graphviz come with extras."""
import email.parser
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import zipfile

import pytest

from explicit_backends import _skip_in_the_numba_pass  # noqa: F401 - autouse fixture

requirements = pytest.importorskip("packaging.requirements",
                                   reason="reading the wheel's requirements needs 'packaging'")

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE = {"sympy", "numpy", "numba", "scipy", "tqdm", "threadpoolctl"}
# TBB (Numba's fork-safe threading layer) where its wheels exist
CORE |= {"tbb"} if (sys.platform, platform.machine()) in {("linux", "x86_64"),
                                                           ("win32", "AMD64")} else set()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel's file names and its METADATA, built from a copy of the
    checkout (pip builds in the source folder: not in the one others edit)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("symgrad", "codegen"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(source)], capture_output=True, text=True, timeout=300)
    built = list(out.glob("symgrad-*.whl"))
    if done.returncode != 0 or len(built) != 1:
        pytest.skip("cannot build the wheel here (building fetches setuptools from the "
                    f"package index): {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(built[0]) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return names, email.parser.Parser().parsestr(archive.read(metadata).decode())


def test_the_wheel_installs_symgrad_and_its_codegen_with_every_module(wheel):
    names, metadata = wheel
    info = f"symgrad-{metadata['Version']}.dist-info"
    assert {name.split("/")[0] for name in names} == {"symgrad", "symgrad_codegen", info}
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "symgrad").rglob("*.py")
                if "__pycache__" not in p.parts}
    expected |= {f"symgrad_codegen/{p.name}" for p in (ROOT / "codegen").glob("*.py")}
    assert "symgrad_codegen/vmath.py" in expected
    assert expected <= set(names), sorted(expected - set(names))  # a package left out of setup.cfg
    assert not [n for n in names if n.endswith((".nbi", ".nbc", ".pyc"))]  # no cached code


def test_the_wheel_requires_only_the_core_and_the_extras_the_rest(wheel):
    _, metadata = wheel
    required, extras = set(), {}
    for line in metadata.get_all("Requires-Dist"):
        requirement = requirements.Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            required.add(requirement.name)
            continue  # a core requirement (maybe for some platforms only)
        for extra in metadata.get_all("Provides-Extra"):
            if requirement.marker.evaluate({"extra": extra}):
                extras.setdefault(extra, set()).add(requirement.name)
    assert required == CORE
    assert extras["examples"] == {"scikit-learn"}
    assert extras["graphviz"] == {"graphviz"}
    assert {"scikit-learn", "graphviz", "nbclient", "matplotlib"} <= extras["notebooks"]
    assert "pytest" in extras["dev"]


def test_the_installed_codegen_loads_from_any_folder_without_symgrad(tmp_path):
    # from another folder than the checkout, as a user's script runs (an editable
    # install maps symgrad_codegen to the checkout's codegen/ folder)
    script = ("import importlib.util, sys, symgrad_codegen.vmath as v; "
              "assert 'symgrad' not in sys.modules, 'loading codegen loaded symgrad'; "
              "print(v.__name__, importlib.util.find_spec('codegen') is None)")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr
    name, no_top_level = done.stdout.split()
    assert name == "symgrad_codegen.vmath"
    if no_top_level != "True":
        pytest.skip("another distribution named 'codegen' is installed here")
