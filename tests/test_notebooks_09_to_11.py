"""The self-checking exercises of the last three steps of the path (09 schedule, 10 lighter
Dropout, 11 head Dropout), run as they stand in the committed notebooks, without a kernel,
against objects built as the notebooks build them: each says "not answered yet" for None, ✅
for a right answer, ❌ with its hint for a wrong one, and never raises."""
import math

import torch
from torch import nn

from notebook_cells import code_cell, printed
from utils import exercises
from utils.models import FinalNet

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]


def run(cell, **names):
    return printed(cell, dict(exercises=exercises, torch=torch, nn=nn, **names))


def assert_choice(notebook, name, right):
    """A multiple-choice check among (a), (b), (c): None, the right letter, the two others, junk."""
    check = code_cell(notebook, f"exercises.check({name}")
    assert run(check, **{name: None}).startswith("❌ not answered yet")
    assert run(check, **{name: right}).startswith("✅")
    for wrong in ["b", "c"] + WRONG:
        assert run(check, **{name: wrong}).startswith("❌"), wrong


def test_09_reading_the_range_test_accepts_a_range_around_the_rule_and_echoes_the_answer():
    check = code_cell("09_schedule.ipynb", "exercises.check(my_peak")
    rates = [10 ** (-4 + 4 * i / 199) for i in range(200)]
    losses = [(math.log10(r) + 0.3) ** 2 + 0.1 for r in rates]  # lowest at a rate of about 0.5
    lowest = rates[losses.index(min(losses))]
    answer = lambda a: run(check, rates=rates, losses=losses, my_peak=a)
    assert answer(None).startswith("❌ not answered yet")
    for right in [lowest / 10, lowest / 29, lowest / 3.1, f"{lowest / 10:.4f}"]:
        out = answer(right)
        assert out.startswith("✅"), (right, out)
    assert "you answered 0.05" in answer(0.05)  # the learner's own number, not a placeholder
    for wrong in [lowest, lowest / 2, lowest / 100, 1.0] + WRONG:
        out = answer(wrong)
        assert out.startswith("❌") and "a thirtieth and a third" in out, (wrong, out)


def test_09_warm_up_and_the_first_rate():
    assert_choice("09_schedule.ipynb", "why_warm_up", "(a)")
    first = code_cell("09_schedule.ipynb", "exercises.check(start_lr")
    learning_rates = [0.005, 0.006]
    assert run(first, learning_rates=learning_rates, start_lr="0.05 / 10").startswith("✅")
    for wrong in [0.05, 0.0005, 0] + WRONG:
        assert run(first, learning_rates=learning_rates, start_lr=wrong).startswith("❌"), wrong


def test_10_why_the_train_curve_rose():
    assert_choice("10_lighter_dropout.ipynb", "why_train_curve_rose", "A")


def test_10_the_factor_of_a_kept_channel_is_read_from_the_learners_model():
    check = code_cell("10_lighter_dropout.ipynb", "exercises.check(kept_factor")
    model = FinalNet(dropout=0.02, head_dropout=0.0)
    assert run(check, model=model, kept_factor=None).startswith("❌ not answered yet")
    assert run(check, model=model, kept_factor="1 / 0.98").startswith("✅")
    for wrong in [0.98, 0.02, 1.0, 1 / 0.95] + WRONG:
        assert run(check, model=model, kept_factor=wrong).startswith("❌"), wrong
    edited = FinalNet(dropout=0.2, head_dropout=0.0)  # the learner changed the rate
    assert run(check, model=edited, kept_factor=1.25).startswith("✅")
    assert run(check, model=edited, kept_factor=1 / 0.98).startswith("❌")


def test_10_the_factor_measured_as_the_exercise_says_passes_its_check():
    """The way the exercise describes finds the factor: the block's output before its
    Dropout2d against after it, on the channels kept."""
    torch.manual_seed(0)
    model = FinalNet(dropout=0.02, head_dropout=0.0)
    model.eval(); model[0][3].train()
    running_mean = model[0][1].running_mean.clone()
    x = torch.randn(64, 1, 28, 28)
    with torch.no_grad():
        before = model[0][:3](x)
        after = model[0][3](before)
    assert torch.equal(model[0][1].running_mean, running_mean)  # BatchNorm left alone
    kept = after.abs().sum(dim=(2, 3)) > 0
    factor = (after[kept].sum() / before[kept].sum()).item()
    check = code_cell("10_lighter_dropout.ipynb", "exercises.check(kept_factor")
    assert run(check, model=model, kept_factor=factor).startswith("✅")


def test_11_dropout2d_after_gap():
    assert_choice("11_head_dropout.ipynb", "same_thing", "a")


def test_11_features_zeroed_per_image_is_read_from_the_learners_model():
    check = code_cell("11_head_dropout.ipynb", "exercises.check(features_zeroed")
    model = FinalNet()
    assert run(check, model=model, features_zeroed=None).startswith("❌ not answered yet")
    assert run(check, model=model, features_zeroed="24 * 0.1").startswith("✅")
    for wrong in [0.1, 24, 21.6, 10] + WRONG:
        assert run(check, model=model, features_zeroed=wrong).startswith("❌"), wrong
    edited = FinalNet(head_dropout=0.25)
    assert run(check, model=edited, features_zeroed=6).startswith("✅")
    # measured as the exercise says: zeros of the head Dropout over many 1x1 feature maps
    torch.manual_seed(0)
    zeros = (model[8].train()(torch.ones(4000, 24, 1, 1)) == 0).sum().item() / 4000
    assert run(check, model=model, features_zeroed=zeros).startswith("✅")
