"""Checks of the coding exercises of notebook 04 (RBM and DBN).

The references enumerate every joint state (v, h) of a small RBM in float64, independently of the
free energy the student writes. Conventions of the notebook: ``W`` has shape (n_visible,
n_hidden), ``b`` is the visible bias and ``c`` the hidden bias, and
E(v, h) = -v^T W h - b^T v - c^T h.
"""

from __future__ import annotations

import itertools
from typing import Callable

import torch

from course_lib.exercises.checking import (
    WrongAnswer,
    call_answer,
    correct,
    exercise_check,
    expect_scalar,
    expect_tensor,
    forbid,
)


def _states(n: int) -> torch.Tensor:
    """Every binary vector of length n, (2^n, n), in float64."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _random_rbm(seed: int, n_visible: int, n_hidden: int, scale: float) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    W = scale * torch.randn(n_visible, n_hidden, generator=generator)
    b = scale * torch.randn(n_visible, generator=generator)
    c = scale * torch.randn(n_hidden, generator=generator)
    return W, b, c


def _energies(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """E(v, h) for every row v of ``v`` and every hidden state h: (n, 2^n_hidden), float64."""
    W, b, c = W.double(), b.double(), c.double()
    h = _states(W.shape[1])
    return -(v.double() @ W @ h.T) - (v.double() @ b)[:, None] - (h @ c)[None, :]


@exercise_check
def check_free_energy(
    answer: Callable, *, seed: int = 0, n_visible: int = 6, n_hidden: int = 4
) -> None:
    """Exercise 4.1: F(v) = -b^T v - sum_j softplus(c_j + (v W)_j), one value per row of v."""
    exercise = "Exercise 4.1 (free energy)"
    W, b, c = _random_rbm(seed, n_visible, n_hidden, scale=1.0)
    v = _states(n_visible)[
        torch.randperm(2**n_visible, generator=torch.Generator().manual_seed(seed))[:7]
    ]
    v = v.float()
    expected = -torch.logsumexp(-_energies(v, W, b, c), dim=1)  # F = -log sum_h exp(-E)
    got = call_answer(exercise, answer, v, W, b, c)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        without_b = expected + v.double() @ b.double()
        if torch.allclose(got.double(), without_b, atol=1e-4):
            raise WrongAnswer(f"{exercise}: the visible bias term -b^T v is missing.")
    expect_tensor(
        exercise,
        got,
        expected,
        what="F(v) (compared with -log sum_h exp(-E(v, h)) over every hidden state h)",
        tolerance=1e-4,
    )
    big_W, big_b, big_c = (40.0 * t for t in (W, b, c))
    strong = call_answer(exercise, answer, v, big_W, big_b, big_c)
    if not torch.isfinite(torch.as_tensor(strong)).all():
        raise WrongAnswer(
            f"{exercise}: with large weights (x40) your free energy overflows to "
            f"{strong.flatten()[~torch.isfinite(strong.flatten())][0].item()}: "
            "log(1 + exp(a)) overflows for large a; use F.softplus, which does not."
        )
    expect_tensor(
        exercise,
        strong,
        -torch.logsumexp(-_energies(v, big_W, big_b, big_c), dim=1),
        what="F(v) with weights 40 times larger",
        tolerance=1e-4,
    )
    correct(exercise, "Equal to summing exp(-E) over every hidden state, also for large weights.")


@exercise_check
def check_log_partition(
    answer: Callable, *, seed: int = 0, n_visible: int = 5, n_hidden: int = 4
) -> None:
    """Exercise 4.2: log Z of a small RBM, exactly, by enumerating the visible states."""
    exercise = "Exercise 4.2 (exact log Z)"
    forbid(
        exercise,
        answer,
        ("log_partition", "rbm_exact"),
        "Enumerate the visible states and sum exp(-F(v)) with torch.logsumexp.",
    )
    for scale in (1.0, 30.0):
        W, b, c = _random_rbm(seed, n_visible, n_hidden, scale)
        joint = _energies(_states(n_visible), W, b, c)  # (2^n_visible, 2^n_hidden)
        expected = torch.logsumexp(-joint.flatten(), dim=0)
        got = expect_scalar(exercise, call_answer(exercise, answer, W, b, c), what="log Z")
        if not torch.isfinite(got):
            raise WrongAnswer(
                f"{exercise}: with weights of scale {scale:g} your log Z is {got}; the sum of "
                "exp(-F) overflows. Use torch.logsumexp over the states' -F(v)."
            )
        expect_tensor(
            exercise,
            expect_scalar(exercise, got, what="the result"),
            expected,
            what=f"log Z (weights of scale {scale:g}, summed over all 2^{n_visible} x "
            f"2^{n_hidden} joint states)",
            tolerance=1e-5,
        )
    correct(exercise, "Equal to the sum over every joint state (v, h), also for large weights.")
