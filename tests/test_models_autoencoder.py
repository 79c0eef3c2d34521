"""Autoencoders for 28 x 28 images: shapes, ranges, seed layout, errors, linearity, overfitting."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from course_lib.models.autoencoder import (
    ConvAutoencoder,
    ConvDecoder,
    ConvEncoder,
    LinearAutoencoder,
    check_image_batch,
)

CODE_SIZES = [1, 2, 4, 16]


def blob_images(n: int = 16) -> torch.Tensor:
    """(n, 1, 28, 28) Gaussian blobs at fixed random positions and widths, values in (0, 1]."""
    g = torch.Generator().manual_seed(0)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")  # (28, 28) each
    centres = torch.rand(n, 2, generator=g) * 16 + 6
    widths = torch.rand(n, generator=g) * 3 + 2
    d2 = (ys - centres[:, 0, None, None]) ** 2 + (
        xs - centres[:, 1, None, None]
    ) ** 2  # (n, 28, 28)
    return torch.exp(-d2 / (2 * widths[:, None, None] ** 2)).unsqueeze(1)


@pytest.mark.parametrize("code_size", CODE_SIZES)
def test_conv_autoencoder_shapes_and_range(code_size):
    torch.manual_seed(0)
    model = ConvAutoencoder(code_size)
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    out = model(x)
    assert z.shape == (5, code_size)
    assert out.shape == (5, 1, 28, 28)
    assert ((out > 0) & (out < 1)).all()
    assert model.decode(z).shape == (5, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.decode(model.encode(x)))


def test_intermediate_shapes_match_the_comments():
    model = ConvAutoencoder(4)
    x = torch.rand(3, 1, 28, 28)
    shapes = []
    h = x
    for layer in model.encoder.features:
        h = layer(h)
        if isinstance(layer, nn.Conv2d):
            shapes.append(tuple(h.shape))
    assert shapes == [(3, 8, 14, 14), (3, 16, 7, 7), (3, 32, 3, 3)]
    assert model.encoder.features(x).shape == (3, 32, 3, 3)

    h = model.decoder.head(torch.randn(3, 4))
    assert h.shape == (3, 32, 3, 3)
    shapes = []
    for layer in model.decoder.upsample:
        h = layer(h)
        if isinstance(layer, nn.ConvTranspose2d):
            shapes.append(tuple(h.shape))
    assert shapes == [(3, 16, 7, 7), (3, 8, 14, 14), (3, 1, 28, 28)]


def layers_of(module: nn.Module, kind) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


def test_seed_architecture():
    d = 6
    model = ConvAutoencoder(d)
    assert model.code_size == d
    convs = layers_of(model.encoder, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 8), (8, 16), (16, 32)]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in convs)
    assert [m.num_features for m in layers_of(model.encoder, nn.BatchNorm2d)] == [16]
    assert [
        (layer.in_features, layer.out_features) for layer in layers_of(model.encoder, nn.Linear)
    ] == [
        (288, 128),
        (128, d),
    ]

    assert [
        (layer.in_features, layer.out_features) for layer in layers_of(model.decoder, nn.Linear)
    ] == [
        (d, 128),
        (128, 288),
    ]
    deconvs = layers_of(model.decoder, nn.ConvTranspose2d)
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [(32, 16), (16, 8), (8, 1)]
    assert [m.num_features for m in layers_of(model.decoder, nn.BatchNorm2d)] == [16, 8]
    assert not layers_of(model.decoder, nn.Conv2d)  # mirrored with transposed convolutions only

    # Every layer is the kind the seed names, and the parameter count follows from the shapes.
    expected = (
        (1 * 8 * 9 + 8)
        + (8 * 16 * 9 + 16)
        + 2 * 16
        + (16 * 32 * 9 + 32)
        + (288 * 128 + 128)
        + (128 * d + d)
        + (d * 128 + 128)
        + (128 * 288 + 288)
        + (32 * 16 * 9 + 16)
        + 2 * 16
        + (16 * 8 * 9 + 8)
        + 2 * 8
        + (8 * 1 * 9 + 1)
    )
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize(
    "shape", [(2, 28, 28), (2, 3, 28, 28), (2, 1, 32, 32), (1, 28 * 28), (2, 1, 1, 28, 28)]
)
@pytest.mark.parametrize(
    "make",
    [ConvAutoencoder, ConvEncoder, LinearAutoencoder],
    ids=["conv-ae", "conv-enc", "linear-ae"],
)
def test_wrong_image_shapes_raise_value_error_naming_the_shape(make, shape):
    model = make(4)
    with pytest.raises(ValueError) as info:
        model(torch.rand(*shape))
    message = str(info.value)
    assert str(tuple(shape)) in message
    assert "(B, 1, 28, 28)" in message


def test_check_image_batch_accepts_the_right_shape_and_custom_shapes():
    check_image_batch(torch.rand(2, 1, 28, 28))
    check_image_batch(torch.rand(2, 3, 8, 8), (3, 8, 8))
    with pytest.raises(ValueError, match=re.escape("(B, 3, 8, 8)")):
        check_image_batch(torch.rand(2, 1, 28, 28), (3, 8, 8))


@pytest.mark.parametrize("bad", [(2, 5), (2, 3), (4,), (2, 4, 1)])
def test_decoder_rejects_codes_of_the_wrong_size(bad):
    decoder = ConvDecoder(4)
    with pytest.raises(ValueError) as info:
        decoder(torch.randn(*bad))
    assert str(tuple(bad)) in str(info.value) and "(B, 4)" in str(info.value)
    with pytest.raises(ValueError):
        ConvAutoencoder(4).decode(torch.randn(*bad))


def test_decoder_sigmoid_of_logits_equals_forward():
    torch.manual_seed(1)
    decoder = ConvDecoder(3).eval()
    z = torch.randn(4, 3) * 3
    with torch.no_grad():
        logits = decoder.logits(z)
        torch.testing.assert_close(torch.sigmoid(logits), decoder(z))
    assert not torch.allclose(logits, decoder(z))  # logits really are the pre-sigmoid values


@pytest.mark.parametrize("code_size", [1, 3, 10])
def test_linear_autoencoder_is_exactly_affine(code_size):
    torch.manual_seed(2)
    model = LinearAutoencoder(code_size).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    y = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        for a in (0.3, -1.5, 2.0):
            torch.testing.assert_close(
                model(a * x + (1 - a) * y),
                a * model(x) + (1 - a) * model(y),
                rtol=1e-12,
                atol=1e-12,
            )
        # Affine but not linear: the biases make f(0) non-zero.
        assert model(torch.zeros(1, 1, 28, 28, dtype=torch.float64)).abs().max() > 0
        # And it is the closed form W_d (W_e x + b_e) + b_d.
        we, be = model.encoder.weight, model.encoder.bias
        wd, bd = model.decoder.weight, model.decoder.bias
        expected = ((x.flatten(1) @ we.T + be) @ wd.T + bd).view(3, 1, 28, 28)
        torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)
        assert model.encode(x).shape == (3, code_size)


def test_linear_autoencoder_with_another_image_shape():
    model = LinearAutoencoder(2, image_shape=(3, 4, 5))
    out = model(torch.rand(6, 3, 4, 5))
    assert out.shape == (6, 3, 4, 5)
    assert model.encoder.in_features == 60 and model.decoder.out_features == 60


def test_conv_autoencoder_overfits_sixteen_images():
    # Measured (seeds 0-4, 200 Adam steps, lr 1e-2): start MSE 0.16-0.22, end 0.0003-0.0062.
    # Predicting the mean image scores 0.027, so the end threshold demands real reconstruction.
    x = blob_images(16)
    baseline = ((x - x.mean(0)) ** 2).mean().item()
    torch.manual_seed(0)
    model = ConvAutoencoder(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()
    with torch.no_grad():
        start = nn.functional.mse_loss(model(x), x).item()
    model.train()
    for _ in range(200):
        loss = nn.functional.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        end = nn.functional.mse_loss(model(x), x).item()
    assert start > 0.1
    assert end < 0.012 < 0.5 * baseline, (start, end, baseline)
