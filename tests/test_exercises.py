"""The notebooks' coding exercises: each solution passes its checks (public and hidden), each
deliberately wrong answer fails them with a message that names the mistake, and an unfilled
answer place is reported as unanswered, not as a crash."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from course_lib.exercises.checking import ExerciseIncomplete, WrongAnswer

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", re.DOTALL)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's default code stub


def exercises() -> list[tuple[str, str, str]]:
    """(exercise id, answer cell source, check cell source) of every notebook, in order."""
    found = []
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for answer, check in zip(cells, cells[1:]):
            grading = answer.metadata.get("nbgrader", {})
            if grading.get("solution"):
                exercise = grading["grade_id"].removesuffix("_answer")
                assert check.metadata["nbgrader"]["grade_id"] == f"{exercise}_check"
                found.append((exercise, answer.source, check.source))
    return found


EXERCISES = {exercise: (answer, check) for exercise, answer, check in exercises()}


def earlier_answers(exercise: str) -> str:
    """The solutions of the same notebook's earlier exercises, which a later answer may call."""
    chapter = exercise.split("_")[0]
    names = sorted(EXERCISES, key=lambda other: int(other.split("_")[1]))
    return "".join(
        EXERCISES[other][0] + "\n"
        for other in names
        if other.split("_")[0] == chapter and int(other.split("_")[1]) < int(exercise.split("_")[1])
    )


def run(exercise: str, answer: str, check: str) -> str:
    """Run an answer cell and then its check cell in a fresh namespace, after the notebook's
    earlier answers; return what was printed."""
    namespace: dict = {}
    notebook_imports = (
        "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
    )
    exec(notebook_imports + earlier_answers(exercise), namespace)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(answer, namespace)
        exec(check, namespace)
    return printed.getvalue()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_two_checked_coding_exercises(path):
    cells = nbformat.read(path, as_version=4).cells
    answers = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
    checks = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(answers) >= 2 and len(checks) == len(answers)
    for check in checks:
        assert check.metadata["nbgrader"]["locked"] and check.metadata["nbgrader"]["points"] > 0
        assert "### BEGIN HIDDEN TESTS" in check.source  # other inputs than the public check's
        assert re.search(r"^check_\w+\(my_\w+\)$", check.source, re.MULTILINE)


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_solution_passes_its_public_and_hidden_checks(exercise):
    printed = run(exercise, *EXERCISES[exercise])
    assert printed.startswith("Correct: Exercise ") and printed.count("Correct:") == 1


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_an_unfilled_answer_says_so(exercise):
    answer, check = EXERCISES[exercise]
    stub = SOLUTION.sub(lambda m: "\n".join(m.group(1) + line for line in STUB.split("\n")), answer)
    with pytest.raises(ExerciseIncomplete, match="is not answered yet: .*NotImplementedError"):
        run(exercise, stub, check)


# One deliberately wrong answer per exercise (the body of its function), and words the check's
# message must contain.
WRONG = {
    "ex1_1": (
        "return -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).flatten(1).sum(1).mean()",
        "must count as 0",
    ),
    "ex1_2": (
        "return torch.linalg.svd(x, full_matrices=False)[2][:d].T",
        "centre the data",
    ),
    "ex2_1": ("return x + std * torch.randn(x.shape, generator=generator)", "below 0"),
    "ex2_2": (
        "noisy = my_noisy(x, std, generator)\n    return ((model(noisy) - noisy) ** 2).mean()",
        "compares the output with the noisy input",
    ),
    "ex3_1": ("return mu + torch.exp(log_var) * eps", "variance"),
    "ex3_2": ("return torch.log(torch.exp(log_weights).mean(dim=1))", "underflows"),
    "ex4_1": ("return -F.softplus(c + v @ W).sum(dim=1)", "visible bias"),
    "ex4_2": (
        "states = torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * W.shape[0])\n"
        "    return torch.log(torch.exp(-my_free_energy(states, W, b, c)).sum())",
        "overflows",
    ),
    "ex5_1": (
        "m = (p + q) / 2\n"
        "    kl_p = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum()\n"
        "    kl_q = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum()\n"
        "    return kl_p + kl_q",
        "twice the JSD",
    ),
    "ex5_2": ("return -F.softplus(fake_logits).mean()", "saturating loss"),
    "ex6_1": (
        "return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), "
        "nn.BatchNorm2d(out_channels), nn.ReLU())",
        "has a bias",
    ),
    "ex6_2": ("return (1 - t) * z0 + t * z1", "straight-line midpoint"),
    "ex7_1": (
        "x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)\n"
        "    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)\n"
        "    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()",
        "create_graph=True",
    ),
    "ex7_2": ("return (a - b).abs().mean()", "sorted order"),
    "ex8_1": (
        "planes = F.one_hot(labels, n_classes).float()[:, None, None, :]\n"
        "    return planes.expand(-1, height, width, -1)",
        "last axis",
    ),
    "ex8_2": ("return F.softplus(-fake_logits).mean() + (fake - target).abs().mean()", "fooled"),
    "ex9_1": ("return (to_x(to_y(x)) - x).abs().mean()", "only the round trip"),
    "ex9_2": (
        "condition = torch.zeros(len(labels), 13)\n"
        "    start = 0 if dataset == 0 else 6\n"
        "    condition[:, start : start + labels.shape[1]] = labels\n"
        "    condition[:, 12 - dataset] = 1.0\n"
        "    return condition",
        "the mask",
    ),
    "ex10_1": (
        "flat = features.flatten(start_dim=2)\n"
        "    return torch.bmm(flat, flat.transpose(1, 2)) / flat.shape[2]",
        "divided by M",
    ),
    "ex10_2": (
        "return ((my_gram_matrix(generated) - my_gram_matrix(style)) ** 2).sum()",
        "normalisation is incomplete",
    ),
}


# More wrong answers, each a mistake a check once let through (found by a reader's review).
MORE_WRONG = [
    (
        "ex1_1",
        "return -(torch.xlogy(x, x_hat) + torch.xlogy(1 - x, 1 - x_hat)).sum(1).mean()",
        "is wrong",
    ),
    (
        "ex1_2",
        "c = x - x.mean(dim=0)\n    return torch.linalg.svd(c, full_matrices=False)[2][:3].T",
        "the 2 columns of a (10, 2) tensor",
    ),
    (
        "ex2_2",
        "noisy = my_noisy(x, 0.3, generator)\n    return ((model(noisy) - x) ** 2).mean()",
        "model's input",
    ),
    ("ex2_2", "return ((model(torch.zeros_like(x)) - x) ** 2).mean()", "model's input"),
    (
        "ex5_1",
        "m = (p + q) / 2\n"
        "    return ((p * torch.log(p / m)).sum() + (q * torch.log(q / m)).sum()) / 2",
        "0 * log 0 = 0",
    ),
    ("ex3_2", "return log_weights.mean(dim=1)", "is wrong"),
    (
        "ex5_1",
        "m = (p + q) / 2\n"
        "    return (torch.xlogy(p, p / m).sum() + torch.xlogy(q, q / m).sum()) / 2",
        "0 * log 0 = 0",
    ),
    ("ex5_2", "return F.softplus(-fake_logits)", "single number"),
    (
        "ex6_1",
        "return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False), "
        "nn.ReLU(), nn.BatchNorm2d(out_channels), nn.ReLU())",
        "the layers run in the order",
    ),
    (
        "ex7_1",
        "x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)\n"
        "    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)\n"
        "    return ((g.norm(dim=1) - 1) ** 2).mean()",
        "is wrong",
    ),
    (
        "ex9_1",
        "sums = [(a - b).abs().flatten(1).sum(1).mean() for a, b in "
        "((to_x(to_y(x)), x), (to_y(to_x(y)), y))]\n"
        "    return sums[0] + sums[1]",
        "summed",
    ),
    (
        "ex10_2",
        "_, n, h, w = generated.shape\n"
        "    d = my_gram_matrix(generated) - my_gram_matrix(style)\n"
        "    return (d**2).sum() / (4 * n**2 * (h * h) ** 2)",
        "is wrong",
    ),
]


@pytest.mark.parametrize(
    ("exercise", "body", "words"),
    [(exercise, *WRONG[exercise]) for exercise in sorted(WRONG)] + MORE_WRONG,
)
def test_a_wrong_answer_fails_with_a_message_that_names_the_mistake(exercise, body, words):
    answer, check = EXERCISES[exercise]
    wrong = SOLUTION.sub(lambda m: m.group(1) + body, answer)
    assert wrong != answer
    with pytest.raises(WrongAnswer, match=re.escape(words)):
        run(exercise, wrong, check)


def test_every_exercise_has_a_wrong_answer():
    assert sorted(WRONG) == sorted(EXERCISES)


@pytest.mark.parametrize(
    ("exercise", "shortcut"),
    [
        ("ex1_1", "return F.binary_cross_entropy(x_hat, x, reduction='sum') / len(x)"),
        (
            "ex3_2",
            "from course_lib.evaluation.likelihood import iwae_bound\n"
            "    return iwae_bound(log_weights)",
        ),
        (
            "ex5_1",
            "from scipy.spatial.distance import jensenshannon\n"
            "    return torch.tensor(jensenshannon(p, q) ** 2)",
        ),
        (
            "ex10_1",
            "from course_lib.losses.style import gram_matrix\n    return gram_matrix(features)",
        ),
    ],
)
def test_the_librarys_own_version_is_refused(exercise, shortcut):
    answer, check = EXERCISES[exercise]
    with pytest.raises(WrongAnswer, match="the library's own version"):
        run(exercise, SOLUTION.sub(lambda m: m.group(1) + shortcut, answer), check)


# Correct answers written differently from the solutions, which the checks must accept.
OTHER_RIGHT = [
    (  # changes its input in place: the check hands it copies
        "ex3_2",
        "top = log_weights.max(dim=1, keepdim=True).values\n"
        "    log_weights -= top\n"
        "    return log_weights.exp().mean(dim=1).log() + top.squeeze(1)",
        "",
    ),
    (  # a helper of the student's own that happens to share a library function's name
        "ex5_1",
        "m = (p + q) / 2\n    return entropy(m) - (entropy(p) + entropy(q)) / 2",
        "def entropy(d):\n    return -torch.xlogy(d, d).sum()\n",
    ),
    ("ex7_2", "return float((a.sort().values - b.sort().values).abs().mean())", ""),
]


@pytest.mark.parametrize(("exercise", "body", "helpers"), OTHER_RIGHT)
def test_a_right_answer_written_differently_passes(exercise, body, helpers):
    answer, check = EXERCISES[exercise]
    other = helpers + SOLUTION.sub(lambda m: m.group(1) + body, answer)
    assert run(exercise, other, check).startswith("Correct: ")
