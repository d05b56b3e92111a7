"""The Colab notebooks run top to bottom in quick mode (TFESCAPE_QUICK=1), committed without outputs.

Each notebook runs in its own kernel; the kernels (mostly TensorFlow start-up) run side by side, as many
at once as there are CPU cores up to ``PARALLEL_KERNELS``, and each notebook's test reads its own result.
"""

import asyncio
import base64
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colab", "*.ipynb")))
EXPECTED = [
    "01_quickstart.ipynb",
    "02_tail_index.ipynb",
    "03_escape_time.ipynb",
    "04_sharpness.ipynb",
    "05_escape_at_minima.ipynb",
]


def test_all_notebooks_are_here():
    present = [os.path.basename(p) for p in NOTEBOOKS]
    assert [name for name in EXPECTED if name in present] == present, f"unexpected notebooks: {present}"


PARALLEL_KERNELS = 2


def _check_committed_form(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                "commit notebooks with outputs stripped"
            )
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source.startswith("# Install tfescape") and "TFESCAPE_SOURCE" in first_code.source, (
        "the first cell installs tfescape from TFESCAPE_SOURCE"
    )
    assert "TFESCAPE_QUICK" in "".join(c.source for c in nb.cells)


async def _execute_all(paths, parallel):
    """Every notebook executed in its own kernel, ``parallel`` at a time: path -> notebook or exception."""
    gate = asyncio.Semaphore(parallel)

    async def execute(path):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
        )
        async with gate:
            await client.async_execute()  # raises CellExecutionError with the failing cell's traceback
        return nb

    results = await asyncio.gather(*(execute(p) for p in paths), return_exceptions=True)
    return dict(zip(paths, results, strict=True))


@pytest.fixture(scope="module")
def executed_notebooks():
    # The kernels inherit this environment: quick mode, offline, the checkout importable, quiet TensorFlow.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TFESCAPE_QUICK", "1")
        env.setenv("TFESCAPE_OFFLINE", "1")
        env.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        env.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        parallel = max(1, min(PARALLEL_KERNELS, os.cpu_count() or 1))
        return asyncio.run(_execute_all(NOTEBOOKS, parallel))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_in_quick_mode(path, executed_notebooks):
    _check_committed_form(nbformat.read(path, as_version=4))
    nb = executed_notebooks[path]
    if isinstance(nb, BaseException):
        raise nb
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert _assert_figures_are_images(nb), "every notebook shows at least one figure"


def _assert_figures_are_images(nb):
    """Every ``display(...)`` of a figure cell produced a PNG, not the text ``<Figure size ...>``."""
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and "display(plots." in c.source]
    for cell in figure_cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == cell.source.count("display(plots."), (cell.source, cell.outputs)
        for image in images:
            png = base64.b64decode(image["data"]["image/png"])
            assert png.startswith(b"\x89PNG") and len(png) > 10_000, "an empty or broken image"
    return figure_cells


@pytest.mark.slow
def test_install_cell_installs_tfescape_into_a_fresh_environment(tmp_path):
    """The install cell, run as a fresh Colab runtime would: a new venv, no checkout beside the notebook.

    The venv sees this machine's site-packages as a plain path (so TensorFlow is not downloaded again) but
    not its .pth files, so an editable install of tfescape there stays invisible; the cell must pip-install
    TFESCAPE_SOURCE (this checkout's path here; a git URL or the package name on Colab).
    """
    import site
    import subprocess
    import venv

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open(os.path.join(purelib, "host_site_packages.pth"), "w") as handle:
        handle.write("\n".join(site.getsitepackages()) + "\n")
    content = tmp_path / "content"  # Colab's working folder; its parent holds no checkout
    content.mkdir()
    cell = nbformat.read(NOTEBOOKS[0], as_version=4).cells[1].source
    (content / "install_cell.py").write_text(cell)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    find = [python, "-c", "import importlib.util as u; print(u.find_spec('tfescape'))"]
    assert subprocess.run(find, cwd=content, env=env, capture_output=True, text=True).stdout.strip() == "None"

    env.update(TFESCAPE_SOURCE=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([python, "install_cell.py"], cwd=content, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"from {purelib}{os.sep}tfescape" in run.stdout
