"""No exercise's answer is in sight before the try. Collected after the notebooks of this
folder (nbval runs them first, in smoke mode), it reads the expected answer each check
recorded (conftest.py) and fails where that answer, at a rounding it could be printed with,
appears in a cell above the exercise's check (markdown, code or output) or in its first hint.

Numbers of one significant digit, and words of two letters or fewer (a choice's letter),
are too common to mean anything and are not searched; ALLOWED lists, with a reason, the
values that must stay in sight. In smoke mode a measured answer (an accuracy) differs from
the full run's, so this test guards counts, sizes and computed values best.
"""
import ast
import json
import re

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHECKS = HERE.parent / "runs" / "checks"  # where conftest.py has the checks record their answers
NOTEBOOKS = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))

# (notebook, expected answer) -> why it may stay in sight
ALLOWED = {}


def check_calls(source):
    """How many exercises.check / check_key calls a cell makes, in the order they run."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0
    return sum(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and isinstance(n.func.value, ast.Name) and n.func.value.id == "exercises"
               and n.func.attr in ("check", "check_key") for n in ast.walk(tree))


def forms(value):
    """The ways `value` could be printed: 5770 -> 5770, 5,770; 0.0214 -> 0.021, 0.0214 ..."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, str):
        return {value.strip()} if len(value.strip()) > 2 else set()
    if float(value).is_integer():
        found = {f"{int(value)}", f"{int(value):,}"}
    else:
        found = {f"{value:{comma}.{decimals}f}" for comma in ("", ",") for decimals in range(1, 5)}
    return {f for f in found if len(re.sub(r"\D", "", f).lstrip("0")) >= 2}


def in_text(form, text):
    return re.search(rf"(?<![\d.,]){re.escape(form)}(?!\d|[.,]\d)", text) is not None


def cell_text(cell):
    outputs = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", o.get("data", {}).get("text/plain", "")))
                      for o in cell.get("outputs", []))
    return "".join(cell["source"]) + "\n" + outputs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem[:2] for p in NOTEBOOKS])
def test_no_answer_is_in_sight_before_the_try(path):
    record = CHECKS / f"{path.stem}.jsonl"
    if not record.exists():
        pytest.skip(f"{path.name} was not run in this session (run it with nbval first)")
    checks = [json.loads(line) for line in record.read_text().splitlines()]
    cells = json.loads(path.read_text())["cells"]
    calls = [(i, k) for i, c in enumerate(cells) if c["cell_type"] == "code"
             for k in range(check_calls("".join(c["source"])))]
    assert len(checks) == len(calls), (
        f"{path.name}: {len(calls)} checks in its cells, {len(checks)} ran: did a cell fail?")
    found = []
    for (i, _), check in zip(calls, checks):
        if (path.name[:2], check["expected"]) in ALLOWED:
            continue
        above = "\n".join(cell_text(c) for c in cells[:i]) + "\n" + check["hint"]
        for form in forms(check["expected"]):
            if in_text(form, above):
                found.append(f"cell {i}: its answer {form} is in sight before the try")
    assert not found, f"{path.name}: " + "; ".join(found)
