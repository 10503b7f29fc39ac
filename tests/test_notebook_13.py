"""Notebook 13's self-checking exercises, run as they stand in the committed notebook, without
a kernel, against the notebook's own model code: each says "not answered yet" for None, ✅ for
a right answer, ❌ with its hint for a wrong one, and never raises."""
import torch
import torch.nn.functional as F
from torch import nn

from notebook_cells import code_cell as notebook_code_cell, printed
from utils import exercises
from utils.models import SeparableNet, conv_block, count_parameters, separable_block

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NAMES = dict(exercises=exercises, torch=torch, nn=nn, F=F, SeparableNet=SeparableNet,
             conv_block=conv_block, count_parameters=count_parameters,
             separable_block=separable_block)


def code_cell(text):
    return notebook_code_cell("13_tiny.ipynb", text)


def run(cell, **names):
    return printed(cell, dict(NAMES, **names))


def test_the_separable_block_count():
    check = code_cell("exercises.check(separable_block_parameters")
    answer = lambda a: run(check, separable_block_parameters=a)
    assert answer(None).startswith("❌ not answered yet")
    assert answer(726).startswith("✅") and answer("22 * 9 + 22 * 22 + 2 * 22").startswith("✅")
    for wrong in [682, 4356, 22 * 22 * 9 + 44] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_depthwise_conv_by_hand():
    names = dict(NAMES)
    exec(code_cell("channel_2_by_hand = None"), names)
    depthwise, x = names["depthwise"], names["x"]
    check = code_cell("exercises.check(channel_2_by_hand")
    answer = lambda a: run(check, depthwise=depthwise, x=x, channel_2_by_hand=a)
    assert answer(None).startswith("❌ not answered yet")
    assert answer(F.conv2d(x[:, 2:3], depthwise.weight[2:3])).startswith("✅")
    for wrong in [F.conv2d(x[:, 1:2], depthwise.weight[2:3]),          # another channel
                  F.conv2d(x, depthwise.weight[2:3].expand(1, 4, 3, 3)),  # every channel mixed
                  depthwise(x)] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_widest_model_under_the_budget():
    check = code_cell("exercises.check(widest_width")
    answer = lambda a: run(check, widest_width=a)
    assert answer(None).startswith("❌ not answered yet")
    assert count_parameters(SeparableNet(width=23)) < 4_000 < count_parameters(SeparableNet(width=24))
    assert answer(23).startswith("✅") and answer("23").startswith("✅")
    for wrong in [22, 24, 64] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
