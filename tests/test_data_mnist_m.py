"""The MNIST-M-style domain: bundled photographs, their digests, the |patch - digit| blend, split.

Most tests use synthetic digits. A patch is checked by finding it in a photograph: blending an
all-zero digit returns the patch itself, and for binary digits the patch is recovered exactly
(|patch - 0| = patch, |patch - 1| = 1 - patch). One test uses real MNIST from the shared data
folder and is skipped where that folder is missing.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
import torch
from shared_data import SHARED_DATA, needs_shared

from course_lib.data import mnist_m
from course_lib.data.download import CorruptDataError
from course_lib.data.mnist import load_mnist
from course_lib.data.mnist_m import (
    PHOTOGRAPHS,
    DigitDomains,
    blend_onto_photographs,
    digit_domains,
    load_photographs,
)
from course_lib.runtime.config import DATA_DIR_ENV, REPO_ROOT

# Where the photographs really are (tests below point the module at copies).
INSTALLED_PACKAGE_DIR = mnist_m._package_dir
# The smallest photograph (chelsea.png) bounds the digit size: (height, width).
LARGEST_DIGIT = (300, 451)


needs_shared_mnist = needs_shared(
    *(
        SHARED_DATA / "MNIST" / "raw" / name
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    )
)


def random_digits(n: int, height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """Synthetic digits (n, 1, height, width): random values in [0, 1]."""
    return torch.rand(n, 1, height, width, generator=torch.Generator().manual_seed(seed))


def binary_digits(n: int, height: int = 28, width: int = 28, seed: int = 0) -> torch.Tensor:
    """Synthetic binary digits (n, 1, height, width): about 30% of the pixels are strokes (1.0)."""
    return (random_digits(n, height, width, seed) > 0.7).float()


def locate(patch: torch.Tensor) -> list[tuple[int, int, int]]:
    """Every (photograph, top, left) where ``patch`` (3, H, W) is a crop of a photograph.

    Pixels must agree to 1e-6, far below the photographs' step of 1/255 but above the float32
    rounding of a patch recovered as 1 - (1 - p).
    """
    _, height, width = patch.shape
    found = []
    for index, photo in enumerate(load_photographs()):
        # Candidate corners: positions whose pixel equals the patch's top-left pixel.
        corners = photo[:, : photo.shape[1] - height + 1, : photo.shape[2] - width + 1]
        matches = ((corners - patch[:, :1, :1]).abs() <= 1e-6).all(dim=0).nonzero().tolist()
        for top, left in matches:
            crop = photo[:, top : top + height, left : left + width]
            if torch.allclose(crop, patch, rtol=0, atol=1e-6):
                found.append((index, top, left))
    return found


@pytest.fixture
def fresh_photographs():
    """Empty the photograph cache before and after the test, so no test sees another's files."""
    load_photographs.cache_clear()
    yield
    load_photographs.cache_clear()


@pytest.fixture
def copied_packages(tmp_path, monkeypatch, fresh_photographs) -> Path:
    """Copies of the photographs under tmp_path/<package>/, which the loader now reads instead."""
    for photo in PHOTOGRAPHS:
        source = mnist_m._package_dir(photo.package) / photo.file
        target = tmp_path / photo.package / photo.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    monkeypatch.setattr(mnist_m, "_package_dir", lambda package: tmp_path / package)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# The photographs


def test_recorded_versions_are_the_pinned_ones():
    pins = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = dict(pin.split("==") for pin in pins)
    for photo in PHOTOGRAPHS:
        assert photo.version == pinned[photo.distribution], photo.file


def test_photographs_are_large_colour_images_in_table_order():
    photos = load_photographs()
    assert len(photos) == len(PHOTOGRAPHS) >= 4
    assert len({photo.package for photo in PHOTOGRAPHS}) == 2
    for photo in photos:
        assert photo.dtype == torch.float32 and photo.ndim == 3 and photo.shape[0] == 3
        assert photo.min() >= 0 and photo.max() <= 1
        assert min(photo.shape[1:]) >= 300
        # Colour: the red and blue channels differ noticeably somewhere (not a grey image).
        assert (photo[0] - photo[2]).abs().mean() > 0.02
    assert min(photo.shape[1] for photo in photos) == LARGEST_DIGIT[0]
    assert min(photo.shape[2] for photo in photos) == LARGEST_DIGIT[1]
    # china.jpg (427 x 640) is first, chelsea.png (300 x 451) fourth.
    assert photos[0].shape == (3, 427, 640) and photos[3].shape == (3, 300, 451)


def test_photographs_are_cached():
    assert load_photographs() is load_photographs()


def test_good_copies_load_like_the_originals(copied_packages):
    copies = load_photographs()
    for photo, copy in zip(PHOTOGRAPHS, copies, strict=True):
        original = (INSTALLED_PACKAGE_DIR(photo.package) / photo.file).read_bytes()
        assert torch.equal(mnist_m._decode(original), copy), photo.file


def test_corrupted_photograph_raises_naming_file_package_version_and_fix(copied_packages):
    photo = PHOTOGRAPHS[1]  # flower.jpg of scikit-learn
    path = copied_packages / photo.package / photo.file
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError) as error:
        load_photographs()
    message = str(error.value)
    assert "flower.jpg" in message and "scikit-learn" in message and str(path) in message
    assert f"installed: {mnist_m._installed_version('scikit-learn')}" in message
    assert "pip install --force-reinstall --no-deps scikit-learn==1.9.1" in message
    assert "environment.yml" in message


def test_missing_photograph_raises_naming_file_package_version_and_fix(copied_packages):
    photo = PHOTOGRAPHS[3]  # chelsea.png of scikit-image
    (copied_packages / photo.package / photo.file).unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_photographs()
    message = str(error.value)
    assert "chelsea.png" in message and "scikit-image" in message and "missing" in message
    assert f"installed: {mnist_m._installed_version('scikit-image')}" in message
    assert "pip install --force-reinstall --no-deps scikit-image==0.26.0" in message


def test_photograph_of_an_uninstalled_package_raises(monkeypatch, fresh_photographs):
    absent = dataclasses.replace(
        PHOTOGRAPHS[0], package="course_lib_no_such_package", distribution="no-such-distribution"
    )
    monkeypatch.setattr(mnist_m, "PHOTOGRAPHS", (absent,))
    with pytest.raises(
        FileNotFoundError, match="not installed.*'course_lib_no_such_package' is not found"
    ):
        load_photographs()


# ---------------------------------------------------------------------------------------------
# Blending


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blend_shape_dtype_and_range(dtype):
    out = blend_onto_photographs(random_digits(40).to(dtype), seed=3)
    assert out.shape == (40, 3, 28, 28) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert blend_onto_photographs(random_digits(5, 12, 20)).shape == (5, 3, 12, 20)
    assert blend_onto_photographs(torch.zeros(0, 1, 28, 28)).shape == (0, 3, 28, 28)


def test_blend_is_deterministic_by_seed_or_generator():
    digits = random_digits(30)
    first = blend_onto_photographs(digits, seed=7)
    assert torch.equal(first, blend_onto_photographs(digits, seed=7))
    assert torch.equal(
        first, blend_onto_photographs(digits, generator=torch.Generator().manual_seed(7))
    )
    assert not torch.equal(first, blend_onto_photographs(digits, seed=8))
    # A generator continues its stream: two calls on one generator give different patches.
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(first, blend_onto_photographs(digits, generator=generator))
    assert not torch.equal(first, blend_onto_photographs(digits, generator=generator))


def test_zero_digit_gives_a_photograph_crop_and_one_digit_its_negative():
    patches = blend_onto_photographs(torch.zeros(24, 1, 28, 28), seed=11)
    places = [locate(patch) for patch in patches]
    assert all(places), "every patch is a crop of some photograph"
    assert len({found[0][0] for found in places}) >= 3, "patches come from several photographs"
    assert len({found[0] for found in places}) == 24, "every digit gets its own patch"
    # Corners spread over each photograph: mean relative position near 1/2 on both axes.
    photos = load_photographs()
    for axis in (1, 2):
        relative = [found[0][axis] / (photos[found[0][0]].shape[axis] - 28) for found in places]
        assert 0.3 < sum(relative) / len(relative) < 0.7
    negatives = blend_onto_photographs(torch.ones(24, 1, 28, 28), seed=11)
    assert torch.equal(negatives, 1 - patches)


def test_blend_is_the_absolute_difference_with_the_patch():
    digits = random_digits(24)
    patches = blend_onto_photographs(torch.zeros_like(digits), seed=5)  # the draws ignore pixels
    assert torch.equal(blend_onto_photographs(digits, seed=5), (patches - digits).abs())


def test_one_stroke_pixel_inverts_only_that_pixel():
    digit = torch.zeros(1, 1, 4, 4)
    digit[0, 0, 1, 2] = 1.0
    patch = blend_onto_photographs(torch.zeros_like(digit), seed=2)[0]
    out = blend_onto_photographs(digit, seed=2)[0]
    expected = patch.clone()
    expected[:, 1, 2] = 1 - patch[:, 1, 2]
    assert torch.equal(out, expected)


def test_digits_as_large_as_the_smallest_photograph_reach_its_edges():
    out = blend_onto_photographs(torch.zeros(12, 1, *LARGEST_DIGIT), seed=0)
    chelsea = load_photographs()[3]
    assert any(torch.equal(patch, chelsea) for patch in out), (
        "the whole of chelsea.png is one patch"
    )
    assert all(locate(patch) for patch in out)


@pytest.mark.parametrize(
    ("digits", "match"),
    [
        (torch.zeros(4, 28, 28), r"must be 4-D \(N, 1, H, W\).*unsqueeze\(1\)"),
        (torch.zeros(4, 3, 28, 28), "must have 1 channel.*got 3 channels"),
        (
            torch.zeros(4, 1, 28, 28, dtype=torch.uint8),
            "floating-point.*divide uint8 images by 255",
        ),
        (torch.full((4, 1, 28, 28), 1.5), r"values in \[0, 1\], got 1.5..1.5"),
        (torch.full((4, 1, 28, 28), -0.25), r"values in \[0, 1\], got -0.25..-0.25"),
        (torch.full((4, 1, 28, 28), float("nan")), r"values in \[0, 1\]"),
        (torch.zeros(4, 1, LARGEST_DIGIT[0] + 1, 28), "larger than the smallest photograph"),
        (torch.zeros(4, 1, 28, LARGEST_DIGIT[1] + 1), r"at most 300 x 451"),
        (torch.zeros(4, 1, 28, 28).numpy(), "must be a torch.Tensor, got ndarray"),
    ],
)
def test_blend_rejects_bad_digits(digits, match):
    with pytest.raises(ValueError, match=match):
        blend_onto_photographs(digits)


# ---------------------------------------------------------------------------------------------
# The two domains


def test_domains_are_disjoint_cover_the_input_and_keep_labels_with_images():
    images = binary_digits(21)
    labels = torch.arange(100, 121)  # one label per row, so a label names its row
    domains = digit_domains(images, labels, seed=4)
    assert isinstance(domains, DigitDomains)
    a, b = domains.mnist_index, domains.mnist_m_index
    assert len(a) == 11 and len(b) == 10
    assert torch.equal(torch.cat([a, b]).sort().values, torch.arange(21))
    assert torch.equal(a, a.sort().values) and torch.equal(b, b.sort().values)
    assert torch.equal(domains.mnist, images[a])
    assert torch.equal(domains.mnist_labels, labels[a])
    assert torch.equal(domains.mnist_m_labels, labels[b])
    assert domains.mnist.shape == (11, 1, 28, 28) and domains.mnist_m.shape == (10, 3, 28, 28)
    assert domains.mnist_m.dtype == torch.float32


def test_mnist_m_images_are_blends_of_their_own_rows():
    images = binary_digits(16, seed=1)
    domains = digit_domains(images, torch.zeros(16, dtype=torch.long), seed=9)
    strokes = images[domains.mnist_m_index]  # (8, 1, 28, 28) of 0s and 1s
    # For a binary digit the patch comes back exactly: |p - 0| = p and 1 - |p - 1| = p.
    patches = torch.where(strokes == 1, 1 - domains.mnist_m, domains.mnist_m)
    assert all(locate(patch) for patch in patches)
    # With the rows of domain A instead, the recovered "patches" are no photograph crops.
    wrong = images[domains.mnist_index][: len(strokes)]
    assert not any(
        locate(patch) for patch in torch.where(wrong == 1, 1 - domains.mnist_m, domains.mnist_m)
    )


def test_domains_are_deterministic_by_seed():
    images, labels = random_digits(20), torch.arange(20)
    first = digit_domains(images, labels, seed=1)
    again = digit_domains(images, labels, seed=1)
    other = digit_domains(images, labels, seed=2)
    for name in (
        "mnist",
        "mnist_labels",
        "mnist_index",
        "mnist_m",
        "mnist_m_labels",
        "mnist_m_index",
    ):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    assert not torch.equal(first.mnist_index, other.mnist_index)
    assert not torch.equal(first.mnist_m, other.mnist_m)


def test_domains_of_two_images_get_one_each():
    domains = digit_domains(random_digits(2), torch.tensor([3, 8]), seed=0)
    assert len(domains.mnist) == len(domains.mnist_m) == 1
    assert {domains.mnist_labels.item(), domains.mnist_m_labels.item()} == {3, 8}


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (random_digits(5), torch.arange(4), "one label per image: got 5 images"),
        (random_digits(5), torch.zeros(5, 1), r"1-D tensor.*shape \(5, 1\)"),
        (random_digits(1), torch.arange(1), "at least 2 images.*got 1"),
        (random_digits(4).expand(-1, 3, -1, -1), torch.arange(4), "1 channel"),
        (random_digits(4) * 2, torch.arange(4), r"values in \[0, 1\]"),
    ],
)
def test_domains_reject_bad_input(images, labels, match):
    with pytest.raises(ValueError, match=match):
        digit_domains(images, labels)


@needs_shared_mnist
def test_real_mnist_domains(monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(SHARED_DATA))
    data = load_mnist(train_size=2_000, test_size=10, seed=0)
    domains = digit_domains(data.train_images, data.train_labels, seed=0)
    assert domains.mnist.shape == (1_000, 1, 28, 28) and domains.mnist_m.shape == (1_000, 3, 28, 28)
    assert domains.mnist_m.min() >= 0 and domains.mnist_m.max() <= 1
    for labels in (domains.mnist_labels, domains.mnist_m_labels):
        assert set(labels.tolist()) == set(range(10))
    assert torch.equal(
        torch.cat([domains.mnist_labels, domains.mnist_m_labels]).sort().values,
        data.train_labels.sort().values,
    )
    # The background (digit pixel 0) shows the photograph itself: coloured, unlike MNIST.
    background = data.train_images[domains.mnist_m_index] == 0  # (1000, 1, 28, 28)
    spread = domains.mnist_m.amax(dim=1, keepdim=True) - domains.mnist_m.amin(dim=1, keepdim=True)
    assert spread[background].mean() > 0.05
