"""The lessons teach MNIST, not how this workbook was made. No notebook's prose and no line of
the README names a version of a model ("v2", "before v2"), an issue or pull request number, a
commit hash, a working session, a machine that "was lent", or "the chase" as a name for a
search: a result is named by what it measured ("the final model without its head Dropout").
Neither does any text justify a layer by what a "checker" looks for, or announce an outcome
that nobody ran ("we have not run it: expect ..."). File names under assets/ may keep their
suffixes (seeds_v1.json, validation_v2/): they are not words of the prose.

The detector is tested on itself first, on sentences it must flag and on ordinary prose it
must leave alone, so that a pattern that stopped matching would fail here too."""
import json
import re

import pytest

from utils import report

NOTEBOOKS = sorted((report.REPO_ROOT / "notebooks").glob("*.ipynb"))

HISTORY = {
    "a version name": re.compile(r"\bv\d+\b", re.I),
    "a working session": re.compile(r"\bsessions?\b", re.I),
    "the chase": re.compile(r"\bthe chase\b", re.I),
    "a machine that was lent": re.compile(r"\b(?:was|were|is|are|be|been|being)\s+lent\b", re.I),
    # "#17", "issue 5", "PR #3"; not a markdown heading ("## 1."), a link anchor or "&#8594;"
    "an issue number": re.compile(r"(?<![\w&#/])#\d+\b|\b(?:issues?|pull requests?|PRs?)\s+#?\d+\b", re.I),
    # 7 to 40 hex digits with at least one digit and one letter: "fd24785", not "1234567",
    # not a word like "defaced", not a colour like "#1f77b4"
    "a commit hash": re.compile(r"(?<![#\w])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"),
}
CHECKER = re.compile(r"\bcheckers?\b", re.I)
NOT_RUN = re.compile(r"\b(?:we|I)\s+have\s+not\s+(?:run|measured|tried)\b", re.I)


def history(text):
    """[(what, the words found)] for every mention of the project's history in `text`."""
    return [(what, m.group(0)) for what, pattern in HISTORY.items() for m in pattern.finditer(text)]


def cells(path, kind):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


FLAGGED = [
    "the GPU column on the model before v2",
    "V1: no head Dropout",
    "An earlier session ran the same benchmark",
    "until a session is lent a GPU",
    "One machine was lent an H100 for it.",
    "### The chase for 99.6%",
    "as quoted in issue #5",
    "Its ratios were reported in the workbook's #17.",
    "see pull request 12",
    "The README of commit fd24785 says so.",
    "fixed in 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
]
PLAIN = [
    "The final model without its head Dropout, measured on an H100 (`assets/seeds_v1.json`).",
    "The folders ending in `_v2` hold the head-Dropout studies: validation_v2/control.",
    "torch 2.14.1, torchvision 0.29.1; weight_decay=1e-4; 1,234,567 images; 99.550% ± 0.038.",
    "[glossary](00_data.ipynb#glossary) · ## 2. A benchmark you run here · 6 &#8594; 4",
    "A colour like #1f77b4, a word like defaced or decade, a seed like 1234567.",
    "The test set is used once, for the adopted model, after an excellent and relentless search.",
    "We chased the lead over six seeds; the relentless search stopped there.",
    "The brief's check (an nn.Dropout layer) passes; this exercise checks itself.",
]


@pytest.mark.parametrize("text", FLAGGED)
def test_the_detector_finds_the_projects_history(text):
    assert history(text), f"not flagged: {text!r}"


@pytest.mark.parametrize("text", PLAIN)
def test_the_detector_leaves_plain_prose_alone(text):
    assert not history(text) and not CHECKER.search(text) and not NOT_RUN.search(text), text


def test_the_detector_finds_checkers_and_outcomes_nobody_ran():
    assert CHECKER.search("the nn.Dropout that course checkers look for")
    assert CHECKER.search("a Checker written with nn.Dropout2d")
    assert NOT_RUN.search("We have not run it: expect a faster first epoch.")
    assert NOT_RUN.search("we have not measured it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_tells_the_projects_history(path):
    found = [(what, words) for text in cells(path, "markdown") for what, words in history(text)]
    assert not found, f"{path.name}'s prose names the project's history: {found}"


def test_the_readme_tells_no_projects_history():
    found = history(report.README.read_text())
    assert not found, f"README.md names the project's history: {found} (labels of the generated " \
                      "tables live in utils/report.py)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_layer_is_justified_by_a_checker_and_no_outcome_is_invented(path):
    for text in cells(path, "markdown") + cells(path, "code"):  # code: its comments, docstrings
        assert not CHECKER.search(text), f"{path.name}: {CHECKER.search(text).group(0)!r} in {text[:80]!r}"
    for text in cells(path, "markdown"):
        assert not NOT_RUN.search(text), f"{path.name} announces an outcome nobody ran: {text[:80]!r}"


def test_the_models_and_the_readme_name_no_checker():
    for path in (report.REPO_ROOT / "utils" / "models.py", report.README):
        assert not CHECKER.search(path.read_text()), path.name
