"""Notebook 14's self-checking exercises, run as they stand in the committed notebook, without
a kernel: each says "not answered yet" for None, ✅ for a right answer, ❌ with its hint for a
wrong one, and never raises."""
import torch

from notebook_cells import code_cell as notebook_code_cell, printed
from utils import exercises, report, train

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]


def code_cell(text):
    return notebook_code_cell("14_fast.ipynb", text)


def run(cell, **names):
    return printed(cell, dict(exercises=exercises, torch=torch, train=train, **names))


def test_the_turn_taking_check_reads_todays_benchmark():
    today = report.load_asset("bench_cpu.json")
    p, t = today["classic"]["pipeline_images_per_s"], today["fast"]["train_images_per_s"]
    check = code_cell("exercises.check(turn_taking")
    answer = lambda a: run(check, today=today, turn_taking=a)
    assert answer(None).startswith("❌ not answered yet")
    right = answer(round(1 / (1 / p + 1 / t)))
    assert right.startswith("✅") and "below the turn-taking" in right  # the lesson of the exercise
    assert answer("1 / (1 / %d + 1 / %d)" % (p, t)).startswith("✅")
    for wrong in [p + t, p, t, (p + t) / 2] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_ema_by_hand_check_compares_with_the_ema():
    setup = code_cell("ema_weights_by_hand = None")
    check = code_cell("exercises.check(ema_weights_by_hand")
    names = {}
    exec(setup, dict(torch=torch, train=train), names)
    before, after = names["before"], names["after"]
    answer = lambda a: run(check, **dict(names, ema_weights_by_hand=a))
    assert answer(None).startswith("❌ not answered yet")
    assert answer(0.99 * before + 0.01 * after).startswith("✅")
    for wrong in [0.01 * before + 0.99 * after, after, before, before.flatten()] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_gpu_step_check_wants_the_launches():
    check = code_cell("exercises.check(gpu_step_waits_for")
    assert run(check, gpu_step_waits_for=None).startswith("❌ not answered yet")
    for right in ("c", "(c)", " C "):
        assert run(check, gpu_step_waits_for=right).startswith("✅")
    for wrong in ("a", "b", 3) + tuple(WRONG):
        assert run(check, gpu_step_waits_for=wrong).startswith("❌"), wrong
