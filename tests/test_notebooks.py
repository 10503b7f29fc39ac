"""The committed notebooks and README tell the truth: executed in full, in order, without
errors, and every figure they quote in prose is one their outputs (or saved metrics) show.
nbval re-runs the notebooks themselves; these tests look at what is committed."""
import ast
import inspect
import json
import re
from pathlib import Path

import pytest

from utils import models, report, repository

NOTEBOOKS = sorted((report.REPO_ROOT / "notebooks").glob("*.ipynb"))
SETUP_CELL = "".join(json.loads(NOTEBOOKS[0].read_text())["cells"][1]["source"])
PERCENT = re.compile(r"\d{2}\.\d{1,3}%")
# Public figures and targets the prose compares with: not results of ours, so in no output.
EXTERNAL = {"99.52%", "99.54%", "99.5%", "99.6%"}


def load(path):
    return json.loads(Path(path).read_text())


def outputs_text(nb):
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            parts.append("".join(out.get("data", {}).get("text/plain", "")))
            parts.append("".join(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def test_there_is_a_numbered_sequence():
    names = [p.stem for p in NOTEBOOKS]
    assert names[0] == "00_data" and "09_schedule" in names and "12_results" in names
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(len(names))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_in_order_from_a_full_run(path):
    nb = load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert not any(o["output_type"] == "error" for c in code for o in c["outputs"])
    assert "WORKBOOK_SMOKE=1" not in outputs_text(nb), "committed outputs come from smoke mode"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_in_colab_with_a_gpu_from_the_one_address(path):
    nb = load(path)
    first = "".join(nb["cells"][0]["source"])
    assert f"({repository.colab_url(path.name)})" in first and "colab-badge.svg" in first
    assert nb["metadata"]["accelerator"] == "GPU"
    setup = "".join(nb["cells"][1]["source"])
    assert setup == SETUP_CELL, f"{path.name}'s setup cell differs from 00's"
    assert f'REPOSITORY = "{repository.url()}"' in setup


@pytest.mark.parametrize("index", range(len(NOTEBOOKS)), ids=lambda i: NOTEBOOKS[i].stem)
def test_notebook_links_to_its_neighbours_at_top_and_bottom(index):
    """One line, the same in every notebook: previous, next, glossary, each once."""
    nb = load(NOTEBOOKS[index])
    parts = [rf"\[← [^\]]+\]\({re.escape(NOTEBOOKS[index - 1].name)}\)"] if index else []
    if index + 1 < len(NOTEBOOKS):
        parts.append(rf"\[[^\]]+ →\]\({re.escape(NOTEBOOKS[index + 1].name)}\)")
    line = re.compile("^" + " · ".join(parts + [r"\[glossary\]\(00_data\.ipynb#glossary\)"]) + "$", re.M)
    for cell in (nb["cells"][0], nb["cells"][-1]):
        assert line.search("".join(cell["source"])), f"no navigation line {line.pattern}"


def markdown(path):
    return "\n".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown")


def test_links_between_notebooks_point_at_notebooks_and_anchors_that_exist():
    names = {p.name for p in NOTEBOOKS}
    anchors = {p.name: set(re.findall(r'<a id="([\w-]+)"', markdown(p))) for p in NOTEBOOKS}
    for path in NOTEBOOKS:
        links = re.findall(r"\]\(([\w.-]+\.ipynb)(?:#([\w-]+))?\)", markdown(path))
        linked = {name for name, _ in links}
        assert linked <= names, f"{path.name} links to {linked - names}"
        missing = {f"{name}#{anchor}" for name, anchor in links if anchor and anchor not in anchors[name]}
        assert not missing, f"{path.name} links to anchors that do not exist: {missing}"


def test_notebook_00_holds_the_reading_guide_and_the_glossary():
    prose = "\n".join("".join(c["source"]) for c in load(NOTEBOOKS[0])["cells"])
    assert "## How to read these notebooks" in prose and "## Glossary" in prose
    assert re.search(r'<a id="glossary"></a>\s*## Glossary', prose), "the glossary has no anchor"
    for term in ("Jump", "Transition block", "Nesterov momentum", "Weight decay", "Dropout2d",
                 "One-cycle", "50k/10k validation", "Smoke mode"):
        assert f"**{term}" in prose or f"**The {term}" in prose, term
    glossary = prose[prose.index("## Glossary"):]
    defined = " ".join(re.findall(r"^- \*\*(.+?)\*\*", glossary, re.M)).lower()
    for term in ("epoch", "batch", "parameters", "seed", "kernel", "channel", "feature map",
                 "padding", "relu", "max-pooling", "dense layer", "logits", "softmax",
                 "cross-entropy", "gradient", "sgd", "learning rate", "optimizer", "momentum",
                 "train mode", "eval mode", "overfitting", "underfitting", "regularization",
                 "receptive field", "batch normalization", "dropout", "global average pooling",
                 "head dropout", "augmentation", "validation set", "standard error"):
        assert term in defined, f"the glossary does not define {term!r}"


def test_every_address_of_the_workbook_is_the_one_in_utils_repository():
    named = re.compile(r"(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+)")
    for path in repository.files_naming_it():
        found = set(named.findall(path.read_text()))
        assert found <= {repository.GITHUB}, f"{path.name} names {found - {repository.GITHUB}}"
    readme = report.README.read_text()
    for path in NOTEBOOKS:
        assert f"({repository.colab_url(path.name)})" in readme, f"README has no badge for {path.name}"
    assert f"({repository.pages_url()})" in readme, "the README does not link to the book"
    assert f"url: {repository.url()}" in (report.REPO_ROOT / "notebooks" / "_config.yml").read_text()


def test_moving_the_workbook_rewrites_every_address_in_one_command(tmp_path):
    for path in repository.files_naming_it():
        copy = tmp_path / path.relative_to(report.REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
    changed = repository.move("someone/fork", root=tmp_path)
    assert len(changed) == len(NOTEBOOKS) + 3  # the notebooks, the README, the book, GITHUB's line
    for path in changed:
        text = path.read_text()
        assert repository.GITHUB not in text and "someone/fork" in text
    assert repository.pages_url("someone/fork") in (tmp_path / "README.md").read_text()
    assert 'GITHUB = "someone/fork"' in (tmp_path / "utils" / "repository.py").read_text()
    with pytest.raises(ValueError, match="not a GitHub owner/name"):
        repository.move("https://github.com/x/y", root=tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_percentages_in_the_prose_are_in_the_outputs(path):
    nb = load(path)
    saved = [f"{h[key]:.2f}%" for step in report.load_steps() for h in step["history"]
             for key in ("train_acc", "test_acc")]  # earlier steps may be quoted too
    shown = outputs_text(nb) + " ".join(saved) + " ".join(EXTERNAL)
    prose = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    missing = [p for p in PERCENT.findall(prose) if p not in shown]
    assert not missing, f"{path.name} quotes {missing}, which none of its outputs shows"


def readme_block(block):
    start, end = report.markers(block)
    text = report.README.read_text()
    return text[text.index(start) + len(start):text.index(end)].strip()


def test_readme_tables_match_the_saved_results():
    steps = report.load_steps()
    assert len(steps) >= 9 and not any(s["smoke"] for s in steps)
    blocks = report.readme_blocks()
    assert set(blocks) == {"headline", "steps", "studies", "performance"}
    for block, text in blocks.items():
        assert readme_block(block) == text, f"README's {block} block is stale: run python -m utils.report"


def test_readme_is_a_learners_entry_of_under_15000_characters():
    text = report.README.read_text()
    assert len(text) < 15_000
    first_screen = text[:text.index("## Start here") + 600]
    assert "```" not in first_screen, "a learner's first screen holds no command"
    assert repository.colab_url("00_data.ipynb") in first_screen
    for path in NOTEBOOKS:  # the table of steps links every notebook
        assert f"](notebooks/{path.name})" in readme_block("steps")


def test_readme_headline_is_the_committed_final_run_and_seed_study():
    final = json.loads((report.ASSETS / "metrics" / f"{report.FINAL_STEP}.json").read_text())
    seeds = json.loads((report.ASSETS / "seeds.json").read_text())
    headline = readme_block("headline")
    assert f"**{final['params']:,} parameters**" in headline
    assert f"**{final['summary']['last_test_acc']:.2f}%**" in headline
    assert f"**{seeds['final']['mean']:.2f}% on average**" in headline


def definitions(source):
    """{name: AST dump} of the top-level classes and functions in `source`, docstrings and
    comments left out: two definitions that differ only there are the same code."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            for part in ast.walk(node):
                body = getattr(part, "body", None)
                if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                        and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                    part.body = body[1:] or [ast.Pass()]
            found[node.name] = ast.dump(node)
    return found


def notebook_definitions(path):
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    found = {}
    for cell in code:
        source = "".join(cell["source"])
        if not source.lstrip().startswith(("%", "!")):
            found.update(definitions(source))
    return found


LIBRARY = definitions((report.REPO_ROOT / "utils" / "models.py").read_text())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_model_written_in_a_notebook_is_the_one_in_utils_models(path):
    """A learner edits the model in its notebook; the command line, the tests and later
    notebooks use utils/models.py. The committed versions of the two must not drift."""
    for name, code in notebook_definitions(path).items():
        if name in LIBRARY:
            assert code == LIBRARY[name], f"{path.name}'s {name} differs from utils/models.py's"


def test_the_drift_check_sees_a_changed_layer_and_ignores_comments():
    source = inspect.getsource(models.SeparableNet)
    assert definitions(source)["SeparableNet"] == LIBRARY["SeparableNet"]
    commented = source.replace("nn.MaxPool2d(2),", "nn.MaxPool2d(2),  # a new comment")
    assert definitions(commented)["SeparableNet"] == LIBRARY["SeparableNet"]
    changed = source.replace("nn.MaxPool2d(2)", "nn.MaxPool2d(3)")
    assert definitions(changed)["SeparableNet"] != LIBRARY["SeparableNet"]


def test_every_picture_and_link_of_the_readme_is_in_the_repository():
    text = report.README.read_text()
    targets = re.findall(r"\]\(((?:assets|notebooks)/[^)\s]+)\)", text)
    assert any(t.endswith(".png") for t in targets) and any(t.endswith(".ipynb") for t in targets)
    missing = [t for t in targets if not (report.REPO_ROOT / t).exists()]
    assert not missing, f"README.md shows or links {missing}, which the repository lacks"
