"""Notebook 15's exercises, checked by the shared utils.exercises.check: each check cell says
"not answered yet" while the learner's answer is None, ✅ for a right answer or a fair rounding
of it (judged by its value: "0.030" and 0.03 are one answer), ❌ with a hint of its own for a
typical wrong formula, and never raises. The check cells are run here as they stand in the
committed notebook, without a kernel."""
import math
import statistics

import pytest

from notebook_cells import code_cell, printed
from utils import exercises, report
from utils.answers import KEY

SPREAD = 0.058
FIVE = [99.53, 99.56, 99.52, 99.54, 99.63]
WRONG = ["abc", [0.02], {}, object(), float("nan"), float("inf"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"


def cell_with(text):
    return code_cell("15_how_sure.ipynb", text)


def finals(study):
    return {r["seed"]: r["final_test_acc"] for r in study["per_seed"]}


def differences():
    """The exercise's data, as its answer cell computes them from the committed studies."""
    names = dict(finals=finals, search={"batch64": report.load_asset("validation_final/batch64.json")},
                 candidate=report.load_asset("validation_head_dropout/batch64.json"))
    exec(cell_with("standard_error = None"), names)
    assert names["standard_error"] is None
    return names["differences"]


def run_check(name, answer, **names):
    """What the check cell of the exercise answered in `name` prints for `answer`."""
    return printed(cell_with(f"exercises.check({name}") if name != "choice" else cell_with("check_key(choice"),
                   dict(exercises=exercises, math=math, statistics=statistics, **{name: answer}, **names))


def test_the_exercise_data_are_the_head_dropout_at_batch_64():
    d = differences()
    assert len(d) == 6 and all(round(x, 2) == x for x in d)


def test_the_standard_error_check():
    d = differences()
    run = lambda answer: run_check("standard_error", answer, differences=d)
    right = statistics.stdev(d) / math.sqrt(len(d))
    assert run(None) == NOT_ANSWERED
    for answer in (right, round(right, 3), f"{right:.3f}", str(round(right, 4))):
        assert run(answer).startswith("✅"), answer
    two_decimals = round(right, 2)
    for answer in (two_decimals, f"{two_decimals:.2f}", f"{two_decimals:.3f}"):  # 0.03 and "0.030" alike
        out = run(answer)
        assert out.startswith("❌") and "give one more" in out and "hint" not in out, answer
    assert "standard deviation of the differences" in run(statistics.stdev(d))
    assert "statistics.pstdev" in run(statistics.pstdev(d) / math.sqrt(len(d)))
    assert "statistics.pstdev" in run(f"{statistics.pstdev(d) / math.sqrt(len(d)):.3f}")  # text or number alike
    assert "not by n" in run(statistics.stdev(d) / len(d))
    for answer in [round(right, 1), two_decimals - 0.01, *WRONG]:
        assert run(answer).startswith("❌"), answer


def test_the_smallest_lead_check():
    run = lambda answer: run_check("smallest_lead", answer, spread=SPREAD, seeds=10, bar=2.5)
    right = 2.5 * SPREAD / math.sqrt(10)
    assert run(None) == NOT_ANSWERED
    for answer in (right, round(right, 3), f"{right:.3f}", f"2.5 * {SPREAD} / 10 ** 0.5"):
        assert run(answer).startswith("✅"), answer
    assert "one standard error" in run(SPREAD / math.sqrt(10))
    assert "square root" in run(2.5 * SPREAD / 10)
    assert "spreads less" in run(2.5 * SPREAD)
    assert "not 2" in run(2 * SPREAD / math.sqrt(10))
    for answer in [right + 0.002, *WRONG]:
        assert run(answer).startswith("❌"), answer


def test_the_within_the_noise_check():
    run = lambda answer: run_check("choice", answer)
    assert run(None) == NOT_ANSWERED
    assert KEY["15"][3] == "c"
    candidate, head = (report.load_asset(f"validation_head_dropout/{name}.json") for name in ("batch64", "head0.1"))
    gain = report.paired_gain(head, candidate)
    assert 1 < (0.03 - gain["mean"]) / gain["se"] < 2  # the key's answer is the data's: within two SE
    for answer in (" C ", "(c)", "c."):
        assert run(answer).startswith("✅"), answer
    for answer in ("a", "b", *WRONG):
        assert run(answer).startswith("❌"), answer


def test_the_95_percent_range_check():
    run = lambda answer: run_check("half_width", answer, five=FIVE)
    mean, se = statistics.mean(FIVE), statistics.stdev(FIVE) / math.sqrt(5)
    assert run(None) == NOT_ANSWERED
    for answer in (2.78 * se, round(2.78 * se, 3), f"{2.78 * se:.3f}", "2.78 * 0.01965"):
        assert run(answer).startswith("✅"), answer
    for answer in (round(2.78 * se, 2), f"{2.78 * se:.2f}", f"{round(2.78 * se, 2):.3f}"):
        out = run(answer)
        assert out.startswith("❌") and "give one more" in out and "hint" not in out, answer
    assert "Student's t" in run(2 * se)
    assert "ten seeds" in run(2.26 * se)
    assert "one new run" in run(2 * statistics.stdev(FIVE))
    assert "upper end" in run(mean + 2.78 * se)
    for answer in WRONG:
        assert run(answer).startswith("❌"), answer


@pytest.mark.parametrize("name", ["standard_error", "smallest_lead", "choice", "half_width"])
def test_a_check_run_before_its_exercise_does_not_raise(name):
    """Run before its exercise cell: a NameError there is the kernel's, not the check's; with
    its data present and no answer yet, it says so."""
    names = dict(differences=[0.01, -0.03, 0.07], spread=SPREAD, seeds=10, bar=2.5, five=FIVE)
    assert run_check(name, None, **names) == NOT_ANSWERED
