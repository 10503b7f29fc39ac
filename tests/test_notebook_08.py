"""Notebook 08's self-checking exercises, run as they stand in the committed notebook, without a
kernel, against objects built as the notebook builds them: None, right, wrong and junk answers,
and the hints of typical slips."""
import ast
import contextlib
import io
from types import SimpleNamespace

import torch
from torch import nn

from notebook_cells import code_cell, printed
from utils import data, exercises, train
from utils.models import FinalNet

NOTEBOOK = "08_augmentation.ipynb"
WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"


def run(text, **names):
    return printed(code_cell(NOTEBOOK, text), dict(exercises=exercises, torch=torch, nn=nn, data=data, **names))


def function_from(text, name, names):
    """The function `name` defined in the notebook's cell holding `text`, without running the rest."""
    tree = ast.parse(code_cell(NOTEBOOK, text))
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    exec(compile(ast.Module(body=found, type_ignores=[]), NOTEBOOK, "exec"), names)
    return names[name]


def test_the_digit_that_survives_being_turned_over_is_the_one_measured():
    shares = {2: 0.3, 5: 0.9, 7: 0.05}

    def turned_over(digit):  # a stand-in: step 07's model calls that share of the digit's images by it
        called = torch.full((100,), digit)
        called[int(100 * shares[digit]):] = -1
        return None, called

    answer = lambda a: run("exercises.check(keeps_its_label", turned_over=turned_over, keeps_its_label=a)
    assert answer(None) == NOT_ANSWERED
    for ok in (5, "5", 5.0):
        out = answer(ok)
        assert out.startswith("✅") and "5s 90%" in out and "7s 5%" in out, out
    for wrong in (2, 7):
        out = answer(wrong)
        assert out.startswith("❌") and "hint" in out and "turned over" in out, (wrong, out)
    for nonsense in [8] + WRONG:  # not one of the options: refused before the experiment shows its result
        out = answer(nonsense)
        assert out.startswith("❌") and "answer with one of 2, 5, 7" in out and "turned over" not in out, (nonsense, out)
    shares[2] = 0.95  # the answer is what the model measures, not a typed-in digit
    assert answer(2).startswith("✅") and answer(5).startswith("❌")


def test_with_step_07s_committed_model_the_5_survives_best():
    _, test_loader = data.fast_loaders(batch_size=128)
    prev_model = FinalNet(dropout=0.05, head_dropout=0.0)
    train.load_weights(prev_model, train.committed_weights("07"))
    turned_over = function_from("def turned_over", "turned_over",
                                dict(torch=torch, data=data, test_loader=test_loader, prev_model=prev_model))
    assert run("exercises.check(keeps_its_label", turned_over=turned_over, keeps_its_label=5).startswith("✅")


def test_a_shift_in_pixels_as_a_fraction_of_the_size_in_either_form():
    test_loader = SimpleNamespace(images=torch.zeros(10, 1, 28, 28, dtype=torch.uint8))
    answer = lambda a: run("exercises.check(t_for_2_pixels", test_loader=test_loader, t_for_2_pixels=a)
    assert answer(None) == NOT_ANSWERED
    for ok in (2 / 28, "2 / 28", 1 / 14, 0.0714, 0.071, 0.07, "7.14%", "7.1 %", " 7% ", "200 / 28 %"):
        assert answer(ok).startswith("✅"), ok
    assert "percentage" in answer(7.14) and "percentage" in answer("7.14")
    assert "shift in pixels" in answer(2)
    for wrong in [0.1, 0.2, 1 / 28, 2.8, "71%", "0.714%"] + WRONG:
        out = answer(wrong)
        assert out.startswith("❌") and "hint" in out, (wrong, out)
    bigger = SimpleNamespace(images=torch.zeros(10, 1, 32, 32, dtype=torch.uint8))  # read from the images
    assert run("exercises.check(t_for_2_pixels", test_loader=bigger, t_for_2_pixels=2 / 32).startswith("✅")


def test_the_test_loader_is_right_only_without_augmentation():
    torch.manual_seed(0)
    images = (torch.rand(300, 1, 28, 28) * 255).to(torch.uint8)
    labels = torch.zeros(300, dtype=torch.long)
    test_loader = SimpleNamespace(images=images, labels=labels)
    names = dict(device=torch.device("cpu"), augment=data.Augment(degrees=10, translate=0.1, scale=0.1))
    broken = function_from("def make_loaders", "make_loaders", dict(names, torch=torch, data=data))

    def fixed(train_images, train_labels, test_images, test_labels, augment):
        train = data.TensorLoader(train_images, train_labels, batch_size=128, shuffle=True, augment=augment, seed=0)
        return train, data.TensorLoader(test_images, test_labels, batch_size=1000)

    answer = lambda a: run("exercises.check(yours", test_loader=test_loader, fixed_loaders=a, **names)
    assert answer(None) == NOT_ANSWERED
    out = answer(broken)
    assert out.startswith("❌") and "largest difference" in out and "hint" in out, out
    assert answer(fixed).startswith("✅")
    out = answer(lambda *args: fixed(*args)[::-1])  # the loaders swapped: the training one shuffles and warps
    assert out.startswith("❌"), out
    no_warp = lambda *args: (data.TensorLoader(*args[:2], batch_size=128), data.TensorLoader(*args[2:4]))
    out = answer(no_warp)  # augmentation taken from both loaders: the test loader is right, training lost it
    assert out.startswith("❌") and "training loader no longer warps" in out, out

    def forgot_return(*args):
        fixed(*args)

    out = answer(forgot_return)
    assert out.startswith("❌") and "returned None" in out and "hint" not in out, out
    for junk in (3, "abc", lambda images: images):  # not a function of the five: it raises
        out = answer(junk)
        assert out.startswith("❌") and "your code stopped with" in out, (junk, out)
    assert printed(code_cell(NOTEBOOK, "def make_loaders"), dict(names, torch=torch, data=data)) == ""


def test_the_unseen_variations_are_what_the_notebook_says():
    """Elastic distortion and strokes one pixel thicker or thinner, built by the notebook's cell
    from a bar two pixels wide: three, two and one pixel wide, and each row printed."""
    images = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    images[0, 0, 8:20, 13:15] = 255
    test_loader = data.TensorLoader(images, torch.tensor([1]), batch_size=1)
    evaluated = []
    fake_train = SimpleNamespace(evaluate=lambda m, loader: evaluated.append(loader) or (0.0, 50.0))
    names = dict(test_loader=test_loader, device=torch.device("cpu"), train=fake_train, prev_model=None,
                 model=None, prev_plain=99.0, found={"test_acc": 99.5})
    scope = dict(torch=torch, data=data, **names)
    with contextlib.redirect_stdout(io.StringIO()) as printed_out:
        exec(code_cell(NOTEBOOK, "def changed_test"), scope)
    out = printed_out.getvalue()
    width = lambda name: int((scope["unseen"][name].images[0, 0, 12] > 0).sum())
    assert (width("strokes one pixel thicker"), width("strokes one pixel thinner")) == (3, 1)
    assert scope["unseen"]["elastic distortion"].augment.elastic == 34
    assert "elastic distortion" in out and out.count("-49.00, -49.50") == 3
    assert len(evaluated) == 6  # both models on each variation
