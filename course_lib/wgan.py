"""Wasserstein GANs: the critic's losses, weight clipping and the gradient penalty (notebook 07).

The Earth-Mover (Wasserstein-1) distance between the data distribution P_r and the generator's
P_g is, by the Kantorovich-Rubinstein duality,

    W1(P_r, P_g) = sup_{||f||_L <= 1} E_{x~P_r}[f(x)] - E_{x~P_g}[f(x)],

the supremum over 1-Lipschitz functions f. WGAN (Arjovsky et al. 2017) trains a network f, the
*critic*, to reach that supremum, and the generator to lower the estimate. The critic returns a
raw score (B,), not a probability: there is no sigmoid and no log anywhere. The Lipschitz
constraint is what makes the score a distance; it is enforced either by clipping the critic's
weights (``WGANClip``) or by a gradient penalty on points between real and generated examples
(``WGANGP``, Gulrajani et al. 2017). As in ``course_lib.gan_losses``, every loss is a scalar its
player *minimises*, and both objectives plug into ``course_lib.gan_training.train_gan``, whose
``d_steps`` is the papers' n_critic.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from course_lib.digit_judge import DigitJudge
from course_lib.gan_metrics import classifier_frechet_distance
from course_lib.gan_training import GANObjective, sample_latent


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean f(G(z)) - mean f(x): minus the minibatch estimate of W1, which the critic minimises."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-mean f(G(z)): the only term of the W1 estimate that depends on the generator."""
    return -fake_scores.mean()


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean f(x) - mean f(G(z)): the critic's estimate of W1(P_r, P_g).

    It is a lower bound of W1 times the critic's Lipschitz constant K (K = 1 for a perfect
    gradient penalty; some unknown K for clipping), so compare it only within one run.
    """
    return real_scores.mean() - fake_scores.mean()


def em_distance_1d(points_a: torch.Tensor, points_b: torch.Tensor) -> torch.Tensor:
    """W1 between the empirical distributions of two equal-size 1-D samples: mean |a_(i) - b_(i)|.

    In one dimension the optimal transport plan matches the i-th smallest point of one sample with
    the i-th smallest of the other, so no optimisation is needed.
    """
    if points_a.dim() != 1 or points_a.shape != points_b.shape:
        raise ValueError(
            f"em_distance_1d needs two 1-D samples of the same size, got shapes {tuple(points_a.shape)} "
            f"and {tuple(points_b.shape)}."
        )
    return (points_a.sort().values - points_b.sort().values).abs().mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> nn.Module:
    """Clamp every parameter of ``module`` into [-c, c] in place (WGAN's weight clipping).

    As in the original WGAN, *all* parameters are clipped, biases included: with every weight
    bounded the critic is K-Lipschitz for some K that depends only on c and the architecture.
    BatchNorm's scale and shift are parameters too, so they are clipped as well (the scale,
    which starts at 1, is pushed down to c); its running mean and variance are buffers and stay
    untouched. Because BatchNorm divides by the batch's spread, it can undo the shrinking of the
    weights before it, one reason clipping is a crude way to enforce the constraint.
    """
    if c <= 0:
        raise ValueError(f"The clipping bound c must be positive, got {c}.")
    for parameter in module.parameters():
        parameter.clamp_(-c, c)
    return module


def interpolation_weights(
    batch: int,
    dim: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """One alpha ~ U[0, 1] per example, shaped (batch,) + (1,) * (dim - 1) to broadcast over an example.

    For images (dim 4) that is (B, 1, 1, 1), for vectors (dim 2) (B, 1). Drawing alpha per pixel
    instead (shape (B, C, H, W)) would put x_hat off the segment between the real and the generated
    example, where the optimal critic's gradient has norm 1; it is a known bug of popular code.
    """
    alpha = torch.rand(batch, generator=generator, dtype=dtype).to(device)  # drawn on the CPU, as sample_latent
    return alpha.view(batch, *[1] * (dim - 1))


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """mean_i (||grad_x f(x_hat_i)||_2 - 1)^2 with x_hat_i = alpha_i x_i + (1 - alpha_i) G(z_i).

    WGAN-GP's penalty (without its weight lambda). Each alpha_i ~ U[0, 1] is one number per example
    (``interpolation_weights``), and the norm runs over all of an example's entries (C, H, W for
    images). The gradient is built with ``create_graph=True``, so the penalty itself can be
    differentiated with respect to the critic's parameters and trained. ``real`` and ``fake`` are
    detached: the penalty constrains the critic only.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}.")
    real, fake = real.detach().float(), fake.detach().float()
    alpha = interpolation_weights(len(real), real.dim(), generator, real.device, real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)  # (B, ...)
    with torch.autocast(real.device.type, enabled=False):  # float32 even inside a bfloat16 run (see course_lib.speed)
        scores = critic(x_hat)
    if scores.shape != (len(real),):
        raise ValueError(
            f"The critic must return one score per example, shape ({len(real)},), got {tuple(scores.shape)}."
        )
    # Summing the scores gives every example its own gradient, since example i only affects score i.
    (gradients,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = gradients.flatten(1).norm(dim=1)  # (B,)
    return ((norms - 1) ** 2).mean()


class WassersteinGAN(GANObjective):
    """The WGAN game without its Lipschitz constraint: the critic minimises ``critic_loss``, the
    generator ``wasserstein_generator_loss``. ``WGANClip`` and ``WGANGP`` add the constraint."""

    def __init__(self, generator: nn.Module, critic: nn.Module):
        super().__init__()
        self.generator = generator
        self.discriminator = critic  # the name train_gan and GANObjective use

    @property
    def critic(self) -> nn.Module:
        return self.discriminator

    def scores(self, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fake, f(real), f(fake)), with the fake examples generated without gradients."""
        with torch.no_grad():  # the critic step updates the critic only
            fake = self.generator(z)
        return fake, self.critic(real), self.critic(fake)

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        _, real_scores, fake_scores = self.scores(real, z)
        return critic_loss(real_scores, fake_scores)

    def generator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return wasserstein_generator_loss(self.critic(self.generator(z)))

    @torch.no_grad()
    def estimate(self, real: torch.Tensor, z: torch.Tensor) -> float:
        """The critic's W1 estimate between ``real`` and the samples of ``z`` (for plots and metrics)."""
        _, real_scores, fake_scores = self.scores(real, z)
        return float(wasserstein_estimate(real_scores, fake_scores))


class WGANClip(WassersteinGAN):
    """WGAN with weight clipping (Arjovsky et al. 2017): every critic parameter is clamped into
    [-clip, clip] after each critic update (and once when the objective is built, in place).

    The paper's settings: clip = 0.01, RMSProp with learning rate 5e-5 for both players (momentum
    methods such as Adam made training unstable), n_critic = 5 (``train_gan(..., d_steps=5)``).
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, clip: float = 0.01):
        if clip <= 0:
            raise ValueError(f"clip must be positive, got {clip}.")
        super().__init__(generator, critic)
        self.clip = clip
        clip_weights_(self.critic, clip)  # the constraint holds from the first critic step

    def after_discriminator_step(self) -> None:
        clip_weights_(self.critic, self.clip)


class WGANGP(WassersteinGAN):
    """WGAN-GP (Gulrajani et al. 2017): the critic minimises

        mean f(G(z)) - mean f(x) + lambda * mean (||grad f(x_hat)||_2 - 1)^2,

    the penalty pulling the gradient norm towards 1 on random points between real and generated
    examples, where the optimal 1-Lipschitz critic has gradient norm exactly 1.

    The paper's settings: lambda = 10, Adam with learning rate 1e-4 and betas (0.0, 0.9),
    n_critic = 5 (``train_gan(..., d_steps=5)``). The critic must not use BatchNorm: the penalty
    is per example, and BatchNorm makes each score depend on the whole batch, so the gradient of
    f(x_hat_i) is no longer about x_hat_i alone. Layer normalisation or none is the fix.
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, penalty_weight: float = 10.0):
        batch_norms = [  # _BatchNorm is the base of BatchNorm1d/2d/3d, their lazy versions and SyncBatchNorm
            name or type(critic).__name__
            for name, layer in critic.named_modules()
            if isinstance(layer, nn.modules.batchnorm._BatchNorm)
        ]
        if batch_norms:
            raise ValueError(
                f"WGAN-GP's critic must not use BatchNorm (found it at {', '.join(batch_norms)}): the gradient "
                "penalty is per example, and BatchNorm mixes the examples of a batch. Use LayerNorm or no "
                "normalisation, for example course_lib.models.critic.DCGANCritic instead of DCGANDiscriminator."
            )
        if penalty_weight < 0:
            raise ValueError(f"penalty_weight must be non-negative, got {penalty_weight}.")
        super().__init__(generator, critic)
        self.penalty_weight = penalty_weight

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        fake, real_scores, fake_scores = self.scores(real, z)
        # alpha comes from torch's global stream, which train_gan seeds for every run
        penalty = gradient_penalty(self.critic, real, fake)
        return critic_loss(real_scores, fake_scores) + self.penalty_weight * penalty


def frechet_and_critic_monitor(
    judge: DigitJudge, held_out: torch.Tensor, latent_dim: int, device: torch.device | str, seed: int = 3
) -> Callable[[WassersteinGAN], dict[str, float]]:
    """Per-epoch measurements for a WGAN on MNIST (``train_gan``'s ``epoch_metrics``).

    From ``len(held_out)`` samples of fixed codes (seeded by ``seed``): the digit-classifier Frechet
    distance to ``held_out`` (images in [0, 1]) and the critic's Wasserstein estimate between
    ``held_out`` and the samples. Notebook 07 and ``python -m course_lib.train wgan-gp`` both use it,
    so a loaded checkpoint carries the same curves as a run in the notebook.
    """
    held_out_scaled = (held_out * 2 - 1).to(device)  # the critic sees [-1, 1], like the generator's outputs

    def measure(objective: WassersteinGAN) -> dict[str, float]:
        with torch.no_grad():
            z = sample_latent(len(held_out), latent_dim, torch.Generator().manual_seed(seed)).to(device)
            samples = objective.sample(z)
            w_estimate = wasserstein_estimate(objective.critic(held_out_scaled), objective.critic(samples)).item()
        return {"frechet_distance": classifier_frechet_distance(judge, ((samples + 1) / 2).clamp(0, 1), held_out),
                "critic_w1": w_estimate}

    return measure
