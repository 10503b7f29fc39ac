"""The answer key of the exercises answered with a letter or a word, by notebook and exercise
number. It lives here, not in the notebooks, so that no such answer is in sight before the
try (Neuromatch keeps its solutions apart the same way); a teacher reads it here, and a check
looks its answer up with `exercises.check_key(answer, notebook="05", number=4)`. Numeric answers
are not kept here: each check computes them from the learner's own objects."""

KEY = {
    "00": {3: "c", 4: "a"},
    "01": {3: "a"},
    "11": {1: "c"},
    "12": {2: "a"},
    "15": {3: "c"},
    "16": {3: "b"},
}
