"""The answer key of the exercises answered with a letter or a word, by notebook and exercise
number. It lives here, not in the notebooks, so that no such answer is in sight before the
try (Neuromatch keeps its solutions apart the same way); a teacher reads it here, and a check
looks its answer up with `exercises.check_key(answer, notebook, exercise)`. Numeric answers
are not kept here: each check computes them from the learner's own objects."""

KEY = {
    "00": {3: "b", 4: "c"},
    "01": {3: "b"},
    "03": {3: "b"},
    "05": {4: "b"},
    "06": {4: "b"},
    "07": {3: "b"},
    "08": {1: "c", 3: "c"},
    "09": {2: "a"},
    "10": {1: "a"},
    "11": {1: "a"},
    "14": {3: "c"},
    "15": {3: "b"},
}
