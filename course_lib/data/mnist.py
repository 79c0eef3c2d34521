"""MNIST through one chain of sources, each weaker than the last and each saying what it is.

1. The four official files in ``<data dir>/MNIST/raw``, each stored as the official ``.gz``,
   another gzip of the same bytes, or raw idx (torchvision's uncompressed names): the standard
   split, training on (a seeded subset of) the 60,000 training images and measuring on the
   10,000 test images.
2. A download of the missing files, when allowed and the folder is writable.
3. An offline pool: the 10,000 official *test* images split 8,000 / 2,000 (said in ``source``).
4. scikit-learn's bundled 8 x 8 digits, upscaled (a ``DataFallbackWarning`` and a printed notice).

Every file is verified by one rule: the SHA-256 of its decompressed idx bytes, which is the same
whichever way the file is stored. ``MNISTData.source`` names the data actually used; quote
``short_source`` beside every reported number. A present file that fails its checksum or cannot
be parsed raises ``CorruptDataError`` and is never modified: the loader adds missing files but
never replaces or deletes an existing one.
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

from course_lib.data.download import CorruptDataError, fetch_verified
from course_lib.runtime.config import (
    DATA_DIR_ENV,
    data_dir,
    is_writable_dir,
    shown_path,
)

# SHA-256 of each official file's idx bytes after decompression (published with the course's
# shared data; the test files' .gz also match torchvision's md5 sums, which a test checks).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
OFFICIAL_TRAIN_SIZE, OFFICIAL_TEST_SIZE = 60_000, 10_000

# The mirrors torchvision.datasets.MNIST uses (a test checks they agree); each serves <name>.gz.
# ``$COURSE_MNIST_MIRRORS`` (folder URLs separated by spaces) replaces them, for example with a
# mirror inside a campus network.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV = "COURSE_MNIST_MIRRORS"

OFFLINE_POOL_TRAIN = 8_000
OFFLINE_POOL_HELD_OUT = 2_000
DIGITS_TRAIN_FRACTION = 0.8
GZIP_MAGIC = b"\x1f\x8b"

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
    f"To use MNIST, set ${DATA_DIR_ENV} to a folder whose MNIST/raw/ holds the four official "
    "files (.gz or uncompressed idx), or run once on a machine with network access and a "
    "writable data folder, which downloads them."
)


class DataFallbackWarning(UserWarning):
    """The requested data set was unavailable and a stand-in that is not comparable was used."""


@dataclass(frozen=True)
class MNISTData:
    """Images (N, 1, 28, 28) float32 in [0, 1] and int64 labels (N,), with their provenance.

    With the full data set the test tensors are (a named subset of) the official test images;
    with a fallback they are its held-out part.
    """

    train_images: torch.Tensor = field(repr=False)
    train_labels: torch.Tensor = field(repr=False)
    test_images: torch.Tensor = field(repr=False)
    test_labels: torch.Tensor = field(repr=False)
    source: str
    kind: DataKind

    @property
    def record(self) -> dict[str, object]:
        """What a checkpoint records of the data it was trained on: the source's kind and the
        image counts (``{"kind": "full", "train_images": 12000, "test_images": 1000}``)."""
        n_train, n_test = len(self.train_labels), len(self.test_labels)
        return {"kind": self.kind, "train_images": n_train, "test_images": n_test}

    @property
    def short_source(self) -> str:
        """A few words to quote beside a number.

        For example 'MNIST, 12,000 of 60,000 training images; official test set'."""
        n_train, n_test = len(self.train_labels), len(self.test_labels)
        if self.kind == "full":
            test = (
                "official test set"
                if n_test == OFFICIAL_TEST_SIZE
                else f"{n_test:,} of 10,000 official test images"
            )
            return f"MNIST, {n_train:,} of 60,000 training images; {test}"
        names = {
            "offline-pool": "MNIST offline pool (test images only)",
            "digits-fallback": "NOT MNIST: digits fallback",
        }
        return f"{names[self.kind]}, {n_train:,} train / {n_test:,} held-out"


# ---------------------------------------------------------------------------------------------
# Reading and verifying files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), gzipped or raw, into an array of its type and shape.

    Raises ``FileNotFoundError`` for a missing file and ``CorruptDataError`` (naming the file)
    when a gzip stream is damaged or the idx header does not match the contents.
    """
    path = Path(path)
    return _parse_idx(path, _idx_bytes(path))


def _idx_bytes(path: Path) -> bytes:
    """The idx bytes of ``path``: decompressed if gzip (by its magic bytes), else as stored."""
    stored = path.read_bytes()
    if not stored.startswith(GZIP_MAGIC):
        return stored
    try:
        return gzip.decompress(stored)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # EOFError: stream cut short
        raise _corrupt_idx(path, f"its gzip stream cannot be decompressed ({error})") from error


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
        f"{path} is not a valid idx file (raw or gzipped): {problem}. The file was left untouched. "
        "Fix: delete the file and run again to re-download it, or restore it from a good copy."
    )


def official_name(path: Path) -> str:
    """The official file a copy stands for: ``raw/t10k-images-idx3-ubyte.gz`` ->
    ``t10k-images-idx3-ubyte``."""
    return path.name.removesuffix(".gz")


def copies_of(raw_dir: Path, name: str) -> list[Path]:
    """The copies of official file ``name`` in ``raw_dir``: uncompressed first, then ``.gz``."""
    return [path for path in (raw_dir / name, raw_dir / f"{name}.gz") if path.is_file()]


def verified_idx(path: Path) -> np.ndarray:
    """The parsed contents of an official MNIST file, after checking its decompressed SHA-256.

    Raises ``CorruptDataError`` (naming the file, both digests and the fix) when the digest is
    wrong, including a truncated file; the file is never modified. Each file is read, hashed and
    parsed once until it changes on disk; the array returned is shared and read-only.
    """
    info = path.stat()
    return _verified_idx(str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _verified_idx(path: str, inode: int, size: int, mtime_ns: int) -> np.ndarray:
    # Keyed on inode, size and mtime as well, so a file changed or replaced on disk is read again.
    location = Path(path)
    name = official_name(location)
    content = _idx_bytes(location)
    actual, expected = hashlib.sha256(content).hexdigest(), MNIST_SHA256[name]
    if actual != expected:
        raise CorruptDataError(
            f"{location} is damaged, incomplete or not the official MNIST file {name}: the SHA-256 "
            f"of its idx bytes{' (after decompressing)' if location.suffix == '.gz' else ''} is "
            f"{actual}, expected {expected}. The file was left untouched. Fix: delete the file and "
            "run again to download it (needs network access), or replace it with a good copy "
            f"(for example {MNIST_MIRRORS[0]}{name}.gz, kept as .gz or decompressed), or point "
            f"${DATA_DIR_ENV} at a data folder whose MNIST/raw/ holds the official files."
        )
    array = _parse_idx(location, content)
    array.flags.writeable = False  # shared by every caller through the cache
    return array


def _verified_present(raw_dir: Path) -> set[str]:
    """Names of the official files with a copy in ``raw_dir``; every copy present is verified."""
    present = set()
    for name in MNIST_SHA256:
        for path in copies_of(raw_dir, name):
            verified_idx(path)
            present.add(name)
    return present


# ---------------------------------------------------------------------------------------------
# Downloading


def mirrors() -> tuple[str, ...]:
    """Folder URLs to download from: ``$COURSE_MNIST_MIRRORS`` if set, else ``MNIST_MIRRORS``."""
    configured = os.environ.get(MIRRORS_ENV, "").split()
    return tuple(url if url.endswith("/") else url + "/" for url in configured) or MNIST_MIRRORS


def _download_missing(raw_dir: Path, missing: list[str]) -> None:
    """Try to download each missing file; stop at the first one that no mirror can provide."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        if not _download(raw_dir, name):
            return  # the network is evidently unavailable: the rest would fail the same way


def _download(raw_dir: Path, name: str) -> bool:
    """Fetch ``<name>.gz`` from the first mirror serving the official bytes; one line on failure."""
    destination = raw_dir / f"{name}.gz"
    reasons = []
    for mirror in mirrors():
        try:
            fetch_verified(mirror + destination.name, destination, _official_content_check)
            return True
        except (
            OSError,
            HTTPException,
            ValueError,
            CorruptDataError,
        ) as error:  # URLError is an OSError
            reasons.append(f"{mirror}: {error}")
    print(f"Could not download {destination.name} ({'; '.join(reasons)}); continuing offline.")
    return False


def _official_content_check(partial: Path, destination: Path) -> None:
    """Raise ``ValueError`` unless the downloaded ``partial`` holds the idx bytes of
    ``destination``'s file."""
    name = official_name(destination)
    actual = hashlib.sha256(_idx_bytes(partial)).hexdigest()
    if actual != MNIST_SHA256[name]:
        raise ValueError(f"served idx bytes with SHA-256 {actual}, expected {MNIST_SHA256[name]}")


# ---------------------------------------------------------------------------------------------
# Building the data sets


ImagesAndLabels = tuple[torch.Tensor, torch.Tensor]


def _official_pair(
    raw_dir: Path, images_name: str, labels_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Verified uint8 images (N, 28, 28) and labels (N,) of one official split."""
    images_path, labels_path = (
        copies_of(raw_dir, images_name)[0],
        copies_of(raw_dir, labels_name)[0],
    )
    images, labels = verified_idx(images_path), verified_idx(labels_path)
    # Only reachable with a checksum table changed by hand (or by a test): the official files pass.
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise _corrupt_idx(
            images_path, f"expected uint8 (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1] or labels.max(initial=0) > 9:
        raise _corrupt_idx(
            labels_path,
            f"expected {images.shape[0]} uint8 labels in 0..9 to match {images_name}, "
            f"got {labels.dtype} {labels.shape}",
        )
    return images, labels


def _as_tensors(images: np.ndarray, labels: np.ndarray, chosen: torch.Tensor) -> ImagesAndLabels:
    """The ``chosen`` rows as images (n, 1, 28, 28) float32 in [0, 1] and labels (n,) int64."""
    rows = chosen.numpy()
    picked = (
        torch.from_numpy(images[rows]).unsqueeze(1).float().div_(255.0)
    )  # (n, 1, 28, 28), a copy
    return picked, torch.from_numpy(labels[rows]).long()


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
        raise ValueError(f"{what}={size:,} asks for more than the {available:,} images available.")
    return int(size)


def _shuffled(count: int, seed: int) -> torch.Tensor:
    """A permutation of ``range(count)``, the same for the same seed on every machine."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def _chosen_rows(available: int, size: int, seed: int) -> torch.Tensor:
    """All rows in the official order, or the first ``size`` of a seeded shuffle
    (nested across sizes)."""
    if size == available:
        return torch.arange(available)
    return _shuffled(available, seed)[:size]


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


def _stored_as(raw_dir: Path) -> str:
    """How the files in use are stored, e.g. 'raw idx' or '.gz and raw idx'."""
    kinds = {
        "gz" if copies_of(raw_dir, name)[0].suffix == ".gz" else "raw" for name in MNIST_SHA256
    }
    return " and ".join({"gz": ".gz", "raw": "raw idx"}[kind] for kind in sorted(kinds))


def _full_mnist(
    raw_dir: Path, train_size: int | None, test_size: int | None, seed: int
) -> MNISTData:
    train_images, train_labels = _official_pair(raw_dir, *TRAIN_FILES)
    test_images, test_labels = _official_pair(raw_dir, *TEST_FILES)
    n_train_all, n_test_all = len(train_labels), len(test_labels)
    n_train = _check_size(train_size, n_train_all, "train_size")
    n_test = _check_size(test_size, n_test_all, "test_size")

    def part(count: int, available: int, what: str) -> str:
        if count == available:
            return f"all {available:,} official {what} images"
        return f"{count:,} of the {available:,} official {what} images (random subset, seed {seed})"

    source = (
        f"MNIST, standard split: trained on {part(n_train, n_train_all, 'training')}, measured on "
        f"{part(n_test, n_test_all, 'test')}; files ({_stored_as(raw_dir)}, SHA-256 verified) "
        f"from {shown_path(raw_dir)}"
    )
    return MNISTData(
        *_as_tensors(train_images, train_labels, _chosen_rows(n_train_all, n_train, seed)),
        *_as_tensors(test_images, test_labels, _chosen_rows(n_test_all, n_test, seed)),
        source,
        "full",
    )


def _capped(size: int | None, available: int, what: str) -> int:
    """``size`` cut down to what a small stand-in source holds, so every profile still runs."""
    _validate_request(size, what)
    return available if size is None else min(int(size), available)


def _offline_pool(
    raw_dir: Path, train_size: int | None, test_size: int | None, seed: int
) -> MNISTData:
    n_train = _capped(train_size, OFFLINE_POOL_TRAIN, "train_size")
    n_test = _capped(test_size, OFFLINE_POOL_HELD_OUT, "test_size")
    official_images, official_labels = _official_pair(raw_dir, *TEST_FILES)
    images, labels = _as_tensors(
        official_images, official_labels, torch.arange(len(official_labels))
    )
    cut = (train_size or 0) > n_train or (test_size or 0) > n_test
    source = (
        f"MNIST offline pool: {n_train:,} train / {n_test:,} held-out images drawn (seed {seed}) "
        f"from the {len(labels):,} official MNIST test images, because the training files are not "
        f"in {shown_path(raw_dir)}; not the standard split, so not comparable with published "
        "results"
        + (f" ({train_size or n_train:,} / {test_size or n_test:,} were asked for)" if cut else "")
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
        f"digit images upscaled to 28x28 (seed {seed}), because the MNIST test files are not "
        f"in {shown_path(raw_dir)}; results are not comparable to MNIST"
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

    ``train_size`` / ``test_size`` pick deterministic random subsets (by ``seed``; a smaller
    request is a prefix of a larger one); None keeps everything the source offers. ``root``
    defaults to ``course_lib.runtime.config.data_dir()``.
    """
    raw_dir = Path(root if root is not None else data_dir()) / "MNIST" / "raw"
    present = _verified_present(raw_dir)
    missing = [name for name in MNIST_SHA256 if name not in present]
    if missing and download and is_writable_dir(raw_dir):
        _download_missing(raw_dir, missing)
        present = _verified_present(raw_dir)

    if present == set(MNIST_SHA256):
        return _full_mnist(raw_dir, train_size, test_size, seed)
    if present.issuperset(TEST_FILES):
        data = _offline_pool(raw_dir, train_size, test_size, seed)
        print(f"NOTE: {data.source}.")
        return data
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
