"""Session setup for the whole suite (owned by the Numba-backend work, issue 3).

* Generated Numba modules go to a fresh temporary cache folder per test
  session (``$SYMGRAD_CACHE_DIR``), unless the caller already set one.
* Numba warnings (object-mode fallbacks, performance warnings such as an
  array copy in ``np.dot``) fail the test that triggers them.
* ``pytest --backend=numba`` runs every test that compiles with
  ``sg.function(..., backend="numpy")`` or ``sg.value_and_grad(...,
  backend="numpy")`` on the Numba backend instead, so the whole suite checks
  both backends: ``pytest`` then ``pytest --backend=numba``.
"""
import os
import tempfile

import pytest


def pytest_addoption(parser):
    parser.addoption("--backend", default="numpy", choices=("numpy", "numba"),
                     help="backend that tests asking for backend='numpy' actually use")


def pytest_configure(config):
    if not os.environ.get("SYMGRAD_CACHE_DIR"):
        os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")
    config.addinivalue_line("filterwarnings", "error::numba.core.errors.NumbaWarning")


@pytest.fixture(autouse=True)
def _compile_backend(request, monkeypatch):
    if request.config.getoption("--backend") != "numba":
        return
    import importlib

    import symgrad
    function_module = importlib.import_module("symgrad.function")  # the module, not sg.function

    def rerouted(make):
        def make_with_numba(*args, **kwargs):
            if kwargs.get("backend") == "numpy":
                kwargs["backend"] = "numba"
            return make(*args, **kwargs)
        return make_with_numba

    for name in ("function", "value_and_grad"):
        original = getattr(function_module, name)
        monkeypatch.setattr(symgrad, name, rerouted(original))
