"""Variational autoencoders with a Gaussian encoder q(z|x) = N(mu, diag(sigma^2)) and prior N(0, I).

Every model has the same interface, which ``course_lib.evaluation.likelihood`` relies on:

- ``encode(x) -> (mu, logvar)``, each (B, latent_dim), logvar = log sigma^2;
- ``decode_logits(z) -> (B, *image_shape)``, pre-sigmoid outputs (Bernoulli logits);
- ``decode(z)`` = sigmoid(decode_logits(z)), images in (0, 1);
- ``forward(x, generator=None) -> (logits, mu, logvar)`` with one reparameterised sample z.

``MLPVAE`` is the ML-team slides' VAE, ``ConvVAE`` reuses the chapter-01 convolutional encoder and
decoder, ``FaceVAE`` follows the architecture of the VAE-restriction paper at small scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.autoencoder import (
    IMAGE_SHAPE,
    ConvDecoder,
    ConvEncoder,
    check_image_batch,
)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(0.5 logvar) and eps ~ N(0, I), same shape as mu.

    Sampling z ~ N(mu, sigma^2) directly would cut the graph: z would not be a differentiable
    function of mu and sigma. Drawing the noise eps outside the graph makes z a deterministic,
    differentiable function of (mu, logvar), so the ELBO's gradient flows to the encoder.
    The VAE-restriction paper's equation (6), Z = Z_mu + Z_sigma^2 * eps, writes the variance where
    the standard deviation belongs: multiplying eps by sigma^2 gives samples of variance
    sigma^4.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
            f"{tuple(logvar.shape)}."
        )
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


class GaussianVAE(nn.Module):
    """What all the VAEs share; subclasses define ``encode`` and ``decode_logits``."""

    latent_dim: int
    image_shape: tuple[int, ...]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode_logits(reparameterize(mu, logvar, generator)), mu, logvar

    def check_codes(self, z: torch.Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"Expected latent codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}."
            )


class MLPVAE(GaussianVAE):
    """The ML-team slides' VAE: fully connected, two hidden layers with LeakyReLU(0.2) on each side.

    Encoder: pixels -> hidden -> hidden -> (mu, logvar), two linear heads.
    Decoder: latent -> hidden -> hidden -> pixels (logits; the ML-team slides apply the
    sigmoid inside).
    """

    def __init__(
        self,
        hidden_dim: int = 400,
        latent_dim: int = 20,
        image_shape: tuple[int, ...] = IMAGE_SHAPE,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.input_dim = math.prod(self.image_shape)
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, input_dim)
            nn.Linear(self.input_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
        )
        self.mean_head = nn.Linear(hidden_dim, latent_dim)
        self.logvar_head = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, self.input_dim),
            nn.Unflatten(1, self.image_shape),  # (B, 1, 28, 28)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(x, self.image_shape)
        h = self.encoder(x)
        return self.mean_head(h), self.logvar_head(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        self.check_codes(z)
        return self.decoder(z)


class ConvVAE(GaussianVAE):
    """The chapter-01 convolutional autoencoder turned into a VAE for (B, 1, 28, 28) images.

    The encoder is ``ConvEncoder`` with 2 * latent_dim outputs, read as (mu, logvar): one linear
    layer with 2d outputs is the same as the two d-output heads of the MLP. The decoder is
    ``ConvDecoder``'s logits.
    """

    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = IMAGE_SHAPE
        self.encoder = ConvEncoder(2 * latent_dim)
        self.decoder = ConvDecoder(latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, 2d) -> (B, d), (B, d)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        self.check_codes(z)
        return self.decoder.logits(z)


def down_block(c_in: int, c_out: int) -> nn.Sequential:
    """Conv-BN-LeakyReLU halving height and width (a 4x4 kernel with stride 2 tiles exactly)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)
    )


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """ConvTranspose-BN-LeakyReLU doubling height and width."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


class FaceVAE(GaussianVAE):
    """The VAE-restriction paper's convolutional VAE, scaled down for (B, 3, size, size) faces.

    The paper (256 x 256 inputs, 200 latents): five Conv2D-BatchNorm-LeakyReLU blocks that each
    halve the image, dense layers to mu and sigma; a decoder that starts with a Dense layer of
    4,096 units, then four Conv2DTranspose-BatchNorm-LeakyReLU blocks and a last
    Conv2DTranspose with a sigmoid, each doubling the image. Here the number of blocks follows
    from ``size``: log2(size / 4) blocks bring the image down to 4 x 4, using the first
    ``channels`` (size 64: 3 -> 32 -> 64 -> 128 -> 256, and a 256 x 4 x 4 = 4,096-unit dense
    layer as in the paper; size 32: three blocks up to 128 channels). The decoder mirrors the
    encoder; its last transposed convolution outputs 3 channels of logits (``decode`` applies the
    sigmoid). With ``max_variance`` the encoder's variances are confined to (0, max_variance),
    the paper's sigma^2 < 2. The paper does not give kernel sizes or the LeakyReLU slope: 4 x 4
    kernels with stride 2 and slope 0.2 (as in the ML-team slides) are choices made here.
    """

    def __init__(
        self,
        latent_dim: int = 32,
        size: int = 64,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        max_variance: float | None = None,
    ):
        super().__init__()
        if max_variance is not None and max_variance <= 0:
            raise ValueError(f"max_variance must be positive, got {max_variance}.")
        self.max_variance = max_variance
        blocks = self.number_of_blocks(size, channels)
        widths = list(channels[:blocks])
        self.latent_dim = latent_dim
        self.size = size
        self.image_shape = (3, size, size)
        feature_shape = (widths[-1], 4, 4)
        features = math.prod(feature_shape)

        self.down = nn.Sequential(
            *(down_block(c_in, c_out) for c_in, c_out in zip([3] + widths, widths))
        )
        self.flatten = nn.Flatten()  # (B, C * 4 * 4)
        self.mean_head = nn.Linear(features, latent_dim)
        self.logvar_head = nn.Linear(features, latent_dim)

        self.dense = nn.Sequential(
            nn.Linear(latent_dim, features),
            nn.LeakyReLU(0.2),
            nn.Unflatten(1, feature_shape),  # (B, C, 4, 4)
        )
        reversed_widths = widths[::-1]
        self.up = nn.Sequential(
            *(up_block(c_in, c_out) for c_in, c_out in zip(reversed_widths, reversed_widths[1:])),
            nn.ConvTranspose2d(widths[0], 3, 4, stride=2, padding=1),  # (B, 3, size, size)
        )

    @staticmethod
    def number_of_blocks(size: int, channels: tuple[int, ...]) -> int:
        """log2(size / 4): how many halvings take the image to 4 x 4."""
        if size < 8 or size & (size - 1):  # a power of two has a single bit set
            raise ValueError(
                f"size must be a power of two of at least 8 (e.g. 32 or 64), got {size}."
            )
        blocks = size.bit_length() - 3  # log2(size) - 2
        if blocks > len(channels):
            raise ValueError(
                f"size {size} needs {blocks} blocks, but only {len(channels)} channel widths were "
                "given."
            )
        return blocks

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(x, self.image_shape)
        h = self.flatten(self.down(x))
        logvar = self.logvar_head(h)
        if self.max_variance is not None:
            # The VAE-restriction paper's constraint sigma^2 < max_variance:
            # sigma^2 = max_variance * sigmoid(.)
            logvar = math.log(self.max_variance) + F.logsigmoid(logvar)
        return self.mean_head(h), logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        self.check_codes(z)
        return self.up(self.dense(z))
