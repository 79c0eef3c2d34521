"""The Jupyter Book: it builds offline with warnings as errors, and a real browser can read it.

The book is built once per test session (module-scoped fixture) into a temporary folder with
scripts/build_book.py. Static checks read the HTML files; the browser checks open every page in
headless Chromium through a web server on 127.0.0.1 and look at the DOM after the page's scripts
ran: MathJax must have typeset the math, and every image and internal link must exist.
"""

from __future__ import annotations

import functools
import os
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote_plus, unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build_book.py"
BUILD_TIMEOUT_S = 900
PAGE_TIMEOUT_S = 120
VIRTUAL_TIME_MS = 20_000  # virtual time Chromium grants the page's scripts before dumping the DOM
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync", "--disable-quic",
]
# Raw TeX that MathJax should have replaced: \( \) \[ \] $$, or an inline $...$ holding TeX syntax.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]*[\\^_][^$\n]*\$")
# Elements whose text is code or machinery, not prose a reader sees as typeset text.
NOT_PROSE = ["script", "style", "noscript", "template", "textarea", "pre", "code", "mjx-container"]


def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_book", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load_build_module()


@dataclass
class Build:
    returncode: int
    log: str
    seconds: float
    html: Path


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def pages(html: Path) -> list[str]:
    """Every built page, relative to the HTML root; theme assets under _static/ etc. are not pages."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not p.relative_to(html).parts[0].startswith("_")
    )


def is_local(url: str) -> bool:
    """A URL relative to the book (no scheme, not protocol-relative)."""
    return not urlsplit(url).scheme and not url.startswith("//")


def local_file(html: Path, page: str, url: str) -> Path:
    """The file a relative URL on `page` points to (query and fragment dropped)."""
    path = unquote(urlsplit(urljoin(page, url)).path)
    target = html / path.lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


# ------------------------------------------------------------------------------------ the build
@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    out = tmp_path_factory.mktemp("book_build")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    seconds = time.perf_counter() - start
    print(f"book build: {seconds:.1f} s")
    return Build(done.returncode, done.stdout + done.stderr, seconds, out / "html")


@pytest.fixture(scope="module")
def html(build: Build) -> Path:
    if build.returncode != 0:
        pytest.fail(f"the book build failed, so its pages cannot be checked:\n{build.log[-4000:]}")
    return build.html


def test_build_succeeds_with_warnings_as_errors(build: Build):
    assert build.returncode == 0, f"scripts/build_book.py failed:\n{build.log[-4000:]}"
    assert (build.html / "index.html").is_file()
    assert "build succeeded" in build.log


def test_every_notebook_is_in_the_toc():
    listed = {f for f in build_book.toc_files() if f.startswith("notebooks/")}
    missing = [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
               if f"notebooks/{p.stem}" not in listed]
    assert not missing, f"add these notebooks to book/_toc.yml: {missing}"


def test_every_toc_entry_has_a_page(html: Path):
    entries = build_book.toc_files()
    assert "notebooks/01_autoencoder" in entries
    missing = [f for f in entries if not (html / f"{f}.html").is_file()]
    assert not missing, f"no HTML page was built for: {missing}"


def test_scripts_are_local_and_mathjax_is_served_by_the_book(html: Path):
    problems, mathjax_pages = [], 0
    for page in pages(html):
        page_soup = soup((html / page).read_text(encoding="utf-8"))
        sources = [s["src"] for s in page_soup.find_all("script", src=True)]
        for src in sources:
            if not is_local(src):
                problems.append(f"{page}: external script {src}")
            elif not local_file(html, page, src).is_file():
                problems.append(f"{page}: script {src} does not exist")
        has_math = page_soup.select_one(".math") is not None
        mathjax = [s for s in sources if "mathjax" in s.lower()]
        if has_math and not mathjax:
            problems.append(f"{page}: has math but loads no MathJax")
        mathjax_pages += bool(mathjax)
    assert not problems, "\n".join(problems)
    assert mathjax_pages >= 2, "expected MathJax on the intro and the notebook pages"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_glossary_and_bibliography_are_complete(html: Path):
    terms = soup((html / "glossary.html").read_text(encoding="utf-8")).select("dl.glossary dt")
    assert len(terms) >= 30, f"only {len(terms)} glossary terms"
    bib_keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    printed = soup((html / "bibliography.html").read_text(encoding="utf-8")).select(".citation")
    assert len(printed) == len(bib_keys), (len(printed), len(bib_keys))


# ---------------------------------------------------------------------------------- the browser
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def browser():
    """A function url -> DOM after scripts ran, using headless Chromium; skips if there is none."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed; .ci/run installs it with apt (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as profile:

        def dump_dom(url: str) -> str:
            cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--dump-dom", url]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=PAGE_TIMEOUT_S,
                                  env={**os.environ, "HOME": home})
            assert done.returncode == 0 and done.stdout.strip(), (
                f"chromium failed on {url} (exit {done.returncode}):\n{done.stderr[-2000:]}")
            return done.stdout

        yield dump_dom


@pytest.fixture(scope="module")
def serve():
    """Serve a folder on 127.0.0.1 (loopback only) and return its base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def rendered(html: Path, browser, serve) -> dict[str, str]:
    """Every page of the built book as the browser shows it: {page: DOM}."""
    base = serve(html)
    return {page: browser(base + page) for page in pages(html)}


def math_problems(dom: str) -> list[str]:
    """What is wrong with the math of a rendered page; [] when MathJax typeset all of it."""
    page = soup(dom)
    problems = []
    if page.find("mjx-merror") is not None:
        problems.append("MathJax reported a TeX error")
    untypeset = [el for el in page.select(".math") if el.find("mjx-container") is None]
    if untypeset:
        problems.append(f"{len(untypeset)} math elements not typeset, e.g. {untypeset[0].get_text()[:60]!r}")
    for element in page.find_all(NOT_PROSE):
        element.decompose()
    raw = RAW_TEX.findall(page.get_text(" "))
    if raw:
        problems.append(f"raw TeX left in the visible text: {raw[:5]}")
    return problems


def test_pages_load_with_a_title(rendered: dict[str, str]):
    assert "intro.html" in rendered and "notebooks/01_autoencoder.html" in rendered
    for page, dom in rendered.items():
        title = soup(dom).title
        assert title is not None and title.get_text(strip=True), f"{page} has no title"
        assert "Error response" not in title.get_text(), f"{page}: {title.get_text()}"


def test_math_is_typeset_by_mathjax(html: Path, rendered: dict[str, str]):
    problems, typeset = [], 0
    for page, dom in rendered.items():
        if soup((html / page).read_text(encoding="utf-8")).select_one(".math") is None:
            continue  # a page without math
        containers = len(soup(dom).find_all("mjx-container"))
        typeset += containers
        if containers == 0:
            problems.append(f"{page}: no mjx-container, MathJax did not run")
        problems += [f"{page}: {p}" for p in math_problems(dom)]
    assert not problems, "\n".join(problems)
    assert typeset > 0


def test_math_check_fails_without_mathjax(html: Path, browser, serve, tmp_path: Path):
    """Negative control: the same page with its MathJax script removed must fail the math check."""
    broken = tmp_path / "site"
    shutil.copytree(html, broken, ignore=shutil.ignore_patterns("mathjax"))
    intro = broken / "intro.html"
    intro.write_text(re.sub(r'<script[^>]*mathjax[^>]*></script>', "",
                            intro.read_text(encoding="utf-8"), flags=re.I), encoding="utf-8")
    assert math_problems(browser(serve(broken) + "intro.html"))


def test_images_exist(html: Path, rendered: dict[str, str]):
    problems, checked = [], 0
    for page, dom in rendered.items():
        for img in soup(dom).find_all("img"):
            src = img.get("src", "")
            if src.startswith("data:"):
                continue
            checked += 1
            if not src or not is_local(src):
                problems.append(f"{page}: image {src!r} is not a file of the book")
            elif not local_file(html, page, src).is_file():
                problems.append(f"{page}: image {src} does not exist")
    assert not problems, "\n".join(problems)
    assert checked > 0, "no image found: the notebook pages should show figures"


def test_internal_links_resolve(html: Path, rendered: dict[str, str]):
    problems, checked = [], 0
    for page, dom in rendered.items():
        for anchor in soup(dom).find_all("a", href=True):
            href = anchor["href"].strip()
            if not href or href.startswith("#") or not is_local(href):
                continue  # same-page anchors; external, mailto: and javascript: links
            checked += 1
            if not local_file(html, page, href).exists():
                problems.append(f"{page}: link {href} leads nowhere")
    assert not problems, "\n".join(problems)
    assert checked > 0


def test_instructor_page_shows_the_benchmark_table_for_every_notebook(html: Path):
    page = soup((html / "instructors.html").read_text(encoding="utf-8"))
    table_text = " ".join(table.get_text(" ") for table in page.find_all("table"))
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [name for name in notebooks if f"{name} cpu" not in " ".join(table_text.split())]
    assert not missing, f"the instructor page's timing table (bench/RESULTS.md) has no cpu row for {missing}; run make bench"


@pytest.mark.parametrize(
    "term, page",
    [("Gram matrix", "notebooks/10_neural_style_transfer.html"), ("contrastive divergence", "notebooks/04_rbm_and_dbn.html")],
)
def test_search_finds_key_terms(html: Path, browser, serve, term: str, page: str):
    """The book's search page (JavaScript over searchindex.js) lists the chapter that teaches the term."""
    dom = browser(serve(html) + "search.html?q=" + quote_plus(term))
    found = [link.get("href", "") for link in soup(dom).select("ul.search li a")]
    assert any(href.startswith(page) for href in found), f"searching {term!r} listed {found[:5]}"
