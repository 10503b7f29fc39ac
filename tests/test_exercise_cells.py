"""The exercises as a learner meets them in every committed notebook: no answer typed into a
check cell, nothing printed before the try but "not answered yet", a worked solution after
each check, and an answer key with an entry for every choice and no other."""
import ast
import collections
import json

import pytest

from utils.answers import KEY
from utils.exercises import NOT_YET, UNANSWERED
from utils.report import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path):
    return [dict(c, text="".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


def check_calls(source):
    """The calls exercises.check(...) and exercises.check_key(...) in a cell's code."""
    return [node for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "exercises"
            and node.func.attr in ("check", "check_key")]


def exercise_checks():
    """(notebook, index of the check cell, cell, its check calls) for every exercise."""
    found = []
    for path in NOTEBOOKS:
        all_cells = cells(path)
        for i, cell in enumerate(all_cells):
            if cell["cell_type"] == "code" and "exercises.check" in cell["text"]:
                calls = check_calls(cell["text"])
                if calls:
                    found.append((path.name, i, all_cells, calls))
    return found


EXERCISES = exercise_checks()
IDS = [f"{name}:{i}" for name, i, _, _ in EXERCISES]


def is_typed_in(node):
    """A constant, or arithmetic on constants only: an answer typed into the check cell."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.BinOp):
        return is_typed_in(node.left) and is_typed_in(node.right)
    return isinstance(node, ast.UnaryOp) and is_typed_in(node.operand)


def test_every_notebook_has_exercises():
    assert len(EXERCISES) >= 40
    assert {name[:2] for name, *_ in EXERCISES} == {path.name[:2] for path in NOTEBOOKS}
    assert len(NOTEBOOKS) >= 17


@pytest.mark.parametrize("name, i, all_cells, calls", EXERCISES, ids=IDS)
def test_no_answer_is_typed_into_a_check_cell(name, i, all_cells, calls):
    for call in calls:
        if call.func.attr == "check":
            assert not is_typed_in(call.args[1]), (
                f"{name}, cell {i}: the expected answer {ast.unparse(call.args[1])} is typed in; "
                "compute it from the learner's objects, or keep a choice in utils/answers.py "
                "and use exercises.check_key")


@pytest.mark.parametrize("name, i, all_cells, calls", EXERCISES, ids=IDS)
def test_before_the_try_a_check_prints_only_not_answered_yet(name, i, all_cells, calls):
    """No hint, no measured value, nothing the answer could be read from."""
    printed = "".join("".join(o.get("text", "")) for o in all_cells[i].get("outputs", []))
    assert printed == f"{NOT_YET} {UNANSWERED}\n" * len(calls), f"{name}, cell {i} printed {printed!r}"


@pytest.mark.parametrize("name, i, all_cells, calls", EXERCISES, ids=IDS)
def test_a_worked_solution_follows_each_check_collapsed(name, i, all_cells, calls):
    after = next((c for c in all_cells[i + 1:] if c["cell_type"] == "markdown"), None)
    assert after is not None and "<details><summary>Solution" in after["text"], (
        f"{name}, cell {i}: the next markdown cell should open with the exercise's worked "
        "solution in <details><summary>Solution</summary> ... </details>")
    before = [c["text"] for c in all_cells[:i] if c["cell_type"] == "markdown"]
    assert "<summary>Solution" not in before[-1], f"{name}, cell {i}: a solution sits above the check"


def test_the_answer_key_has_an_entry_for_every_choice_and_no_other():
    asked = collections.Counter()
    for name, i, _, calls in EXERCISES:
        for call in calls:
            if call.func.attr == "check_key":
                given = dict(zip(("notebook", "number"), call.args[1:3]))
                given.update((k.arg, k.value) for k in call.keywords if k.arg in ("notebook", "number"))
                notebook, number = (ast.literal_eval(given[k]) for k in ("notebook", "number"))
                assert notebook == name[:2], f"{name}, cell {i} looks up notebook {notebook}"
                asked[(notebook, number)] += 1
    kept = collections.Counter((n, e) for n, entries in KEY.items() for e in entries)
    assert asked == kept


def test_the_choices_right_answers_are_not_mostly_one_letter():
    letters = collections.Counter(a for entries in KEY.values() for a in entries.values()
                                  if len(a) == 1)
    assert letters and max(letters.values()) <= sum(letters.values()) / 2, letters


@pytest.mark.parametrize("notebook, index, all_cells, calls", EXERCISES, ids=IDS)
def test_a_check_cells_code_is_folded_so_that_its_hints_wait_for_the_try(notebook, index, all_cells, calls):
    """The check cell computes the expected answer and holds the hints: folded in Jupyter
    (source_hidden), in Colab (a form with a title) and in the book (hide-input), it still runs
    and prints as before, and its code is one click away for whoever wants to read it."""
    cell = all_cells[index]
    assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True
    assert cell["metadata"].get("cellView") == "form" and cell["text"].startswith("#@title ")
    assert "hide-input" in cell["metadata"].get("tags", [])
