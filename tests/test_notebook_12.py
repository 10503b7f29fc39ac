"""Notebook 12's self-checking exercises, run as they stand in the committed notebook, without
a kernel, against the committed studies and stand-ins for its class activation maps and its
confusion matrix: None, right, wrong and junk answers, and the hints of typical slips. Exercise 3
is markdown only (its answer collapsed under the question): its answer's code is run here."""
import json
import statistics

import torch

from notebook_cells import code_cell, printed
from utils import exercises, report
from utils.answers import KEY

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"


def run(text, **names):
    return printed(code_cell("12_results.ipynb", text),
                   dict(exercises=exercises, report=report, statistics=statistics, torch=torch, **names))


def by_seed(studies, step):
    return {r["seed"]: r["final_test_acc"] for r in studies[step]["per_seed"]}


def test_the_standard_error_of_three_steps_together():
    studies = report.step_studies()
    before, after = by_seed(studies, "07"), by_seed(studies, "10")
    d = [after[s] - before[s] for s in sorted(before)]
    right = statistics.stdev(d) / len(d) ** 0.5
    answer = lambda a: run("exercises.check(my_se", studies=studies, my_se=a)
    assert answer(None) == NOT_ANSWERED
    for ok in (right, round(right, 3), f"{right:.4f}"):
        assert answer(ok).startswith("✅"), ok
    assert "square root of their number" in answer(statistics.stdev(d))
    assert "n - 1" in answer(statistics.pstdev(d) / len(d) ** 0.5)
    unpaired = ((statistics.variance(before.values()) + statistics.variance(after.values())) / len(d)) ** 0.5
    assert "unpaired" in answer(unpaired)
    summed = sum(g["se"] for step, g in report.step_gains(studies).items() if step in ("08", "09", "10"))
    assert "do not add up" in answer(summed)
    for fair in (round(right, 2), f"{round(right, 2):.3f}"):  # two decimals pass, with a note
        assert answer(fair).startswith("✅") and "right to two decimals" in answer(fair), fair
    for wrong in [report.step_gains(studies)["10"]["se"], round(right, 1)] + WRONG:  # the table's row
        assert answer(wrong).startswith("❌"), wrong


def test_the_gain_in_standard_errors_and_its_verdict():
    studies = report.step_studies()
    pair = report.paired_gain(studies["07"], studies["10"])
    answer = lambda gain, verdict: run("exercises.check(gain_in_se", studies=studies,
                                       gain_in_se=gain, verdict=verdict).splitlines()
    assert answer(None, None) == [NOT_ANSWERED] * 2  # one line per check, nothing else
    right = pair["mean"] / pair["se"]
    assert right >= 2.8 and KEY["12"][2] == "a"  # the key's verdict is the data's
    for ok in (right, round(right, 1), f"{right:.2f}"):
        assert answer(ok, "a")[0].startswith("✅"), ok
    for ok in ("a", " A ", "(a)"):
        assert answer(None, ok)[1].startswith("✅"), ok
    one_by_one = sum(g["mean"] / g["se"] for step, g in report.step_gains(studies).items()
                     if step in ("08", "09", "10"))
    assert "do not" in "\n".join(answer(one_by_one, None))
    for wrong in ["b", "c", 3] + WRONG:
        assert answer(None, wrong)[1].startswith("❌"), wrong
    for wrong in [pair["mean"], pair["se"], right + 0.2] + WRONG:
        assert answer(wrong, None)[0].startswith("❌"), wrong


def test_a_score_from_a_map_is_asked_without_a_check_and_its_answer_runs():
    """Exercise 3 is markdown only: its question names `other`, and its answer's code, run on
    stand-in maps, prints each map's average as the model's score."""
    cells = json.loads((report.REPO_ROOT / "notebooks" / "12_results.ipynb").read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
             and "".join(c["source"]).startswith("**3. A score from its map**")]
    assert len(found) == 1 and "<details><summary>Answer</summary>" in found[0]
    assert "exercises.check(my_score" not in json.dumps(cells)
    code = found[0].split("```python\n")[1].split("```")[0]
    torch.manual_seed(0)
    cams = torch.randn(6, 10, 7, 7)
    names = dict(cams=cams, scores=cams.mean(dim=(2, 3)), torch=torch,
                 wrong_true=torch.tensor([9, 3]), wrong_pred=torch.tensor([4, 5]))
    out = printed(code, names)
    other = next(c for c in range(10) if c not in (9, 4))
    assert out == (f"class {other}: its map's average {cams[0, other].mean():+.2f}, "
                   f"the model's score {cams[0, other].mean():+.2f}")


def test_the_hardest_digit_read_from_the_confusion_matrix():
    cm = torch.diag(torch.full((10,), 900))
    cm[5, 3] = 5                   # the darkest cell: the most common single confusion, in row 5
    cm[6, [0, 1, 2, 4, 8]] = 2     # row 6: many pale cells, the most mistakes in all (10)
    answer = lambda a: run("exercises.check(hardest_digit", cm=cm, hardest_digit=a)
    assert answer(None) == NOT_ANSWERED
    for ok in (6, "6", 6.0):
        assert answer(ok).startswith("✅"), ok
    assert "darkest" in answer(5)
    cm[[0, 1, 2, 3, 4, 7, 8], 9] = 1  # column 9: the digit most often predicted wrongly (7 times)
    assert "column" in answer(9)
    for wrong in [3, 0] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
    cm[7, [0, 1, 2]] = 3           # row 7 now ties with row 6, at 10 mistakes: either is right
    for ok in (7, "7", 6, "6"):
        assert answer(ok).startswith("✅"), ok
