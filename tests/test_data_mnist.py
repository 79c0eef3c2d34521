"""The MNIST loader: idx parsing, one checksum rule, the source chain, downloads, binarisation.

No test touches the network: an autouse fixture replaces the module's ``urlopen``, and the tests
that use the real ``urlopen`` give it ``file://`` folders only. Fake "official" files are tiny idx
files whose SHA-256 sums are swapped into ``MNIST_SHA256`` for the test's duration. Tests marked
``needs_shared_mnist`` read the real files of the shared data folder (``$COURSE_DATA_DIR``, else
``../shared/data`` beside the repository) and skip, saying so, where it is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import urllib.request
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from shared_data import SHARED_DATA, needs_shared

from course_lib.data import download, mnist
from course_lib.data.download import CorruptDataError
from course_lib.data.mnist import DataFallbackWarning, binarized_mnist, load_mnist, read_idx
from course_lib.runtime.config import DATA_DIR_ENV

TRAIN_IMAGES, TRAIN_LABELS = mnist.TRAIN_FILES
TEST_IMAGES, TEST_LABELS = mnist.TEST_FILES

# Label counts of the official MNIST files, digits 0..9 (the shared data folder's README).
OFFICIAL_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

SHARED_RAW = SHARED_DATA / "MNIST" / "raw"
needs_shared_mnist = needs_shared(
    SHARED_RAW / TRAIN_IMAGES,
    SHARED_RAW / TRAIN_LABELS,
    SHARED_RAW / f"{TEST_IMAGES}.gz",
    SHARED_RAW / f"{TEST_LABELS}.gz",
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


def fake_official_contents(n_train: int, n_test: int, seed: int = 0) -> dict[str, bytes]:
    """Uncompressed idx bytes for the four official names, with random images and labels."""
    rng = np.random.default_rng(seed)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {name: idx_bytes(array) for name, array in arrays.items()}


def accept_as_official(monkeypatch, contents: dict[str, bytes]) -> None:
    """Make the loader's checksum table expect exactly these (uncompressed) contents."""
    for name, content in contents.items():
        monkeypatch.setitem(mnist.MNIST_SHA256, name, hashlib.sha256(content).hexdigest())


def place(raw_dir: Path, contents: dict[str, bytes], names, stored: str = "gz") -> None:
    """Write each named file into ``raw_dir``, as ``<name>.gz`` or uncompressed ``<name>``."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if stored == "gz":
            write_gz(raw_dir / f"{name}.gz", contents[name])
        else:
            (raw_dir / name).write_bytes(contents[name])


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder`` with its bytes and modification time, to prove nothing changed."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def leftovers(raw_dir: Path) -> list[str]:
    """Names in ``raw_dir`` that are not official file names (partial downloads, say)."""
    official = {f"{name}.gz" for name in mnist.MNIST_SHA256} | set(mnist.MNIST_SHA256)
    return sorted(p.name for p in raw_dir.iterdir() if p.name not in official)


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


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
        return FakeResponse(self.served[name])


@pytest.fixture(autouse=True)
def network(monkeypatch) -> FakeNetwork:
    """No test reaches the internet; tests that download fill ``network.served``."""
    fake = FakeNetwork()
    monkeypatch.setattr(download, "urlopen", fake)
    monkeypatch.delenv(mnist.MIRRORS_ENV, raising=False)
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    return fake


@pytest.fixture
def contents(monkeypatch) -> dict[str, bytes]:
    files = fake_official_contents(n_train=30, n_test=12)
    accept_as_official(monkeypatch, files)
    return files


def gz_served(contents: dict[str, bytes]) -> dict[str, bytes]:
    """What a mirror serves: ``<name>.gz`` for each official name."""
    return {f"{name}.gz": gzip.compress(content, mtime=0) for name, content in contents.items()}


# ---------------------------------------------------------------------------------------------
# read_idx


def test_read_idx_round_trips_gzipped_and_raw_files(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint16).reshape(2, 28, 28).astype(np.uint8)
    labels = np.array([7, 3], dtype=np.uint8)
    assert np.array_equal(read_idx(write_gz(tmp_path / "i.gz", idx_bytes(images))), images)
    assert np.array_equal(read_idx(write_gz(tmp_path / "l.gz", idx_bytes(labels))), labels)
    (tmp_path / "i-raw").write_bytes(idx_bytes(images))
    assert np.array_equal(read_idx(tmp_path / "i-raw"), images)


def test_read_idx_decodes_big_endian_multibyte_values(tmp_path):
    values = np.array([[1, -2, 70000], [2**30, 0, -(2**31)]], dtype=np.int32)
    result = read_idx(write_gz(tmp_path / "v.gz", idx_bytes(values)))
    assert result.shape == (2, 3) and np.array_equal(result, values)
    assert result.dtype.isnative and result.flags.writeable


GOOD_PAYLOAD = idx_bytes(np.ones((3, 4), dtype=np.uint8))
CORRUPTIONS = {
    "truncated gzip": lambda path: path.write_bytes(gzip.compress(GOOD_PAYLOAD)[:-12]),
    "gzip magic, then garbage": lambda path: path.write_bytes(b"\x1f\x8b" + b"garbage" * 3),
    "wrong magic": lambda path: write_gz(path, b"\x12\x34" + GOOD_PAYLOAD[2:]),
    "unknown type code": lambda path: write_gz(path, b"\x00\x00\x42" + GOOD_PAYLOAD[3:]),
    "missing values": lambda path: write_gz(path, GOOD_PAYLOAD[:-1]),
    "extra values": lambda path: write_gz(path, GOOD_PAYLOAD + b"\x00"),
    "header cut short": lambda path: write_gz(path, GOOD_PAYLOAD[:6]),
    "empty": lambda path: write_gz(path, b""),
    "raw, values missing": lambda path: path.write_bytes(GOOD_PAYLOAD[:-3]),
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
# The checksum rule: the SHA-256 of the decompressed idx bytes, however the file is stored


def test_file_names_and_mirrors_match_torchvision():
    import torchvision.datasets  # course_lib (imported above) makes this import work

    assert {name.removesuffix(".gz") for name, _ in torchvision.datasets.MNIST.resources} == set(
        mnist.MNIST_SHA256
    )
    assert tuple(torchvision.datasets.MNIST.mirrors) == mnist.MNIST_MIRRORS


@needs_shared_mnist
def test_the_content_checksums_match_the_real_files_and_torchvisions_md5():
    import torchvision.datasets

    md5_of_gz = dict(torchvision.datasets.MNIST.resources)
    for name in mnist.TEST_FILES:  # stored as the official .gz: both checksums can be compared
        stored = (SHARED_RAW / f"{name}.gz").read_bytes()
        assert hashlib.md5(stored).hexdigest() == md5_of_gz[f"{name}.gz"]
        assert hashlib.sha256(gzip.decompress(stored)).hexdigest() == mnist.MNIST_SHA256[name]
    for name in mnist.TRAIN_FILES:  # stored uncompressed
        assert (
            hashlib.sha256((SHARED_RAW / name).read_bytes()).hexdigest() == mnist.MNIST_SHA256[name]
        )


@pytest.mark.parametrize("stored", ["gz", "raw"])
def test_a_wrong_checksum_names_the_file_and_both_sums_and_never_touches_it(
    tmp_path, network, contents, stored
):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, contents, mnist.TRAIN_FILES, stored)
    wrong = np.zeros((12, 28, 28), np.uint8)  # a valid idx file, but not the expected one
    place(raw, {TEST_IMAGES: idx_bytes(wrong)}, [TEST_IMAGES], stored)
    before = snapshot(raw)
    with pytest.raises(CorruptDataError) as caught:
        load_mnist(root=tmp_path, download=True)
    message = str(caught.value)
    assert str(raw / (TEST_IMAGES + (".gz" if stored == "gz" else ""))) in message
    assert mnist.MNIST_SHA256[TEST_IMAGES] in message  # expected
    assert hashlib.sha256(idx_bytes(wrong)).hexdigest() in message  # actual
    assert "delete the file" in message and DATA_DIR_ENV in message
    assert snapshot(raw) == before
    assert network.requested == []  # no attempt to replace it either


@pytest.mark.parametrize("stored", ["gz", "raw"])
def test_a_truncated_file_is_corrupt_and_left_as_it_is(tmp_path, network, contents, stored):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, contents, contents, "raw")
    cut = contents[TRAIN_IMAGES][: len(contents[TRAIN_IMAGES]) // 2]
    (raw / TRAIN_IMAGES).unlink()
    if stored == "gz":
        (raw / f"{TRAIN_IMAGES}.gz").write_bytes(gzip.compress(contents[TRAIN_IMAGES])[:-40])
    else:
        (raw / TRAIN_IMAGES).write_bytes(cut)
    before = snapshot(raw)
    with pytest.raises(CorruptDataError, match=TRAIN_IMAGES) as caught:
        load_mnist(root=tmp_path, download=True)
    assert "untouched" in str(caught.value)
    assert snapshot(raw) == before and network.requested == []


def test_raw_official_and_recompressed_copies_all_verify_to_the_same_data(tmp_path, contents):
    """One rule for every way of storing a file: raw idx, a gzip at level 9, another at level 1."""
    loaded = []
    for stored in ("raw", "level 9", "level 1 with a name and a time stamp"):
        root = tmp_path / stored
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name, content in contents.items():
            if stored == "raw":
                (raw / name).write_bytes(content)
            elif stored == "level 9":
                (raw / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=9, mtime=0))
            else:
                buffer = io.BytesIO()
                with gzip.GzipFile(
                    name, "wb", compresslevel=1, fileobj=buffer, mtime=1_234_567
                ) as out:
                    out.write(content)
                (raw / f"{name}.gz").write_bytes(buffer.getvalue())
        loaded.append(load_mnist(root=root, download=False))
    assert (
        len(
            {
                (raw / f"{TEST_IMAGES}.gz").read_bytes()
                for raw in (
                    tmp_path / s / "MNIST" / "raw"
                    for s in ("level 9", "level 1 with a name and a time stamp")
                )
            }
        )
        == 2
    )
    for data in loaded:
        assert data.kind == "full"
        assert torch.equal(data.train_images, loaded[0].train_images)
        assert torch.equal(data.test_labels, loaded[0].test_labels)
    assert "raw idx" in loaded[0].source and ".gz" in loaded[1].source


def test_a_raw_and_a_gz_copy_of_one_file_are_both_checked(tmp_path, contents):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, contents, contents, "gz")
    place(raw, contents, [TEST_LABELS], "raw")  # a second, good copy: fine
    assert load_mnist(root=tmp_path, download=False).kind == "full"
    (raw / TEST_LABELS).write_bytes(contents[TEST_LABELS][:-1])  # the second copy damaged: refused
    with pytest.raises(CorruptDataError, match=f"{TEST_LABELS} is damaged"):
        load_mnist(root=tmp_path, download=False)


def test_a_file_that_passes_its_checksum_but_has_the_wrong_shape_is_corrupt(tmp_path, monkeypatch):
    files = fake_official_contents(n_train=5, n_test=5)
    files[TEST_IMAGES] = idx_bytes(np.zeros((5, 27, 27), np.uint8))
    accept_as_official(monkeypatch, files)
    place(tmp_path / "MNIST" / "raw", files, files)
    with pytest.raises(CorruptDataError, match=f"{TEST_IMAGES}.*28, 28"):
        load_mnist(root=tmp_path, download=False)


def test_verification_reads_each_file_once_until_it_changes(tmp_path, contents):
    path = write_gz(tmp_path / f"{TEST_LABELS}.gz", contents[TEST_LABELS])
    mnist._verified_idx.cache_clear()
    first = mnist.verified_idx(path)
    assert mnist.verified_idx(path) is first
    assert (
        mnist._verified_idx.cache_info().misses == 1 and mnist._verified_idx.cache_info().hits == 1
    )
    assert not first.flags.writeable  # shared through the cache, so callers cannot change it
    write_gz(path, contents[TEST_LABELS] + b"tail")
    with pytest.raises(CorruptDataError):
        mnist.verified_idx(path)


# ---------------------------------------------------------------------------------------------
# The chain: full set, offline pool, digits fallback


def test_full_set_is_used_when_all_four_files_verify(tmp_path, contents, network):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, contents, contents)
    data = load_mnist(root=tmp_path)
    assert data.kind == "full" and network.requested == []
    assert data.train_images.shape == (30, 1, 28, 28) and data.test_images.shape == (12, 1, 28, 28)
    assert data.train_images.dtype == torch.float32 and data.train_labels.dtype == torch.int64
    expected = read_idx(raw / f"{TRAIN_IMAGES}.gz").astype(np.float32) / 255
    assert np.array_equal(
        data.train_images[:, 0].numpy(), expected
    )  # official order when all are used
    assert np.array_equal(data.test_labels.numpy(), read_idx(raw / f"{TEST_LABELS}.gz"))
    assert "official training images" in data.source and "official test images" in data.source


def test_full_set_subsamples_deterministically_nested_and_keeps_pairs(tmp_path, contents):
    place(tmp_path / "MNIST" / "raw", contents, contents)
    everything = load_mnist(root=tmp_path)
    small = load_mnist(train_size=10, test_size=4, seed=5, root=tmp_path)
    again = load_mnist(train_size=10, test_size=4, seed=5, root=tmp_path)
    larger = load_mnist(train_size=20, test_size=4, seed=5, root=tmp_path)
    other = load_mnist(train_size=10, test_size=4, seed=6, root=tmp_path)
    assert small.train_images.shape == (10, 1, 28, 28) and small.test_labels.shape == (4,)
    assert torch.equal(small.train_images, again.train_images)
    assert torch.equal(small.train_images, larger.train_images[:10])  # a smaller subset is a prefix
    assert not torch.equal(small.train_images, other.train_images)
    assert "seed 5" in small.source
    for image, label in zip(small.train_images, small.train_labels):
        row = (everything.train_images == image).flatten(1).all(dim=1).nonzero().item()
        assert everything.train_labels[row] == label
    with pytest.raises(ValueError, match="31"):
        load_mnist(train_size=31, root=tmp_path)


def test_data_dir_setting_is_the_default_root_and_is_how_the_source_names_the_folder(
    tmp_path, contents, monkeypatch
):
    place(tmp_path / "MNIST" / "raw", contents, contents)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    data = load_mnist(download=False)
    assert data.kind == "full"
    assert "$COURSE_DATA_DIR/MNIST/raw" in data.source and str(tmp_path) not in data.source
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "does-not-exist"))
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_mnist()


@needs_shared_mnist
def test_the_real_standard_split_from_the_shared_folder(monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(SHARED_DATA))
    data = load_mnist(download=False)
    assert data.kind == "full"
    assert data.train_images.shape == (60_000, 1, 28, 28) and data.test_images.shape == (
        10_000,
        1,
        28,
        28,
    )
    assert torch.bincount(data.train_labels).tolist() == OFFICIAL_TRAIN_LABEL_COUNTS
    assert torch.bincount(data.test_labels).tolist() == OFFICIAL_TEST_LABEL_COUNTS
    # The published statistics of the training images on [0, 1].
    assert float(data.train_images.mean()) == pytest.approx(0.1307, abs=5e-5)
    assert float(data.train_images.std()) == pytest.approx(0.3081, abs=5e-5)
    assert data.short_source == "MNIST, 60,000 of 60,000 training images; official test set"
    assert "$COURSE_DATA_DIR/MNIST/raw" in data.source and ".gz and raw idx" in data.source

    subset = load_mnist(12_000, seed=0, download=False)
    assert subset.short_source == "MNIST, 12,000 of 60,000 training images; official test set"
    assert "12,000 of the 60,000 official training images (random subset, seed 0)" in subset.source
    assert torch.equal(
        subset.test_labels, data.test_labels
    )  # the whole official test set, in order
    # Labels belong to their images: class means of the training subset classify the test set.
    means = torch.stack([subset.train_images[subset.train_labels == d].mean(0) for d in range(10)])
    distances = torch.cdist(data.test_images.flatten(1), means.flatten(1))
    assert (
        distances.argmin(dim=1) == data.test_labels
    ).float().mean() > 0.75  # ~0.82; shuffled: 0.1


def test_offline_pool_from_fake_test_files_is_a_disjoint_deterministic_split(
    tmp_path, monkeypatch, capsys
):
    # Each fake image carries its own index in two pixels, so overlaps are exact to detect.
    count = 10_000
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(count) // 256, np.arange(count) % 256
    files = {
        TEST_IMAGES: idx_bytes(images),
        TEST_LABELS: idx_bytes((np.arange(count) % 10).astype(np.uint8)),
    }
    accept_as_official(monkeypatch, files)
    place(tmp_path / "MNIST" / "raw", files, files)

    def indices(images: torch.Tensor) -> torch.Tensor:
        high, low = (images[:, 0, 0, :2] * 255).round().long().unbind(dim=1)
        return high * 256 + low

    data = load_mnist(root=tmp_path, download=False, seed=0)
    assert "offline pool" in capsys.readouterr().out  # the fallback says so where it is used
    train, test = indices(data.train_images), indices(data.test_images)
    assert data.kind == "offline-pool" and (len(train), len(test)) == (8_000, 2_000)
    assert sorted(torch.cat([train, test]).tolist()) == list(range(count))  # disjoint, complete
    assert torch.equal(data.train_labels, train % 10)  # labels travel with their images
    assert "offline pool" in data.source and "not comparable" in data.source

    same = load_mnist(root=tmp_path, download=False, seed=0)
    reseeded = load_mnist(root=tmp_path, download=False, seed=1)
    smaller = load_mnist(train_size=100, test_size=50, root=tmp_path, download=False, seed=0)
    assert torch.equal(indices(same.train_images), train)
    assert not torch.equal(indices(reseeded.train_images), train)
    assert torch.equal(indices(smaller.train_images), train[:100])  # smaller sets are nested
    assert torch.equal(indices(smaller.test_images), test[:50])


@needs_shared_mnist
def test_offline_pool_from_the_real_test_files_alone(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist.TEST_FILES:
        shutil.copyfile(SHARED_RAW / f"{name}.gz", raw / f"{name}.gz")
    data = load_mnist(train_size=60_000, test_size=10_000, root=tmp_path, download=False)
    assert data.kind == "offline-pool"
    assert (len(data.train_labels), len(data.test_labels)) == (8_000, 2_000)
    assert "60,000 / 10,000 were asked for" in data.source
    assert (
        data.short_source == "MNIST offline pool (test images only), 8,000 train / 2,000 held-out"
    )
    all_labels = torch.cat([data.train_labels, data.test_labels])
    assert torch.bincount(all_labels).tolist() == OFFICIAL_TEST_LABEL_COUNTS
    # Together the two parts are exactly the 10,000 official images: a partition, no repeats.
    official = read_idx(raw / f"{TEST_IMAGES}.gz")
    pooled = (torch.cat([data.train_images, data.test_images]) * 255).round().byte()[:, 0].numpy()
    assert sorted(map(bytes, pooled)) == sorted(map(bytes, official))
    with pytest.raises(ValueError, match="positive"):
        load_mnist(train_size=0, root=tmp_path, download=False)


def test_read_only_folder_is_never_written_to(tmp_path, monkeypatch, network):
    files = fake_official_contents(n_train=3, n_test=10_000)
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
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        f"{name}.gz" for name in mnist.TEST_FILES
    )


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
# Downloads (urlopen is fake, or reads file:// folders)


def test_download_fetches_missing_gz_files_then_uses_the_full_set(tmp_path, contents, network):
    network.served = gz_served(contents)
    data = load_mnist(root=tmp_path, download=True)
    raw = tmp_path / "MNIST" / "raw"
    assert data.kind == "full"
    assert [url.rsplit("/", 1)[-1] for url in network.requested] == [
        f"{name}.gz" for name in mnist.MNIST_SHA256
    ]
    assert network.requested[0].startswith(mnist.MNIST_MIRRORS[0])
    for name, served in gz_served(contents).items():
        assert (raw / name).read_bytes() == served
    assert leftovers(raw) == []


def test_a_download_shows_a_progress_bar_of_the_bytes(
    tmp_path, contents, network, monkeypatch, capsys
):
    monkeypatch.setenv("COURSE_PROGRESS", "on")
    network.served = gz_served(contents)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw, TEST_LABELS)
    size = len(network.served[f"{TEST_LABELS}.gz"])
    bar = capsys.readouterr().err
    assert f"{TEST_LABELS}.gz" in bar and "100%" in bar and f"{size:.1f}/{size:.1f}" in bar


def test_downloads_are_checked_by_their_decompressed_bytes(tmp_path, contents, network):
    """A mirror's gzip may differ byte for byte from the official one; its contents may not."""
    network.served = {
        f"{TEST_LABELS}.gz": gzip.compress(contents[TEST_LABELS], compresslevel=1, mtime=99)
    }
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw, TEST_LABELS)
    network.served = {f"{TEST_IMAGES}.gz": gzip.compress(contents[TEST_IMAGES][:-1] + b"\x07")}
    assert not mnist._download(raw, TEST_IMAGES)
    assert sorted(p.name for p in raw.iterdir()) == [f"{TEST_LABELS}.gz"]


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


def test_the_mirrors_setting_replaces_the_mirrors_and_serves_through_urlopen(
    tmp_path, contents, monkeypatch
):
    """``$COURSE_MNIST_MIRRORS``, real ``urlopen``: a file:// folder serves, a missing one fails."""
    monkeypatch.setattr(download, "urlopen", urllib.request.urlopen)
    served = tmp_path / "mirror"
    served.mkdir()
    for name, payload in gz_served(contents).items():
        (served / name).write_bytes(payload)
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{(tmp_path / 'nowhere').as_uri()} {served.as_uri()}")
    assert mnist.mirrors() == ((tmp_path / "nowhere").as_uri() + "/", served.as_uri() + "/")
    data = load_mnist(root=tmp_path / "data", download=True)
    assert data.kind == "full" and leftovers(tmp_path / "data" / "MNIST" / "raw") == []

    monkeypatch.setenv(mnist.MIRRORS_ENV, (tmp_path / "nowhere").as_uri())
    with pytest.warns(DataFallbackWarning):
        assert load_mnist(root=tmp_path / "empty", download=True).kind == "digits-fallback"


def test_a_mirror_serving_bad_bytes_is_skipped_for_the_next(
    tmp_path, contents, network, monkeypatch
):
    good = gz_served(contents)[f"{TEST_LABELS}.gz"]
    served = {mnist.MNIST_MIRRORS[0]: b"corrupted bytes", mnist.MNIST_MIRRORS[1]: good}

    def by_mirror(url: str, timeout: float):
        network.requested.append(url)
        return FakeResponse(served[url[: -len(f"{TEST_LABELS}.gz")]])

    monkeypatch.setattr(download, "urlopen", by_mirror)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw, TEST_LABELS)
    assert (raw / f"{TEST_LABELS}.gz").read_bytes() == good
    assert len(network.requested) == 2 and leftovers(raw) == []

    served[mnist.MNIST_MIRRORS[1]] = b"\x1f\x8balso corrupted"
    (raw / f"{TEST_LABELS}.gz").unlink()
    assert not mnist._download(raw, TEST_LABELS)
    assert list(raw.iterdir()) == []


def test_a_download_cut_off_midway_leaves_no_partial_file(tmp_path, contents, monkeypatch):
    class DropsMidway(FakeResponse):
        def read(self, size: int = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection reset")
            return super().read(4)

    payload = gz_served(contents)[f"{TEST_IMAGES}.gz"]
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: DropsMidway(payload))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert not mnist._download(raw, TEST_IMAGES)
    assert list(raw.iterdir()) == []


def test_existing_files_are_never_downloaded_again(tmp_path, contents, network):
    raw = tmp_path / "MNIST" / "raw"
    place(raw, contents, mnist.TEST_FILES, "raw")
    before = snapshot(raw)
    network.served = gz_served(contents)
    assert load_mnist(root=tmp_path, download=True).kind == "full"
    assert sorted(url.rsplit("/", 1)[-1] for url in network.requested) == sorted(
        f"{n}.gz" for n in mnist.TRAIN_FILES
    )
    assert {name: snapshot(raw)[name] for name in before} == before


def test_a_file_that_appears_during_a_download_is_kept(tmp_path, contents, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    payload = gz_served(contents)[f"{TEST_LABELS}.gz"]
    destination = raw / f"{TEST_LABELS}.gz"
    winner: dict[str, int] = {}

    def another_process_wins(url: str, timeout: float):
        destination.write_bytes(payload)
        winner["inode"] = destination.stat().st_ino
        return FakeResponse(payload)

    monkeypatch.setattr(download, "urlopen", another_process_wins)
    mnist._download(raw, TEST_LABELS)
    assert destination.stat().st_ino == winner["inode"]  # the other process's file, not replaced
    assert destination.read_bytes() == payload and leftovers(raw) == []


def test_downloads_work_where_hard_links_are_unsupported(tmp_path, contents, network, monkeypatch):
    def no_links(source, target):
        raise PermissionError("hard links not supported here")

    monkeypatch.setattr(download.os, "link", no_links)
    network.served = gz_served(contents)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert mnist._download(raw, TEST_IMAGES)
    assert (raw / f"{TEST_IMAGES}.gz").read_bytes() == network.served[f"{TEST_IMAGES}.gz"]
    assert leftovers(raw) == []


# ---------------------------------------------------------------------------------------------
# Binarised MNIST


def test_binarized_mnist_is_fixed_binary_and_keeps_intensity(tmp_path, contents):
    place(tmp_path / "MNIST" / "raw", contents, contents)
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
    grey = load_mnist(train_size=2_000, root=SHARED_DATA, download=False)
    binary = binarized_mnist(train_size=2_000, root=SHARED_DATA, download=False)
    ink = float(grey.train_images.mean())
    assert float(binary.train_images.mean()) == pytest.approx(ink, abs=0.005)
