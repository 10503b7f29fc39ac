"""The setup cell, the first code a learner runs, works wherever a notebook is opened: from
the repository's root or any folder inside it (it finds utils/ by looking upward), and alone
in an empty folder, in Colab or not (it clones the workbook). The clone is served from this
checkout by git's url.<base>.insteadOf, so these tests need no network."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from utils import data, repository
from utils.report import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "09_schedule.ipynb"
SETUP_CELL = "".join(json.loads(NOTEBOOK.read_text())["cells"][1]["source"])
IS_A_GIT_CHECKOUT = (REPO_ROOT / ".git").exists()


def git_config(tmp_path, serve_from):
    """A git config that answers a clone of the workbook's address from `serve_from`."""
    config = tmp_path / "gitconfig"
    config.write_text(f'[url "{serve_from}"]\n\tinsteadOf = {repository.url()}\n')
    return dict(GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1")


@pytest.mark.parametrize("folder", ["", "notebooks", "assets/metrics"])
def test_the_setup_cell_finds_the_workbook_from_any_folder_inside_it(folder, tmp_path):
    env = dict(os.environ, **git_config(tmp_path, "file:///nowhere"))  # a clone would fail
    probe = SETUP_CELL + "\nprint(root)\nimport utils.train\n"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT / folder, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == REPO_ROOT


@pytest.mark.skipif(not IS_A_GIT_CHECKOUT, reason="the clone is served from this git checkout")
@pytest.mark.parametrize("colab", [True, False], ids=["in Colab", "alone, outside Colab"])
def test_a_notebook_alone_in_an_empty_folder_clones_the_workbook_and_runs(colab, tmp_path,
                                                                         monkeypatch):
    """The committed version is what gets cloned (git clone serves commits, not the work
    tree), as Colab would get it from GitHub."""
    folder = tmp_path / "content"
    folder.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        'print("root:", root)\nprint("colab:", "google.colab" in sys.modules)'))
    ipython_dir = tmp_path / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    if colab:  # a stand-in for Colab's own module, imported when the kernel starts
        (startup / "00-colab.py").write_text(
            "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n")
    for name, value in git_config(tmp_path, f"file://{REPO_ROOT}").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    monkeypatch.setenv("MNIST_ROOT", str(data.data_root().resolve()))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()

    clone = folder / "mnist-sub20k"
    last = "".join(nb.cells[-1].outputs[0]["text"])
    assert f"root: {clone}" in last and f"colab: {colab}" in last
    assert (clone / ".git").exists() and (clone / "runs" / "smoke" / "metrics" / "09.json").exists()
    assert not any(output.get("output_type") == "error" for cell in nb.cells
                   for output in cell.get("outputs", []))
    # In Colab without a GPU (this machine has none), the notebook says so loudly, with the
    # menu path to switch one on; outside Colab it says nothing of the kind.
    printed = "".join("".join(output.get("text", "")) for cell in nb.cells
                      for output in cell.get("outputs", []))
    assert ("no GPU in this Colab runtime" in printed
            and "Runtime > Change runtime type" in printed) == (colab and not torch.cuda.is_available())
    # and there a step loads its committed run rather than stall a lesson on the CPU
    assert ("TRAIN = False: loaded the committed weights" in printed) == (colab and not torch.cuda.is_available())


@pytest.mark.skipif(not IS_A_GIT_CHECKOUT, reason="the clone is served from this git checkout")
def test_with_google_drive_mounted_the_workbook_is_cloned_there_once_for_every_notebook(tmp_path):
    """Colab mounts Google Drive at /content/drive/MyDrive; here a folder stands in for it.
    The first notebook clones the workbook into it; a notebook opened later, from another
    empty folder (another runtime), finds it there and clones nothing."""
    drive = tmp_path / "MyDrive"
    drive.mkdir()
    cell = SETUP_CELL.replace('"/content/drive/MyDrive"', f'"{drive}"')
    assert cell != SETUP_CELL
    probe = cell + "\nprint(root)\n"
    for runtime, serve_from in [("first", f"file://{REPO_ROOT}"), ("second", "file:///nowhere")]:
        folder = tmp_path / runtime
        folder.mkdir()
        env = dict(os.environ, **git_config(tmp_path, serve_from))  # the second cannot clone
        result = subprocess.run([sys.executable, "-c", probe], cwd=folder, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert Path(result.stdout.strip()) == drive / "mnist-sub20k"
        assert not (folder / "mnist-sub20k").exists()
