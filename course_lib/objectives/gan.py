"""The game of a GAN as an ``nn.Module``: ``GANObjective`` is what ``train_gan`` calls (each
player's loss, which parameters belong to which player), with the original GAN of Goodfellow et al.
(2014) and BiGAN as its two direct kinds; ``sample_latent`` draws the codes z ~ N(0, I).
"""

from __future__ import annotations

import itertools
from typing import Iterator

import torch
from torch import nn

from course_lib.losses.adversarial import (
    discriminator_loss,
    generator_loss_non_saturating,
    generator_loss_saturating,
)


def sample_latent(
    n: int,
    latent_dim: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """n codes z ~ N(0, I) as a (n, latent_dim) tensor on ``device``.

    With a CPU ``generator`` the codes are drawn on the CPU and then moved, so the same seed gives
    the same codes on every device.
    """
    return torch.randn(n, latent_dim, generator=generator).to(device)


class GANObjective(nn.Module):
    """What a GAN variant minimises; ``train_gan`` calls these methods.

    Subclasses hold their networks as attributes (so ``.to``, ``.train`` and ``.eval`` reach them)
    and define the two losses, each a scalar the player minimises, from a real minibatch ``real``
    (a tuple of minibatches when ``train_gan`` gets a tuple of tensors) and a batch of codes
    ``z``. ``discriminator_loss`` must not let gradients reach the generator's parameters
    (generate under ``torch.no_grad()`` or detach). The defaults below fit a single
    ``generator`` and ``discriminator``.
    """

    generator: nn.Module
    discriminator: nn.Module

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_discriminator_step(self) -> None:
        """Called after every discriminator update (WGAN clips the critic's weights here)."""

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        return self.generator.parameters()

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for the codes ``z`` (the snapshots of training)."""
        return self.generator(z)


GENERATOR_LOSSES = {
    "non_saturating": generator_loss_non_saturating,
    "saturating": generator_loss_saturating,
}


class StandardGAN(GANObjective):
    """The original game of Goodfellow et al. (2014): D minimises minus V(D, G); G minimises
    either its own term of V (``"saturating"``, the minimax game as written) or -log D(G(z))
    (``"non_saturating"``, the variant used in practice; see ``course_lib.losses.adversarial``)."""

    def __init__(
        self, generator: nn.Module, discriminator: nn.Module, generator_loss: str = "non_saturating"
    ):
        super().__init__()
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(
                f"generator_loss must be one of {sorted(GENERATOR_LOSSES)}, got {generator_loss!r}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.generator_loss_name = generator_loss

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(z)
        # Two separate calls, so each BatchNorm batch holds only real or only generated images.
        return discriminator_loss(self.discriminator(real), self.discriminator(fake))

    def generator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return GENERATOR_LOSSES[self.generator_loss_name](self.discriminator(self.generator(z)))


class BiGAN(GANObjective):
    """Bidirectional GAN (Donahue et al. 2017): an encoder E learns the inverse of G.

    The discriminator scores pairs: (x, E(x)) with x from the data is "real", (G(z), z) is
    "fake", and V(D, E, G) = E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]. D maximises V;
    G *and* E minimise it, as in the paper. (The lecture notes say the encoder maximises V, which
    would reward E for making its pairs easy to spot, and writes D(G(x), z) for D(G(z), z).) As for
    the plain GAN, G and E are trained with the non-saturating version: the same cross-entropy
    as D's with the labels swapped, which the paper also uses.
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator = generator
        self.encoder = encoder
        self.discriminator = discriminator

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the discriminator step updates D only
            codes, fake = self.encoder(real), self.generator(z)
        return discriminator_loss(self.discriminator(real, codes), self.discriminator(fake, z))

    def generator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        real_logits = self.discriminator(real, self.encoder(real))
        fake_logits = self.discriminator(self.generator(z), z)
        # Labels swapped: (G(z), z) counts as "real", (x, E(x)) as "fake".
        return discriminator_loss(fake_logits, real_logits)

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        return itertools.chain(self.generator.parameters(), self.encoder.parameters())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(E(x)): how much of x survives the trip through the latent space."""
        return self.generator(self.encoder(x))
