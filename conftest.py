"""The docstring examples of modules that need an optional package (an extra
of setup.cfg) skip, naming the extra, where that package is missing; test
files say so themselves with ``pytest.importorskip``."""
import importlib

import pytest

# module file -> (the package its examples import, the extra that installs it)
OPTIONAL = {
    "symgrad/examples/digits.py": ("sklearn", "examples"),
    "symgrad/graphviz_view.py": ("graphviz", "graphviz"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.path.relative_to(config.rootpath).as_posix() \
            if item.path.is_relative_to(config.rootpath) else None
        if path in OPTIONAL and not _importable(OPTIONAL[path][0]):
            package, extra = OPTIONAL[path]
            item.add_marker(pytest.mark.skip(
                reason=f"needs {package}: pip install -e \".[{extra}]\""))


def _importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
