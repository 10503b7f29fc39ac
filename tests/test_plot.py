"""The plotting helpers: counts, figure layout, and saving."""
import matplotlib

matplotlib.use("Agg")  # no windows during tests

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from utils import plot  # noqa: E402

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
    assert len(fig.axes) == 2
    assert all(len(ax.lines) == 2 for ax in fig.axes)     # train and test

    fig = plot.curves({"a": history([97.0, 99.0]), "b": history([98.0, 99.3])}, target=99.4)
    loss, acc = fig.axes
    assert len(loss.lines) == 4 and len(acc.lines) == 5  # + the target line
    assert loss.lines[0].get_color() != loss.lines[2].get_color()  # one colour per run
    assert acc.get_ylim() == pytest.approx((96.0, 99.9))  # lowest - 0.5 to highest + 0.5


def test_curves_low_accuracy_is_not_cut_off():
    fig = plot.curves(history([10.0, 11.0]))
    bottom, top = fig.axes[1].get_ylim()
    assert bottom <= 9.5 and top >= 11.0


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


def test_confusion_figure():
    cm = plot.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 3)
    fig = plot.confusion_figure(cm)
    (ax,) = fig.axes
    assert len(ax.images) == 1
    assert [t.get_text() for t in ax.texts] == ["1", "0", "0", "1", "1", "0", "0", "0", "0"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"


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
    plt.close(fig)


def test_class_activation_maps_overlays_each_map_on_its_image():
    images, maps = torch.rand(2, 1, 28, 28), torch.rand(2, 3, 7, 7)
    titles = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    fig = plot.class_activation_maps(images, maps, titles)
    assert len(fig.axes) == 8 and [ax.get_title() for ax in fig.axes[:4]] == titles[0]
    assert len(fig.axes[1].images) == 2  # the digit and its map over it
    plt.close(fig)


def test_image_rows_draws_one_row_per_entry_and_blanks_the_spare_cells():
    rows = {"filters": torch.randn(8, 3, 3), "block 1": torch.rand(6, 1, 26, 26),
            "block 5": torch.rand(3, 6, 6)}
    fig = plot.image_rows(rows)
    assert len(fig.axes) == 24 and n_images(fig) == 17   # 3 rows of 8, 8 + 6 + 3 drawn
    assert [fig.axes[i].get_ylabel() for i in (0, 8, 16)] == list(rows)
    assert not fig.axes[15].axison                      # the spare cells of a short row
    plt.close(fig)


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
    plt.close(fig)


def test_generalization_gap_is_test_minus_train_per_epoch():
    fig = plot.generalization_gap({"a": history([97.0, 99.0]), "b": history([98.0])})
    (ax,) = fig.axes
    assert list(ax.lines[0].get_ydata()) == [0.5, 0.5]   # history() puts train 0.5 below test
    assert list(ax.lines[1].get_xdata()) == [1]
    assert list(ax.lines[2].get_ydata()) == [0, 0]       # the zero line
    plt.close(fig)


def test_generalization_gap_leaves_the_first_epoch_off_the_scale():
    run = history([70.0, 99.0, 99.2])
    run[0]["train_acc"] = 40.0                            # a gap of 30 points in epoch 1
    run[2]["train_acc"] = 99.7                            # -0.5 in epoch 3
    (ax,) = plot.generalization_gap({"a": run}).axes
    assert ax.get_ylim() == pytest.approx((-0.6, 0.6))  # -0.5 to 0.5 padded by a tenth; Python floats, any CPU
    plt.close(ax.figure)
