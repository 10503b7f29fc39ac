"""Results on disk: every step's metrics, and the README tables made from the committed ones.

The workbook's own results live in assets/ (tracked by git). A notebook or study run by a
learner writes what it produces under runs/ (ignored by git), so re-running a step never
replaces the committed results; a maintainer sets WORKBOOK_PUBLISH=1 to write into assets/,
which is how the committed outputs are made, then runs `python -m utils.report` to refresh
the README. In smoke mode outputs go to runs/smoke/, whatever the switch. Files are written
atomically (a temp file, then a rename), so an interrupted run never leaves half a file.
"""
import json
import os
import re
import statistics
import tempfile
from pathlib import Path

from utils import repository
from utils.data import REPO_ROOT, smoke_mode

# The default widths of the models a study can name without --widths (models.ScaledFinalNet)
# or --width (models.SeparableNet).
MODEL_WIDTHS = {"final": (8, 16, 12, 24), "tiny": (4, 8, 6, 10), "separable": 22}

ASSETS = REPO_ROOT / "assets"
README = REPO_ROOT / "README.md"


def atomic_write(path, write):
    """Call write(temp_path), then rename the temp file to `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private (0600); give it a file's usual mode
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_json(obj, path):
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1) + "\n"))


def publishing():
    """True when WORKBOOK_PUBLISH=1: a maintainer's run, whose outputs replace the committed ones."""
    return os.environ.get("WORKBOOK_PUBLISH", "") == "1"


def output_path(name):
    """Where a notebook or study writes `name`: runs/name, assets/name when publishing,
    runs/smoke/name in smoke mode."""
    if smoke_mode():
        return REPO_ROOT / "runs" / "smoke" / name
    return (ASSETS if publishing() else REPO_ROOT / "runs") / name


def save_step(step, title, model_name, params, history, summary, recipe):
    """Save one notebook's run as metrics/<step>.json (see `output_path`); return the path.
    A learner's own run is first set against the committed one (`against_committed`)."""
    if not publishing():
        against_committed(step, params, history)
    path = output_path(f"metrics/{step}.json")
    save_json(dict(step=step, title=title, model=model_name, params=params, recipe=recipe,
                   smoke=smoke_mode(), summary=summary, history=history), path)
    return path


def load_jsons(folder):
    """Every JSON file of `folder`, {file name without .json: its content}, in name order."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))}


def load_asset(name):
    """A committed JSON file under assets/, by its path there ("seeds.json", "speed/x.json")."""
    return json.loads((ASSETS / name).read_text())


# Options a study's saved command leaves out because they were the model's default when it
# ran, and must be typed now to train the same model.
UNSAID_OPTIONS = {"tiny_seeds_no_head_dropout.json": "--head-dropout 0"}


def load_study(name):
    """A seed study under assets/, its command with any options it left unsaid."""
    study = load_asset(name)
    if name in UNSAID_OPTIONS:
        study["command"] = f"{study['command']} {UNSAID_OPTIONS[name]}"
    return study


def load_steps(folder=None):
    """Every saved step, in notebook order (the file names start with the step number)."""
    return list(load_jsons(folder or ASSETS / "metrics").values())


# Seeds and machines move a run's final accuracy by a few standard deviations of a seed
# study at most; further than this from the study's mean, something else changed.
SPREAD_EXPLAINED = 3


def against_committed(step, params, history):
    """After a learner's own run of notebook `step`: its final test accuracy against the
    committed run's and, where the step has a seed study, against the spread of its seeds,
    with a verdict. Says nothing for the committed run itself (TRAIN = False, or the run that
    made it) or in smoke mode, whose numbers are not results."""
    if smoke_mode() or not (ASSETS / f"metrics/{step}.json").exists():
        return
    committed = load_asset(f"metrics/{step}.json")
    if history == committed["history"]:
        return
    mine, theirs = history[-1]["test_acc"], committed["history"][-1]["test_acc"]
    if len(history) != len(committed["history"]) or params != committed["params"]:
        print(f"Your run ends at {mine:.2f}% after {len(history)} epochs with {params:,} parameters; "
              f"the committed run of step {step} ({len(committed['history'])} epochs, "
              f"{committed['params']:,} parameters) ended at {theirs:.2f}%. Your recipe or model "
              "differs from it, so the two are not compared.")
        return
    line = f"Your run ends at {mine:.2f}% test accuracy; the committed run of step {step} ended at {theirs:.2f}%"
    study = step_studies().get(step)
    if not study:
        print(line + ". Another seed or machine moves a run a little (notebook 15 measures how much).")
        return
    f = study["final"]
    low, high = f["mean"] - SPREAD_EXPLAINED * f["std"], f["mean"] + SPREAD_EXPLAINED * f["std"]
    print(f"{line}, its {study['seeds']} seeds at {f['mean']:.2f}% on average (std {f['std']:.2f}, "
          f"{f['min']:.2f}% to {f['max']:.2f}%).")
    if low <= mine <= high:
        print(f"Yours is within {SPREAD_EXPLAINED} std of that mean ({low:.2f}% to {high:.2f}%): "
              "a difference that another seed, or another machine (a GPU, another CPU), explains.")
    else:
        print(f"Yours is outside {SPREAD_EXPLAINED} std of that mean ({low:.2f}% to {high:.2f}%): "
              "more than seeds and machines explain. Check what you changed (the model, the "
              "recipe, the data), then run it again.")


def results_table(steps):
    """A markdown table of the steps: parameters, best test accuracy, last, epochs."""
    lines = ["| step | model | parameters | best train acc | best test acc (epoch) "
             "| last-epoch test acc | epochs |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for s in steps:
        m = s["summary"]
        lines.append(f"| {s['step']} {s['title']} | `{s['model']}` | {s['params']:,} "
                     f"| {m['best_train_acc']:.2f}% | {m['best_test_acc']:.2f}% "
                     f"({m['best_test_epoch']}) | {m['last_test_acc']:.2f}% | {m['epochs']} |")
    return "\n".join(lines)


def markers(block):
    return f"<!-- {block}:start -->", f"<!-- {block}:end -->"


def update_readme(blocks, readme=README):
    """Replace what stands between each block's markers in README.md, {block: text}."""
    new = Path(readme).read_text()
    for block, text in blocks.items():
        start, end = markers(block)
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        if not pattern.search(new):
            raise ValueError(f"{readme} has no {start} ... {end} markers")
        new = pattern.sub(lambda _: f"{start}\n{text}\n{end}", new)
    atomic_write(readme, lambda tmp: Path(tmp).write_text(new))


def seeds_table(study):
    """A markdown table of a seed study (utils.seeds): per seed, then mean, std and min."""
    first_run = study["per_seed"][0]
    seeds = " ".join(str(r["seed"]) for r in study["per_seed"])
    validation = "--protocol val" in study["command"]
    held_out = "each seed's 10,000 validation images" if validation else "the 10,000 test images"
    acc = "validation" if validation else "test"
    lines = [f"`{study['command']}` with seeds {seeds}, run by `python -m utils.seeds`: "
             f"{first_run['params']:,} parameters, {first_run['epochs']} epochs, plain "
             f"evaluation (no test-time augmentation), on {held_out}.\n",
             f"| seed | final-epoch {acc} acc | best {acc} acc | lowest of last 3 epochs "
             "| 99.4% first at epoch (seconds) |", "|---:|---:|---:|---:|---:|"]
    for r in study["per_seed"]:
        first = (f"{r['target_epoch']} ({r['target_seconds']:.0f}s)" if r["target_epoch"]
                 else "never")
        lines.append(f"| {r['seed']} | {r['final_test_acc']:.2f}% | {r['best_test_acc']:.2f}% "
                     f"| {r['last3_min_test_acc']:.2f}% | {first} |")
    f, b = study["final"], study["best"]
    lines.append(f"| **mean ± std** | **{f['mean']:.3f}% ± {f['std']:.3f}** "
                 f"| {b['mean']:.3f}% ± {b['std']:.3f} | | |")
    lines.append(f"| **min** | {f['min']:.2f}% | {b['min']:.2f}% | {study['last3_min']:.2f}% | |")
    return "\n".join(lines)


def bench_table(bench):
    """A markdown table of a benchmark run (utils.bench); `model` names a model other than
    the final one, where a run recorded it."""
    base = bench["classic"]["train_images_per_s"]
    rows = [f"| {name} | {bench[key]['train_images_per_s']:,} | "
            f"{bench[key]['train_images_per_s'] / base:.2f}x | "
            f"{bench[key]['pipeline_images_per_s']:,} |" for key, name in bench["pipelines"].items()]
    return "\n".join([
        f"{bench.get('model', 'the final model').capitalize()}, batch {bench['batch_size']}, "
        f"{bench['augment']}, {bench['steps']} timed "
        f"steps, on {bench['device']} (torch {bench['torch']}); DataLoader with "
        f"{bench['workers']} workers:",
        "",
        "| pipeline | training, images/s | vs (a) | pipeline alone, images/s |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"**Ratio b / a, both in float32: {bench['ratio']:.2f}x. Ratio d / a, the fast path in "
        f"bf16 against the classic one in float32: {bench['ratio_bf16']:.2f}x.**",
    ] + compiled_line(bench) + variants_table(bench.get("variants")))


def compiled_line(bench):
    if "fast_compiled" not in bench:
        return []
    return ["", f"**Ratio e / a, the same compiled by torch.compile, once compiled: "
                f"{bench['ratio_compiled']:.2f}x.** Its {bench['warmup']} warm-up steps took "
                f"{bench['fast_compiled']['warmup_seconds']:.0f} seconds, compilation included, "
                f"against {bench['fast_bf16']['warmup_seconds']:.1f} for (d)."]


def variants_table(variants):
    if not variants:
        return []
    base = variants["as committed"]
    return ["", "The fast path's training throughput with one thing changed at a time:", "",
            "| variant | training, images/s | vs as committed |", "|---|---:|---:|"] + [
        f"| {name} | {v:,} | {v / base:.2f}x |" for name, v in variants.items()]


def model_label(study):
    """The model of a seed study and its widths: `tiny` (4, 8, 6, 10), `separable` width 22."""
    size = study.get("widths") or study.get("width") or MODEL_WIDTHS[study["model"]]
    return f"`{study['model']}` " + (f"width {size}" if isinstance(size, int) else str(tuple(size)))


def pareto_table(studies):
    """Seed studies of models at several widths, smallest first."""
    lines = ["| parameters | model | seeds | final-epoch test acc, mean ± std | min | max |",
             "|---:|---|---:|---:|---:|---:|"]
    for s in sorted(studies, key=lambda s: s["per_seed"][0]["params"]):
        f = s["final"]
        lines.append(f"| {s['per_seed'][0]['params']:,} | {model_label(s)} "
                     f"| {s['seeds']} | {f['mean']:.2f}% ± {f['std']:.2f} | {f['min']:.2f}% "
                     f"| {f['max']:.2f}% |")
    return "\n".join(lines)


def pareto_studies():
    """The width families of the bonus notebook: assets/pareto/*.json, notebook 13's study and
    the final model's."""
    studies = ["tiny_seeds.json", "seeds.json"]
    return list(load_jsons(ASSETS / "pareto").values()) + [load_asset(name) for name in studies
                                                           if (ASSETS / name).exists()]


def speed_table(runs):
    """Time to 99.4% test accuracy of training runs alone on one machine (`runs`: their
    metrics by run name), shortest schedule first, then the largest batch."""
    lines = ["| run | batch, peak lr | arithmetic | EMA | epochs | seed | 99.4% first at epoch "
             "| after | final-epoch test acc | all epochs |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]

    def order(item):
        name, a = item[0], item[1]["args"]
        return (a["epochs"], -a["batch_size"], not a.get("bf16"), a.get("compile", False),
                a.get("ema") or 0, a["seed"], name)

    for name, m in sorted(runs.items(), key=order):
        s, a = m["summary"], m["args"]
        reached = (f"{s['target_epoch']} | {s['target_seconds']:.1f} s" if s["target_epoch"]
                   else "never | ")
        arithmetic = "bf16" if a.get("bf16") else "float32"
        arithmetic += ", compiled" if a.get("compile") else ""
        lines.append(f"| {name} | {a['batch_size']}, {a['lr']} | {arithmetic} "
                     f"| {a.get('ema') or 'no'} | {a['epochs']} | {a['seed']} | {reached} "
                     f"| {s['last_test_acc']:.2f}% | {s['total_seconds']:.1f} s |")
    return "\n".join(lines)


def command_options(study):
    """A study's options to `python -m utils.train`, the label of its row in a table."""
    return study["command"].removeprefix("python -m utils.train").strip()


def paired_table(control, studies, control_label="control"):
    """Each study against `control`, seed by seed: d_s is its final-epoch accuracy minus the
    control's with seed s. On the validation protocol the seed draws the held-out split, which
    both runs share, so much of the seed's luck cancels out; on the test protocol (as in
    `versions_table`) the test set is the same for every seed and a seed's two runs may share
    little, so pairing may help little (see `paired_gain`). Shown:
    each study's mean over the seeds it shares with the control, the mean of d, its standard
    error std(d) / sqrt(n), and the mean in standard errors."""
    base = {r["seed"]: r["final_test_acc"] for r in control["per_seed"]}
    lines = ["| `python -m utils.train` with | seeds | mean | mean difference | standard error "
             "| difference / SE | lowest, highest difference |", "|---|---:|---:|---:|---:|---:|---:|",
             f"| `{command_options(control)}` ({control_label}) | {len(base)} "
             f"| {statistics.mean(base.values()):.3f}% | | | | |"]
    for study in studies:
        g = paired_gain(control, study)
        lines.append(f"| `{command_options(study)}` | {g['n']} | {g['study_mean']:.3f}% "
                     f"| {g['mean']:+.3f} | {g['se']:.3f} | {g['in_se']} "
                     f"| {min(g['d']):+.2f}, {max(g['d']):+.2f} |")
    return "\n".join(lines)


def paired_gain(control, study, key="final_test_acc"):
    """`study` against `control` on the seeds both have: d, each seed's final-epoch accuracy
    (or another number of its runs, `key`) minus the control's; their mean, standard error
    std(d) / sqrt(n), how many seeds improved, and the study's mean over those seeds.
    The same seed gives both runs the same batches and augmentation draws, and the same
    initial weights only where the two models' layers have the same shapes. On the test
    protocol training takes a seed's two runs apart, so pairing often helps little there;
    on the validation protocol the seed also draws the held-out images, which both runs
    share, and there pairing does help (notebook 15)."""
    base = {r["seed"]: r[key] for r in control["per_seed"]}
    acc = {r["seed"]: r[key] for r in study["per_seed"]}
    shared = [seed for seed in sorted(acc) if seed in base]
    if len(shared) < 2:
        raise ValueError(f"{study['command']} shares fewer than 2 seeds with the control")
    d = [acc[seed] - base[seed] for seed in shared]
    mean, se = statistics.mean(d), statistics.stdev(d) / len(d) ** 0.5
    return dict(seeds=shared, d=d, n=len(d), mean=mean, se=se,
                in_se=f"{mean / se:+.1f}" if se else "n/a", improved=sum(x > 0 for x in d),
                study_mean=statistics.mean(acc[seed] for seed in shared))


# The path's last step: the final model, whose committed study is the 10-seed seeds.json.
FINAL_STEP = "11"


def step_studies(folder=None):
    """The seed study of every step of the path, {step: study}, in path order: steps 01 to
    10 from `python -m utils.seeds --name steps/NN` (seeds 0 to 4), the final step from
    the final model's 10-seed study (seeds.json, seeds 0 to 9), which holds the same five."""
    studies = load_jsons(folder or ASSETS / "steps")
    if folder is None and (ASSETS / "seeds.json").exists():
        studies[FINAL_STEP] = load_asset("seeds.json")
    return studies


def step_gains(studies):
    """{step: paired_gain over the step before} for every step of `studies` but the first."""
    steps = list(studies)
    return {step: paired_gain(studies[before], studies[step])
            for before, step in zip(steps, steps[1:])}


def expectations(step, study=None):
    """What a step's notebook costs and gives, from its committed files: how long training
    took, what it ended at, and what TRAIN = False does instead. With a seed study of the
    step (`study`, by default the step's in assets/steps/), its runs give both; otherwise
    the notebook's committed run."""
    study = study or step_studies().get(step)
    if study:
        seconds = [r["total_seconds"] for r in study["per_seed"]]
        f = study["final"]
        epochs = study["per_seed"][0]["epochs"]
        took = (f"{epochs} epochs took {min(seconds) / 60:.1f} to {max(seconds) / 60:.1f} "
                f"minutes per run, {study['seeds']} runs from the command line")
        expect = (f"{f['mean']:.2f}% test accuracy at the last epoch on average over those "
                  f"{study['seeds']} seeds (std {f['std']:.2f}, lowest {f['min']:.2f}%)")
    else:
        run = load_asset(f"metrics/{step}.json")
        took = (f"{run['recipe']['epochs']} epochs took {run['summary']['total_seconds'] / 60:.1f} "
                "minutes in this notebook's committed run")
        expect = f"{run['summary']['last_test_acc']:.2f}% test accuracy at the last epoch of that run"
    print(f"Training: {took}, on two busy CPU cores (one thread per run, two runs at a time); "
          f"on a GPU: not measured for this step.\nExpect: {expect}; another seed, CPU or GPU moves "
          "it a little.\nTRAIN = False (or WORKBOOK_TRAIN=0) loads the committed weights and "
          "history in a second instead, and every later cell works the same.")


def step_line(step):
    """A step's line of the path's seed studies: its 5 seeds' final-epoch mean, and the
    paired gain over the step before, to quote next to the notebook's single run."""
    studies = step_studies()
    steps = list(studies)
    if step not in studies:
        print(f"step {step} has no committed 5-seed study yet (assets/steps/{step}.json): its "
              "single run above is all there is, and its gain over the step before is not known.")
        return
    study = studies[step]
    f = study["final"]
    made = ("the final model's study, seeds.json" if step == FINAL_STEP
            else f"python -m utils.seeds --name steps/{step}")
    print(f"step {step} over {study['seeds']} seeds ({made}): "
          f"final-epoch test accuracy {f['mean']:.3f}% on average, std {f['std']:.3f}, lowest "
          f"{f['min']:.2f}%, highest {f['max']:.2f}%")
    if steps.index(step) > 0:
        before = steps[steps.index(step) - 1]
        g = paired_gain(studies[before], study)
        print(f"paired gain over step {before}, seed by seed: {g['mean']:+.3f} points, standard "
              f"error {g['se']:.3f} ({g['in_se']} SE), better on {g['improved']} "
              f"of {g['n']} seeds")


def step_gains_table(studies):
    """One row per step: its seeds' final-epoch mean ± std, and what it bought: the paired
    gain over the step before (mean, standard error, seeds that improved)."""
    lines = ["| step | parameters | final-epoch test acc, mean ± std | lowest "
             "| paired gain over the step before | standard error | gain / SE | seeds improved |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    gains = step_gains(studies)
    for step, study in studies.items():
        f = study["final"]
        cells = [f"{study['per_seed'][0]['params']:,}", f"{f['mean']:.3f}% ± {f['std']:.3f}",
                 f"{f['min']:.2f}%"]
        g = gains.get(step)
        cells += ([f"{g['mean']:+.3f}", f"{g['se']:.3f}", g["in_se"], f"{g['improved']} of {g['n']}"]
                  if g else ["", "", "", ""])
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions_table(before, after):
    """The final model without its head Dropout (its study, seeds_no_head_dropout.json) against the one
    with it, on the test seeds they share. The first study's saved command builds the model
    with its head Dropout today, so its label says `--head-dropout 0`."""
    before = dict(before, command=f"{before['command']} --head-dropout 0")
    after = dict(after, command=f"{after['command']} --head-dropout 0.1")  # the default, said
    return paired_table(before, [after], control_label="the final model without its head Dropout")


def measures_table(control, study, measures, labels=("control", "study")):
    """Two studies compared seed by seed on several numbers of their runs: one row per
    `measures` entry ({key in per_seed: what it is}), each with both means over the shared
    seeds, the mean difference (study minus control), its standard error, the difference in
    standard errors and how many seeds it is higher on."""
    lines = [f"| measured on each seed's model | {labels[0]} | {labels[1]} | mean difference "
             "| standard error | difference / SE | higher on |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, what in measures.items():
        g = paired_gain(control, study, key)
        base = statistics.mean(r[key] for r in control["per_seed"] if r["seed"] in g["seeds"])
        lines.append(f"| {what} | {base:.2f} | {g['study_mean']:.2f} | {g['mean']:+.2f} "
                     f"| {g['se']:.2f} | {g['in_se']} | {g['improved']} of {g['n']} |")
    return "\n".join(lines)


def paired_folder_table(studies_by_name):
    """`paired_table` of a folder's studies against the one named control.json."""
    studies = dict(studies_by_name)
    return paired_table(studies.pop("control"), studies.values())


def headline():
    """The README's first lines of results: the final model's committed run and its seeds."""
    final = load_asset(f"metrics/{FINAL_STEP}.json")
    seeds = load_asset("seeds.json")
    run, study = final["summary"], seeds["final"]
    return (f"The final model has **{final['params']:,} parameters**. Its committed run "
            f"(notebook {FINAL_STEP}) ends its {run['epochs']} epochs at "
            f"**{run['last_test_acc']:.2f}%** "
            f"test accuracy (best {run['best_test_acc']:.2f}%, epoch {run['best_test_epoch']}); "
            f"trained {seeds['seeds']} times from the command line, with seeds 0 to "
            f"{seeds['seeds'] - 1}, it ends at **{study['mean']:.2f}% on average** (std "
            f"{study['std']:.2f}, lowest {study['min']:.2f}%). On 10,000 test images one run's "
            f"accuracy has a binomial standard error of {binomial_se(run['last_test_acc']):.2f} "
            "points (notebook 12).")


def binomial_se(accuracy, n=10_000):
    """The standard error, in points, of an accuracy (%) measured on n independent images:
    sqrt(p (1 - p) / n), the part of a run's number that is the luck of the test set."""
    p = accuracy / 100
    return 100 * (p * (1 - p) / n) ** 0.5


def notebook_title(path):
    """'Batch Normalization' from a notebook whose first line is '# Step 04: Batch Normalization'."""
    first = json.loads(Path(path).read_text())["cells"][0]["source"][0]
    return re.sub(r"^#\s*(Step\s*)?(\d{2}\s*:?\s*)?", "", first.strip())


def steps_table(notebooks=None):
    """Every notebook, with its step's parameters and accuracy from assets/metrics/, a link
    and a Colab badge; then how long training takes, from the runs that timed it."""
    notebooks = notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    lines = ["| notebook | lesson | parameters | test acc, last epoch (best) "
             "| over seeds: mean (gain over the step before ± SE) | |",
             "|---|---|---:|---:|---:|---|"]
    minutes = []
    studies = step_studies()
    gains = step_gains(studies)
    for path in notebooks:
        cells = ["", "", ""]
        step = path.name[:2]
        metrics = ASSETS / "metrics" / f"{step}.json"
        if metrics.exists():
            run = json.loads(metrics.read_text())
            m = run["summary"]
            cells = [f"{run['params']:,}", f"{m['last_test_acc']:.2f}% ({m['best_test_acc']:.2f}%)", ""]
            minutes.append(m["total_seconds"] / 60)
        if step in studies:
            cells[2] = f"{studies[step]['final']['mean']:.2f}%"
            if step in gains:
                cells[2] += f" ({gains[step]['mean']:+.2f} ± {gains[step]['se']:.2f})"
        badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                 f"({repository.colab_url(path.name)})")
        lines.append(" | ".join([f"| [{path.name[:2]}](notebooks/{path.name})",
                                 notebook_title(path), *cells, f"{badge} |"]))
    cpu = load_asset("speed/fp32_15epochs.json")["summary"]
    gpu = load_asset("speed_cuda/cuda_b128_15epochs.json")["summary"]
    how_long = (f"**How long.** A step trains for 15 epochs: {cpu['total_seconds'] / 60:.1f} minutes "
                f"for the final model alone on two cores of an Intel Xeon in float32, "
                f"{gpu['total_seconds']:.0f} seconds on an NVIDIA H100 (the final model "
                f"without its head Dropout); Colab's T4 and laptops were not measured. The notebooks' "
                f"committed runs, one thread each beside another training, took {min(minutes):.0f} "
                f"to {max(minutes):.0f} minutes, {sum(minutes):.0f} in all.")
    course = load_asset("course_time.json")  # python -m utils.course_time
    how_long += (f" With `TRAIN = False` (or `WORKBOOK_TRAIN=0`) each notebook loads its "
                 f"committed run instead: all {len(course['seconds'])} ran top to bottom in "
                 f"{course['total_seconds'] / 60:.0f} minutes on two cores of an "
                 f"{course['device'].split(' (')[0]}, alone (`python -m utils.course_time`).")
    lines += ["", how_long]
    return "\n".join(lines)


# The seed studies the README sums up: file under assets/ -> how it was trained.
STUDIES = {
    "seeds.json": "float32, 2 CPU cores",
    "seeds_bf16.json": "bf16, 2 CPU cores",
    "seeds_cuda.json": "H100, batch 512; previous final model, no head Dropout",
    "tiny_seeds_no_head_dropout.json": "notebook 13's 3,800-parameter model",
}


def studies_summary():
    """One line per seed study of STUDIES: final-epoch mean, std, lowest."""
    lines = ["| study | `python -m utils.train` with | seeds | final-epoch test acc, mean ± std "
             "| lowest | lowest of any seed's last 3 epochs |", "|---|---|---:|---:|---:|---:|"]
    for name, how in STUDIES.items():
        if (ASSETS / name).exists():
            study = load_study(name)
            f = study["final"]
            lines.append(f"| {how} | `{command_options(study) or '(defaults)'}` | {study['seeds']} "
                         f"| {f['mean']:.3f}% ± {f['std']:.3f} | {f['min']:.2f}% "
                         f"| {study['last3_min']:.2f}% |")
    return "\n".join(lines)


def span(seconds):
    """'9.4 to 10.8 s', or '35.0 s' for one value."""
    low, high = min(seconds), max(seconds)
    return f"{low:.1f} s" if low == high else f"{low:.1f} to {high:.1f} s"


def performance_summary():
    """The README's table of speed: throughput from the benchmarks, times from the speed runs."""
    cpu, gpu, gpu512 = map(load_asset, ("bench_cpu.json", "bench_cuda.json", "bench_cuda_512.json"))
    speed, speed_cuda = load_jsons(ASSETS / "speed"), load_jsons(ASSETS / "speed_cuda")
    ema = [r["summary"] for n, r in speed.items() if n.startswith("bf16_compile_ema") and n.endswith("cached")]
    b512 = [r["summary"] for n, r in speed_cuda.items() if n.startswith("cuda_b512")]
    reached = [r["target_seconds"] for r in ema if r["target_seconds"]]
    missed = f" ({len(ema) - len(reached)} of {len(ema)} never)" if len(reached) < len(ema) else ""
    finals = lambda runs: (f"{min(r['last_test_acc'] for r in runs):.2f}% to "
                           f"{max(r['last_test_acc'] for r in runs):.2f}%, {len(runs)} seeds")
    total = lambda run: f"{run['summary']['total_seconds']:.1f} s"
    return "\n".join([
        f"| | CPU: {cpu['device']} | GPU: {gpu['device']}, previous final model (no head Dropout) |", "|---|---|---|",
        f"| training throughput, fast path against the classic pipeline | {cpu['ratio']:.2f}x in "
        f"float32; {cpu['ratio_compiled']:.2f}x in bf16, compiled | {gpu['ratio']:.2f}x at batch "
        f"{gpu['batch_size']}; {gpu512['ratio']:.2f}x at batch {gpu512['batch_size']} |",
        f"| fastest runs: final test accuracy; first epoch at 99.4% (one look of many at the test "
        f"set) | 4 epochs, bf16, compiled, EMA: {finals(ema)}; first after "
        f"{span(reached)}{missed} | 15 epochs, batch 512: {finals(b512)}; first after "
        f"{span([r['target_seconds'] for r in b512])} |",
        f"| 15 epochs of the final recipe | {total(speed['fp32_15epochs'])} in "
        f"float32; {total(speed['bf16_compile_15epochs'])} in bf16, compiled "
        f"| {total(speed_cuda['cuda_b128_15epochs'])} at batch 128; "
        f"{span([r['total_seconds'] for r in b512])} at batch 512 |",
    ])


def beyond_summary():
    """Notebook 16's levers in a few lines, from assets/beyond/ (each declared in its
    protocol.md before its runs): the paired validation gains over the final recipe, and
    the test-set runs of the lever that cleared."""
    control, posthoc = load_asset("beyond/control.json"), load_asset("beyond/posthoc.json")
    test = load_asset("beyond/test_posthoc.json")
    gains = {"test-time augmentation": posthoc["gains"]["tta"],
             "BatchNorm statistics recomputed": posthoc["gains"]["clean_bn"]}
    for name, file in (("elastic distortions", "elastic"), ("downsampling earlier", "down")):
        gains[name] = paired_gain(control, load_asset(f"beyond/{file}.json"))
    said = [f"{name} {g['mean']:+.3f} ({g['mean'] / g['se']:+.1f} SE)" for name, g in gains.items()]
    plain = statistics.mean(r["plain"] for r in test["per_seed"])
    tta = statistics.mean(r["tta"] for r in test["per_seed"])
    cleared = [name for name, g in gains.items() if g["mean"] / g["se"] >= 2.5]
    return (f"**Beyond the brief** ([notebook 16](notebooks/16_beyond.ipynb)): four levers, paired "
            f"gains in points over the final recipe on ten validation seeds: {'; '.join(said)}. "
            f"Clearing the rule (2.5 SE): {', '.join(cleared) or 'none'}. On "
            f"{len(test['per_seed'])} fresh test-set runs, test-time augmentation took the mean "
            f"from {plain:.3f}% to {tta:.3f}% (gain SE {test['gains']['tta']['se']:.3f}).")


def readme_blocks():
    """The generated blocks of README.md, from the notebooks and the files under assets/."""
    return {"headline": headline(), "steps": steps_table(),
            "studies": studies_summary() + "\n\n" + beyond_summary(), "performance": performance_summary()}


SPEED_FIGURE = {  # the committed speed runs by way of training, their seeds together
    "fp32_15epochs": "float32, 15 epochs",
    "bf16_15epochs": "bf16, 15 epochs",
    "bf16_compile_15epochs": "bf16, compiled, cached, 15 epochs",
    "fp32_5epochs": "float32, 5 epochs",
    "bf16_5epochs": "bf16, 5 epochs",
    "fp32_4epochs": "float32, 4 epochs",
    "bf16_4epochs": "bf16, 4 epochs",
    "bf16_ema_4epochs": "bf16 + EMA, 4 epochs",
    "bf16_compile_ema_4epochs_cold": "bf16 + EMA, compiled from an empty cache, 4 epochs",
    "bf16_compile_ema_4epochs_cached": "bf16 + EMA, compiled, cached, 4 epochs",
}


def speed_runs():
    """Every committed speed run, {way of training: [its runs' histories, by seed]}: the
    file name without its _seedN."""
    ways = {way: [] for way in SPEED_FIGURE}
    for name, run in load_jsons(ASSETS / "speed").items():
        ways[re.sub(r"_seed\d+", "", name)].append((run["args"]["seed"], run["history"]))
    return {way: [history for _, history in sorted(runs)] for way, runs in ways.items()}


def speed_figure(save=None):
    """Test accuracy against seconds for every committed speed run, seeds included."""
    from utils.plot import time_to_accuracy  # utils.plot imports this module
    return time_to_accuracy({SPEED_FIGURE[way]: histories for way, histories in speed_runs().items()},
                            save=save)


if __name__ == "__main__":  # the maintainer's command: refresh the README from assets/
    update_readme(readme_blocks())
    print(f"updated {README}")
