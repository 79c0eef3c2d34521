"""The pinned npm packages that the book and the slides serve from their own files, never from a
CDN (a reader offline, or on GitHub Pages, needs nothing else): MathJax, reveal.js and ONNX
Runtime Web.

Each is fetched once with ``npm pack`` into the git-ignored cache ``book/_vendor/``, checked
against the SHA-512 the registry publishes for it (``npm view NAME@VERSION dist.integrity``), and
unpacked from the verified bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "book" / "_vendor"  # download cache (git-ignored)


class AssetError(RuntimeError):
    """A package could not be fetched, verified or unpacked; the message says what to do."""


@dataclass(frozen=True)
class NpmTarball:
    """A pinned npm package; ``keep`` maps files or folders inside it to paths under the target."""

    name: str
    version: str
    integrity: str  # dist.integrity on the registry: `npm view NAME@VERSION dist.integrity`
    keep: dict[str, str]

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"  # npm pack's name for it


MATHJAX = NpmTarball(
    "mathjax",
    "3.2.2",
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/"
    "O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    {"package/es5": "mathjax", "package/LICENSE": "mathjax/LICENSE"},
)
REVEAL = NpmTarball(
    "reveal.js",
    "5.2.1",
    "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
    {
        "package/dist": "reveal.js/dist",
        "package/plugin/notes": "reveal.js/plugin/notes",
        "package/LICENSE": "reveal.js/LICENSE",
    },
)
# The WebAssembly-only build: its ES module, the loader it imports from its own folder, and the
# SIMD binary (14.8 MB). package.json carries the version and the MIT licence.
ONNXRUNTIME_WEB = NpmTarball(
    "onnxruntime-web",
    "1.31.1",
    "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw==",
    {
        f"package/dist/{name}": f"onnxruntime/{name}"
        for name in (
            "ort.wasm.min.mjs",
            "ort-wasm-simd-threaded.mjs",
            "ort-wasm-simd-threaded.wasm",
        )
    }
    | {"package/package.json": "onnxruntime/package.json"},
)


def sri_sha512(data: bytes) -> str:
    """``data``'s digest in npm's Subresource-Integrity form, ``sha512-<base64>``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def npm_pack(package: NpmTarball) -> bytes:
    """Fetch the pinned tarball with ``npm pack`` into the cache and return its verified bytes.

    npm writes into a temporary folder and the file is moved into the cache only once verified, in
    one step, so a concurrent build (the book's, the slides', a test's) never reads half a file."""
    spec = f"{package.name}@{package.version}"
    manual = (
        f"Without npm or the registry, put {package.filename} (integrity {package.integrity}) "
        f"into {VENDOR}/ yourself, e.g. `npm pack {spec}` on a machine that has both."
    )
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"npm is not installed (apt-get install npm). {manual}")
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=VENDOR) as tmp:
        print(f"Fetching {spec} with npm pack")
        try:
            subprocess.run(
                [npm, "pack", spec, "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            stderr = exc.stderr if isinstance(exc.stderr, str) else ""  # a timeout may give bytes
            errors = [line for line in stderr.splitlines() if "npm error" in line]
            raise AssetError(
                f"`npm pack {spec}` failed (offline, or the registry is unreachable): "
                f"{' | '.join(errors[:2]) or exc}. {manual}"
            ) from exc
        fetched = Path(tmp, package.filename)
        data = fetched.read_bytes()
        if sri_sha512(data) != package.integrity:
            raise AssetError(
                f"npm delivered {spec} with digest {sri_sha512(data)}, but "
                f"{package.integrity} is pinned in {Path(__file__).name}; nothing was cached."
            )
        os.replace(fetched, VENDOR / package.filename)
    return data


def verified_tarball(package: NpmTarball) -> bytes:
    """The pinned tarball's bytes: from the cache when its digest matches, else fetched anew.

    The bytes are checked once in memory and unpacked from there, never re-read from disk."""
    cached = VENDOR / package.filename
    if cached.is_file():
        data = cached.read_bytes()
        if sri_sha512(data) == package.integrity:
            return data
        print(f"{cached.name} in the cache does not match its pinned digest; fetching it again.")
    return npm_pack(package)


def unpack(packages: Iterable[NpmTarball], target: Path) -> None:
    """Replace the folder ``target`` by the kept files of ``packages``, verified.

    Everything is unpacked into a staging folder first, so a failure leaves the old files whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpacked, staged = Path(tmp, "unpacked"), Path(tmp, "staged")
        staged.mkdir()
        for package in packages:
            with tarfile.open(fileobj=io.BytesIO(verified_tarball(package)), mode="r:gz") as tar:
                for source, kept in package.keep.items():
                    members = [
                        m
                        for m in tar.getmembers()
                        if m.name == source or m.name.startswith(source + "/")
                    ]
                    if not members:
                        raise AssetError(
                            f"{package.filename} has no {source}; was the pin changed?"
                        )
                    tar.extractall(unpacked, members=members, filter="data")  # no links out
                    (staged / kept).parent.mkdir(parents=True, exist_ok=True)
                    (unpacked / source).rename(staged / kept)
        shutil.rmtree(target, ignore_errors=True)
        staged.rename(target)
