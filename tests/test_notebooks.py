"""The notebooks in notebooks/ run top to bottom without a cell error, each
within its time limit, and show their pictures.

Each notebook runs in a fresh Jupyter kernel (nbclient) with matplotlib's
inline backend, which draws with Agg; the kernel inherits the session's
``$SYMGRAD_CACHE_DIR`` (see conftest.py), so compilation is included in the
time. The committed files carry no outputs.
"""
import pathlib
import shutil
import time

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebooks need the 'notebooks' extra")
nbclient = pytest.importorskip("nbclient", reason="notebooks need the 'notebooks' extra")
pytest.importorskip("matplotlib", reason="notebooks need the 'notebooks' extra")
pytest.importorskip("ipykernel", reason="notebooks need the 'notebooks' extra")

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01_computation_graphs", "02_matrix_gradients", "03_gradient_checking",
         "04_window_classifier", "05_nonlinearities_init_optimisers"]
SECONDS = 120          # the limit per notebook (the "under two minutes")
PICTURES = ("image/png", "image/svg+xml")


def test_the_notebooks_are_the_five_lessons():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    with_outputs = [i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{name}: strip the outputs of cells {with_outputs} before committing"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, monkeypatch):
    if name == "01_computation_graphs" and shutil.which("dot") is None:
        pytest.skip("drawing computation graphs needs the Graphviz 'dot' program")
    for needed, lesson in (("graphviz", "01_"), ("sklearn", "05_")):  # graph pictures, digits
        if name.startswith(lesson):
            pytest.importorskip(needed, reason="notebooks need the 'notebooks' extra")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()          # raises CellExecutionError, with the cell and traceback
    seconds = time.perf_counter() - start
    assert seconds < SECONDS, f"{name} took {seconds:.0f} s; the limit is {SECONDS} s"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    pictures = [o for o in outputs if any(k in o.get("data", {}) for k in PICTURES)]
    assert pictures, f"{name} showed no pictures"
    print(f"{name}: {seconds:.1f} s, {len(pictures)} pictures")
