"""Generators, discriminators and a BiGAN encoder for notebooks 05 (GAN) and 06 (DCGAN, BiGAN).

Conventions shared by every model here:

- latent codes z are (B, latent_dim) rows drawn from N(0, I)
  (``course_lib.objectives.gan.sample_latent``);
- generators end with tanh, so images lie in (-1, 1): scale training images to [-1, 1] first;
- discriminators return logits (B,), never probabilities: the losses of
  ``course_lib.losses.adversarial`` apply the sigmoid themselves, which is stabler, and a WGAN
  critic needs the raw score anyway;
- every model has ``image_shape`` (C, H, W), and those that read or write codes ``latent_dim``.

``DCGANGenerator`` and ``DCGANDiscriminator`` follow the architecture guidelines of Radford et al.
(2016, ``radford2016unsupervised``), which the lecture notes write as R_1..R_5.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

MNIST_SHAPE = (1, 28, 28)
# Spatial size after the projection of z in the DCGAN generator (and before the last layer of
# the discriminator): 28 = 7 * 2 * 2, while 32 and 64 start from the usual 4 x 4.
DCGAN_START = {28: 7, 32: 4, 64: 4}


def check_images(x: torch.Tensor, image_shape: tuple[int, ...], model: str) -> None:
    """Raise a ValueError naming the expected and actual shape unless ``x`` is (B, *image_shape)."""
    if x.dim() != len(image_shape) + 1 or tuple(x.shape[1:]) != tuple(image_shape):
        expected = ", ".join(map(str, image_shape))
        raise ValueError(
            f"{model} expects a batch of images of shape (B, {expected}), got a tensor of shape "
            f"{tuple(x.shape)}. Add a missing channel axis with x.unsqueeze(1), reshape flat rows "
            f"with x.view(-1, {expected}), or build the model for this image shape."
        )


def check_codes(z: torch.Tensor, latent_dim: int, model: str) -> None:
    """Raise a ValueError naming the expected and actual shape unless ``z`` is (B, latent_dim)."""
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(
            f"{model} expects latent codes of shape (B, {latent_dim}), got a tensor of shape "
            f"{tuple(z.shape)}. Draw codes with sample_latent(n, {latent_dim}); a "
            f"(B, {latent_dim}, 1, 1) tensor from DCGAN code elsewhere becomes (B, latent_dim) "
            "with z.flatten(1)."
        )


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with LeakyReLU(0.2) between them
    (not after the last)."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers[:-1])


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, *image_shape) in (-1, 1), through fully connected layers."""

    def __init__(
        self,
        latent_dim: int = 64,
        image_shape: tuple[int, ...] = MNIST_SHAPE,
        hidden: tuple[int, ...] = (256, 512),
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(
            mlp([latent_dim, *hidden, math.prod(self.image_shape)]),
            nn.Tanh(),
            nn.Unflatten(1, self.image_shape),  # (B, pixels) -> (B, C, H, W)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_codes(z, self.latent_dim, type(self).__name__)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Images (B, *image_shape) -> logits (B,), through linear layers with LeakyReLU(0.2)."""

    def __init__(
        self, image_shape: tuple[int, ...] = MNIST_SHAPE, hidden: tuple[int, ...] = (512, 256)
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(
            nn.Flatten(), mlp([math.prod(self.image_shape), *hidden, 1])
        )  # (B, pixels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape, type(self).__name__)
        return self.net(x).squeeze(1)  # (B, 1) -> (B,)


def dcgan_widths(image_size: int, width: int) -> list[int]:
    """Channels from the smallest map up, doubling per halving: 28: [2w, w], 64: [8w, 4w, 2w, w]."""
    if image_size not in DCGAN_START:
        raise ValueError(f"image_size must be one of {sorted(DCGAN_START)}, got {image_size}.")
    doublings = int(math.log2(image_size // DCGAN_START[image_size]))  # 28: 7 -> 14 -> 28 is 2
    return [width * 2 ** (doublings - 1 - i) for i in range(doublings)]


def dcgan_init_(module: nn.Module) -> nn.Module:
    """Radford et al.'s initialisation, in place: weights N(0, 0.02), BatchNorm scales N(1, 0.02).

    Biases start at 0.

    The paper initialises "all weights" from N(0, 0.02), so linear layers are included.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, image_size, image_size) in (-1, 1).

    In the lecture notes: R_1 = ReLU(BN(z M_R)), R_i = ReLU(BN(Deconv(R_{i-1}))),
    R_last = tanh(Deconv(.)).
    The projection z M_R is a transposed convolution of the 1 x 1 code to a start x start map
    (the same linear map as a dense layer, written as a convolution); each later fractionally
    strided convolution (4 x 4 kernel, stride 2) doubles the map and halves the channels:
    28: 7 -> 14 -> 28; 32: 4 -> 8 -> 16 -> 32; 64: 4 -> ... -> 64. No pooling, no dense hidden
    layers, BatchNorm after every layer but the output. Initialised with ``dcgan_init_``.
    """

    def __init__(
        self, latent_dim: int = 64, image_size: int = 28, channels: int = 1, width: int = 32
    ):
        super().__init__()
        widths = dcgan_widths(image_size, width)
        start = DCGAN_START[image_size]
        self.latent_dim = latent_dim
        self.image_shape = (channels, image_size, image_size)
        layers: list[nn.Module] = [
            nn.Unflatten(1, (latent_dim, 1, 1)),  # (B, latent_dim) -> (B, latent_dim, 1, 1)
            nn.ConvTranspose2d(
                latent_dim, widths[0], start, bias=False
            ),  # (B, widths[0], start, start)
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(
                    c_in, c_out, 4, stride=2, padding=1, bias=False
                ),  # doubles H and W
                nn.BatchNorm2d(c_out),  # its shift makes a bias before it redundant
                nn.ReLU(),
            ]
        layers += [
            nn.ConvTranspose2d(widths[-1], channels, 4, stride=2, padding=1),
            nn.Tanh(),
        ]  # (B, C, size, size)
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_codes(z, self.latent_dim, type(self).__name__)
        return self.net(z)


def downsampling_scorer(
    image_size: int, channels: int, width: int, norm: Callable[[int], nn.Module] | None
) -> nn.Sequential:
    """DCGAN's discriminator, images (B, C, S, S) -> scores (B,); the WGAN critic shares it.

    Strided 4 x 4 convolutions halve the map and double the channels; ``norm(channels)`` follows
    every one but the first (None: no normalisation); LeakyReLU(0.2); a last convolution covering
    the whole start x start map gives one score.
    """
    widths = dcgan_widths(image_size, width)[::-1]  # [w, 2w, ...] from the image down
    layers: list[nn.Module] = [
        nn.Conv2d(channels, widths[0], 4, stride=2, padding=1),  # (B, w, size / 2, size / 2)
        nn.LeakyReLU(0.2),
    ]
    for c_in, c_out in zip(widths, widths[1:]):
        layers += [
            nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=norm is None),  # halves H and W
            norm(c_out)
            if norm is not None
            else nn.Identity(),  # a norm's shift makes a bias redundant
            nn.LeakyReLU(0.2),
        ]
    layers += [
        nn.Conv2d(widths[-1], 1, DCGAN_START[image_size]),
        nn.Flatten(0),
    ]  # (B, 1, 1, 1) -> (B,)
    return nn.Sequential(*layers)


class DCGANDiscriminator(nn.Module):
    """Images (B, channels, size, size) -> logits (B,): the mirror of ``DCGANGenerator``.

    In the lecture notes: R_1 = lReLU(Conv(I)), R_i = lReLU(BN(Conv(R_{i-1}))),
    R_last = sigmoid(FC(.)):
    strided 4 x 4 convolutions halve the map and double the channels (no pooling), BatchNorm in
    every layer but the first (normalising the input layer made training unstable in the paper),
    LeakyReLU(0.2). The lecture notes' final FC layer is a convolution whose kernel covers the whole
    start x start map, which is the same map; the sigmoid is left to the loss (logits out).
    Initialised with ``dcgan_init_``.
    """

    def __init__(self, image_size: int = 28, channels: int = 1, width: int = 32):
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        self.net = downsampling_scorer(image_size, channels, width, nn.BatchNorm2d)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape, type(self).__name__)
        return self.net(x)


class BiGANEncoder(nn.Module):
    """BiGAN's encoder E: images (B, *image_shape) -> codes (B, latent_dim), a deterministic MLP.

    E learns the inverse of the generator: at the optimum of the BiGAN game E = G^{-1}
    (Donahue et al. 2017, ``donahue2017adversarial``).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] = MNIST_SHAPE,
        latent_dim: int = 64,
        hidden: tuple[int, ...] = (512, 256),
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Flatten(), mlp([math.prod(self.image_shape), *hidden, latent_dim])
        )  # (B, pixels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape, type(self).__name__)
        return self.net(x)


class JointDiscriminator(nn.Module):
    """BiGAN's discriminator D(x, z): an image and a code -> logits (B,) that the pair is (x, E(x)).

    The flattened image and the code are joined into one vector (B, pixels + latent_dim) and
    scored by an MLP with LeakyReLU(0.2): only a joint view can tell (x, E(x)) from (G(z), z).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] = MNIST_SHAPE,
        latent_dim: int = 64,
        hidden: tuple[int, ...] = (512, 256),
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.net = mlp([math.prod(self.image_shape) + latent_dim, *hidden, 1])

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape, type(self).__name__)
        check_codes(z, self.latent_dim, type(self).__name__)
        if len(x) != len(z):
            raise ValueError(
                f"JointDiscriminator needs one code per image, got {len(x)} images and {len(z)} "
                "codes."
            )
        return self.net(torch.cat([x.flatten(1), z], dim=1)).squeeze(
            1
        )  # (B, pixels + latent_dim) -> (B,)
