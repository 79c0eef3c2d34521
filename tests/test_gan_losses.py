"""GAN losses: agreement with the written formulas, stability on extreme logits, saturation."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.losses.adversarial import (
    discriminator_loss,
    generator_loss_non_saturating,
    generator_loss_saturating,
)

REAL_LOGITS = torch.tensor([2.0, -0.5, 0.3, 1.7])
FAKE_LOGITS = torch.tensor(
    [-1.2, 0.4, -3.0]
)  # a different batch size on purpose: each term is its own mean


def test_discriminator_loss_is_minus_the_value_function():
    d_real, d_fake = torch.sigmoid(REAL_LOGITS), torch.sigmoid(FAKE_LOGITS)
    by_hand = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    torch.testing.assert_close(discriminator_loss(REAL_LOGITS, FAKE_LOGITS), by_hand)


def test_generator_losses_match_their_formulas():
    d_fake = torch.sigmoid(FAKE_LOGITS)
    torch.testing.assert_close(generator_loss_saturating(FAKE_LOGITS), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(
        generator_loss_non_saturating(FAKE_LOGITS), -torch.log(d_fake).mean()
    )


def test_undecided_discriminator_scores_two_log_two():
    zeros = torch.zeros(5, 1)  # D = 1/2 everywhere, the optimum when p_g = p_data
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_loss_saturating(zeros).item() == pytest.approx(-math.log(2))
    assert generator_loss_non_saturating(zeros).item() == pytest.approx(math.log(2))


def test_losses_are_scalars_and_finite_for_confident_discriminators():
    logits = torch.tensor([[-100.0], [100.0]], requires_grad=True)
    losses = (
        discriminator_loss(logits, logits),
        generator_loss_saturating(logits),
        generator_loss_non_saturating(logits),
    )
    for loss in losses:
        assert loss.dim() == 0 and torch.isfinite(loss)
        (gradient,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(gradient).all()


def logit_gradient(loss_fn, logit: float) -> float:
    t = torch.tensor([logit], requires_grad=True)
    (gradient,) = torch.autograd.grad(loss_fn(t), t)
    return gradient.item()


def test_saturating_loss_vanishes_where_the_non_saturating_one_does_not():
    # D confidently rejects the generated sample: D(G(z)) = sigmoid(-10), about 4.5e-5.
    saturating = logit_gradient(generator_loss_saturating, -10.0)
    non_saturating = logit_gradient(generator_loss_non_saturating, -10.0)
    assert saturating == pytest.approx(
        -torch.sigmoid(torch.tensor(-10.0)).item()
    )  # d/dt log(1 - sigmoid t)
    assert abs(saturating) < 1e-4
    assert non_saturating == pytest.approx(-1.0, abs=1e-4)  # -(1 - sigmoid t)
    # Both push the logit up (a negative gradient of a loss to minimise); only one pushes hard.
    assert saturating < 0 and non_saturating < 0
    # Once D is fooled the roles swap: near D(G(z)) = 1 the saturating loss has the steep gradient.
    assert abs(logit_gradient(generator_loss_saturating, 10.0)) > 0.99
    assert abs(logit_gradient(generator_loss_non_saturating, 10.0)) < 1e-4
