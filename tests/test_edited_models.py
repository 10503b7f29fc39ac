"""Edits do not break the exercises. A learner edits a step's model in its notebook, as the
workbook invites; here each step's model gains one layer (a padded 3x3 conv block after its
second block, which keeps every later shape), and the notebook then runs top to bottom in
smoke mode: its training, pictures and exercise checks must all run without an error, and
no check may fall back to "could not be checked". What this catches: a check, hint or figure
that indexes the model by position (`list(model)[:6]`) or types in a size (16 channels)."""
import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from utils.data import data_root
from utils.report import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
STEPS = {  # notebook: the class of its model, written out in one of its cells
    "01_baseline.ipynb": "BaselineCNN", "02_skeleton.ipynb": "Skeleton", "03_light.ipynb": "LightSkeleton",
    "04_batchnorm.ipynb": "LightBN", "05_dropout.ipynb": "LightBNDropout", "06_gap.ipynb": "LightGAP",
    "07_capacity.ipynb": "FinalNet", "08_augmentation.ipynb": "FinalNet", "09_schedule.ipynb": "FinalNet",
    "10_lighter_dropout.ipynb": "FinalNet", "11_head_dropout.ipynb": "FinalNet",
}
SECOND_BLOCK = re.compile(r"^(?P<indent>\s+)(?P<line>(conv_block|nn\.Conv2d)\((?P<cin>\d+), (?P<cout>\d+)[^\n]*)$", re.M)


def with_extra_layer(source):
    """The model's source with one more layer after its second conv: same channels in and
    out, padded, so no later layer changes; the layer is of the kind the model uses."""
    second = list(SECOND_BLOCK.finditer(source))[1]
    c, line = second["cout"], second["line"]
    if line.startswith("nn.Conv2d"):
        extra = f"nn.Conv2d({c}, {c}, 3, padding=1), nn.ReLU(),  # the learner's extra layer"
    else:
        options = "".join(o for o in (", bn=False", ", dropout=dropout") if o in line)
        extra = f"conv_block({c}, {c}, padding=1{options}),  # the learner's extra layer"
    at = second.end()
    return source[:at] + "\n" + second["indent"] + extra + source[at:]


def model_cell(nb, name):
    cells = [c for c in nb.cells if c.cell_type == "code" and f"class {STEPS[name]}(nn.Sequential)" in c.source]
    assert len(cells) == 1, f"{name}: the cell that writes out {STEPS[name]}"
    return cells[0]


@pytest.mark.parametrize("name", sorted(STEPS))
def test_the_extra_layer_keeps_the_shapes_and_adds_parameters(name):
    import torch
    from torch import nn
    from utils import models
    source = model_cell(nbformat.read(NOTEBOOKS / name, as_version=4), name).source
    built = {}
    for text in (source, with_extra_layer(source)):
        names = dict(nn=nn, conv_block=models.conv_block, transition_block=models.transition_block)
        exec(text, names)
        built[text == source] = names[STEPS[name]]()
    original, edited = built[True], built[False]
    assert edited(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in edited.parameters()) > sum(p.numel() for p in original.parameters())


@pytest.mark.parametrize("name", sorted(STEPS))
def test_a_step_runs_with_its_model_edited_exercises_included(name, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    monkeypatch.setenv("MNIST_ROOT", str(data_root().resolve()))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = model_cell(nb, name)
    cell.source = with_extra_layer(cell.source)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
    assert not errors, errors
    text = json.dumps([o.get("text", "") for o in outputs])
    assert "could not be checked" not in text
