"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN and an
L1 term.

Given pairs (x, y) of a condition x (an edge map) and its target y (the face), the generator
G(x) is trained on

    L(G) = w_adv * L_adv(G) + lambda * E[|y - G(x)|_1],
    L_adv(G) = -E[log D(x, G(x))]   (non-saturating),

and the patch discriminator D on -E[log D(x, y)] - E[log(1 - D(x, G(x)))], every log averaged
over the patches of D's logit map. D sees x stacked with the image on channels, so it asks
"is this a real face *for this drawing*?". The L1 term alone regresses to the conditional mean
(blurry where the target is uncertain); the adversarial term alone gives sharp but unfaithful
images; the paper's lambda = 100 combines the two. ``Pix2Pix(..., adversarial_weight=0)`` is the
"L1 only" ablation (D is then not trained) and ``l1_weight=0`` the "GAN only" one.
``laplacian_variance`` measures the sharpness the ablation is about.

Images are in [-1, 1] (the U-Net ends with tanh): scale targets with 2 y - 1 before training.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses.adversarial import (
    discriminator_loss,
    generator_loss_non_saturating,
)


class Pix2Pix(nn.Module):
    """The pix2pix objective: a generator G(x) and a patch discriminator D([x, image])."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        l1_weight: float = 100.0,
        adversarial_weight: float = 1.0,
    ):
        super().__init__()
        if l1_weight < 0 or adversarial_weight < 0 or l1_weight + adversarial_weight == 0:
            raise ValueError(
                "l1_weight and adversarial_weight must be non-negative and not both 0, got "
                f"{l1_weight} and {adversarial_weight}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = l1_weight
        self.adversarial_weight = adversarial_weight

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """G's parameters: what ``g_optimizer`` updates."""
        return self.generator.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """D's parameters: what ``d_optimizer`` updates (held fixed during G's step)."""
        return self.discriminator.parameters()

    @property
    def uses_discriminator(self) -> bool:
        """False for the L1-only ablation: D's loss would not reach G, so D is not trained at
        all."""
        return self.adversarial_weight > 0

    def discriminator_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-mean log D(x, y) - mean log(1 - D(x, G(x))), averaged over the patch logits."""
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(inputs)
        real_logits = self.discriminator(torch.cat([inputs, targets], dim=1))  # (B, 1, h, w)
        fake_logits = self.discriminator(torch.cat([inputs, fake], dim=1))
        return discriminator_loss(real_logits, fake_logits)

    def generator_losses(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The generator's terms: ``adversarial`` (-mean log D(x, G(x))), ``l1``
        (mean |y - G(x)|) and their weighted sum ``total`` (the loss G minimises).
        ``adversarial`` is 0 in the L1-only ablation."""
        fake = self.generator(inputs)
        l1 = F.l1_loss(fake, targets)
        if self.uses_discriminator:
            adversarial = generator_loss_non_saturating(
                self.discriminator(torch.cat([inputs, fake], dim=1))
            )
        else:
            adversarial = torch.zeros((), device=fake.device)
        total = self.adversarial_weight * adversarial + self.l1_weight * l1
        return {"adversarial": adversarial, "l1": l1, "total": total}

    def translate(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.generator(inputs)
