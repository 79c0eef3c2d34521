"""Checks of the coding exercises of notebook 10 (neural style transfer).

References in float64: the Gram matrix entry by entry as inner products of channels, and
Gatys et al.'s E_l = 1 / (4 N^2 M^2) sum (G - A)^2. See ``checking`` for the errors.
"""

from __future__ import annotations

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

STYLE_NAMES = ("gram_matrix", "style_layer_loss", "style_loss", "correlation_matrix")


def _gram_reference(features: torch.Tensor) -> torch.Tensor:
    """G_ij = sum_k F_ik F_jk, one channel pair at a time, float64."""
    flat = features.double().flatten(start_dim=2)  # (B, C, H, W) -> (B, C, M)
    batch, channels, _ = flat.shape
    gram = torch.empty(batch, channels, channels, dtype=torch.float64)
    for i in range(channels):
        for j in range(channels):
            gram[:, i, j] = (flat[:, i] * flat[:, j]).sum(dim=1)
    return gram


@exercise_check
def check_gram_matrix(answer: Callable, *, seed: int = 0, channels: int = 4, side: int = 5) -> None:
    """Exercise 10.1: (B, C, H, W) -> (B, C, C), the unnormalised Gram matrix of eq. 3."""
    exercise = "Exercise 10.1 (the Gram matrix)"
    forbid(exercise, answer, STYLE_NAMES, "Flatten the positions and multiply with torch.bmm.")
    features = torch.relu(
        torch.randn(2, channels, side, side + 1, generator=torch.Generator().manual_seed(seed))
    )
    got = call_answer(exercise, answer, features)
    positions = side * (side + 1)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (2, positions, positions):
        raise WrongAnswer(
            f"{exercise}: you got a ({positions} x {positions}) matrix over positions; the Gram "
            f"matrix compares channels: F F^T with F of shape (C, H W), giving ({channels} x "
            f"{channels})."
        )
    expected = _gram_reference(features)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        ratio = (expected / got.double()).flatten()[0].item()
        if abs(ratio - positions) < 1e-3 * positions:
            raise WrongAnswer(
                f"{exercise}: your matrix is divided by M = H W = {positions}. Eq. 3 leaves it "
                "unnormalised; the style loss divides by 4 N^2 M^2 instead (exercise 10.2)."
            )
    expect_tensor(exercise, got, expected, what="the Gram matrices", tolerance=1e-5)
    correct(exercise, "Each entry is the inner product of two channels over all positions.")


@exercise_check
def check_style_layer_loss(
    answer: Callable, *, seed: int = 0, channels: int = 3, side: int = 4
) -> None:
    """Exercise 10.2: E_l = 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2 for one image (B = 1)."""
    exercise = "Exercise 10.2 (the style loss of one layer)"
    forbid(
        exercise,
        answer,
        ("style_layer_loss", "style_loss"),
        "Use your Gram matrix from exercise 10.1 and write E_l's formula.",
    )
    generator = torch.Generator().manual_seed(seed)
    shape = (1, channels, side, side + 1)  # not square: M = H W, not H^2
    generated, style = torch.relu(torch.randn(2, *shape, generator=generator))
    g, a = _gram_reference(generated), _gram_reference(style)
    positions = side * (side + 1)
    raw = ((g - a) ** 2).sum()
    expected = raw / (4 * channels**2 * positions**2)
    got = expect_scalar(exercise, call_answer(exercise, answer, generated, style), what="E_l")
    value = got.detach().double()
    for factor, missing in (
        (1.0, "the whole factor 1 / (4 N^2 M^2)"),
        (4.0, "N^2 M^2 (you divided only by 4)"),
        (4 * channels**2, "M^2 = (H W)^2"),
        (4 * positions**2, "N^2, the channels squared"),
    ):
        if torch.isclose(value, raw / factor, rtol=1e-4):
            raise WrongAnswer(
                f"{exercise}: the normalisation is incomplete: divide also by {missing}. "
                "Without it E_l grows with the layer's size and the image's."
            )
    expect_tensor(
        exercise,
        got,
        expected,
        what=f"E_l for N = {channels} channels and M = H W = {positions} positions",
        tolerance=1e-4,
    )
    same = call_answer(exercise, answer, style, style)
    expect_tensor(
        exercise,
        expect_scalar(exercise, same, what="the result"),
        torch.tensor(0.0),
        what="E_l of an image with itself",
    )
    correct(
        exercise, f"E_l with the factor 1 / (4 N^2 M^2) = 1 / {4 * channels**2 * positions**2}."
    )
