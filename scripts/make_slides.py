"""Build a reveal.js lecture deck per notebook that opens offline:
``python scripts/make_slides.py``.

Usage: ``make_slides.py [--out DIR] [--write-metadata] [NOTEBOOK ...]`` (default: every notebook
into ``book/_build/slides/``; open ``DIR/<notebook>.slides.html`` in a browser, from disk).

* Slides follow each cell's ``metadata.slideshow.slide_type``, which must agree with the rule in
  ``course_lib.authoring.slides``; ``--write-metadata`` first stores the rule's types
  (a new notebook needs this once). Only that metadata is written, never sources or outputs.
* Decks show the stored outputs; nothing is executed.
* Nothing is loaded from the network when a deck is shown. reveal.js and MathJax come from the npm
  registry as pinned tarballs, checked against their SHA-512 (``npm pack``, the way the book gets
  MathJax), cached in the git-ignored ``book/_vendor/``, and copied to ``DIR/_assets/``; the decks
  load them from there with relative URLs. Copy ``DIR`` whole to present from another machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

from course_lib.authoring.slides import apply_slide_types, lecture_notebook, mismatches

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(
    0, str(ROOT / "scripts")
)  # also when imported by a test: the book's script holds the MathJax pin
from build_book import MATHJAX_INTEGRITY, MATHJAX_VERSION, VENDOR  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "book" / "_build" / "slides"
ASSETS = "_assets"  # folder beside the decks; the decks name it with relative URLs


@dataclass(frozen=True)
class NpmTarball:
    """A pinned npm package; ``keep`` maps folders inside it to folders under ``ASSETS``."""

    name: str
    version: str
    integrity: str  # dist.integrity on the registry: `npm view NAME@VERSION dist.integrity`
    keep: dict[str, str]

    @property
    def filename(self) -> str:
        # npm pack's name, so the book's cached MathJax is shared
        return f"{self.name}-{self.version}.tgz"


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
MATHJAX = NpmTarball(
    "mathjax",
    MATHJAX_VERSION,
    MATHJAX_INTEGRITY,
    {"package/es5": "mathjax", "package/LICENSE": "mathjax/LICENSE"},
)

# The reveal template of nbconvert, with every script it would take from a CDN (jQuery, require.js,
# mermaid, the widget manager, MathJax 2, reveal.js) replaced by the local reveal.js and MathJax 3.
TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}
<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'}
};
</script>
<script src="{{ resources.mathjax_url }}"></script>
<style>
/* A slide taller than the screen scrolls instead of being cut off. */
.reveal .slides > section > section { max-height: 100%; overflow-y: auto; }
</style>
{% endblock html_head_js_mathjax %}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({
  controls: true, progress: true, hash: true, center: false,
  transition: "{{ resources.reveal.transition }}",
  slideNumber: "{{ resources.reveal.number }}",
  width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }},
  plugins: [RevealNotes]
});
</script>
{% endblock footer_js %}
"""


class SlidesError(RuntimeError):
    """A step failed; the message says what to do."""


# ------------------------------------------------------------------------------------ the assets
def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def npm_pack(package: NpmTarball) -> bytes:
    """Fetch the pinned tarball with ``npm pack`` into the cache and return its verified bytes.

    npm writes into a temporary folder and the file is moved into the cache only once verified, in
    one step, so a concurrent build (the book's, or a test's) never reads half a tarball."""
    spec = f"{package.name}@{package.version}"
    manual = (
        f"Without npm or the registry, put {package.filename} (integrity {package.integrity}) "
        f"into {VENDOR}/ yourself, e.g. `npm pack {spec}` on a machine that has both."
    )
    npm = shutil.which("npm")
    if npm is None:
        raise SlidesError(f"npm is not installed (apt-get install npm). {manual}")
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
            errors = [line for line in (exc.stderr or "").splitlines() if "npm error" in line]
            raise SlidesError(
                f"`npm pack {spec}` failed (offline, or the registry is unreachable): "
                f"{' | '.join(errors[:2]) or exc}. {manual}"
            ) from exc
        fetched = Path(tmp, package.filename)
        data = fetched.read_bytes()
        if sri_sha512(data) != package.integrity:
            raise SlidesError(
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


def install_assets(out: Path) -> None:
    """Fill ``out/_assets`` with the verified reveal.js and MathJax files the decks load.

    Everything is unpacked into a staging folder first, so a failure leaves the old assets whole."""
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        unpacked, staged = Path(tmp, "unpacked"), Path(tmp, ASSETS)
        for package in (REVEAL, MATHJAX):
            with tarfile.open(fileobj=io.BytesIO(verified_tarball(package)), mode="r:gz") as tar:
                for source, target in package.keep.items():
                    members = [
                        m
                        for m in tar.getmembers()
                        if m.name == source or m.name.startswith(source + "/")
                    ]
                    if not members:
                        raise SlidesError(
                            f"{package.filename} has no {source}; was the pin changed?"
                        )
                    tar.extractall(
                        unpacked, members=members, filter="data"
                    )  # no links or paths out
                    (staged / target).parent.mkdir(parents=True, exist_ok=True)
                    (unpacked / source).rename(staged / target)
        shutil.rmtree(out / ASSETS, ignore_errors=True)
        staged.rename(out / ASSETS)


# ------------------------------------------------------------------------------------- the decks
def exporter():
    """nbconvert's SlidesExporter with the offline template and the project's settings."""
    config = Config()
    config.SlidesExporter.reveal_url_prefix = f"{ASSETS}/reveal.js"
    config.SlidesExporter.mathjax_url = f"{ASSETS}/mathjax/tex-chtml.js"
    config.SlidesExporter.reveal_theme = "white"  # the default "simple" theme loads Google fonts
    config.SlidesExporter.reveal_number = "c/t"
    config.SlidesExporter.reveal_width = "1280"
    config.SlidesExporter.reveal_height = "800"
    # The book's cell tags mean the same in the deck (03 hides an interactive widget's output).
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell"}
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    return SlidesExporter(config=config, raw_template=TEMPLATE)


def notebook_paths(names: list[str]) -> list[Path]:
    if not names:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = [Path(n) if n.endswith(".ipynb") else NOTEBOOKS / f"{n}.ipynb" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SlidesError(f"no such notebook: {', '.join(missing)}")
    return paths


def write_metadata(path: Path) -> int:
    """Store the rule's slide types in the notebook file; return how many cells changed."""
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    changed = apply_slide_types(notebook)
    if changed:
        nbformat.write(notebook, path)
    return changed


def build(paths: list[Path], out: Path) -> list[Path]:
    """Write ``out/<notebook>.slides.html`` for each notebook, and the assets they load."""
    notebooks = {path: nbformat.read(path, as_version=4) for path in paths}
    stale = {path.name: problems for path, nb in notebooks.items() if (problems := mismatches(nb))}
    if stale:
        details = "; ".join(f"{name}: {len(p)} cells, e.g. {p[0]}" for name, p in stale.items())
        raise SlidesError(
            "slide metadata disagrees with the rule in course_lib/authoring/slides.py "
            f"({details}). Run `python scripts/make_slides.py --write-metadata` to store it."
        )
    out.mkdir(parents=True, exist_ok=True)
    install_assets(out)
    slides = exporter()
    decks = []
    for path, notebook in notebooks.items():
        html, _ = slides.from_notebook_node(
            lecture_notebook(notebook), resources={"metadata": {"name": path.stem}}
        )
        deck = out / f"{path.stem}.slides.html"
        deck.write_text(html, encoding="utf-8")
        decks.append(deck)
    return decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names or paths (default: all)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default: {DEFAULT_OUT.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--write-metadata",
        action="store_true",
        help="first store the rule's slide types in the notebooks' cell metadata",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        paths = notebook_paths(args.notebooks)
        if args.write_metadata:
            for path in paths:
                print(f"{path.name}: slide type of {write_metadata(path)} cells written")
        decks = build(paths, args.out.resolve())
    except SlidesError as exc:
        print(f"make_slides: ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"{len(decks)} decks in {time.perf_counter() - start:.0f} s, e.g. {decks[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
