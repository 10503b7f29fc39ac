"""utils.course_time: each notebook executed in a fresh kernel with WORKBOOK_TRAIN=0, timed,
the committed notebook left as it was; a failing notebook stops the timing and says which."""
import json

import nbformat
import pytest

from utils import course_time


def notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


def test_each_notebook_runs_with_train_false_and_is_left_as_it_was(tmp_path):
    path = notebook(tmp_path / "01_a.ipynb", 'import os\nassert os.environ["WORKBOOK_TRAIN"] == "0"')
    before = path.read_text()
    result = course_time.main([str(path), "--out", str(tmp_path / "time.json")])
    assert list(result["seconds"]) == ["01_a.ipynb"] and result["seconds"]["01_a.ipynb"] > 0
    assert json.loads((tmp_path / "time.json").read_text()) == result
    assert result["workbook_train"] == "0" and "cores" in result["device"]
    assert path.read_text() == before


def test_a_failing_notebook_stops_the_timing_and_is_named(tmp_path):
    good = notebook(tmp_path / "01_good.ipynb", "1 + 1")
    bad = notebook(tmp_path / "02_bad.ipynb", 'raise ValueError("broken cell")')
    with pytest.raises(SystemExit, match="02_bad.ipynb failed with WORKBOOK_TRAIN=0"):
        course_time.main([str(good), str(bad), "--out", str(tmp_path / "time.json")])
    assert not (tmp_path / "time.json").exists()


def test_smoke_mode_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    with pytest.raises(SystemExit):
        course_time.main([])
    assert "unset WORKBOOK_SMOKE" in capsys.readouterr().err


def test_a_notebook_re_timed_alone_keeps_the_others_times_of_the_same_machine(tmp_path):
    """The file's other notebooks keep their times, in their order; a file from another
    machine is refused rather than mixed."""
    first, second = (notebook(tmp_path / name, "1 + 1") for name in ("01_a.ipynb", "02_b.ipynb"))
    out = tmp_path / "time.json"
    both = course_time.main([str(first), str(second), "--out", str(out)])
    again = course_time.main([str(first), "--out", str(out)])
    assert list(again["seconds"]) == ["01_a.ipynb", "02_b.ipynb"]
    assert again["seconds"]["02_b.ipynb"] == both["seconds"]["02_b.ipynb"]
    assert again["total_seconds"] == pytest.approx(sum(again["seconds"].values()), abs=0.11)
    out.write_text(json.dumps(dict(both, device="another CPU")))
    with pytest.raises(SystemExit, match="timed on another CPU"):
        course_time.main([str(first), "--out", str(out)])
