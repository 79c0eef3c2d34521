"""MNIST through one chain of sources, each weaker than the last and each saying what it is.

1. The four official files in ``<data dir>/MNIST/raw`` (torchvision's layout), checked by md5.
2. A download of the missing files, when allowed and the folder is writable.
3. An offline pool: the 10,000 official *test* images split 8,000 / 2,000 (said in ``source``).
4. scikit-learn's bundled 8 x 8 digits, upscaled (a ``DataFallbackWarning`` and a printed notice).

``MNISTData.source`` names the data actually used; quote it next to every reported number.
A present file that fails its checksum or cannot be parsed raises ``CorruptDataError`` and is
never modified: the loader adds missing files but never replaces or deletes an existing one.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import warnings
import zlib
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.config import DATA_DIR_ENV, data_dir, is_writable_dir
from course_lib.download import fetch_verified

# The md5 sums and mirrors that torchvision.datasets.MNIST publishes (a test checks they agree);
# restated here so that importing this module needs neither torchvision nor the network.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

OFFLINE_POOL_TRAIN = 8_000
OFFLINE_POOL_HELD_OUT = 2_000
DIGITS_TRAIN_FRACTION = 0.8

DataKind = Literal["full", "offline-pool", "digits-fallback"]

# idx type codes (third magic byte) -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_HOW_TO_GET_MNIST = (
    f"To use MNIST, set ${DATA_DIR_ENV} to a folder holding MNIST/raw/*.gz "
    "(for example the shared data folder), or call with download=True on a machine with "
    "network access and a writable data folder."
)


class CorruptDataError(RuntimeError):
    """A data file exists but is damaged: wrong checksum, bad gzip stream or bad idx layout."""


class DataFallbackWarning(UserWarning):
    """The requested data set was unavailable and a stand-in that is not comparable was used."""


@dataclass(frozen=True)
class MNISTData:
    """Images (N, 1, 28, 28) float32 in [0, 1] and int64 labels (N,), with their provenance."""

    train_images: torch.Tensor = field(repr=False)
    train_labels: torch.Tensor = field(repr=False)
    test_images: torch.Tensor = field(repr=False)
    test_labels: torch.Tensor = field(repr=False)
    source: str
    kind: DataKind

    @property
    def short_source(self) -> str:
        """A few words to quote beside a number, e.g. 'MNIST offline pool, 8,000 train / 2,000 held-out'."""
        counts = f"{len(self.train_labels):,} train / {len(self.test_labels):,} held-out"
        names = {"full": "MNIST", "offline-pool": "MNIST offline pool", "digits-fallback": "NOT MNIST: digits fallback"}
        return f"{names[self.kind]}, {counts}"


# ---------------------------------------------------------------------------------------------
# Reading and verifying files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped idx file (the MNIST format) into an array of its stored type and shape.

    Raises ``FileNotFoundError`` for a missing file and ``CorruptDataError`` (naming the file)
    when it is not valid gzip or its idx header does not match its contents.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # EOFError: stream cut short
        raise _corrupt_idx(path, f"cannot be decompressed ({error})") from error
    return _parse_idx(path, raw)


def _parse_idx(path: Path, raw: bytes) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise _corrupt_idx(path, f"bad idx magic number {raw[:4].hex() or '(empty)'}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise _corrupt_idx(path, f"header cut short ({len(raw)} bytes, need {header_size})")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual_bytes = len(raw) - header_size
    if actual_bytes != expected_bytes:
        raise _corrupt_idx(
            path, f"header says shape {shape} ({expected_bytes} bytes), found {actual_bytes} bytes"
        )
    values = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _corrupt_idx(path: Path, problem: str) -> CorruptDataError:
    return CorruptDataError(
        f"{path} is not a valid gzipped idx file: {problem}. The file was left untouched. "
        "Fix: delete the file and run again to re-download it, or restore it from a good copy."
    )


@functools.lru_cache(maxsize=64)
def _md5_of(path: str, inode: int, size: int, mtime_ns: int) -> str:
    # Keyed on inode, size and mtime as well, so a file changed or replaced on disk is re-hashed.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path) -> None:
    """Raise ``CorruptDataError`` unless ``path`` has the official md5 of its MNIST file name."""
    expected = MNIST_MD5[path.name]
    info = path.stat()
    actual = _md5_of(str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns)
    if actual != expected:
        raise CorruptDataError(
            f"{path} is damaged or incomplete: its md5 is {actual}, expected {expected} "
            "(the official MNIST file). The file was left untouched. Fix: delete the file and "
            "run again to re-download it (needs network access), or restore it from a good copy "
            f"(for example {MNIST_MIRRORS[0]}{path.name}, or a shared data folder named by "
            f"${DATA_DIR_ENV})."
        )


def _verified_present(raw_dir: Path) -> set[str]:
    """Names of the official files present in ``raw_dir``; every one of them is verified."""
    present = {name for name in MNIST_MD5 if (raw_dir / name).is_file()}
    for name in sorted(present):
        verify_file(raw_dir / name)
    return present


# ---------------------------------------------------------------------------------------------
# Downloading


def _download_missing(raw_dir: Path, missing: list[str]) -> None:
    """Try to download each missing file; stop at the first one that no mirror can provide."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        if not _download(raw_dir / name):
            return  # the network is evidently unavailable: the rest would fail the same way


def _download(destination: Path) -> bool:
    """Fetch one official file from the first mirror that works; print one line on failure."""
    reasons = []
    for mirror in MNIST_MIRRORS:
        try:
            fetch_verified(mirror + destination.name, destination, MNIST_MD5[destination.name], "md5")
            return True
        except (OSError, HTTPException, ValueError) as error:  # URLError is an OSError
            reasons.append(f"{mirror}: {error}")
    print(f"Could not download {destination.name} ({'; '.join(reasons)}); continuing offline.")
    return False


# ---------------------------------------------------------------------------------------------
# Building the data sets


ImagesAndLabels = tuple[torch.Tensor, torch.Tensor]


def _load_official_pair(raw_dir: Path, images_name: str, labels_name: str) -> ImagesAndLabels:
    """Images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64 from two idx files."""
    images = read_idx(raw_dir / images_name)
    labels = read_idx(raw_dir / labels_name)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise _corrupt_idx(
            raw_dir / images_name, f"expected uint8 (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1] or labels.max(initial=0) > 9:
        raise _corrupt_idx(
            raw_dir / labels_name,
            f"expected {images.shape[0]} uint8 labels in 0..9 to match {images_name}, "
            f"got {labels.dtype} {labels.shape}",
        )
    image_tensor = torch.from_numpy(images).unsqueeze(1).float().div_(255.0)  # (N, 1, 28, 28)
    return image_tensor, torch.from_numpy(labels).long()


def _validate_request(size: int | None, what: str) -> None:
    is_count = isinstance(size, int | np.integer) and not isinstance(size, bool)
    if size is not None and not (is_count and size > 0):
        raise ValueError(f"{what} must be a positive int or None, got {size!r}")


def _check_size(size: int | None, available: int, what: str) -> int:
    """The number of images to use: ``size``, or all ``available`` when it is None."""
    _validate_request(size, what)
    if size is None:
        return available
    if size > available:
        raise ValueError(
            f"{what}={size:,} asks for more than the {available:,} images available."
        )
    return int(size)


def _shuffled(count: int, seed: int) -> torch.Tensor:
    """A permutation of ``range(count)``, the same for the same seed on every machine."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def _subset(data: ImagesAndLabels, size: int, seed: int) -> ImagesAndLabels:
    images, labels = data
    if size == len(labels):
        return images, labels  # keep the official order when everything is used
    chosen = _shuffled(len(labels), seed)[:size]
    return images[chosen], labels[chosen]


def _split_pool(
    images: torch.Tensor, labels: torch.Tensor, n_pool_train: int, sizes: tuple[int, int], seed: int
) -> tuple[torch.Tensor, ...]:
    """Shuffle by seed, cut at ``n_pool_train``, and keep the first ``sizes`` of each part.

    Taking prefixes keeps smaller requests nested inside larger ones with the same seed.
    """
    order = _shuffled(len(labels), seed)
    train = order[:n_pool_train][: sizes[0]]
    test = order[n_pool_train:][: sizes[1]]
    return images[train], labels[train], images[test], labels[test]


def _full_mnist(
    raw_dir: Path, train_size: int | None, test_size: int | None, seed: int
) -> MNISTData:
    train = _load_official_pair(raw_dir, *TRAIN_FILES)
    test = _load_official_pair(raw_dir, *TEST_FILES)
    n_train_all, n_test_all = len(train[1]), len(test[1])
    n_train = _check_size(train_size, n_train_all, "train_size")
    n_test = _check_size(test_size, n_test_all, "test_size")
    subsampled = (n_train, n_test) != (n_train_all, n_test_all)
    source = (
        f"MNIST: {n_train:,} of the {n_train_all:,} official training images / "
        f"{n_test:,} of the {n_test_all:,} official test images"
        + (f" (random subset, seed {seed})" if subsampled else "")
        + f", from {raw_dir}"
    )
    return MNISTData(*_subset(train, n_train, seed), *_subset(test, n_test, seed), source, "full")


def _capped(size: int | None, available: int, what: str) -> int:
    """``size`` cut down to what a small stand-in source holds, so every profile still runs."""
    _validate_request(size, what)
    return available if size is None else min(int(size), available)


def _offline_pool(
    raw_dir: Path, train_size: int | None, test_size: int | None, seed: int
) -> MNISTData:
    n_train = _capped(train_size, OFFLINE_POOL_TRAIN, "train_size")
    n_test = _capped(test_size, OFFLINE_POOL_HELD_OUT, "test_size")
    images, labels = _load_official_pair(raw_dir, *TEST_FILES)
    cut = (train_size or 0) > n_train or (test_size or 0) > n_test
    source = (
        f"MNIST offline pool: {n_train:,} train / {n_test:,} held-out images drawn (seed {seed}) "
        f"from the {len(labels):,} official MNIST test images "
        f"(no MNIST training files found in {raw_dir}"
        + (f"; {train_size or n_train:,} / {test_size or n_test:,} were asked for" if cut else "")
        + ")"
    )
    tensors = _split_pool(images, labels, OFFLINE_POOL_TRAIN, (n_train, n_test), seed)
    return MNISTData(*tensors, source, "offline-pool")


def _digits_as_mnist() -> ImagesAndLabels:
    """scikit-learn's 1,797 digits laid out like MNIST: (N, 1, 28, 28) in [0, 1], labels (N,)."""
    from sklearn.datasets import load_digits  # slow import, only needed on this path

    digits = load_digits()
    small = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)  # (N, 1, 8, 8)
    # MNIST centres each digit in a 20 x 20 box inside a 4-pixel blank border.
    box = F.interpolate(small, size=(20, 20), mode="bilinear")  # (N, 1, 20, 20)
    images = F.pad(box, (4, 4, 4, 4)).clamp_(0.0, 1.0)  # (N, 1, 28, 28)
    return images, torch.from_numpy(digits.target).long()


def _digits_fallback(
    raw_dir: Path, train_size: int | None, test_size: int | None, seed: int
) -> MNISTData:
    images, labels = _digits_as_mnist()
    n_pool_train = int(len(labels) * DIGITS_TRAIN_FRACTION)
    n_pool_test = len(labels) - n_pool_train
    # Requests beyond this small set are cut down rather than refused, so notebooks still run.
    n_train = _capped(train_size, n_pool_train, "train_size")
    n_test = _capped(test_size, n_pool_test, "test_size")
    source = (
        f"NOT MNIST: scikit-learn digits fallback, {n_train:,} train / {n_test:,} held-out 8x8 "
        f"digit images upscaled to 28x28 (seed {seed}), because the MNIST test files were not "
        f"found in {raw_dir}; results are not comparable to MNIST"
    )
    tensors = _split_pool(images, labels, n_pool_train, (n_train, n_test), seed)
    return MNISTData(*tensors, source, "digits-fallback")


def load_mnist(
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> MNISTData:
    """MNIST from the best available source (see the module docstring for the chain).

    ``train_size`` / ``test_size`` pick deterministic random subsets (by ``seed``); None keeps
    everything the source offers. ``root`` defaults to ``course_lib.config.data_dir()``.
    """
    raw_dir = Path(root if root is not None else data_dir()) / "MNIST" / "raw"
    present = _verified_present(raw_dir)
    missing = [name for name in MNIST_MD5 if name not in present]
    if missing and download and is_writable_dir(raw_dir):
        _download_missing(raw_dir, missing)
        present = _verified_present(raw_dir)

    if present == set(MNIST_MD5):
        return _full_mnist(raw_dir, train_size, test_size, seed)
    if present.issuperset(TEST_FILES):
        return _offline_pool(raw_dir, train_size, test_size, seed)
    data = _digits_fallback(raw_dir, train_size, test_size, seed)
    notice = f"{data.source}. {_HOW_TO_GET_MNIST}"
    warnings.warn(notice, DataFallbackWarning, stacklevel=2)
    print(f"WARNING: {notice}")
    return data


def binarized_mnist(
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    binarize_seed: int = 1234,
    **load_kwargs: Any,
) -> MNISTData:
    """``load_mnist`` with every pixel set to 1.0 with probability equal to its intensity, else 0.0.

    The noise comes from torch generators seeded with ``binarize_seed`` (train) and
    ``binarize_seed + 1`` (test), so the same arguments give the same data set on every call.
    """
    data = load_mnist(train_size, test_size, seed, **load_kwargs)
    return MNISTData(
        _binarize(data.train_images, binarize_seed),
        data.train_labels,
        _binarize(data.test_images, binarize_seed + 1),
        data.test_labels,
        f"{data.source}; stochastically binarized once (pixel = 1 with probability equal to its "
        f"intensity, torch.Generator seed {binarize_seed})",
        data.kind,
    )


def _binarize(images: torch.Tensor, seed: int) -> torch.Tensor:
    uniform = torch.rand(images.shape, generator=torch.Generator().manual_seed(seed))
    return (uniform < images).float()
