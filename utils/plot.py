"""Figures for the workbook: sample images, augmentations, training curves, mistakes.

Every function returns a matplotlib Figure, so a notebook shows it and a script can save
or close it. With `save=path` the figure is also written there as a PNG.
"""
import math

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

from utils.report import atomic_write


def save_figure(fig, path, dpi=120):
    """Write `fig` to `path` as a PNG, atomically (never a truncated image)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def _finish(fig, save):
    if save is not None:
        save_figure(fig, save)
    return fig


def _as_image(image):
    """(1, H, W) or (H, W), any dtype -> (H, W) float array for imshow."""
    image = image.detach().cpu().float()
    return image.squeeze(0).numpy() if image.dim() == 3 else image.numpy()


def _image_grid(images, titles, ncols, title):
    """Images in rows of `ncols`, each with a small title; spare cells stay blank."""
    n = len(images)
    if n == 0:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.text(0.5, 0.5, "no images", ha="center", va="center")
        ax.axis("off")
        return fig
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            # imshow scales each image to its own min..max, so raw bytes, [0, 1] floats and
            # normalized tensors all look the same.
            ax.imshow(_as_image(images[i]), cmap="gray")
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_grid(images, labels, ncols=10, title=None, save=None):
    """Images (N, 1, 28, 28) or (N, 28, 28) with their labels (N,) as titles; without a
    `title` the figure says that the small titles are the labels."""
    titles = [str(int(label)) for label in labels]
    title = title or "images, each titled with its label"
    return _finish(_image_grid(images, titles, ncols, title), save)


def misclassified_grid(images, true, pred, ncols=10, save=None):
    """Wrongly classified images, each titled "true→predicted", e.g. "7→1"."""
    titles = [f"{int(t)}→{int(p)}" for t, p in zip(true, pred)]
    return _finish(_image_grid(images, titles, ncols, "true → predicted"), save)


def augmentation_preview(images, augmented, title=None, save=None):
    """One row per original image: the original, then its version under each augmentation.

    `augmented` maps a name (the column title) to a tensor shaped like `images`. Each image
    is scaled to its own min..max. Without a `title` the figure says how to read it.
    """
    columns = {"original": images, **augmented}
    nrows, ncols = len(images), len(columns)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.3 * nrows), squeeze=False)
    for col, (name, batch) in enumerate(columns.items()):
        axes[0, col].set_title(name, fontsize=9)
        for row in range(nrows):
            axes[row, col].imshow(_as_image(batch[row]), cmap="gray")
            axes[row, col].axis("off")
    fig.suptitle(title or "Augmentations: one random draw each", fontsize=10)
    fig.tight_layout()
    return _finish(fig, save)


def curves(histories, target=None, save=None, held_out="test"):
    """Loss and accuracy per epoch, in three panels: the loss of both sets (train dashed,
    held-out solid, one colour per run), the training accuracy, and the held-out accuracy.

    `histories` is one history (a list of per-epoch dicts with epoch, train_loss,
    train_acc, test_loss, test_acc, ...) or a dict {run name: history}, drawn in its order:
    put the earlier runs (the step before) first. `target`, an accuracy in percent, is drawn
    as a dotted line on the held-out panel. `held_out` names the set the test_* values were
    measured on, e.g. "validation".

    The loss is on a log axis, so that its rises late in training show. Each accuracy panel
    is zoomed to where its runs differ: from a little below its lowest point after the first
    two epochs (not below 97% unless a point is) to a little above its highest point (and the
    target). Only the first epochs may fall below; every line keeps its later epochs in view.
    The training accuracy is the log's: measured in train mode, with Dropout and augmentation
    on, while the weights change. Runs whose accuracy never passes 90% are not zoomed.
    """
    if not isinstance(histories, dict):
        histories = {"": histories}
    fig, (ax_loss, ax_train, ax_test) = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, (name, history) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in history]
        prefix = f"{name} " if name else ""
        for split, style, ax_acc in (("train", "--", ax_train), ("test", "-", ax_test)):
            label = prefix + (held_out if split == "test" else split)
            ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], style,
                         color=f"C{i}", label=label)
            ax_acc.plot(epochs, [h[f"{split}_acc"] for h in history], style, color=f"C{i}",
                        label=label)
    if target is not None:
        ax_test.axhline(target, color="black", linestyle=":", label=f"target {target}%")
    for ax, split in ((ax_train, "train"), (ax_test, "test")):
        runs = [[h[f"{split}_acc"] for h in history if h["epoch"] > 2]
                or [h[f"{split}_acc"] for h in history] for history in histories.values()]
        later = [acc for run in runs for acc in run]
        every = [h[f"{split}_acc"] for history in histories.values() for h in history]
        zoomed = bool(later) and max(later) > 90
        if zoomed:
            low = min(later)
            bottom = 97.0 if low - 0.1 < 97 < low else low - 0.1
            top = max(every + ([target] if target is not None and ax is ax_test else []))
            ax.set_ylim(bottom, min(top + 0.1, 100))
        ax.set_ylabel("accuracy (%)")
        name = "Training accuracy (train mode, as logged)" if ax is ax_train else \
            f"{held_out.capitalize()} accuracy"
        ax.set_title(name + ("\n(zoomed: the first epochs may fall below)" if zoomed else ""),
                     fontsize=10)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("cross-entropy loss (log scale)")
    ax_loss.set_title("Loss per epoch", fontsize=10)
    for ax in (ax_loss, ax_train, ax_test):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3, which="both" if ax is ax_loss else "major")
    # one legend for the three panels, outside them, so that it hides no line: the loss
    # panel holds every run's two lines, the held-out panel the target
    handles, labels = ax_loss.get_legend_handles_labels()
    if target is not None:
        handles.append(ax_test.lines[-1])
        labels.append(f"target {target}%")
    ax_test.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return _finish(fig, save)


def step_panels(steps, target=99.4, ncols=4, save=None):
    """One small panel per step of `steps` (report.load_steps()): its train accuracy dashed,
    test solid, on the same axes for all, so steps compare at a glance without twenty lines
    under one legend."""
    nrows = math.ceil(len(steps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.2 * nrows), sharex=True,
                             sharey=True, squeeze=False)
    for ax, step in zip(axes.flat, steps):
        history = step["history"]
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train_acc"] for h in history], "--", color="C1", label="train")
        ax.plot(epochs, [h["test_acc"] for h in history], "-", color="C0", label="test")
        ax.axhline(target, color="black", linestyle=":", linewidth=1, label=f"target {target}%")
        ax.set_title(f"{step['step']} {step['model']}: {history[-1]['test_acc']:.2f}%", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(steps):]:
        ax.axis("off")
    axes[0, 0].set_ylim(97.5, 100)  # the last points, where steps differ
    # the legend in a spare panel, where it hides nothing; else in the first panel
    spare = axes.flat[len(steps):]
    (spare[0] if len(spare) else axes[0, 0]).legend(
        *axes[0, 0].get_legend_handles_labels(), fontsize=8,
        loc="center" if len(spare) else "lower right")
    fig.suptitle("Each step's accuracy per epoch (zoomed to 97.5-100%; early epochs fall below)")
    fig.supxlabel("epoch")
    fig.supylabel("accuracy (%)")
    fig.tight_layout()
    return _finish(fig, save)


def class_activation_maps(images, maps, titles, field, save=None, title=None, colorbar_label=None):
    """Each image, then its class activation maps: `maps` is (N, K, h, w), one map per class
    the row shows, `titles` N lists of K+1 titles (the image's, then each map's). `field` is
    the receptive-field row of the layer the maps come from (`receptive_field(model)`), whose
    `start` and `jump` say where each position's patch is centred on the image. `title` and
    `colorbar_label` replace the figure's title and the colour bars' label, for maps that are
    not a class's own (the difference of two classes' maps, say).

    A map is the class score at each position (its average is the class's score, the
    logit), drawn on a diverging scale centred at zero: red for the class, blue against it,
    white zero. Each position is one square, `jump` pixels wide, drawn at the centre of the
    patch it sees: a map of 7x7 positions 2 pixels apart covers the middle 14x14 pixels, not
    the whole image, although each position sees `field["rf"]` pixels around its centre. The
    maps of a row share one symmetric scale and its colour bar, so the classes compare; the
    digit's ink is the black line, the image's edge the grey frame."""
    n, k = maps.shape[:2]
    h, w = maps.shape[-2:]
    start, jump = field["start"], field["jump"]
    # the squares' outer edges, in image pixels (pixel i spans i - 0.5 to i + 0.5)
    left, right = start - jump / 2, start + (w - 1) * jump + jump / 2
    top, bottom = start - jump / 2, start + (h - 1) * jump + jump / 2
    fig, axes = plt.subplots(n, k + 1, figsize=(1.6 * (k + 1) + 1.3, 1.7 * n + 0.6),
                             squeeze=False, layout="constrained")
    for row in range(n):
        image = _as_image(images[row])
        size = image.shape[-1]
        axes[row, 0].imshow(image, cmap="gray")
        limit = maps[row].abs().max().item() or 1.0  # one symmetric scale for the row
        ink = (image.min() + image.max()) / 2
        for col in range(k):
            ax = axes[row, col + 1]
            shown = ax.imshow(maps[row, col].float().cpu().numpy(), cmap="RdBu_r", vmin=-limit,
                              vmax=limit, extent=(left, right, bottom, top),
                              interpolation="nearest")
            ax.contour(image, levels=[ink], colors="black", linewidths=0.8)
            ax.add_patch(plt.Rectangle((-0.5, -0.5), size, size, fill=False,
                                       edgecolor="0.6", linewidth=0.8, clip_on=False))
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
        for col, ax in enumerate(axes[row]):
            ax.set_title(titles[row][col], fontsize=8)
            ax.axis("off")
        bar = fig.colorbar(shown, ax=axes[row, 1:].tolist(), shrink=0.9)
        bar.set_label(colorbar_label or "class score\nat that position", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle((title or "Class activation maps: red for the class, blue against it")
                 + f"\n(each square: one position, drawn at the centre of the {field['rf']}-pixel "
                   "patch it sees; one scale per row; black line: the ink)", fontsize=9)
    return _finish(fig, save)


def image_rows(rows, title=None, save=None, signed=False, colorbar_label=None):
    """One row of small images per entry of `rows`, {row label: images (K, H, W) or
    (K, 1, H, W)}, the label on the left: a conv layer's filters, or the feature maps of one
    digit after each block. The images of a row share one scale, with its colour bar on the
    right (labelled `colorbar_label`, or `colorbar_label[row label]` when it is a dict, for
    rows that hold different things): grey, light for large values, or with `signed=True`
    (weights, values of both signs) a diverging scale centred at zero, red positive, blue
    negative, white zero. Rows of different lengths leave their spare cells blank; the title
    says how to read the colours."""
    ncols = max(len(images) for images in rows.values())
    nrows = len(rows)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols + 2.0, 1.15 * nrows + 0.5),
                             squeeze=False, layout="constrained")
    for row, (label, images) in enumerate(rows.items()):
        images = [_as_image(image) for image in images]
        low, high = min(i.min() for i in images), max(i.max() for i in images)
        if signed:
            high = max(-low, high) or 1.0
            low = -high
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(images):
                shown = ax.imshow(images[col], cmap="RdBu_r" if signed else "gray", vmin=low,
                                  vmax=high, interpolation="nearest")
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        bar = fig.colorbar(shown, ax=axes[row].tolist(), shrink=0.9)
        bar.ax.tick_params(labelsize=7)
        text = colorbar_label.get(label) if isinstance(colorbar_label, dict) else colorbar_label
        if text:
            bar.set_label(text, fontsize=7)
    reading = ("one scale per row, centred at zero: red positive, blue negative" if signed
               else "one grey scale per row: light = large")
    fig.suptitle(f"{title}\n({reading})" if title else reading, fontsize=10)
    return _finish(fig, save)


def activation_stats(steps, runs, layers, save=None):
    """The mean and the standard deviation of each layer's output during training, one
    panel each: `runs` is {run name: {"mean": (T, L), "std": (T, L)}} measured at `steps`
    (T) for `layers` (L names). One colour per layer; the first run solid, the second dashed,
    the third dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = ["-", "--", ":", "-."]
    for ax, stat in zip(axes, ("mean", "std")):
        for r, (name, values) in enumerate(runs.items()):
            values = torch.as_tensor(values[stat])
            for j, layer in enumerate(layers):
                ax.plot(steps, values[:, j].tolist(), styles[r % len(styles)], color=f"C{j}",
                        label=f"{layer}, {name}")
        ax.set_xlabel("training step (batches)")
        ax.set_ylabel(f"{stat} of the layer's output")
        ax.set_title(f"The {'mean' if stat == 'mean' else 'standard deviation'} of each layer's "
                     "output")
        lowest = min(torch.as_tensor(values[stat]).min().item() for values in runs.values())
        ax.set_ylim(bottom=min(0, lowest))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=len(runs), loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return _finish(fig, save)


def generalization_gap(histories, save=None):
    """Test accuracy minus train accuracy per epoch, one line per run ({name: history}).
    Below zero, the run does better on the images it trains on than on new ones. The axis
    spans the epochs after the first: the first epoch's train accuracy averages over a model
    that starts from nothing, so its gap is far off the scale of the others."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    later = [0.0]
    for i, (name, history) in enumerate(histories.items()):
        gaps = [h["test_acc"] - h["train_acc"] for h in history]
        ax.plot([h["epoch"] for h in history], gaps, ".-", color=f"C{i}", label=name)
        later += [g for h, g in zip(history, gaps) if h["epoch"] > 1]
    ax.axhline(0, color="black", linewidth=1)
    if len(later) > 1:
        pad = 0.1 * (max(later) - min(later)) or 0.1
        ax.set_ylim(min(later) - pad, max(later) + pad)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test acc. - train acc. (points)")
    ax.set_title("Test minus train accuracy (epoch 1 off the scale)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return _finish(fig, save)


def time_to_accuracy(runs, target=99.4, save=None):
    """Test accuracy against wall-clock seconds of training, a dot at the end of each epoch:
    how soon each way of training gets there. `runs` is {label: history}, or {label: [history
    of seed 0, of seed 1, ...]}: a way's seeds share its colour, one line style per seed. The
    seconds are on a log axis, so runs of a few epochs and of fifteen both show."""
    runs = {label: h if h and isinstance(h[0], list) else [h] for label, h in runs.items()}
    fig, ax = plt.subplots(figsize=(10, 5))
    styles = ["-", "--", ":", "-."]
    for i, (label, histories) in enumerate(runs.items()):
        for seed, history in enumerate(histories):
            ax.plot([h["seconds"] for h in history], [h["test_acc"] for h in history], ".",
                    linestyle=styles[seed % len(styles)], color=f"C{i % 10}",
                    label=(label if len(histories) == 1 else f"{label} ({len(histories)} seeds)")
                    if seed == 0 else None)
    ax.axhline(target, color="black", linestyle=":", label=f"target {target}%")
    most_seeds = max(len(histories) for histories in runs.values())
    if most_seeds > 1:  # what the line styles mean
        for seed in range(most_seeds):
            ax.plot([], [], color="black", linestyle=styles[seed % len(styles)], label=f"seed {seed}")
    # the last percent and a half, where the runs differ; earlier epochs fall below
    every = [h for histories in runs.values() for history in histories for h in history]
    ax.set_ylim(98.5, max(99.75, max(h["test_acc"] for h in every) + 0.05))
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([t for t in (5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000)
                   if min(h["seconds"] for h in every) / 2 < t < 2 * max(h["seconds"] for h in every)])
    ax.set_xlabel("seconds of training, evaluations and compiling included (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy against training time (one dot per epoch)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return _finish(fig, save)


def confusion_matrix(true, pred, num_classes=10):
    """Counts (num_classes, num_classes): row = true label, column = predicted label.

    Each (true, pred) pair becomes one number, true * num_classes + pred, so a single
    bincount counts them all.
    """
    true = torch.as_tensor(true, dtype=torch.int64).flatten().cpu()
    pred = torch.as_tensor(pred, dtype=torch.int64).flatten().cpu()
    counts = torch.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def confusion_figure(cm, save=None):
    """The confusion matrix, with the count written in every cell. The colours show the
    mistakes only, on their own scale from zero (a cell of 1 stands out next to the 0s);
    the diagonal, the correct predictions, is grey."""
    cm = torch.as_tensor(cm)
    k = cm.shape[0]
    mistakes = cm.to(torch.float64, copy=True).fill_diagonal_(float("nan"))  # NaN: grey
    most = max(int(mistakes.nan_to_num().max()), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shown = ax.imshow(mistakes.numpy(), cmap=plt.get_cmap("Reds").with_extremes(bad="0.85"),
                      vmin=0, vmax=most)
    fig.colorbar(shown, ax=ax, label="mistakes (count; diagonal: correct, grey)")
    for t in range(k):
        for p in range(k):
            count = cm[t, p].item()
            ax.text(p, t, str(count), ha="center", va="center", fontsize=7,
                    color="white" if t != p and count > 0.6 * most else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix: {int(cm.sum()):,} images, "
                 f"{int(cm.sum() - cm.trace()):,} mistakes")
    fig.tight_layout()
    return _finish(fig, save)


def seeds_figure(study, targets=(99.4, 99.6), save=None):
    """A seed study (utils.seeds): test accuracy per epoch of every seed, and each seed's
    final-epoch and best-epoch accuracy with their means; validation accuracy, so named,
    for a study of the validation protocol (its command has --protocol val)."""
    held_out = "validation" if "--protocol val" in study.get("command", "") else "test"
    fig, (ax_runs, ax_dots) = plt.subplots(1, 2, figsize=(11, 4),
                                           gridspec_kw={"width_ratios": [2, 1]})
    for i, run in enumerate(study["per_seed"]):
        epochs = range(1, len(run["test_acc"]) + 1)
        ax_runs.plot(epochs, run["test_acc"], color=f"C{i}", label=f"seed {run['seed']}")
    n = len(study["per_seed"])
    offsets = [(i - (n - 1) / 2) * 0.05 for i in range(n)]  # sideways, so equal values show
    for key, x in (("final", 0), ("best", 1)):
        values = [run[f"{key}_test_acc"] for run in study["per_seed"]]
        ax_dots.scatter([x + o for o in offsets], values, color=[f"C{i}" for i in range(n)])
        mean = study[key]["mean"]
        ax_dots.hlines(mean, x - 0.3, x + 0.3, color="black")
        ax_dots.annotate(f"mean {mean:.2f}%", (x + 0.32, mean), fontsize=8, va="center",
                         bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax_dots.set_xticks([0, 1], ["final epoch", "best epoch"])
    ax_dots.set_xlim(-0.5, 1.9)
    for ax in (ax_runs, ax_dots):
        for j, target in enumerate(targets):
            ax.axhline(target, color="black" if j == 0 else "gray", linestyle=":",
                       label=f"target {target}%" if j == 0 else f"{target}%")
        ax.set_ylabel(f"{held_out} accuracy (%)")
        ax.grid(alpha=0.3)
    ax_runs.set_ylim(max(98.8, min(min(r["test_acc"]) for r in study["per_seed"]) - 0.05), None)
    ax_runs.set_xlabel("epoch")
    ax_runs.set_title(f"{held_out.capitalize()} accuracy per epoch (early epochs below the axis)",
                      fontsize=10)
    ax_dots.set_title("Each seed (colours as left) and the mean", fontsize=10)
    ax_runs.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_runs.legend(fontsize=8, ncol=math.ceil((n + len(targets)) / 2), loc="upper center",
                   bbox_to_anchor=(0.5, -0.2))
    fig.suptitle(f"{study['seeds']} seeds of the same recipe")
    fig.tight_layout()
    return _finish(fig, save)


def pareto_figure(studies, target=99.4, save=None, highlight=None):
    """Final-epoch test accuracy against parameters, one line per architecture: every seed
    as a dot, the mean as a line with its standard deviation as error bars. `highlight`,
    (label, study), marks the mean of one more study as a star: a model trained otherwise
    than its family (notebook 13's bonus model, without the families' head Dropout)."""
    families = [("C0", "FinalNet's architecture, final recipe",
                 [s for s in studies if s["model"] != "separable"]),
                ("C1", "SeparableNet, its own recipe",
                 [s for s in studies if s["model"] == "separable"])]
    fig, ax = plt.subplots(figsize=(7, 4))
    for color, family, members in families:
        members = sorted(members, key=lambda s: s["per_seed"][0]["params"])
        params = [s["per_seed"][0]["params"] for s in members]
        for p, s in zip(params, members):
            ax.scatter([p] * s["seeds"], [r["final_test_acc"] for r in s["per_seed"]],
                       color=color, alpha=0.4, s=12)
        if members:
            ax.errorbar(params, [s["final"]["mean"] for s in members],
                        yerr=[s["final"]["std"] for s in members], color=color, marker="o",
                        capsize=3, label=f"{family}: mean ± std over seeds")
    if highlight:
        label, study = highlight
        ax.scatter([study["per_seed"][0]["params"]], [study["final"]["mean"]], marker="*", s=180,
                   color="C3", zorder=3, label=f"{label}: mean over seeds")
    params = [s["per_seed"][0]["params"] for s in studies]
    ax.axhline(target, color="black", linestyle=":", label=f"{target}%")
    ax.axvline(4000, color="gray", linestyle="--", label="4,000 parameters")
    ax.set_xscale("log")
    ticks = [1000 * 2 ** k for k in range(7)]  # one tick per doubling, 1k to 64k
    ax.set_xticks(ticks, [f"{t // 1000}k" for t in ticks])
    ax.set_xlim(min(params) / 1.25, max(params) * 1.25)
    ax.minorticks_off()
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("final-epoch test accuracy (%)")
    ax.set_title("Accuracy against size: every seed, and the mean of each model", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _finish(fig, save)


def step_gains_figure(studies, target=99.4, save=None):
    """What each step of the path bought, over its seeds ({step: seed study}, in order).
    Left: every seed's final-epoch test accuracy (dots, spread sideways so equal values stay
    visible) and the mean ± std. Right: the paired gain over the step before, seed by seed
    (dots) and its mean ± one standard error."""
    from utils.report import step_gains  # utils.report is imported by this module
    steps = list(studies)
    gains = step_gains(studies)
    fig, (ax_acc, ax_gain) = plt.subplots(1, 2, figsize=(12, 4.2))
    for x, step in enumerate(steps):
        study = studies[step]
        values = [r["final_test_acc"] for r in study["per_seed"]]
        offsets = [(i - (len(values) - 1) / 2) * 0.06 for i in range(len(values))]
        ax_acc.scatter([x + o for o in offsets], values, color="C0", alpha=0.5, s=14,
                       label="one seed" if x == 0 else None)
        ax_acc.errorbar(x + 0.3, study["final"]["mean"], yerr=study["final"]["std"], color="black",
                        marker="o", capsize=3, label="mean ± std" if x == 0 else None)
        if step in gains:
            g = gains[step]
            offsets = [(i - (g["n"] - 1) / 2) * 0.06 for i in range(g["n"])]
            ax_gain.scatter([x + o for o in offsets], g["d"], color="C1", alpha=0.5, s=14,
                            label="one seed: this step minus the step before" if x == 1 else None)
            ax_gain.errorbar(x + 0.3, g["mean"], yerr=g["se"], color="black", marker="o",
                             capsize=3, label="mean ± 1 standard error" if x == 1 else None)
    ax_acc.axhline(target, color="gray", linestyle=":", label=f"target {target}%")
    ax_gain.axhline(0, color="gray", linestyle="-", linewidth=0.8, label="no change")
    low = min(min(r["final_test_acc"] for r in s["per_seed"]) for s in studies.values())
    ax_acc.set_ylim(low - 0.1, max(target, max(s["final"]["max"] for s in studies.values())) + 0.1)
    ax_acc.set_ylabel("final-epoch test accuracy (%)")
    ax_acc.set_title("Each step, seed by seed")
    ax_gain.set_ylabel("gain over the step before (points)")
    ax_gain.set_title("What each step bought, paired seed by seed")
    for ax in (ax_acc, ax_gain):
        ax.set_xticks(range(len(steps)), steps)
        ax.set_xlim(-0.5, len(steps) - 0.3)
        ax.set_xlabel("step (its notebook)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _finish(fig, save)


def lr_range_figure(runs, chosen=None, save=None, chosen_label="this recipe's peak"):
    """Learning-rate range tests: the smoothed training loss against the rate, on a log
    axis, one line per run of `runs` ({name: (rates, losses)}) with its lowest point marked,
    and the chosen rate, named by `chosen_label`."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    lowest, highest = [], []
    for i, (name, (rates, losses)) in enumerate(runs.items()):
        low = rates[losses.index(min(losses))]
        ax.plot(rates, losses, color=f"C{i}", label=f"{name}: lowest at {low:.3g}")
        ax.plot([low], [min(losses)], "o", color=f"C{i}")
        lowest.append(min(losses))
        highest.append(min(max(losses), 4 * min(losses)))
    if chosen is not None:
        ax.axvline(chosen, color="black", linestyle="--", label=f"{chosen_label} {chosen:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(min(lowest) * 0.9, max(highest) * 1.05)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title("Learning-rate range test: the rate grows every batch\n(dot: each run's lowest loss)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _finish(fig, save)
