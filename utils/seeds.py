"""Reproducibility study: the final model trained from the command line with several seeds.

    python -m utils.seeds --seeds 0 1 2 3 4 --jobs 2

runs `python -m utils.train --seed S --out runs/seeds/seed_S` for each seed without a finished
run of the same recipe (`--jobs` at a time, the CPU threads shared between them), then
summarizes the final-epoch and best-epoch test accuracy over the seeds into
runs/seeds.json and runs/seeds.png (`--name` changes "seeds" in all three). With
WORKBOOK_PUBLISH=1, the maintainers' switch, the summary goes to assets/ instead.
Any other option is passed on to utils.train, so a recipe can be studied the same way.
A finished run of another recipe is never replaced unless `--overwrite` is given.
Ctrl-C stops the study and keeps the seeds it finished: the same command trains the rest.
`--features` also measures each seed's trained model on the held-out images (a model that
ends in GAP and a 1x1 classifier): how much a prediction rests on its largest feature, and
its accuracy with a random tenth of the pooled features dropped (notebook 11).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from utils import data
from utils.data import REPO_ROOT, smoke_mode
from utils.report import output_path, save_json
from utils.models import build_model
from utils.train import (accuracy_with_features_dropped, largest_feature_share, load_weights,
                         model_options, parse_args, positive_int, recorded_args)


# Options that do not change what a run learns: a run saved with others is still reusable.
NOT_THE_RECIPE = {"out", "overwrite", "no_progress", "data", "workers"}


def differences(out, extra):
    """The options (and smoke mode, and the model's layers) in which the finished run in
    `out` differs from the recipe asked now; None when there is no finished run. An option
    that the run's metrics lack was added to the command line after it: the run had that
    option's default. The layers are compared too, since a model's defaults can change
    between runs of the same command (FinalNet gained its head Dropout that way)."""
    path = out / "metrics.json"
    if not path.exists():
        return None
    m = json.loads(path.read_text())
    if m.get("interrupted"):
        return None  # a partial run: trained again
    base = ["--seed", str(m["args"]["seed"]), "--out", str(out)]
    asked_args = parse_args(base + extra)
    asked, default = recorded_args(asked_args), recorded_args(parse_args(base))
    differ = [k for k, v in asked.items()
              if k not in NOT_THE_RECIPE and m["args"].get(k, default[k]) != v]
    if m["smoke"] != smoke_mode():
        differ.append("smoke mode")
    if m.get("architecture") != str(build_model(asked_args.model, **model_options(asked_args))):
        differ.append("the model's layers")
    return differ


def train_seeds(seeds, runs, jobs, extra, overwrite=False):
    """Train every seed without a finished run of this recipe, `jobs` at a time. A finished
    run of another recipe is an error, not something to delete, unless `overwrite`."""
    todo = []
    for seed in seeds:
        differ = differences(runs / f"seed_{seed}", extra)
        if differ == []:
            continue  # a finished run of this recipe: reused
        if differ and not overwrite:
            sys.exit(f"error: {runs / f'seed_{seed}'} holds a finished run of another recipe "
                     f"(it differs in {', '.join(differ)}); give the study another --name or "
                     "--runs folder, or pass --overwrite to train it again in its place")
        todo.append(seed)
    threads = max(1, torch.get_num_threads() // jobs)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    running = []
    try:
        for seed in todo:
            out = runs / f"seed_{seed}"
            out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "utils.train", "--seed", str(seed), "--out", str(out),
                   "--no-progress", "--overwrite", *extra]
            print("running:", " ".join(cmd[1:]), flush=True)
            # Each run in its own session: a Ctrl-C reaches this process only, which passes
            # it on to each run once, so that none is stopped while it saves.
            with open(out / "log.txt", "w") as log:
                running.append(subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True))
            if len(running) == jobs:
                check(running[0], running[1:])
                running.pop(0)
        while running:
            check(running[0], running[1:])
            running.pop(0)
    except KeyboardInterrupt:
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in running:
            process.wait()
        kept = [s for s in seeds if differences(runs / f"seed_{s}", extra) == []]
        print(f"\ninterrupted: the seeds finished ({', '.join(map(str, kept)) or 'none'}) are "
              f"kept in {runs}; a run stopped partway is marked interrupted and will be trained "
              "again. The same command trains the seeds that are missing, then writes the "
              "summary.", file=sys.stderr)
        sys.exit(130)


def check(process, others):
    if process.wait() != 0:
        for other in others:
            other.kill()
        sys.exit(f"error: {' '.join(process.args[1:])} failed; see log.txt in its --out folder")


def summarize_seeds(runs):
    """Per-seed figures and their mean, standard deviation and minimum."""
    runs = sorted(runs, key=lambda p: int(p.name.split("_")[-1]))
    metrics = [json.loads((path / "metrics.json").read_text()) for path in runs]
    per_seed = []
    for m in metrics:
        acc = [h["test_acc"] for h in m["history"]]
        s = m["summary"]
        per_seed.append(dict(seed=m["args"]["seed"], final_test_acc=acc[-1], best_test_acc=max(acc),
                             last3_min_test_acc=min(acc[-3:]), epochs=len(acc),
                             target_epoch=s["target_epoch"], target_seconds=s["target_seconds"],
                             total_seconds=s["total_seconds"], test_acc=acc,
                             smoke=m["smoke"], params=m["params"], device=m["device"]))

    def stats(key):
        values = [r[key] for r in per_seed]
        return dict(mean=statistics.mean(values), min=min(values), max=max(values),
                    std=statistics.stdev(values) if len(values) > 1 else 0.0)

    args = metrics[0]["args"]
    return dict(model=args["model"], widths=args.get("widths"), width=args.get("width"),
                seeds=len(per_seed), final=stats("final_test_acc"), best=stats("best_test_acc"),
                last3_min=min(r["last3_min_test_acc"] for r in per_seed), per_seed=per_seed)


def measure_features(study, runs, extra):
    """Add to each seed's row of `study` its trained model's `feature_share` (the largest
    feature's share of a prediction's positive evidence, %) and `dropped_tenth_acc` (its
    accuracy with a random tenth of the pooled features dropped, %), on its held-out images."""
    asked = parse_args(["--out", str(runs), *extra])
    for row in study["per_seed"]:
        model = build_model(asked.model, **model_options(asked))
        load_weights(model, runs / f"seed_{row['seed']}" / "weights.pt")
        _, held_out = data.fast_loaders(asked.protocol, seed=row["seed"], root=asked.data)
        row["feature_share"] = largest_feature_share(model, held_out)
        row["dropped_tenth_acc"] = accuracy_with_features_dropped(model, held_out)
    return study


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=positive_int, default=1, help="trainings at a time")
    p.add_argument("--name", default="seeds", help="the summary's <name>.json and .png")
    p.add_argument("--runs", type=Path, default=None,
                   help="folder of the seed_<S> runs (default: runs/<name>, in smoke mode "
                        "runs/smoke/<name>)")
    p.add_argument("--overwrite", action="store_true",
                   help="train again, in their place, seeds whose saved run is of another recipe")
    p.add_argument("--features", action="store_true",
                   help="also measure how much each trained model leans on single pooled features")
    args, extra = p.parse_known_args(argv)
    if len(args.seeds) < 2 or len(set(args.seeds)) < len(args.seeds):
        p.error("a study needs at least 2 different seeds")
    if any(a.split("=")[0] == "--out" for a in extra):
        p.error("--out is set for each seed by the study; use --runs for their folder")
    default_runs = REPO_ROOT / "runs" / ("smoke" if smoke_mode() else "") / args.name
    runs = (args.runs or default_runs).resolve()
    train_seeds(args.seeds, runs, args.jobs, extra, args.overwrite)
    study = summarize_seeds([runs / f"seed_{s}" for s in args.seeds])
    if args.features:
        measure_features(study, runs, extra)
    study["command"] = " ".join(["python -m utils.train", *extra])
    save_json(study, output_path(f"{args.name}.json"))
    from utils.plot import seeds_figure
    seeds_figure(study, save=output_path(f"{args.name}.png"))
    f, b = study["final"], study["best"]
    print(f"{study['seeds']} seeds | final epoch: mean {f['mean']:.3f}% std {f['std']:.3f} "
          f"min {f['min']:.2f}% | best epoch: mean {b['mean']:.3f}% std {b['std']:.3f} "
          f"min {b['min']:.2f}% | lowest of any seed's last 3 epochs: {study['last3_min']:.2f}%")
    return study


if __name__ == "__main__":
    main()
