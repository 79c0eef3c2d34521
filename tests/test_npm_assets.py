"""scripts/npm_assets.py: the pinned npm packages the book and the slides serve themselves are
used only when their bytes match the pinned digest, and unpacking keeps exactly what is listed."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
from script_modules import load_script

npm_assets = load_script("npm_assets")


def fake_package(tmp_path: Path, files: dict[str, bytes]) -> object:
    """A tarball laid out like npm's (``package/...``) in the cache folder, pinned correctly."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    package = npm_assets.NpmTarball(
        "fake", "1.0.0", npm_assets.sri_sha512(data), {"package/dist/a.mjs": "fake/a.mjs"}
    )
    (tmp_path / package.filename).write_bytes(data)
    return package


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(npm_assets, "VENDOR", cache)
    monkeypatch.setattr(npm_assets.shutil, "which", lambda name: None)  # and no npm
    return cache


def test_a_tarball_that_fails_its_checksum_is_never_used(offline_cache: Path):
    (offline_cache / npm_assets.REVEAL.filename).write_bytes(b"not the pinned tarball")
    with pytest.raises(npm_assets.AssetError, match=re.escape(npm_assets.REVEAL.integrity)):
        npm_assets.verified_tarball(npm_assets.REVEAL)


def test_unpacking_keeps_only_the_listed_files(offline_cache: Path, tmp_path: Path):
    package = fake_package(offline_cache, {"dist/a.mjs": b"kept", "dist/b.wasm": b"left out"})
    target = tmp_path / "static"
    npm_assets.unpack([package], target)
    assert (target / "fake" / "a.mjs").read_bytes() == b"kept"
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == ["a.mjs"]


def test_a_failed_unpack_leaves_the_old_files_whole(offline_cache: Path, tmp_path: Path):
    package = fake_package(offline_cache, {"dist/other.mjs": b"not what the pin lists"})
    target = tmp_path / "static"
    (target / "old").mkdir(parents=True)
    (target / "old" / "file.js").write_text("served before")
    with pytest.raises(npm_assets.AssetError, match="has no package/dist/a.mjs"):
        npm_assets.unpack([package], target)
    assert (target / "old" / "file.js").read_text() == "served before"


def test_onnxruntime_web_ships_its_module_loader_and_binary():
    kept = set(npm_assets.ONNXRUNTIME_WEB.keep.values())
    assert {
        "onnxruntime/ort.wasm.min.mjs",
        "onnxruntime/ort-wasm-simd-threaded.mjs",
        "onnxruntime/ort-wasm-simd-threaded.wasm",
    } <= kept
