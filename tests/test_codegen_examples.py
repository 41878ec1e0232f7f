"""The examples in codegen's docstrings, run under the name it installs as,
``symgrad.codegen`` (pytest's ``--doctest-modules`` would import the folder a
second time as a top-level ``codegen``, with its own copy of every module)."""
import doctest
import importlib
import pkgutil

import pytest

import symgrad.codegen

MODULES = ["symgrad.codegen"] + [
    info.name for info in pkgutil.iter_modules(symgrad.codegen.__path__, "symgrad.codegen.")]


def test_codegen_installs_under_symgrad():
    assert symgrad.codegen.__name__ == "symgrad.codegen"
    assert len(MODULES) > 5


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert failed == 0, f"{failed} of {tried} examples in {name} failed (printed above)"
