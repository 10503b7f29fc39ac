"""Notebook 16: the list of doubtful test labels is the one published and matches our MNIST,
DownNet and its residual connection do what the notebook says, the exercises' checks judge
right and wrong answers (also on an edited model) and never raise, and the README's lines on
the levers come from assets/beyond/. The check cells run as they stand in the committed
notebook, without a kernel."""
import math

import pytest
import torch
from torch import nn

from notebook_cells import code_cell, printed
from utils import data, exercises, report
from utils.answers import KEY
from utils.models import DownNet, Residual, conv_block

NOTEBOOK = "16_beyond.ipynb"
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"
ODD = ["abc", [1], {}, object(), float("nan"), float("inf"), -1, True]


def check_output(text, **names):
    return printed(code_cell(NOTEBOOK, text), dict(exercises=exercises, math=math, **names))


def multiply_adds():
    """The notebook's own counting function, from its cell."""
    names = dict(nn=nn, torch=torch)
    exec(code_cell(NOTEBOOK, "def multiply_adds("), names)
    return names["multiply_adds"]


def test_the_doubtful_labels_are_the_papers_fifteen_and_match_our_test_set():
    doubtful = report.load_asset("beyond/label_errors.json")["errors"]
    assert len(doubtful) == 15 and len({e["index"] for e in doubtful}) == 15
    assert all(e["votes"]["given"] < 3 and e["given"] != e["guessed"] for e in doubtful)
    _, labels = data.load_tensors(train=False)
    assert [labels[e["index"]].item() for e in doubtful] == [e["given"] for e in doubtful]


def test_residual_adds_its_input_and_downnet_meets_the_brief(capsys):
    block = Residual(nn.Conv2d(3, 3, 1, bias=False))
    nn.init.zeros_(block[0].weight)
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(block(x), x)  # f(x) = 0: the input passes through unchanged
    model = DownNet()
    assert exercises.check_brief(model) and sum(p.numel() for p in model.parameters()) == 17_610
    assert "✅ 10 outputs" in capsys.readouterr().out


def test_downnet_spends_a_third_fewer_multiply_adds_than_the_final_model():
    from utils.models import FinalNet
    count = multiply_adds()
    down, final = sum(count(DownNet()).values()), sum(count(FinalNet()).values())
    assert final == 2_568_816 and down < 0.7 * final
    assert count(FinalNet())["2.0"] == 22 * 22 * 16 * 16 * 9  # the 16-to-16 conv at 22x22


def test_exercise_1_counts_the_learners_own_stage():
    count = multiply_adds()
    for width in (26, 20):
        down = DownNet(width=width)
        run = lambda answer: check_output("stage = next(", down=down, Residual=Residual,
                                          multiply_adds=count, stage_multiply_adds=answer)
        right = 2 * 6 * 6 * width * width * 9
        assert run(None) == NOT_ANSWERED
        assert run(right).startswith("✅") and run(f"2 * 6 * 6 * {width} * {width} * 9").startswith("✅")
        assert run(right // 2).startswith("❌")  # one conv, not two
        for odd in ODD:
            assert run(odd).startswith("❌")


def test_exercise_2_relabels_only_where_most_people_chose_the_other_digit():
    votes = lambda guessed: dict(given=5 - guessed, guessed=guessed, neither=0)
    doubtful = [dict(index=0, guessed=9, votes=votes(4)),   # the model says 9: an error mended
                dict(index=1, guessed=7, votes=votes(3)),   # the model says the old label: a new error
                dict(index=2, guessed=6, votes=votes(2))]   # too few votes: the label stays
    y_test = torch.tensor([4, 1, 5] + [0] * 997)
    predicted = torch.tensor([9, 1, 6] + [0] * 996 + [3])  # wrong on 0, 2 and the last image as labelled
    run = lambda answer: check_output("mended = y_test.clone()", doubtful=doubtful, predicted=predicted,
                                      y_test=y_test, right_after_relabelling=answer)
    right = 997  # index 0 mended, index 1 now wrong, index 2 and the last still wrong
    assert run(None) == NOT_ANSWERED
    assert run(right).startswith("✅") and run("997").startswith("✅")
    assert run(998).startswith("❌")  # one error mended, the new error missed
    out = run(999)  # one right answer gained for each relabelled image: a hint of its own
    assert out.startswith("❌") and "every relabelled image" in out, out
    out = run(99.7)  # the accuracy in %, not the count
    assert out.startswith("❌") and "how many images" in out, out
    assert "hint" in run(998)
    for odd in ODD:
        assert run(odd).startswith("❌")


def test_exercise_3_the_key_is_the_change_that_really_breaks_the_residual():
    assert KEY["16"][3] == "b"
    x = torch.zeros(2, 1, 28, 28)
    with pytest.raises(RuntimeError):  # (b): the second conv of the stage unpadded
        model = DownNet()
        model[5][1] = conv_block(26, 26, dropout=0.02)
        model(x)
    widened = DownNet()  # (a): wider inside the stage, back to its width at the end
    widened[5] = Residual(conv_block(26, 32, padding=1, dropout=0.02), conv_block(32, 26, padding=1, dropout=0.02))
    unpooled = DownNet()  # (c): no second pool, the stage at 12x12
    del unpooled[4]
    assert widened(x).shape == unpooled(x).shape == (2, 10)
    run = lambda answer: check_output("check_key(choice", choice=answer)
    assert run(None) == NOT_ANSWERED and run(" (B) ").startswith("✅")
    assert run("a").startswith("❌") and "hint" in run("c")


def test_exercise_4_the_binomial_error_on_2000_images():
    run = lambda answer: check_output("q = mean / 100", mean=99.55, binomial_2000=answer)
    right = 100 * math.sqrt(0.9955 * 0.0045 / 2000)
    assert run(None) == NOT_ANSWERED
    assert run(round(right, 2)).startswith("✅") and run(f"{right:.2f} points").startswith("✅")
    assert run(right / 100).startswith("❌")  # a fraction, not points
    assert run(100 * math.sqrt(0.9955 * 0.0045 / 10_000)).startswith("❌")  # 10,000 images


def test_the_readme_line_names_each_lever_and_only_those_that_clear(monkeypatch):
    line = report.beyond_summary()
    assert "Clearing the rule (2.5 SE): test-time augmentation." in line
    for lever in ("test-time augmentation", "BatchNorm statistics", "elastic", "downsampling"):
        assert lever in line
    real = report.load_asset

    def no_gain(name):
        found = real(name)
        if name == "beyond/posthoc.json":
            found = dict(found, gains={k: dict(v, mean=0.0) for k, v in found["gains"].items()})
        return found

    monkeypatch.setattr(report, "load_asset", no_gain)
    assert "Clearing the rule (2.5 SE): none." in report.beyond_summary()
