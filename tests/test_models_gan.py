"""GAN models: shapes for every size, the DCGAN architecture rules, initialisation, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.models.gan import (
    BiGANEncoder,
    DCGANDiscriminator,
    DCGANGenerator,
    JointDiscriminator,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init_,
)

LATENT = 8


def codes(n: int = 3, latent_dim: int = LATENT) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32), (2, 5, 7)])
def test_mlp_generator_and_discriminator_shapes(image_shape):
    generator = MLPGenerator(LATENT, image_shape, hidden=(16, 32))
    discriminator = MLPDiscriminator(image_shape, hidden=(32, 16))
    images = generator(codes())
    assert images.shape == (3, *image_shape)
    assert images.abs().max() < 1  # tanh output
    assert discriminator(images).shape == (3,)
    assert (
        generator.latent_dim == LATENT
        and generator.image_shape == discriminator.image_shape == image_shape
    )


@pytest.mark.parametrize("image_size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_for_every_size(image_size, channels):
    generator = DCGANGenerator(LATENT, image_size, channels, width=4)
    discriminator = DCGANDiscriminator(image_size, channels, width=4)
    images = generator(codes())
    assert images.shape == (3, channels, image_size, image_size)
    assert images.abs().max() < 1
    assert discriminator(images).shape == (3,)
    assert generator.image_shape == discriminator.image_shape == (channels, image_size, image_size)
    assert generator.latent_dim == LATENT


@pytest.mark.parametrize(
    "image_size, generator_maps, generator_channels",
    [
        (28, [7, 14, 28], [8, 4, 1]),
        (32, [4, 8, 16, 32], [16, 8, 4, 1]),
        (64, [4, 8, 16, 32, 64], [32, 16, 8, 4, 1]),
    ],
)
def test_dcgan_layouts(image_size, generator_maps, generator_channels):
    # 28 x 28 grows 7 -> 14 -> 28; 32 and 64 start at 4 x 4. Channels halve as maps double.
    generator = DCGANGenerator(LATENT, image_size, channels=1, width=4)
    maps, channels = [], []
    x = codes()
    for layer in generator.net:
        x = layer(x)
        if isinstance(layer, nn.ConvTranspose2d):
            maps.append(x.shape[-1])
            channels.append(x.shape[1])
    assert maps == generator_maps and channels == generator_channels
    # The discriminator mirrors it: its convolutions shrink the maps in the reverse order.
    discriminator = DCGANDiscriminator(image_size, channels=1, width=4)
    x, maps = torch.zeros(2, 1, image_size, image_size), []
    for layer in discriminator.net:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            maps.append(x.shape[-1])
    assert maps == generator_maps[-2::-1] + [1]


def kinds(model: nn.Module) -> list[type]:
    return [type(layer) for layer in model.net]


@pytest.mark.parametrize("image_size", [28, 32, 64])
def test_dcgan_follows_the_architecture_guidelines(image_size):
    generator = DCGANGenerator(LATENT, image_size, channels=3, width=4)
    discriminator = DCGANDiscriminator(image_size, channels=3, width=4)
    for model in (generator, discriminator):
        layers = list(model.modules())
        assert not any(
            isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear))
            for m in layers
        )

    # Generator: BatchNorm and ReLU after each transposed convolution but the last; tanh at the end.
    g = kinds(generator)
    deconvs = [i for i, kind in enumerate(g) if kind is nn.ConvTranspose2d]
    for i in deconvs[:-1]:
        assert g[i + 1 : i + 3] == [nn.BatchNorm2d, nn.ReLU]
    assert g[deconvs[-1] + 1 :] == [nn.Tanh]
    assert all(generator.net[i].stride == (2, 2) for i in deconvs[1:])  # fractionally strided

    # Discriminator: strided convolutions; no BatchNorm on the input layer, BatchNorm on every later
    # hidden layer; LeakyReLU(0.2); a bare logit at the end.
    d = kinds(discriminator)
    convs = [i for i, kind in enumerate(d) if kind is nn.Conv2d]
    assert d[convs[0] + 1] is nn.LeakyReLU
    for i in convs[1:-1]:
        assert d[i + 1 : i + 3] == [nn.BatchNorm2d, nn.LeakyReLU]
    assert all(discriminator.net[i].stride == (2, 2) for i in convs[:-1])
    assert all(
        m.negative_slope == 0.2 for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)
    )
    assert not any(isinstance(m, nn.Sigmoid) for m in discriminator.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == len(convs) - 2


def test_dcgan_models_are_initialised_as_in_the_paper():
    for model in (DCGANGenerator(LATENT, 64, 3, width=16), DCGANDiscriminator(64, 3, width=16)):
        convolutions = [
            m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        ]
        weights = torch.cat([m.weight.flatten() for m in convolutions])
        scales = torch.cat([m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        biases = [m.bias for m in model.modules() if getattr(m, "bias", None) is not None]
        assert len(weights) > 50_000 and len(scales) > 50
        assert weights.mean().item() == pytest.approx(0, abs=1e-3)
        assert weights.std().item() == pytest.approx(0.02, rel=0.05)
        assert scales.mean().item() == pytest.approx(1, abs=0.01)
        assert scales.std().item() == pytest.approx(0.02, rel=0.3)
        assert all(torch.count_nonzero(b) == 0 for b in biases)


def test_dcgan_init_also_reaches_linear_layers_and_returns_the_module():
    model = nn.Sequential(nn.Linear(200, 300), nn.BatchNorm2d(4))
    assert dcgan_init_(model) is model
    assert model[0].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(model[0].bias) == 0 and torch.count_nonzero(model[1].bias) == 0


def test_bigan_encoder_and_joint_discriminator_shapes():
    encoder = BiGANEncoder((1, 28, 28), LATENT, hidden=(32,))
    discriminator = JointDiscriminator((1, 28, 28), LATENT, hidden=(32, 16))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    z = encoder(x)
    assert z.shape == (4, LATENT)
    assert discriminator(x, z).shape == (4,)
    assert encoder.latent_dim == discriminator.latent_dim == LATENT
    assert encoder.image_shape == discriminator.image_shape == (1, 28, 28)
    # The score depends on both halves of the pair.
    assert not torch.equal(discriminator(x, z), discriminator(x, z + 1))
    assert not torch.equal(discriminator(x, z), discriminator(-x, z))


def test_dcgan_rejects_unsupported_sizes():
    for bad in (16, 48, 128):
        with pytest.raises(ValueError, match=r"\[28, 32, 64\]"):
            DCGANGenerator(LATENT, bad)
        with pytest.raises(ValueError, match=r"\[28, 32, 64\]"):
            DCGANDiscriminator(bad)


@pytest.mark.parametrize(
    "model, bad_input, expected",
    [
        (
            MLPDiscriminator((1, 28, 28)),
            torch.zeros(2, 28, 28),
            r"\(B, 1, 28, 28\).*\(2, 28, 28\).*unsqueeze",
        ),
        (
            DCGANDiscriminator(32, 3, width=4),
            torch.zeros(2, 3, 28, 28),
            r"\(B, 3, 32, 32\).*\(2, 3, 28, 28\)",
        ),
        (
            BiGANEncoder((1, 28, 28), LATENT),
            torch.zeros(2, 784),
            r"\(B, 1, 28, 28\).*\(2, 784\).*view",
        ),
        (
            MLPGenerator(LATENT),
            torch.zeros(2, LATENT + 1),
            rf"\(B, {LATENT}\).*\(2, {LATENT + 1}\).*sample_latent",
        ),
        (DCGANGenerator(LATENT, width=4), torch.zeros(2, LATENT, 1, 1), r"\(2, 8, 1, 1\).*flatten"),
    ],
    ids=[
        "mlp-d-no-channel",
        "dcgan-d-wrong-size",
        "encoder-flat",
        "mlp-g-wrong-dim",
        "dcgan-g-4d-codes",
    ],
)
def test_wrong_input_shapes_name_expected_actual_and_fix(model, bad_input, expected):
    with pytest.raises(ValueError, match=expected):
        model(bad_input)


def test_joint_discriminator_checks_both_inputs():
    discriminator = JointDiscriminator((1, 28, 28), LATENT, hidden=(8,))
    x = torch.zeros(3, 1, 28, 28)
    with pytest.raises(ValueError, match=rf"\(B, {LATENT}\)"):
        discriminator(x, torch.zeros(3, LATENT + 2))
    with pytest.raises(ValueError, match="3 images and 2 codes"):
        discriminator(x, torch.zeros(2, LATENT))
