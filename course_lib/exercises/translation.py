"""Checks of the coding exercises of notebook 09 (CycleGAN and StarGAN).

The cycle loss is checked with mappings whose round trips are known in closed form; the
condition vector against an entry-by-entry construction of the course's layout and against
``check_conditions``, the course's own validator. See ``checking`` for the errors.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_lib.data.face_conditions import CONDITION_SIZE, MASK, N_DATASETS, check_conditions
from course_lib.exercises.checking import (
    WrongAnswer,
    call_answer,
    correct,
    exercise_check,
    expect_scalar,
    expect_tensor,
    forbid,
)

DATASET_COLUMNS = (slice(0, 6), slice(6, 11))  # hair colour and glasses; expression


@exercise_check
def check_cycle_loss(answer: Callable, *, seed: int = 0) -> None:
    """Exercise 9.1: mean |F(G(x)) - x| + mean |G(F(y)) - y|, both directions."""
    exercise = "Exercise 9.1 (the cycle-consistency loss)"
    forbid(
        exercise,
        answer,
        ("cycle_loss",),
        "Write it from the two mappings (F.l1_loss is fine for the differences).",
    )
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 4, 4, generator=generator)
    y = torch.rand(3, 3, 4, 4, generator=generator)

    def grey_to_colour(images: torch.Tensor) -> torch.Tensor:  # G: X -> Y, off by +0.1
        return images.expand(-1, 3, -1, -1) + 0.1

    def colour_to_grey(images: torch.Tensor) -> torch.Tensor:  # F: Y -> X, the channel mean
        return images.mean(dim=1, keepdim=True)

    got = call_answer(exercise, answer, grey_to_colour, colour_to_grey, x, y)
    got = expect_scalar(exercise, got, what="the loss")
    forward = 0.1  # F(G(x)) = x + 0.1 everywhere
    backward = (y.mean(dim=1, keepdim=True) + 0.1 - y).abs().mean().double()
    value = got.detach().double()
    if torch.isclose(value, torch.tensor(forward, dtype=torch.float64), atol=1e-6):
        raise WrongAnswer(
            f"{exercise}: only the round trip x -> G -> F counts; add y -> F -> G, which "
            "keeps F from being the one that throws the content away."
        )
    squared = 0.01 + ((y.mean(dim=1, keepdim=True) + 0.1 - y) ** 2).mean().double()
    if torch.isclose(value, squared, atol=1e-6):
        raise WrongAnswer(
            f"{exercise}: you squared the differences; the cycle loss is an L1 loss (mean "
            "absolute difference), which blurs less."
        )
    per_image = (
        forward * x[0].numel()
        + (y.mean(dim=1, keepdim=True) + 0.1 - y).abs().flatten(start_dim=1).sum(dim=1).mean()
    )
    if torch.isclose(value, per_image.double(), rtol=1e-5):
        raise WrongAnswer(
            f"{exercise}: you summed the absolute differences over each image; take their mean "
            "over all entries of the batch, as the prompt says."
        )
    expect_tensor(
        exercise,
        got,
        forward + backward,
        what="the loss for G(x) = grey x as colour + 0.1 and F(y) = channel mean of y",
    )
    identity = call_answer(exercise, answer, lambda a: a, lambda b: b, y, y)
    expect_tensor(
        exercise,
        expect_scalar(exercise, identity, what="the result"),
        torch.tensor(0.0),
        what="the loss when G and F are both the identity",
    )
    correct(
        exercise, f"Both round trips (x: {forward:.4f}, y: {backward.item():.4f}) and their sum."
    )


@exercise_check
def check_condition(answer: Callable, *, seed: int = 0, batch: int = 4) -> None:
    """Exercise 9.2: a data set's labels -> the (B, 13) condition with zeros and the mask vector."""
    exercise = "Exercise 9.2 (the mask vector)"
    generator = torch.Generator().manual_seed(seed)
    for dataset in range(N_DATASETS):
        columns = DATASET_COLUMNS[dataset]
        width = columns.stop - columns.start
        if dataset == 0:
            hair = torch.randint(0, 5, (batch,), generator=generator)
            labels = torch.cat(
                [torch.eye(5)[hair], torch.randint(0, 2, (batch, 1), generator=generator).float()],
                dim=1,
            )
        else:
            labels = torch.eye(5)[torch.randint(0, 5, (batch,), generator=generator)]
        got = call_answer(exercise, answer, labels, dataset)
        expected = torch.zeros(batch, CONDITION_SIZE)
        expected[:, columns] = labels
        expected[:, MASK.start + dataset] = 1.0
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(expected.shape):
            if not torch.equal(got[:, MASK], expected[:, MASK]):
                raise WrongAnswer(
                    f"{exercise}: for data set {dataset} the mask (columns {MASK.start}-"
                    f"{MASK.stop - 1}) should be {expected[0, MASK].tolist()}, got "
                    f"{got[0, MASK].tolist()}."
                )
        expect_tensor(
            exercise,
            got,
            expected,
            what=f"the conditions of data set {dataset} ({width} labels in columns "
            f"{columns.start}-{columns.stop - 1}, zeros in the other data set's columns)",
        )
        try:
            check_conditions(got)
        except ValueError as error:
            raise WrongAnswer(
                f"{exercise}: the course's layout check refuses it: {error}"
            ) from None
    correct(exercise, "Both data sets: own labels, zeros for the other's, and the one-hot mask.")
