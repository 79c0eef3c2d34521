"""The conditional GAN game (Mirza and Osindero 2014) and its measurements, for notebook 08.

With a condition y (here a class label) both players see y, and the value function becomes

    V(D, G) = E_{(x, y)}[log D(x, y)] + E_{z, y}[log(1 - D(G(z, y), y))],   min_G max_D V(D, G).

The discriminator must now reject a realistic image paired with the wrong label, so the
generator is pushed to draw the digit it was asked for: "which digit is this?" is answered by
the caller, not left to chance. Train with ``train_gan(ConditionalGAN(G, D), (images, labels), ...)``:
``train_gan`` indexes the two tensors together and hands the objective (images, labels) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.gan_losses import discriminator_loss, generator_loss_non_saturating
from course_lib.gan_training import GANObjective, sample_latent


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

    def discriminator_loss(self, real: tuple[torch.Tensor, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        images, labels = _pairs(real)
        fake_labels = self._random_labels(z)
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(z, fake_labels)
        # Separate calls, so each BatchNorm batch holds only real or only generated images.
        return discriminator_loss(self.discriminator(images, labels), self.discriminator(fake, fake_labels))

    def generator_loss(self, real: tuple[torch.Tensor, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        fake_labels = self._random_labels(z)
        return generator_loss_non_saturating(self.discriminator(self.generator(z, fake_labels), fake_labels))

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for ``z`` with the labels 0, 1, ..., n_classes - 1, 0, 1, ... in turn (for snapshots)."""
        return self.generator(z, torch.arange(len(z), device=z.device) % self.n_classes)

    def _random_labels(self, z: torch.Tensor) -> torch.Tensor:
        return torch.randint(self.n_classes, (len(z),), device=z.device)  # uniform over the classes


def _pairs(real: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(real, (tuple, list)) and len(real) == 2):
        raise TypeError(
            "ConditionalGAN trains on (images, labels) pairs: call train_gan(objective, (images, labels), ...) "
            f"with a tuple of two equally long tensors, not a {type(real).__name__}."
        )
    return real[0], real[1]


@dataclass(frozen=True)
class ConditionalAccuracy:
    """``per_class[c]``: the share of images generated for label c that the judge reads as c;
    ``overall``: their mean (the classes are equally represented)."""

    per_class: list[float]
    overall: float


@torch.no_grad()
def _generate(
    generator: nn.Module, z: torch.Tensor, labels: torch.Tensor, device: torch.device | str
) -> torch.Tensor:
    """G(z, labels) in eval mode on ``device``, mapped from (-1, 1) to [0, 1], on the CPU."""
    was_training = generator.training
    generator.eval()
    try:
        images = generator(z.to(device), labels.to(device))
    finally:
        generator.train(was_training)
    return ((images + 1) / 2).clamp(0, 1).cpu()  # clamp: tanh rounding must not fail the judge's range check


def conditional_accuracy(
    judge,
    generator: nn.Module,
    latent_dim: int,
    n_per_class: int = 100,
    device: torch.device | str = "cpu",
    generator_rng: torch.Generator | None = None,
) -> ConditionalAccuracy:
    """How often a frozen classifier agrees with the label the generator was asked for.

    acc_c = (1 / n) sum_i [judge(G(z_i, c)) = c] for n = ``n_per_class`` codes z_i ~ N(0, I) per
    class c; ``overall`` is the mean of acc_c. A generator that ignores its label scores about
    1 / n_classes (10% for digits). ``judge`` is a ``course_lib.digit_judge.DigitJudge`` (anything
    with ``predict(images in [0, 1]) -> labels``); the generator's outputs are taken to lie in
    (-1, 1) and mapped to [0, 1] first. ``generator_rng`` fixes the codes.
    """
    n_classes = generator.n_classes
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)  # (n_classes * n,): 0, 0, ..., 1, 1, ...
    z = sample_latent(len(labels), latent_dim, generator_rng)
    predicted = judge.predict(_generate(generator, z, labels, device))
    hits = (predicted.cpu() == labels).float().view(n_classes, n_per_class)
    per_class = hits.mean(dim=1)
    return ConditionalAccuracy(per_class.tolist(), per_class.mean().item())


def label_grid(
    generator: nn.Module,
    latent_dim: int,
    n_per_class: int = 8,
    device: torch.device | str = "cpu",
    generator_rng: torch.Generator | None = None,
) -> torch.Tensor:
    """A label-by-sample grid: images (n_classes * n_per_class, C, H, W) in [0, 1], row c holding class c.

    Column j uses the same code z_j in every row, so a column shows what z carries (style: slant,
    stroke width) and a row what y carries (the class). Show it with
    ``course_lib.viz.show_images(grid, nrow=n_per_class)``.
    """
    n_classes = generator.n_classes
    z = sample_latent(n_per_class, latent_dim, generator_rng).repeat(n_classes, 1)  # (n_classes * n, latent_dim)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    return _generate(generator, z, labels, device)
