"""How long the whole course takes to run with TRAIN = False: every notebook executed top to
bottom, in order, each in a fresh kernel, with WORKBOOK_TRAIN=0 (the committed weights are
loaded instead of training) on the full data.

    python -m utils.course_time --out assets/course_time.json
    python -m utils.course_time notebooks/04_batchnorm.ipynb --out assets/course_time.json

Given notebooks and an --out file timed on the same machine, re-times those notebooks and
keeps the others' times from the file (a notebook changed alone is re-timed alone).

Executes copies in a temporary folder, so the committed notebooks stay as they are, and
publishes nothing under assets/ but the --out file. A measurement, not a test: run it on an
otherwise idle machine. The README's "How long" quotes it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from utils.bench import device_name
from utils.data import REPO_ROOT, smoke_mode
from utils.report import save_json


def time_notebook(path, folder, env):
    """Seconds to execute the notebook at `path` in a fresh kernel, kernel start included;
    RuntimeError with the end of its error when a cell fails."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                           "--execute", "--output-dir", str(folder),
                           "--ExecutePreprocessor.timeout=3600", str(path)],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{path.name} failed with WORKBOOK_TRAIN=0:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.course_time", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook, in order")
    p.add_argument("--out", type=Path, default=None, help="also write the times to this JSON file")
    args = p.parse_args(argv)
    if smoke_mode():
        p.error("the course is timed on the full data: unset WORKBOOK_SMOKE")
    notebooks = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    env = dict(os.environ, WORKBOOK_TRAIN="0")
    env.pop("WORKBOOK_PUBLISH", None)  # the notebooks' own saves go to runs/, not assets/
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for path in notebooks:
            try:
                seconds[path.name] = round(time_notebook(path, folder, env), 1)
            except RuntimeError as error:
                sys.exit(f"error: {error}\nNothing was written; mend the notebook and run again.")
            print(f"{path.name:<28} {seconds[path.name]:7.1f} s", flush=True)
    device = device_name(torch.device("cpu"))
    if args.notebooks and args.out and args.out.exists():
        earlier = json.loads(args.out.read_text())
        if earlier["device"] != device:
            sys.exit(f"error: {args.out} was timed on {earlier['device']}, this is {device}: "
                     "time every notebook here (no notebooks named), not a mix of two machines.")
        seconds = {name: seconds.get(name, t) for name, t in earlier["seconds"].items()} | seconds
    total = round(sum(seconds.values()), 1)
    print(f"all {len(seconds)} notebooks: {total / 60:.1f} minutes")
    result = dict(device=device, torch=torch.__version__,
                  workbook_train="0", seconds=seconds, total_seconds=total)
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
