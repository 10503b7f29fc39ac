"""A committed notebook's code cells, found by their text and run without a kernel: how the
exercise tests run each check cell as the learner meets it."""
import contextlib
import io
import json

from utils.report import REPO_ROOT


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
