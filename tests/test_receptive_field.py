"""Receptive fields checked against values worked out by hand."""
import pytest
import torch
import torch.nn as nn

from utils.models import MODELS, build_model
from utils.receptive_field import receptive_field, receptive_field_table


def column(rows, key):
    return [r[key] for r in rows]


def test_known_network():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3),                # 28-2 = 26, rf 1 + 2*1 = 3,  jump 1
        nn.Conv2d(8, 8, 3),                # 24,        rf 3 + 2*1 = 5,  jump 1
        nn.MaxPool2d(2),                   # 12,        rf 5 + 1*1 = 6,  jump 2
        nn.Conv2d(8, 8, 3),                # 10,        rf 6 + 2*2 = 10, jump 2
        nn.Conv2d(8, 8, 3, padding=1),     # 10,        rf 10 + 2*2 = 14, jump 2
        nn.AdaptiveAvgPool2d(1),           # 1, kernel = stride = 10: rf 14 + 9*2 = 32, jump 20
    )
    rows = receptive_field(model)
    assert column(rows, "layer") == ["0", "1", "2", "3", "4", "5"]
    assert column(rows, "kind") == ["Conv2d 3x3", "Conv2d 3x3", "MaxPool2d 2x2",
                                    "Conv2d 3x3", "Conv2d 3x3", "GAP"]
    assert column(rows, "size") == [26, 24, 12, 10, 10, 1]
    assert column(rows, "rf") == [3, 5, 6, 10, 14, 32]
    assert column(rows, "jump") == [1, 1, 2, 2, 2, 20]
    assert column(rows, "padding") == [0, 0, 0, 0, 1, 0]
    assert rows[-1]["kernel"] == rows[-1]["stride"] == 10


def test_stride_two_conv_and_tuple_arguments():
    model = nn.Sequential(
        nn.Conv2d(1, 4, (3, 3), stride=(2, 2), padding=(1, 1)),  # 14, rf 3, jump 2
        nn.Conv2d(4, 4, 3),                                      # 12, rf 3 + 2*2 = 7, jump 2
        nn.AvgPool2d(2),                                         # 6,  rf 7 + 1*2 = 9, jump 4
    )
    rows = receptive_field(model)
    assert column(rows, "kind") == ["Conv2d 3x3 s2", "Conv2d 3x3", "AvgPool2d 2x2"]
    assert column(rows, "stride") == [2, 1, 2]
    assert column(rows, "size") == [14, 12, 6]
    assert column(rows, "rf") == [3, 7, 9]
    assert column(rows, "jump") == [2, 2, 4]


def test_dilated_conv():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, dilation=2),    # spans 5 pixels: 24, rf 1 + 2*2*1 = 5, jump 1
        nn.MaxPool2d(2),                   # 12, rf 6, jump 2
        nn.Conv2d(4, 4, 3, dilation=2),    # spans 5 cells of the map: 8, rf 6 + 2*2*2 = 14
    )
    rows = receptive_field(model)
    assert column(rows, "kind") == ["Conv2d 3x3 d2", "MaxPool2d 2x2", "Conv2d 3x3 d2"]
    assert column(rows, "dilation") == [2, 1, 2]
    assert column(rows, "size") == [24, 12, 8]
    assert column(rows, "rf") == [5, 6, 14]


class Swapped(nn.Module):
    """Defines its layers in one order and runs them in another."""

    def __init__(self):
        super().__init__()
        self.late = nn.Conv2d(4, 4, 3)     # defined first, runs last
        self.pool = nn.MaxPool2d(2)
        self.early = nn.Conv2d(1, 4, 5)    # defined last, runs first

    def forward(self, x):
        return self.late(self.pool(self.early(x)))


def test_depthwise_and_grouped_convs_are_named_and_grow_the_field_like_any_conv():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3),                # 26, rf 3
        nn.Conv2d(8, 8, 3, groups=8),      # depthwise: 24, rf 5
        nn.Conv2d(8, 8, 1),                # 24, rf 5
        nn.Conv2d(8, 8, 3, groups=2),      # grouped: 22, rf 7
    )
    rows = receptive_field(model)
    assert column(rows, "kind") == ["Conv2d 3x3", "Conv2d 3x3 dw", "Conv2d 1x1", "Conv2d 3x3 g2"]
    assert column(rows, "rf") == [3, 5, 5, 7]


def test_rows_follow_execution_order():
    rows = receptive_field(Swapped())
    assert column(rows, "layer") == ["early", "pool", "late"]
    assert column(rows, "size") == [24, 12, 10]    # 28-4, /2, -2
    assert column(rows, "rf") == [5, 6, 10]        # 1+4, +1, +2*2


@pytest.mark.parametrize("training", [True, False])
def test_mode_restored_and_hooks_removed(training):
    model = build_model("final")
    model.train(training)
    before = [p.clone() for p in model.buffers()]
    receptive_field(model)
    assert all(m.training == training for m in model.modules())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    # eval mode: BatchNorm's running statistics were not updated by the dummy image
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_the_models_device():
    rows = receptive_field(build_model("final").cuda())
    assert rows[-1]["rf"] == 32


def test_table():
    table = receptive_field_table(Swapped())
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "kind", "size", "rf", "jump"]
    assert lines[1].split() == ["early", "Conv2d", "5x5", "24", "5", "1"]
    assert lines[-1] == "final receptive field: 10 pixels (input 28x28)"
    assert table == receptive_field_table(Swapped())  # deterministic
    assert "0x" not in table                          # no object addresses


# utils.models: the digits are about 20 pixels wide, so every model should see that far.

@pytest.mark.parametrize("name", [n for n in MODELS if n != "baseline"])
def test_models_see_a_whole_digit(name):
    assert receptive_field(build_model(name))[-1]["rf"] >= 20


def test_baseline_dense_head_sees_the_whole_image():
    """The baseline's convs only reach rf 12, but its Linear head reads all 5x5 positions
    of the last map, which together span 12 + (5 - 1) * 4 = 28 pixels."""
    last = receptive_field(build_model("baseline"))[-1]
    assert (last["size"], last["rf"], last["jump"]) == (5, 12, 4)
    assert last["rf"] + (last["size"] - 1) * last["jump"] == 28


def test_final_net_matches_the_comments_in_models_py():
    rows = receptive_field(build_model("final"))
    assert column(rows, "kind") == ["Conv2d 3x3"] * 3 + ["MaxPool2d 2x2", "Conv2d 1x1"] + \
        ["Conv2d 3x3"] * 3 + ["GAP", "Conv2d 1x1"]
    #                                  pool  1x1 keeps it           GAP   1x1
    assert column(rows, "rf") == [3, 5, 7, 8, 8, 12, 16, 20, 32, 32]
    assert column(rows, "size") == [26, 24, 22, 11, 11, 9, 7, 7, 1, 1]
    # GAP averages the 7x7 map, whose pixels are 2 apart: 20 + (7 - 1) * 2 = 32
    assert rows[-2]["kernel"] == 7 and rows[-2]["jump"] == 14


def test_separable_net_matches_the_comments_in_models_py():
    rows = [r for r in receptive_field(build_model("separable")) if r["kind"] != "Conv2d 1x1"]
    assert column(rows, "kind") == ["Conv2d 3x3"] * 2 + ["MaxPool2d 2x2"] + \
        ["Conv2d 3x3 dw"] * 4 + ["GAP"]
    assert column(rows, "rf") == [3, 5, 6, 10, 14, 18, 22, 32]
    assert column(rows, "size") == [26, 24, 12, 10, 8, 6, 6, 1]
