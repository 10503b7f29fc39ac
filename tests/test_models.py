import pytest
import torch
import torch.nn as nn

from utils.models import MODELS, FinalNet, ScaledFinalNet, build_model, conv_block, count_parameters

SUB_20K = ["light", "light_bn", "light_bn_dropout", "light_gap", "final", "tiny", "separable"]


@pytest.mark.parametrize("name", MODELS)
def test_every_model_maps_a_batch_of_digits_to_ten_logits(name):
    model = build_model(name).eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_the_story_spends_the_budget_as_it_says():
    params = {name: count_parameters(build_model(name)) for name in MODELS}
    assert params["baseline"] > 100_000 and params["skeleton"] > 20_000
    assert all(params[name] < 20_000 for name in SUB_20K)
    assert params["light_gap"] < params["light_bn_dropout"] - 5_000  # GAP frees the 6x6 kernel


def global_average_pools(model):
    """Pooling layers whose output is 1x1: global average pooling, by either module."""
    found = []

    def hook(module, inputs, output):
        if output.shape[-2:] == (1, 1) and inputs[0].shape[-1] > 1:
            found.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AvgPool2d))]
    model.eval()(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    return found


def test_final_model_meets_the_brief():
    model = FinalNet()
    assert count_parameters(model) < 20_000
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules())
    assert global_average_pools(model)
    # No large fully connected head: at most a 1x1 conv of a few hundred weights after GAP.
    assert not any(isinstance(m, nn.Linear) for m in model.modules())


def test_gap_detection_would_catch_a_model_without_it():
    assert not global_average_pools(build_model("light_bn_dropout"))
    assert global_average_pools(build_model("light_gap"))


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        build_model("resnet50")
    assert "resnet50" in str(error.value)
    assert all(name in str(error.value) for name in MODELS)


def test_dropout_is_adjustable_and_batchnorm_convs_have_no_bias():
    model = FinalNet(dropout=0.2)
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout2d)} == {0.2}
    for block in model:
        if isinstance(block, nn.Sequential) and isinstance(block[1], nn.BatchNorm2d):
            assert block[0].bias is None


def test_scaled_final_net_is_final_net_at_its_widths_and_tiny_by_default():
    shapes = {k: v.shape for k, v in FinalNet().state_dict().items()}
    assert {k: v.shape for k, v in ScaledFinalNet((8, 16, 12, 24)).state_dict().items()} == shapes
    tiny = build_model("tiny")
    assert count_parameters(tiny) < 4_000
    assert global_average_pools(tiny)
    assert any(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    assert any(isinstance(m, nn.modules.dropout._DropoutNd) for m in tiny.modules())


def test_separable_net_is_under_4k_with_bn_dropout_gap_and_depthwise_convs():
    model = build_model("separable")
    assert count_parameters(model) == 3_800
    assert global_average_pools(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, nn.Dropout2d) for m in model.modules())
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 4 and all(m.groups == m.in_channels == m.out_channels
                                       for m in depthwise)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_a_separable_block_costs_a_fraction_of_a_full_conv():
    from utils.models import separable_block

    weights = sum(p.numel() for p in separable_block(22, 22)[:2].parameters())
    assert weights == 22 * 9 + 22 * 22 == 682
    assert weights < sum(p.numel() for p in conv_block(22, 22)[0].parameters()) / 6


def test_the_report_knows_the_widths_of_the_named_models():
    from utils.report import MODEL_WIDTHS

    assert count_parameters(build_model("separable", width=MODEL_WIDTHS["separable"])) == \
        count_parameters(build_model("separable"))
    for name, widths in MODEL_WIDTHS.items():
        if name == "separable":
            continue
        scaled = {k: v.shape for k, v in ScaledFinalNet(widths).state_dict().items()}
        assert scaled == {k: v.shape for k, v in build_model(name).state_dict().items()}
