"""A small CNN that names the digit in a 28 x 28 MNIST image.

Two Conv-ReLU-MaxPool blocks (28 -> 14 -> 7) and a linear layer give a feature vector; a linear
head turns it into ten logits. Trained on MNIST it becomes the course's frozen digit judge
(``course_lib.evaluation.digit_judge``), which scores generated digits, and its feature vector is
the space in which real and generated digits can be compared by a Frechet distance.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
N_DIGITS = 10


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    # No batch norm: with it, stochastically binarized digits (what RBM samples look like) were
    # classified about 2 points worse (95% instead of 97% held-out) by an otherwise equal network.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class DigitClassifier(nn.Module):
    """Logits (B, 10) for digits (B, 1, 28, 28) in [0, 1]; ``features`` gives the layer before."""

    def __init__(self, widths: Sequence[int] = (32, 64), feature_size: int = 128) -> None:
        super().__init__()
        if len(widths) != 2:
            raise ValueError(
                f"widths gives the channels of the two conv blocks, got {len(widths)} values."
            )
        self.feature_size = feature_size
        self.trunk = nn.Sequential(
            _conv_block(IMAGE_SHAPE[0], widths[0]),  # (B, w0, 14, 14)
            _conv_block(widths[0], widths[1]),  # (B, w1, 7, 7)
            nn.Flatten(),  # (B, w1 * 49)
            nn.Linear(widths[1] * 7 * 7, feature_size),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(feature_size, N_DIGITS)

    def check_input(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(
                "DigitClassifier expects images of shape (B, 1, 28, 28), "
                f"got {tuple(images.shape)}. Fix: reshape flattened digits (B, 784) with "
                "images.view(-1, 1, 28, 28)."
            )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The feature vector (B, feature_size) the head reads, e.g. for a Frechet distance."""
        self.check_input(images)
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # (B, 10)


def digit_loss(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits against the true digits (B,)."""
    return nn.functional.cross_entropy(model(images), labels)
