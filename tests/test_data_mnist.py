"""The MNIST loader: idx parsing, checksums, the source chain, downloads and binarisation.

No test touches the network: an autouse fixture replaces the module's ``urlopen``. Fake "official"
files are tiny idx files whose md5 sums are swapped into ``MNIST_MD5`` for the test's duration.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from course_lib import download
from course_lib.config import DATA_DIR_ENV, REPO_ROOT
from course_lib.data import (
    CorruptDataError,
    DataFallbackWarning,
    binarized_mnist,
    load_mnist,
    read_idx,
)
from course_lib.data import mnist

TRAIN_IMAGES, TRAIN_LABELS = mnist.TRAIN_FILES
TEST_IMAGES, TEST_LABELS = mnist.TEST_FILES

# Label counts of the 10,000 official MNIST test images, digits 0..9.
OFFICIAL_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _shared_data_dir() -> Path:
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


SHARED_RAW = _shared_data_dir() / "MNIST" / "raw"
needs_shared_mnist = pytest.mark.skipif(
    not all((SHARED_RAW / name).is_file() for name in mnist.TEST_FILES),
    reason=f"the real MNIST test files are not in {SHARED_RAW} "
    f"(set ${DATA_DIR_ENV} to the shared data folder to run these tests)",
)


# ---------------------------------------------------------------------------------------------
# Helpers and fixtures


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in the uncompressed idx format (big-endian header and values)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0))
    return path


def fake_official_files(n_train: int, n_test: int, seed: int = 0) -> dict[str, bytes]:
    """Gzipped idx bytes for all four MNIST file names, with random images and labels."""
    rng = np.random.default_rng(seed)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {name: gzip.compress(idx_bytes(array), mtime=0) for name, array in arrays.items()}


def accept_as_official(monkeypatch, files: dict[str, bytes]) -> None:
    """Make the loader's checksum table expect exactly these contents."""
    for name, content in files.items():
        monkeypatch.setitem(mnist.MNIST_MD5, name, hashlib.md5(content).hexdigest())


def place(raw_dir: Path, files: dict[str, bytes], names) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (raw_dir / name).write_bytes(files[name])


def leftovers(raw_dir: Path) -> list[str]:
    """Names in ``raw_dir`` that are not official file names (partial downloads, say)."""
    return sorted(p.name for p in raw_dir.iterdir() if p.name not in mnist.MNIST_MD5)


class FakeNetwork:
    """Stands in for ``urlopen``: serves bytes by file name and records every URL asked for."""

    def __init__(self, served: dict[str, bytes] | None = None):
        self.served = served or {}
        self.requested: list[str] = []

    def __call__(self, url: str, timeout: float):
        assert timeout <= 30, "downloads must use a short timeout"
        self.requested.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in self.served:
            raise URLError("network disabled in tests")
        return io.BytesIO(self.served[name])


@pytest.fixture(autouse=True)
def network(monkeypatch) -> FakeNetwork:
    """No test reaches the internet; tests that download fill ``network.served``."""
    fake = FakeNetwork()
    monkeypatch.setattr(download, "urlopen", fake)
    return fake


@pytest.fixture
def fake_files(monkeypatch) -> dict[str, bytes]:
    files = fake_official_files(n_train=30, n_test=12)
    accept_as_official(monkeypatch, files)
    return files


# ---------------------------------------------------------------------------------------------
# read_idx


def test_read_idx_round_trips_images_and_labels(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint16).reshape(2, 28, 28).astype(np.uint8)
    labels = np.array([7, 3], dtype=np.uint8)
    assert np.array_equal(read_idx(write_gz(tmp_path / "i.gz", idx_bytes(images))), images)
    assert np.array_equal(read_idx(write_gz(tmp_path / "l.gz", idx_bytes(labels))), labels)


def test_read_idx_decodes_big_endian_multibyte_values(tmp_path):
    values = np.array([[1, -2, 70000], [2**30, 0, -(2**31)]], dtype=np.int32)
    result = read_idx(write_gz(tmp_path / "v.gz", idx_bytes(values)))
    assert result.shape == (2, 3) and np.array_equal(result, values)
    assert result.dtype.isnative and result.flags.writeable


GOOD_PAYLOAD = idx_bytes(np.ones((3, 4), dtype=np.uint8))
CORRUPTIONS = {
    "truncated gzip": lambda path: path.write_bytes(gzip.compress(GOOD_PAYLOAD)[:-12]),
    "not gzip at all": lambda path: path.write_bytes(GOOD_PAYLOAD),
    "wrong magic": lambda path: write_gz(path, b"\x12\x34" + GOOD_PAYLOAD[2:]),
    "unknown type code": lambda path: write_gz(path, b"\x00\x00\x42" + GOOD_PAYLOAD[3:]),
    "missing values": lambda path: write_gz(path, GOOD_PAYLOAD[:-1]),
    "extra values": lambda path: write_gz(path, GOOD_PAYLOAD + b"\x00"),
    "header cut short": lambda path: write_gz(path, GOOD_PAYLOAD[:6]),
    "empty": lambda path: write_gz(path, b""),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_read_idx_rejects_corrupt_files_and_leaves_them_alone(tmp_path, corrupt):
    path = tmp_path / "damaged-idx.gz"
    corrupt(path)
    before = path.read_bytes()
    with pytest.raises(CorruptDataError, match="damaged-idx.gz") as caught:
        read_idx(path)
    assert "delete the file" in str(caught.value)
    assert path.read_bytes() == before


def test_read_idx_reports_a_missing_file_as_missing_not_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nowhere.gz")


# ---------------------------------------------------------------------------------------------
# Checksums


def test_checksum_table_and_mirrors_match_torchvision():
    import torchvision.datasets  # course_lib (imported above) makes this import work

    assert dict(torchvision.datasets.MNIST.resources) == mnist.MNIST_MD5
    assert tuple(torchvision.datasets.MNIST.mirrors) == mnist.MNIST_MIRRORS


def test_wrong_checksum_raises_names_file_and_sums_and_never_touches_it(tmp_path, network):
    raw = tmp_path / "MNIST" / "raw"
    damaged = write_gz(raw / TEST_IMAGES, b"not the real file")
    before, mtime = damaged.read_bytes(), damaged.stat().st_mtime_ns
    with pytest.raises(CorruptDataError) as caught:
        load_mnist(root=tmp_path, download=True)
    message = str(caught.value)
    assert str(damaged) in message
    assert mnist.MNIST_MD5[TEST_IMAGES] in message  # expected
    assert hashlib.md5(before).hexdigest() in message  # actual
    assert "delete the file" in message
    assert damaged.read_bytes() == before and damaged.stat().st_mtime_ns == mtime
    assert network.requested == []  # no attempt to replace it either


def test_a_file_that_passes_its_checksum_but_has_the_wrong_shape_is_corrupt(tmp_path, monkeypatch):
    files = fake_official_files(n_train=5, n_test=5)
    files[TEST_IMAGES] = gzip.compress(idx_bytes(np.zeros((5, 27, 27), np.uint8)), mtime=0)
    accept_as_official(monkeypatch, files)
    place(tmp_path / "MNIST" / "raw", files, files)
    with pytest.raises(CorruptDataError, match=f"{TEST_IMAGES}.*28, 28"):
        load_mnist(root=tmp_path, download=False)


def test_verification_hashes_each_file_once_until_it_changes(tmp_path, fake_files):
    path = tmp_path / TEST_LABELS
    path.write_bytes(fake_files[TEST_LABELS])
    mnist._md5_of.cache_clear()
    mnist.verify_file(path)
    mnist.verify_file(path)
    assert mnist._md5_of.cache_info().misses == 1 and mnist._md5_of.cache_info().hits == 1
    path.write_bytes(fake_files[TEST_LABELS] + b"tail")
    with pytest.raises(CorruptDataError):
        mnist.verify_file(path)


# ---------------------------------------------------------------------------------------------
# The chain: full set, offline pool, digits fallback


def test_full_set_is_used_when_all_four_files_verify(tmp_path, fake_files, network):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, fake_files, fake_files)
    data = load_mnist(root=tmp_path)
    assert data.kind == "full" and network.requested == []
    assert data.train_images.shape == (30, 1, 28, 28) and data.test_images.shape == (12, 1, 28, 28)
    assert data.train_images.dtype == torch.float32 and data.train_labels.dtype == torch.int64
    expected = read_idx(raw / TRAIN_IMAGES).astype(np.float32) / 255
    assert np.array_equal(data.train_images[:, 0].numpy(), expected)
    assert np.array_equal(data.test_labels.numpy(), read_idx(raw / TEST_LABELS))
    assert "official training images" in data.source and str(raw) in data.source


def test_full_set_subsamples_deterministically_and_keeps_pairs(tmp_path, fake_files):
    place(tmp_path / "MNIST" / "raw", fake_files, fake_files)
    everything = load_mnist(root=tmp_path)
    small = load_mnist(train_size=10, test_size=4, seed=5, root=tmp_path)
    again = load_mnist(train_size=10, test_size=4, seed=5, root=tmp_path)
    other = load_mnist(train_size=10, test_size=4, seed=6, root=tmp_path)
    assert small.train_images.shape == (10, 1, 28, 28) and small.test_labels.shape == (4,)
    assert torch.equal(small.train_images, again.train_images)
    assert not torch.equal(small.train_images, other.train_images)
    assert "seed 5" in small.source
    for image, label in zip(small.train_images, small.train_labels):
        row = (everything.train_images == image).flatten(1).all(dim=1).nonzero().item()
        assert everything.train_labels[row] == label
    with pytest.raises(ValueError, match="31"):
        load_mnist(train_size=31, root=tmp_path)


def test_data_dir_setting_is_the_default_root(tmp_path, fake_files, monkeypatch):
    place(tmp_path / "MNIST" / "raw", fake_files, fake_files)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert load_mnist(download=False).kind == "full"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "does-not-exist"))
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_mnist()


def test_offline_pool_from_fake_test_files_is_a_disjoint_deterministic_split(
    tmp_path, monkeypatch
):
    # Each fake image carries its own index in two pixels, so overlaps are exact to detect.
    count = 10_000
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(count) // 256, np.arange(count) % 256
    files = {
        TEST_IMAGES: gzip.compress(idx_bytes(images), mtime=0),
        TEST_LABELS: gzip.compress(idx_bytes((np.arange(count) % 10).astype(np.uint8)), mtime=0),
    }
    accept_as_official(monkeypatch, files)
    place(tmp_path / "MNIST" / "raw", files, files)

    def indices(images: torch.Tensor) -> torch.Tensor:
        high, low = (images[:, 0, 0, :2] * 255).round().long().unbind(dim=1)
        return high * 256 + low

    data = load_mnist(root=tmp_path, download=False, seed=0)
    train, test = indices(data.train_images), indices(data.test_images)
    assert data.kind == "offline-pool" and (len(train), len(test)) == (8_000, 2_000)
    assert sorted(torch.cat([train, test]).tolist()) == list(range(count))  # disjoint, complete
    assert torch.equal(data.train_labels, train % 10)  # labels travel with their images
    assert "offline pool" in data.source

    same = load_mnist(root=tmp_path, download=False, seed=0)
    reseeded = load_mnist(root=tmp_path, download=False, seed=1)
    smaller = load_mnist(train_size=100, test_size=50, root=tmp_path, download=False, seed=0)
    assert torch.equal(indices(same.train_images), train)
    assert not torch.equal(indices(reseeded.train_images), train)
    assert torch.equal(indices(smaller.train_images), train[:100])  # smaller sets are nested
    assert torch.equal(indices(smaller.test_images), test[:50])


@needs_shared_mnist
def test_offline_pool_from_the_real_test_files():
    data = load_mnist(root=SHARED_RAW.parent.parent, download=False)
    assert data.kind == "offline-pool"
    assert data.train_images.shape == (8_000, 1, 28, 28)
    assert data.test_images.shape == (2_000, 1, 28, 28)
    assert "8,000 train / 2,000 held-out" in data.source and "official MNIST test" in data.source
    all_labels = torch.cat([data.train_labels, data.test_labels])
    assert torch.bincount(all_labels).tolist() == OFFICIAL_TEST_LABEL_COUNTS
    # Together the two parts are exactly the 10,000 official images: a partition, no repeats.
    official = read_idx(SHARED_RAW / TEST_IMAGES)
    pooled = (torch.cat([data.train_images, data.test_images]) * 255).round().byte()[:, 0].numpy()
    assert sorted(map(bytes, pooled)) == sorted(map(bytes, official))
    # Labels belong to their images: class means from the train part classify held-out images.
    means = torch.stack([data.train_images[data.train_labels == d].mean(0) for d in range(10)])
    distances = torch.cdist(data.test_images.flatten(1), means.flatten(1))
    accuracy = (distances.argmin(dim=1) == data.test_labels).float().mean()
    assert accuracy > 0.75  # nearest class mean gets about 0.8; shuffled labels would get 0.1


@needs_shared_mnist
def test_offline_pool_cuts_larger_requests_down_and_says_so():
    data = load_mnist(train_size=60_000, test_size=10_000, root=SHARED_RAW.parent.parent, download=False)
    assert (len(data.train_labels), len(data.test_labels)) == (8_000, 2_000)
    assert "60,000 / 10,000 were asked for" in data.source
    assert data.short_source == "MNIST offline pool, 8,000 train / 2,000 held-out"
    with pytest.raises(ValueError, match="positive"):
        load_mnist(train_size=0, root=SHARED_RAW.parent.parent, download=False)


def test_read_only_folder_is_never_written_to(tmp_path, monkeypatch, network):
    files = fake_official_files(n_train=3, n_test=10_000)
    accept_as_official(monkeypatch, files)
    raw = tmp_path / "MNIST" / "raw"
    place(raw, files, mnist.TEST_FILES)
    raw.chmod(0o555)
    try:
        data = load_mnist(root=tmp_path, download=True)
    finally:
        raw.chmod(0o755)
    assert data.kind == "offline-pool"
    assert network.requested == []
    assert sorted(p.name for p in raw.iterdir()) == sorted(mnist.TEST_FILES)


def test_digits_fallback_when_nothing_is_available(tmp_path, capsys):
    with pytest.warns(DataFallbackWarning, match="not comparable to MNIST"):
        data = load_mnist(root=tmp_path, download=False)
    printed = capsys.readouterr().out
    assert "not comparable to MNIST" in printed and DATA_DIR_ENV in printed
    assert data.kind == "digits-fallback" and data.source.startswith("NOT MNIST")
    assert data.train_images.shape == (1_437, 1, 28, 28)
    assert data.test_images.shape == (360, 1, 28, 28)
    assert data.train_images.dtype == torch.float32 and data.train_labels.dtype == torch.int64
    assert 0.0 <= float(data.train_images.min()) and float(data.train_images.max()) <= 1.0
    # Scaled by the digits' maximum of 16: the 20 x 20 box keeps the original mean ink (~0.305).
    box_mean = float(data.train_images[..., 4:24, 4:24].mean())
    assert box_mean == pytest.approx(0.305, abs=0.02)
    assert set(data.train_labels.tolist()) == set(range(10))
    assert set(data.test_labels.tolist()) == set(range(10))
    assert float(data.train_images[..., :4, :].abs().sum()) == 0.0  # MNIST-like blank border
    assert not (tmp_path / "MNIST").exists()  # download=False creates nothing


def test_digits_fallback_cuts_large_requests_down_and_says_so(tmp_path):
    with pytest.warns(DataFallbackWarning):
        data = load_mnist(train_size=5_000, test_size=20, root=tmp_path, download=False)
    assert len(data.train_labels) == 1_437 and len(data.test_labels) == 20
    assert "1,437 train / 20 held-out" in data.source


# ---------------------------------------------------------------------------------------------
# Downloads (urlopen is always fake)


def test_download_fetches_missing_files_then_uses_the_full_set(tmp_path, fake_files, network):
    network.served = fake_files
    data = load_mnist(root=tmp_path, download=True)
    raw = tmp_path / "MNIST" / "raw"
    assert data.kind == "full"
    assert [url.rsplit("/", 1)[-1] for url in network.requested] == list(mnist.MNIST_MD5)
    assert network.requested[0].startswith(mnist.MNIST_MIRRORS[0])
    for name, content in fake_files.items():
        assert (raw / name).read_bytes() == content
    assert leftovers(raw) == []


def test_failed_download_prints_one_line_leaves_nothing_and_falls_back(tmp_path, network, capsys):
    with pytest.warns(DataFallbackWarning):
        data = load_mnist(root=tmp_path, download=True)
    printed = capsys.readouterr().out.splitlines()
    failures = [line for line in printed if "Could not download" in line]
    assert len(failures) == 1 and "network disabled in tests" in failures[0]
    # Offline, the first file fails on every mirror and the rest are not tried.
    assert len(network.requested) == len(mnist.MNIST_MIRRORS)
    assert data.kind == "digits-fallback"
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


def test_a_mirror_serving_bad_bytes_is_skipped_for_the_next(
    tmp_path, fake_files, network, monkeypatch
):
    good = fake_files[TEST_LABELS]
    served = {mnist.MNIST_MIRRORS[0]: b"corrupted bytes", mnist.MNIST_MIRRORS[1]: good}

    def by_mirror(url: str, timeout: float):
        network.requested.append(url)
        return io.BytesIO(served[url[: -len(TEST_LABELS)]])

    monkeypatch.setattr(download, "urlopen", by_mirror)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw / TEST_LABELS)
    assert (raw / TEST_LABELS).read_bytes() == good
    assert len(network.requested) == 2 and leftovers(raw) == []

    served[mnist.MNIST_MIRRORS[1]] = b"also corrupted"
    (raw / TEST_LABELS).unlink()
    assert not mnist._download(raw / TEST_LABELS)
    assert list(raw.iterdir()) == []


def test_a_download_cut_off_midway_leaves_no_partial_file(tmp_path, fake_files, monkeypatch):
    class DropsMidway(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection reset")
            return super().read(4)

    monkeypatch.setattr(download, "urlopen", lambda url, timeout: DropsMidway(fake_files[TEST_IMAGES]))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert not mnist._download(raw / TEST_IMAGES)
    assert list(raw.iterdir()) == []


def test_existing_files_are_never_downloaded_again(tmp_path, fake_files, network):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, fake_files, mnist.TEST_FILES)
    stamps = {name: (raw / name).stat().st_mtime_ns for name in mnist.TEST_FILES}
    network.served = fake_files
    assert load_mnist(root=tmp_path, download=True).kind == "full"
    assert sorted(url.rsplit("/", 1)[-1] for url in network.requested) == sorted(mnist.TRAIN_FILES)
    assert {name: (raw / name).stat().st_mtime_ns for name in mnist.TEST_FILES} == stamps


def test_a_file_that_appears_during_a_download_is_kept(tmp_path, fake_files, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    destination = raw / TEST_LABELS
    winner: dict[str, int] = {}

    def another_process_wins(url: str, timeout: float):
        destination.write_bytes(fake_files[TEST_LABELS])
        winner["inode"] = destination.stat().st_ino
        return io.BytesIO(fake_files[TEST_LABELS])

    monkeypatch.setattr(download, "urlopen", another_process_wins)
    mnist._download(destination)
    assert destination.stat().st_ino == winner["inode"]  # the other process's file, not replaced
    assert destination.read_bytes() == fake_files[TEST_LABELS] and leftovers(raw) == []


def test_downloads_work_where_hard_links_are_unsupported(
    tmp_path, fake_files, network, monkeypatch
):
    def no_links(source, target):
        raise PermissionError("hard links not supported here")

    monkeypatch.setattr(mnist.os, "link", no_links)
    network.served = fake_files
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw / TEST_IMAGES)
    assert (raw / TEST_IMAGES).read_bytes() == fake_files[TEST_IMAGES] and leftovers(raw) == []


# ---------------------------------------------------------------------------------------------
# Binarised MNIST


def test_binarized_mnist_is_fixed_binary_and_keeps_intensity(tmp_path, fake_files):
    place(tmp_path / "MNIST" / "raw", fake_files, fake_files)
    grey = load_mnist(root=tmp_path)
    first = binarized_mnist(root=tmp_path)
    second = binarized_mnist(root=tmp_path)
    reseeded = binarized_mnist(root=tmp_path, binarize_seed=99)
    for images in (first.train_images, first.test_images):
        assert set(images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_images, second.test_images)
    assert not torch.equal(first.train_images, reseeded.train_images)
    assert torch.equal(first.train_labels, grey.train_labels)
    # Each pixel is 1 with probability equal to its intensity: check the total, and that
    # brighter pixels really are 1 more often.
    ink = float(grey.train_images.mean())
    assert float(first.train_images.mean()) == pytest.approx(ink, abs=0.02)
    bright, dark = grey.train_images > 0.8, grey.train_images < 0.2
    assert first.train_images[bright].mean() > 0.8 > 0.2 > first.train_images[dark].mean()
    assert "binarized" in first.source and "1234" in first.source and first.kind == "full"


@needs_shared_mnist
def test_binarized_real_mnist_keeps_the_fraction_of_ink():
    root = SHARED_RAW.parent.parent
    grey = load_mnist(train_size=2_000, root=root, download=False)
    binary = binarized_mnist(train_size=2_000, root=root, download=False)
    ink = float(grey.train_images.mean())
    assert float(binary.train_images.mean()) == pytest.approx(ink, abs=0.005)
