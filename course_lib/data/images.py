"""Images for neural style transfer: loading, resizing, converting back, and the course's pictures.

Every loader returns a float32 tensor of shape (1, 3, H, W) with values in [0, 1], the input that
``course_lib.models.vgg_features.VGGFeatures`` expects; ``size`` is the length of the longer side in
pixels (the aspect ratio is kept), or None to keep the file's size. ``to_pil`` turns such a tensor
back into a PIL image.

* ``load_image(path, size)`` reads any image file PIL understands (JPEG, PNG, ...): use it for
  your own photographs and paintings.
* ``bundled_image(name, size)`` reads a photograph that ships inside scikit-image 0.26.0
  (``BUNDLED_PHOTOGRAPHS``: astronaut, chelsea, coffee, rocket), found through the installed
  package and checked against its SHA-256 digest; nothing is downloaded.
* ``load_painting(name, size)`` reads one of the course's two public-domain paintings
  (``PAINTINGS``): Vincent van Gogh's *The Starry Night* (1889) and Edvard Munch's *The Scream*
  (1893). They ship with the package, as package data in ``course_lib/data/paintings/``, so
  nothing is downloaded and no data folder is needed.

The course's copies are 576-pixel-wide JPEGs of the public-domain works (576 x 448 and
576 x 800 pixels), and ``load_painting`` accepts only those exact files: each is checked against
its SHA-256 digest on every load, so that every run of the notebook starts from the same pixels.
To use another reproduction of these paintings (or any painting of your own choice), load it with
``load_image(path)``; the results will then differ from the notebook's stored ones.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import numbers
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from course_lib.data.download import CorruptDataError

Tensor = torch.Tensor

# The default of load_image's max_pixels: PIL's own default limit (Image.MAX_IMAGE_PIXELS, a
# quarter GiB of 24-bit pixels), about 9460 x 9460. A 512-pixel style transfer needs far fewer.
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
_PIL_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Painting:
    """One of the course's paintings: its file in ``course_lib/data/paintings/`` and digest."""

    file: str
    title: str
    artist: str
    year: int
    width: int
    height: int
    sha256: str


PAINTINGS: dict[str, Painting] = {
    "starry_night": Painting(
        "starry_night.jpg",
        "The Starry Night",
        "Vincent van Gogh",
        1889,
        576,
        448,
        "40c4a2dcce7ba517f9a07f2aa3db8fc06410a3d12080043e0dbd2cdab5ea7dd7",
    ),
    "the_scream": Painting(
        "the_scream.jpg",
        "The Scream",
        "Edvard Munch",
        1893,
        576,
        800,
        "b4605a0fc05f1bc302f79ef9e6e9803030bb5a33147c875f583bffa7faa6f1fa",
    ),
}


@dataclass(frozen=True)
class BundledPhotograph:
    """A colour photograph in scikit-image's ``data/`` folder, with the pinned version's digest."""

    file: str
    sha256: str


SKIMAGE_VERSION = "0.26.0"  # the version pinned in pyproject.toml and environment.yml
BUNDLED_PHOTOGRAPHS: dict[str, BundledPhotograph] = {
    "astronaut": BundledPhotograph(
        "astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
    ),
    "chelsea": BundledPhotograph(
        "chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
    ),
    "coffee": BundledPhotograph(
        "coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"
    ),
    "rocket": BundledPhotograph(
        "rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"
    ),
}


# ---------------------------------------------------------------------------------------------
# Decoding and converting


def _check_size(size: object) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(
            f"size must be a positive int (the longer side in pixels, e.g. 512) or None to keep "
            f"the image's size, got {size!r}. The aspect ratio is always kept, so give one number."
        )
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel (the longer side), got {size}.")
    return int(size)


def _resized(image: Image.Image, size: int | None) -> Image.Image:
    """``image`` scaled so that its longer side is ``size`` pixels, keeping the aspect ratio."""
    if size is None:
        return image
    width, height = image.size
    longer = max(width, height)
    if longer == size:
        return image
    # Integer arithmetic first: the longer side comes out as exactly ``size``.
    new_size = (max(1, round(width * size / longer)), max(1, round(height * size / longer)))
    return image.resize(new_size, Image.Resampling.LANCZOS)


def _check_max_pixels(max_pixels: object) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
        raise TypeError(
            f"max_pixels must be a positive int (width x height, e.g. {MAX_PIXELS}) or None for "
            f"no limit, got {max_pixels!r}."
        )
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1 (width x height), got {max_pixels}.")
    return int(max_pixels)


def _too_large(where: object, what: str, max_pixels: int | None) -> CorruptDataError:
    limit = "None" if max_pixels is None else f"{max_pixels:,}"
    return CorruptDataError(
        f"{where} is too large to decode: {what}, over the limit of max_pixels={limit} "
        "(a file with such a header can be a decompression bomb, a few bytes that decode to "
        "gigabytes). If you trust the file, raise the limit: load_image(path, "
        "max_pixels=<width x height or more>), or max_pixels=None for no limit."
    )


@contextmanager
def _pil_limit_restored() -> Iterator[None]:
    """A scope in which ``_decode`` may set PIL's global ``Image.MAX_IMAGE_PIXELS``: restored after.

    PIL keeps its decompression-bomb limit in one module variable; the lock keeps two decodes
    from restoring each other's value. PIL's warning for sizes between its limit and twice the
    limit becomes an error, so that the limit is a limit.
    """
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode(
    data: bytes, size: int | None, where: object, max_pixels: int | None = MAX_PIXELS
) -> Tensor:
    """Bytes of an image file -> (1, 3, H, W) float32 in [0, 1]; ``where`` names it in errors.

    An image of more than ``max_pixels`` pixels (None: any size) raises CorruptDataError before
    its pixels are decoded, as does a file PIL cannot read.
    """
    try:
        with _pil_limit_restored():
            # Image.open reads only the header; its size is checked below, by our rule and with
            # a message that says how to raise the limit, so PIL's check is off for the header.
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if max_pixels is not None and width * height > max_pixels:
                    raise _too_large(
                        where, f"{width} x {height} = {width * height:,} pixels", max_pixels
                    )
                # Some formats check a frame or tile again while loading: against our limit.
                Image.MAX_IMAGE_PIXELS = max_pixels
                opened.load()  # decode now, so that a truncated file fails here
                upright = ImageOps.exif_transpose(opened)  # phone photographs store their rotation
                rgb = upright.convert("RGB")  # greyscale, palette and alpha images become RGB
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(where, f"a frame or tile of it ({error})", max_pixels) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptDataError(
            f"Cannot read {where} as an image ({type(error).__name__}: {error}). The file is "
            "damaged, truncated or not in a format PIL reads (JPEG, PNG, ...): replace it, or "
            "open and save it again as PNG or JPEG."
        ) from error
    pixels = np.array(_resized(rgb, size), dtype=np.uint8)  # (H, W, 3), a writable copy
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
    return tensor.unsqueeze(0).contiguous()


def to_pil(image: Tensor) -> Image.Image:
    """A (1, 3, H, W) or (3, H, W) float RGB tensor -> a PIL RGB image
    (values clamped to [0, 1])."""
    if not isinstance(image, Tensor):
        raise TypeError(f"to_pil expects a torch.Tensor, got {type(image).__name__}.")
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(
                f"to_pil converts one image, got a batch of {image.shape[0]} "
                f"(shape {tuple(image.shape)}); pass images[i]."
            )
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"to_pil expects shape (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}."
        )
    if not image.is_floating_point():
        raise ValueError(
            f"to_pil expects floating-point values in [0, 1], got dtype {image.dtype}."
        )
    values = image.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(values).all()):
        raise ValueError("to_pil got NaN or infinite values; the image cannot be shown.")
    pixels = values.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(np.ascontiguousarray(pixels.numpy()))


# ---------------------------------------------------------------------------------------------
# Files


def load_image(
    path: str | os.PathLike, size: int | None = None, *, max_pixels: int | None = MAX_PIXELS
) -> Tensor:
    """Read an image file as a (1, 3, H, W) float32 tensor in [0, 1].

    The image is converted to RGB (greyscale is repeated, an alpha channel dropped) and turned
    upright when its EXIF data says so; with ``size`` its longer side is resized to ``size``
    pixels (Lanczos filter), keeping the aspect ratio. A missing file raises
    ``FileNotFoundError``, a file PIL cannot decode ``CorruptDataError``, a bad ``size`` or
    ``max_pixels`` ``TypeError`` or ``ValueError``.

    ``max_pixels`` (width x height, PIL's default limit of about 89 million unless given; None
    for no limit) guards against decompression bombs: a larger image raises ``CorruptDataError``
    before its pixels are decoded. PIL's global ``Image.MAX_IMAGE_PIXELS`` is set to it for the
    call only.
    """
    size = _check_size(size)
    max_pixels = _check_max_pixels(max_pixels)
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"No image file at {path} (resolved: {path.resolve()}). Check the path; a relative "
            f"path starts from the working directory {Path.cwd()}."
        )
    if not path.is_file():
        raise IsADirectoryError(f"{path} is a folder, not an image file; name a file inside it.")
    return _decode(path.read_bytes(), size, path, max_pixels)


def _read_verified(path: Traversable, expected: str, what: str, fix: str) -> bytes:
    """The bytes of ``path`` after checking their SHA-256 digest against ``expected``."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise CorruptDataError(
            f"{what} at {path} has SHA-256 {digest}, but {expected} was expected: the file is "
            f"damaged or a different file. {fix}"
        )
    return data


def _lookup(name: str, table: dict, kind: str) -> str:
    key = name[: -len(Path(name).suffix)] if isinstance(name, str) and Path(name).suffix else name
    if key not in table:
        raise ValueError(f"Unknown {kind} {name!r}; available: {', '.join(table)}.")
    return key


def _paintings_folder() -> Traversable:
    return files("course_lib.data") / "paintings"  # package data, listed in pyproject.toml


def painting_path(name: str) -> Traversable:
    """The packaged file of the course's painting ``name`` (a ``Path`` in an ordinary install)."""
    return _paintings_folder() / PAINTINGS[_lookup(name, PAINTINGS, "painting")].file


def load_painting(name: str, size: int | None = None) -> Tensor:
    """One of the course's paintings (``PAINTINGS``) as a (1, 3, H, W) float32 tensor in [0, 1].

    ``name`` is ``"starry_night"`` or ``"the_scream"`` (the file name is accepted too). The file
    ships with the package (``painting_path(name)``) and is checked against its SHA-256 digest on
    every load: a missing file raises ``FileNotFoundError`` and a changed one ``CorruptDataError``,
    both saying how to restore it. ``size`` as in ``load_image``.
    """
    size = _check_size(size)
    painting = PAINTINGS[_lookup(name, PAINTINGS, "painting")]
    path = painting_path(name)
    label = f"{painting.title} ({painting.artist}, {painting.year})"
    restore = (
        f"Fix: restore the file with `git checkout course_lib/data/paintings/{painting.file}` in "
        "the course repository, or reinstall the course package (`pip install -e .` there)."
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"The painting {label} is missing: the course package should hold it at {path}, so "
            f"this installation of course_lib is incomplete. {restore}"
        )
    data = _read_verified(
        path,
        painting.sha256,
        f"The painting {label}",
        f"{restore} To use another reproduction of the painting knowingly, load it with "
        "load_image(path) instead (results will then differ from the notebook's stored ones).",
    )
    return _decode(data, size, path)


def _skimage_data_dir() -> Path | None:
    # find_spec locates the package without importing it (importing skimage takes about a second).
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def bundled_image(name: str, size: int | None = None) -> Tensor:
    """A photograph shipped with scikit-image (``BUNDLED_PHOTOGRAPHS``) as (1, 3, H, W) in [0, 1].

    For example ``bundled_image("chelsea", 256)``: the cat photograph, longer side 256 pixels. The
    file is found through the installed package and checked against the digest of scikit-image
    0.26.0; nothing is downloaded.
    """
    size = _check_size(size)
    photo = BUNDLED_PHOTOGRAPHS[_lookup(name, BUNDLED_PHOTOGRAPHS, "bundled photograph")]
    try:
        installed = importlib.metadata.version("scikit-image")
    except importlib.metadata.PackageNotFoundError:
        installed = "not installed"
    fix = (
        f"Fix: reinstall the pinned version, "
        f"`pip install --force-reinstall --no-deps scikit-image=={SKIMAGE_VERSION}`."
    )
    folder = _skimage_data_dir()
    path = folder / photo.file if folder is not None else None
    if path is None or not path.is_file():
        where = f"at {path}" if path is not None else "because the package skimage is not found"
        raise FileNotFoundError(
            f"The photograph {photo.file} of scikit-image (installed: {installed}) is missing "
            f"{where}. {fix}"
        )
    data = _read_verified(
        path,
        photo.sha256,
        f"The photograph {photo.file} of scikit-image (installed: {installed})",
        fix,
    )
    return _decode(data, size, path)
