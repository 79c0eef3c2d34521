"""The losses of the original GAN game (Goodfellow et al. 2014, ``goodfellow2014generative``).

The discriminator outputs a logit t; D = sigmoid(t) is its probability that the input is real.
Every function here takes logits, not probabilities: log sigmoid(t) and log(1 - sigmoid(t)) =
log sigmoid(-t) are then computed without ever rounding D to exactly 0 or 1, so a confident
discriminator (|t| of 20 or more) gives finite losses and finite gradients.

The value function of the game is

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],   min_G max_D V(D, G),

and on a minibatch the expectations become means over its examples (Algorithm 5.2 of the lecture
notes).
Each function returns a scalar that its player *minimises*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-(mean log D(x) + mean log(1 - D(G(z)))): minus the minibatch estimate of V(D, G).

    Minimising it is Algorithm 5.2's ascent on V for the discriminator. It is the binary
    cross-entropy with label 1 for real and label 0 for generated examples, each averaged over
    its own batch. A discriminator that outputs 1/2 everywhere, the best it can do when
    p_g = p_data, scores 2 log 2 (about 1.386).
    """
    # -mean log D(x) and -mean log(1 - D(G(z)))
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """mean log(1 - D(G(z))): the generator's own term of V, which the minimax game minimises.

    Its derivative with respect to the logit t = logit D(G(z)) is -sigmoid(t) = -D(G(z)). Early
    in training the discriminator rejects generated samples easily, D(G(z)) is close to 0, and
    the gradient vanishes just when the generator most needs it: the loss *saturates*.
    """
    return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(t)) = log sigmoid(-t)


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean log D(G(z)): the generator maximises log D(G(z)) instead of minimising
    log(1 - D(G(z))).

    Goodfellow et al. (2014) proposed it for that reason: both losses fall as D(G(z)) rises and
    they have the same fixed point, but the derivative with respect to the logit is
    -(1 - D(G(z))), close to -1 when the discriminator confidently rejects the samples, instead
    of close to 0. It is the cross-entropy of the generated samples with the "real" label.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


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


def interpolation_weights(
    batch: int,
    dim: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """One alpha ~ U[0, 1] per example, shaped (batch,) + (1,) * (dim - 1) to broadcast over an
    example.

    For images (dim 4) that is (B, 1, 1, 1), for vectors (dim 2) (B, 1). Drawing alpha per pixel
    instead (shape (B, C, H, W)) would put x_hat off the segment between the real and the generated
    example, where the optimal critic's gradient has norm 1; it is a known bug of popular code.
    """
    # Drawn on the CPU and then moved, as sample_latent: the same seed, the same alphas anywhere.
    alpha = torch.rand(batch, generator=generator, dtype=dtype).to(device)
    return alpha.view(batch, *[1] * (dim - 1))


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """mean_i (||grad_x f(x_hat_i)||_2 - 1)^2 with x_hat_i = alpha_i x_i + (1 - alpha_i) G(z_i).

    WGAN-GP's penalty (without its weight lambda). Each alpha_i ~ U[0, 1] is one number per example
    (``interpolation_weights``), and the norm runs over all of an example's entries (C, H, W for
    images). The gradient is built with ``create_graph=True``, so the penalty itself can be
    differentiated with respect to the critic's parameters and trained. ``real`` and ``fake`` are
    detached: the penalty constrains the critic only.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}."
        )
    real, fake = real.detach().float(), fake.detach().float()
    alpha = interpolation_weights(len(real), real.dim(), generator, real.device, real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)  # (B, ...)
    # float32 even inside a bfloat16 run (see course_lib.runtime.speed)
    with torch.autocast(real.device.type, enabled=False):
        scores = critic(x_hat)
    if scores.shape != (len(real),):
        raise ValueError(
            f"The critic must return one score per example, shape ({len(real)},), got "
            f"{tuple(scores.shape)}."
        )
    # Summing the scores gives every example its own gradient, since example i only affects score i.
    (gradients,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = gradients.flatten(1).norm(dim=1)  # (B,)
    return ((norms - 1) ** 2).mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """1/2 (mean (D(real) - 1)^2 + mean D(fake)^2): real patches pushed to score 1, generated ones
    to 0.

    Scores are raw outputs (no sigmoid), patch maps of any shape, each averaged over its own
    elements. A discriminator that scores 1/2 everywhere gets 1/4.
    """
    return 0.5 * ((real_scores - 1).square().mean() + fake_scores.square().mean())


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """mean (D(G(x)) - 1)^2: the generator wants its images scored as real (1)."""
    return (fake_scores - 1).square().mean()
