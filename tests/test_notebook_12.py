"""Notebook 12's self-checking exercises, run as they stand in the committed notebook, without
a kernel, against the committed studies and stand-ins for its class activation maps and its
confusion matrix: None, right, wrong and junk answers, and the hints of typical slips."""
import json
import statistics

import torch

from notebook_cells import code_cell, markdown_cell, printed
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
    for short in (round(right, 2), f"{round(right, 2):.3f}"):  # two decimals: asked for three, no hint spent
        out = answer(short)
        assert out.startswith("❌") and "give one more" in out and "hint" not in out, short
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


def test_a_score_with_one_positions_features_zeroed_is_checked_against_the_model_itself():
    """Exercise 3 on a stand-in model built like the final one (features, GAP, a 1x1
    classifier): the class asked about is neither the first mistake's true class nor its
    prediction and has the largest bias in size; the solution's formula passes, a slip that
    forgets the bias fails, and each typical slip gets its own hint."""
    torch.manual_seed(0)
    features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    classifier = torch.nn.Conv2d(4, 10, 1)
    model = torch.nn.Sequential(*features, torch.nn.AdaptiveAvgPool2d(1), classifier, torch.nn.Flatten())
    wrong_images = torch.randn(2, 1, 7, 7)
    with torch.no_grad():
        features[0].weight.mul_(20)  # a map with a clear peak, far from the bias
        classifier.bias.copy_(torch.linspace(-0.5, 0.4, 10))
        classifier.bias[3] = 1.5   # the largest in size, but class 3 is the prediction: not asked
        classifier.bias[6] = -1.2  # the largest in size of the others
        maps = features(wrong_images)
        cams = torch.einsum("nkhw,ck->nchw", maps, classifier.weight[:, :, 0, 0]) + classifier.bias[None, :, None, None]
    names = dict(model=model, cams=cams, classifier=classifier, wrong_images=wrong_images,
                 wrong_true=torch.tensor([0, 2]), wrong_pred=torch.tensor([3, 1]), device="cpu")
    exec(code_cell("12_results.ipynb", "score_without_peak = None"), names)  # defines c
    assert names["c"] == 6
    answer = lambda a: run("score_with_features_zeroed(", **dict(names, score_without_peak=a))
    assert answer(None) == NOT_ANSWERED
    solution = markdown_cell("12_results.ipynb", "score_without_peak = cams[0, c].mean()")
    code = solution.split("```python\n")[1].split("```")[0]
    solved = dict(names)
    exec(code, solved)
    right = float(solved["score_without_peak"].detach())
    for ok in (right, round(right, 2), f"{right:.2f}", solved["score_without_peak"]):
        assert answer(ok).startswith("✅"), ok
    row, col = divmod(int(cams[0, 6].argmax()), 7)
    peak, mean, bias = cams[0, 6, row, col].item(), cams[0, 6].mean().item(), -1.2
    assert peak - mean > 1  # the slips below are far apart from the answer and each other
    forgot_bias = answer(mean - peak / 49)
    assert forgot_bias.startswith("❌") and "what the classifier adds" in forgot_bias
    assert "divided by how many positions" in answer(mean - peak)
    assert "divided by how many positions" in answer(mean - (peak - bias))
    assert "as it is" in answer(mean)
    for wrong in [right + 0.05] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_digit_confused_with_the_most_others_read_from_the_confusion_matrix():
    cm = torch.diag(torch.full((10,), 900))
    cm[5, 3] = 9                   # the darkest cell: the most common single confusion, in row 5
    cm[9, [4, 7]] = 6              # row 9: the most mistakes in all (12), two kinds
    cm[6, [0, 1, 2, 4, 8]] = 1     # row 6: five pale cells, the most kinds of mistake
    answer = lambda a: run("exercises.check(hardest_digit", cm=cm, hardest_digit=a)
    assert answer(None) == NOT_ANSWERED
    for ok in (6, "6", 6.0):
        assert answer(ok).startswith("✅"), ok
    assert "darkest" in answer(5)
    assert "many mistakes in all" in answer(9)
    for wrong in [3, 0] + WRONG:
        assert answer(wrong).startswith("❌"), wrong
    cm[7, [0, 1, 2, 3, 4]] = 1     # row 7 now ties with row 6, at five kinds: either is right
    for ok in (7, "7", 6, "6"):
        assert answer(ok).startswith("✅"), ok
