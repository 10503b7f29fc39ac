"""The course as a book (notebooks/_config.yml, notebooks/_toc.yml): it builds offline from the
committed notebooks without executing them, a broken link or a missing anchor fails the build,
and two of its pages, opened in headless Chromium, show their title, their pictures and a
sidebar that leads to every chapter.

Needs what notebooks/requirements-book.txt installs (jupyter-book; playwright drives the
browser) and Debian's chromium for the browser test; each test says so and is skipped where
its part is missing, as on a learner's install."""
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from utils.report import README, REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium as root on a machine with no network: no sandbox, no GPU, no background calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Where the screenshots go, to be looked at (the default: pytest's temporary folder).
SCREENSHOTS = os.environ.get("BOOK_SCREENSHOTS")

needs_jupyter_book = pytest.mark.skipif(
    shutil.which("jupyter-book") is None,
    reason="jupyter-book is not installed: pip install -r notebooks/requirements-book.txt")


def build(source, out):
    """The README's build command, with the pages written under `out`."""
    return subprocess.run(["jupyter-book", "build", str(source), "--path-output", str(out),
                           "--warningiserror", "--nitpick", "--keep-going"],
                          capture_output=True, text=True, timeout=600)


def copy_of_the_book(tmp_path):
    """The notebooks, the book's configuration and the README it includes, in `tmp_path`."""
    shutil.copy(README, tmp_path / "README.md")
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return tmp_path / "notebooks"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = build(NOTEBOOKS, out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"


def chapters():
    """The pages the table of contents lists after the landing page, in its order."""
    return [line.split("file:")[1].strip() for line in (NOTEBOOKS / "_toc.yml").read_text().splitlines()
            if "file:" in line]


def test_the_table_of_contents_lists_every_notebook_once_in_order_then_the_teachers_page():
    assert chapters() == sorted(path.stem for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + ["teaching"]


@needs_jupyter_book
def test_the_book_builds_with_every_page_and_no_warning(book):
    pages = {path.stem for path in book.glob("*.html")}
    assert {"intro", *chapters()} <= pages
    # The landing page is the README's beginning, its links turned into the book's pages.
    intro = (book / "intro.html").read_text()
    assert "Start here" in intro and 'href="00_data.html"' in intro
    assert 'href="notebooks/' not in intro
    # Every notebook page keeps its committed pictures and offers to open it in Colab.
    page = (book / "06_gap.html").read_text()
    assert page.count('src="_images/') >= 4 and "colab.research.google.com" in page


@needs_jupyter_book
def test_a_renamed_heading_fails_the_build(tmp_path):
    """`00_data.ipynb#glossary` is linked from every notebook: without the heading the anchor
    is missing, and the build says where."""
    source = copy_of_the_book(tmp_path)
    path = source / "00_data.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        cell["source"] = [line.replace("## Glossary", "## Words") for line in cell["source"]]
    path.write_text(json.dumps(nb))
    result = build(source, tmp_path / "out")
    assert result.returncode != 0
    assert "local id not found in doc '00_data': 'glossary'" in result.stdout + result.stderr


@needs_jupyter_book
def test_a_link_to_a_missing_notebook_fails_the_build(tmp_path):
    source = copy_of_the_book(tmp_path)
    path = source / "05_dropout.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"].append("\n\nSee [the lost step](05b_lost.ipynb).")
    path.write_text(json.dumps(nb))
    result = build(source, tmp_path / "out")
    assert result.returncode != 0 and "05b_lost" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def served(book):
    """The built book on a local web server, as GitHub Pages would serve it."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -r notebooks/requirements-book.txt")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every picture of the page's text that the book holds (its notebook's outputs and figures;
# not the Colab badge, fetched from the web) is loaded and drawn with a size.
PICTURES = """() => [...document.querySelectorAll('main article img')]
    .filter(img => img.src.startsWith(location.origin + '/_images/'))
    .map(img => ({src: img.src, drawn: img.complete && img.naturalWidth > 0,
                  width: img.getBoundingClientRect().width}))"""


@needs_jupyter_book
@pytest.mark.parametrize("page, title, pictures", [
    ("intro.html", "mnist-sub20k", 0),
    ("06_gap.html", "Step 06: Global Average Pooling", 4),  # its class activation maps among them
])
def test_a_page_in_a_real_browser_shows_its_title_pictures_and_sidebar(
        served, browser, tmp_path, page, title, pictures):
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.goto(f"{served}/{page}")
    assert title in tab.title()
    assert tab.locator("main h1").first.inner_text().startswith(title)
    drawn = tab.evaluate(PICTURES)
    assert len(drawn) >= pictures
    assert all(p["drawn"] and p["width"] > 50 for p in drawn), [p for p in drawn if not p["drawn"]]
    # The sidebar lists every chapter, and a click on one opens it.
    sidebar = tab.locator("nav.bd-docs-nav")
    assert sidebar.is_visible()
    links = sidebar.locator("a.reference.internal")
    assert links.count() >= len(chapters())
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / page.replace(".html", ".png")))
    pictures_here = tab.locator("main article img[src^='_images/']")
    for i in range(pictures_here.count()):  # each picture as the browser draws it
        pictures_here.nth(i).screenshot(path=str(folder / page.replace(".html", f"_picture{i}.png")))
    sidebar.get_by_text("Research: how sure are we?", exact=False).first.click()
    tab.wait_for_load_state()
    assert tab.url.endswith("15_how_sure.html") and "how sure" in tab.title().lower()
    # The glossary is one click from every page.
    tab.get_by_role("link", name="Glossary").first.click()
    tab.wait_for_load_state()
    assert tab.url.endswith("00_data.html#glossary")
    tab.close()
