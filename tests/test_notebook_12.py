"""Notebook 12's self-checking exercises, run as they stand in the committed notebook, without
a kernel, against the committed studies and a stand-in for its class activation maps: None,
right, wrong and junk answers."""
import statistics

import torch

from notebook_cells import code_cell, printed
from utils import exercises, report

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]


def run(text, **names):
    return printed(code_cell("12_results.ipynb", text), dict(exercises=exercises, report=report, **names))


def test_a_paired_gain_by_hand_two_steps_apart():
    studies = report.step_studies()
    by_seed = lambda step: {r["seed"]: r["final_test_acc"] for r in studies[step]["per_seed"]}
    d = [by_seed("07")[s] - by_seed("05")[s] for s in sorted(by_seed("05"))]
    right = statistics.stdev(d) / len(d) ** 0.5
    answer = lambda a: run("exercises.check(my_se", studies=studies, my_se=a)
    assert answer(None).startswith("❌ not answered yet")
    assert answer(right).startswith("✅") and answer(round(right, 4)).startswith("✅")
    table_se = report.paired_gain(studies["06"], studies["07"])["se"]  # the table's row of step 07
    for wrong in [statistics.stdev(d), statistics.pstdev(d) / len(d) ** 0.5, table_se] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_a_score_from_a_map_that_is_not_printed():
    torch.manual_seed(0)
    cams = torch.randn(6, 10, 7, 7)
    scores = cams.mean(dim=(2, 3))
    names = dict(cams=cams, scores=scores, wrong_true=torch.tensor([9, 3]), wrong_pred=torch.tensor([4, 5]))
    exec(code_cell("12_results.ipynb", "my_score = None"), names)
    assert names["other"] not in (9, 4)
    answer = lambda a: run("exercises.check(my_score", **dict(names, my_score=a))
    assert answer(None).startswith("❌ not answered yet")
    assert answer(cams[0, names["other"]].mean().item()).startswith("✅")
    for wrong in [cams[0, 4].mean().item(), cams[0, names["other"]].sum().item(),
                  cams[0, names["other"]].max().item()] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
