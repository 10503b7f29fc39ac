"""Student copies of the notebooks, for a class: the same notebooks without the worked
answers (their collapsed `<details>` blocks: solutions and recall answers), with the cells
that check an exercise collapsed and without their outputs, like fastbook's clean/ folder.

    python -m utils.student_copies --out students

writes one copy per notebook into students/. Inside a clone of the workbook the copies find
its utils/ one folder up, as the notebooks do, and their Colab badges open the copies in
that folder of the repository (commit them in a fork, and `python -m utils.repository`
points the badges at it). A check cell computes its answer from the student's objects: it is
collapsed (in Jupyter and in Colab) so that the answer is not read before the try, not
removed. notebooks/teaching.md says how to hand them out.
"""
import argparse
import re
from pathlib import Path

import nbformat

from utils.data import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
DETAILS = re.compile(r"<details>.*?</details>", re.DOTALL)
IN_THE_TEACHERS_COPY = "*(The answer is in the teacher's copy.)*"
EXERCISES = re.compile(r"^## (Exercises|Try it)\b", re.MULTILINE)
CHECK = re.compile(r"\b(check|check_key|check_brief)\(")
# Colab shows a cell with a title as a form, its code folded; Jupyter reads source_hidden.
CHECK_TITLE = "#@title Check your answer (run it; its code computes the answer, so try first)\n"


def student_copy(nb, folder="notebooks"):
    """A copy of the notebook `nb` (nbformat) for a student: each `<details>` block of its
    markdown replaced by a note, and each cell of its exercises that checks an answer
    collapsed under a title and left without outputs; its Colab badge opens the copy in
    `folder` of the repository. The rest of the code is the notebook's, unchanged."""
    nb = nbformat.from_dict(nb)
    in_exercises = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            in_exercises = in_exercises or bool(EXERCISES.search(cell.source))
            cell.source = DETAILS.sub(IN_THE_TEACHERS_COPY, cell.source)
            cell.source = cell.source.replace("/blob/main/notebooks/", f"/blob/main/{folder}/")
        elif in_exercises and CHECK.search(cell.source):
            cell.source = CHECK_TITLE + cell.source
            cell.outputs, cell.execution_count = [], None
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            cell.metadata["cellView"] = "form"
    nb.metadata["student_copy"] = True
    return nb


def write_copies(out, notebooks=None):
    """Write a student copy of each notebook (default: all of them) into the folder `out`;
    return the paths written. Refuses to write into the notebooks' own folder."""
    out = Path(out)
    if out.resolve() == NOTEBOOKS.resolve():
        raise ValueError("the copies would replace the notebooks: choose another folder, "
                         "e.g. --out students")
    out.mkdir(parents=True, exist_ok=True)
    try:  # where the copies sit in the repository, for their Colab badges
        folder = out.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        folder = out.name
    written = []
    for path in notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        copy = out / path.name
        nbformat.write(student_copy(nbformat.read(path, as_version=4), folder), copy)
        written.append(copy)
    return written


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.student_copies", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "students",
                   help="the folder for the copies (default: students/ in the workbook)")
    args = p.parse_args(argv)
    try:
        written = write_copies(args.out)
    except ValueError as error:
        p.error(str(error))
    print(f"{len(written)} student copies in {args.out}")


if __name__ == "__main__":
    main()
