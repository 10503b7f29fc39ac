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
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"
NAMES = dict(exercises=exercises, torch=torch, nn=nn, F=F, SeparableNet=SeparableNet,
             conv_block=conv_block, count_parameters=count_parameters,
             separable_block=separable_block)


def code_cell(text):
    return notebook_code_cell("13_tiny.ipynb", text)


def run(cell, **names):
    return printed(cell, dict(NAMES, **names))


def test_the_separable_block_that_widens():
    names = dict(NAMES)
    exec(code_cell("separable_block_parameters = None"), names)
    cin, cout = names["cin"], names["cout"]
    assert cin != cout  # the exercise is a block that changes the width
    check = code_cell("exercises.check(separable_block_parameters")
    answer = lambda a, **sizes: run(check, **dict(dict(cin=cin, cout=cout), **sizes),
                                    separable_block_parameters=a)
    assert answer(None) == NOT_ANSWERED
    right = 9 * cin + cin * cout + 2 * cout
    assert answer(right).startswith("✅") and answer(f"9 * {cin} + {cin} * {cout} + 2 * {cout}").startswith("✅")
    assert "output channel" in answer(9 * cin + cin * cout + 2 * cin)      # BatchNorm on the input's channels
    assert "filters the input's" in answer(9 * cout + cin * cout + 2 * cout)  # depthwise on the output's
    assert "BatchNorm has parameters" in answer(9 * cin + cin * cout)
    assert "on its own" in answer(9 * cin * cin + cin * cout + 2 * cout)
    assert "full 3x3 convolution" in answer(9 * cin * cout)
    for wrong in [9 * cin * cout + 2 * cout, 726] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
    assert answer(9 * 22 + 22 * 22 + 44, cin=22, cout=22).startswith("✅")  # the sizes are read, not typed in


def fixed(x, conv):
    return torch.cat([F.conv2d(x[:, c:c + 1], conv.weight[c:c + 1]) for c in range(x.shape[1])], dim=1)


def test_the_broken_depthwise_conv_by_hand():
    names = dict(NAMES)
    exec(code_cell("fixed = None"), names)
    depthwise, x, broken = names["depthwise"], names["x"], names["depthwise_by_hand"]
    with torch.no_grad():
        assert broken(x, depthwise).shape == depthwise(x).shape          # it runs, with the right shape,
        assert not torch.allclose(broken(x, depthwise), depthwise(x))    # but it is not the layer
    check = code_cell("exercises.check(mine")
    answer = lambda function, flag=True: run(check, depthwise_by_hand=function, fixed=flag)
    assert answer(broken, None) == NOT_ANSWERED  # nothing runs before the learner says it is fixed
    assert answer(fixed).startswith("✅")
    assert answer(lambda x, conv: F.conv2d(x, conv.weight, groups=x.shape[1])).startswith("✅")
    assert answer(broken).startswith("❌") and "hint" in answer(broken)
    first_filter = lambda x, conv: torch.cat([F.conv2d(x[:, c:c + 1], conv.weight[:1])
                                              for c in range(x.shape[1])], dim=1)
    flat = lambda x, conv: torch.cat([F.conv2d(x[:, c], conv.weight[c]) for c in range(x.shape[1])], dim=1)
    for wrong in [first_filter, flat, lambda x, conv: x, None, "abc"]:
        assert answer(wrong).startswith("❌"), wrong
    assert "your code stopped with" in answer(flat)
    assert "returned None" in answer(lambda x, conv: None)  # a forgotten return, named as such


def test_the_widest_model_under_the_budget():
    check = code_cell("exercises.check(widest_model_parameters")
    answer = lambda a: run(check, widest_model_parameters=a)
    assert answer(None) == NOT_ANSWERED
    assert count_parameters(SeparableNet(width=23)) < 4_000 < count_parameters(SeparableNet(width=24))
    right = count_parameters(SeparableNet(width=23))
    assert answer(right).startswith("✅") and answer(f"{right:,}").startswith("✅")
    assert "that is the width" in answer(23)
    assert "over the budget" in answer(count_parameters(SeparableNet(width=24)))
    for wrong in [3_800, 4_000, 22, 24] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
