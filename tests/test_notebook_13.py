"""Notebook 13's self-checking exercises: each check cell answers "not answered yet" while the
learner's `answer` is None, "right" for a right one and "not quite: ..." for anything else, and
never raises, so that the notebook runs green in CI whether or not it has been answered. The
check cells are run here as they stand in the committed notebook, without a kernel."""
import contextlib
import io
import json
import math
import statistics

import pytest

from utils import report

NOTEBOOK = report.REPO_ROOT / "notebooks" / "13_how_sure.ipynb"
DIFFERENCES = [0.01, -0.03, 0.07, 0.1, 0.06, -0.03]
SPREAD = 0.058


def cell_starting_with(first_line):
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    found = [c for c in cells if "".join(c["source"]).startswith(first_line)]
    assert len(found) == 1, f"notebook 13 should have one code cell starting {first_line!r}"
    return "".join(found[0]["source"])


def run_check(first_line, **names):
    """What the check cell prints, run with `names` as the notebook's variables."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell_starting_with(first_line), dict(names))
    return out.getvalue().strip()


WRONG = ["abc", [0.02], {}, object(), float("nan"), float("inf"), -1, 0, True, 1e300]


def test_exercise_cells_start_unanswered():
    for n in (1, 2):
        assert "answer = None" in cell_starting_with(f"# Exercise {n}")


def test_the_standard_error_check():
    check = "# Check exercise 1"
    right = statistics.stdev(DIFFERENCES) / math.sqrt(len(DIFFERENCES))
    assert run_check(check, answer=None, differences=DIFFERENCES) == "not answered yet"
    for answer in (right, round(right, 3), str(round(right, 4))):
        assert run_check(check, answer=answer, differences=DIFFERENCES) == "right"
    for answer in [statistics.stdev(DIFFERENCES), statistics.pstdev(DIFFERENCES) / math.sqrt(6),
                   statistics.stdev(DIFFERENCES) / 6, *WRONG]:
        assert run_check(check, answer=answer, differences=DIFFERENCES).startswith("not quite")


def test_the_number_of_seeds_check():
    check = "# Check exercise 2"
    exact = (2.5 * SPREAD / 0.03) ** 2
    assert run_check(check, answer=None, spread=SPREAD) == "not answered yet"
    for answer in (exact, math.ceil(exact), str(math.ceil(exact))):
        assert run_check(check, answer=answer, spread=SPREAD).startswith("right")
    for answer in [2.5 * SPREAD / 0.03, (SPREAD / 0.03) ** 2, 10, *WRONG]:
        assert run_check(check, answer=answer, spread=SPREAD).startswith("not quite")


@pytest.mark.parametrize("n", [1, 2])
def test_a_check_run_before_its_exercise_does_not_raise(n):
    assert run_check(f"# Check exercise {n}").startswith("not answered yet")
