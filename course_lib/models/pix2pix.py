"""pix2pix's networks (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator.

The generator translates a condition image (an edge map) into an output image (a face) of the
same size. An encoder halves the map with strided 4 x 4 convolutions down to 1 x 1; a decoder
doubles it back with transposed convolutions; and *skip connections* join each encoder map to
the decoder map of the same size (channel concatenation), so fine detail such as where a line
lies need not squeeze through the 1 x 1 bottleneck. As in the paper, the first three decoder
blocks use dropout 0.5, the only noise the generator gets (a z input was simply ignored).

The discriminator scores overlapping patches rather than whole images: a fully convolutional
stack outputs a map of logits (B, 1, h, w), one per patch of ``receptive_field(n_layers)``
pixels (70 for the paper's three strided layers). It only judges local texture and sharpness,
leaving the global layout to the L1 term of the loss (``course_lib.objectives.pix2pix``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.models.blocks import instance_norm
from course_lib.models.gan import check_images, dcgan_init_

UNET_SIZES = (32, 64)
NORMS = {"batch": nn.BatchNorm2d, "instance": instance_norm}  # PatchDiscriminator's choices
DROPOUT_BLOCKS = 3  # decoder blocks with dropout, counted from the bottleneck
KERNEL = 4


def _widths(depth: int, width: int) -> list[int]:
    """Channels per level: width, 2 width, 4 width, then 8 width (the paper's cap) further down."""
    return [width * 2 ** min(i, 3) for i in range(depth)]


class UNetGenerator(nn.Module):
    """Conditions (B, in_channels, size, size) -> images (B, out_channels, size, size) in (-1, 1).

    Encoder block i: Conv(4, stride 2) -> BatchNorm -> LeakyReLU(0.2), size / 2^(i+1), no
    BatchNorm in the first block (as in DCGAN) nor at the 1 x 1 bottleneck (a 1 x 1 map of a
    single example has nothing to normalise). Decoder block: ConvTranspose(4, stride 2) ->
    BatchNorm -> ReLU (-> Dropout(0.5) near the bottleneck), fed with [decoder map, encoder map
    of the same size]. log2(size) levels: 5 for 32 px, 6 for 64 px.
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 3, size: int = 32, width: int = 32
    ):
        super().__init__()
        if size not in UNET_SIZES:
            raise ValueError(f"UNetGenerator supports image sizes {UNET_SIZES}, got {size}.")
        self.in_channels, self.out_channels, self.size = in_channels, out_channels, size
        depth = int(math.log2(size))  # halvings from size down to 1 x 1
        widths = _widths(depth, width)
        self.encoder = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip([in_channels, *widths], widths)):
            normalise = 0 < i < depth - 1
            self.encoder.append(
                nn.Sequential(
                    nn.Conv2d(
                        c_in, c_out, KERNEL, stride=2, padding=1, bias=not normalise
                    ),  # halves H and W
                    nn.BatchNorm2d(c_out) if normalise else nn.Identity(),
                    nn.LeakyReLU(0.2),
                )
            )
        # Decoder block k undoes encoder block k + 1 (k = depth - 2, ..., 0); the last undoes 0.
        self.decoder = nn.ModuleList()
        for k in reversed(range(depth - 1)):
            c_in = widths[k + 1] * (
                1 if k == depth - 2 else 2
            )  # the bottleneck has no skip partner
            block = [
                nn.ConvTranspose2d(
                    c_in, widths[k], KERNEL, stride=2, padding=1, bias=False
                ),  # doubles H and W
                nn.BatchNorm2d(widths[k]),
                nn.ReLU(),
            ]
            if depth - 2 - k < DROPOUT_BLOCKS:
                block.append(nn.Dropout(0.5))
            self.decoder.append(nn.Sequential(*block))
        self.output = nn.Sequential(
            nn.ConvTranspose2d(2 * widths[0], out_channels, KERNEL, stride=2, padding=1), nn.Tanh()
        )
        dcgan_init_(self)  # N(0, 0.02) weights, as in the paper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, (self.in_channels, self.size, self.size), type(self).__name__)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)  # skips[i]: (B, widths[i], size / 2^(i+1), ...)
        h = skips.pop()  # the 1 x 1 bottleneck
        for block in self.decoder:
            h = torch.cat(
                [block(h), skips.pop()], dim=1
            )  # (B, 2 widths[k], ...): decoder map + its skip
        return self.output(h)  # (B, out_channels, size, size)


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the input patch that one output logit of ``PatchDiscriminator`` sees.

    Walking back from one output pixel, a 4 x 4 convolution of stride s grows a side r to
    s (r - 1) + 4: the two stride-1 layers give 1 -> 4 -> 7, each strided layer r -> 2 r + 2,
    so n_layers = 3 gives the paper's 70 x 70 patches.
    """
    side = 7
    for _ in range(n_layers):
        side = 2 * side + 2
    return side


def patch_map_size(image_size: int, n_layers: int) -> int:
    """Side h = w of the logit map: image_size / 2^n_layers, less 1 per stride-1 layer (two)."""
    return image_size // 2**n_layers - 2


class PatchDiscriminator(nn.Module):
    """Pairs stacked on channels (B, in_channels, S, S) -> patch logits (B, 1, h, w).

    ``in_channels`` counts the condition's and the image's channels together (1 + 3 for edges
    to RGB faces): the caller concatenates them, so every patch is judged *given* its input.
    C64-C128-...: ``n_layers`` Conv(4, stride 2) blocks doubling the channels (capped at
    8 width), then Conv(4, stride 1) -> BatchNorm -> LeakyReLU and a Conv(4, stride 1) to one
    channel. BatchNorm (or the ``norm`` chosen) everywhere but the first block; LeakyReLU(0.2).
    The map's side is h = S / 2^n_layers - 2 (``patch_map_size``); each logit sees
    ``receptive_field(n_layers)`` pixels.

    ``norm="instance"`` swaps BatchNorm for instance normalisation
    (``models.blocks.instance_norm``), as CycleGAN does: each image is then scored independently of
    the rest of its batch, in training as in evaluation. CycleGAN's discriminators judge single
    images, not pairs:
    ``in_channels`` is then the image's own channel count.
    """

    def __init__(
        self, in_channels: int = 4, width: int = 64, n_layers: int = 3, norm: str = "batch"
    ):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}.")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {sorted(NORMS)}, got {norm!r}.")
        self.in_channels, self.n_layers = in_channels, n_layers
        widths = _widths(n_layers + 1, width)  # the strided blocks, then the stride-1 block
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], KERNEL, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            stride = 2 if i < n_layers - 1 else 1
            layers += [
                nn.Conv2d(c_in, c_out, KERNEL, stride=stride, padding=1, bias=False),
                NORMS[norm](c_out),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(widths[-1], 1, KERNEL, stride=1, padding=1))  # (B, 1, h, w) logits
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        if pair.dim() != 4 or pair.shape[1] != self.in_channels:
            raise ValueError(
                "PatchDiscriminator expects condition and image stacked on channels, "
                f"(B, {self.in_channels}, S, S), got {tuple(pair.shape)}. Stack them with "
                "torch.cat([condition, image], dim=1), or build the discriminator with "
                "in_channels = condition channels + image channels "
                "(the image's own channels for an unconditional discriminator such as CycleGAN's)."
            )
        if patch_map_size(pair.shape[-1], self.n_layers) < 1:
            raise ValueError(
                f"{pair.shape[-1]} px images are too small for {self.n_layers} strided layers; "
                "lower n_layers."
            )
        return self.net(pair)
