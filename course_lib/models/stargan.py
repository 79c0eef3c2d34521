"""StarGAN's networks (Choi et al. 2018): one conditional generator and a two-headed discriminator.

The generator G(x, c) translates an image x into the domain described by the condition vector c
(target labels and, with several data sets, the mask vector; see
``course_lib.data.face_domains``). As in the paper, c enters as constant planes: entry k of c
becomes a whole (H, W) channel of value c_k, stacked under the image's channels, and the shared
``resnet_translator`` (``course_lib.models.blocks``) maps the stack to an image, its stem padded
with zeros (see ``StarGANGenerator``: with reflection padding, the instance normalisation after
the stem would erase constant planes).

The discriminator has one trunk and two heads. D_src is a patch map of real/fake scores (a
critic: raw scores, trained with WGAN-GP); D_cls gives one logit per label, the domain
classifier that teaches G to reach the target labels. The trunk has no normalisation: the
gradient penalty is per example, and normalising across a batch would mix the examples.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.models.blocks import resnet_translator
from course_lib.models.gan import check_images

KERNEL = 4


class StarGANGenerator(nn.Module):
    """(images (B, image_channels, H, W), conditions (B, condition_size)) -> images
    (B, image_channels, H, W).

    Outputs lie in [-1, 1], so train on images scaled to [-1, 1]. ``width``, ``n_down`` and
    ``n_blocks`` are ``resnet_translator``'s (the paper: width 64, two down blocks, six residual
    blocks at 128 px); H and W must be divisible by 2^n_down.

    ``residual=False`` is the paper's generator: the network draws the whole output image (tanh).
    ``residual=True`` learns a change instead, as Shen and Liu (2017) do for face attributes:
    G(x, c) = clamp(x + r(x, c), -1, 1), where r is that same network, so what the target does
    not change needs no drawing at all. (Starting r at exactly zero is worse: translations then
    equal their inputs, the critic gets no signal and, in the course's runs, stopped learning.)
    """

    def __init__(
        self,
        image_channels: int = 3,
        condition_size: int = 13,
        width: int = 32,
        n_down: int = 2,
        n_blocks: int = 3,
        residual: bool = False,
    ):
        super().__init__()
        if image_channels < 1 or condition_size < 1:
            raise ValueError(
                f"image_channels and condition_size must be positive, got {image_channels} and "
                f"{condition_size}."
            )
        self.image_channels, self.condition_size, self.n_down = (
            image_channels,
            condition_size,
            n_down,
        )
        # Zero padding for the stem, as the paper's code: with reflection padding the instance
        # normalisation after the stem would erase the constant condition planes
        # (see resnet_translator).
        self.net = resnet_translator(
            image_channels + condition_size,
            image_channels,
            width,
            n_down,
            n_blocks,
            stem_padding="zeros",
        )
        self.residual = residual

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if x.dim() != 4 or x.shape[1] != self.image_channels:
            raise ValueError(
                f"{name} expects images of shape (B, {self.image_channels}, H, W), got a tensor of "
                f"shape {tuple(x.shape)}. Add a missing channel axis with x.unsqueeze(1), or build "
                "the generator with the image_channels of your images."
            )
        step = 2**self.n_down
        if x.shape[2] % step or x.shape[3] % step:
            raise ValueError(
                f"{name} with n_down={self.n_down} needs H and W divisible by {step}, got "
                f"{tuple(x.shape[2:])}."
            )
        if c.dim() != 2 or c.shape[1] != self.condition_size or not c.is_floating_point():
            raise ValueError(
                f"{name} expects float conditions of shape (B, {self.condition_size}), got a "
                f"{c.dtype} tensor of shape {tuple(c.shape)}. Build them with "
                "course_lib.data.face_domains.target_condition, or build the generator with "
                "condition_size equal to your condition's length."
            )
        if c.shape[0] != x.shape[0]:  # not len(): it would fix the batch size in an export
            raise ValueError(
                f"{name} needs one condition per image: got {len(x)} images and {len(c)} "
                "conditions."
            )
        planes = c.to(x)[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (B, condition_size, H, W)
        # (B, image_channels + condition_size, H, W) in, (B, image_channels, H, W) out
        drawn = self.net(torch.cat([x, planes], dim=1))
        return (x + drawn).clamp(-1.0, 1.0) if self.residual else drawn


class StarGANDiscriminator(nn.Module):
    """Images (B, channels, S, S) -> (src (B, 1, h, h), cls (B, n_labels)), h = S / 2^n_layers.

    Trunk: ``n_layers`` Conv(4, stride 2) -> LeakyReLU(0.01), the first to ``width`` channels and
    each next one doubling them, without normalisation. ``src``: a Conv(3, stride 1, padding 1)
    to one channel, a critic score per patch. ``cls``: a convolution whose kernel covers the whole
    h x h map, one logit per label (the labels only: the mask vector is never predicted).
    ``n_layers`` defaults to log2(S) - 1, which leaves a 2 x 2 map as the paper's six layers do
    at 128 px. Both heads have no bias, as in the paper's code.
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        n_labels: int = 11,
        width: int = 32,
        n_layers: int | None = None,
    ):
        super().__init__()
        if n_layers is None:
            n_layers = max(1, int(math.log2(image_size)) - 1)
        if n_layers < 1 or image_size % 2**n_layers:
            raise ValueError(
                "StarGANDiscriminator needs n_layers >= 1 and image_size divisible by 2^n_layers, "
                f"got image_size={image_size} and n_layers={n_layers}; lower n_layers."
            )
        if min(channels, n_labels, width) < 1:
            raise ValueError(
                f"channels, n_labels and width must be positive, got {channels}, {n_labels}, "
                f"{width}."
            )
        self.image_shape = (channels, image_size, image_size)
        self.n_labels, self.n_layers = n_labels, n_layers
        layers: list[nn.Module] = []
        c_in, c_out = channels, width
        for _ in range(n_layers):
            layers += [
                nn.Conv2d(c_in, c_out, KERNEL, stride=2, padding=1),
                nn.LeakyReLU(0.01),
            ]  # halves H and W
            c_in, c_out = c_out, 2 * c_out
        self.trunk = nn.Sequential(*layers)
        self.map_size = image_size // 2**n_layers
        self.src = nn.Conv2d(c_in, 1, 3, stride=1, padding=1, bias=False)
        self.cls = nn.Conv2d(c_in, n_labels, self.map_size, bias=False)  # (B, n_labels, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(x, self.image_shape, type(self).__name__)
        h = self.trunk(x)  # (B, width * 2^(n_layers - 1), map_size, map_size)
        return self.src(h), self.cls(h).flatten(1)
