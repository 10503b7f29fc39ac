"""Two levers beyond the brief that need no training, measured on runs already trained:

- test-time augmentation (TTA): the average of the model's predicted probabilities over the
  image and its four one-pixel shifts, like an ensemble of five looks at no parameter cost;
- a clean end: BatchNorm's running statistics recomputed on the un-augmented training
  images, since the model was trained on warped (and resampled, so slightly blurred) ones
  and is tested on clean ones.

    python -m utils.levers runs/beyond/control --out assets/beyond/posthoc.json

evaluates every run in the folder (one per seed, from `python -m utils.seeds`) four ways on
the images it was evaluated on (the validation split of its seed, for a run with
--protocol val), and writes each seed's accuracies and the paired gains over the plain
evaluation. The plain one must equal the run's own last epoch: a check that the weights and
the data are the run's.
"""
import argparse
import json
import statistics
from pathlib import Path

import torch

from utils import data
from utils.models import build_model
from utils.report import save_json
from utils.train import load_weights, model_options

# The image itself and its four one-pixel shifts: (rows, columns).
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
BACKGROUND = (0 - data.MEAN) / data.STD  # a black pixel, normalized


def shift(x, rows, columns):
    """Images x (B, C, H, W) moved by whole pixels, the uncovered edge black."""
    out = torch.full_like(x, BACKGROUND)
    h, w = x.shape[-2:]
    src_r, dst_r = slice(max(-rows, 0), h - max(rows, 0)), slice(max(rows, 0), h - max(-rows, 0))
    src_c, dst_c = slice(max(-columns, 0), w - max(columns, 0)), slice(max(columns, 0), w - max(-columns, 0))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


@torch.no_grad()
def accuracy(model, loader, shifts=((0, 0),)):
    """Accuracy in % of `model` in eval mode, its probabilities averaged over `shifts`."""
    model.eval()
    correct = seen = 0
    for x, y in loader:
        p = sum(model(shift(x, *s)).softmax(1) for s in shifts)
        correct += (p.argmax(1) == y).sum().item()
        seen += len(y)
    return 100.0 * correct / seen


@torch.no_grad()
def recompute_batchnorm(model, loader):
    """Replace every BatchNorm layer's running mean and variance by those of the images of
    `loader` (un-augmented), averaged over all its batches; no weight changes, and Dropout
    stays off (only the BatchNorm layers are put in train mode)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches
        layer.train()
    for x, _ in loader:
        model(x)
    model.eval()
    return model


def evaluate_run(folder):
    """One seed's run evaluated four ways: {way: accuracy in %}."""
    m = json.loads((folder / "metrics.json").read_text())
    args = argparse.Namespace(**m["args"])  # the options the run was trained with
    model = build_model(args.model, **model_options(args))
    load_weights(model, folder / "weights.pt")
    train_loader, held_out = data.fast_loaders(args.protocol, seed=args.seed)
    clean_train = data.TensorLoader(train_loader.images, train_loader.labels, 1000)
    found = dict(plain=accuracy(model, held_out), tta=accuracy(model, held_out, SHIFTS))
    recompute_batchnorm(model, clean_train)
    found.update(clean_bn=accuracy(model, held_out), clean_bn_tta=accuracy(model, held_out, SHIFTS))
    if abs(found["plain"] - m["history"][-1]["test_acc"]) > 1e-6:
        raise RuntimeError(f"{folder}: plain evaluation {found['plain']:.2f}% is not the run's "
                           f"last epoch ({m['history'][-1]['test_acc']:.2f}%): other weights or data?")
    return dict(seed=args.seed, **found)


def paired(per_seed, way, over="plain"):
    """Mean gain of `way` over `over`, seed by seed, its standard error and seeds ahead."""
    gains = [r[way] - r[over] for r in per_seed]
    se = statistics.stdev(gains) / len(gains) ** 0.5 if len(gains) > 1 else float("nan")
    return dict(mean=statistics.mean(gains), se=se, ahead=sum(g > 0 for g in gains),
                level=sum(g == 0 for g in gains), seeds=len(gains))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.levers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="a folder of runs, one seed_S folder per seed")
    p.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = p.parse_args(argv)
    folders = sorted(args.runs.glob("seed_*"), key=lambda f: int(f.name.split("_")[1]))
    folders = [f for f in folders if (f / "weights.pt").exists()]
    if not folders:
        p.error(f"no finished run (seed_S/weights.pt) in {args.runs}")
    torch.set_num_threads(1)
    per_seed = []
    for folder in folders:
        per_seed.append(evaluate_run(folder))
        print(" ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in per_seed[-1].items()), flush=True)
    gains = {way: paired(per_seed, way) for way in ("tta", "clean_bn", "clean_bn_tta")}
    for way, g in gains.items():
        print(f"{way}: {g['mean']:+.3f} points over plain, SE {g['se']:.3f}, ahead on "
              f"{g['ahead']} of {g['seeds']} seeds ({g['level']} level)")
    save_json(dict(runs=str(args.runs), shifts=SHIFTS, per_seed=per_seed, gains=gains,
                   command=f"python -m utils.levers {args.runs} --out {args.out}"), args.out)


if __name__ == "__main__":
    main()
