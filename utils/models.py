"""The workbook's models, one per step, from a plain baseline to the final sub-20k network.

Every model is an `nn.Sequential`, so it reads top to bottom in the order the data flows,
and the comments give the output size and receptive field (RF) after each layer. Steps 03
to 06 differ by one argument or one layer, yet each is written out in full: its notebook
shows the whole model it trains, and the difference from the step before is plain to see.
"""
import torch.nn as nn


def conv_block(cin, cout, kernel=3, padding=0, bn=True, dropout=0.0):
    """Conv -> (BatchNorm) -> ReLU -> (Dropout).

    The conv has no bias when BN follows, because BN's own shift makes it redundant.
    Dropout2d zeroes whole channels rather than single pixels: neighbouring pixels of a
    feature map are so alike that dropping one barely regularizes (Tompson et al., 2015),
    and it draws one random number per channel instead of one per pixel, which on a
    CPU is much of the cost of a training step.
    """
    layers = [nn.Conv2d(cin, cout, kernel, padding=padding, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


def separable_block(cin, cout, padding=0, dropout=0.0):
    """A 3x3 conv split in two, as in MobileNet: a depthwise 3x3 conv looks at space, one
    filter per channel (9 weights each), then a 1x1 conv mixes the channels. For 22 channels
    in and out that is 682 weights instead of 4,356 for a full 3x3 conv, so a tiny model can
    afford twice the width. No BN or ReLU between the two halves (as in Xception)."""
    layers = [nn.Conv2d(cin, cin, 3, padding=padding, groups=cin, bias=False),
              nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


def transition_block(cin, cout):
    """Halve the image with max-pooling, then mix channels down with a 1x1 conv.
    Pooling first makes the 1x1 conv four times cheaper to compute. No ReLU follows it, so
    with the 3x3 conv after it, it forms one linear map: a cheaper 3x3 conv when it narrows
    the channels, and nothing gained when it does not."""
    return nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(cin, cout, 1, bias=False))


class BaselineCNN(nn.Sequential):
    """Step 01: a plain CNN with a dense head. It learns, but has 5.5x the budget."""

    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 8, 3), nn.ReLU(),     # 26, RF 3
            nn.Conv2d(8, 16, 3), nn.ReLU(),    # 24, RF 5
            nn.MaxPool2d(2),                   # 12, RF 6
            nn.Conv2d(16, 32, 3), nn.ReLU(),   # 10, RF 10
            nn.MaxPool2d(2),                   # 5,  RF 12
            nn.Flatten(),
            nn.Linear(32 * 5 * 5, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )


class Skeleton(nn.Sequential):
    """Step 02: the right shape. Two conv blocks around one transition, and a last conv whose
    6x6 kernel covers the whole 6x6 map: a dense layer from the 32 x 6 x 6 features straight
    to the 10 scores, without the baseline's 128-unit hidden layer."""

    def __init__(self):
        super().__init__(
            conv_block(1, 16, bn=False),       # 26, RF 3
            conv_block(16, 16, bn=False),      # 24, RF 5
            transition_block(16, 16),          # 12, RF 6
            conv_block(16, 32, bn=False),      # 10, RF 10
            conv_block(32, 32, bn=False),      # 8,  RF 14
            conv_block(32, 32, bn=False),      # 6,  RF 18
            nn.Conv2d(32, 10, 6),              # 1,  RF 28
            nn.Flatten(),
        )


class LightSkeleton(nn.Sequential):
    """Step 03: the same shape with fewer channels, under 20,000 parameters."""

    def __init__(self):
        super().__init__(
            conv_block(1, 8, bn=False),        # 26, RF 3
            conv_block(8, 16, bn=False),       # 24, RF 5
            transition_block(16, 8),           # 12, RF 6
            conv_block(8, 16, bn=False),       # 10, RF 10
            conv_block(16, 16, bn=False),      # 8,  RF 14
            conv_block(16, 16, bn=False),      # 6,  RF 18
            nn.Conv2d(16, 10, 6),              # 1,  RF 28
            nn.Flatten(),
        )


class LightBN(nn.Sequential):
    """Step 04: LightSkeleton with Batch Normalization after every 3x3 conv."""

    def __init__(self):
        super().__init__(
            conv_block(1, 8),                  # 26, RF 3
            conv_block(8, 16),                 # 24, RF 5
            transition_block(16, 8),           # 12, RF 6
            conv_block(8, 16),                 # 10, RF 10
            conv_block(16, 16),                # 8,  RF 14
            conv_block(16, 16),                # 6,  RF 18
            nn.Conv2d(16, 10, 6),              # 1,  RF 28
            nn.Flatten(),
        )


class LightBNDropout(nn.Sequential):
    """Step 05: LightBN with a little Dropout after every 3x3 block."""

    def __init__(self, dropout=0.05):
        super().__init__(
            conv_block(1, 8, dropout=dropout),     # 26, RF 3
            conv_block(8, 16, dropout=dropout),    # 24, RF 5
            transition_block(16, 8),               # 12, RF 6
            conv_block(8, 16, dropout=dropout),    # 10, RF 10
            conv_block(16, 16, dropout=dropout),   # 8,  RF 14
            conv_block(16, 16, dropout=dropout),   # 6,  RF 18
            nn.Conv2d(16, 10, 6),                  # 1,  RF 28
            nn.Flatten(),
        )


class LightGAP(nn.Sequential):
    """Step 06: the 6x6 last conv (5,760 weights and 10 biases) becomes Global Average
    Pooling and a 1x1 conv (160 weights and 10 biases): the same 10 outputs for 3% of the
    parameters."""

    def __init__(self, dropout=0.05):
        super().__init__(
            conv_block(1, 8, dropout=dropout),     # 26, RF 3
            conv_block(8, 16, dropout=dropout),    # 24, RF 5
            transition_block(16, 8),               # 12, RF 6
            conv_block(8, 16, dropout=dropout),    # 10, RF 10
            conv_block(16, 16, dropout=dropout),   # 8,  RF 14
            conv_block(16, 16, dropout=dropout),   # 6,  RF 18
            nn.AdaptiveAvgPool2d(1),               # 1,  RF 28 (averages all 6x6 positions)
            nn.Conv2d(16, 10, 1),
            nn.Flatten(),
        )


class FinalNet(nn.Sequential):
    """Steps 07 to 11, the workbook's final model: the parameters freed by GAP go into a
    third conv before the pool (max-pooling then summarizes pieces of stroke at RF 7, not
    edges at 5) and into wider layers after it (24 channels). A conv's parameters do not
    depend on the size of its map, so the width goes where the digit's parts are combined
    and where, after GAP, each channel becomes one feature for the classifier. Steps 07 to
    09 build it with step 06's Dropout: FinalNet(dropout=0.05, head_dropout=0); step 10
    lightens the Dropout2d to 0.02 (FinalNet(head_dropout=0)); step 11 adds nn.Dropout(0.1)
    on the 24 pooled features the classifier reads. The defaults are the final model's."""

    def __init__(self, dropout=0.02, head_dropout=0.1):
        super().__init__(
            conv_block(1, 8, dropout=dropout),                 # 26, RF 3
            conv_block(8, 16, dropout=dropout),                # 24, RF 5
            conv_block(16, 16, dropout=dropout),               # 22, RF 7
            transition_block(16, 12),                          # 11, RF 8
            conv_block(12, 24, dropout=dropout),               # 9,  RF 12
            conv_block(24, 24, dropout=dropout),               # 7,  RF 16
            conv_block(24, 24, padding=1, dropout=dropout),    # 7,  RF 20
            nn.AdaptiveAvgPool2d(1),                           # 1,  RF 20 + the 7x7 average
            *([nn.Dropout(head_dropout)] if head_dropout else []),  # 24 features, a tenth zeroed
            nn.Conv2d(24, 10, 1),
            nn.Flatten(),
        )


class ScaledFinalNet(nn.Sequential):
    """FinalNet's architecture with its widths as arguments, for the bonus notebook: how
    few parameters can reach 99.4%? widths = (first conv, first block, after the 1x1
    transition, second block); (8, 16, 12, 24) is FinalNet itself, head Dropout included.
    Two more arguments undo two of step 07's edits, for its ablation (notebook 07):
    `pre_pool_convs=2` drops the third conv before the pool (the pool then halves 24 to 12),
    and `last_padding=0` leaves the last block unpadded (GAP then averages 5x5 positions)."""

    def __init__(self, widths=(4, 8, 6, 10), dropout=0.02, head_dropout=0.1, pre_pool_convs=3,
                 last_padding=1):
        if pre_pool_convs not in (2, 3) or last_padding not in (0, 1):
            raise ValueError(f"pre_pool_convs is 2 or 3 and last_padding 0 or 1, not "
                             f"{pre_pool_convs} and {last_padding}")
        a, b, t, c = widths
        super().__init__(
            conv_block(1, a, dropout=dropout),               # 26, RF 3
            conv_block(a, b, dropout=dropout),               # 24, RF 5
            *([conv_block(b, b, dropout=dropout)] if pre_pool_convs == 3 else []),  # 22, RF 7
            transition_block(b, t),                          # 11, RF 8
            conv_block(t, c, dropout=dropout),               # 9,  RF 12
            conv_block(c, c, dropout=dropout),               # 7,  RF 16
            conv_block(c, c, padding=last_padding, dropout=dropout),  # 7, RF 20
            nn.AdaptiveAvgPool2d(1),
            *([nn.Dropout(head_dropout)] if head_dropout else []),
            nn.Conv2d(c, 10, 1),
            nn.Flatten(),
        )


class SeparableNet(nn.Sequential):
    """The bonus notebook's model: 3,800 parameters at width 22, 17,030 at width 64 (a
    candidate of notebook 15's search for a 99.6% mean). Two full 3x3 convs at 28x28, where
    few channels suffice to find strokes, then max-pooling and four separable blocks of
    `width` channels at 12x12 and below, where the digit's parts are combined, and GAP. By
    default it has FinalNet's nn.Dropout(0.1) on the pooled features, as the width families
    of notebook 13 were trained; notebook 13's rule drops it for the bonus model (build it
    with head_dropout=0), whose cost it could not show to be small. `pool_dropout` puts an
    nn.Dropout after the max-pool instead, a candidate that notebook 13 did not adopt."""

    def __init__(self, width=22, dropout=0.01, head_dropout=0.1, pool_dropout=0.0):
        super().__init__(
            conv_block(1, 8, dropout=dropout),                           # 26, RF 3
            conv_block(8, 12, dropout=dropout),                          # 24, RF 5
            nn.MaxPool2d(2),                                             # 12, RF 6
            *([nn.Dropout(pool_dropout)] if pool_dropout else []),      # on 12 x 12 x 12 values
            separable_block(12, width, dropout=dropout),                 # 10, RF 10
            separable_block(width, width, dropout=dropout),              # 8,  RF 14
            separable_block(width, width, dropout=dropout),              # 6,  RF 18
            separable_block(width, width, padding=1, dropout=dropout),   # 6,  RF 22
            nn.AdaptiveAvgPool2d(1),                                     # 1,  RF 22 + the 6x6 average
            *([nn.Dropout(head_dropout)] if head_dropout else []),
            nn.Conv2d(width, 10, 1),
            nn.Flatten(),
        )


class Residual(nn.Sequential):
    """Its layers' output added to its input, x + f(x) (He et al., 2015): the layers learn a
    correction to what comes in, and the gradient has a path around them."""

    def forward(self, x):
        return x + super().forward(x)


class DownNet(nn.Sequential):
    """Notebook 16's lever "downsample earlier": FinalNet spends about 43% of its
    multiply-adds on the 16-to-16 conv at 22x22. Here its first two convs are kept, then the
    image is pooled at 24 (not 22) and again at 12, so the last stage works at 6x6, and the
    parameters go into width there: two convs of 26 channels around which a residual
    connection runs. 17,610 parameters (FinalNet: 17,154), a third fewer multiply-adds."""

    def __init__(self, width=26, dropout=0.02, head_dropout=0.1):
        super().__init__(
            conv_block(1, 8, dropout=dropout),                      # 26, RF 3
            conv_block(8, 16, dropout=dropout),                     # 24, RF 5
            nn.MaxPool2d(2),                                        # 12, RF 6
            conv_block(16, width, padding=1, dropout=dropout),      # 12, RF 10
            nn.MaxPool2d(2),                                        # 6,  RF 12
            Residual(conv_block(width, width, padding=1, dropout=dropout),    # 6, RF 20
                     conv_block(width, width, padding=1, dropout=dropout)),   # 6, RF 28
            nn.AdaptiveAvgPool2d(1),                                # 1,  RF 28 + the 6x6 average
            *([nn.Dropout(head_dropout)] if head_dropout else []),
            nn.Conv2d(width, 10, 1),
            nn.Flatten(),
        )


MODELS = {
    "baseline": BaselineCNN,
    "skeleton": Skeleton,
    "light": LightSkeleton,
    "light_bn": LightBN,
    "light_bn_dropout": LightBNDropout,
    "light_gap": LightGAP,
    "final": FinalNet,
    "tiny": ScaledFinalNet,
    "separable": SeparableNet,
    "down": DownNet,
}


def kaiming_init(model):
    """Re-draw every convolution's weights with Kaiming's initialization (He et al., 2015:
    variance 2 / fan_in, which keeps the signal's scale through a ReLU) and zero its biases;
    PyTorch's default draws a variance of 1 / (3 fan_in). Notebook 04 writes it out by hand."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def build_model(name, **kwargs):
    """A new model by its name in MODELS; an unknown name lists the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


def count_parameters(model):
    """Trainable parameters (BatchNorm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
