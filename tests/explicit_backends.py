"""For test modules that choose their backends themselves (``Function(...,
backend=...)`` for both, never rerouted by ``pytest --backend=numba``): such
a module runs identically in CI's default pass and in its ``--backend=numba``
pass, so importing this autouse fixture skips the repeat.
"""
import pytest


@pytest.fixture(scope="module", autouse=True)
def _skip_in_the_numba_pass(request):
    if request.config.getoption("--backend") == "numba":
        pytest.skip("checks both backends explicitly; the default pass already ran it")
