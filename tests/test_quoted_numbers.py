"""Every number with a decimal point that a notebook's prose quotes is one that the notebook
prints (in an output, at that rounding), that its code holds, or that a committed file of
assets/ records: prose written from what the cells print. ALLOWED lists, each with its
reason, the figures quoted from elsewhere (papers, published results)."""
import json
import re

import pytest

from utils.report import ASSETS, REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?![\w.])")

# (notebook, number) -> why it is quoted without a cell printing it
ALLOWED = {
    ("12", "2.78"): "Student's t for 4 degrees of freedom, a table value; notebook 15 teaches it",
}
PAPER_ID = re.compile(r"\d{4}\.\d{4,5}")  # an arXiv number, 1512.03385


def committed_numbers():
    text = "".join(p.read_text() for p in ASSETS.rglob("*.json"))
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]


ASSET_NUMBERS = committed_numbers()


def shown_by(value, numbers):
    """`value` (as quoted, e.g. "0.254") is one of `numbers` rounded to its decimals."""
    decimals = len(value.split(".")[1])
    return any(abs(x - float(value)) < 0.5 * 10 ** -decimals + 1e-12 for x in numbers)


def unshown(path):
    cells = json.loads(path.read_text())["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    prose = re.sub(r"\(https?://[^)]*\)", "", prose)  # links
    printed = "".join("".join(c["source"]) + "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", o.get("data", {}).get("text/plain", "")))
        for o in c.get("outputs", [])) for c in cells if c["cell_type"] == "code")
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", printed)]
    missing = []
    for value in sorted({m.lstrip("+-") for m in NUMBER.findall(prose)}):
        if (path.name[:2], value) in ALLOWED or value in printed or PAPER_ID.fullmatch(value):
            continue
        if not (shown_by(value, numbers) or shown_by(value, ASSET_NUMBERS)):
            missing.append(value)
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_decimal_the_prose_quotes_is_printed_or_committed(path):
    assert unshown(path) == [], (f"{path.name} quotes numbers that none of its outputs, its code "
                                 "or assets/ print: write them from what the cells print")


def test_a_number_nobody_printed_is_found():
    assert shown_by("0.254", [0.2541]) and not shown_by("0.254", [0.2549, 0.26])


RULE = ("a difference is clear when its mean over paired seeds is at least 2.8 standard errors "
        "from zero with five seeds, or 2.5 with ten")
BAR = re.compile(r"\b(?:needs?|must be|at least|bar of|mark of|clears?|reach(?:es)?) (?:about )?"
                 r"(\d+(?:\.\d+)?|two|three) (?:standard errors|SE)\b")


def test_one_rule_for_a_clear_difference_stated_in_00_and_no_other_bar():
    """00 states the rule; no notebook sets another bar for "clear" (Student's t of 2.78 for
    five seeds, which the rule rounds to 2.8, may be named where 15 explains it)."""
    prose = {p.name: " ".join("\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"]
                                        if c["cell_type"] == "markdown").split()) for p in NOTEBOOKS}
    assert RULE in prose["00_data.ipynb"]
    other = [f"{name}: {m.group(0)!r}" for name, text in prose.items() for m in BAR.finditer(text)
             if m.group(1) not in ("2.8", "2.5", "2.78")]
    assert other == [], other
