# nbval collects the notebooks of this folder; the book's build (notebooks/_build/, see
# _config.yml) holds copies of them, which are not collected.
import os
from pathlib import Path

import pytest

collect_ignore = ["_build"]

# Every exercise check of a notebook run here records its expected answer in
# runs/checks/<notebook>.jsonl (utils.exercises reads WORKBOOK_RECORD_CHECKS when its kernel
# starts); test_exercise_answers.py, collected after the notebooks, reads them.
CHECKS = Path(__file__).resolve().parent.parent / "runs" / "checks"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.fspath.ext == ".ipynb" and item.parent is not getattr(pytest_runtest_setup, "notebook", None):
        pytest_runtest_setup.notebook = item.parent  # the notebook's first cell: before its kernel starts
        CHECKS.mkdir(parents=True, exist_ok=True)
        record = CHECKS / f"{Path(str(item.fspath)).stem}.jsonl"
        record.unlink(missing_ok=True)
        os.environ["WORKBOOK_RECORD_CHECKS"] = str(record)
