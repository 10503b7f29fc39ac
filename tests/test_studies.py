"""The seed study and the benchmark: their arithmetic, their files, their command lines."""
import json
import statistics

import pytest
import torch

from utils import bench, report, seeds, train
from utils.models import build_model


def fake_run(folder, seed, accs):
    folder.mkdir(parents=True)
    history = [dict(epoch=i + 1, test_acc=a, seconds=10.0 * (i + 1)) for i, a in enumerate(accs)]
    first = next((h for h in history if h["test_acc"] >= 99.4), None)
    (folder / "metrics.json").write_text(json.dumps(dict(
        args=dict(seed=seed, model="tiny", widths=[4, 8, 6, 10]), params=3498, device="cpu",
        smoke=False, history=history,
        summary=dict(target_epoch=first and first["epoch"], target_seconds=first and first["seconds"],
                     total_seconds=history[-1]["seconds"]))))
    return folder


def test_seed_summary_statistics(tmp_path):
    runs = [fake_run(tmp_path / "seed_0", 0, [99.0, 99.45, 99.6, 99.5]),
            fake_run(tmp_path / "seed_1", 1, [99.2, 99.3, 99.39, 99.7]),
            fake_run(tmp_path / "seed_10", 10, [98.0, 99.0, 99.1, 99.2])]
    study = seeds.summarize_seeds(runs)
    assert [r["seed"] for r in study["per_seed"]] == [0, 1, 10]  # numeric order, not text
    assert study["final"]["mean"] == pytest.approx((99.5 + 99.7 + 99.2) / 3)
    assert study["final"]["std"] == pytest.approx(statistics.stdev([99.5, 99.7, 99.2]))
    assert study["final"]["min"] == 99.2 and study["best"]["max"] == 99.7
    assert study["last3_min"] == 99.0
    assert study["per_seed"][1]["target_epoch"] == 4 and study["widths"] == [4, 8, 6, 10]
    table = report.seeds_table(dict(study, command="python -m utils.train --model tiny"))
    assert "| 1 | 99.70% | 99.70% | 99.30% | 4 (40s) |" in table
    assert "| 10 | 99.20% | 99.20% | 99.00% | never |" in table
    assert "**99.467% ± 0.252**" in table
    assert "| 3,498 | `tiny` (4, 8, 6, 10) | 3 | 99.47% ± 0.25 | 99.20% | 99.70% |" in report.pareto_table([study])
    assert "`python -m utils.train --model tiny` with seeds 0 1 10" in table
    assert "on the 10,000 test images" in table and "final-epoch test acc" in table
    val = report.seeds_table(dict(study, command="python -m utils.train --protocol val"))
    assert "on each seed's 10,000 validation images" in val and "final-epoch validation acc" in val
    assert "test" not in val.replace("test-time", "")


def test_pareto_table_and_figure_name_each_model_and_its_width(tmp_path):
    scaled = seeds.summarize_seeds([fake_run(tmp_path / f"seed_{s}", s, [99.0, 99.1 + s / 10])
                                    for s in (0, 1)])
    separable = dict(scaled, model="separable", widths=None, width=16,
                     per_seed=[dict(r, params=2000) for r in scaled["per_seed"]])
    default = dict(separable, width=None, per_seed=[dict(r, params=3800) for r in scaled["per_seed"]])
    table = report.pareto_table([default, scaled, separable])
    rows = [line.split(" | ")[:2] for line in table.splitlines()[2:]]
    assert rows == [["| 2,000", "`separable` width 16"], ["| 3,498", "`tiny` (4, 8, 6, 10)"],
                    ["| 3,800", "`separable` width 22"]]
    from utils.plot import pareto_figure

    fig = pareto_figure([default, scaled, separable], save=tmp_path / "p.png")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert sum("mean ± std" in label for label in labels) == 2
    assert (tmp_path / "p.png").exists() and fig.axes[0].get_title()
    starred = pareto_figure([default, scaled], highlight=("the bonus model", separable))
    labels = starred.axes[0].get_legend_handles_labels()[1]
    assert "the bonus model: mean over seeds" in labels
    star = next(c for c in starred.axes[0].collections if c.get_label() == "the bonus model: mean over seeds")
    assert star.get_offsets().tolist() == [[2000, separable["final"]["mean"]]]


def test_speed_table_orders_runs_and_says_never():
    def run(epochs, bf16, seed, target_epoch, ema=None, compile=False, batch=128, lr=0.05):
        return dict(args=dict(epochs=epochs, bf16=bf16, seed=seed, ema=ema, compile=compile,
                              batch_size=batch, lr=lr),
                    summary=dict(target_epoch=target_epoch,
                                 target_seconds=target_epoch and 10.0 * target_epoch,
                                 last_test_acc=99.5, total_seconds=10.0 * epochs))

    rows = report.speed_table(dict(
        a=run(15, False, 0, 6), b=run(5, False, 0, 4), c=run(5, True, 1, None),
        d=run(5, True, 0, 3, ema=0.99), e=run(5, True, 0, 4), f=run(5, True, 0, 2, compile=True),
        g=run(15, False, 0, 8, batch=512, lr=0.2),
    )).splitlines()[2:]
    assert rows == ["| e | 128, 0.05 | bf16 | no | 5 | 0 | 4 | 40.0 s | 99.50% | 50.0 s |",
                    "| c | 128, 0.05 | bf16 | no | 5 | 1 | never |  | 99.50% | 50.0 s |",
                    "| d | 128, 0.05 | bf16 | 0.99 | 5 | 0 | 3 | 30.0 s | 99.50% | 50.0 s |",
                    "| f | 128, 0.05 | bf16, compiled | no | 5 | 0 | 2 | 20.0 s | 99.50% | 50.0 s |",
                    "| b | 128, 0.05 | float32 | no | 5 | 0 | 4 | 40.0 s | 99.50% | 50.0 s |",
                    "| g | 512, 0.2 | float32 | no | 15 | 0 | 8 | 80.0 s | 99.50% | 150.0 s |",
                    "| a | 128, 0.05 | float32 | no | 15 | 0 | 6 | 60.0 s | 99.50% | 150.0 s |"]


def test_speed_figure_draws_every_committed_run_seeds_included(tmp_path):
    fig = report.speed_figure(save=tmp_path / "speed.png")
    ax = fig.axes[0]
    ways = report.speed_runs()
    assert sum(len(h) for h in ways.values()) == len(list((report.ASSETS / "speed").glob("*.json")))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:len(ways)] == [f"{report.SPEED_FIGURE[w]} ({len(h)} seeds)" if len(h) > 1
                                  else report.SPEED_FIGURE[w] for w, h in ways.items()]
    drawn = [list(line.get_xdata()) for line in ax.lines]
    for histories in ways.values():  # each run at its own seconds
        for history in histories:
            assert [h["seconds"] for h in history] in drawn


def study(command, accs):
    """A seed study's summary with only what the tables read: {seed: final accuracy}."""
    return dict(command=command, per_seed=[dict(seed=seed, final_test_acc=a)
                                           for seed, a in accs.items()])


def test_paired_table_compares_seed_by_seed_with_the_standard_error():
    control = study("python -m utils.train --protocol val", {0: 99.40, 1: 99.60, 2: 99.30})
    better = study("python -m utils.train --protocol val --x", {0: 99.45, 1: 99.62, 2: 99.38,
                                                                 7: 90.0})  # 7: no pair
    lines = report.paired_table(control, [better]).splitlines()
    assert lines[2] == "| `--protocol val` (control) | 3 | 99.433% | | | | |"
    # d = +0.05, +0.02, +0.08: mean +0.05, std 0.03, SE 0.03 / sqrt(3) = 0.0173, 2.9 SE
    assert lines[3] == ("| `--protocol val --x` | 3 | 99.483% | +0.050 | 0.017 | +2.9 "
                        "| +0.02, +0.08 |")
    with pytest.raises(ValueError, match="fewer than 2 seeds"):
        report.paired_table(control, [study("python -m utils.train --y", {0: 99.4, 5: 99.5})])


def test_versions_table_names_both_models_by_the_command_that_builds_them_today():
    without_head = study("python -m utils.train", {0: 99.53, 1: 99.56})
    with_head = study("python -m utils.train", {0: 99.50, 1: 99.60, 2: 99.55})
    lines = report.versions_table(without_head, with_head).splitlines()
    assert lines[2].startswith(
        "| `--head-dropout 0` (the final model without its head Dropout) | 2 | 99.545% |")
    assert lines[3].startswith("| `--head-dropout 0.1` | 2 | 99.550% | +0.005 |")  # seeds 0, 1


def test_seed_study_trains_each_seed_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")  # one epoch on a few thousand images
    monkeypatch.setattr(seeds, "output_path", lambda name: tmp_path / "out" / name)
    monkeypatch.chdir(tmp_path)  # the trainings must find the code from anywhere
    study = seeds.main(["--seeds", "3", "4", "--runs", str(tmp_path), "--name", "test_study",
                        "--model", "tiny", "--epochs", "2"])
    assert [r["seed"] for r in study["per_seed"]] == [3, 4]
    assert all(r["smoke"] and r["epochs"] == 1 for r in study["per_seed"])
    assert study["command"] == "python -m utils.train --model tiny --epochs 2"
    assert json.loads((tmp_path / "out" / "test_study.json").read_text())["seeds"] == 2
    assert (tmp_path / "out" / "test_study.png").exists()
    before = (tmp_path / "seed_3" / "metrics.json").stat().st_mtime_ns
    argv = ["--seeds", "3", "4", "--runs", str(tmp_path), "--name", "test_study", "--model", "tiny"]
    seeds.main(argv + ["--epochs", "2"])
    assert (tmp_path / "seed_3" / "metrics.json").stat().st_mtime_ns == before  # reused
    with pytest.raises(SystemExit, match=r"seed_3 holds a finished run of another recipe "
                                         r"\(it differs in epochs\)"):
        seeds.main(argv + ["--epochs", "3"])  # another recipe: the saved run is kept
    assert (tmp_path / "seed_3" / "metrics.json").stat().st_mtime_ns == before
    seeds.main(argv + ["--epochs", "3", "--overwrite"])  # unless asked: trained again
    assert (tmp_path / "seed_3" / "metrics.json").stat().st_mtime_ns != before


def test_a_run_differs_from_a_recipe_only_in_options_that_change_what_it_learns(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.delenv("WORKBOOK_SMOKE", raising=False)
    assert seeds.differences(tmp_path, []) is None  # nothing saved yet
    args = train.recorded_args(train.parse_args(["--seed", "1", "--data", "/elsewhere"]))
    final = str(build_model("final"))
    (tmp_path / "metrics.json").write_text(json.dumps(dict(args=args, smoke=True,
                                                           architecture=final)))
    assert seeds.differences(tmp_path, ["--workers", "0"]) == ["smoke mode"]
    assert seeds.differences(tmp_path, ["--lr", "0.1", "--bf16"]) == ["lr", "bf16", "smoke mode"]


def test_a_run_of_the_same_command_with_other_layers_is_another_recipe(tmp_path, monkeypatch):
    """A model's default can change between two runs of one command: the layers tell."""
    monkeypatch.delenv("WORKBOOK_SMOKE", raising=False)
    args = train.recorded_args(train.parse_args(["--seed", "1"]))
    older = str(build_model("final", head_dropout=0.0))  # FinalNet before its head Dropout
    for architecture in (older, None):  # other layers, or none recorded
        (tmp_path / "metrics.json").write_text(json.dumps(dict(args=args, smoke=False,
                                                               architecture=architecture)))
        assert seeds.differences(tmp_path, []) == ["the model's layers"]


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0", "0"], "at least 2 different seeds"),
    (["--seeds", "0", "1", "--out", "runs/x"], "use --runs for their folder"),
])
def test_seed_study_refuses_arguments_that_would_mix_up_its_runs(argv, message, capsys):
    with pytest.raises(SystemExit):
        seeds.main(argv)
    assert message in capsys.readouterr().err


def test_a_run_saved_before_an_option_existed_is_reused_at_its_default(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBOOK_SMOKE", raising=False)
    args = train.recorded_args(train.parse_args(["--seed", "1", "--bf16"]))
    del args["compile"]  # as in a metrics.json written before --compile was added
    (tmp_path / "metrics.json").write_text(json.dumps(dict(args=args, smoke=False,
                                                           architecture=str(build_model("final")))))
    assert seeds.differences(tmp_path, ["--bf16"]) == []  # reused
    assert seeds.differences(tmp_path, ["--bf16", "--compile"]) == ["compile"]
    assert seeds.differences(tmp_path, []) == ["bf16"]


def test_seed_study_reports_a_failed_training(tmp_path, monkeypatch):
    monkeypatch.setattr(seeds, "output_path", lambda name: tmp_path / "out" / name)
    with pytest.raises(SystemExit, match="failed; see log.txt"):
        seeds.main(["--seeds", "0", "1", "--runs", str(tmp_path), "--cutout", "-1",
                    "--name", "never_written"])
    assert "must be >= 0" in (tmp_path / "seed_0" / "log.txt").read_text()
    assert not (tmp_path / "out").exists()


def test_benchmark_measures_both_pipelines_in_both_precisions(tmp_path, capsys, monkeypatch):
    loaders, precisions = [], []  # what each measure was fed, and how each step trained
    measure, train_one_epoch = bench.measure, train.train_one_epoch

    def recording_measure(loader, *args, **kwargs):
        loaders.append(type(loader).__name__)
        return measure(loader, *args, **kwargs)

    def recording_train_one_epoch(*args, **kwargs):
        precisions.append("bf16" if kwargs["bf16"] else "fp32")
        return train_one_epoch(*args, **kwargs)

    monkeypatch.setattr(bench, "measure", recording_measure)
    monkeypatch.setattr(train, "train_one_epoch", recording_train_one_epoch)
    result = bench.main(["--steps", "3", "--warmup", "1", "--workers", "0", "--variants",
                         "--out", str(tmp_path / "b.json")])
    assert loaders[:4] == ["DataLoader", "TensorLoader", "DataLoader", "TensorLoader"]
    assert precisions[:8] == ["fp32"] * 4 + ["bf16"] * 4  # a warm-up and a timed pass each
    speed = {key: result[key]["train_images_per_s"] for key in bench.PIPELINES}
    assert all(v > 0 for v in speed.values())
    assert result["ratio"] == pytest.approx(speed["fast"] / speed["classic"], abs=0.01)
    assert result["ratio_bf16"] == pytest.approx(speed["fast_bf16"] / speed["classic"], abs=0.01)
    assert json.loads((tmp_path / "b.json").read_text()) == result
    printed = capsys.readouterr().out
    assert "ratio b / a" in printed and "ratio d / a" in printed and "device:" in printed
    table = report.bench_table(result)
    assert f"b / a, both in float32: {result['ratio']:.2f}x" in table
    assert f"d / a, the fast path in bf16 against the classic one in float32: " \
           f"{result['ratio_bf16']:.2f}x" in table
    assert all(f"| {name} | {speed[key]:,} |" in table for key, name in bench.PIPELINES.items())
    assert set(result["variants"]) == {"as committed", "nn.Dropout instead of Dropout2d",
                                       "no nn.Dropout before the head",
                                       "channels_last memory format", "fused SGD", "batch 512"}
    assert "| as committed | " in table and "| 1.00x |" in table


def test_benchmark_table_reports_the_compiled_pipeline_and_its_warm_up():
    run = lambda speed, warmup: dict(train_images_per_s=speed, pipeline_images_per_s=9,
                                     warmup_seconds=warmup)
    result = dict(batch_size=128, augment="A", steps=10, warmup=20, device="cpu", torch="2",
                  workers=2, pipelines=dict(bench.PIPELINES, **bench.COMPILED),
                  classic=run(1000, 2.0), fast=run(2000, 0.5), classic_bf16=run(1500, 2.0),
                  fast_bf16=run(2500, 0.4), fast_compiled=run(3100, 61.0),
                  ratio=2.0, ratio_bf16=2.5, ratio_compiled=3.1)
    table = report.bench_table(result)
    assert "| (e) fast path, bf16 + channels_last + torch.compile | 3,100 | 3.10x |" in table
    assert "once compiled: 3.10x.** Its 20 warm-up steps took 61 seconds" in table
    assert "against 0.4 for (d)" in table
    del result["fast_compiled"], result["ratio_compiled"]
    result["pipelines"] = bench.PIPELINES
    assert "compile" not in report.bench_table(result)


def test_benchmark_names_the_cpu_and_its_bf16_hardware(tmp_path):
    amd = tmp_path / "cpuinfo"
    amd.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
                   "flags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert bench.cpu_model(amd) == ("AMD EPYC 9R14 96-Core Processor", ["avx512_bf16"])
    name, flags = bench.cpu_model()
    assert bench.device_name(torch.device("cpu")).startswith(
        f"{name} ({', '.join(flags) if flags else 'no bf16 hardware'}), ")


def test_plain_dropout_variant_swaps_every_dropout():
    import torch.nn as nn
    from utils.models import FinalNet

    model = bench.with_plain_dropout(FinalNet())
    kinds = [type(m) for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert kinds and set(kinds) == {nn.Dropout}


def test_benchmark_refuses_more_steps_than_an_epoch_holds():
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--steps", "300"])
    assert exit_.value.code == 2


def step_study(accs, params):
    return dict(command="python -m utils.train", seeds=len(accs),
                final=dict(mean=statistics.mean(accs), std=statistics.stdev(accs), min=min(accs),
                           max=max(accs)),
                per_seed=[dict(seed=s, final_test_acc=a, params=params) for s, a in enumerate(accs)])


def test_step_gains_pair_each_step_with_the_one_before(tmp_path):
    studies = {"01": step_study([99.0, 99.1, 99.2], 1000),
               "02": step_study([99.1, 99.1, 99.5], 500),   # d = +0.1, 0, +0.3
               "03": step_study([99.0, 99.2, 99.4], 400)}   # d = -0.1, +0.1, -0.1
    lines = report.step_gains_table(studies).splitlines()
    assert lines[2] == "| 01 | 1,000 | 99.100% ± 0.100 | 99.00% |  |  |  |  |"
    # mean +0.133, std 0.153, SE 0.088: +1.5 SE, 2 of 3 seeds improved (a tie is no gain)
    assert lines[3] == "| 02 | 500 | 99.233% ± 0.231 | 99.10% | +0.133 | 0.088 | +1.5 | 2 of 3 |"
    assert lines[4].endswith("| -0.033 | 0.067 | -0.5 | 1 of 3 |")  # against 02, not 01
    from utils.plot import step_gains_figure

    fig = step_gains_figure(studies, save=tmp_path / "gains.png")
    ax_acc, ax_gain = fig.axes
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == ["01", "02", "03"]
    assert ax_acc.get_ylim()[0] < 99.0 and ax_acc.get_ylim()[1] > 99.5  # every seed in view
    assert ax_acc.get_ylim()[1] - ax_acc.get_ylim()[0] < 1  # zoomed to the differences
    assert ax_acc.get_ylabel() and ax_gain.get_ylabel() and ax_acc.get_title() and ax_gain.get_title()
    from matplotlib.collections import PathCollection  # the dots, not the error bars
    gain_points = sorted(y for c in ax_gain.collections if isinstance(c, PathCollection)
                         for _, y in c.get_offsets())
    assert gain_points == pytest.approx(sorted([0.1, 0.0, 0.3, -0.1, 0.1, -0.1]))
    assert (tmp_path / "gains.png").exists()


def test_a_study_with_features_measures_each_seeds_own_trained_model(tmp_path, monkeypatch):
    """`--features` loads each seed's weights.pt into the study's model (its options
    included: no head Dropout here) and measures it on the seed's held-out images (256 test
    images here, to keep it quick); two seeds with different weights get their own numbers."""
    from utils import data
    (x, y), (xt, yt) = data.splits("test")
    test = data.TensorLoader(xt[:256], yt[:256], 128)
    asked = []
    monkeypatch.setattr(seeds.data, "fast_loaders", lambda protocol, seed, root: asked.append((protocol, seed)) or (None, test))
    study = {"per_seed": [dict(seed=0), dict(seed=1)]}
    models = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        models[seed] = build_model("final", head_dropout=0.0).eval()
        (tmp_path / f"seed_{seed}").mkdir()
        train.save_weights(models[seed], tmp_path / f"seed_{seed}" / "weights.pt", "final")
    seeds.measure_features(study, tmp_path, ["--model", "final", "--head-dropout", "0"])
    assert asked == [("test", 0), ("test", 1)]  # each seed's held-out images (the split, on validation)
    for row in study["per_seed"]:
        model = models[row["seed"]]
        assert row["feature_share"] == train.largest_feature_share(model, test)
        assert row["dropped_tenth_acc"] == train.accuracy_with_features_dropped(model, test)
    assert study["per_seed"][0]["feature_share"] != study["per_seed"][1]["feature_share"]



def test_every_asset_is_described_in_the_assets_readme():
    """assets/README.md has a row for every file and folder directly under assets/, and no row
    for one that is not there: a learner browsing assets/ can look any of them up."""
    import re
    rows = [line.split("|")[1] for line in (report.ASSETS / "README.md").read_text().splitlines()
            if line.startswith("| `")]
    described = {name for row in rows for name in re.findall(r"`([^`]+)`", row)}
    present = {p.name + ("/" if p.is_dir() else "") for p in report.ASSETS.iterdir()} - {"README.md"}
    assert not present - described, f"no row in assets/README.md: {sorted(present - described)}"
    assert not described - present, f"a row in assets/README.md, not in assets/: {sorted(described - present)}"
