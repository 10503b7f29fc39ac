"""The course as a teacher plans it: how long each notebook takes, measured, and where it
sits in a course of six weekly sessions.

    python -m utils.course_plan

writes, from the committed measurements, the time line under each notebook's title (between
its `<!-- times:start -->` markers) and the table of times in notebooks/teaching.md; a test
fails when either is stale. The times: the notebook's prose at READING_SPEED, its run top
to bottom with TRAIN = False (assets/course_time.json, `python -m utils.course_time`), and
the training of its model on two CPU cores (the median run of its seed study).
"""
import argparse
import json
import re
import statistics

import nbformat

from utils.report import REPO_ROOT, load_asset, markers, notebook_title, step_studies

NOTEBOOKS = REPO_ROOT / "notebooks"
TEACHING = NOTEBOOKS / "teaching.md"
READING_SPEED = 150  # words a minute: a careful pace for technical prose beside code

# Each notebook's place in a six-week course: the week, and whether a class needs it (core)
# or it can be left to the keen (optional). notebooks/teaching.md explains the plan.
PLAN = {
    "00": (1, "core"), "01": (1, "core"),
    "02": (2, "core"), "03": (2, "core"),
    "04": (3, "core"), "05": (3, "core"),
    "06": (4, "core"), "07": (4, "core"),
    "08": (5, "core"), "09": (5, "core"), "10": (5, "core"), "11": (5, "core"),
    "12": (6, "core"), "15": (6, "core"), "13": (6, "optional"), "14": (6, "optional"),
    "16": (6, "optional"),
}
# The seed study whose runs time a notebook's training, where it is not its step's.
STUDY_OF = {"13": "tiny_seeds_no_head_dropout.json"}


def notebooks():
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def prose_words(nb):
    """The words of a notebook's markdown a reader reads: link targets, HTML tags and the
    time line itself left out."""
    start, end = markers("times")
    words = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        if start in text:
            text = text[:text.index(start)] + text[text.index(end) + len(end):]
        text = re.sub(r"\]\([^)]*\)", "]", text)
        text = re.sub(r"<[^>]+>", " ", text)
        words += len(re.findall(r"[\w'’.,%-]*\w", text))
    return words


def training_minutes(step):
    """The median minutes that training the notebook's model took over its seed study, on
    two CPU cores shared by two runs; None when the notebook trains nothing."""
    name = STUDY_OF.get(step)
    study = load_asset(name) if name else step_studies().get(step)
    if study:
        return statistics.median(run["total_seconds"] for run in study["per_seed"]) / 60
    return None


def times(path, nb, run_seconds):
    """What one notebook costs a learner, as numbers."""
    words = prose_words(nb)
    return dict(words=words, read=round(words / READING_SPEED), run=run_seconds[path.name],
                train=training_minutes(path.name[:2]))


def seconds_or_minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def time_line(t):
    """The line under a notebook's title."""
    if t["train"]:
        run = f"{seconds_or_minutes(t['run'])} to run top to bottom with `TRAIN = False`"
        train = (f"; training its model instead takes about {t['train']:.0f} minutes on two CPU "
                 "cores shared with a second run (faster alone, and on a GPU: notebook 14 measures both)")
    else:
        run, train = f"{seconds_or_minutes(t['run'])} to run top to bottom", ""
    return (f"**Time**: about {t['read']} minutes to read ({t['words']:,} words of prose at "
            f"{READING_SPEED} a minute); {run} on two CPU cores{train}.")


def table(all_times):
    """The teacher's table: every notebook, its week, core or optional, and its times."""
    lines = ["| notebook | week | core or optional | reading | run top to bottom "
             "(`TRAIN = False`) | training its model, two CPU cores |", "|---|---:|---|---:|---:|---:|"]
    for path, t in all_times.items():
        week, need = PLAN[path.name[:2]]
        train = f"about {t['train']:.0f} minutes" if t["train"] else "nothing to train"
        lines.append(f"| [{path.name[:2]} {notebook_title(path)}]({path.name}) | {week} | {need} | {t['read']} min "
                     f"| {seconds_or_minutes(t['run'])} | {train} |")
    total_read = sum(t["read"] for t in all_times.values())
    total_run = sum(t["run"] for t in all_times.values())
    lines.append(f"| all {len(all_times)} | | | {total_read / 60:.1f} hours | "
                 f"{total_run / 60:.0f} minutes | |")
    return "\n".join(lines)


def with_block(text, block, content):
    """`text` with what lies between the block's markers replaced by `content`."""
    start, end = markers(block)
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{content}\n{end}{after}"


def title_cell_with_times(nb, t):
    """The source of the notebook's title cell with its time line as measured."""
    source = "".join(nb["cells"][0]["source"])
    start, _ = markers("times")
    if start not in source:
        raise ValueError(f"the title cell has no {start} block")
    return with_block(source, "times", time_line(t))


def all_times():
    """{notebook's path: its times}, for every notebook in order."""
    run_seconds = load_asset("course_time.json")["seconds"]
    return {path: times(path, json.loads(path.read_text()), run_seconds) for path in notebooks()}


def main(argv=None):
    argparse.ArgumentParser(prog="python -m utils.course_plan", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    found = all_times()
    for path, t in found.items():
        nb = nbformat.read(path, as_version=4)
        source = title_cell_with_times(nb, t)
        if source != nb.cells[0].source:
            nb.cells[0].source = source
            nbformat.write(nb, path)
            print(f"{path.name}: time line written")
    text = TEACHING.read_text()
    new = with_block(text, "times", table(found))
    if new != text:
        TEACHING.write_text(new)
        print(f"{TEACHING.relative_to(REPO_ROOT)}: table written")


if __name__ == "__main__":
    main()
