"""Critics for WGAN-GP (notebook 07): discriminators without BatchNorm.

WGAN-GP penalises the gradient of each example's score with respect to that example, which
BatchNorm breaks by making every score depend on the whole batch (Gulrajani et al. 2017).
``MLPDiscriminator`` has no normalisation and serves as a critic as it is; ``DCGANCritic`` is
``DCGANDiscriminator`` with layer normalisation in place of BatchNorm. Both return raw scores (B,).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.gan import (
    MLPDiscriminator,
    check_images,
    dcgan_init_,
    downsampling_scorer,
)

MLPCritic = MLPDiscriminator  # no BatchNorm: already a valid WGAN-GP critic


class DCGANCritic(nn.Module):
    """Images (B, channels, image_size, image_size) -> scores (B,), ``DCGANDiscriminator``'s layout
    with each BatchNorm replaced by layer normalisation (``layer_norm=True``) or by nothing.

    The layer normalisation is ``GroupNorm(1, C)``: it normalises each example over all of its
    (C, H, W) activations, as LayerNorm does, with one scale and shift per channel, so it needs no
    spatial size and keeps the examples of a batch independent. The first layer stays
    unnormalised, as in the DCGAN discriminator.
    """

    def __init__(
        self, image_size: int = 28, channels: int = 1, width: int = 32, layer_norm: bool = True
    ):
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        norm = (lambda c: nn.GroupNorm(1, c)) if layer_norm else None
        self.net = downsampling_scorer(image_size, channels, width, norm)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape, type(self).__name__)
        return self.net(x)
