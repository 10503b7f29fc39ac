"""Notebook 14's self-checking exercises, run as they stand in the committed notebook, without
a kernel: each says "not answered yet" for None, ✅ for a right answer, ❌ with its hint for a
wrong one, and never raises. The timing exercise runs against a stand-in benchmark."""
import torch

from notebook_cells import code_cell as notebook_code_cell, printed
from utils import exercises, report, train

WRONG = ["abc", [1], {}, object(), float("nan"), -1, 0, True, 1e300]
NOT_ANSWERED = f"{exercises.NOT_YET} {exercises.UNANSWERED}"


def code_cell(text):
    return notebook_code_cell("14_fast.ipynb", text)


def run(cell, **names):
    return printed(cell, dict(dict(exercises=exercises, torch=torch, train=train), **names))


def test_the_turn_taking_check_reads_todays_benchmark():
    today = report.load_asset("bench_cpu.json")
    p, t = today["classic"]["pipeline_images_per_s"], today["fast"]["train_images_per_s"]
    right = 1 / (1 / p + 1 / t)
    check = code_cell("exercises.check(turn_taking")
    answer = lambda a: run(check, today=today, turn_taking=a)
    assert answer(None) == NOT_ANSWERED
    exact = answer(round(right))
    assert exact.startswith("✅") and "below the turn-taking" in exact  # the lesson of the exercise
    assert answer("1 / (1 / %d + 1 / %d)" % (p, t)).startswith("✅")
    for fair in (round(right, -2), f"{round(right, -2):,.0f}", f"{round(right, -2):.1e}"):
        assert abs(float(str(fair).replace(",", "")) - right) <= 50  # "about 2,400" is a fair rounding
        assert answer(fair).startswith("✅"), fair
    assert "rates do not add up" in answer(p + t)
    assert "what row a measured" in answer(today["classic"]["train_images_per_s"])
    for wrong in [p + t, p, t, (p + t) / 2, round(right, -3)] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def ema_names():
    names = dict(torch=torch, train=train)
    exec(code_cell("ema_weights_by_hand = None"), names)
    return {k: v for k, v in names.items() if k != "__builtins__"}


def test_the_ema_after_a_move_is_checked_against_the_ema_itself():
    names = ema_names()
    before, after, decay, updates = names["before"], names["after"], names["DECAY"], names["UPDATES"]
    check = code_cell("exercises.check(ema_weights_by_hand")
    answer = lambda a: run(check, **dict(names, ema_weights_by_hand=a))
    assert answer(None) == NOT_ANSWERED
    right = after - decay ** updates * (after - before)
    assert answer(right).startswith("✅")
    assert answer(right).startswith("✅")  # the check leaves the layer as it found it: it runs again
    assert torch.equal(names["layer"].weight.detach(), before)
    assert "one update" in answer(decay * before + (1 - decay) * after)
    assert "the gap shrinks" in answer(after)
    for wrong in [before, right.flatten(), after - decay * updates * (after - before)] + WRONG:
        assert answer(wrong).startswith("❌"), wrong


def test_the_step_time_prediction_is_checked_against_a_measurement():
    names = dict(device=torch.device("cpu"))
    exec(code_cell("predicted_ratio = None"), names)
    check = code_cell("exercises.check(predicted_ratio")

    class Device:  # a stand-in: a step takes `launch` ms, plus `ms_per_image` for each image
        def __init__(self, ms_per_image, launch):
            self.ms_per_image, self.launch, self.now, self.steps = ms_per_image, launch, 0.0, 0

        def perf_counter(self):
            return self.now

        def train_one_epoch(self, model, batches, optimizer, progress):
            for batch_size in batches:
                self.steps += 1
                self.now += (self.launch + self.ms_per_image * batch_size) / 1000

        def make_optimizer(self, *args):
            return None

        def sync(self, device):
            pass

        def device_name(self, device):
            return "a stand-in device"

    def answer(prediction, cpu=True):
        device = Device(2.0, 4.0) if cpu else Device(0.001, 5.7)  # arithmetic-bound, launch-bound
        out = run(check, bench=device, train=device, time=device, FinalNet=lambda: torch.nn.Linear(1, 1),
                  loader=lambda pipeline, batch_size: [batch_size] * 100,
                  device=torch.device("cpu"), predicted_ratio=prediction)
        return out, device.steps

    out, steps = answer(None)
    assert out == NOT_ANSWERED and steps == 0  # no experiment before the prediction
    out, steps = answer(4)
    assert out.startswith("✅") and "measured on a stand-in device" in out and steps > 0
    assert answer("3.5")[0].startswith("✅") and answer(1, cpu=False)[0].startswith("✅")
    for wrong in [1, 1.5, 10]:
        assert answer(wrong)[0].startswith("❌"), wrong
    assert answer(4, cpu=False)[0].startswith("❌")
    for wrong in WRONG:
        out, _ = answer(wrong)
        assert out.startswith("❌"), wrong
