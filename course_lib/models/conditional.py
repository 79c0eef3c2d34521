"""Class-conditional generators and discriminators for notebook 08 (Mirza and Osindero 2014).

A conditional GAN gives both players the condition y: G(z, y) draws an image of class y, and
D(x, y) scores whether x is a real image *of class y*. Here y is a class label turned into a
one-hot vector of length ``n_classes`` and joined to the players' usual inputs:

- MLP models concatenate it to z (generator) or to the flattened image (discriminator);
- DCGAN models concatenate it to z before the first transposed convolution (generator), and
  to the image as ``n_classes`` constant channels (discriminator), so every convolution of the
  first layer sees the label at every pixel.

Every model takes ``y`` either as integer labels (B,) in [0, n_classes) or as condition vectors
(B, n_classes) (one-hot rows, or any soft mixture of classes), and raises a ValueError that names
the valid range and the fix for anything else. Conventions otherwise follow
``course_lib.models.gan``: z is (B, latent_dim), images lie in (-1, 1), discriminators return
logits (B,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.gan import (
    MNIST_SHAPE,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPGenerator,
    check_codes,
    check_images,
    mlp,
)


def as_condition(y: torch.Tensor, n_classes: int, batch: int, model: str) -> torch.Tensor:
    """Labels (B,) or condition vectors (B, n_classes) as float condition vectors (B, n_classes).

    Raises a ValueError naming the expected shape, the valid label range and the fix when ``y``
    is neither, holds a label outside [0, n_classes), or has a row count other than ``batch``.
    """
    if y.dim() == 1 and not y.is_floating_point() and not y.is_complex():
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"{model} takes class labels in [0, {n_classes - 1}] ({n_classes} classes), got "
                f"labels from {int(y.min())} to {int(y.max())}. Draw labels with "
                f"torch.randint({n_classes}, (B,)), or build the model with n_classes large enough "
                "for your data."
            )
        y = F.one_hot(y.long(), n_classes).float()  # (B,) -> (B, n_classes)
    elif y.dim() == 2 and y.is_floating_point():
        if y.shape[1] != n_classes:
            raise ValueError(
                f"{model} takes condition vectors of size {n_classes} (one entry per class), got "
                f"size {y.shape[1]} (shape {tuple(y.shape)}). Pass integer labels (B,) instead, or "
                f"build them with F.one_hot(labels, {n_classes}).float()."
            )
    else:
        raise ValueError(
            f"{model} takes integer class labels of shape (B,) with values in "
            f"[0, {n_classes - 1}], or float condition vectors of shape (B, {n_classes}); got a "
            f"{y.dtype} tensor of shape {tuple(y.shape)}. Convert float labels with y.long(), and "
            "flatten a (B, 1) label column with y.view(-1)."
        )
    if y.shape[0] != batch:
        raise ValueError(
            f"{model} needs one label per example: got {batch} examples and {len(y)} labels."
        )
    return y


class _LabelInCodeGenerator(nn.Module):
    """An unconditional generator ``body`` fed with the code [z, onehot(y)]
    (B, latent_dim + n_classes)."""

    def __init__(self, latent_dim: int, n_classes: int, body: nn.Module):
        super().__init__()
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.body = body
        self.image_shape = body.image_shape

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        check_codes(z, self.latent_dim, name)
        condition = as_condition(y, self.n_classes, z.shape[0], name).to(z)
        return self.body(torch.cat([z, condition], dim=1))  # (B, latent_dim + n_classes) in


class ConditionalMLPGenerator(_LabelInCodeGenerator):
    """(z (B, latent_dim), y) -> images (B, *image_shape) in (-1, 1): an MLP on [z, onehot(y)]."""

    def __init__(
        self,
        latent_dim: int = 64,
        n_classes: int = 10,
        image_shape: tuple[int, ...] = MNIST_SHAPE,
        hidden: tuple[int, ...] = (256, 512),
    ):
        super().__init__(
            latent_dim, n_classes, MLPGenerator(latent_dim + n_classes, image_shape, hidden)
        )


class ConditionalMLPDiscriminator(nn.Module):
    """(images (B, *image_shape), y) -> logits (B,): an MLP on [flattened image, onehot(y)]."""

    def __init__(
        self,
        n_classes: int = 10,
        image_shape: tuple[int, ...] = MNIST_SHAPE,
        hidden: tuple[int, ...] = (512, 256),
    ):
        super().__init__()
        self.n_classes = n_classes
        self.image_shape = tuple(image_shape)
        self.net = mlp([math.prod(self.image_shape) + n_classes, *hidden, 1])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        check_images(x, self.image_shape, name)
        condition = as_condition(y, self.n_classes, x.shape[0], name).to(x)
        return self.net(torch.cat([x.flatten(1), condition], dim=1)).squeeze(
            1
        )  # (B, pixels + n_classes) -> (B,)


class ConditionalDCGANGenerator(_LabelInCodeGenerator):
    """(z (B, latent_dim), y) -> images (B, channels, size, size) in (-1, 1).

    A ``DCGANGenerator`` whose code is [z, onehot(y)]: the first transposed convolution, which
    projects the code to a start x start map, is where the label enters.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        n_classes: int = 10,
        image_size: int = 28,
        channels: int = 1,
        width: int = 32,
    ):
        super().__init__(
            latent_dim,
            n_classes,
            DCGANGenerator(latent_dim + n_classes, image_size, channels, width),
        )


class ConditionalDCGANDiscriminator(nn.Module):
    """(images (B, channels, size, size), y) -> logits (B,).

    The label is broadcast to ``n_classes`` constant planes (plane c is 1 where y = c) and stacked
    under the image's channels; a ``DCGANDiscriminator`` with channels + n_classes input channels
    scores the stack.
    """

    def __init__(
        self, n_classes: int = 10, image_size: int = 28, channels: int = 1, width: int = 32
    ):
        super().__init__()
        self.n_classes = n_classes
        self.image_shape = (channels, image_size, image_size)
        self.body = DCGANDiscriminator(image_size, channels + n_classes, width)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        check_images(x, self.image_shape, name)
        condition = as_condition(y, self.n_classes, x.shape[0], name).to(x)
        planes = condition[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (B, n_classes, H, W)
        return self.body(torch.cat([x, planes], dim=1))  # (B, channels + n_classes, H, W) in
