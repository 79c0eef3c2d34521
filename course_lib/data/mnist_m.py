"""Two unpaired digit domains for CycleGAN, built offline: MNIST and an MNIST-M-style domain.

Ganin & Lempitsky (2015, "Unsupervised Domain Adaptation by Backpropagation") built MNIST-M by
blending MNIST digits over random colour patches cut from photographs. Their blend is the
per-channel absolute difference |patch - digit|: where the digit is 0 (background) the patch shows
unchanged, and where a stroke is 1 the patch's colours are inverted, so the digit stays readable
on any background while its colour changes from pixel to pixel.

The patches here come from colour photographs that ship inside two pinned dependencies,
scikit-learn and scikit-image, so nothing is downloaded. ``PHOTOGRAPHS`` records each file's
SHA-256 digest, and ``load_photographs`` refuses a file that is missing or differs, because
another photograph would silently change every MNIST-M image built from the same seed.

``digit_domains`` splits a set of digits at random into two disjoint halves: domain A keeps its
half as MNIST, domain B is the blend of the other half. No image of domain B is a blended copy of
an image of domain A, so the two domains are unpaired by construction, as CycleGAN assumes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from course_lib.data.download import CorruptDataError

Tensor = torch.Tensor


@dataclass(frozen=True)
class Photograph:
    """A colour photograph inside an installed package, with the digest of the pinned version."""

    file: str  # path inside the package folder, "/"-separated
    package: str  # import name, e.g. "sklearn"
    distribution: str  # name on PyPI, e.g. "scikit-learn"
    version: str  # the pinned version the digest was taken from (pyproject.toml, environment.yml)
    sha256: str


# Natural colour photographs only (no greyscale, synthetic or mostly black images). The smallest,
# chelsea.png (300 x 451 pixels), bounds the size of the digits that can be blended.
PHOTOGRAPHS: tuple[Photograph, ...] = (
    Photograph(
        "datasets/images/china.jpg",
        "sklearn",
        "scikit-learn",
        "1.9.1",
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    ),
    Photograph(
        "datasets/images/flower.jpg",
        "sklearn",
        "scikit-learn",
        "1.9.1",
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    ),
    Photograph(
        "data/astronaut.png",
        "skimage",
        "scikit-image",
        "0.26.0",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    Photograph(
        "data/chelsea.png",
        "skimage",
        "scikit-image",
        "0.26.0",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    Photograph(
        "data/coffee.png",
        "skimage",
        "scikit-image",
        "0.26.0",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    Photograph(
        "data/rocket.jpg",
        "skimage",
        "scikit-image",
        "0.26.0",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    ),
)


@dataclass(frozen=True)
class DigitDomains:
    """Two unpaired digit domains for image-to-image translation without pairs (CycleGAN).

    ``mnist`` (N_a, 1, H, W) and ``mnist_m`` (N_b, 3, H, W) are float32 in [0, 1]. The index
    tensors (int64) say which rows of the input went to each domain; they are disjoint and
    together cover the input. The labels are for evaluation only (e.g. does a translated digit
    keep its class?): CycleGAN never sees them.
    """

    mnist: Tensor
    mnist_labels: Tensor
    mnist_index: Tensor
    mnist_m: Tensor
    mnist_m_labels: Tensor
    mnist_m_index: Tensor

    def __repr__(self) -> str:  # shapes only: the default would print every pixel
        return f"DigitDomains(mnist={tuple(self.mnist.shape)}, mnist_m={tuple(self.mnist_m.shape)})"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# ---------------------------------------------------------------------------------------------
# Photographs


def _package_dir(package: str) -> Path | None:
    # find_spec locates the package without importing it (importing sklearn takes about a second).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _fix(photo: Photograph) -> str:
    return (
        "Fix: reinstall the version environment.yml pins, "
        f"`pip install --force-reinstall --no-deps {photo.distribution}=={photo.version}`."
    )


def _verified_bytes(photo: Photograph) -> bytes:
    """The file's bytes, after checking that it exists and has the recorded SHA-256 digest."""
    name = Path(photo.file).name
    installed = _installed_version(photo.distribution)
    package_dir = _package_dir(photo.package)
    path = package_dir / photo.file if package_dir is not None else None
    if path is None or not path.is_file():
        where = (
            f"at {path}" if path is not None else f"because package {photo.package!r} is not found"
        )
        raise FileNotFoundError(
            f"The MNIST-M photograph {name} of {photo.distribution} (installed: {installed}) is "
            f"missing {where}. {_fix(photo)}"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != photo.sha256:
        raise CorruptDataError(
            f"The MNIST-M photograph {name} of {photo.distribution} (installed: {installed}) at "
            f"{path} has SHA-256 {digest}, but {photo.distribution} {photo.version} ships "
            f"{photo.sha256}: the file is damaged or from another version, and would change every "
            f"MNIST-M image. {_fix(photo)}"
        )
    return data


def _decode(data: bytes) -> Tensor:
    # Decode the bytes already read and verified, so that the file is read only once.
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.array(image.convert("RGB"))  # (H, W, 3) uint8, a writable copy
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)


@functools.lru_cache(maxsize=1)
def load_photographs() -> tuple[Tensor, ...]:
    """The photographs of ``PHOTOGRAPHS``, in table order, as float32 (3, H, W) tensors in [0, 1].

    Every file is checked against its recorded SHA-256 digest first: a missing file raises
    ``FileNotFoundError`` and a different one ``CorruptDataError``, both naming the file, the
    package, its installed version and the fix. The result is cached, so later calls are free;
    the tensors are shared between callers, so clone one before changing it in place.
    """
    return tuple(_decode(_verified_bytes(photo)) for photo in PHOTOGRAPHS)


# ---------------------------------------------------------------------------------------------
# Blending and the two domains


def _check_digits(images: Tensor, name: str) -> Tensor:
    """``images`` as float32, after checking it is a (N, 1, H, W) float tensor in [0, 1]."""
    _require(
        isinstance(images, Tensor),
        f"{name} must be a torch.Tensor, got {type(images).__name__}; convert with "
        "torch.as_tensor.",
    )
    _require(
        images.ndim == 4,
        f"{name} must be 4-D (N, 1, H, W), got shape {tuple(images.shape)}; "
        "add a channel axis to (N, H, W) digits with .unsqueeze(1).",
    )
    _require(
        images.shape[1] == 1,
        f"{name} must have 1 channel (greyscale digits, shape (N, 1, H, W)), "
        f"got {images.shape[1]} channels in shape {tuple(images.shape)}.",
    )
    _require(
        images.is_floating_point(),
        f"{name} must be floating-point with values in [0, 1], got dtype {images.dtype}; "
        "divide uint8 images by 255.",
    )
    # NaN fails both comparisons, so it is rejected too. An empty batch has no range to check.
    if images.numel() and not (bool(images.min() >= 0) and bool(images.max() <= 1)):
        low, high = images.min().item(), images.max().item()
        raise ValueError(f"{name} must have values in [0, 1], got {low:.4g}..{high:.4g}.")
    return images.float()


def blend_onto_photographs(
    digits: Tensor, seed: int = 0, generator: torch.Generator | None = None
) -> Tensor:
    """MNIST-M-style images: each digit blended as |patch - digit| over a random photograph patch.

    ``digits`` (N, 1, H, W) float in [0, 1] -> (N, 3, H, W) float32 in [0, 1], on the digits'
    device. For every digit a photograph of ``PHOTOGRAPHS`` and an H x W patch position inside it
    are drawn uniformly from a CPU ``generator``, or from a new one seeded with ``seed`` when none
    is given. The draws do not depend on the pixel values, so the same seed, N, H and W give the
    same patches on every machine; an all-zero digit returns its patch unchanged, an all-one
    digit its colour negative 1 - patch.
    """
    digits = _check_digits(digits, "digits")
    photos = load_photographs()
    n, _, height, width = digits.shape
    max_height = min(photo.shape[1] for photo in photos)
    max_width = min(photo.shape[2] for photo in photos)
    _require(
        height <= max_height and width <= max_width,
        f"digits of {height} x {width} pixels are larger than the smallest photograph "
        f"({max_height} x {max_width}); resize them to at most {max_height} x {max_width}.",
    )
    generator = generator if generator is not None else torch.Generator().manual_seed(seed)
    choice = torch.randint(len(photos), (n,), generator=generator)  # (N,) photograph per digit
    patches = torch.empty(n, 3, height, width)
    for index, photo in enumerate(photos):
        chosen = (choice == index).nonzero().squeeze(1)  # (n_k,) digits on this photograph
        top = torch.randint(photo.shape[1] - height + 1, (len(chosen),), generator=generator)
        left = torch.randint(photo.shape[2] - width + 1, (len(chosen),), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, :, None]  # (n_k, H, 1)
        cols = (left[:, None] + torch.arange(width))[:, None, :]  # (n_k, 1, W)
        # One gather for all patches of this photograph: (3, n_k, H, W) -> (n_k, 3, H, W).
        patches[chosen] = photo[:, rows, cols].transpose(0, 1)
    return (patches.to(digits.device) - digits).abs()  # the digit broadcasts over the 3 channels


def digit_domains(images: Tensor, labels: Tensor, seed: int = 0) -> DigitDomains:
    """Split digits at random into two unpaired domains: MNIST (A) and MNIST-M-style (B).

    ``images`` (N, 1, H, W) float in [0, 1] and ``labels`` (N,). A random permutation (by
    ``seed``) sends ceil(N / 2) rows to domain A, kept as they are, and the other floor(N / 2)
    rows to domain B, blended by ``blend_onto_photographs``; each domain keeps its rows in input
    order. The halves are disjoint, so no MNIST-M image is a blended copy of an MNIST image.
    The labels follow their images and are for evaluation only; the translation never uses them.
    Deterministic: the same images, labels and seed give the same domains on every machine.
    """
    images = _check_digits(images, "images")
    _require(
        isinstance(labels, Tensor) and labels.ndim == 1 and len(labels) == len(images),
        f"labels must be a 1-D tensor with one label per image: got {len(images)} images and "
        "labels of shape "
        f"{tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}.",
    )
    n = len(images)
    _require(n >= 2, f"Need at least 2 images to fill both domains, got {n}.")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    mnist_index = order[: (n + 1) // 2].sort().values
    mnist_m_index = order[(n + 1) // 2 :].sort().values
    return DigitDomains(
        mnist=images[mnist_index],
        mnist_labels=labels[mnist_index],
        mnist_index=mnist_index,
        # The same generator continues, so one seed fixes both the split and the patches.
        mnist_m=blend_onto_photographs(images[mnist_m_index], generator=generator),
        mnist_m_labels=labels[mnist_m_index],
        mnist_m_index=mnist_m_index,
    )
