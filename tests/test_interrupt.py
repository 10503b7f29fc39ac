"""Ctrl-C keeps what is done: a real SIGINT sent to a command-line run and to a seed study,
and a notebook's `fit` stopped in its second epoch. Also: no progress bars in a log file."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from utils import data, seeds, train
from utils.models import build_model
from utils.report import REPO_ROOT


def start(args, **env):
    """`python -m <args>` with SIGINT handled as in a terminal, even where the test runner
    was started with SIGINT ignored (a background job inherits that)."""
    return subprocess.Popen(
        [sys.executable, "-u", "-m", *args], cwd=REPO_ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, MNIST_ROOT=str(data.data_root().resolve()), **env),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt_after(process, line_starts):
    """Read the run's output until a line starts with `line_starts`, then press Ctrl-C."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.lstrip().startswith(line_starts):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=300)
    return "".join(seen) + out, err


def test_ctrl_c_after_an_epoch_saves_the_epochs_completed_and_exits_130(tmp_path):
    run = start(["utils.train", "--model", "light", "--epochs", "4", "--out", str(tmp_path)])
    out, err = interrupt_after(run, "epoch  1/4")
    assert run.returncode == 130, err
    assert "Traceback" not in err and "interrupted in epoch" in err and str(tmp_path) in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    completed = len(metrics["history"])
    assert completed in (1, 2)  # the signal may land just after epoch 2 began
    assert metrics["interrupted"] == dict(in_epoch=completed + 1, epochs_completed=completed,
                                          epochs_asked=4)
    assert metrics["summary"]["epochs"] == completed
    # The weights saved are those of the last completed epoch: they give its test loss.
    model = train.load_weights(build_model("light"), tmp_path / "weights.pt")
    loss, acc = train.evaluate(model, data.fast_loaders()[1])
    assert acc == metrics["history"][-1]["test_acc"]
    assert loss == pytest.approx(metrics["history"][-1]["test_loss"], rel=1e-5)
    assert (tmp_path / "curves.png").exists()


def test_ctrl_c_before_the_first_epoch_ends_writes_nothing_and_says_so(tmp_path):
    run = start(["utils.train", "--model", "light", "--out", str(tmp_path / "run")])
    out, err = interrupt_after(run, "light: 12,954 parameters")
    assert run.returncode == 130, err
    assert "Traceback" not in err and "nothing was saved" in err
    assert not (tmp_path / "run").exists() or list((tmp_path / "run").iterdir()) == []


def test_ctrl_c_stops_a_seed_study_and_keeps_the_seeds_it_finished(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    study = start(["utils.seeds", "--seeds", *map(str, range(8)), "--runs", str(runs),
                   "--name", "interrupted_study", "--model", "light"], WORKBOOK_SMOKE="1")
    deadline = time.time() + 240
    while not (runs / "seed_0" / "metrics.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    study.send_signal(signal.SIGINT)
    out, err = study.communicate(timeout=120)
    assert study.returncode == 130, err
    assert "Traceback" not in err and "interrupted: the seeds finished (0" in err
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")  # the runs are smoke runs, as the study's
    kept = [s for s in range(8) if seeds.differences(runs / f"seed_{s}", ["--model", "light"]) == []]
    assert 0 in kept and len(kept) < 8
    assert not (REPO_ROOT / "runs" / "smoke" / "interrupted_study.json").exists()
    for s in range(8):  # nothing is left running, and no run is half written
        metrics = runs / f"seed_{s}" / "metrics.json"
        if metrics.exists():
            json.loads(metrics.read_text())


class StopInEpoch:
    """A loader that raises KeyboardInterrupt, as Ctrl-C or the stop button would, in the
    third batch of epoch `epoch`."""

    def __init__(self, loader, epoch):
        self.loader, self.epoch, self.epochs = loader, epoch, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epochs += 1
        for i, batch in enumerate(self.loader):
            if self.epochs == self.epoch and i == 2:
                raise KeyboardInterrupt
            yield batch


def test_fit_interrupted_returns_the_history_so_far_and_leaves_the_model_as_it_is():
    (x, y), (xt, yt) = data.splits("test")
    loader = StopInEpoch(data.TensorLoader(x[:512], y[:512], 64, shuffle=True), epoch=2)
    model = build_model("light")
    lines = []
    history = train.fit(model, loader, data.TensorLoader(xt[:256], yt[:256], 256), 5,
                        train.make_optimizer("sgd", model.parameters(), 0.01), progress=False,
                        log=lines.append)
    assert [h["epoch"] for h in history] == [1] and history.interrupted == 2
    assert lines[-1].startswith("interrupted in epoch 2: returning the history of the 1 epochs")
    # The model was not put back: it holds the two steps of epoch 2, the copy of epoch 1 does not.
    epoch, weights = history.checkpoint
    assert epoch == 1
    assert any(not torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert json.loads(json.dumps(history)) == list(history)  # still saved as a plain list


def test_a_log_file_gets_one_line_per_epoch_and_no_progress_bar(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as file:
        subprocess.run([sys.executable, "-m", "utils.train", "--model", "light", "--out",
                        str(tmp_path / "run")], cwd=REPO_ROOT, stdout=file, stderr=subprocess.STDOUT,
                       env=dict(os.environ, WORKBOOK_SMOKE="1",
                                MNIST_ROOT=str(data.data_root().resolve())), check=True)
    text = log.read_text()
    assert "epoch  1/1" in text
    assert "it/s" not in text and "\r" not in text  # tqdm's bar, and its carriage returns


def test_a_terminal_gets_the_progress_bar(monkeypatch):
    """The same code with a terminal on stderr draws its bar (tqdm's disable=None rule)."""
    drawn = []

    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            drawn.append(text)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Terminal())
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model = build_model("light")
    train.train_one_epoch(model, [(x, y)] * 3, train.make_optimizer("sgd", model.parameters(), 0.01))
    assert any("it/s" in text or "3/3" in text for text in drawn)
