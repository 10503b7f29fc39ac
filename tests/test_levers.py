"""The two levers that need no training: test-time augmentation over one-pixel shifts and
BatchNorm statistics recomputed on clean images."""
import json

import pytest
import torch
from torch import nn

from utils import data, levers, train
from utils.models import build_model


def test_a_shift_moves_the_image_by_a_pixel_and_fills_the_edge_black():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    down = levers.shift(x, 1, 0)
    assert torch.equal(down[0, 0, 1:], x[0, 0, :3])
    assert torch.all(down[0, 0, 0] == levers.BACKGROUND)
    left = levers.shift(x, 0, -1)
    assert torch.equal(left[0, 0, :, :3], x[0, 0, :, 1:])
    assert torch.all(left[0, 0, :, 3] == levers.BACKGROUND)
    assert torch.equal(levers.shift(x, 0, 0), x)


def test_tta_over_the_image_alone_is_the_plain_accuracy():
    torch.manual_seed(0)
    model = build_model("light_gap")
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    loader = [(x[:32], y[:32]), (x[32:], y[32:])]
    plain = train.evaluate(model, loader)[1]
    assert levers.accuracy(model, loader) == pytest.approx(plain)


def test_recomputed_batchnorm_holds_the_clean_images_statistics_and_changes_no_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten())
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k
               and "num_batches" not in k}
    x = torch.randn(300, 1, 8, 8) * 3 + 2
    levers.recompute_batchnorm(model, [(x[:100], None), (x[100:200], None), (x[200:], None)])
    with torch.no_grad():
        conv = model[0](x)
    assert torch.allclose(model[1].running_mean, conv.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[1].running_var, conv.var((0, 2, 3)), rtol=1e-2)
    assert not model.training and not model[1].training
    for k, v in weights.items():
        assert torch.equal(model.state_dict()[k], v), k


def test_a_run_is_evaluated_four_ways_and_its_plain_evaluation_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    out = tmp_path / "seed_3"
    train.main(["--model", "light_gap", "--epochs", "1", "--seed", "3", "--protocol", "val",
                "--out", str(out), "--no-progress"])
    found = levers.evaluate_run(out)
    assert found["seed"] == 3 and set(found) == {"seed", "plain", "tta", "clean_bn", "clean_bn_tta"}
    m = json.loads((out / "metrics.json").read_text())
    assert found["plain"] == pytest.approx(m["history"][-1]["test_acc"])
    m["history"][-1]["test_acc"] -= 1  # as if the weights were another run's
    (out / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(RuntimeError, match="not the run's last epoch"):
        levers.evaluate_run(out)


def test_paired_gains_are_seed_by_seed():
    per_seed = [dict(plain=99.0, tta=99.1), dict(plain=99.2, tta=99.2), dict(plain=99.1, tta=99.4)]
    g = levers.paired(per_seed, "tta")
    assert g["mean"] == pytest.approx(0.4 / 3) and g["ahead"] == 2 and g["level"] == 1
    assert g["se"] == pytest.approx(0.152752523 / 3 ** 0.5, rel=1e-6)
