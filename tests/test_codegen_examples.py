"""The examples in codegen's docstrings, run under the name it installs as,
``symgrad_codegen`` (pytest's ``--doctest-modules`` would import the folder a
second time as a top-level ``codegen``, with its own copy of every module)."""
import doctest
import importlib
import pkgutil

import pytest

import symgrad_codegen

MODULES = ["symgrad_codegen"] + [
    info.name for info in pkgutil.iter_modules(symgrad_codegen.__path__, "symgrad_codegen.")]


def test_codegen_installs_under_symgrad():
    assert symgrad_codegen.__name__ == "symgrad_codegen"
    assert len(MODULES) > 5


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert failed == 0, f"{failed} of {tried} examples in {name} failed (printed above)"
