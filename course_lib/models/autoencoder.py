"""Autoencoders for 28 x 28 grey images.

``ConvEncoder`` / ``ConvDecoder`` follow the convolutional MNIST autoencoder of the course's
source slides (the ML-team slides): three strided convolutions 1 -> 8 -> 16 -> 32 channels with a
BatchNorm after the second, a 288 -> 128 -> d linear head, and a mirrored decoder built from
transposed convolutions with a sigmoid at the end so outputs lie in (0, 1).

``LinearAutoencoder`` has no non-linearity at all: its optimum spans the same subspace as PCA,
which notebook 01 demonstrates.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)


def check_image_batch(x: torch.Tensor, shape: tuple[int, ...] = IMAGE_SHAPE) -> None:
    """Raise a ValueError naming the expected and actual shape unless ``x`` is (B, *shape)."""
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(
            f"Expected a batch of images of shape (B, {', '.join(map(str, shape))}), "
            f"got a tensor of shape {tuple(x.shape)}. "
            "Add the channel axis with x.unsqueeze(1) or reshape with x.view(-1, 1, 28, 28)."
        )


class ConvEncoder(nn.Module):
    """(B, 1, 28, 28) images -> (B, code_size) codes."""

    def __init__(self, code_size: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),  # (B, 8, 14, 14)
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # (B, 16, 7, 7)
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=0),  # (B, 32, 3, 3)
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, 288)
            nn.Linear(32 * 3 * 3, 128),
            nn.ReLU(),
            nn.Linear(128, code_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x)
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """(B, code_size) codes -> (B, 1, 28, 28) images in (0, 1)."""

    def __init__(self, code_size: int):
        super().__init__()
        self.code_size = code_size
        self.head = nn.Sequential(
            nn.Linear(code_size, 128),
            nn.ReLU(),
            nn.Linear(128, 32 * 3 * 3),
            nn.ReLU(),
            nn.Unflatten(1, (32, 3, 3)),  # (B, 32, 3, 3)
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, stride=2),  # (B, 16, 7, 7)
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),  # (B, 8, 14, 14)
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs: BCE on logits is more stable than BCE on probabilities."""
        if z.dim() != 2 or z.shape[1] != self.code_size:
            raise ValueError(
                f"Expected codes of shape (B, {self.code_size}), got {tuple(z.shape)}."
            )
        return self.upsample(self.head(z))


class ConvAutoencoder(nn.Module):
    """The ML-team slides' convolutional autoencoder: ``decoder(encoder(x))``."""

    def __init__(self, code_size: int = 4):
        super().__init__()
        self.code_size = code_size
        self.encoder = ConvEncoder(code_size)
        self.decoder = ConvDecoder(code_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class LinearAutoencoder(nn.Module):
    """x -> W_d (W_e x + b_e) + b_d on flattened images, with no non-linearity."""

    def __init__(self, code_size: int, image_shape: tuple[int, ...] = IMAGE_SHAPE):
        super().__init__()
        self.image_shape = image_shape
        pixels = int(torch.tensor(image_shape).prod())
        self.encoder = nn.Linear(pixels, code_size)
        self.decoder = nn.Linear(code_size, pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.image_shape)
        return self.encoder(x.flatten(1))  # (B, pixels) -> (B, code_size)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)  # (B, pixels) -> (B, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
