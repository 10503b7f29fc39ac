"""The self-checks of the exercises: one helper for every notebook.

    check(answer, expected, hint)       a number, a word or a tensor against the expected one
    call(function, *args)               the learner's function run for a check, whatever it does
    check_key(answer, notebook=, number=) a letter or a word against the answer key (utils/answers.py)
    check_brief(model)                  the brief's requirements, one line each

Each prints ✅ (right) or ❌ (not yet), returns True or False, and never raises: a check must
not stop a notebook, whatever the learner typed. The hint is printed after a wrong answer
only, never before the first try. The notebook computes `expected` from the learner's own
objects (their model, history, tensors), so a check stays right after the learner edits the
model above it; the answers to choices are kept in utils/answers.py, out of sight.
"""
import ast
import collections
import json
import operator
import os
import re

import torch
from torch import nn

from utils.answers import KEY

RIGHT, NOT_YET = "✅", "❌"
UNANSWERED = "not answered yet: replace the None (or ...) with your answer."

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow,
              ast.USub: operator.neg, ast.UAdd: operator.pos}


def as_number(answer):
    """A number from what a learner may write: 42, 0.9, "1,234", "99.4%", "0.15 points",
    "15 * 60_000" or "0.05 / 10" (arithmetic only: nothing else is evaluated). ValueError if
    it is none."""
    if isinstance(answer, bool):
        raise ValueError("True or False is not a number")
    if isinstance(answer, (int, float)):
        if abs(answer) > 1e300:  # 10**400 is no answer here, and would overflow a float
            raise ValueError("that number is too large to be an answer here")
        return answer
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return answer.item()
    if not isinstance(answer, str):
        raise ValueError(f"{type(answer).__name__} is not a number")
    text = answer.strip().replace("\u2212", "-")  # a typographic minus
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    text = re.sub(r"^(about|around|roughly|approximately|approx\.?|~|≈|±)\s*", "", text, flags=re.I)
    text = re.sub(r"(?<=[\d%)])\s*([A-Za-z][A-Za-z /]*|×)$", "", text)  # a unit: "0.15 points", "2,424 images/s", "4x"
    text = re.sub(r"(?<=\d)[, \u202f\u2009](?=\d{3}\b)", "", text.rstrip("%").strip())  # 1,234 or 1 234

    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:  # 2**1000**1000 would never end
                raise ValueError(f"{answer!r} has a power too large to be an answer here")
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError(f"{answer!r} is not a number or arithmetic on numbers")

    try:
        return value(ast.parse(text, mode="eval").body)
    except SyntaxError:
        raise ValueError(f"{answer!r} is not a number or arithmetic on numbers") from None


_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                      "twelve".split())}


class ReturnedNothing:
    """What `call` gives back when the learner's function returned None: most often a
    forgotten `return`, which `check` names rather than reading it as no answer yet."""

    def __init__(self, function):
        self.name = getattr(function, "__name__", "your function")


def call(function, *args, **kwargs):
    """Run the learner's function for a check: its result, the exception that stopped it,
    or ReturnedNothing where it returned None. `check` says which, and never raises."""
    try:
        result = function(*args, **kwargs)
    except Exception as error:
        return error
    return ReturnedNothing(function) if result is None else result


def _as_word(text):
    """ "b", " B", "(b)" and "b." are the same choice."""
    return str(text).strip().strip("().").strip().lower()


def as_choice(answer, options):
    """The letter of a multiple choice ("b", " B", "(b)", "b."), or None where `answer` is
    none of `options`: an experiment behind the check runs only for a real choice. Options may
    be whole numbers, given as text: as_choice(5, ("2", "5", "7")) is "5"."""
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)  # 5.0 is the option 5
    whole = isinstance(answer, int) and not isinstance(answer, bool)
    given = _as_word(answer) if isinstance(answer, str) or whole else None
    return given if given in list(options) else None  # a list: "ab" is not a choice of "abcd"


_wrong_tries = collections.Counter()  # per exercise (its hints): how many wrong answers so far


def _say(ok, message, hint, counts=True):
    """Print the verdict, and after a wrong answer a hint: with hints given as a tuple, the
    first after the first wrong try, the next (closer) one after the second, and so on. An
    answer that is not yet a real try (not a number, too few decimals) does not count."""
    print(f"{RIGHT if ok else NOT_YET} {message}")
    if not ok and hint:
        hints = hint if isinstance(hint, tuple) else (hint,)
        tries = _wrong_tries[hints]
        _wrong_tries[hints] += counts
        print(f"   hint{f' {min(tries, len(hints) - 1) + 1}' if len(hints) > 1 else ''}: "
              f"{hints[min(tries, len(hints) - 1)]}")
    return ok


def _record(expected, hint):
    """With WORKBOOK_RECORD_CHECKS=<file>, append the expected answer and the first hint, one
    JSON line per check: the test that no answer is in sight before the try reads them."""
    path = os.environ.get("WORKBOOK_RECORD_CHECKS")
    if not path:
        return
    if isinstance(expected, torch.Tensor):
        expected = expected.item() if expected.numel() == 1 else None
    first = hint[0] if isinstance(hint, tuple) and hint else hint
    with open(path, "a") as f:
        f.write(json.dumps(dict(expected=expected, hint=first or "")) + "\n")


def check(answer, expected, hint="", tolerance=0.0, choices=None, slips=None, slip_tolerance=None,
          decimals=None, fraction=False):
    """Compare the learner's `answer` with `expected` and say so.

    - numbers (or text that is one): right within `tolerance`; give the tolerance a fair
      rounding allows, e.g. 0.01 for a percentage asked to two decimals;
    - tensors: same shape and `torch.allclose` (tolerance as its atol, 1e-5 by default),
      with the largest difference printed, as Karpathy's `cmp` does;
    - words (a multiple-choice letter, a name): the same, ignoring case and spaces;
    - an exception (the learner's function raised it, caught by the check cell or `call`): not
      yet, and what stopped it; ReturnedNothing (from `call`): not yet, and why;
    - with `choices` (e.g. "abcd"): an answer that is none of them is said to be so, before
      `expected` is looked at (it may be None: an experiment behind it runs for a choice only).
    `hint` is one hint, or a tuple of hints from the idea to a closer step (never the
    numbers filled in): one more after each wrong answer.
    - `slips`, {value: text}: a wrong number within `slip_tolerance` (default: `tolerance`)
      of a typical slip's value gets that slip's text as its hint, since it names the mistake;
    - `decimals`, the decimals a question asks for: an answer right to one decimal fewer is
      told to give one more, since at fewer decimals a typical slip rounds to the same value;
    - `fraction`: the question asks for a fraction, so "34.9%" is read as 0.349.
    """
    try:
        _record(expected, hint)
        if answer is None or answer is ...:
            return _say(False, UNANSWERED, "")  # no hint before the first try
        if isinstance(answer, ReturnedNothing):
            return _say(False, f"not yet: {answer.name} returned None. Does it end with `return ...`?",
                        "")  # the message is the hint: the topic's hint would point elsewhere
        if isinstance(answer, BaseException):  # the learner's code stopped: say how, not "not a number"
            return _say(False, f"not yet: your code stopped with {type(answer).__name__}: {answer}",
                        hint)
        if choices and as_choice(answer, choices) is None:
            return _say(False, f"not yet: you answered {answer!r}; answer with one of "
                               f"{', '.join(choices)}.", "")
        if isinstance(expected, torch.Tensor) and expected.numel() > 1:
            return _check_tensor(answer, expected, hint, tolerance or 1e-5)
        if isinstance(expected, str):
            given, wanted = _as_word(answer), _as_word(expected)
            return _say(given == wanted, f"{'right' if given == wanted else 'not yet'}: "
                                         f"you answered {answer!r}.", hint)
        try:
            number = as_number(answer)
        except ValueError as error:
            return _say(False, f"not yet: {error}.", hint, counts=False)
        wanted = as_number(expected)
        ok = abs(number - wanted) <= tolerance
        if not ok and fraction and isinstance(answer, str) and answer.strip().endswith("%") \
                and abs(number / 100 - wanted) <= tolerance:
            number, ok = number / 100, True  # "34.9%" where a fraction is asked: the same answer
        if not ok and decimals and abs(number - round(wanted, decimals - 1)) < 1e-9:
            return _say(False, f"not yet: you answered {number:,}, which is {decimals - 1} decimals; "
                               f"the question asks for {decimals}: give one more.", "")
        if not ok and slips:
            near = tolerance if slip_tolerance is None else slip_tolerance
            hint = next(((text,) for value, text in slips.items()
                         if abs(number - value) <= near), hint)
        return _say(ok, f"{'right' if ok else 'not yet'}: you answered {number:,}.", hint)
    except Exception as error:  # a check never stops the notebook
        return _say(False, f"this answer could not be checked ({type(error).__name__}: {error}).",
                    hint)


def check_key(answer, notebook, number, hint=""):
    """`check` against the answer key's entry for exercise `number` of notebook `notebook`
    (e.g. "05", 4): a letter of a multiple choice, or a word."""
    try:
        expected = KEY[notebook][number]
    except KeyError:
        return _say(False, f"the answer key has no exercise {number} of notebook {notebook} "
                           "(utils/answers.py): this check cannot say.", "")
    if len(str(expected)) == 1 and answer is not None and answer is not ... and \
            not isinstance(answer, BaseException) and not re.fullmatch(r"[a-z]", _as_word(answer)):
        _record(expected, hint)
        return _say(False, f"not yet: you answered {answer!r}; answer with the letter of one option.", "")
    return check(answer, expected, hint)


def _check_tensor(answer, expected, hint, atol):
    if not isinstance(answer, torch.Tensor):
        return _say(False, f"not yet: expected a tensor of shape {tuple(expected.shape)}, "
                           f"got a {type(answer).__name__}.", hint)
    if answer.shape != expected.shape:
        return _say(False, f"not yet: shape {tuple(answer.shape)}, expected "
                           f"{tuple(expected.shape)}.", hint)
    answer, expected = answer.detach().float().cpu(), expected.detach().float().cpu()
    diff = (answer - expected).abs().max().item()
    ok = torch.allclose(answer, expected, atol=atol, rtol=1e-4)
    return _say(ok, f"{'right' if ok else 'not yet'}: the largest difference from the "
                    f"reference is {diff:.2g}.", hint)


# --- the brief -----------------------------------------------------------------------------

def _global_pools(model, x):
    """The pooling layers that turn a map of more than one position into a single one."""
    found = []

    def hook(module, inputs, output):
        if inputs[0].dim() == 4 and inputs[0].shape[-2:].numel() > 1 and output.shape[-2:].numel() == 1:
            found.append(type(module).__name__)

    pools = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.MaxPool2d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, pools)]
    try:
        output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found, output


def check_brief(model, budget=20_000):
    """The brief, checked on `model`: fewer than `budget` parameters, Batch Normalization, a
    Dropout of either kind, global average pooling, and 10 outputs for one 1x28x28 image.
    One line per requirement; True when all are met. The model is left in the mode it had."""
    try:
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        norms = [type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        drops = sorted({type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)})
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            with torch.no_grad():
                pools, output = _global_pools(model, torch.zeros(2, 1, 28, 28, device=device))
            shape = tuple(output.shape)
        except Exception as error:
            pools, shape = [], f"an error ({type(error).__name__}: {error})"
        finally:
            model.train(was_training)
        averages = [p for p in pools if "Avg" in p]
        results = [
            (params < budget, f"{params:,} parameters, under {budget:,}"
             if params < budget else f"{params:,} parameters: {params - budget + 1:,} too many "
             f"for fewer than {budget:,}"),
            (bool(norms), f"Batch Normalization: {len(norms)} layer(s)" if norms else
             "no Batch Normalization layer (nn.BatchNorm2d)"),
            (bool(drops), f"Dropout: {', '.join(drops)}" if drops else
             "no Dropout layer (nn.Dropout or nn.Dropout2d)"),
            (bool(averages), f"global average pooling: {averages[0]} averages the whole map"
             if averages else "no global average pooling (an average over every position, "
             "e.g. nn.AdaptiveAvgPool2d(1))"),
            (shape == (2, 10), "10 outputs per 1x28x28 image" if shape == (2, 10) else
             f"a batch of two 1x28x28 images gives {shape}, not (2, 10)"),
        ]
        for ok, line in results:
            _say(ok, line, "")
        return all(ok for ok, _ in results)
    except Exception as error:  # a check never stops the notebook
        return _say(False, f"the model could not be checked ({type(error).__name__}: {error}).", "")
