"""Lecture decks: each notebook stores the slide rule's metadata; its reveal.js deck works offline.

The decks are built once per module with scripts/make_slides.py into a temporary folder. Static
checks read the HTML; the browser checks open every deck from file:// in headless Chromium with
name resolution switched off, and read what a small probe script (appended to a copy of the deck)
reports after reveal.js and MathJax have started, together with Chromium's network log and console.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from book_browser import CHROMIUM_FLAGS, NOT_PROSE, RAW_TEX, VIRTUAL_TIME_MS
from bs4 import BeautifulSoup
from lab_session import chromium_executable
from nbconvert import SlidesExporter
from PIL import Image

from course_lib.authoring import slides as rule

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGE_TIMEOUT_S = 60
# A screenshot for people to look at, beside the decks that `make slides` writes.
SCREENSHOT = ROOT / "book" / "_build" / "slides" / "01_autoencoder.first-slide.png"


def _load_make_slides():
    spec = importlib.util.spec_from_file_location(
        "make_slides", ROOT / "scripts" / "make_slides.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


make_slides = _load_make_slides()


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def notebook(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    """A notebook from (cell type, source) pairs."""
    new = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    return nbformat.v4.new_notebook(cells=[new[kind](source) for kind, source in cells])


def expected_slides(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(slides, slides + subslides) of a deck. The slides (columns) are counted from the stored
    metadata: each shown cell that is a slide opens one, and so does each ## heading inside a
    markdown cell. The subslides are those of the deck's copy, which adds subslides where a slide
    would overflow the screen (course_lib.authoring.slide_fit)."""
    slides = 0
    for cell in nb.cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind == "skip":
            continue
        slides += kind == "slide"
        if cell.cell_type == "markdown":
            rest = cell.source.split("\n", 1)[1] if "\n" in cell.source else ""
            slides += re.findall(r"^(#{2,3}) ", rest, re.M).count("##")
    kinds = [c.metadata["slideshow"]["slide_type"] for c in rule.lecture_notebook(nb).cells]
    assert kinds.count("slide") == slides, "fitting the screen must not add or remove columns"
    return slides, kinds.count("slide") + kinds.count("subslide")


# ------------------------------------------------------------------------------------- the rule
def test_every_notebook_stores_the_rules_slide_types():
    assert len(NOTEBOOKS) >= 10
    stale = {p.name: rule.mismatches(read(p)) for p in NOTEBOOKS}
    stale = {name: problems[:3] for name, problems in stale.items() if problems}
    assert not stale, f"run `python scripts/make_slides.py --write-metadata`: {stale}"


def test_the_rule_on_a_small_notebook():
    nb = notebook(
        ("markdown", "# 99 · Title\n\nWhat this is about."),
        ("markdown", "## Setup"),
        ("code", "import torch"),
        ("markdown", "## Data\n\nSome text."),
        ("markdown", "More text."),
        ("code", "plot()"),
        ("markdown", "What the plot shows."),
        ("markdown", "### A detail"),
        ("code", "detail()"),
        ("markdown", "## Exercises\n\n**1.** Why?"),
        ("code", "print(elapsed)"),
    )
    assert rule.slide_types(nb) == [
        "slide",
        "skip",
        "skip",
        "slide",
        "-",
        "subslide",
        "fragment",
        "subslide",
        "subslide",
        "slide",
        "skip",
    ]
    assert rule.apply_slide_types(nb) == len(nb.cells) and rule.mismatches(nb) == []
    assert rule.apply_slide_types(nb) == 0  # a second run changes nothing


def test_inner_headings_update_the_section_and_ignore_code_fences():
    nb = notebook(
        ("markdown", "# T"),
        ("code", "train()"),
        ("markdown", "A result.\n\n```python\n## not a heading\n```\n\n## Summary\n\n* done"),
        ("code", "print(elapsed)"),
    )
    assert rule.slide_types(nb) == ["slide", "subslide", "fragment", "skip"]
    assert rule.split_at_headings(nb.cells[2].source)[1].startswith("## Summary")
    assert len(rule.split_at_headings(nb.cells[2].source)) == 2


def test_lecture_copy_cuts_at_headings_moves_solutions_to_notes_and_reads_myst():
    nb = notebook(
        ("markdown", "# T\n\nAs {cite}`kingma2014auto, rezende2014stochastic` show."),
        (
            "markdown",
            "Text.\n\n## Exercises\n\n**1.** Why?\n\n```{admonition} Solution\n:class: dropdown\n"
            "Because $x^2$.\n```\n\n```{admonition} Algorithm 1\n:class: tip\n1. step\n```",
        ),
    )
    rule.apply_slide_types(nb)
    before = copy.deepcopy(nb)
    deck = rule.lecture_notebook(nb)
    assert nb == before, "the stored notebook must not change"
    kinds = [c.metadata.slideshow.slide_type for c in deck.cells]
    assert kinds == ["slide", "-", "slide", "notes"]
    assert "{cite}`kingma2014auto, rezende2014stochastic`" in deck.cells[0].source  # see below
    exercises, notes = deck.cells[2].source, deck.cells[3].source
    assert "Because" not in exercises and "{admonition}" not in exercises
    assert (
        "> **Algorithm 1**" in exercises and "> 1. step" in exercises and ":class:" not in exercises
    )
    assert notes == "**Solution 1.** Because $x^2$."


# ----------------------------------------------------------------------------- build and assets
@dataclass
class Decks:
    folder: Path
    paths: dict[str, Path]  # notebook stem -> deck


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Decks:
    out = tmp_path_factory.mktemp("slides")
    before = {p: p.read_bytes() for p in NOTEBOOKS}
    assert make_slides.main(["--out", str(out)]) == 0, (
        "scripts/make_slides.py failed; its error is printed above"
    )
    assert all(p.read_bytes() == data for p, data in before.items()), (
        "building a deck must not touch a notebook"
    )
    return Decks(out, {p.stem: out / f"{p.stem}.slides.html" for p in NOTEBOOKS})


def css_urls(css: str) -> list[str]:
    """URLs in a style sheet's url(...) and @import, comments left out."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css) + re.findall(
        r"""@import\s+['"]([^'"]+)""", css
    )


def is_remote(url: str) -> bool:
    return bool(re.match(r"[a-z][a-z0-9+.-]*:|//", url, re.I)) and not url.startswith(
        ("data:", "file:")
    )


def external_loads(html: str) -> list[str]:
    """Every resource the page itself names that would come from the network.

    Links a reader may click (<a href>) are not loads; inline style sheets count."""
    page = BeautifulSoup(html, "html.parser")
    urls = [
        el.get(attr, "")
        for attr in ("src", "data-src", "poster")
        for el in page.find_all(attrs={attr: True})
    ]
    urls += [link["href"] for link in page.find_all("link", href=True)]
    urls += [url for style in page.find_all("style") for url in css_urls(style.get_text())]
    for module in page.find_all("script", type="module"):  # nbconvert imports mermaid this way
        urls += re.findall(r"""(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]""", module.get_text())
    return [url for url in urls if is_remote(url)]


def test_one_deck_per_notebook_and_local_assets(decks: Decks):
    missing = [name for name, path in decks.paths.items() if not path.is_file()]
    assert not missing, f"no deck for {missing}"
    for asset in (
        "reveal.js/dist/reveal.js",
        "reveal.js/dist/theme/white.css",
        "reveal.js/plugin/notes/notes.js",
        "mathjax/tex-chtml.js",
    ):
        assert (decks.folder / "_assets" / asset).is_file(), asset


def test_decks_reference_only_local_files(decks: Decks):
    problems = []
    for name, path in decks.paths.items():
        html = path.read_text(encoding="utf-8")
        problems += [f"{name}: loads {url}" for url in external_loads(html)]
        page = BeautifulSoup(html, "html.parser")
        local = [el.get("src") or el.get("href") for el in page.select("script[src], link[href]")]
        problems += [
            f"{name}: {url} does not exist" for url in local if not (path.parent / url).is_file()
        ]
        sheets = [
            path.parent / url
            for url in local
            if url.endswith(".css") and (path.parent / url).is_file()
        ]
        problems += [
            f"{name}: {sheet.name} loads {url}"
            for sheet in sheets
            for url in css_urls(sheet.read_text(encoding="utf-8"))
            if is_remote(url)
        ]
        if "{admonition}" in html or "{cite}" in html:
            problems.append(f"{name}: MyST syntax left as text")
        notes = " ".join(aside.get_text() for aside in page.select("aside.notes"))
        if "Solution 1." not in notes:
            problems.append(f"{name}: the exercise solutions are not in the speaker notes")
    assert not problems, "\n".join(problems)


def test_stale_metadata_stops_the_build(tmp_path: Path):
    nb = read(NOTEBOOKS[0])
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
    stale = tmp_path / NOTEBOOKS[0].name
    nbformat.write(nb, stale)
    with pytest.raises(make_slides.SlidesError, match="--write-metadata"):
        make_slides.build([stale], tmp_path / "out")
    assert make_slides.write_metadata(stale) == len(nb.cells)
    rewritten = read(stale)
    assert rule.mismatches(rewritten) == []
    for cell in rewritten.cells:  # only the slide type was added
        cell.metadata.pop("slideshow")
    assert rewritten == nb


# ---------------------------------------------------------------------------------- the browser
PROBE = """
<script>
(async () => {
  const report = {};
  try {
    await new Promise(done => Reveal.isReady() ? done() : Reveal.on('ready', done));
    await MathJax.startup.promise;
    report.ready = Reveal.isReady();
    report.slides = Reveal.getHorizontalSlides().length;
    report.total = Reveal.getTotalSlides();
    report.notes = Reveal.hasPlugin('notes');
    report.images = document.images.length;
    report.broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                        .map(i => i.src.slice(0, 80));
  } catch (error) { report.error = String(error); }
  const out = document.createElement('pre');
  out.id = 'slide-probe';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
})();
</script>
"""
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND"  # any host name fails, so a CDN cannot answer


@dataclass
class Shown:
    probe: dict
    dom: str
    requests: list[str]  # URLs the page asked the network for (Chromium's net log)
    errors: list[str]  # uncaught errors from the console


def page_requests(net_log: Path) -> list[str]:
    """URLs that a page opened from file:// requested (Chromium's own background calls left out)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        {
            e["params"]["url"]
            for e in log["events"]
            if e["type"] == start and "file://" in e["params"].get("network_isolation_key", "")
        }
    )


@pytest.fixture(scope="module")
def chromium():
    found = chromium_executable()
    with tempfile.TemporaryDirectory() as home:

        def run(*args: str) -> subprocess.CompletedProcess:
            with tempfile.TemporaryDirectory() as profile:
                cmd = [
                    found,
                    *CHROMIUM_FLAGS,
                    NO_NETWORK,
                    f"--user-data-dir={profile}",
                    f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                    "--enable-logging=stderr",
                    *args,
                ]
                return subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=PAGE_TIMEOUT_S,
                    env={**os.environ, "HOME": home},
                )

        yield run


@pytest.fixture(scope="module")
def show(chromium):
    """deck -> what Chromium made of it, read through a probed copy beside the deck."""

    def shown(deck: Path) -> Shown:
        probed = deck.with_name(deck.stem + ".probe.html")
        probed.write_text(deck.read_text(encoding="utf-8") + PROBE, encoding="utf-8")
        net_log = deck.with_name(deck.stem + ".netlog.json")
        done = chromium(f"--log-net-log={net_log}", "--dump-dom", probed.as_uri())
        assert done.returncode == 0 and done.stdout.strip(), (
            f"chromium failed on {deck.name}:\n{done.stderr[-2000:]}"
        )
        found = re.search(r'<pre id="slide-probe">(.*?)</pre>', done.stdout, re.S)
        probe = (
            json.loads(BeautifulSoup(found.group(1), "html.parser").get_text())
            if found
            else {"error": "no report"}
        )
        errors = re.findall(r'CONSOLE[^\]]*\] "(Uncaught[^"]*)"', done.stderr)
        return Shown(probe, done.stdout, page_requests(net_log), errors)

    return shown


def math_problems(dom: str) -> list[str]:
    page = BeautifulSoup(dom, "html.parser")
    problems = []
    if not page.find("mjx-container"):
        problems.append("MathJax typeset nothing")
    if page.find("mjx-merror"):
        problems.append("MathJax reported a TeX error")
    for element in page.find_all(NOT_PROSE):
        element.decompose()
    raw = RAW_TEX.findall(page.get_text(" "))
    if raw:
        problems.append(f"raw TeX left in the visible text: {raw[:3]}")
    return problems


def deck_problems(shown: Shown, expected: tuple[int, int]) -> list[str]:
    """What is wrong with a deck as the browser showed it; [] when it works offline."""
    probe, problems = shown.probe, []
    if not probe.get("ready"):
        return [f"reveal.js did not start: {probe.get('error')}", *shown.requests, *shown.errors]
    if (probe["slides"], probe["total"]) != expected:
        problems.append(
            f"(slides, slides + subslides) = {(probe['slides'], probe['total'])}, metadata says "
            f"{expected}"
        )
    problems += [f"network request: {url}" for url in shown.requests]
    problems += [f"script error: {error}" for error in shown.errors]
    problems += [f"broken image: {src}" for src in probe["broken"]]
    if not probe["notes"]:
        problems.append("the speaker notes plugin is not loaded")
    if probe["images"] == 0:
        problems.append("no figure: the stored outputs should show")
    return problems + math_problems(shown.dom)


def test_every_deck_works_offline_in_a_browser(decks: Decks, show):
    problems = []
    for path in NOTEBOOKS:
        shown = show(decks.paths[path.stem])
        problems += [f"{path.stem}: {p}" for p in deck_problems(shown, expected_slides(read(path)))]
    assert not problems, "\n".join(problems)


def test_a_deck_that_uses_a_cdn_fails_the_checks(decks: Decks, show):
    """Negative control: the deck nbconvert makes with its stock settings, which load from CDNs."""
    nb = read(NOTEBOOKS[0])
    html, _ = SlidesExporter().from_notebook_node(rule.lecture_notebook(nb))
    stock = decks.folder / "stock.slides.html"
    stock.write_text(html, encoding="utf-8")
    assert any("unpkg.com/reveal.js" in url for url in external_loads(html))
    shown = show(stock)
    assert any(url.startswith("https://unpkg.com/reveal.js") for url in shown.requests), (
        shown.requests
    )
    assert deck_problems(shown, expected_slides(nb))


def test_screenshot_of_the_first_slide(decks: Decks, chromium):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    done = chromium(
        "--hide-scrollbars",
        "--window-size=1280,720",
        f"--screenshot={SCREENSHOT}",
        decks.paths["01_autoencoder"].as_uri(),
    )
    assert done.returncode == 0 and SCREENSHOT.is_file(), done.stderr[-2000:]
    with Image.open(SCREENSHOT) as shot:
        dark = int((np.asarray(shot.convert("L")) < 128).sum())
    assert dark > 5000, f"{SCREENSHOT} is nearly blank: the title slide should show its text"


# ------------------------------------------------------------------------ a 16:9 screen, per slide
FIT_PROBE = """
<script>
(async () => {
  const report = {over: [], tallest: null};
  try {
    await new Promise(done => Reveal.isReady() ? done() : Reveal.on('ready', done));
    await MathJax.startup.promise;
    await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
    report.size = [Reveal.getConfig().width, Reveal.getConfig().height];
    report.count = Reveal.getSlides().length;
    for (const slide of Reveal.getSlides()) {
      const at = Reveal.getIndices(slide);
      Reveal.slide(at.h, at.v);
      slide.querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));
      const range = document.createRange();
      range.selectNodeContents(slide);
      const content = Math.round(range.getBoundingClientRect().height / Reveal.getScale());
      const entry = {h: at.h, v: at.v, content,
                     height: slide.scrollHeight, screen: slide.clientHeight,
                     width: slide.scrollWidth, screenWidth: slide.clientWidth,
                     text: slide.textContent.trim().replace(/\\s+/g, ' ').slice(0, 70)};
      if (entry.height > entry.screen + 1 || entry.width > entry.screenWidth + 1) {
        report.over.push(entry);
      }
      if (!report.tallest || entry.content > report.tallest.content) report.tallest = entry;
    }
  } catch (error) { report.error = String(error); }
  const out = document.createElement('pre');
  out.id = 'fit-probe';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
})();
</script>
"""
SHOTS = SCREENSHOT.parent  # book/_build/slides/: one screenshot per deck, of its fullest slide


def fit_report(deck: Path, chromium) -> dict:
    probed = deck.with_name(deck.stem + ".fit.html")
    probed.write_text(deck.read_text(encoding="utf-8") + FIT_PROBE, encoding="utf-8")
    done = chromium("--window-size=1280,720", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="fit-probe">(.*?)</pre>', done.stdout, re.S)
    if not found:
        return {"error": f"no report: {done.stderr[-500:]}"}
    return json.loads(BeautifulSoup(found.group(1), "html.parser").get_text())


def test_every_slide_fits_a_16_9_screen(decks: Decks, chromium):
    """Each slide's content, all fragments shown, is no taller or wider than the 1280 x 720
    canvas; the fullest slide of each deck is saved as a screenshot for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for path in NOTEBOOKS:
        report = fit_report(decks.paths[path.stem], chromium)
        if "error" in report:
            problems.append(f"{path.stem}: {report['error']}")
            continue
        assert report["size"] == [1280, 720], f"{path.stem}: the deck is not 16:9"
        problems += [
            f"{path.stem} slide {o['h']}/{o['v']}: content {o['height']} x {o['width']} px "
            f"on a {o['screen']} x {o['screenWidth']} screen ({o['text']!r})"
            for o in report["over"]
        ]
        tallest = report["tallest"]
        shot = SHOTS / f"{path.stem}.fullest-slide.png"
        chromium(
            "--hide-scrollbars",
            "--window-size=1280,720",
            f"--screenshot={shot}",
            f"{decks.paths[path.stem].as_uri()}#/{tallest['h']}/{tallest['v']}",
        )
        assert shot.is_file(), f"no screenshot of {path.stem}"
    assert not problems, "slides overflow the screen:\n" + "\n".join(problems)


def test_the_fit_check_catches_an_overflowing_slide(decks: Decks, chromium, tmp_path):
    """Negative control: a deck whose slide holds sixty lines of text fails the check."""
    nb = notebook(("markdown", "# T\n\n" + "\n\n".join(f"Line {n}." for n in range(60))))
    rule.apply_slide_types(nb)
    html, _ = make_slides.exporter().from_notebook_node(nb)  # the stored cells, not fitted
    deck = decks.folder / "overflowing.slides.html"
    deck.write_text(html, encoding="utf-8")
    report = fit_report(deck, chromium)
    assert report.get("over"), report


# --------------------------------------------------------------------------------------- citations
def test_citation_roles_read_author_year_in_the_deck():
    nb = notebook(
        ("markdown", "# T\n\nAs {cite}`kingma2014auto, burda2016importance` show, in the"),
        ("markdown", "[lecture notes](../book/sources.md) and [a paper](https://doi.org/x)."),
    )
    deck = make_slides.for_the_deck(nb, make_slides.load_references())
    cited, linked = deck.cells[0].source, deck.cells[1].source
    assert "{cite}" not in cited
    assert "[Kingma and Welling, 2014](" in cited and "[Burda et al., 2016](" in cited
    assert linked == "lecture notes and [a paper](https://doi.org/x)."  # no book beside a deck


def test_no_deck_shows_a_raw_citation_key(decks: Decks):
    keys = make_slides.load_references()
    found = {
        name: sorted(k for k in keys if f"[{k}]" in text or f"`{k}`" in text or "{cite}" in text)
        for name, path in decks.paths.items()
        if (text := BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text())
    }
    assert not any(found.values()), {name: keys for name, keys in found.items() if keys}
