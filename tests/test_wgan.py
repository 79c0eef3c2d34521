"""WGAN and WGAN-GP: the losses, weight clipping, the gradient penalty, the critics and short
training runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.evaluation.sample_quality import em_distance_1d
from course_lib.losses.adversarial import (
    critic_loss,
    gradient_penalty,
    interpolation_weights,
    wasserstein_estimate,
    wasserstein_generator_loss,
)
from course_lib.models.critic import DCGANCritic, MLPCritic
from course_lib.models.gan import DCGANDiscriminator
from course_lib.objectives.gan import sample_latent
from course_lib.objectives.wgan import WGANGP, WGANClip, clip_weights_
from course_lib.training.adversarial import train_gan

pytestmark = pytest.mark.usefixtures("quiet_progress")

LATENT = 2
IMAGE = (2, 3, 3)  # (C, H, W) of the small images below


class LinearCritic(nn.Module):
    """f(x) = <w, x> over all of an example's entries; it records the inputs it scores."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return (x * self.w).flatten(1).sum(1)  # (B,)


def small_critic(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))


@pytest.mark.parametrize("example_shape", [(5,), IMAGE])
def test_penalty_of_a_linear_critic_is_squared_norm_minus_one(example_shape):
    w = torch.randn(example_shape, generator=torch.Generator().manual_seed(1))
    real = torch.randn(8, *example_shape)
    fake = torch.randn(8, *example_shape)
    penalty = gradient_penalty(LinearCritic(w), real, fake)
    torch.testing.assert_close(penalty, (w.norm() - 1) ** 2)  # grad f = w at every x_hat


def test_one_alpha_per_example():
    critic = LinearCritic(torch.ones(IMAGE))
    real, fake = torch.zeros(16, *IMAGE), torch.ones(16, *IMAGE)
    gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    (x_hat,) = (
        critic.inputs
    )  # x_hat = 1 - alpha, constant within an example if alpha is per example
    per_example_mean = x_hat.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(x_hat - per_example_mean, torch.zeros_like(x_hat))
    assert per_example_mean.flatten().unique().numel() == 16  # but different across examples
    assert ((x_hat >= 0) & (x_hat <= 1)).all()


@pytest.mark.parametrize(("dim", "shape"), [(2, (6, 1)), (4, (6, 1, 1, 1)), (1, (6,))])
def test_interpolation_weights_shape_and_range(dim, shape):
    alpha = interpolation_weights(6, dim, generator=torch.Generator().manual_seed(0))
    assert alpha.shape == shape
    assert ((alpha >= 0) & (alpha <= 1)).all()


def test_interpolation_weights_follow_the_generator():
    draw = lambda: interpolation_weights(4, 4, generator=torch.Generator().manual_seed(3))  # noqa: E731
    assert torch.equal(draw(), draw())


def test_gradient_penalty_checks_its_inputs():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(small_critic(), torch.zeros(4, 1), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"one score per example, shape \(4,\)"):
        gradient_penalty(nn.Linear(1, 1), torch.zeros(4, 1), torch.ones(4, 1))  # scores (4, 1)


def test_losses_match_their_formulas():
    real_scores = torch.tensor([1.0, 2.0, 6.0])
    fake_scores = torch.tensor([-1.0, 0.5])
    assert critic_loss(real_scores, fake_scores).item() == pytest.approx(-0.25 - 3.0)
    assert wasserstein_generator_loss(fake_scores).item() == pytest.approx(0.25)
    assert wasserstein_estimate(real_scores, fake_scores).item() == pytest.approx(3.25)
    assert critic_loss(real_scores, fake_scores) == -wasserstein_estimate(real_scores, fake_scores)


def test_em_distance_1d_of_two_point_masses_is_the_shift():
    for theta in (-2.0, 0.0, 0.5):
        assert em_distance_1d(torch.zeros(10), torch.full((10,), theta)).item() == pytest.approx(
            abs(theta)
        )
    # matched in sorted order: {0, 1} vs {1.5, 0.5} moves 0 -> 0.5 and 1 -> 1.5
    assert em_distance_1d(
        torch.tensor([0.0, 1.0]), torch.tensor([1.5, 0.5])
    ).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same size"):
        em_distance_1d(torch.zeros(3), torch.zeros(4))


def test_clipping_clamps_every_parameter_and_leaves_in_range_ones_alone():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.linspace(-1, 1, 12).view(4, 3))
    before = [p.detach().clone() for p in model.parameters()]
    clip_weights_(model, 0.05)
    for old, new in zip(before, model.parameters()):
        assert ((new >= -0.05) & (new <= 0.05)).all()
        inside = old.abs() <= 0.05
        assert torch.equal(new[inside], old[inside])
        assert torch.equal(new[~inside], old[~inside].sign() * 0.05)
    assert torch.equal(
        model[1].weight, torch.full((4,), 0.05)
    )  # BatchNorm's scale, 1 at first, is clipped too
    assert torch.equal(model[1].running_var, torch.ones(4))  # its buffers are not
    with pytest.raises(ValueError, match="positive"):
        clip_weights_(model, 0.0)


def test_wgan_gp_rejects_a_batchnorm_critic():
    generator = nn.Linear(LATENT, 28 * 28)
    with pytest.raises(ValueError, match=r"BatchNorm.*LayerNorm"):
        WGANGP(generator, DCGANDiscriminator(image_size=28, width=8))
    with pytest.raises(ValueError, match="BatchNorm"):
        WGANGP(generator, nn.Sequential(nn.Linear(1, 4), nn.BatchNorm1d(4)))
    WGANGP(generator, DCGANCritic(image_size=28, width=8))  # layer normalisation is fine


def test_penalty_is_differentiable_with_respect_to_the_critic():
    critic = small_critic()
    penalty = gradient_penalty(critic, torch.randn(8, 1), torch.randn(8, 1) + 2)
    penalty.backward()
    for layer in (critic[0], critic[2]):
        assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
        assert layer.weight.grad.abs().sum() > 0
    # The output bias shifts f without changing grad_x f, so the penalty does not reach it.
    assert critic[2].bias.grad is None


@pytest.mark.parametrize("layer_norm", [True, False])
def test_dcgan_critic_scores_each_example_on_its_own(layer_norm):
    torch.manual_seed(0)
    critic = DCGANCritic(image_size=28, channels=1, width=4, layer_norm=layer_norm)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    x = torch.randn(3, 1, 28, 28)
    scores = critic(x)
    assert scores.shape == (3,)
    x[1:] = torch.randn(2, 1, 28, 28)  # other examples change, the first score does not
    torch.testing.assert_close(critic(x)[0], scores[0])
    penalty = gradient_penalty(critic, x, torch.randn(3, 1, 28, 28))
    assert penalty.ndim == 0 and torch.isfinite(penalty)
    assert MLPCritic(image_shape=(1, 28, 28))(x).shape == (3,)


def toy_data(n: int = 320, mean: float = 3.0) -> torch.Tensor:
    return mean + 0.5 * torch.randn(n, 1, generator=torch.Generator().manual_seed(123))


def test_wgan_gp_moves_the_generator_toward_the_data():
    data = toy_data()
    torch.manual_seed(0)
    objective = WGANGP(nn.Linear(LATENT, 1), small_critic())
    z = sample_latent(256, LATENT, torch.Generator().manual_seed(5))
    with torch.no_grad():
        start_gap = (objective.sample(z).mean() - data.mean()).abs()
    history = train_gan(
        objective,
        data,
        epochs=150,  # 320 // 32 = 10 batches: 2 generator steps an epoch, 300 in all
        batch_size=32,
        d_steps=5,
        latent_dim=LATENT,
        d_optimizer=torch.optim.Adam(
            objective.discriminator_parameters(), lr=1e-2, betas=(0.0, 0.9)
        ),
        g_optimizer=torch.optim.Adam(objective.generator_parameters(), lr=1e-2, betas=(0.0, 0.9)),
        epoch_metrics=lambda trained: {"w1": trained.estimate(data[:256], z)},  # fixed batches
    )
    with torch.no_grad():
        end_gap = (objective.sample(z).mean() - data.mean()).abs()
    # Seeds 0-5 all end below 0.31 of the starting gap.
    assert end_gap < 0.4 * start_gap, (start_gap, end_gap)
    estimates = torch.tensor(history.metrics["w1"])
    assert torch.isfinite(estimates).all()
    assert estimates[0] > 0  # generated samples far from the data: the critic tells them apart
    # Close to the data the estimate hovers around 0 (the critic lags the generator, so either
    # sign).
    assert estimates[-10:].abs().mean() < 0.5 * estimates.max(), estimates


def test_wgan_clip_keeps_every_critic_weight_in_range():
    torch.manual_seed(0)
    critic = small_critic()
    objective = WGANClip(nn.Linear(LATENT, 1), critic, clip=0.05)
    assert all(p.abs().max() <= 0.05 for p in critic.parameters())  # clipped from the start
    train_gan(
        objective,
        toy_data(),
        epochs=10,
        batch_size=32,
        d_steps=5,
        latent_dim=LATENT,
        d_optimizer=torch.optim.RMSprop(objective.discriminator_parameters(), lr=1e-2),
        g_optimizer=torch.optim.RMSprop(objective.generator_parameters(), lr=1e-2),
    )
    weights = torch.cat([p.detach().flatten() for p in critic.parameters()])
    assert weights.abs().max() <= 0.05
    assert (weights.abs() == 0.05).any()  # the large learning rate pushed some onto the bound
    assert objective.critic is critic
