"""The conditional GAN game (Mirza and Osindero 2014) and its measurements, for notebook 08.

With a condition y (here a class label) both players see y, and the value function becomes

    V(D, G) = E_{(x, y)}[log D(x, y)] + E_{z, y}[log(1 - D(G(z, y), y))],   min_G max_D V(D, G).

The discriminator must now reject a realistic image paired with the wrong label, so the
generator is pushed to draw the digit it was asked for: "which digit is this?" is answered by
the caller, not left to chance. Train with
``train_gan(ConditionalGAN(G, D), (images, labels), ...)``: ``train_gan`` indexes the two tensors
together and hands the objective (images, labels) pairs.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.losses.adversarial import (
    discriminator_loss,
    generator_loss_non_saturating,
)
from course_lib.objectives.gan import GANObjective


class ConditionalGAN(GANObjective):
    """The conditional game with the non-saturating generator loss.

    D minimises -[mean log D(x, y) + mean log(1 - D(G(z, y'), y'))] on real pairs (x, y) and on
    fakes whose labels y' are drawn uniformly from the classes (so every class is trained equally
    often, whatever the data's class balance); G minimises -mean log D(G(z, y'), y'). The labels
    come from torch's global random stream, which ``train_gan`` seeds.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        if generator.n_classes != discriminator.n_classes:
            raise ValueError(
                f"The generator draws {generator.n_classes} classes but the discriminator scores "
                f"{discriminator.n_classes}; build both with the same n_classes."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.n_classes = generator.n_classes

    def discriminator_loss(
        self, real: tuple[torch.Tensor, torch.Tensor], z: torch.Tensor
    ) -> torch.Tensor:
        images, labels = _pairs(real)
        fake_labels = self._random_labels(z)
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(z, fake_labels)
        # Separate calls, so each BatchNorm batch holds only real or only generated images.
        return discriminator_loss(
            self.discriminator(images, labels), self.discriminator(fake, fake_labels)
        )

    def generator_loss(
        self, real: tuple[torch.Tensor, torch.Tensor], z: torch.Tensor
    ) -> torch.Tensor:
        fake_labels = self._random_labels(z)
        return generator_loss_non_saturating(
            self.discriminator(self.generator(z, fake_labels), fake_labels)
        )

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for ``z`` with the labels 0, 1, ..., n_classes - 1, 0, 1, ... in turn (for
        snapshots)."""
        return self.generator(z, torch.arange(len(z), device=z.device) % self.n_classes)

    def _random_labels(self, z: torch.Tensor) -> torch.Tensor:
        return torch.randint(self.n_classes, (len(z),), device=z.device)  # uniform over the classes


def _pairs(real: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(real, (tuple, list)) and len(real) == 2):
        raise TypeError(
            "ConditionalGAN trains on (images, labels) pairs: call "
            "train_gan(objective, (images, labels), ...) with a tuple of two equally long "
            f"tensors, not a {type(real).__name__}."
        )
    return real[0], real[1]
