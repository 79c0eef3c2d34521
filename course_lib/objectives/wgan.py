"""Wasserstein GANs: the critic's losses, weight clipping and the gradient penalty (notebook 07).

The Earth-Mover (Wasserstein-1) distance between the data distribution P_r and the generator's
P_g is, by the Kantorovich-Rubinstein duality,

    W1(P_r, P_g) = sup_{||f||_L <= 1} E_{x~P_r}[f(x)] - E_{x~P_g}[f(x)],

the supremum over 1-Lipschitz functions f. WGAN (Arjovsky et al. 2017) trains a network f, the
*critic*, to reach that supremum, and the generator to lower the estimate. The critic returns a
raw score (B,), not a probability: there is no sigmoid and no log anywhere. The Lipschitz
constraint is what makes the score a distance; it is enforced either by clipping the critic's
weights (``WGANClip``) or by a gradient penalty on points between real and generated examples
(``WGANGP``, Gulrajani et al. 2017). As in ``course_lib.losses.adversarial``, every loss is a
scalar its player *minimises*, and both objectives plug into
``course_lib.training.adversarial.train_gan``, whose ``d_steps`` is the papers' n_critic.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.losses.adversarial import (
    critic_loss,
    gradient_penalty,
    wasserstein_estimate,
    wasserstein_generator_loss,
)
from course_lib.objectives.gan import GANObjective


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

    def scores(
        self, real: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
        """The critic's W1 estimate between ``real`` and the samples of ``z`` (for plots and
        metrics)."""
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
        # _BatchNorm is the base of BatchNorm1d/2d/3d, their lazy versions and SyncBatchNorm.
        batch_norms = [
            name or type(critic).__name__
            for name, layer in critic.named_modules()
            if isinstance(layer, nn.modules.batchnorm._BatchNorm)
        ]
        if batch_norms:
            raise ValueError(
                f"WGAN-GP's critic must not use BatchNorm (found it at {', '.join(batch_norms)}): "
                "the gradient penalty is per example, and BatchNorm mixes the examples of a batch. "
                "Use LayerNorm or no normalisation, for example "
                "course_lib.models.critic.DCGANCritic instead of DCGANDiscriminator."
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
