"""The self-checking exercises of the last three steps of the path (09 schedule, 10 lighter
Dropout, 11 head Dropout), run as they stand in the committed notebooks, without a kernel,
against objects built as the notebooks build them (the committed weights where an exercise
measures them, stand-ins where only the check's logic is tested): each says "not answered yet"
for None and nothing else, ✅ for a right answer, ❌ with its hint for a wrong one, and never
raises."""
import ast
import json
import re
from types import SimpleNamespace
from unittest import mock

import torch
from torch import nn

from notebook_cells import code_cell, printed
from utils import data, exercises, models, train
from utils.answers import KEY
from utils.models import FinalNet
from utils.report import REPO_ROOT

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"
CPU = torch.device("cpu")


def run(notebook, text, **names):
    """What the check cell of `notebook` holding `text` prints, run with `names` as its globals."""
    return printed(code_cell(notebook, text), dict(dict(exercises=exercises, torch=torch, nn=nn, data=data,
                                                        train=train, device=CPU), **names))


def defined(notebook, text, name, **names):
    """The function `name` as the notebook's cell holding `text` defines it (its bug included)."""
    scope = dict(dict(torch=torch, nn=nn, data=data, train=train, device=CPU), **names)
    tree = ast.parse(code_cell(notebook, text))
    body = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    exec(compile(ast.Module(body=body, type_ignores=[]), notebook, "exec"), scope)
    return scope[name]


def markdown_code(notebook, text):
    """The fenced Python blocks of the one markdown cell of `notebook` that holds `text`: the code
    of an exercise asked in markdown only, and of its answer."""
    cells = json.loads((REPO_ROOT / "notebooks" / notebook).read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown" and text in "".join(c["source"])]
    assert len(found) == 1, f"{notebook} should have one markdown cell with {text!r}"
    return re.findall(r"```python\n(.*?)```", found[0], flags=re.S)


def fixed(notebook, text, name, old, new, **names):
    """The same function with the line `old` replaced by `new`: the learner's fix."""
    source = code_cell(notebook, text)
    assert source.count(old) == 1, old
    scope = dict(dict(torch=torch, nn=nn, data=data, train=train, device=CPU), **names)
    exec(source.replace(old, new), scope)
    return scope[name]


class Batches:
    """A stand-in loader: `n` batches, and the labels a TensorLoader holds."""
    def __init__(self, n, images=60_000):
        self.n, self.labels = n, torch.zeros(images)

    def __len__(self):
        return self.n


def replay(epochs, steps_per_epoch, pct_start=0.2):
    """The rate of every step of the notebooks' one-cycle schedule, as notebook 09 replays it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.05, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=pct_start,
        div_factor=10, final_div_factor=1000, cycle_momentum=False)
    rates = []
    for _ in range(epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


# --- 09 schedule --------------------------------------------------------------------------------

def settled_weights_check(prediction, loss_at):
    """Notebook 09's exercise 1 with stand-ins for the committed weights and the data: `loss_at`
    maps the rate of the 20 steps (None: no steps) to the test loss they leave."""
    class Net(nn.Module):
        def __init__(self, **options):
            super().__init__()
            self.weight, self.trained_at = nn.Parameter(torch.zeros(1)), None

    def train_one_epoch(net, batches, optimizer, progress):
        assert len(batches) == 20 and not progress
        net.trained_at = optimizer.param_groups[0]["lr"]

    stand_in = SimpleNamespace(load_weights=lambda net, path: net, committed_weights=lambda step: step,
                               train_one_epoch=train_one_epoch,
                               evaluate=lambda net, loader: (loss_at[net.trained_at], 99.0))
    loader = SimpleNamespace(images=torch.zeros(3000, 1, 28, 28), labels=torch.zeros(3000))
    with mock.patch.object(models, "FinalNet", Net):  # the check builds utils' class, which the weights fit
        return run("09_schedule.ipynb", "exercises.check(rate_prediction", rate_prediction=prediction,
                   train=stand_in, data=SimpleNamespace(TensorLoader=lambda *a, **k: iter(range(100))),
                   train_loader=loader, test_loader=loader, augment=None)


def test_09_the_settled_weights_prediction_is_checked_against_the_measurement():
    jitter = {None: 0.016, 0.05: 0.020, 0.0005: 0.0159}  # only the peak rate raises the loss by 5%
    assert settled_weights_check(None, jitter) == NOT_ANSWERED
    for ok in ("c", " C", "(c)"):
        out = settled_weights_check(ok, jitter)
        assert out.startswith("✅") and "0.0160 as committed" in out and "at 0.05: 0.0200" in out, out
    for wrong in ["a", "b", "d"]:
        out = settled_weights_check(wrong, jitter)
        assert out.startswith("❌") and "hint" in out, (wrong, out)
    for nonsense in WRONG + ["e", "ab"]:  # refused before the experiment runs: no training, no hint
        out = settled_weights_check(nonsense, {})  # a training would look up a loss and fail
        assert out.startswith("❌") and "answer with one of a, b, c, d" in out, (nonsense, out)
    for loss_at, right in [({None: 0.016, 0.05: 0.02, 0.0005: 0.02}, "a"),
                           ({None: 0.016, 0.05: 0.0161, 0.0005: 0.0159}, "b"),
                           ({None: 0.016, 0.05: 0.016, 0.0005: 0.02}, "d")]:  # the letter is the measurement's
        assert settled_weights_check(right, loss_at).startswith("✅")
        assert settled_weights_check("c", loss_at).startswith("❌")


def test_09_the_schedule_stepped_once_per_epoch_is_caught_and_the_fix_passes():
    epochs, batches = 15, Batches(40)
    names = dict(EPOCHS=epochs, train_loader=batches, learning_rates=replay(epochs, len(batches)))
    answer = lambda a: run("09_schedule.ipynb", "exercises.check(yours", fixed_rates_seen=a, **names)
    broken = defined("09_schedule.ipynb", "def rates_seen", "rates_seen")
    assert max(broken(epochs, len(batches))) < 0.01  # the bug: the rate hardly leaves its start
    assert answer(None) == NOT_ANSWERED
    out = answer(broken)
    assert out.startswith("❌") and "scheduler.step()" in out, out
    right = fixed("09_schedule.ipynb", "def rates_seen", "rates_seen",
                  "            optimizer.step()\n        scheduler.step()",
                  "            optimizer.step()\n            scheduler.step()")
    assert answer(right).startswith("✅")
    assert answer(lambda epochs, steps: replay(epochs, steps)[:-1]).startswith("❌")  # one step short
    for junk in (3, "abc", lambda: None):
        out = answer(junk)
        assert out.startswith("❌") and "your code stopped with" in out, (junk, out)
    assert "returned None" in answer(lambda epochs, steps: None)  # a forgotten return, named as such
    assert printed(code_cell("09_schedule.ipynb", "def rates_seen"), dict(torch=torch)) == ""  # quiet


def test_09_the_peak_step_of_settings_the_notebook_did_not_use():
    for batches, peak in [(Batches(469), 2344), (Batches(32, images=4096), 159)]:  # full data, smoke mode
        names = dict(train_loader=batches, learning_rates=replay(15, len(batches)))
        answer = lambda a: run("09_schedule.ipynb", "exercises.check(peak_step", peak_step=a, **names)
        assert answer(None) == NOT_ANSWERED
        for ok in (peak, f"0.25 * 20 * {len(batches)} - 1", f"{peak:,}", f"about {peak}"):
            assert answer(ok).startswith("✅"), (ok, batches.n)
        out = answer(peak + 1)  # counted from 1, where the question counts from 0 as the replay does
        assert out.startswith("❌") and "counted from 0" in out, out
        assert "this step's settings" in answer(replay(15, len(batches)).index(0.05))
        assert "counts images" in answer(0.25 * 20 * len(batches.labels))
        for wrong in [peak - 1, peak + 2, 0.2 * 20 * len(batches) - 1, 0.25 * 15 * len(batches) - 1] + WRONG:
            out = answer(wrong)
            assert out.startswith("❌") and "hint" in out, (wrong, out)


# --- 10 lighter Dropout -------------------------------------------------------------------------

def test_10_the_same_weights_measured_at_step_09s_rate_with_the_committed_weights():
    train_loader, _ = data.fast_loaders(batch_size=128)
    answer = lambda a: run("10_lighter_dropout.ipynb", "exercises.check(lower_by", lower_by=a, FinalNet=FinalNet,
                           train_loader=train_loader)
    assert answer(None) == NOT_ANSWERED
    out = answer("c")
    assert out.startswith("✅") and "with Dropout2d on at 0.02" in out, out
    out = answer("b")
    assert out.startswith("❌") and "hint" in out and "at 0.05" in out, out


def test_10_the_kept_channel_factor_measured_as_the_answer_measures_it():
    """Exercise 3 is asked in markdown only: its answer's code measures 1 / (1 - p) for the heavy layer."""
    (code,) = markdown_code("10_lighter_dropout.ipynb", "**3. What a kept channel is multiplied by.**")
    torch.manual_seed(0)
    names = dict(torch=torch, nn=nn, model=FinalNet(dropout=0.02, head_dropout=0.0),
                 train_loader=[(torch.randn(64, 1, 28, 28), torch.zeros(64))])
    exec(code, names)
    assert names["heavy"].p == 0.3
    assert abs(names["kept_factor"] - 1 / (1 - 0.3)) < 1e-4


def test_10_training_steps_left_in_eval_mode_are_caught_and_the_fix_passes():
    train_loader, test_loader = data.fast_loaders(batch_size=128)
    names = dict(FinalNet=FinalNet, train_loader=train_loader, test_loader=test_loader,
                 augment=data.Augment(degrees=10, translate=0.1, scale=0.1))
    answer = lambda a: run("10_lighter_dropout.ipynb", "exercises.check(yours", fixed_train_steps=a, **names)
    broken = defined("10_lighter_dropout.ipynb", "def train_steps", "train_steps")
    assert answer(None) == NOT_ANSWERED
    out = answer(broken)
    assert out.startswith("❌") and "eval" in out, out
    right = fixed("10_lighter_dropout.ipynb", "def train_steps", "train_steps",
                  "    losses = []\n", "    model.train()\n    losses = []\n")
    assert answer(right).startswith("✅")
    for junk in (3, "abc", lambda model: None):
        out = answer(junk)
        assert out.startswith("❌") and "your code stopped with" in out, (junk, out)


# --- 11 head Dropout ----------------------------------------------------------------------------

def test_11_the_images_that_keep_every_feature_as_the_answer_works_it_out():
    """Exercise 3 is asked in markdown only: its answer's formula and its measurement agree, on the final
    model and on one with another head rate."""
    worked_out, measured = markdown_code("11_head_dropout.ipynb", "**3. Images that keep every feature.**")
    for model, right in [(FinalNet(), 0.9 ** 24), (FinalNet(head_dropout=0.25), 0.75 ** 24)]:
        names = dict(torch=torch, nn=nn, model=model)
        exec(worked_out, names)
        assert abs(names["all_kept"] - right) < 1e-12
        torch.manual_seed(0)
        exec(measured, names)
        assert abs(names["all_kept"] - right) < 0.02 and not model.training


def test_11_channel_dropout_before_the_pool_is_the_heads_dropout_after_it():
    answer = lambda a: run("11_head_dropout.ipynb", "exercises.check_key(before_the_pool", before_the_pool=a)
    assert answer(None) == NOT_ANSWERED
    for ok in ("c", "(c)", " C "):
        assert answer(ok).startswith("✅"), ok
    for wrong in ["a", "b", "d"]:
        out = answer(wrong)
        assert out.startswith("❌") and "hint" in out, (wrong, out)
    for nonsense in WRONG:  # not a letter: told to answer with one, no hint spent
        out = answer(nonsense)
        assert out.startswith("❌") and "hint" not in out, (nonsense, out)
    # the key's answer is what the layers do: a tenth of the pooled features zeroed, the rest scaled
    torch.manual_seed(0)
    maps = torch.rand(4000, 24, 7, 7) + 0.1
    pooled = nn.Dropout2d(0.1).train()(maps).mean(dim=(2, 3))
    zeroed = pooled == 0
    assert KEY["11"][1] == "c" and abs(zeroed.float().mean().item() - 0.1) < 0.01
    assert torch.allclose(pooled[~zeroed], (maps.mean(dim=(2, 3)) / 0.9)[~zeroed], atol=1e-5)


def test_11_the_strongest_features_with_the_committed_models():
    """Exercise 2: the number of strongest features the final model loses before it loses as much
    as step 10's model without two, measured on the committed models; a prediction within one
    passes, and the check prints every step it measured."""
    _, test_loader = data.fast_loaders(batch_size=128)
    prev_model = FinalNet(dropout=0.02, head_dropout=0.0)
    train.load_weights(prev_model, train.committed_weights("10"))
    model = FinalNet()
    train.load_weights(model, train.committed_weights("11"))
    answer = lambda a, final=model: run("11_head_dropout.ipynb", "exercises.check(features_to_match",
                                        features_to_match=a, prev_model=prev_model, model=final,
                                        test_loader=test_loader)
    assert answer(None) == NOT_ANSWERED
    out = answer(50)
    measured = int(out.split("without ")[-1])  # the last step printed is the measured number
    assert 2 < measured < 24, out  # the final model holds on longer than step 10's, and then gives way
    for ok in (measured, measured - 1, measured + 1, str(measured)):
        out = answer(ok)
        assert out.startswith("✅") and "step 10's model loses" in out, (ok, out)
    for wrong in (measured - 2, measured + 2, 2, "two"):
        out = answer(wrong)
        assert out.startswith("❌") and "hint" in out, (wrong, out)
    edited = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # no GAP: the experiment cannot run
    out = answer(3, edited)
    assert "could not run" in out and "❌" in out, out


def test_11_predictions_made_in_train_mode_change_and_the_answers_fix_is_train_predict():
    """Exercise 4 is asked in markdown only: its function shows the symptom it names, and its answer's
    fix gives the predictions of train.predict for the committed weights."""
    broken_code, fixed_code = markdown_code("11_head_dropout.ipynb", "**4. Find the bug: predictions that change.**")
    _, test_loader = data.fast_loaders(batch_size=128)
    images = test_loader.images[:500]
    broken, right = (dict(torch=torch, nn=nn, data=data, train=train, device=CPU, FinalNet=FinalNet) for _ in "ab")
    exec(broken_code, broken)
    exec(fixed_code, right)
    torch.manual_seed(0)
    assert (broken["final_predictions"](images) != broken["final_predictions"](images)).any()  # the symptom
    reference = FinalNet()
    train.load_weights(reference, train.committed_weights("11"))
    _, _, expected = train.predict(reference, data.TensorLoader(images, test_loader.labels[:500], batch_size=500))
    assert torch.equal(right["final_predictions"](images).cpu(), expected)
    assert torch.equal(right["final_predictions"](images), right["final_predictions"](images))
