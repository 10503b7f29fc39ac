"""Notebook 15's exercises, checked by the shared utils.exercises.check: each check cell says
"not answered yet" while the learner's answer is None, ✅ for a right answer or a fair rounding
of it, ❌ with a hint of its own for a typical wrong formula, and never raises. The check cells
are run here as they stand in the committed notebook, without a kernel."""
import math
import statistics

import pytest

from notebook_cells import code_cell, printed
from utils import exercises

DIFFERENCES = [0.01, -0.03, 0.07, 0.1, 0.06, -0.03]
SPREAD = 0.058
FIVE = [99.53, 99.56, 99.52, 99.54, 99.63]
HEAD_DROPOUT = {"mean": -0.026, "se": 0.018}
WRONG = ["abc", [0.02], {}, object(), float("nan"), float("inf"), -1, 0, True, 1e300]


def cell_with(text):
    return code_cell("15_how_sure.ipynb", text)


def run_check(name, answer, **names):
    """What the check cell of the exercise answered in `name` prints for `answer`."""
    return printed(cell_with(f"exercises.check({name}"),
                   dict(exercises=exercises, math=math, statistics=statistics, **{name: answer}, **names))


def test_exercise_cells_start_unanswered():
    for name in ("standard_error", "seeds_needed", "choice", "upper_end"):
        assert f"{name} = None" in cell_with(f"{name} = None")


def test_the_standard_error_check():
    run = lambda answer: run_check("standard_error", answer, differences=DIFFERENCES)
    right = statistics.stdev(DIFFERENCES) / math.sqrt(len(DIFFERENCES))
    assert run(None).startswith("❌ not answered yet")
    for answer in (right, round(right, 3), str(round(right, 4)), 0.02, "0.02"):  # 0.02: fair rounding
        assert run(answer).startswith("✅"), answer
    assert "standard deviation of the differences" in run(statistics.stdev(DIFFERENCES))
    assert "statistics.pstdev" in run(statistics.pstdev(DIFFERENCES) / math.sqrt(6))
    assert "statistics.pstdev" in run("0.020")  # three decimals: 0.020 is not 0.022
    assert "not by n" in run(statistics.stdev(DIFFERENCES) / 6)
    for answer in WRONG:
        assert run(answer).startswith("❌"), answer


def test_the_number_of_seeds_check():
    run = lambda answer: run_check("seeds_needed", answer, spread=SPREAD, lead=0.03, bar=2.5)
    exact = (2.5 * SPREAD / 0.03) ** 2
    assert run(None).startswith("❌ not answered yet")
    for answer in (exact, math.ceil(exact), str(math.ceil(exact))):
        assert run(answer).startswith("✅"), answer
    assert "square of that ratio" in run(2.5 * SPREAD / 0.03)
    assert "not one" in run((SPREAD / 0.03) ** 2)
    for answer in [10, *WRONG]:
        assert run(answer).startswith("❌"), answer


def test_the_within_the_noise_check():
    run = lambda answer: run_check("choice", answer, head_dropout=HEAD_DROPOUT)
    assert run(" B ").startswith("✅")
    for answer in ("a", "c", *WRONG):
        assert run(answer).startswith("❌"), answer


def test_the_95_percent_range_check():
    run = lambda answer: run_check("upper_end", answer, five=FIVE)
    mean, se = statistics.mean(FIVE), statistics.stdev(FIVE) / math.sqrt(5)
    for answer in (mean + 2.78 * se, round(mean + 2.78 * se, 3), f"{mean + 2.78 * se:.3f}%"):
        assert run(answer).startswith("✅"), answer
    assert "Student's t" in run(mean + 2 * se)
    assert "ten seeds" in run(mean + 2.26 * se)
    assert "one new run" in run(mean + 2 * statistics.stdev(FIVE))
    assert "three decimals" in run(round(mean + 2.78 * se, 1))  # a fair but coarse rounding
    for answer in WRONG:
        assert run(answer).startswith("❌"), answer


@pytest.mark.parametrize("name", ["standard_error", "seeds_needed", "choice", "upper_end"])
def test_a_check_run_before_its_exercise_does_not_raise(name):
    """Run before its exercise cell: a NameError there is the kernel's, not the check's; with
    its data present and no answer yet, it says so."""
    names = dict(differences=DIFFERENCES, spread=SPREAD, lead=0.03, bar=2.5,
                 head_dropout=HEAD_DROPOUT, five=FIVE)
    assert run_check(name, None, **names).startswith("❌ not answered yet")
