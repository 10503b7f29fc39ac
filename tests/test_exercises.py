"""The one helper behind every self-check: right, wrong, text, None, a fair rounding, a
tensor, an edited model; and it never raises."""
import pytest
import torch
from torch import nn

from utils.answers import KEY
from utils.exercises import UNANSWERED, as_choice, as_number, call, check, check_brief, check_key
from utils.models import build_model


@pytest.mark.parametrize("written, value", [
    (42, 42), (0.9, 0.9), ("42", 42), (" 1,234 ", 1234), ("99.4%", 99.4),
    ("15 * 60_000", 900_000), ("0.05 / 10", 0.005), ("-2 ** 3", -8), ("(3 - 1) * 4", 8),
    ("0.15 points", 0.15), ("1 point", 1), ("about 800", 800), ("~ 2,400", 2400), ("19 pixels", 19),
    ("798 parameters", 798), ("\u22120.15", -0.15), ("10 080", 10080), ("five", 5), ("2.4e3", 2400), ("±0.055", 0.055), ("4x", 4), ("4×", 4),
    ("2,424 images/s", 2424)])
def test_numbers_may_be_written_as_text_or_arithmetic(written, value):
    assert as_number(written) == pytest.approx(value)


@pytest.mark.parametrize("written", ["__import__('os')", "x + 1", "1e3.5", "[1]", True, [1], "points",
                                     "2 ** 1000 ** 1000", 10 ** 400])  # a power that would never end
def test_anything_but_arithmetic_is_refused_not_evaluated(written):
    with pytest.raises(ValueError):
        as_number(written)


def test_a_right_answer_says_so(capsys):
    assert check(128, 128) is True
    assert capsys.readouterr().out.startswith("✅ right")


def test_a_wrong_answer_says_not_yet_with_the_hint(capsys):
    assert check(127, 128, hint="count the bias too") is False
    printed = capsys.readouterr().out
    assert printed.startswith("❌ not yet: you answered 127") and "hint: count the bias too" in printed


def test_text_and_arithmetic_answers_are_numbers(capsys):
    assert check("0.05 / 10", 0.005) and check("1,152", 1152)
    assert not check("a dozen", 12)
    assert "is not a number" in capsys.readouterr().out


def test_none_is_not_yet_answered_and_gives_no_hint_before_the_first_try(capsys):
    assert check(None, 3, hint="count the bias") is False and check(..., 3) is False
    printed = capsys.readouterr().out
    assert printed.count("not answered yet") == 2 and "count the bias" not in printed


def test_a_choice_is_checked_against_the_key_kept_out_of_the_notebook(capsys, monkeypatch):
    monkeypatch.setitem(KEY, "99", {2: "c"})
    assert check_key("(C)", "99", 2) is True
    assert check_key("b", "99", 2, hint="think of a 6") is False
    assert "hint: think of a 6" in capsys.readouterr().out
    assert check_key("b", "99", 3) is False  # no such exercise: said, not raised
    assert "answer key has no exercise 3 of notebook 99" in capsys.readouterr().out


def test_a_fair_rounding_is_right_and_a_wrong_one_is_not():
    assert check(0.02, 0.0213, tolerance=0.005)
    assert check("99.46", 99.4612, tolerance=0.01)
    assert not check(0.03, 0.0213, tolerance=0.005)
    assert not check(0.02, 0.0213)  # no tolerance given: exact


def test_words_ignore_case_spaces_and_the_brackets_of_a_choice():
    assert check(" B ", "b") and check("(b)", "b") and check("b.", "b")
    assert not check("c", "b") and not check("(c)", "b")


def test_tensors_are_compared_like_cmp(capsys):
    reference = torch.linspace(-1, 1, 12).reshape(3, 4)
    assert check(reference + 1e-7, reference)
    assert not check(reference + 0.1, reference)
    assert "largest difference from the reference is 0.1" in capsys.readouterr().out
    assert not check(reference.T, reference)
    assert "shape (4, 3), expected (3, 4)" in capsys.readouterr().out
    assert not check(3.0, reference)


def test_a_check_never_raises(capsys):
    class Weird:
        def __str__(self):
            raise RuntimeError("boom")
    assert check(Weird(), "b") is False
    assert check(float("nan"), 1.0) is False
    assert check({"a": 1}, 3) is False
    assert "could not be checked" in capsys.readouterr().out


def test_an_answer_that_is_an_error_says_what_stopped_the_learners_code(capsys):
    """A check cell passes on the exception a learner's function raised: the check says that
    the code stopped and how, for a number, a word and a tensor alike, with the hint."""
    error = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    for expected in (4_608, "b", torch.ones(2, 3)):
        assert check(error, expected, hint=f"look at the shapes {expected!r}") is False
        printed = capsys.readouterr().out
        assert "your code stopped with RuntimeError: mat1 and mat2 shapes" in printed
        assert "is not a number" not in printed and "look at the shapes" in printed


def test_a_function_that_returns_nothing_is_named_not_read_as_no_answer(capsys):
    def forgot_return(x):
        x * 2

    assert not check(call(forgot_return, 3), 6, hint="the idea")
    out = capsys.readouterr().out
    assert "forgot_return returned None" in out and "return" in out and "hint" not in out
    assert check(call(lambda x: x * 2, 3), 6)
    assert isinstance(call(lambda x: 1 / x, 0), ZeroDivisionError)


def test_a_choice_outside_the_options_is_refused_before_the_expected_answer_is_read(capsys):
    assert as_choice(" (C) ", "abcd") == "c" and as_choice("e", "abcd") is None
    assert as_choice(3, "abcd") is None and as_choice(None, "abcd") is None
    assert not check("z", None, choices="abcd", hint="the idea")
    out = capsys.readouterr().out
    assert "answer with one of a, b, c, d" in out and "hint" not in out
    assert not check(None, None, choices="abcd")
    assert UNANSWERED in capsys.readouterr().out
    assert check("B", "b", choices="abcd")


def test_the_final_model_meets_the_brief(capsys):
    assert check_brief(build_model("final")) is True
    printed = capsys.readouterr().out
    assert printed.count("✅") == 5 and "17,154 parameters" in printed
    assert "Dropout: Dropout, Dropout2d" in printed and "AdaptiveAvgPool2d" in printed


def test_an_edited_model_is_checked_as_it_is(capsys):
    """What the learner built, not the workbook's model: too wide, no BN, no Dropout, a dense
    head instead of GAP, the wrong number of classes. Each requirement fails on its own line."""
    edited = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(32 * 13 * 13, 4))
    assert check_brief(edited) is False
    printed = capsys.readouterr().out
    assert printed.count("❌") == 5
    assert "21,956 parameters: 1,957 too many for fewer than 20,000" in printed
    assert "gives (2, 4), not (2, 10)" in printed
    assert "no global average pooling" in printed


def test_a_model_that_breaks_on_a_digit_is_reported_not_raised(capsys):
    broken = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Dropout(0.1), nn.Flatten(),
                           nn.Linear(10, 10))
    assert check_brief(broken) is False
    assert "an error (RuntimeError" in capsys.readouterr().out
    assert broken.training  # its mode is given back


def test_max_pooling_to_one_position_is_not_average_pooling(capsys):
    model = build_model("light_gap")
    model[6] = nn.AdaptiveMaxPool2d(1)
    assert check_brief(model) is False
    assert "no global average pooling" in capsys.readouterr().out


def test_hints_come_one_step_closer_after_each_wrong_try(capsys):
    hints = ("what does one channel hold?", "count the positions of one map", "multiply by the batch")
    for _ in range(4):
        check(1, 2, hint=hints)
    printed = [line for line in capsys.readouterr().out.splitlines() if "hint" in line]
    assert printed == ["   hint 1: what does one channel hold?", "   hint 2: count the positions of one map",
                       "   hint 3: multiply by the batch", "   hint 3: multiply by the batch"]


def test_the_expected_answers_are_recorded_when_asked(tmp_path, monkeypatch, capsys):
    record = tmp_path / "checks.jsonl"
    monkeypatch.setenv("WORKBOOK_RECORD_CHECKS", str(record))
    check(None, 5770, hint=("count layer by layer", "then add"))
    check("b", "c", hint="six")
    assert record.read_text().splitlines() == ['{"expected": 5770, "hint": "count layer by layer"}',
                                               '{"expected": "c", "hint": "six"}']


def test_a_typical_slip_gets_its_own_hint_and_a_right_answer_never_does(capsys):
    slips = {0.058: "that is the spread; divide it by the square root of n"}
    hint = ("the idea", "a closer step")
    assert check(0.0583, 0.018, hint, tolerance=0.0005, slips=slips, slip_tolerance=0.001) is False
    printed = capsys.readouterr().out
    assert "hint: that is the spread" in printed and "the idea" not in printed
    assert check(0.5, 0.018, hint, tolerance=0.0005, slips=slips) is False  # no slip: the stepped hint
    assert "hint 1: the idea" in capsys.readouterr().out
    assert check(0.018, 0.018, hint, slips={0.018: "a slip that is the answer"}) is True
    assert "slip" not in capsys.readouterr().out


def test_an_answer_to_one_decimal_fewer_is_asked_for_one_more_and_costs_no_hint(capsys):
    hint = ("the idea of decimals", "a closer step")
    assert check("0.02", 0.0183, hint, tolerance=0.0005, decimals=3) is False
    printed = capsys.readouterr().out
    assert "the question asks for 3: give one more" in printed and "hint" not in printed
    assert check("0.5", 0.0183, hint, tolerance=0.0005, decimals=3) is False
    assert "hint 1: the idea of decimals" in capsys.readouterr().out  # the first real try: the first hint
    assert check("0.01", 0.0183, tolerance=0.0005, decimals=3) is False  # a wrong rounding
    assert check(0.018, 0.0183, tolerance=0.0005, decimals=3) is True


def test_a_percentage_where_a_fraction_is_asked_is_the_same_answer(capsys):
    assert check("34.9%", 0.3487, tolerance=0.001, fraction=True) is True
    assert check("99.4%", 99.4) is True  # a percentage asked in percent stays one
    assert check("35%", 0.3487, tolerance=0.001, fraction=True) is False
    assert check("2.9%", 0.029, tolerance=0.0005) is False  # points asked: a percentage is another unit


def test_a_choice_answered_with_anything_but_one_letter_is_told_to_answer_with_a_letter(capsys, monkeypatch):
    monkeypatch.setitem(KEY, "99", {2: "c"})
    assert check_key("banana", "99", 2, hint="the topic") is False
    printed = capsys.readouterr().out
    assert "answer with the letter of one option" in printed and "the topic" not in printed
    assert check_key("", "99", 2) is False and "letter of one option" in capsys.readouterr().out
    assert check_key(None, "99", 2) is False and "not answered yet" in capsys.readouterr().out


def test_whole_numbers_can_be_the_options_of_a_choice():
    assert as_choice(5, ("2", "5", "7")) == "5" and as_choice("7", "257") == "7"
    assert as_choice(6, ("2", "5", "7")) is None and as_choice(True, ("1",)) is None


def test_an_answer_that_is_not_a_number_does_not_use_up_a_hint(capsys):
    hint = ("the idea of counting", "a closer step")
    assert check("banana", 3, hint) is False and check("4", 3, hint) is False
    printed = capsys.readouterr().out
    assert printed.count("hint 1: the idea of counting") == 2 and "hint 2" not in printed
