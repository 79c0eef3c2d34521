"""Downloading the paintings: checked by SHA-256 before they get their name, never replacing a file."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from course_lib.config import DATA_DIR_ENV
from course_lib.data.mnist import CorruptDataError
from course_lib.style import images
from course_lib.style.images import PAINTINGS, Painting, download_paintings, load_painting


def jpeg_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A folder served by file:// URLs holding two small stand-in paintings, whose digests the
    course's table is set to; the data directory is an empty folder."""
    served = tmp_path / "served"
    served.mkdir()
    for colour, (name, painting) in zip([(200, 30, 30), (30, 30, 200)], list(PAINTINGS.items())):
        data = jpeg_bytes(colour)
        (served / painting.file).write_bytes(data)
        stand_in = Painting(painting.file, painting.title, painting.artist, painting.year, 8, 6,
                            hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(images.PAINTINGS, name, stand_in)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(data_dir))
    monkeypatch.delenv(images.PAINTINGS_URL_ENV, raising=False)
    return served.as_uri(), data_dir


def test_both_paintings_are_downloaded_and_then_load(server):
    url, data_dir = server
    paths = download_paintings(url)
    assert sorted(p.name for p in paths) == ["starry_night.jpg", "the_scream.jpg"]
    assert load_painting("starry_night").shape == (1, 3, 6, 8)
    assert not list((data_dir / "style").glob(".*part"))  # no leftovers


def test_a_file_with_the_wrong_digest_is_refused_and_not_saved(server, monkeypatch):
    url, data_dir = server
    starry = images.PAINTINGS["starry_night"]
    monkeypatch.setitem(images.PAINTINGS, "starry_night", Painting(
        starry.file, starry.title, starry.artist, starry.year, 8, 6, "0" * 64))
    with pytest.raises(CorruptDataError, match="not the course's copy of starry_night.jpg.*nothing was saved"):
        download_paintings(url)
    assert not (data_dir / "style" / "starry_night.jpg").exists()
    assert not list((data_dir / "style").glob(".*part"))


def test_a_painting_already_in_place_is_kept_and_a_wrong_one_is_not_replaced(server):
    url, data_dir = server
    style = data_dir / "style"
    style.mkdir()
    (style / "the_scream.jpg").write_bytes(b"the user's own file")
    with pytest.raises(CorruptDataError, match="damaged or a different file"):
        download_paintings(url)
    assert (style / "the_scream.jpg").read_bytes() == b"the user's own file"


def test_without_an_address_the_error_names_the_setting(server):
    with pytest.raises(ValueError, match="COURSE_PAINTINGS_URL"):
        download_paintings()
