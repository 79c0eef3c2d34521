"""The Jupyter Book: it builds offline with warnings as errors, and a real browser can read it.

The book is built once per test session (module-scoped fixture) into a temporary folder with
scripts/build_book.py. Static checks read the HTML files; the browser checks open every page in
headless Chromium through a web server on 127.0.0.1 and look at the DOM after the page's scripts
ran: MathJax must have typeset the math, and every image and internal link must exist. The
browser fixtures (``browser``, ``serve``, ``devtools``) come from tests/book_browser.py.

The readers' checks: the glossary holds a term for every concept the syllabus tags (with the Korean
the source documents use, quoted exactly), the bibliography holds the course's papers and the
chapters cite them, and a browser driven over the DevTools protocol clicks the exercise solutions
open (they start hidden) and saves screenshots of key pages to book/_build/screenshots/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from book_browser import (
    SETTLED_JS,
    SOLUTION_STATE_JS,
    SOLUTIONS,
    VIEWPORT,
    DevTools,
    is_local,
    local_file,
    math_problems,
    pages,
    screenshot_settled_page,
    soup,
)
from bs4 import BeautifulSoup, SoupStrainer
from script_modules import load_script

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build_book.py"
BOOK = ROOT / "book"
# The syllabus and the source documents stand beside the repository (../shared/) on the course's
# machines and CI, not inside it; the checks that read them skip where they are absent.
SHARED = ROOT.parent / "shared"
SCREENSHOTS = BOOK / "_build" / "screenshots"
BUILD_TIMEOUT_S = 900


build_book = load_script("build_book")


@dataclass
class Build:
    returncode: int
    log: str
    seconds: float
    html: Path


# ------------------------------------------------------------------------------------ the build
@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    out = tmp_path_factory.mktemp("book_build")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
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
    missing = [
        p.name
        for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
        if f"notebooks/{p.stem}" not in listed
    ]
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


# ------------------------------------------------------------------------- glossary and papers
# Every concept the syllabus tags [S-...] (../shared/SYLLABUS.md), with the glossary terms that
# explain it; checked by hand against the syllabus and the source documents (issue 9). A term
# may serve several tags. The last two groups have no tag: measurements the syllabus asks for, and
# general terms the chapters lean on.
SYLLABUS_GLOSSARY = {
    "S-gen": [
        "generative model",
        "discriminative model",
        "explicit density model",
        "implicit density model",
    ],
    "S-ae-arch": [
        "autoencoder",
        "encoder",
        "bottleneck",
        "decoder",
        "reconstruction loss",
        "data compression",
        "dimensionality reduction",
        "curse of dimensionality",
        "feature extraction",
    ],
    "S-ae-code": [
        "convolutional neural network",
        "batch normalisation",
        "fully connected layer",
        "transposed convolution",
        "sigmoid function",
        "Adam",
        "weight decay",
        "mean squared error",
        "binary cross-entropy",
    ],
    "S-ae-pca": ["principal component analysis", "linear autoencoder", "latent space"],
    "S-dae": [
        "denoising autoencoder",
        "peak signal-to-noise ratio",
        "structural similarity",
        "total variation denoising",
        "non-local means",
    ],
    "S-vae-elbo": [
        "latent variable",
        "evidence lower bound",
        "reparameterization trick",
        "Kullback-Leibler divergence",
        "prior distribution",
        "posterior distribution",
        "Gaussian distribution",
        "Bernoulli decoder",
        "Gaussian decoder",
    ],
    "S-vae-code": [
        "variational autoencoder",
        "leaky ReLU",
        "log-variance",
        "multilayer perceptron",
    ],
    "S-vae-curves": ["reconstruction loss", "regularisation", "epoch"],
    "S-vae-paper": ["latent space restriction", "lower bound"],
    "S-vae-sample": ["sampling", "uniform distribution", "interpolation", "latent traversal"],
    "S-vae-attr": ["latent direction", "attribute", "entangled representation"],
    "S-pgm": [
        "probabilistic graphical model",
        "Bayesian network",
        "Markov random field",
        "joint probability distribution",
        "conditional probability",
        "energy function",
        "Boltzmann distribution",
        "configuration",
        "microstate",
        "partition function",
    ],
    "S-bm": [
        "Boltzmann machine",
        "restricted Boltzmann machine",
        "visible layer",
        "hidden layer",
        "bias term",
        "marginal distribution",
        "free energy",
        "inference",
    ],
    "S-rbm-grad": [
        "log-likelihood",
        "maximum likelihood estimation",
        "gradient ascent",
        "learning rate",
        "Markov chain Monte Carlo",
        "Monte Carlo method",
        "Gibbs sampling",
        "contrastive divergence",
        "persistent contrastive divergence",
    ],
    "S-rbm-exact": ["partition function", "likelihood"],
    "S-rbm-mnist": ["annealed importance sampling", "pseudo-likelihood", "nat"],
    "S-dbn": [
        "stacked RBM",
        "greedy layer-wise training",
        "deep belief network",
        "sigmoid belief network",
        "wake-sleep algorithm",
        "up-down algorithm",
        "pretraining",
    ],
    "S-dbm": ["deep Boltzmann machine"],
    "S-gan-game": [
        "generative adversarial network",
        "generator",
        "discriminator",
        "counterfeiter and police analogy",
        "value function",
        "objective function",
        "minimax game",
        "two-player game",
        "noise vector",
        "minibatch",
    ],
    "S-gan-theory": ["optimal discriminator", "Jensen-Shannon divergence"],
    "S-gan-curves": ["loss function"],
    "S-collapse": ["mode collapse"],
    "S-dcgan-arch": [
        "deep convolutional GAN",
        "strided convolution",
        "fractionally-strided convolution",
        "ReLU",
        "hyperbolic tangent",
        "global average pooling",
    ],
    "S-latent-walk": ["latent space walk"],
    "S-latent-arith": ["latent vector arithmetic"],
    "S-bigan": ["bidirectional GAN", "inverse mapping", "linear probe"],
    "S-jsd-fail": ["Jensen-Shannon divergence", "earth mover's distance"],
    "S-emd": ["Wasserstein distance", "coupling"],
    "S-lipschitz": ["Lipschitz continuity"],
    "S-kr": ["Kantorovich-Rubinstein duality", "critic", "Wasserstein GAN"],
    "S-clip": ["weight clipping"],
    "S-gp": ["gradient penalty", "WGAN-GP"],
    "S-wgan-hist": ["weight clipping", "gradient penalty"],
    "S-cgan": ["conditional GAN", "condition vector", "one-hot vector"],
    "S-pix2pix": [
        "pix2pix",
        "paired data",
        "U-Net",
        "skip connection",
        "PatchGAN",
        "L1 loss",
        "supervised learning",
    ],
    "S-unpaired": [
        "unpaired image-to-image translation",
        "image-to-image translation",
        "CycleGAN",
        "mode collapse",
    ],
    "S-cycle": ["cycle consistency", "least-squares GAN"],
    "S-stargan": ["StarGAN", "domain", "adversarial loss", "domain classification loss"],
    "S-mask": ["mask vector"],
    "S-nst": [
        "neural style transfer",
        "content image",
        "style image",
        "content loss",
        "pretrained network",
        "VGG-19",
        "feature map",
        "L-BFGS",
    ],
    "S-gram": ["Gram matrix", "correlation coefficient", "style loss"],
    "untagged: measurements": [
        "importance-weighted bound",
        "negative log-likelihood",
        "Fréchet distance",
        "saturating loss",
        "non-saturating loss",
    ],
    "untagged: the course": ["unsupervised learning", "backpropagation", "overfitting", "manifold"],
}
# Korean that the syllabus asks for or that a reader of the sources looks up first, each quoted
# from the source documents (tests below check both the glossary and the sources).
GLOSSARY_KOREAN = {
    "variational autoencoder": "변형 오토인코더",
    "contrastive divergence": "대조분기",
    "generator": "생성자",
    "discriminator": "판별자",
    "partition function": "분할 함수",
    "autoencoder": "오토인코더",
    "restricted Boltzmann machine": "제한적 볼츠만 머신",
    "deep belief network": "심층 신뢰망",
    "generative adversarial network": "대립쌍 생성망",
    "Gibbs sampling": "깃스 표본추출",
    "reparameterization trick": "재 매개변수",
    "latent space restriction": "잠재 공간 제약",
    "value function": "가치함수",
    "optimal discriminator": "최적의 D",
    "minimax game": "최소최대문제",
    "latent vector arithmetic": "잡음 벡터의 연산",
    "deep convolutional GAN": "딥 컨볼루션 대립쌍 생성망",
    "bidirectional GAN": "양방향 대립쌍 생성망",
}
# The papers the course relies on: bibliography key -> the page that must cite it where it is used.
COURSE_PAPERS = {
    "kim2023variational": "notebooks/03_variational_autoencoder",  # seed 000
    "kingma2014auto": "notebooks/03_variational_autoencoder",
    "burda2016importance": "notebooks/03_variational_autoencoder",
    "hinton2002training": "notebooks/04_rbm_and_dbn",
    "hinton2006fast": "notebooks/04_rbm_and_dbn",
    "salakhutdinov2008quantitative": "notebooks/04_rbm_and_dbn",
    "hinton1995wake": "glossary",
    "goodfellow2014generative": "notebooks/05_gan",
    "radford2016unsupervised": "notebooks/06_dcgan_bigan",
    "donahue2017adversarial": "notebooks/06_dcgan_bigan",
    "arjovsky2017wasserstein": "notebooks/07_wgan",
    "gulrajani2017improved": "notebooks/07_wgan",
    "mirza2014conditional": "notebooks/08_conditional_gan",
    "isola2017image": "notebooks/08_conditional_gan",
    "zhu2017unpaired": "notebooks/09_cyclegan_stargan",
    "choi2018stargan": "notebooks/09_cyclegan_stargan",
    "gatys2016image": "notebooks/10_neural_style_transfer",
    "johnson2016perceptual": "notebooks/10_neural_style_transfer",
}
HANGUL_SPAN = re.compile(
    r"[\uac00-\ud7a3][\uac00-\ud7a3\w-]*(?:\s+[\uac00-\ud7a3][\uac00-\ud7a3\w-]*)*"
)
NOT_IN_SOURCES = re.compile(r"\*\(not\s+in\s+the\s+sources")  # may break across lines


def glossary_entries(html: Path) -> dict[str, str]:
    """{term: definition text} of the built glossary; a definition may have several terms."""
    entries: dict[str, str] = {}
    terms: list[str] = []
    for node in soup((html / "glossary.html").read_text(encoding="utf-8")).select(
        "dl.glossary > *"
    ):
        if node.name == "dt":
            for link in node.select("a.headerlink"):
                link.decompose()
            terms.append(node.get_text(strip=True).replace("\u2019", "'"))
        elif node.name == "dd":
            entries.update({term: node.get_text(" ", strip=True) for term in terms})
            terms = []
    return entries


def bibliography_keys() -> list[str]:
    return re.findall(
        r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(encoding="utf-8"), re.M
    )


def cited_keys(page: str) -> set[str]:
    """Keys a page cites: by author-year links in notebooks, by {cite} roles in book pages."""
    if page.startswith("notebooks/"):
        citations = load_script("citations")
        notebook = json.loads((ROOT / f"{page}.ipynb").read_text(encoding="utf-8"))
        markdown = "\n".join(
            "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
        )
        return citations.cited_keys(markdown, citations.load_references())
    roles = re.findall(
        r"\{cite(?::\w+)?\}`([^`]*)`", (BOOK / f"{page}.md").read_text(encoding="utf-8")
    )
    return {key.strip() for role in roles for key in role.split(",")}


def squash(text: str) -> str:
    """Text without whitespace or markup, to find a quoted phrase across line breaks and styling."""
    return re.sub(r"\s+|[*$]|</?mark>", "", unicodedata.normalize("NFC", text))


def test_glossary_covers_every_syllabus_concept(html: Path):
    terms = glossary_entries(html)
    missing = {
        tag: [t for t in wanted if t not in terms] for tag, wanted in SYLLABUS_GLOSSARY.items()
    }
    missing = {tag: gone for tag, gone in missing.items() if gone}
    assert not missing, f"book/glossary.md has no entry for these syllabus concepts: {missing}"


def test_glossary_gives_the_korean_of_the_sources(html: Path):
    terms = glossary_entries(html)
    wrong = {
        term: korean
        for term, korean in GLOSSARY_KOREAN.items()
        if korean not in terms.get(term, "")
    }
    assert not wrong, f"these glossary entries lack the Korean the sources use: {wrong}"


def test_every_syllabus_tag_is_mapped_to_glossary_terms():
    """When the syllabus gains a concept tag, SYLLABUS_GLOSSARY (and the glossary) must follow."""
    syllabus = SHARED / "SYLLABUS.md"
    if not syllabus.is_file():
        pytest.skip(f"{syllabus} is not beside the repository")
    tags = set(re.findall(r"\[(S-[\w-]+)\]", syllabus.read_text(encoding="utf-8")))
    assert len(tags) >= 40, f"only {len(tags)} tags found in {syllabus}: has its format changed?"
    unmapped = sorted(tags - set(SYLLABUS_GLOSSARY))
    assert not unmapped, (
        f"map these syllabus tags to glossary terms in SYLLABUS_GLOSSARY: {unmapped}"
    )


def test_korean_in_the_glossary_is_quoted_from_the_sources():
    """Every Korean phrase in the glossary occurs in a source document, unless the entry marks it
    *(not in the sources)* in the same clause."""
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    if not seeds:
        pytest.skip(f"the source documents are not in {SHARED / 'seeds'}")
    sources = squash(" ".join(p.read_text(encoding="utf-8") for p in seeds))
    for korean in GLOSSARY_KOREAN.values():
        assert squash(korean) in sources, f"{korean!r} is not in the source documents"
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    body = text[text.index("```{glossary}") :]
    unsourced = []
    for entry in re.split(r"\n\s*\n", body):
        exempt = set()
        for marker in NOT_IN_SOURCES.finditer(entry):
            clause = re.split(r"[;.]\s|\n(?=\S)", entry[: marker.start()])[-1]
            exempt.update(HANGUL_SPAN.findall(clause))
        unsourced += [
            f"{entry.splitlines()[0]}: {span}"
            for span in HANGUL_SPAN.findall(entry)
            if span not in exempt and squash(span) not in sources
        ]
    assert not unsourced, (
        "Korean that no source document uses; quote the sources, or mark a usual "
        f"term *(not in the sources)*: {unsourced}"
    )


def test_the_course_papers_are_in_the_bibliography():
    missing = sorted(set(COURSE_PAPERS) - set(bibliography_keys()))
    assert not missing, f"book/references.bib lacks these papers the course relies on: {missing}"


def test_the_course_papers_are_cited_where_they_are_used():
    uncited = [
        f"{page}: {key}" for key, page in COURSE_PAPERS.items() if key not in cited_keys(page)
    ]
    assert not uncited, (
        "cite each paper where the course uses it (notebooks: write {cite}`key`, then run "
        "`python scripts/citations.py --write`):\n" + "\n".join(uncited)
    )


# ---------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def site(html: Path, serve) -> str:
    """The base URL of the built book, served on 127.0.0.1."""
    return serve(html)


@pytest.fixture(scope="module")
def rendered(html: Path, browser, site: str) -> dict[str, str]:
    """Every page of the built book as the browser shows it: {page: DOM}."""
    return {page: browser(site + page) for page in pages(html)}


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
    intro.write_text(
        re.sub(
            r"<script[^>]*mathjax[^>]*></script>", "", intro.read_text(encoding="utf-8"), flags=re.I
        ),
        encoding="utf-8",
    )
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
    assert not missing, (
        f"the instructor page's timing table (bench/RESULTS.md) has no cpu row for {missing}; run "
        "make bench"
    )


@pytest.mark.parametrize(
    "term, page",
    [
        ("Gram matrix", "notebooks/10_neural_style_transfer.html"),
        ("contrastive divergence", "notebooks/04_rbm_and_dbn.html"),
    ],
)
def test_search_finds_key_terms(html: Path, browser, serve, term: str, page: str):
    """The book's search page (JavaScript over searchindex.js) lists the chapter of the term."""
    dom = browser(serve(html) + "search.html?q=" + quote_plus(term))
    found = [link.get("href", "") for link in soup(dom).select("ul.search li a")]
    assert any(href.startswith(page) for href in found), f"searching {term!r} listed {found[:5]}"


# ------------------------------------------------------ the browser, driven: clicks and screenshots
# Dump-dom shows a page but cannot act on it. These checks drive one headless Chromium over the
# DevTools protocol (a websocket; websocket-client comes with jupyter_server and is pinned in
# constraints.txt) to click as a mouse does and to save screenshots for a person to look at.
KEY_PAGES = {  # screenshot name -> page: the intro, a notebook with math and figures, the glossary
    "intro": "intro.html",
    "notebook_03_vae": "notebooks/03_variational_autoencoder.html",
    "glossary": "glossary.html",
}


def test_solutions_are_hidden_until_clicked(html: Path, devtools: DevTools, site: str):
    """On every notebook page the exercise solutions start hidden; a click on a solution's title
    shows that solution and no other."""
    problems = []
    notebook_pages = [page for page in pages(html) if page.startswith("notebooks/")]
    assert notebook_pages
    for page in notebook_pages:
        devtools.open(site + page)
        shown = devtools.evaluate(SOLUTION_STATE_JS)
        if not shown:
            problems.append(
                f"{page}: no solution dropdown (exercises need solutions hidden by default)"
            )
            continue
        if any(shown):
            problems.append(
                f"{page}: solutions {[i for i, s in enumerate(shown) if s]} show before a click"
            )
            continue
        devtools.click(f":is({SOLUTIONS}) > :is(.admonition-title, summary)")
        try:
            devtools.wait_for(f"({SOLUTION_STATE_JS})[0]", timeout=5)
        except AssertionError:
            problems.append(f"{page}: a click on the first solution's title did not show it")
            continue
        if any(devtools.evaluate(SOLUTION_STATE_JS)[1:]):
            problems.append(f"{page}: one click showed more than the solution clicked")
        if page == "notebooks/05_gan.html":  # for a person: what an opened solution looks like
            devtools.screenshot(SCREENSHOTS / "notebook_05_solution_opened.png", full_page=False)
    assert not problems, "\n".join(problems)


def test_screenshots_of_key_pages(devtools: DevTools, site: str):
    """Full-page screenshots, after MathJax, fonts and images settled, into
    book/_build/screenshots/."""
    for name, page in KEY_PAGES.items():
        screenshot_settled_page(devtools, site + page, SCREENSHOTS / f"{name}.png")
    print(f"screenshots in {SCREENSHOTS}")


# ------------------------------------------------------------------- the code column of the book
# A code cell's input is a <pre> that scrolls sideways when a line is wider than the text column,
# so the end of a long line is hidden until the reader scrolls. notebooks/ruff.toml keeps the
# notebooks' code lines within the number of characters that CODE_COLUMN_JS measures here.
CODE_INPUTS = "article .cell_input pre"
# Characters of the code font that fit in the first code cell's content box (padding excluded).
CODE_COLUMN_JS = """(() => {
  const pre = document.querySelector(%s);
  const style = getComputedStyle(pre);
  const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const probe = document.createElement('span');
  probe.textContent = 'x'.repeat(100);
  pre.appendChild(probe);
  const charWidth = probe.getBoundingClientRect().width / 100;
  probe.remove();
  return Math.floor(room / charWidth + 1e-6);
})()""" % json.dumps(CODE_INPUTS)
# For every code input that scrolls sideways: its first line wider than the content box.
CLIPPED_CODE_JS = """[...document.querySelectorAll(%s)]
  .filter(pre => pre.scrollWidth > pre.clientWidth)
  .map(pre => {
    const lines = pre.textContent.split('\\n');
    const style = getComputedStyle(pre);
    const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const probe = document.createElement('span');
    pre.appendChild(probe);
    const wide = lines.find(line => {
      probe.textContent = line;
      return probe.getBoundingClientRect().width > room;
    });
    probe.remove();
    return wide ?? lines[0];
  })""" % json.dumps(CODE_INPUTS)


def notebook_line_length() -> int:
    """The line length notebooks/ruff.toml sets for the notebooks' code cells."""
    import tomllib

    return tomllib.loads((ROOT / "notebooks" / "ruff.toml").read_text(encoding="utf-8"))[
        "line-length"
    ]


def test_no_code_line_is_clipped(html: Path, devtools: DevTools, site: str):
    """At the viewport of the other browser checks, every line of every code cell fits its box:
    no code input scrolls sideways, so no reader misses the end of a line."""
    problems = []
    notebook_pages = [page for page in pages(html) if page.startswith("notebooks/")]
    assert notebook_pages
    for page in notebook_pages:
        devtools.open(site + page)
        assert devtools.evaluate(SETTLED_JS, await_promise=True)
        clipped = devtools.evaluate(CLIPPED_CODE_JS)
        if clipped:
            problems.append(
                f"{page}: {len(clipped)} code cell(s) scroll sideways; the first clipped line "
                f"({len(clipped[0])} characters) is {clipped[0].strip()!r}"
            )
    assert not problems, (
        f"code lines wider than the book's code column ({notebook_line_length()} characters, "
        "notebooks/ruff.toml); run `ruff format notebooks` and shorten the strings and comments "
        "that `ruff check notebooks` reports:\n" + "\n".join(problems)
    )


def test_notebook_line_length_fits_the_code_column(devtools: DevTools, site: str):
    """notebooks/ruff.toml's line length is no wider than the code column the book shows."""
    devtools.open(site + "notebooks/01_autoencoder.html")
    assert devtools.evaluate(SETTLED_JS, await_promise=True)
    fits = devtools.evaluate(CODE_COLUMN_JS)
    assert 40 <= fits <= 200, f"measured {fits} characters per code line: the probe is broken"
    assert notebook_line_length() <= fits, (
        f"notebooks/ruff.toml allows {notebook_line_length()} characters per line, but a code "
        f"cell of the book shows {fits} at {VIEWPORT[0]} x {VIEWPORT[1]} pixels; set "
        f"line-length = {fits} there and run `ruff format notebooks`."
    )


def has_text_alternative(img) -> bool:
    """An <img> that a screen reader can describe: a real alt text (not the file's own path, which
    is what Sphinx writes when none is given), or a non-empty caption of its <figure>."""
    alt = (img.get("alt") or "").strip()
    if alt and alt != img.get("src") and not re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I):
        return True
    figure = img.find_parent("figure")
    caption = figure.find("figcaption") if figure else None
    if caption is None:
        return False
    text = caption.find(class_="caption-text") or caption
    return bool(text.get_text(strip=True))


def test_alt_text_check_tells_a_description_from_a_path():
    path = "../_images/0123abcd.png"
    assert not has_text_alternative(soup(f'<img src="{path}" alt="{path}">').img)
    assert not has_text_alternative(soup(f'<img src="{path}">').img)
    assert not has_text_alternative(soup(f'<img src="{path}" alt="   ">').img)
    assert has_text_alternative(soup(f'<img src="{path}" alt="Loss curves of G and D">').img)
    assert has_text_alternative(
        soup(
            f'<figure><img src="{path}" alt="{path}"><figcaption><p>'
            '<span class="caption-number">Fig. 1 </span>'
            '<span class="caption-text">Samples after 100 epochs.</span></p></figcaption></figure>'
        ).img
    )
    assert not has_text_alternative(
        soup(
            f'<figure><img src="{path}" alt="{path}"><figcaption><p>'
            '<span class="caption-number">Fig. 1 </span>'
            '<span class="caption-text"> </span></p></figcaption></figure>'
        ).img
    )


def test_every_image_has_alt_text_or_a_caption(rendered: dict[str, str]):
    problems, checked = {}, 0
    figures_and_images = SoupStrainer(["figure", "img"])  # parse only these: faster on long pages
    for page, dom in rendered.items():
        images = BeautifulSoup(dom, "html.parser", parse_only=figures_and_images).find_all("img")
        checked += len(images)
        bare = [img.get("src", "") for img in images if not has_text_alternative(img)]
        if bare:
            problems[page] = f"{len(bare)} of {len(images)} images, e.g. {bare[0]}"
    assert checked > 0
    assert not problems, "images with neither alt text nor a caption:\n" + "\n".join(
        f"{page}: {what}" for page, what in problems.items()
    )


# ------------------------------------------------------------------------------ the live demos
# book/demos.md: the models the notebooks exported (notebooks/exported/book/) run in the page with
# ONNX Runtime Web. The checks open the page in Chromium, use each demo's controls as a reader
# does, and compare what the page feeds the model and draws with what the Python side computes
# from the same controls (tests/test_browser_export.py checks the files themselves).
DEMO_PAGE = "demos.html"
DEMO_TIMEOUT_S = 60  # to load the runtime and every model
DEMO_RESPONSE_S = 5  # from a control's change to a new picture
DEMO_MODELS = (
    "mnist_vae_decoder",
    "face_vae_decoder",
    "dcgan_generator",
    "cgan_generator",
    "pix2pix_unet",
    "stargan_generator",
    "stargan_residual_long",
)
# Installed before any page script runs: every console error, uncaught error and unhandled
# rejection, kept for the test to read.
ERROR_HOOK_JS = """window.__pageErrors = [];
const __consoleError = console.error.bind(console);
console.error = (...args) => {
  window.__pageErrors.push(args.map(String).join(' '));
  __consoleError(...args);
};
window.addEventListener('error', e => window.__pageErrors.push(String(e.message)));
window.addEventListener('unhandledrejection', e => window.__pageErrors.push(String(e.reason)));"""
DEMOS_SETTLED_JS = """[...document.querySelectorAll('.course-demo')]
  .every(el => el.dataset.state === 'ready' || el.dataset.state === 'error')"""
# A demo loads when it comes near the screen: scroll each into view, as a reader does.
SCROLL_THROUGH_DEMOS_JS = """(async () => {
  for (const el of document.querySelectorAll('.course-demo')) {
    el.scrollIntoView({block: 'center'});
    await new Promise(done => setTimeout(done, 150));
  }
  return true;
})()"""


def demo(model: str) -> str:
    return f".course-demo[data-model={json.dumps(model)}]"


def output_pixels_js(model: str) -> str:
    """JS: the RGBA bytes of every output canvas of a demo, as lists."""
    return f"""document.querySelector({json.dumps(demo(model))}).demo.outputs.map(c =>
      Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))"""


def choose_js(model: str, index: int) -> str:
    """JS: pick option ``index`` of a demo's first choice, as a reader does; awaits the run."""
    root = json.dumps(demo(model))
    return f"""(() => {{
        const pick = document.querySelector({root} + ' select');
        pick.selectedIndex = {index};
        pick.dispatchEvent(new Event('change'));
        return document.querySelector({root}).demo.done;
    }})()"""


# How a reader changes each demo: real mouse input on sliders, buttons and the drawing canvas;
# StarGAN's drop-down list changes through the same event a choice fires.
def use_the_demo(devtools: DevTools, model: str) -> None:
    root = demo(model)
    if model in ("mnist_vae_decoder", "face_vae_decoder", "dcgan_generator"):
        devtools.pointer(f"{root} input[type=range]", [(0.9, 0.5)])
    elif model == "cgan_generator":
        devtools.pointer(f"{root} .demo-buttons .demo-button:nth-child(8)", [(0.5, 0.5)])
    elif model == "pix2pix_unet":
        # a short stroke in the background's corner: the face stays recognisable
        devtools.pointer(f"{root} canvas.demo-sketch", [(0.06, 0.06), (0.15, 0.08), (0.25, 0.06)])
    else:
        devtools.evaluate(f"""(() => {{
            const hair = document.querySelectorAll({json.dumps(root + " select")})[2];
            hair.selectedIndex = (hair.selectedIndex + 1) % hair.options.length;
            hair.dispatchEvent(new Event('change'));
        }})()""")


@pytest.fixture(scope="module")
def demo_page(devtools: DevTools, site: str) -> list[str]:
    """Opens the demos page with the error hook; returns the console errors of a page without
    demos (the intro), which every page of the book shows (the theme's own)."""
    devtools.send("Page.enable")  # scripts added for new documents run only with it
    devtools.send("Page.addScriptToEvaluateOnNewDocument", source=ERROR_HOOK_JS)
    devtools.open(site + "intro.html")
    theme_errors = devtools.evaluate("window.__pageErrors")
    assert theme_errors is not None, "the error hook did not run"
    devtools.open(site + DEMO_PAGE)
    waiting = devtools.evaluate(
        "[...document.querySelectorAll('.course-demo')].map(el => el.dataset.state)"
    )
    assert waiting.count("waiting") >= len(DEMO_MODELS) - 2, f"demos off screen load: {waiting}"
    devtools.evaluate(SCROLL_THROUGH_DEMOS_JS, await_promise=True)
    devtools.wait_for(DEMOS_SETTLED_JS, timeout=DEMO_TIMEOUT_S)
    return theme_errors


def test_demos_start_offline_and_answer_their_controls(
    devtools: DevTools, site: str, demo_page: list[str]
):
    """Every demo's model starts, every request stays within the book, a reader's input changes
    the picture within DEMO_RESPONSE_S, and the page adds no console error to the theme's own.
    Screenshots of each demo, after its input, go to book/_build/screenshots/."""
    states = devtools.evaluate(
        "[...document.querySelectorAll('.course-demo')].map(el => "
        "[el.dataset.model, el.dataset.state, el.textContent.slice(0, 300)])"
    )
    assert [model for model, _, _ in states] == list(DEMO_MODELS)
    failed = [f"{model}: {text}" for model, state, text in states if state != "ready"]
    assert not failed, "\n".join(failed)
    for model in DEMO_MODELS:
        if model == "pix2pix_unet":  # the third held-out edge map, through the page's choice
            devtools.evaluate(choose_js(model, 2), await_promise=True)
        before = devtools.evaluate(output_pixels_js(model))
        assert any(len(set(pixels)) > 2 for pixels in before), f"{model} drew a blank picture"
        use_the_demo(devtools, model)
        start = time.monotonic()
        while devtools.evaluate(output_pixels_js(model)) == before:
            assert time.monotonic() - start < DEMO_RESPONSE_S, f"{model}: no new picture"
            time.sleep(0.05)
        devtools.screenshot(SCREENSHOTS / f"demo_{model}.png", selector=demo(model))
    requested = devtools.evaluate("performance.getEntriesByType('resource').map(r => r.name)")
    assert any(url.endswith(".wasm") for url in requested)
    outside = [url for url in requested if not url.startswith(site)]
    assert not outside, f"requests that left the book: {outside}"
    new_errors = [e for e in devtools.evaluate("window.__pageErrors") if e not in demo_page]
    assert not new_errors, new_errors


def python_feeds(record: dict, state: dict, models: Path) -> dict:
    """What the model should receive for a demo's state, computed on the Python side: the
    course's own functions where it has them (target_condition, load_strip)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from course_lib.data.face_domains import target_condition
    from course_lib.export.browser import load_strip

    kind = record["demo"]
    if kind == "latent-sliders":
        return {"z": np.array([state["code"]], dtype=np.float32)}
    if kind == "latent-walk":
        start, end = np.array(state["start"], np.float32), np.array(state["end"], np.float32)
        t = np.array([state["t"], *np.arange(8) / 7])[:, None]  # float64, as JavaScript computes
        return {"z": ((1 - t) * start + t * end).astype(np.float32)}
    if kind == "class-conditional":
        noise = np.array(state["noise"], dtype=np.float32)
        labels = torch.full((len(noise),), state["label"])
        return {"z": noise, "condition": F.one_hot(labels, 10).float().numpy()}
    low, high = record["input_range"]
    examples = record["examples"]
    strip = load_strip(models / examples["file"], examples["count"], examples["shape"][0])
    if kind == "sketch-to-image":
        return {"edges": (low + (high - low) * strip[state["example"]][None]).numpy()}
    values = {
        attribute: state[attribute]
        for attribute, group in record["condition_layout"].items()
        if group["dataset"] == state["dataset"]
    }
    return {
        "face": (low + (high - low) * strip[state["face"]][None]).numpy(),
        "condition": target_condition(state["dataset"], **values)[None].numpy(),
    }


def rgba(batch, index: int, value_range: list[float]):
    """The bytes a canvas shows for image ``index`` of an (N, C, H, W) batch, RGBA."""
    import numpy as np

    low, high = value_range
    image = np.clip((batch[index] - low) / (high - low), 0, 1)
    image = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image  # grey -> RGB
    opaque = np.ones((1, *image.shape[1:]))
    return np.round(255 * np.concatenate([image, opaque])).transpose(1, 2, 0).reshape(-1)


# A state per demo; the JavaScript that sets it (None: set the state itself) and the state the
# Python side reads. Examples are picked through the page's own choice, so the PNG decoding of the
# browser is compared too.
def demo_states():
    import torch

    g = torch.Generator().manual_seed(0)
    codes = {n: torch.randn(4, n, generator=g).tolist() for n in (16, 32, 64)}
    return {
        "mnist_vae_decoder": lambda r: {"code": codes[r["latent_dim"]][0]},
        "face_vae_decoder": lambda r: {"code": codes[r["latent_dim"]][1]},
        "dcgan_generator": lambda r: {
            "start": codes[r["latent_dim"]][2],
            "end": codes[r["latent_dim"]][3],
            "t": 0.3,
        },
        "cgan_generator": lambda r: {
            "label": 7,
            "noise": torch.randn(8, r["latent_dim"], generator=g).tolist(),
        },
        "pix2pix_unet": lambda r: {"example": 2},
        "stargan_generator": lambda r: {
            "face": 5,
            "dataset": 0,
            "hair_colour": 1,
            "glasses": 1,
            "expression": 0,
        },
        "stargan_residual_long": lambda r: {
            "face": 6,
            "dataset": 1,
            "hair_colour": 0,
            "glasses": 0,
            "expression": 3,
        },
    }


@pytest.mark.parametrize("model", DEMO_MODELS)
def test_demo_inputs_and_pictures_equal_the_python_side(
    devtools: DevTools, html: Path, demo_page: list[str], model: str
):
    """For a fixed state of each demo, the tensors the page feeds the model equal those Python
    builds from the same state (1e-6), and every output canvas equals onnxruntime's output on
    them, turned into bytes as the course shows images (within 1 of 255)."""
    import numpy as np
    import onnxruntime

    models = html / "_static" / "demos" / "models"
    record = json.loads((models / f"{model}.json").read_text(encoding="utf-8"))
    state = demo_states()[model](record)
    root = json.dumps(demo(model))
    if model == "pix2pix_unet":  # the page's own choice of a held-out edge map
        script = choose_js(model, state["example"])
    else:
        script = f"document.querySelector({root}).demo.setState({json.dumps(state)})"
    devtools.evaluate(script, await_promise=True)
    page_feeds = devtools.evaluate(f"""Object.fromEntries(Object.entries(
        document.querySelector({root}).demo.lastFeeds).map(([name, tensor]) =>
        [name, {{dims: tensor.dims, data: Array.from(tensor.data)}}]))""")
    expected = python_feeds(record, state, models)
    assert set(page_feeds) == set(expected)
    for name, values in expected.items():
        assert page_feeds[name]["dims"] == list(values.shape), name
        got = np.array(page_feeds[name]["data"], dtype=np.float32).reshape(values.shape)
        np.testing.assert_allclose(got, values, atol=1e-6, rtol=0, err_msg=name)
    session = onnxruntime.InferenceSession(str(models / record["file"]))
    output = session.run(None, expected)[0]
    canvases = devtools.evaluate(output_pixels_js(model))
    for index, pixels in enumerate(canvases):
        want = rgba(output, index, record["output_range"])
        difference = np.abs(np.array(pixels, dtype=float) - want)
        assert difference.max() <= 1, f"canvas {index}: off by up to {difference.max():.0f}"


def test_without_webassembly_every_demo_says_what_it_needs(
    devtools: DevTools, site: str, demo_page: list[str]
):
    """A browser without WebAssembly (here the page's WebAssembly object removed before any
    script runs) gets a message in place of each demo, not a blank box or a stack trace."""
    added = devtools.send(
        "Page.addScriptToEvaluateOnNewDocument", source="delete globalThis.WebAssembly;"
    )
    try:
        devtools.open(site + DEMO_PAGE + "?without-webassembly")
        devtools.evaluate(SCROLL_THROUGH_DEMOS_JS, await_promise=True)
        devtools.wait_for(DEMOS_SETTLED_JS, timeout=DEMO_TIMEOUT_S)
        states = devtools.evaluate(
            "[...document.querySelectorAll('.course-demo')].map(el => "
            "[el.dataset.state, el.textContent])"
        )
    finally:
        devtools.send("Page.removeScriptToEvaluateOnNewDocument", identifier=added["identifier"])
    assert len(states) == len(DEMO_MODELS)
    for state, text in states:
        assert state == "error" and "does not run WebAssembly" in text, text
