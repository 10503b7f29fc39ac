"""A class's logistics: every notebook opens with what a student can do after it (each line
checked by an exercise of the notebook), what it builds on and its measured times; the
teacher's page holds the plan and the table of times, generated from the measurements; the
student copies hold no worked answer and run."""
import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from utils import course_plan, student_copies
from utils.data import data_root
from utils.report import README, REPO_ROOT, markers

NOTEBOOKS = course_plan.notebooks()
TIMES = course_plan.all_times()  # read once, for every notebook's test
OBJECTIVE = re.compile(r"^- (.+) \((?:exercise|Try it) (\d+)\)$", re.MULTILINE)


def title_cell(path):
    return "".join(json.loads(path.read_text())["cells"][0]["source"])


def exercise_numbers(path):
    """The numbers of the exercises a notebook checks: those its markdown or code names
    ("**2. ...", "**Exercise 2:", "2. **...", "# exercise 2") from its Exercises or Try it
    section on, when a code cell there calls a check."""
    cells = json.loads(path.read_text())["cells"]
    start = next(i for i, c in enumerate(cells)
                 if re.search(r"^## (Exercises|Try it)", "".join(c["source"]), re.MULTILINE))
    text = "\n".join("".join(c["source"]) for c in cells[start:])
    assert "check(" in text or "check_brief(" in text, f"{path.name} checks no exercise"
    named = re.findall(r"^\*\*(?:Exercise )?(\d+)[.:]|^(\d+)\. \*\*|exercise (\d+)\b", text,
                       re.MULTILINE | re.IGNORECASE)
    return {int(n) for groups in named for n in groups if n}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_opens_with_objectives_each_checked_by_one_of_its_exercises(path):
    cell = title_cell(path)
    assert "**After this notebook you can**" in cell and "**Before it**:" in cell
    objectives = OBJECTIVE.findall(cell)
    assert 3 <= len(objectives) <= 4, f"{path.name}: {len(objectives)} objectives"
    exercises = exercise_numbers(path)
    for objective, number in objectives:
        assert int(number) in exercises, f"{path.name}: no exercise {number} for {objective!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebooks_time_line_is_the_measured_one(path):
    times = TIMES[path]
    start, end = markers("times")
    cell = title_cell(path)
    assert cell[cell.index(start) + len(start):cell.index(end)].strip() == course_plan.time_line(times), \
        "stale: run python -m utils.course_plan"
    steps_that_train = {f"{n:02d}" for n in range(1, 12)} | {"13"}
    assert (times["train"] is not None) == (path.name[:2] in steps_that_train)
    assert times["read"] >= 5 and times["run"] > 0


def test_the_teachers_page_has_the_measured_table_the_plan_and_is_linked():
    text = course_plan.TEACHING.read_text()
    start, end = markers("times")
    assert text[text.index(start) + len(start):text.index(end)].strip() == \
        course_plan.table(TIMES), "stale: run python -m utils.course_plan"
    assert set(course_plan.PLAN) == {path.name[:2] for path in NOTEBOOKS}
    weeks = {week for week, _ in course_plan.PLAN.values()}
    assert weeks == set(range(1, 7))
    for path in NOTEBOOKS:  # the plan's table names every notebook in its week
        week, _ = course_plan.PLAN[path.name[:2]]
        row = next(line for line in text.splitlines() if line.startswith(f"| {week} |"))
        assert f"]({path.name})" in row, f"week {week}'s row does not name {path.name}"
    assert "](notebooks/teaching.md)" in README.read_text()
    assert "file: teaching" in (course_plan.NOTEBOOKS / "_toc.yml").read_text()


def test_the_reading_time_counts_prose_not_links_tags_or_the_time_line():
    nb = {"cells": [
        {"cell_type": "markdown", "source": ["One two [three](http://x.org/a/b) <b>four</b>.\n",
                                             "<!-- times:start -->\nmany more words here\n<!-- times:end -->"]},
        {"cell_type": "code", "source": ["not prose at all"]}]}
    assert course_plan.prose_words(nb) == 4


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """The student copies, in a folder beside the workbook's code as a class would have them."""
    folder = tmp_path_factory.mktemp("workbook")
    for name in ("utils", "notebooks", "assets"):
        (folder / name).symlink_to(REPO_ROOT / name)
    written = student_copies.write_copies(folder / "students")
    return {path.name: path for path in written}


def test_student_copies_hold_no_worked_answer_and_their_checks_are_collapsed(copies):
    assert sorted(copies) == [path.name for path in NOTEBOOKS]
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        copy = nbformat.read(copies[path.name], as_version=4)
        text = "\n".join(cell.source for cell in copy.cells)
        assert "<details>" not in text and "</summary>" not in text
        answers = [m for cell in original.cells if cell.cell_type == "markdown"
                   for m in student_copies.DETAILS.findall(cell.source)]
        assert text.count(student_copies.IN_THE_TEACHERS_COPY) == len(answers) > 0
        for answer in answers:  # no worked answer survives, in any cell
            body = answer.split("</summary>")[-1].replace("</details>", "").strip()
            assert body[:200] not in text
        # The code is the notebook's; a check cell only gains its title, and is collapsed
        # with no output. Other cells keep theirs, the exercises' data included.
        pairs = [(o, c) for o, c in zip(original.cells, copy.cells) if o.cell_type == "code"]
        checks = [c for o, c in pairs if c.source != o.source]
        exercise_checks = [c for o, c in pairs if "exercises.check(" in o.source or "exercises.check_key(" in o.source]
        assert exercise_checks and all(c in checks for c in exercise_checks), (
            f"{path.name}: every cell that checks an exercise (check, check_key) is collapsed")
        for o, c in pairs:
            if c.source != o.source:
                assert c.source == student_copies.CHECK_TITLE + o.source
                assert c.metadata["jupyter"]["source_hidden"] and c.metadata["cellView"] == "form"
                assert not c.outputs and "check" in o.source
            else:
                assert c.outputs == o.outputs
        # Its Colab badge opens the copy, in the folder the copies were written to.
        assert f"/blob/main/students/{path.name})" in copy.cells[0].source
        assert "/blob/main/notebooks/" not in copy.cells[0].source


def test_student_copies_never_replace_the_notebooks():
    with pytest.raises(ValueError, match="would replace the notebooks"):
        student_copies.write_copies(course_plan.NOTEBOOKS)


# Three copies run top to bottom, as a student would: the data, a step that trains, and a
# research notebook. Their code is the notebooks' own (above), which nbval runs in full.
@pytest.mark.parametrize("name", ["00_data.ipynb", "05_dropout.ipynb", "15_how_sure.ipynb"])
def test_a_student_copy_runs_in_smoke_mode(copies, name, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    monkeypatch.setenv("MNIST_ROOT", str(data_root().resolve()))
    nb = nbformat.read(copies[name], as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(copies[name].parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
