"""The self-checking exercises of the data notebook and the first three steps (00 data, 01
baseline, 02 skeleton, 03 lighter), run as they stand in the committed notebooks, without a
kernel, against objects built as the notebooks build them: each says "not answered yet" for
None and prints nothing else, ✅ for a right answer, ❌ with its hint for a wrong one, and
never raises; the find-the-bug cells are fixed as a learner would, and the predict-then-run
checks measure the committed weights only once a prediction is given. The exercises answered
in prose (no check cell) are held to the numbers the models give."""
import contextlib
import copy
import io
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from notebook_cells import code_cell, code_sources, markdown_cell
from utils import data, exercises, train
from utils.answers import KEY
from utils.models import BaselineCNN, LightSkeleton, Skeleton, conv_block, count_parameters, transition_block
from utils.receptive_field import receptive_field
from utils.report import REPO_ROOT

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"
DEVICE = torch.device("cpu")


def run(source, names):
    """Run a cell's code in `names` (kept, as a kernel keeps them); return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, names)
    return out.getvalue().strip()


def base(**names):
    return dict(exercises=exercises, torch=torch, nn=nn, F=F, copy=copy, data=data, device=DEVICE, **names)


@pytest.fixture(autouse=True)
def fresh_hints():
    exercises._wrong_tries.clear()  # each test starts at the first hint


@pytest.fixture(scope="module")
def mnist_train():
    return data.load_tensors(train=True)


@pytest.fixture(scope="module")
def test_loader():
    _, loader = data.fast_loaders(device=DEVICE)
    return loader


def committed(model, step):
    train.load_weights(model, train.committed_weights(step))
    return model.eval()


def assert_choice(notebook, number, name, cell_names=None):
    check = code_cell(notebook, f"exercises.check_key({name}")
    right = KEY[notebook[:2]][number]
    names = base(**(cell_names or {}))
    assert run(check, dict(names, **{name: None})) == NOT_ANSWERED
    for form in [right, right.upper(), f"({right})", f" {right}."]:
        assert run(check, dict(names, **{name: form})).startswith("✅"), form
    for wrong in sorted({"a", "b", "c"} - {right}):
        out = run(check, dict(names, **{name: wrong}))
        assert out.startswith("❌") and "hint" in out, (wrong, out)
    for nonsense in WRONG:  # not a letter: told to answer with one, with no topic hint spent
        out = run(check, dict(names, **{name: nonsense}))
        assert out.startswith("❌") and "hint" not in out, (nonsense, out)


# --- 00 the data ---------------------------------------------------------------------------

def test_00_one_pixel_accepts_two_decimals_and_names_the_steps_when_wrong(mnist_train):
    x_train, y_train = mnist_train
    check = code_cell("00_data.ipynb", "exercises.check(pixel_seen")
    names = base(x_train=x_train, y_train=y_train)
    grey = x_train[0, 0, 10, 13].item()
    right = (grey / 255 - data.MEAN) / data.STD
    assert run(check, dict(names, pixel_seen=None)) == NOT_ANSWERED
    for answer in [right, round(right, 2), f"{right:.3f}", f"({grey} / 255 - 0.1307) / 0.3081"]:
        assert run(check, dict(names, pixel_seen=answer)).startswith("✅"), answer
    first = run(check, dict(names, pixel_seen=(grey - data.MEAN) / data.STD))  # no division by 255
    assert first.startswith("❌") and "hint 1" in first and "0..1 scale" in first
    second = run(check, dict(names, pixel_seen=grey / 255 - data.MEAN))  # no division by the std
    assert "hint 2" in second and "data.STD" in second
    for wrong in [grey, grey / 255, right + 0.05] + WRONG:
        assert run(check, dict(names, pixel_seen=wrong)).startswith("❌"), wrong


def test_00_the_normalize_bug_fails_until_the_brackets_are_right(mnist_train):
    x_train, y_train = mnist_train
    names = base(x_train=x_train, y_train=y_train)
    run(code_cell("00_data.ipynb", "my_normalize = None"), names)  # the broken function
    check = code_cell("00_data.ipynb", "None if my_normalize is None")
    assert run(check, names) == NOT_ANSWERED
    names["my_normalize"] = names["normalize"]  # handed in unfixed
    out = run(check, names)
    assert out.startswith("❌") and "largest difference" in out and "hint 1" in out
    names["my_normalize"] = lambda images: (images.float() / 255 - data.MEAN) / data.STD
    assert run(check, names).startswith("✅")
    names["my_normalize"] = lambda images: (images / 255.0 - data.MEAN) / data.STD  # also right
    assert run(check, names).startswith("✅")
    names["my_normalize"] = lambda images: images.float().view(-1, 784)  # a wrong shape
    assert run(check, names).startswith("❌ not yet: shape")
    names["my_normalize"] = lambda images: 1 / 0
    out = run(check, names)
    assert out.startswith("❌") and "your code stopped with ZeroDivisionError" in out
    for wrong in [42, "normalize"]:
        names["my_normalize"] = wrong
        assert run(check, names).startswith("❌"), wrong


def test_00_augment_after_normalizing_is_caught(mnist_train):
    x_train, y_train = mnist_train
    names = base(x_train=x_train, y_train=y_train)
    run(code_cell("00_data.ipynb", "my_augmented_batch = None"), names)
    check = code_cell("00_data.ipynb", "None if my_augmented_batch is None")
    assert run(check, names) == NOT_ANSWERED
    names["my_augmented_batch"] = names["augmented_batch"]  # normalizes before it warps
    out = run(check, names)
    assert out.startswith("❌") and "largest difference" in out

    def fixed(images, generator=None):
        x = data.Augment(translate=0.1).batch(images.float() / 255, generator)
        return (x - data.MEAN) / data.STD
    names["my_augmented_batch"] = fixed
    assert run(check, names).startswith("✅")


def test_00_the_choices():
    assert_choice("00_data.ipynb", 3, "statistics_choice")
    assert_choice("00_data.ipynb", 4, "label_keeping_choice")


# --- 01 baseline ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def baseline():
    return committed(BaselineCNN(), "01")


def test_01_cross_entropy_by_hand(baseline, test_loader):
    names = base(model=baseline, test_loader=test_loader)
    run(code_cell("01_baseline.ipynb", "my_losses = None"), names)
    check = code_cell("01_baseline.ipynb", "exercises.check(my_losses")
    logits, y = names["logits"], names["y"]
    assert run(check, names) == NOT_ANSWERED
    probs = logits.exp() / logits.exp().sum(1, keepdim=True)
    for right in [-probs[torch.arange(len(y)), y].log(), -logits.log_softmax(1).gather(1, y[:, None])[:, 0]]:
        names["my_losses"] = right
        assert run(check, names).startswith("✅")
    for wrong in [probs[torch.arange(len(y)), y], -probs.log().mean(1), -probs[torch.arange(len(y)), y].log().mean(),
                  -(logits.exp() / logits.exp().sum()).log()[torch.arange(len(y)), y]] + WRONG:
        names["my_losses"] = wrong
        assert run(check, names).startswith("❌")


def test_01_the_deleted_pool_is_answered_in_prose_with_the_counts_the_model_gives():
    question = markdown_cell("01_baseline.ipynb", "What a deleted pool changes")
    assert question.index("<details><summary>Answer</summary>") > question.index("?")  # asked, then answered
    layers = list(BaselineCNN())
    first_pool = next(i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d))
    flatten = next(i for i, m in enumerate(layers) if isinstance(m, nn.Flatten))
    body = nn.Sequential(*layers[:first_pool], *layers[first_pool + 1:flatten])
    needed = body(torch.zeros(1, 1, 28, 28)).numel()
    units = next(m for m in layers if isinstance(m, nn.Linear)).out_features
    for number in [needed, needed * units + units]:
        assert f"{number:,}" in question, number
    assert not any("inputs_without_first_pool" in c for c in code_sources("01_baseline.ipynb"))


def test_01_the_first_four_epochs():
    assert_choice("01_baseline.ipynb", 3, "early_diagnosis")


def test_01_pruning_runs_only_after_a_prediction_and_measures_it(baseline, test_loader):
    check = code_cell("01_baseline.ipynb", "exercises.check(pruned_prediction")
    names = base(model=baseline, test_loader=test_loader)
    assert run(check, dict(names, pruned_prediction=None)) == NOT_ANSWERED
    out = run(check, dict(names, pruned_prediction="c"))
    assert out.startswith("✅") and "measured on the first 1,000 test images" in out
    assert "92,160 of the layer's 102,400 weights" in out
    for wrong in ["a", "b", "(a)"]:
        out = run(check, dict(names, pruned_prediction=wrong))
        assert out.startswith("❌") and "measured" in out, wrong
    assert baseline[9].weight.abs().min() > 0  # the learner's model is left as it was


# --- 02 skeleton ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def skeleton():
    return committed(Skeleton(), "02")


def names_02(model, **more):
    return base(model=model, receptive_field=receptive_field, conv_block=conv_block,
                transition_block=transition_block, **more)


def test_02_a_wider_pool(skeleton):
    check = code_cell("02_skeleton.ipynb", "exercises.check(rf_wider_pool")
    names = names_02(skeleton)
    assert run(check, dict(names, rf_wider_pool=None)) == NOT_ANSWERED
    assert run(check, dict(names, rf_wider_pool="5 + 2 + 3 * 4")).startswith("✅")
    for wrong in [18, 20, 10, 28] + WRONG:
        assert run(check, dict(names, rf_wider_pool=wrong)).startswith("❌"), wrong
    edited = nn.Sequential(*list(Skeleton())[:5], conv_block(32, 32, padding=1, bn=False),
                           *list(Skeleton())[5:])  # one more 3x3 convolution, padded
    assert run(check, dict(names, model=edited, rf_wider_pool=23)).startswith("✅")
    assert run(check, dict(names, model=nn.Linear(784, 10), rf_wider_pool=19)).startswith("❌")


def test_02_shifted_digits(skeleton, test_loader):
    check = code_cell("02_skeleton.ipynb", "exercises.check(shift_prediction")
    names = names_02(skeleton, test_loader=test_loader)
    assert run(check, dict(names, shift_prediction=None)) == NOT_ANSWERED
    out = run(check, dict(names, shift_prediction="b"))
    assert out.startswith("✅") and "shifted 3 pixels to the right" in out
    for wrong in ["a", "c"]:
        assert run(check, dict(names, shift_prediction=wrong)).startswith("❌")


def test_02_the_padded_model_is_fixed_by_a_kernel_that_covers_the_map(skeleton):
    names = names_02(skeleton)
    broken = code_cell("02_skeleton.ipynb", "fixed_padded = None")
    check = code_cell("02_skeleton.ipynb", "exercises.check(None if fixed_padded is None")
    run(broken, names)
    assert run(check, names) == NOT_ANSWERED
    names["fixed_padded"] = names["padded"]
    out = run(check, names)
    assert out.startswith("❌") and "runs: 90 outputs per image" in out and "hint 1" in out
    names = names_02(skeleton)
    run(broken.replace("nn.Conv2d(32, 10, 6)", "nn.Conv2d(32, 10, 8)")
        .replace("fixed_padded = None", "fixed_padded = padded"), names)
    assert run(check, names).startswith("✅")
    names = names_02(skeleton)  # taking the padding out gives 10 outputs, but not the model asked for
    run(broken.replace("padding=1, ", "").replace("fixed_padded = None", "fixed_padded = padded"), names)
    assert run(check, names).startswith("❌")
    assert run(check, dict(names, fixed_padded=names["model"])).startswith("❌")
    out = run(check, dict(names, fixed_padded=nn.Conv2d(32, 10, 6)))
    assert out.startswith("❌") and "stops: RuntimeError" in out
    assert run(check, dict(names, fixed_padded=10)).startswith("❌")


def test_02_the_moved_transition_is_answered_in_prose_with_what_the_stack_gives():
    question = markdown_cell("02_skeleton.ipynb", "Move the transition")
    code = question.split("```python\n")[1].split("```")[0]
    names = names_02(None)
    exec(code, names)
    moved = names["moved"]
    rf, side = receptive_field(moved)[-1]["rf"], moved(torch.zeros(1, 1, 28, 28)).shape[-1]
    answer = question.split("<details><summary>Answer</summary>")[1]
    assert f"{rf} pixels" in answer and f"{side}x{side} map" in answer
    assert str(rf) not in question.split("<details>")[0]
    assert not any("rf_moved" in c for c in code_sources("02_skeleton.ipynb"))


# --- 03 lighter ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def light(test_loader):
    return committed(LightSkeleton(), "03")


def names_03(model, test_loader, **more):
    x, _ = next(iter(test_loader))
    return base(model=model, test_loader=test_loader, digit=x[:1], conv_block=conv_block,
                transition_block=transition_block, count_parameters=count_parameters, **more)


def test_03_one_value_of_a_convolution(light, test_loader):
    check = code_cell("03_light.ipynb", "exercises.check(conv_value")
    names = names_03(light, test_loader)
    conv, digit = light[0][0], names["digit"]
    by_hand = ((digit[0, 0, 10:13, 12:15] * conv.weight[2, 0]).sum() + conv.bias[2]).item()
    assert run(check, dict(names, conv_value=None)) == NOT_ANSWERED
    for right in [by_hand, round(by_hand, 2), f"{by_hand:.4f}"]:
        assert run(check, dict(names, conv_value=right)).startswith("✅"), right
    out = run(check, dict(names, conv_value=by_hand - conv.bias[2].item()))
    assert out.startswith("❌") and "without the filter's bias" in out
    wrong_patch = ((digit[0, 0, 9:12, 11:14] * conv.weight[2, 0]).sum() + conv.bias[2]).item()
    for wrong in [wrong_patch, by_hand + 0.05] + WRONG:
        assert run(check, dict(names, conv_value=wrong)).startswith("❌"), wrong


def test_03_parameters_of_smaller_are_answered_under_the_model(light, test_loader):
    names = names_03(light, test_loader)
    run(code_cell("03_light.ipynb", "smaller = nn.Sequential("), names)
    question = markdown_cell("03_light.ipynb", "Exercise 2: parameters from the widths")
    answer = markdown_cell("03_light.ipynb", "Layer by layer, weights plus biases")
    assert answer.startswith("<details><summary>Answer</summary>") and "<details>" not in question
    assert f"{count_parameters(names['smaller']):,} in all" in answer
    assert f"a quarter of {count_parameters(light):,}" in answer  # the why, against this step's model
    assert not any("smaller_count" in c for c in code_sources("03_light.ipynb"))


def test_03_the_channel_mismatch_is_found_from_the_error(light, test_loader):
    names = names_03(light, test_loader)
    broken = code_cell("03_light.ipynb", "fixed_narrower = None")
    check = code_cell("03_light.ipynb", "exercises.check(None if fixed_narrower is None")
    run(broken, names)
    assert run(check, names) == NOT_ANSWERED
    names["fixed_narrower"] = names["narrower"]
    out = run(check, names)
    assert out.startswith("❌") and "weight of size [12, 16, 3, 3]" in out and "hint 1" in out
    names = names_03(light, test_loader)
    run(broken.replace("conv_block(16, 12", "conv_block(12, 12").replace(
        "fixed_narrower = None", "fixed_narrower = narrower"), names)
    assert run(check, names).startswith("✅")


def test_03_switching_off_half_a_block(light, test_loader):
    check = code_cell("03_light.ipynb", "exercises.check(cut_prediction")
    names = names_03(light, test_loader)
    assert run(check, dict(names, cut_prediction=None)) == NOT_ANSWERED
    out = run(check, dict(names, cut_prediction="b"))
    assert out.startswith("✅") and "8 of the 16 channels" in out
    for wrong in ["a", "c"]:
        assert run(check, dict(names, cut_prediction=wrong)).startswith("❌")
    assert light[5][0].weight[8:].abs().sum() > 0  # the learner's model is left as it was
