"""Where the workbook lives on GitHub, written once: GITHUB below.

A notebook opened alone (in Colab, on Kaggle, downloaded) has no utils/ to import this
from, so its setup cell and its Colab badge name the address literally, as do the README's
badges and links to the book, and the book's configuration (notebooks/_config.yml). tests/test_notebooks.py checks that every one of them agrees with GITHUB, and for a
fork or a move

    python -m utils.repository new-owner/new-name

rewrites them all, and GITHUB itself.
"""
import argparse
import re
from pathlib import Path

GITHUB = "mnist-sub20k/mnist-sub20k"

ROOT = Path(__file__).resolve().parent.parent
OWNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


def url(github=GITHUB):
    """The address the setup cells clone."""
    return f"https://github.com/{github}"


def colab_url(notebook, github=GITHUB):
    """The address a Colab badge opens: `notebook` from the main branch, in Colab."""
    return f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{notebook}"


def pages_url(github=GITHUB):
    """Where GitHub Pages publishes the course as a book (.github/workflows/book.yml)."""
    owner, name = github.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def files_naming_it(root=ROOT):
    """The files that name the address: the README, the notebooks, the book's configuration
    and this module."""
    return [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb")),
            root / "notebooks" / "_config.yml", root / "utils" / "repository.py"]


def move(new, old=GITHUB, root=ROOT):
    """Rewrite every address of `old` as `new` in the files that name it; returns them."""
    if not OWNER_NAME.match(new):
        raise ValueError(f"{new!r} is not a GitHub owner/name, like someone/mnist-sub20k")
    changed = []
    for path in files_naming_it(root):
        text = path.read_text()
        moved = (text.replace(f"github.com/{old}", f"github.com/{new}")
                     .replace(f"colab.research.google.com/github/{old}/",
                              f"colab.research.google.com/github/{new}/")
                     .replace(pages_url(old), pages_url(new))
                     .replace(f'GITHUB = "{old}"', f'GITHUB = "{new}"'))
        if moved != text:
            path.write_text(moved)
            changed.append(path)
    return changed


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m utils.repository", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("new", help="the new owner/name on GitHub")
    args = p.parse_args()
    try:
        changed = move(args.new)
    except ValueError as error:
        p.error(str(error))
    print(f"{GITHUB} -> {args.new} in {len(changed)} files:",
          ", ".join(str(path.relative_to(ROOT)) for path in changed))
