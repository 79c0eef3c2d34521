"""Building blocks shared by the image-to-image generators of notebook 09 (CycleGAN and StarGAN).

Both papers translate an image with the same layout (Johnson et al.'s style-transfer network):
a 7 x 7 convolution, strided convolutions that halve the map, residual blocks that work at the
low resolution, transposed convolutions that double it back, and a 7 x 7 convolution to the
output channels with tanh. Instance normalisation (statistics per image and channel, not per
batch) is used throughout: a translated image should not depend on the other images of its batch.
``resnet_translator`` builds that network; CycleGAN uses it as it is, and StarGAN feeds it the
image stacked with its target-label planes.
"""

from __future__ import annotations

import torch
from torch import nn


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Instance normalisation with a learned scale and shift per channel (as both papers' code)."""
    return nn.InstanceNorm2d(channels, affine=True)


class ResidualBlock(nn.Module):
    """x + F(x), F = conv 3x3, InstanceNorm, ReLU, conv 3x3, InstanceNorm; keeps (B, C, H, W).

    Reflection padding keeps the map's size without the dark frame that zero padding draws along
    the borders of generated images.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            instance_norm(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv 4x4, stride 2 -> InstanceNorm -> ReLU: halves H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        instance_norm(out_channels),
        nn.ReLU(),
    )


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """ConvTranspose 4x4, stride 2 -> InstanceNorm -> ReLU: doubles H and W."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        instance_norm(out_channels),
        nn.ReLU(),
    )


STEM_PADDINGS = {"reflect": nn.ReflectionPad2d, "zeros": nn.ZeroPad2d}


def resnet_translator(
    in_channels: int,
    out_channels: int,
    width: int = 32,
    n_down: int = 2,
    n_blocks: int = 6,
    stem_padding: str = "reflect",
) -> nn.Sequential:
    """Images (B, in_channels, H, W) -> images (B, out_channels, H, W) in (-1, 1).

    Stem conv 7x7 to ``width`` channels; ``n_down`` down blocks doubling the channels; ``n_blocks``
    residual blocks at H / 2^n_down; ``n_down`` up blocks halving them back; conv 7x7 and tanh.
    H and W must be divisible by 2^n_down. CycleGAN uses n_down = 2 with 6 blocks for 128 px
    images and 9 for 256 px; small images need fewer.

    ``stem_padding`` pads the input for the 7 x 7 stem: "reflect" (CycleGAN) or "zeros" (StarGAN,
    whose input carries constant condition planes: reflected, a constant plane adds the same
    number at every pixel of each stem channel, which the instance normalisation right after
    subtracts, so the condition would be lost; zero padding makes its response differ near the
    borders, which survives the normalisation and spreads through the later layers).
    """
    if min(in_channels, out_channels, width) < 1 or n_down < 0 or n_blocks < 0:
        raise ValueError(
            "resnet_translator needs positive channel counts and width and non-negative n_down "
            f"and n_blocks, got in_channels={in_channels}, out_channels={out_channels}, "
            f"width={width}, n_down={n_down}, n_blocks={n_blocks}."
        )
    if stem_padding not in STEM_PADDINGS:
        raise ValueError(
            f"stem_padding must be one of {sorted(STEM_PADDINGS)}, got {stem_padding!r}."
        )
    layers: list[nn.Module] = [
        STEM_PADDINGS[stem_padding](3),
        nn.Conv2d(in_channels, width, 7, bias=False),
        instance_norm(width),
        nn.ReLU(),
    ]
    channels = width
    for _ in range(n_down):
        layers.append(down_block(channels, channels * 2))
        channels *= 2
    layers += [ResidualBlock(channels) for _ in range(n_blocks)]
    for _ in range(n_down):
        layers.append(up_block(channels, channels // 2))
        channels //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)
