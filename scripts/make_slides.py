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
import copy
import re
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

from course_lib.authoring.slides import apply_slide_types, lecture_notebook, mismatches

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # also when imported by a test
from citations import load_references, with_links  # noqa: E402
from npm_assets import MATHJAX, REVEAL, AssetError, unpack  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "book" / "_build" / "slides"
ASSETS = "_assets"  # folder beside the decks; the decks name it with relative URLs


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
/* A slide taller than the screen scrolls instead of being cut off (tests/test_slides.py fails
   on such a slide); a figure is drawn at most 560 pixels high (course_lib.authoring.slide_fit). */
.reveal .slides > section > section { max-height: 100%; overflow-y: auto; }
.reveal .jp-OutputArea-output img { max-height: 560px; width: auto; }
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
def install_assets(out: Path) -> None:
    """Fill ``out/_assets`` with the verified reveal.js and MathJax files the decks load."""
    unpack((REVEAL, MATHJAX), out / ASSETS)


# ------------------------------------------------------------------------------------- the decks
def exporter():
    """nbconvert's SlidesExporter with the offline template and the project's settings."""
    config = Config()
    config.SlidesExporter.reveal_url_prefix = f"{ASSETS}/reveal.js"
    config.SlidesExporter.mathjax_url = f"{ASSETS}/mathjax/tex-chtml.js"
    config.SlidesExporter.reveal_theme = "white"  # the default "simple" theme loads Google fonts
    config.SlidesExporter.reveal_number = "c/t"
    config.SlidesExporter.reveal_width = "1280"
    config.SlidesExporter.reveal_height = "720"  # 16:9
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


# A link from a notebook to a page of the book, [text](../book/page.md): a deck copied to another
# computer has no book beside it, so the deck shows the text alone.
BOOK_PAGE_LINK = re.compile(r"\[([^\]]+)\]\(\.\./book/[^)\s]+\)")


def for_the_deck(notebook: nbformat.NotebookNode, references) -> nbformat.NotebookNode:
    """A copy whose citation roles ({cite}`key`) read as in the book, author-year links, and
    whose links to book pages are plain text."""
    deck = copy.deepcopy(notebook)
    for cell in deck.cells:
        if cell.cell_type == "markdown":
            cell.source = BOOK_PAGE_LINK.sub(r"\1", with_links(cell.source, references))
    return deck


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
    references = load_references()
    decks = []
    for path, notebook in notebooks.items():
        html, _ = slides.from_notebook_node(
            lecture_notebook(for_the_deck(notebook, references)),
            resources={"metadata": {"name": path.stem}},
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
    except (SlidesError, AssetError) as exc:
        print(f"make_slides: ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"{len(decks)} decks in {time.perf_counter() - start:.0f} s, e.g. {decks[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
