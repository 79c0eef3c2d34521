"""No silent wrong numbers: bad inputs that used to give plausible-looking results now raise.

BCE against 0..255 targets, PSNR and SSIM of 0..255 or uint8 images with data_range=1, and image
files over the decompression-bomb limit; each error names the problem and the fix. Valid inputs
still give the numbers of an independent reference.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from course_lib.data.download import CorruptDataError
from course_lib.data.face_domains import two_label_sets
from course_lib.data.images import MAX_PIXELS, load_image
from course_lib.evaluation.image_quality import psnr, ssim
from course_lib.losses.vae import reconstruction_bce
from course_lib.models.blocks import resnet_translator
from course_lib.models.pix2pix import PatchDiscriminator, UNetGenerator
from course_lib.models.rbm import BernoulliRBM
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.cyclegan import CycleGAN
from course_lib.objectives.gan import StandardGAN
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.objectives.stargan import StarGAN
from course_lib.training.adversarial import train_gan
from course_lib.training.dbn import greedy_pretrain
from course_lib.training.fit import evaluate, fit
from course_lib.training.rbm import train_rbm
from course_lib.training.steps import NonFiniteLossError
from course_lib.training.translation import train_cyclegan, train_pix2pix, train_stargan

# ---------------------------------------------------------------------------------------------
# BCE targets


def binary_images(n: int = 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 8, 8, generator=g) < 0.3).to(dtype)


def test_reconstruction_bce_rejects_0_255_targets_and_names_the_fix():
    x = binary_images() * 255  # binary images stored as 0..255
    logits = torch.zeros_like(x)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]") as caught:
        reconstruction_bce(logits, x)
    message = str(caught.value)
    assert "max 255" in message and "min 0" in message
    assert "dividing by 255" in message and "x.float() / 255" in message


def test_reconstruction_bce_rejects_negative_targets():
    x = binary_images() * 2 - 1  # [-1, 1], the GAN convention
    with pytest.raises(ValueError, match=r"min -1, max 1"):
        reconstruction_bce(torch.zeros_like(x), x)


def test_reconstruction_bce_rejects_integer_targets_and_names_the_fix():
    x = (binary_images() * 255).to(torch.uint8)
    with pytest.raises(TypeError, match=r"x\.float\(\) / 255"):
        reconstruction_bce(torch.zeros(x.shape), x)


def test_reconstruction_bce_on_valid_targets_is_unchanged_and_matches_bce_on_probabilities():
    g = torch.Generator().manual_seed(1)
    logits = 4 * torch.randn(3, 1, 6, 6, generator=g, dtype=torch.float64)
    x = torch.rand(3, 1, 6, 6, generator=g, dtype=torch.float64)
    x[0] = (x[0] > 0.5).double()  # exact 0s and 1s, the edges of the allowed range
    # Bit for bit the formula before the check was added.
    unchecked = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    assert torch.equal(reconstruction_bce(logits, x), unchecked)
    reference = torch.stack(
        [
            F.binary_cross_entropy(torch.sigmoid(a), b, reduction="sum")
            for a, b in zip(logits.flatten(1), x.flatten(1))
        ]
    )
    torch.testing.assert_close(reconstruction_bce(logits, x), reference, rtol=1e-10, atol=1e-10)
    # float32 and gradients still work; the check does not touch the graph.
    logits32 = logits.float().requires_grad_()
    reconstruction_bce(logits32, x.float()).sum().backward()
    torch.testing.assert_close(logits32.grad, torch.sigmoid(logits32.detach()) - x.float())


# ---------------------------------------------------------------------------------------------
# PSNR and SSIM


def image_pair(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (2, 3, 16, 16) batches in [0, 1], the second a noisy copy of the first."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_0_255_images_with_the_default_data_range_raise_and_name_the_fix(metric):
    x, y = image_pair()
    with pytest.raises(ValueError, match="do not fit data_range=1") as caught:
        metric(255 * x, 255 * y)
    message = str(caught.value)
    assert metric.__name__ in message and "pass data_range=255" in message
    assert "x.float() / 255" in message


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_uint8_images_raise_a_type_error_that_names_the_conversion(metric):
    x, y = image_pair()
    x8, y8 = (255 * x).round().to(torch.uint8), (255 * y).round().to(torch.uint8)
    with pytest.raises(TypeError, match=r"x\.float\(\) / 255") as caught:
        metric(x8, y8)
    assert "torch.uint8" in str(caught.value)
    with pytest.raises(TypeError, match=r"y\.float\(\) / 255"):
        metric(x, y8)


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("data_range", [0, -1.0, math.nan, math.inf])
def test_data_range_must_be_positive_and_finite(metric, data_range):
    x, y = image_pair()
    with pytest.raises(ValueError, match="data_range must be positive"):
        metric(x, y, data_range=data_range)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_data_range_must_be_a_number(metric):
    x, y = image_pair()
    with pytest.raises(TypeError, match="data_range must be a number"):
        metric(x, y, data_range="255")


def test_psnr_of_unit_range_images_matches_the_float64_closed_form():
    x, y = image_pair()
    diff = x.numpy() - y.numpy()
    expected = [10 * math.log10(1.0 / float(np.mean(d**2))) for d in diff]
    torch.testing.assert_close(psnr(x, y), torch.tensor(expected, dtype=torch.float64))
    x32, y32 = image_pair(torch.float32)
    torch.testing.assert_close(
        psnr(x32, y32).double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_psnr_and_ssim_of_0_255_images_with_data_range_255_equal_those_of_unit_images(dtype):
    x, y = image_pair(dtype)
    tolerance = {} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(psnr(x * 255, y * 255, data_range=255), psnr(x, y), **tolerance)
    torch.testing.assert_close(ssim(x * 255, y * 255, data_range=255), ssim(x, y), **tolerance)
    # The fix the message names for uint8 images gives the same number too.
    x8, y8 = (255 * x).round().to(torch.uint8), (255 * y).round().to(torch.uint8)
    torch.testing.assert_close(
        psnr(x8.float() / 255, y8.float() / 255), psnr(x8.float(), y8.float(), data_range=255)
    )


def test_noisy_unclipped_and_signed_images_are_still_accepted():
    x, y = image_pair()
    g = torch.Generator().manual_seed(3)
    unclipped = x + 0.3 * torch.randn(x.shape, generator=g, dtype=torch.float64)
    assert unclipped.min() < 0 and unclipped.max() > 1
    assert torch.isfinite(psnr(unclipped, x)).all() and torch.isfinite(ssim(unclipped, x)).all()
    # [-1, 1] images (the GANs' convention) with data_range=2 pass; PSNR is shift-invariant, so
    # it gives the [0, 1] images' numbers (SSIM's luminance term is not, so only accepted).
    torch.testing.assert_close(psnr(2 * x - 1, 2 * y - 1, data_range=2), psnr(x, y))
    assert torch.isfinite(ssim(2 * x - 1, 2 * y - 1, data_range=2.0)).all()


def test_psnr_and_ssim_still_carry_gradients():
    x, y = image_pair()
    y = y.clone().requires_grad_()
    (psnr(x, y).sum() + ssim(x, y).sum()).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


# ---------------------------------------------------------------------------------------------
# Image files over the pixel limit


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def black_1bit_png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit black PNG, built row by row: 15000 x 15000 is 27 kB in 0.1 s."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    parts += [compressor.compress(row * (height % 1000)), compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def small_png(path, width: int = 40, height: int = 30) -> np.ndarray:
    rgb = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def test_the_1bit_png_writer_makes_a_file_pil_reads():
    image = Image.open(io.BytesIO(black_1bit_png(20, 3)))
    image.load()
    assert image.size == (20, 3) and image.mode == "1" and not np.array(image).any()


def test_a_15000_x_15000_png_raises_corrupt_data_error_before_decoding(tmp_path, monkeypatch):
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or real_load(self))
    path = tmp_path / "huge.png"
    path.write_bytes(black_1bit_png(15000, 15000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning escapes either
        with pytest.raises(CorruptDataError) as caught:
            load_image(path)
    message = str(caught.value)
    assert "huge.png" in message and "15000 x 15000" in message
    assert f"max_pixels={MAX_PIXELS:,}" in message
    assert "load_image(path, max_pixels=" in message and "max_pixels=None" in message
    assert not isinstance(caught.value.__cause__, Image.DecompressionBombError)
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS  # PIL's global limit is as it was
    assert decoded == []  # refused from the header: not one pixel was decoded


def test_sizes_between_pils_limit_and_twice_it_raise_instead_of_warning(tmp_path):
    path = tmp_path / "large.png"
    path.write_bytes(black_1bit_png(10000, 10000))  # 1e8 pixels: PIL only warns for these
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CorruptDataError, match="10000 x 10000"):
            load_image(path)


def test_max_pixels_sets_the_limit_and_can_be_raised_past_pils_global_one(tmp_path, monkeypatch):
    pixels = small_png(tmp_path / "small.png")  # 40 x 30 = 1200 pixels
    with pytest.raises(CorruptDataError, match=r"40 x 30 = 1,200 pixels.*max_pixels=100\b"):
        load_image(tmp_path / "small.png", max_pixels=100)
    # PIL's own limit far below the image's size does not interfere, and is left as it was.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for limit in (1200, 10**10, None):
        image = load_image(tmp_path / "small.png", max_pixels=limit)
        torch.testing.assert_close(image[0].permute(1, 2, 0), torch.from_numpy(pixels) / 255)
        assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(CorruptDataError):
        load_image(tmp_path / "small.png", max_pixels=1199)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_a_bomb_check_while_loading_is_wrapped_too(tmp_path, monkeypatch):
    """Some formats (GIF frames, TIFF tiles, ICO sizes) check a size again while decoding."""
    small_png(tmp_path / "small.png")

    def oversized_frame(image):
        Image._decompression_bomb_check((5000, 5000))
        return image

    monkeypatch.setattr(ImageOps, "exif_transpose", oversized_frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            CorruptDataError, match=r"small.png is too large.*max_pixels="
        ) as caught:
            load_image(tmp_path / "small.png", max_pixels=20_000_000)  # 25e6 > limit: PIL warns
    assert isinstance(caught.value.__cause__, Image.DecompressionBombWarning)
    with pytest.raises(CorruptDataError, match="frame or tile") as caught:
        load_image(tmp_path / "small.png", max_pixels=10_000_000)  # over twice the limit
    assert isinstance(caught.value.__cause__, Image.DecompressionBombError)


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, "1000", True])
def test_bad_max_pixels_are_rejected(tmp_path, max_pixels):
    small_png(tmp_path / "small.png")
    with pytest.raises((TypeError, ValueError), match="max_pixels must be"):
        load_image(tmp_path / "small.png", max_pixels=max_pixels)


# ---- the training loops ------------------------------------------------------------------------


def tiny_fit(train, test=None, model=None, **settings):
    model = model if model is not None else torch.nn.Linear(4, 4)
    arguments = {"epochs": 1, "batch_size": 4} | settings
    return fit(
        model,
        lambda m, x: (m(x.float()) - x.float()).pow(2).mean(),
        train,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        test_data=test,
        **arguments,
    )


def test_fit_refuses_uint8_images_and_names_the_conversion():
    with pytest.raises(TypeError, match=r"uint8 \(raw 0..255 pixels\).*images.float\(\) / 255"):
        tiny_fit(torch.randint(0, 256, (8, 4), dtype=torch.uint8))


@pytest.mark.parametrize("where", ["train", "test"])
def test_nan_in_training_or_test_data_raises_before_training(where):
    clean = torch.rand(8, 4)
    broken = clean.clone()
    broken[3, 1] = float("nan")
    data = (
        {"train": broken, "test": clean} if where == "train" else {"train": clean, "test": broken}
    )
    name = "training data" if where == "train" else "test data"
    model = torch.nn.Linear(4, 4)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=f"The {name} hold 1 NaN or infinite values"):
        tiny_fit(data["train"], data["test"], model=model)
    assert torch.equal(model.weight, before)  # refused before the first step


def test_evaluate_raises_on_a_non_finite_loss_instead_of_returning_nan():
    model = torch.nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.fill_(float("inf"))
    with pytest.raises(NonFiniteLossError, match="evaluation loss is"):
        evaluate(model, lambda m, x: m(x).mean() * 0 + m(x).sum(), torch.rand(8, 4))


@pytest.mark.parametrize(
    "setting, value", [("epochs", 0), ("epochs", -3), ("batch_size", 0), ("batch_size", 2.5)]
)
def test_every_loop_refuses_counts_below_one(setting, value):
    with pytest.raises(ValueError, match=f"{setting} must be an int of at least 1, got {value}"):
        tiny_fit(torch.rand(8, 4), **{setting: value})
    objective = StandardGAN(
        torch.nn.Linear(2, 1), torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Flatten(0))
    )
    settings = {"epochs": 1, "batch_size": 4} | {setting: value}
    with pytest.raises(ValueError, match=f"{setting} must be an int of at least 1"):
        train_gan(
            objective,
            torch.rand(8, 1),
            latent_dim=2,
            d_optimizer=torch.optim.SGD(objective.discriminator_parameters(), lr=0.1),
            g_optimizer=torch.optim.SGD(objective.generator_parameters(), lr=0.1),
            **settings,
        )
    with pytest.raises(ValueError, match=f"{setting} must be an int of at least 1"):
        train_rbm(BernoulliRBM(4, 2), torch.ones(8, 4), learning_rate=0.1, **settings)


@pytest.mark.parametrize("setting, value", [("epochs", 0), ("batch_size", 0), ("batch_size", 2.5)])
def test_the_translation_and_dbn_loops_refuse_counts_below_one(setting, value):
    settings = {"epochs": 1, "batch_size": 4} | {setting: value}
    message = f"{setting} must be an int of at least 1"
    edges, faces = torch.rand(8, 1, 32, 32), torch.rand(8, 3, 32, 32) * 2 - 1
    pix2pix = Pix2Pix(UNetGenerator(1, 3, 32, width=4), PatchDiscriminator(4, width=4), 1.0, 0.0)
    with pytest.raises(ValueError, match=message):
        train_pix2pix(pix2pix, edges, faces, g_optimizer=sgd(pix2pix.generator), **settings)
    cyclegan = CycleGAN(
        resnet_translator(1, 1, 4, 1, 1),
        resnet_translator(1, 1, 4, 1, 1),
        PatchDiscriminator(1, 4, 1),
        PatchDiscriminator(1, 4, 1),
    )
    with pytest.raises(ValueError, match=message):
        train_cyclegan(
            cyclegan,
            torch.rand(8, 1, 8, 8),
            torch.rand(8, 1, 8, 8),
            g_optimizer=sgd(cyclegan),
            d_optimizer=sgd(cyclegan),
            **settings,
        )
    faces = two_label_sets(8, size=32)
    stargan = StarGAN(StarGANGenerator(3, 13, 4, 2, 1), StarGANDiscriminator(32, 3, 11, 4))
    with pytest.raises(ValueError, match=message):
        train_stargan(
            stargan,
            faces.images,
            faces.condition,
            g_optimizer=sgd(stargan),
            d_optimizer=sgd(stargan),
            **settings,
        )
    with pytest.raises(ValueError, match=message):
        greedy_pretrain(
            torch.ones(8, 4),
            torch.zeros(8, dtype=torch.long),
            [3],
            2,
            learning_rate=0.1,
            **settings,
        )


def sgd(module: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(module.parameters(), lr=0.1)


def test_a_last_minibatch_of_one_is_refused_only_where_batchnorm_cannot_take_it():
    with_1d = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="leave a last minibatch of one example"):
        tiny_fit(torch.rand(9, 4), model=with_1d)
    tiny_fit(torch.rand(10, 4), model=with_1d)  # a last minibatch of 2 is fine
    images = torch.rand(9, 1, 4, 4)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.BatchNorm2d(1))
    fit(
        conv,
        lambda m, x: m(x).pow(2).mean(),
        images,
        optimizer=torch.optim.SGD(conv.parameters(), lr=0.1),
        epochs=1,
        batch_size=4,
    )  # BatchNorm2d normalises the 16 pixels of the one image
