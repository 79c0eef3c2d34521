"""The losses of the original GAN game (Goodfellow et al. 2014, ``goodfellow2014generative``).

The discriminator outputs a logit t; D = sigmoid(t) is its probability that the input is real.
Every function here takes logits, not probabilities: log sigmoid(t) and log(1 - sigmoid(t)) =
log sigmoid(-t) are then computed without ever rounding D to exactly 0 or 1, so a confident
discriminator (|t| of 20 or more) gives finite losses and finite gradients.

The value function of the game is

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],   min_G max_D V(D, G),

and on a minibatch the expectations become means over its examples (Algorithm 5.2 of seed 002).
Each function returns a scalar that its player *minimises*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-(mean log D(x) + mean log(1 - D(G(z)))): minus the minibatch estimate of V(D, G).

    Minimising it is Algorithm 5.2's ascent on V for the discriminator. It is the binary
    cross-entropy with label 1 for real and label 0 for generated examples, each averaged over
    its own batch. A discriminator that outputs 1/2 everywhere, the best it can do when
    p_g = p_data, scores 2 log 2 (about 1.386).
    """
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))  # -mean log D(x)
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))  # -mean log(1-D)
    return real_term + fake_term


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """mean log(1 - D(G(z))): the generator's own term of V, which the minimax game minimises.

    Its derivative with respect to the logit t = logit D(G(z)) is -sigmoid(t) = -D(G(z)). Early
    in training the discriminator rejects generated samples easily, D(G(z)) is close to 0, and
    the gradient vanishes just when the generator most needs it: the loss *saturates*.
    """
    return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(t)) = log sigmoid(-t)


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean log D(G(z)): the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))).

    Goodfellow et al. (2014) proposed it for that reason: both losses fall as D(G(z)) rises and
    they have the same fixed point, but the derivative with respect to the logit is
    -(1 - D(G(z))), close to -1 when the discriminator confidently rejects the samples, instead
    of close to 0. It is the cross-entropy of the generated samples with the "real" label.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
