"""StarGAN (Choi et al. 2018): one generator for translations between many domains, with the mask
vector.

A single generator G(x, c) turns an image x into the domain of the target condition c. The
discriminator D has two heads: D_src scores real against generated images (a patch map), D_cls
predicts the labels. With the WGAN-GP adversarial term, as in the paper,

    L_adv   = E[D_src(x)] - E[D_src(G(x, c))] - lambda_gp E[(||grad D_src(x_hat)||_2 - 1)^2]
    L_cls^r = E[-log D_cls(c' | x)]            (real images, their own labels c')
    L_cls^f = E[-log D_cls(c | G(x, c))]       (translations, the target labels c)
    L_rec   = E[|x - G(G(x, c), c')|_1]         (translate to c and back to c': x again)

    L_D = -L_adv + lambda_cls L_cls^r,   L_G = L_adv + lambda_cls L_cls^f + lambda_rec L_rec,

with lambda_cls = 1, lambda_rec = 10, lambda_gp = 10 (G only sees the term E[D_src(x)] -
E[D_src(G(x, c))] of L_adv that depends on it). D_src's map is averaged over its patches, and
the penalty's x_hat lies between a real image and its translation (one alpha per example).

Labels follow the layout of ``course_lib.data.face_domains``: two data sets with different
labels and a mask vector m saying which one an example comes from. ``domain_classification_loss``
implements -log D_cls(c | x) as in the paper's code, summed over the attribute groups of the
example's *own* data set only: a softmax cross-entropy for each one-hot group (hair colour:
5-way, expression: 5-way) and a binary cross-entropy for the binary one (glasses). The logits of
the other data set's labels play no part. (CelebA's labels are independent binary attributes, so
the paper uses a binary cross-entropy for each; the groups here are mutually exclusive values,
for which a softmax is the exact likelihood.) The paper alternates minibatches of one data set
or the other; here a minibatch mixes them and each example counts its own labels.

Target conditions are drawn within each example's own data set (uniform values,
``random_target_conditions``); the paper's code shuffles the batch's real labels instead, which
gives the same thing for balanced labels. Images are in [-1, 1] (tanh generator): scale faces
with 2 x - 1 before training.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from course_lib.data.face_conditions import check_conditions
from course_lib.data.face_domains import random_target_conditions
from course_lib.losses.adversarial import (
    critic_loss,
    gradient_penalty,
    wasserstein_generator_loss,
)
from course_lib.losses.translation import (
    domain_classification_loss,
    reconstruction_loss,
)


class _SourceScores(nn.Module):
    """D_src averaged over its patches: one critic score (B,) per image, as ``gradient_penalty``
    needs."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        src, _ = self.discriminator(x)
        return src.flatten(1).mean(dim=1)


class StarGAN(nn.Module):
    """The StarGAN objective: a generator G(x, c) and a discriminator
    D(x) -> (src map, class logits).

    Both loss methods take real images (B, C, S, S) in [-1, 1] and their conditions (B, 13);
    ``target`` (B, 13) fixes the target conditions, which are otherwise drawn within each
    example's data set from torch's global random stream (``train_stargan`` seeds it).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        cls_weight: float = 1.0,
        rec_weight: float = 10.0,
        gp_weight: float = 10.0,
    ):
        super().__init__()
        if min(cls_weight, rec_weight, gp_weight) < 0:
            raise ValueError(
                "cls_weight, rec_weight and gp_weight must be non-negative, got "
                f"{cls_weight}, {rec_weight} and {gp_weight}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.cls_weight, self.rec_weight, self.gp_weight = cls_weight, rec_weight, gp_weight

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """G's parameters: what ``g_optimizer`` updates."""
        return self.generator.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """D's parameters: what ``d_optimizer`` updates (held fixed during G's step)."""
        return self.discriminator.parameters()

    def targets(self, condition: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """``target`` checked against ``condition``'s batch, or random targets within each
        example's data set."""
        dataset = check_conditions(condition)
        if target is None:
            return random_target_conditions(dataset).to(condition)
        check_conditions(target)
        if target.shape != condition.shape:
            raise ValueError(
                f"Got {len(condition)} conditions and {len(target)} targets; give one target per "
                "image."
            )
        return target

    def discriminator_losses(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """D's terms: ``critic`` (mean D_src(G(x, c)) - mean D_src(x)), ``penalty`` (the gradient
        penalty, unweighted), ``classification`` (L_cls^r on the real images) and
        ``total`` = L_D."""
        target = self.targets(condition, target)
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(real, target)
        real_src, real_cls = self.discriminator(real)
        fake_src, _ = self.discriminator(fake)
        critic = critic_loss(real_src, fake_src)  # means over examples and patches
        # The penalty's alpha comes from torch's global stream, which train_stargan seeds.
        penalty = gradient_penalty(_SourceScores(self.discriminator), real, fake)
        classification = domain_classification_loss(real_cls, condition)
        total = critic + self.gp_weight * penalty + self.cls_weight * classification
        return {
            "critic": critic,
            "penalty": penalty,
            "classification": classification,
            "total": total,
        }

    def discriminator_loss(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """L_D = -L_adv + lambda_cls L_cls^r, the scalar D minimises."""
        return self.discriminator_losses(real, condition, target)["total"]

    def generator_losses(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """G's terms: ``adversarial`` (-mean D_src(G(x, c))), ``classification`` (L_cls^f, the
        target labels on the translations), ``reconstruction`` (L_rec) and ``total`` = L_G."""
        target = self.targets(condition, target)
        fake = self.generator(real, target)
        fake_src, fake_cls = self.discriminator(fake)
        adversarial = wasserstein_generator_loss(fake_src)
        classification = domain_classification_loss(fake_cls, target)
        back = self.generator(fake, condition)  # translated back to its own labels c'
        reconstruction = reconstruction_loss(real, back)
        total = adversarial + self.cls_weight * classification + self.rec_weight * reconstruction
        return {
            "adversarial": adversarial,
            "classification": classification,
            "reconstruction": reconstruction,
            "total": total,
        }

    def translate(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """G(x, c): ``images`` (B, C, S, S) in [-1, 1] translated to the conditions ``target``
        (B, 13)."""
        return self.generator(images, target)
