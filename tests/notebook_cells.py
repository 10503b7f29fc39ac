"""A committed notebook's code cells, found by their text and run without a kernel: how the
exercise tests run each check cell as the learner meets it."""
import contextlib
import io
import json

from utils.report import REPO_ROOT


def notebook_cells(notebook, kind):
    """The sources of the cells of notebooks/`notebook` of one kind ("code" or "markdown")."""
    cells = json.loads((REPO_ROOT / "notebooks" / notebook).read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == kind]


def code_sources(notebook):
    return notebook_cells(notebook, "code")


def markdown_cell(notebook, text):
    """The one markdown cell of notebooks/`notebook` that holds `text` (a question answered in
    <details> rather than checked)."""
    found = [c for c in notebook_cells(notebook, "markdown") if text in c]
    assert len(found) == 1, f"{notebook} should have one markdown cell with {text!r}"
    return found[0]


def code_cell(notebook, text):
    """The one code cell of notebooks/`notebook` that holds `text`."""
    cells = json.loads((REPO_ROOT / "notebooks" / notebook).read_text())["cells"]
    found = ["".join(c["source"]) for c in cells
             if c["cell_type"] == "code" and text in "".join(c["source"])]
    assert len(found) == 1, f"{notebook} should have one code cell with {text!r}"
    return found[0]


def printed(source, names):
    """What `source` prints when run with `names` as its globals."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, dict(names))
    return out.getvalue().strip()
