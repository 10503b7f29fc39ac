"""Every training step's committed weights: what a notebook loads with TRAIN = False. They
reproduce the step's committed final accuracy, and an edited model is trained instead."""
import json

import pytest
import torch
from torch import nn

from utils import data, train
from utils.models import build_model
from utils.report import ASSETS

# The training notebooks: the steps of the path and the bonus -> their model in utils.models.
STEPS = {"01": "baseline", "02": "skeleton", "03": "light", "04": "light_bn",
         "05": "light_bn_dropout", "06": "light_gap", "07": "final", "08": "final", "09": "final",
         "10": "final", "11": "final", "13": "separable"}
COMMITTED = [step for step in STEPS if train.committed_weights(step).exists()]


def committed_history(step):
    return json.loads((ASSETS / "metrics" / f"{step}.json").read_text())["history"]


def committed_model(step):
    """The model a step's weights were saved from: its name and the options it was built
    with (steps 07 to 10 build FinalNet with other Dropout settings), as the file records them."""
    saved = torch.load(train.committed_weights(step), weights_only=True)
    assert saved["model"] == STEPS[step]
    return build_model(saved["model"], **saved["options"])


@pytest.mark.parametrize("step", COMMITTED)
def test_committed_weights_reproduce_the_steps_final_accuracy(step):
    """Equal on the kind of CPU that made them; another CPU's float rounding may flip a
    borderline image or two of the 10,000 (0.01 point each), which is allowed and no more."""
    model = train.load_weights(committed_model(step), train.committed_weights(step))
    _, test_loader = data.fast_loaders()
    _, accuracy = train.evaluate(model, test_loader)
    assert accuracy == pytest.approx(committed_history(step)[-1]["test_acc"], abs=0.021)


def test_every_training_step_has_committed_weights():
    assert COMMITTED == list(STEPS)


def test_train_false_loads_the_weights_and_the_history(capsys):
    model = build_model("final")
    history = train.load_committed_run("11", model)
    assert history == committed_history("11")
    saved = torch.load(train.committed_weights("11"), weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    out = capsys.readouterr().out
    assert "TRAIN = False: loaded the committed weights of step 11" in out
    # and the log as the committed run printed it, every epoch, in fit's own format
    assert out.count("\nepoch ") == len(history) and train.epoch_line(history[-1], len(history)) in out


def test_an_edited_model_is_trained_instead_of_failing(capsys):
    edited = build_model("final")
    edited[-2] = nn.Conv2d(24, 10, 1, bias=False)  # the learner changed the classifier
    assert train.load_committed_run("11", edited) is None
    assert "do not fit the model in the cell" in capsys.readouterr().out


def test_a_step_without_committed_weights_is_trained(capsys):
    assert train.load_committed_run("99", build_model("final")) is None
    assert "has no committed weights" in capsys.readouterr().out


@pytest.mark.parametrize("value, expected", [(None, True), ("1", True), ("0", False)])
def test_the_train_switch_defaults_to_training_unless_workbook_train_is_0(value, expected,
                                                                         monkeypatch):
    monkeypatch.delenv("WORKBOOK_TRAIN", raising=False)
    if value is not None:
        monkeypatch.setenv("WORKBOOK_TRAIN", value)
    assert train.train_switch() is expected


@pytest.mark.parametrize("gpu, workbook_train, expected", [
    (False, None, False), (True, None, True), (False, "1", True), (False, "0", False)])
def test_in_colab_without_a_gpu_the_switch_loads_the_committed_run_and_says_how_to_train(
        gpu, workbook_train, expected, monkeypatch, capsys):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.delenv("WORKBOOK_TRAIN", raising=False)
    if workbook_train is not None:
        monkeypatch.setenv("WORKBOOK_TRAIN", workbook_train)
    assert train.train_switch() is expected
    err = capsys.readouterr().err
    warned = not gpu and workbook_train is None
    assert ("WARNING: no GPU in this Colab runtime, so TRAIN = False" in err) is warned
    assert ("Runtime > Change runtime type" in err and "TRAIN = True in this cell" in err) is warned


# The seed-0 run of the command line with each step's options, as its seed study recorded it.
STUDY_OF_STEP = {**{step: f"steps/{step}.json" for step in STEPS if step <= "10"},
                 "11": "seeds.json", "13": "decisions/s13_decided_seed0.json"}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_notebooks_run_equals_the_command_lines_run_with_the_same_seed(step):
    """What the glossary promises: the same seed on the same machine gives the same run. Each
    notebook trains with seed 0, and its seed study ran `python -m utils.train` with the same
    options for seeds 0, 1, ...: their test accuracies agree epoch for epoch. A notebook cell
    that draws random numbers between the seeding and the training (a train-mode summary, a
    batch shown from the training loader) breaks this, and so does a recipe that drifts."""
    study = json.loads((ASSETS / STUDY_OF_STEP[step]).read_text())
    seed0 = next(run for run in study["per_seed"] if run["seed"] == 0)
    committed = json.loads((ASSETS / "metrics" / f"{step}.json").read_text())
    assert seed0["params"] == committed["params"]
    assert [h["test_acc"] for h in committed["history"]] == seed0["test_acc"]
