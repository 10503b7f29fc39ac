"""The plotting helpers: counts, figure layout, and saving."""
import matplotlib

matplotlib.use("Agg")  # no windows during tests

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from utils import plot  # noqa: E402
from utils.models import build_model  # noqa: E402
from utils.receptive_field import receptive_field  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def n_images(fig):
    return sum(len(ax.images) for ax in fig.axes)


def history(accs):
    return [dict(epoch=i + 1, train_loss=1.0 / (i + 1), train_acc=a - 0.5,
                 test_loss=1.2 / (i + 1), test_acc=a, lr=0.01, seconds=1.0)
            for i, a in enumerate(accs)]


def test_confusion_matrix_rows_are_true_labels():
    true = torch.tensor([0, 0, 1, 2, 2, 2])
    pred = torch.tensor([0, 1, 1, 2, 2, 0])
    cm = plot.confusion_matrix(true, pred, num_classes=3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[1, 1, 0],    # true 0: once right, once called 1
                           [0, 1, 0],
                           [1, 0, 2]]    # true 2: twice right, once called 0
    assert cm.sum() == len(true)


def test_confusion_matrix_keeps_unseen_classes():
    cm = plot.confusion_matrix([3], [3])
    assert cm.shape == (10, 10) and cm[3, 3] == 1 and cm.sum() == 1


def test_sample_grid():
    images = torch.randint(0, 256, (13, 1, 28, 28), dtype=torch.uint8)
    fig = plot.sample_grid(images, torch.arange(13) % 10, ncols=5, title="digits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 15          # 3 rows of 5, two left blank
    assert n_images(fig) == 13
    assert fig.axes[12].get_title() == "2"


def test_sample_grid_accepts_normalized_images_without_channel():
    fig = plot.sample_grid(torch.randn(4, 28, 28), [1, 2, 3, 4])
    assert len(fig.axes) == 4 and n_images(fig) == 4


def test_misclassified_grid_titles():
    fig = plot.misclassified_grid(torch.rand(3, 1, 28, 28), torch.tensor([7, 4, 9]),
                                  torch.tensor([1, 9, 4]))
    assert [ax.get_title() for ax in fig.axes] == ["7→1", "4→9", "9→4"]


def test_augmentation_preview_layout():
    images = torch.rand(3, 1, 28, 28)
    fig = plot.augmentation_preview(images, {"rotate": images.flip(-1), "shift": images})
    assert len(fig.axes) == 9 and n_images(fig) == 9
    assert [ax.get_title() for ax in fig.axes[:3]] == ["original", "rotate", "shift"]


def test_curves_one_history_and_several():
    fig = plot.curves(history([97.0, 98.5, 99.1]))
    assert len(fig.axes) == 3                             # loss, train accuracy, test accuracy
    assert [len(ax.lines) for ax in fig.axes] == [2, 1, 1]

    fig = plot.curves({"a": history([97.0, 99.0]), "b": history([98.0, 99.3])}, target=99.4)
    loss, train, test = fig.axes
    assert len(loss.lines) == 4 and len(train.lines) == 2 and len(test.lines) == 3  # + target
    assert loss.lines[0].get_color() != loss.lines[2].get_color()  # one colour per run
    assert [line.get_linestyle() for line in loss.lines] == ["--", "-", "--", "-"]
    # two epochs only: from just below the lowest test point to just above the target
    assert test.get_ylim() == pytest.approx((96.9, 99.5))
    assert loss.get_yscale() == "log"
    assert all(ax.get_title() for ax in fig.axes)


def test_curves_low_accuracy_is_not_cut_off():
    fig = plot.curves(history([10.0, 11.0]))
    for ax, (low, high) in zip(fig.axes[1:], [(9.5, 10.5), (10.0, 11.0)]):
        bottom, top = ax.get_ylim()
        assert bottom <= low and top >= high


def test_curves_zoom_to_the_later_test_accuracy():
    before = history([90.0, 95.0, 98.6, 98.9, 99.1, 99.2])
    after = history([92.0, 96.0, 98.8, 99.2, 99.5, 99.45])
    fig = plot.curves({"step before": before, "this step": after}, target=99.4)
    loss, train, test = fig.axes
    bottom, top = test.get_ylim()
    later = [h["test_acc"] for h in before + after if h["epoch"] > 2]
    assert 90.0 < bottom < min(later) and max(later) < top <= 100
    assert bottom < 99.4 - 0.3 < 99.4 < top    # differences of a few tenths are readable
    assert top - bottom < 1.5
    legend = [t.get_text() for t in test.get_legend().get_texts()]
    assert legend == ["step before train", "step before test", "this step train",
                      "this step test", "target 99.4%"]


def test_curves_zoom_stops_at_97_unless_a_later_test_point_is_lower():
    fig = plot.curves(history([90.0, 95.0, 97.05, 99.0]))
    assert fig.axes[2].get_ylim()[0] == pytest.approx(97.0)
    fig = plot.curves(history([90.0, 95.0, 96.5, 99.0]))
    assert fig.axes[2].get_ylim()[0] < 96.5   # never cuts a later test point


def test_curves_show_every_line_the_legend_names():
    """A training accuracy far below the test accuracy (Dropout and augmentation on while it
    is logged) keeps its later epochs in view, in its own panel; no legend entry names a line
    that the axes cut off."""
    run = history([90.0, 95.0, 98.6, 98.9, 99.1, 99.2])
    for h, train_acc in zip(run, [60.0, 90.0, 96.5, 97.2, 97.6, 97.8]):
        h["train_acc"] = train_acc
    fig = plot.curves({"before": history([91.0, 96.0, 98.9, 99.0, 99.3, 99.35]), "now": run},
                      target=99.4)
    loss, train, test = fig.axes
    for ax in fig.axes:
        bottom, top = ax.get_ylim()
        for line in ax.lines:
            later = [y for x, y in zip(line.get_xdata(), line.get_ydata()) if x > 2 or ax is loss]
            assert all(bottom <= y <= top for y in later), (ax.get_title(), line.get_label())
    named = {t.get_text() for t in test.get_legend().get_texts()}
    drawn = {line.get_label() for ax in fig.axes for line in ax.lines}
    assert named <= drawn


def test_curves_name_the_held_out_set():
    fig = plot.curves({"a": history([97.0, 99.0])}, held_out="validation")
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()] == [
        "a train", "a validation"]
    assert fig.axes[2].get_title().startswith("Validation accuracy")


def test_time_to_accuracy_puts_each_epoch_at_its_seconds():
    fast, slow = history([98.9, 99.5]), history([99.0, 99.45, 99.6])
    for i, h in enumerate(fast):
        h["seconds"] = 10.0 * (i + 1)
    for i, h in enumerate(slow):
        h["seconds"] = 30.0 * (i + 1)
    (ax,) = plot.time_to_accuracy({"fast": fast, "slow": slow}, target=99.4).axes
    assert [list(line.get_xdata()) for line in ax.lines[:2]] == [[10, 20], [30, 60, 90]]
    assert list(ax.lines[1].get_ydata()) == [99.0, 99.45, 99.6]
    assert list(ax.lines[2].get_ydata()) == [99.4, 99.4]  # the target
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fast", "slow", "target 99.4%"]
    assert ax.get_title() and ax.get_ylim()[1] >= 99.6 + 0.05   # the best point not cut off


def test_time_to_accuracy_draws_every_seed_of_a_way_in_its_colour():
    seeds = [history([98.9, 99.5]), history([99.0, 99.3])]
    for seed, run in enumerate(seeds):
        for i, h in enumerate(run):
            h["seconds"] = 10.0 * (i + 1) + seed
    (ax,) = plot.time_to_accuracy({"short": seeds}, target=99.4).axes
    assert [list(line.get_ydata()) for line in ax.lines[:2]] == [[98.9, 99.5], [99.0, 99.3]]
    assert ax.lines[0].get_color() == ax.lines[1].get_color()
    assert ax.lines[0].get_linestyle() != ax.lines[1].get_linestyle()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "short (2 seeds)", "target 99.4%", "seed 0", "seed 1"]


def test_confusion_figure():
    cm = plot.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 3)
    fig = plot.confusion_figure(cm)
    ax, bar = fig.axes                                   # the matrix and its colour bar
    assert len(ax.images) == 1 and "mistakes" in bar.get_ylabel()
    assert [t.get_text() for t in ax.texts] == ["1", "0", "0", "1", "1", "0", "0", "0", "0"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert ax.get_title()
    image = ax.images[0]
    rgba = image.to_rgba(image.get_array())
    assert tuple(rgba[1, 0]) != tuple(rgba[0, 2])        # one mistake is not a zero
    assert tuple(rgba[0, 0]) != tuple(rgba[0, 2])        # nor is the diagonal
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]  # the caller's matrix untouched


def test_confusion_figure_without_mistakes():
    ax, bar = plot.confusion_figure(torch.eye(3, dtype=torch.int64) * 5).axes
    assert ax.images[0].get_clim() == (0, 1)


def seed_study(finals):
    runs = [dict(seed=i, test_acc=[98.0, 99.0, a], final_test_acc=a, best_test_acc=a)
            for i, a in enumerate(finals)]
    mean = sum(finals) / len(finals)
    return dict(seeds=len(finals), per_seed=runs, final=dict(mean=mean), best=dict(mean=mean))


def test_seeds_figure_spreads_equal_dots_and_labels_the_targets():
    fig = plot.seeds_figure(seed_study([99.5, 99.5, 99.5, 99.6]))
    runs, dots = fig.axes
    final, best = dots.collections[:2]
    xs = [x for x, y in final.get_offsets()]
    assert len(set(xs)) == 4 and max(xs) - min(xs) < 0.5   # sideways, still over "final"
    legend = [t.get_text() for t in runs.get_legend().get_texts()]
    assert legend[-2:] == ["target 99.4%", "99.6%"]
    assert fig.get_suptitle()


@pytest.mark.parametrize("make", [
    lambda save: plot.sample_grid(torch.rand(2, 1, 28, 28), [0, 1], save=save),
    lambda save: plot.curves(history([98.0, 99.0]), save=save),
    lambda save: plot.confusion_figure(torch.eye(3, dtype=torch.int64), save=save),
])
def test_save_writes_a_png_in_a_new_folder(tmp_path, make):
    path = tmp_path / "new" / "folder" / "figure.png"
    make(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in path.parent.iterdir()] == ["figure.png"]   # no temp file left


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    path = tmp_path / "out" / "figure.png"

    def broken_savefig(fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(PNG_SIGNATURE + b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot.save_figure(fig, path)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")
    fig, ax = plt.subplots()

    def broken_savefig(fname, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError):
        plot.save_figure(fig, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]


def test_step_panels_draws_one_panel_per_step_and_blanks_the_rest():
    history = [{"epoch": e, "train_acc": 98 + e / 10, "test_acc": 98.5 + e / 10} for e in (1, 2, 3)]
    steps = [{"step": f"0{i}", "model": "m", "history": history} for i in range(5)]
    fig = plot.step_panels(steps, ncols=4)
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == 5 and len(fig.axes) == 8
    assert drawn[0].get_title() == "00 m: 98.80%"
    assert fig.get_suptitle()
    legend = fig.axes[5].get_legend()                   # in the first spare panel
    assert [t.get_text() for t in legend.get_texts()] == ["train", "test", "target 99.4%"]
    plt.close(fig)


def test_class_activation_maps_share_one_symmetric_scale_per_row():
    images, maps = torch.rand(2, 1, 28, 28), torch.randn(2, 3, 7, 7)
    maps[1] *= 10                                        # the second row on a larger scale
    titles = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    field = dict(start=7.5, jump=2, rf=20)
    fig = plot.class_activation_maps(images, maps, titles, field)
    assert len(fig.axes) == 8 + 2                        # 2 rows of 4, a colour bar per row
    assert [ax.get_title() for ax in fig.axes[:4]] == titles[0]
    assert "20-pixel patch" in fig.get_suptitle()
    for row in range(2):
        cells = fig.axes[4 * row:4 * row + 4]
        assert cells[0].images[0].get_cmap().name == "gray"   # the digit itself
        limits = {ax.images[0].get_clim() for ax in cells[1:]}
        assert len(limits) == 1                          # one scale for the row
        low, high = limits.pop()
        assert low == -high == pytest.approx(-maps[row].abs().max().item(), rel=1e-6)
        for ax in cells[1:]:
            assert len(ax.images) == 1 and ax.images[0].get_cmap().name == "RdBu_r"
            assert ax.images[0].get_array().shape == (7, 7)     # one square per position
            assert ax.collections                         # the digit's ink as a contour
            assert ax.get_xlim() == (-0.5, 27.5)          # the whole image, margins included
    bars = fig.axes[8:]
    assert all("class score" in bar.get_ylabel() for bar in bars)
    assert bars[1].get_ylim()[1] > 5 * bars[0].get_ylim()[1]
    plt.close(fig)
    # maps that are not a class's own (a difference of two) get their own title and label
    fig = plot.class_activation_maps(images, maps, titles, field, title="A minus B",
                                     colorbar_label="A - B")
    assert fig.get_suptitle().startswith("A minus B\n")
    assert all(bar.get_ylabel() == "A - B" for bar in fig.axes[8:])
    plt.close(fig)


@pytest.mark.parametrize("name", ["light_gap", "final"])
def test_class_activation_maps_draw_each_position_at_the_centre_of_what_it_sees(name):
    """The squares of a map sit where the receptive-field table says each position looks:
    measured here by the gradient of one position's output with respect to the image."""
    model = build_model(name).eval()
    rows = receptive_field(model)
    field = rows[[r["kind"] for r in rows].index("GAP") - 1]     # the layer the maps come from
    torch.manual_seed(0)
    image = torch.rand(1, 1, 28, 28, requires_grad=True)  # no ties for max-pooling to break
    gap = next(m for m in model.modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d))
    seen_by_gap = []
    gap.register_forward_hook(lambda module, inputs, output: seen_by_gap.append(inputs[0]))
    model(image)
    out = seen_by_gap[0]                                          # the maps GAP averages
    assert out.shape[-1] == field["size"]
    for i in (0, field["size"] // 2, field["size"] - 1):
        image.grad = None
        out[0, :, i, i].sum().backward(retain_graph=True)
        seen = image.grad[0, 0].abs().sum(1).nonzero().flatten()  # the rows this position sees
        centre = field["start"] + i * field["jump"]
        half = (field["rf"] - 1) / 2
        assert seen.min().item() == max(0, centre - half)
        assert seen.max().item() == min(27, centre + half)
    maps = torch.randn(1, 1, field["size"], field["size"])
    fig = plot.class_activation_maps(image.detach(), maps, [["x", "y"]], field)
    left, right, bottom, top = fig.axes[1].images[0].get_extent()
    assert (left, top) == (field["start"] - field["jump"] / 2,) * 2
    assert right == bottom == field["start"] + (field["size"] - 0.5) * field["jump"]
    plt.close(fig)


def test_image_rows_draws_one_row_per_entry_and_blanks_the_spare_cells():
    rows = {"filters": torch.randn(8, 3, 3), "block 1": torch.rand(6, 1, 26, 26),
            "block 5": torch.rand(3, 6, 6)}
    fig = plot.image_rows(rows)
    assert len(fig.axes) == 24 + 3 and n_images(fig) == 17   # 3 rows of 8 and 3 colour bars
    assert [fig.axes[i].get_ylabel() for i in (0, 8, 16)] == list(rows)
    assert not fig.axes[15].axison                      # the spare cells of a short row
    assert fig.get_suptitle()
    plt.close(fig)


def test_image_rows_put_each_row_on_one_scale():
    small, large = torch.rand(4, 5, 5), 10 * torch.rand(3, 5, 5)
    fig = plot.image_rows({"small": small, "large": large}, colorbar_label="activation")
    for row, images in enumerate((small, large)):
        limits = {ax.images[0].get_clim() for ax in fig.axes[4 * row:4 * row + len(images)]}
        assert limits == {(images.min().item(), images.max().item())}
        assert fig.axes[4 * row].images[0].get_cmap().name == "gray"
    assert [bar.get_ylabel() for bar in fig.axes[8:]] == ["activation", "activation"]
    plt.close(fig)
    # rows that hold different things (an input, then feature maps) get a label each
    fig = plot.image_rows({"small": small, "large": large},
                          colorbar_label={"small": "pixel", "large": "after ReLU"})
    assert [bar.get_ylabel() for bar in fig.axes[8:]] == ["pixel", "after ReLU"]
    plt.close(fig)


def test_image_rows_signed_centres_each_row_at_zero():
    filters = torch.tensor([[[-1.0, 0.5]], [[0.2, 3.0]]])   # two 1x2 filters
    fig = plot.image_rows({"filters": filters}, signed=True)
    cells, bar = fig.axes[:2], fig.axes[2]
    assert {ax.images[0].get_clim() for ax in cells} == {(-3.0, 3.0)}
    assert all(ax.images[0].get_cmap().name == "RdBu_r" for ax in cells)
    assert bar.get_ylim() == pytest.approx((-3.0, 3.0))


def test_activation_stats_draws_a_line_per_layer_and_run_in_two_panels():
    steps = [0, 10, 20]
    runs = {"with BN": {"mean": torch.rand(3, 2), "std": torch.rand(3, 2)},
            "without BN": {"mean": torch.rand(3, 2), "std": torch.rand(3, 2)}}
    fig = plot.activation_stats(steps, runs, ["block 1", "block 2"])
    mean, std = fig.axes
    assert len(mean.lines) == len(std.lines) == 4
    assert [line.get_linestyle() for line in mean.lines] == ["-", "-", "--", "--"]
    assert mean.lines[0].get_color() == mean.lines[2].get_color()   # one colour per layer
    assert list(std.lines[3].get_ydata()) == runs["without BN"]["std"][:, 1].tolist()
    assert mean.get_title() and std.get_title()
    plt.close(fig)


def test_activation_stats_keeps_negative_means_on_the_axis():
    runs = {"a": {"mean": torch.tensor([[-0.5], [0.2]]), "std": torch.tensor([[1.0], [2.0]])}}
    mean, std = plot.activation_stats([0, 10], runs, ["block 1"]).axes
    assert mean.get_ylim()[0] <= -0.5 and std.get_ylim()[0] == 0


def test_generalization_gap_is_test_minus_train_per_epoch():
    fig = plot.generalization_gap({"a": history([97.0, 99.0]), "b": history([98.0])})
    (ax,) = fig.axes
    assert list(ax.lines[0].get_ydata()) == [0.5, 0.5]   # history() puts train 0.5 below test
    assert list(ax.lines[1].get_xdata()) == [1]
    assert list(ax.lines[2].get_ydata()) == [0, 0]       # the zero line
    assert ax.get_title()
    plt.close(fig)


def test_generalization_gap_leaves_the_first_epoch_off_the_scale():
    run = history([70.0, 99.0, 99.2])
    run[0]["train_acc"] = 40.0                            # a gap of 30 points in epoch 1
    run[2]["train_acc"] = 99.7                            # -0.5 in epoch 3
    (ax,) = plot.generalization_gap({"a": run}).axes
    assert ax.get_ylim() == pytest.approx((-0.6, 0.6))  # -0.5 to 0.5 padded by a tenth; Python floats, any CPU
    plt.close(ax.figure)


@pytest.mark.parametrize("command, held_out", [("python -m utils.train --protocol val", "validation"),
                                               ("python -m utils.train", "test")])
def test_a_seed_study_of_the_validation_protocol_is_labelled_validation(command, held_out):
    fig = plot.seeds_figure(dict(seed_study([99.4, 99.5]), command=command))
    runs, dots = fig.axes
    assert runs.get_ylabel() == dots.get_ylabel() == f"{held_out} accuracy (%)"
    assert runs.get_title().startswith(held_out.capitalize())
