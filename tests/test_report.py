import copy
import json

import pytest

from utils import report


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    report.save_json({"old": 1}, path)

    def crash(tmp):
        with open(tmp, "w") as f:
            f.write('{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        report.atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def summary(best, last):
    return dict(best_train_acc=99.9, best_test_acc=best, best_test_epoch=3, last_test_acc=last,
                epochs=15)


def test_only_a_maintainers_full_run_writes_under_assets(monkeypatch):
    monkeypatch.delenv("WORKBOOK_PUBLISH", raising=False)
    assert report.output_path("metrics/x.json") == report.REPO_ROOT / "runs/metrics/x.json"
    monkeypatch.setenv("WORKBOOK_PUBLISH", "1")
    assert report.output_path("metrics/x.json") == report.ASSETS / "metrics/x.json"
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")  # smoke mode wins over the switch
    path = report.output_path("metrics/x.json")
    assert report.ASSETS not in path.parents and "smoke" in path.parts


def test_runs_is_ignored_by_git_and_assets_is_not():
    ignored = (report.REPO_ROOT / ".gitignore").read_text().split()
    assert "runs/" in ignored and not any(line.startswith("assets") for line in ignored)


def test_results_table_and_readme_update(tmp_path):
    steps = [dict(step="01", title="baseline", model="baseline", params=109_706,
                  summary=summary(99.123, 99.0)),
             dict(step="09", title="schedule", model="final", params=17_154,
                  summary=summary(99.56, 99.51))]
    table = report.results_table(steps)
    assert "| 01 baseline | `baseline` | 109,706 | 99.90% | 99.12% (3) | 99.00% | 15 |" in table
    readme = tmp_path / "README.md"
    start, end = report.markers("results")
    readme.write_text(f"intro\n{start}\nold\n{end}\nrest\n")
    report.update_readme({"results": table}, readme)
    text = readme.read_text()
    assert table in text and "old" not in text and text.startswith("intro") and "rest" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme({"results": table}, readme)
    assert readme.read_text() == "no markers"


def test_span_and_notebook_titles_as_the_readme_writes_them(tmp_path):
    assert report.span([10.8, 9.7, 9.4]) == "9.4 to 10.8 s"
    assert report.span([35.0]) == "35.0 s"
    for first_line, title in (("# Step 04: Batch Normalization\n", "Batch Normalization"),
                              ("# Bonus: 99.4% with fewer than 4,000 parameters", "Bonus: 99.4% with fewer than 4,000 parameters"),
                              ("# 12 Train it fast\n", "Train it fast")):
        path = tmp_path / "nb.ipynb"
        path.write_text(json.dumps({"cells": [{"source": [first_line, "more"]}]}))
        assert report.notebook_title(path) == title


def test_a_steps_expectations_and_its_line_come_from_its_files(capsys):
    study = report.load_asset("steps/01.json")
    report.expectations("01")
    printed = capsys.readouterr().out
    seconds = [r["total_seconds"] / 60 for r in study["per_seed"]]
    assert f"took {min(seconds):.1f} to {max(seconds):.1f} minutes per run" in printed
    assert f"{study['final']['mean']:.2f}% test accuracy" in printed and "TRAIN = False" in printed
    report.expectations(report.FINAL_STEP)  # the final step: the final model's 10-seed study
    final = report.load_asset("seeds.json")["final"]
    assert f"{final['mean']:.2f}% test accuracy at the last epoch on average over those 10 seeds" \
        in capsys.readouterr().out
    report.expectations("13")  # no study in assets/steps/: the notebook's run
    run = report.load_asset("metrics/13.json")["summary"]
    assert f"{run['last_test_acc']:.2f}% test accuracy at the last epoch of that run" in capsys.readouterr().out
    tiny = report.load_asset("tiny_seeds.json")  # the bonus, with its study given
    report.expectations("13", tiny)
    assert f"{tiny['final']['mean']:.2f}% test accuracy at the last epoch on average over those " \
        f"{tiny['seeds']} seeds" in capsys.readouterr().out
    studies = report.step_studies()
    second = list(studies)[1]
    report.step_line(second)
    g = report.paired_gain(studies[list(studies)[0]], studies[second])
    assert f"{g['mean']:+.3f} points, standard error {g['se']:.3f}" in capsys.readouterr().out


def test_a_step_without_a_study_says_so_instead_of_failing(capsys):
    report.step_line("99")
    assert "step 99 has no committed 5-seed study yet" in capsys.readouterr().out


def test_the_readme_table_gives_each_step_its_seeds_and_its_paired_gain():
    studies = report.step_studies()
    table = report.steps_table().splitlines()
    first, second = list(studies)[:2]
    g = report.paired_gain(studies[first], studies[second])
    row = next(line for line in table if line.startswith(f"| [{second}]"))
    assert f"| {studies[second]['final']['mean']:.2f}% ({g['mean']:+.2f} ± {g['se']:.2f}) |" in row
    row = next(line for line in table if line.startswith(f"| [{first}]"))
    assert f"| {studies[first]['final']['mean']:.2f}% |" in row  # the first step: no gain
    row = next(line for line in table if line.startswith("| [00]"))
    assert "|  |  |  |" in row  # the data notebook trains nothing: three empty cells


def test_how_long_quotes_the_course_time_with_train_false():
    course = report.load_asset("course_time.json")
    assert set(course["seconds"]) == {p.name for p in (report.REPO_ROOT / "notebooks").glob("*.ipynb")}
    assert course["workbook_train"] == "0"
    line = next(l for l in report.steps_table().splitlines() if l.startswith("**How long.**"))
    assert f"all {len(course['seconds'])} ran top to bottom in {course['total_seconds'] / 60:.0f} minutes" in line


def test_a_steps_expectations_need_only_its_study_before_its_first_run(capsys):
    """A new step's notebook quotes its seed study before the notebook has saved any run."""
    assert not (report.ASSETS / "metrics" / "77.json").exists()
    study = report.load_asset("steps/01.json")
    report.expectations("77", study)
    assert f"{study['final']['mean']:.2f}% test accuracy" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        report.expectations("77")  # neither a study nor a run: nothing to quote


def test_a_paired_gain_of_another_number_of_the_runs():
    control = {"command": "a", "per_seed": [dict(seed=s, final_test_acc=99.0, last3_min_test_acc=v)
                                            for s, v in enumerate([99.0, 98.9, 99.1])]}
    study = {"command": "b", "per_seed": [dict(seed=s, final_test_acc=99.0, last3_min_test_acc=v)
                                          for s, v in enumerate([99.2, 99.0, 99.1])]}
    assert report.paired_gain(control, study)["mean"] == 0
    g = report.paired_gain(control, study, key="last3_min_test_acc")
    assert g["d"] == pytest.approx([0.2, 0.1, 0.0]) and g["improved"] == 2


def test_a_table_of_several_measures_pairs_each_by_seed():
    """Seed 2 is the control's only: left out of both means. Share falls by 5 and 7 (mean -6,
    SE 1); accuracy falls by 0.1 on seed 0 and rises by 0.3 on seed 1 (mean +0.1, SE 0.2)."""
    control = {"per_seed": [dict(seed=0, share=30.0, acc=99.0), dict(seed=1, share=28.0, acc=99.2),
                            dict(seed=2, share=90.0, acc=10.0)]}
    study = {"per_seed": [dict(seed=1, share=21.0, acc=99.5), dict(seed=0, share=25.0, acc=98.9)]}
    lines = report.measures_table(control, study, {"share": "share, %", "acc": "accuracy, %"},
                                  labels=("step 10", "step 11")).splitlines()
    assert lines[0].startswith("| measured on each seed's model | step 10 | step 11 |")
    assert lines[2] == "| share, % | 29.00 | 23.00 | -6.00 | 1.00 | -6.0 | 0 of 2 |"
    assert lines[3] == "| accuracy, % | 99.10 | 99.20 | +0.10 | 0.20 | +0.5 | 1 of 2 |"


def test_a_learners_own_run_is_set_against_the_committed_run_and_its_seeds(capsys, monkeypatch):
    committed = report.load_asset("metrics/05.json")
    study = report.step_studies()["05"]["final"]
    mine = copy.deepcopy(committed["history"])

    report.against_committed("05", committed["params"], mine)  # the committed run itself
    assert capsys.readouterr().out == ""

    mine[-1]["test_acc"] = round(study["mean"] + 0.5 * study["std"], 2)  # another seed
    report.against_committed("05", committed["params"], mine)
    out = capsys.readouterr().out
    assert f"Your run ends at {mine[-1]['test_acc']:.2f}%" in out
    assert f"ended at {committed['history'][-1]['test_acc']:.2f}%" in out and "Yours is within" in out

    mine[-1]["test_acc"] = round(study["mean"] - 4 * study["std"], 2)  # something else changed
    report.against_committed("05", committed["params"], mine)
    assert "Yours is outside" in capsys.readouterr().out

    report.against_committed("05", committed["params"] + 8, mine)  # an edited model
    assert "not compared" in capsys.readouterr().out

    monkeypatch.setenv("WORKBOOK_SMOKE", "1")  # smoke numbers are not results
    report.against_committed("05", committed["params"], mine)
    assert capsys.readouterr().out == ""


def test_an_older_torch_than_requirements_names_is_found_with_its_bound():
    import utils
    bounds = utils.lower_bounds()
    assert bounds["torch"] and bounds["torchvision"]
    assert utils.version_tuple("2.10.0rc1+cu128") == (2, 10, 0) < utils.version_tuple("2.10.1")
    old = {"torch": "2.0.1+cu118", "torchvision": "0.15.2"}
    assert utils.outdated(installed=old.get) == [("torch", "2.0.1+cu118", bounds["torch"]),
                                                 ("torchvision", "0.15.2", bounds["torchvision"])]
    assert utils.outdated(installed={"torch": "99.0", "torchvision": "99.0"}.get) == []


def test_the_binomial_error_of_one_test_set_is_in_the_headline():
    """sqrt(p (1 - p) / n) in points: 0.0669 at 99.55% on 10,000 images; 0 for a perfect score."""
    assert report.binomial_se(99.55) == pytest.approx(0.06693, abs=1e-5)
    assert report.binomial_se(100.0) == 0 and report.binomial_se(50.0, n=100) == pytest.approx(5.0)
    final = report.load_asset("metrics/11.json")["summary"]["last_test_acc"]
    assert f"binomial standard error of {report.binomial_se(final):.2f} points" in report.headline()


def test_a_studys_label_adds_the_options_its_saved_command_left_unsaid():
    """tiny_seeds_no_head_dropout.json trained SeparableNet without its head Dropout when that was the
    default: its row says --head-dropout 0, or the command would train another model today."""
    row = next(line for line in report.studies_summary().splitlines() if "3,800-parameter" in line)
    assert "--lr 0.1 --head-dropout 0`" in row and "99.420%" in row
